"""``leadpipe keys`` as a real subprocess against a database of the test's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from pipeline import accounts
from tests.integration.test_cli import child_env

pytestmark = pytest.mark.integration

LEADPIPE = str(Path(sys.executable).with_name("leadpipe"))


def leadpipe(*args: str, db_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LEADPIPE, "keys", *args],
        env=child_env(DATABASE_URL=db_url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_keys_create_prints_only_the_key_and_makes_a_missing_account(db_url, engine):
    made = leadpipe("create", "--account", "acme", "--label", "crm sync", db_url=db_url)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert accounts.KEY_FORMAT.fullmatch(key), made.stdout
    assert "new account 'acme'" in made.stderr and "only this once" in made.stderr
    with engine.connect() as conn:
        info = accounts.find_key(conn, key)
        account = conn.execute(text("SELECT id FROM accounts WHERE name = 'acme'")).scalar()
    assert info is not None and info.account_id == account

    default = leadpipe("create", db_url=db_url)
    assert default.returncode == 0 and "account 'default' (id 1)" in default.stderr

    listed = leadpipe("list", db_url=db_url)
    assert listed.returncode == 0, listed.stderr
    assert key[:11] + "…" in listed.stdout and key not in listed.stdout
    assert "crm sync" in listed.stdout
    only_acme = leadpipe("list", "--account", "acme", db_url=db_url)
    assert "default" not in only_acme.stdout


def test_keys_revoke_revokes_once_and_then_says_there_is_nothing_to_revoke(db_url, engine):
    new = accounts.create_key(engine)
    first = leadpipe("revoke", str(new.id), db_url=db_url)
    assert first.returncode == 0, first.stderr
    assert f"API key {new.id} revoked" in first.stdout
    second = leadpipe("revoke", str(new.id), db_url=db_url)
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr


def test_keys_list_of_an_unknown_account_is_a_one_line_error(db_url):
    listed = leadpipe("list", "--account", "nobody", db_url=db_url)
    assert listed.returncode == 1
    assert listed.stderr == "leadpipe: no account named 'nobody'\n"
