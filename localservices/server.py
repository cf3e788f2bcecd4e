"""Serving one local service with gunicorn, from inside Python.

Exactly one worker, because each service keeps its jobs and counters in memory, running
the gthread worker so many requests (long polls, slow pages, callbacks) overlap. The app is
built in the worker, after the fork, so its thread pools and HTTP clients belong to it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

LISTENING = "listening on"


def _announce(label: str) -> Callable[[Any], None]:
    def post_worker_init(worker: Any) -> None:
        host, port = worker.sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"localservices {label} {LISTENING} http://{shown}:{port}", flush=True)

    return post_worker_init


class _Service(BaseApplication):
    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def serve(factory: Callable[[], Any], host: str, port: int, label: str, threads: int = 32) -> None:
    """Serve the WSGI app ``factory()`` until SIGTERM/SIGINT; port 0 picks a free port.

    Prints ``localservices <label> listening on http://<host>:<port>`` once ready.
    """
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "graceful_timeout": 3,
        "timeout": 120,
        "keepalive": 5,
        # One control socket per user by default: several services would fight over it.
        "control_socket_disable": True,
        "proc_name": f"localservices-{label}",
        "post_worker_init": _announce(label),
    }
    _Service(factory, options).run()
    sys.exit(0)
