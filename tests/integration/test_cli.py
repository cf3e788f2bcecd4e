"""``leadpipe`` as a real subprocess against this machine's PostgreSQL and Redis, each test
with a database of its own (created and dropped here) and its own Redis namespace."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from tests.conftest import REDIS_URL, database_url

pytestmark = pytest.mark.integration

LEADPIPE = str(Path(sys.executable).with_name("leadpipe"))


def _admin() -> psycopg.Connection:
    return psycopg.connect(database_url("postgres"), autocommit=True, connect_timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def db_name() -> Iterator[str]:
    """A database name nobody uses; whatever a test creates under it is dropped after."""
    name = f"lpt_cli_{uuid.uuid4().hex[:10]}"
    yield name
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def created_db(db_name: str) -> str:
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    return db_name


def child_env(**extra: str) -> dict[str, str]:
    """The test process's environment minus its in-process StubBroker switch."""
    env = {key: value for key, value in os.environ.items() if key != "LEADPIPE_STUB_BROKER"}
    env.update(extra)
    return env


def leadpipe(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LEADPIPE, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_db_init_twice_on_a_fresh_database_succeeds_both_times(created_db):
    env = child_env(DATABASE_URL=database_url(created_db))
    first = leadpipe("db", "init", env=env)
    second = leadpipe("db", "init", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "schema applied" in second.stdout
    with psycopg.connect(database_url(created_db)) as conn:
        assert conn.execute("SELECT count(*) FROM stage_queue_depth").fetchone() == (0,)


def test_db_init_on_a_missing_database_says_so_and_create_makes_it(db_name):
    env = child_env(DATABASE_URL=database_url(db_name))
    missing = leadpipe("db", "init", env=env)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1, missing.stderr
    assert f'database "{db_name}" does not exist' in missing.stderr
    assert "leadpipe db init --create" in missing.stderr

    created = leadpipe("db", "init", "--create", env=env)
    assert created.returncode == 0, created.stderr
    assert f"created database '{db_name}'" in created.stdout
    assert leadpipe("db", "init", "--create", env=env).returncode == 0


def test_status_prints_both_monitoring_views_as_tables(created_db):
    env = child_env(DATABASE_URL=database_url(created_db))
    assert leadpipe("db", "init", env=env).returncode == 0
    status = leadpipe("status", env=env)
    assert status.returncode == 0, status.stderr
    assert "Queue depth" in status.stdout and "Stage durations" in status.stdout
    rows = [line.split() for line in status.stdout.splitlines()]
    assert ["scrape", "0", "0", "0", "0", "0", "0", "0"] in rows


def test_status_before_db_init_asks_for_db_init(created_db):
    status = leadpipe("status", env=child_env(DATABASE_URL=database_url(created_db)))
    assert status.returncode == 1
    assert "run: leadpipe db init" in status.stderr
    assert "Traceback" not in status.stderr


@pytest.mark.timeout(300)
def test_the_dev_demo_writes_an_email_and_stops_everything_on_exit(db_name, tmp_path):
    ports = {name: _free_port() for name in ("PORT", "SITE_PORT", "SCRAPER_PORT", "LLM_PORT")}
    namespace = f"leadpipe-cli-{uuid.uuid4().hex[:8]}"
    env = child_env(
        DATABASE_URL=database_url(db_name),
        REDIS_URL=REDIS_URL,
        REDIS_NAMESPACE=namespace,
        WEB_CONCURRENCY="1",
        WORKER_PROCESSES="1",
        **{name: str(port) for name, port in ports.items()},
    )
    try:
        demo = leadpipe(
            "dev",
            "--exit",
            "--leads",
            "5",
            "--timeout",
            "120",
            "--log-dir",
            str(tmp_path / "logs"),
            env=env,
            timeout=240,
        )
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output
    assert "Subject:" in demo.stdout, output
    assert f"Dashboard: http://127.0.0.1:{ports['PORT']}/" in demo.stdout, output
    assert "5 completed" in demo.stdout, output
    assert "1 failed" in demo.stdout and "1 skipped" in demo.stdout, output
    assert "Traceback" not in output
    assert not any(_listening(port) for port in ports.values()), "every process was stopped"
