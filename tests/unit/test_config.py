import pytest

from pipeline.config import ConfigError, Settings


def test_settings_come_from_the_environment_with_sane_defaults():
    s = Settings.from_env({"DATABASE_URL": "postgres://u@db:5432/x", "QUEUE_BATCH_SIZE": "25"})
    assert s.sqlalchemy_url == "postgresql+psycopg://u@db:5432/x"
    assert s.queue_batch_size == 25
    assert s.completion_poll_interval == 5.0
    assert not s.callbacks_enabled


def test_callbacks_are_on_only_with_a_public_url_and_a_secret():
    env = {"PUBLIC_BASE_URL": "https://lp.example/", "WEBHOOK_SECRET": "s"}
    s = Settings.from_env(env)
    assert s.callbacks_enabled
    assert s.public_base_url == "https://lp.example"
    assert not Settings.from_env({"PUBLIC_BASE_URL": "https://lp.example"}).callbacks_enabled


@pytest.mark.parametrize(
    ("name", "value"),
    [("QUEUE_BATCH_SIZE", "ten"), ("QUEUE_BATCH_SIZE", "0"), ("COMPLETION_POLL_INTERVAL", "x")],
)
def test_a_bad_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
