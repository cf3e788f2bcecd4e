"""``leadpipe keys``: create, list and revoke API keys.

``keys create`` prints the new key alone on stdout (so ``KEY=$(leadpipe keys create)``
works) and what it is for on stderr; the key is never shown again, only its prefix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TextIO

from cli.db import cli_engine, database_errors
from cli.errors import CliError
from cli.tables import format_table
from pipeline import accounts
from pipeline.config import Settings


def create(
    settings: Settings, *, account: str, label: str, out: TextIO, err: TextIO
) -> accounts.NewKey:
    engine = cli_engine(settings)
    try:
        with database_errors(settings.database_url):
            try:
                key, created = accounts.create_key_for(engine, account, label)
            except accounts.AccountError as exc:
                raise CliError(str(exc), code=2) from None
    finally:
        engine.dispose()
    print(key.key, file=out, flush=True)
    made = "new account" if created else "account"
    print(
        f"API key {key.id} ({key.prefix}…) for {made} {account.strip()!r} (id {key.account_id}); "
        "it is shown only this once",
        file=err,
        flush=True,
    )
    return key


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def show(settings: Settings, *, account: str | None, out: TextIO) -> None:
    engine = cli_engine(settings)
    try:
        with database_errors(settings.database_url):
            account_id = None
            if account is not None:
                with engine.connect() as conn:
                    account_id = accounts.account_id_by_name(conn, account)
                if account_id is None:
                    raise CliError(f"no account named {account.strip()!r}")
            keys = accounts.list_keys(engine, account_id)
    finally:
        engine.dispose()
    if not keys:
        print("no API keys yet; create one with: leadpipe keys create", file=out)
        return
    rows = [
        [
            k["id"],
            k["account"],
            k["account_id"],
            k["prefix"] + "…",
            k["label"],
            _when(k["created_at"]),
            _when(k["revoked_at"]),
        ]
        for k in keys
    ]
    headers = ["id", "account", "account id", "key", "label", "created (UTC)", "revoked (UTC)"]
    for line in format_table(headers, rows):
        print(line, file=out)


def revoke(settings: Settings, *, key_id: int, out: TextIO) -> None:
    engine = cli_engine(settings)
    try:
        with database_errors(settings.database_url):
            done = accounts.revoke_key(engine, key_id, datetime.now(UTC))
    finally:
        engine.dispose()
    if not done:
        raise CliError(f"no API key {key_id} that is not revoked already (see: leadpipe keys list)")
    print(
        f"API key {key_id} revoked; web processes refuse it within "
        f"{settings.api_key_cache_seconds:g} s",
        file=out,
    )
