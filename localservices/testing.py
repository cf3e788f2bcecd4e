"""Test helpers: run a local service as a real process, and record the callbacks it sends.

    with start_service("scraper", allow_private=True, webhook_secret="s") as scraper:
        httpx.post(f"{scraper.url}/jobs", json={"url": ...})
        scraper.knobs(fail_rate=1.0)
        assert scraper.stats()["duplicate_references"] == []

Keyword flags become command-line flags (``allow_private=True`` → ``--allow-private``,
``latency_ms=50`` → ``--latency-ms 50``). ``LOCAL_*`` variables of the calling environment
are not passed on, so a test sees only the flags it gave (pass ``env=`` to add some).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from localservices.server import LISTENING

ROOT = Path(__file__).resolve().parents[1]
_ANNOUNCED = re.compile(LISTENING + r" (http://\S+)")


class ServiceError(RuntimeError):
    """A local service did not start (its output is in the message)."""


@dataclass
class RunningService:
    kind: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        """Everything the process printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def knobs(self, **changes: Any) -> dict[str, Any]:
        """Change some knobs (none: just read them); return the full set."""
        if changes:
            response = httpx.post(f"{self.url}/_knobs", json=changes, timeout=5)
        else:
            response = httpx.get(f"{self.url}/_knobs", timeout=5)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_stats", timeout=5)
        response.raise_for_status()
        return response.json()

    def reset_stats(self) -> None:
        httpx.delete(f"{self.url}/_stats", timeout=5).raise_for_status()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait; SIGKILL the process group if it does not go. Returns the code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        self.log_path.unlink(missing_ok=True)
        return self.process.returncode

    def __enter__(self) -> RunningService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _flags(flags: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    return args


def start_service(
    kind: str,
    port: int | None = None,
    host: str = "127.0.0.1",
    env: Mapping[str, str] | None = None,
    timeout: float = 15.0,
    **flags: Any,
) -> RunningService:
    """Start ``python -m localservices <kind>`` and wait until it listens.

    ``port=None`` lets the service pick a free port (read back from its "listening on"
    line, so there is no race for it). The result is also a context manager that stops it.
    """
    child_env = {key: value for key, value in os.environ.items() if not key.startswith("LOCAL_")}
    child_env.update(env or {})
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    child_env["PYTHONUNBUFFERED"] = "1"
    handle, name = tempfile.mkstemp(prefix=f"localservices-{kind}-", suffix=".log")
    log_path = Path(name)
    command = [sys.executable, "-m", "localservices", kind, "--host", host]
    command += ["--port", str(port or 0), *_flags(flags)]
    with os.fdopen(handle, "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=child_env,
            start_new_session=True,  # its own process group, so stop() can clean up all of it
        )
    service = RunningService(kind=kind, url="", process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _ANNOUNCED.search(service.log())
        if match:
            service.url = match.group(1)
            return service
        if process.poll() is not None:
            break
        time.sleep(0.02)
    output = service.log()
    service.stop()
    raise ServiceError(f"{' '.join(command)} did not start:\n{output}")


@dataclass(frozen=True)
class ReceivedCallback:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


class CallbackRecorder:
    """An HTTP server in a thread that records every POST it receives.

    ``statuses`` are the answers to the first requests, in order (e.g. ``[503, 200]`` to
    see a retry); after them every request is answered ``default_status``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        statuses: Iterable[int] = (),
        default_status: int = 200,
    ) -> None:
        self.received: list[ReceivedCallback] = []
        self._statuses = list(statuses)
        self._default_status = default_status
        self._condition = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recorder._condition:
                    status = (
                        recorder._statuses.pop(0)
                        if recorder._statuses
                        else recorder._default_status
                    )
                    recorder.received.append(
                        ReceivedCallback(
                            path=self.path,
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                        )
                    )
                    recorder._condition.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedCallback]:
        """The first ``count`` callbacks, waiting up to ``timeout`` seconds for them."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"got {len(self.received)} of {count} callbacks in {timeout}s")
            return list(self.received[:count])

    def clear(self) -> None:
        with self._condition:
            self.received.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
