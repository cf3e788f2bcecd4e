"""The HTTP API as the ``leadpipe`` commands see it: where it is (``LEADPIPE_URL``), the key
(``LEADPIPE_API_KEY``), and every failure as one :class:`CliError` line that says what to do.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpx

from cli.client import _problem
from cli.errors import EXIT_USAGE, CliError, one_line

DEFAULT_URL = "http://127.0.0.1:8000"
URL_VARIABLE = "LEADPIPE_URL"
KEY_VARIABLE = "LEADPIPE_API_KEY"
_FILENAME = re.compile(r'filename="?([^";]+)"?')


def base_url(env: Mapping[str, str]) -> str:
    """``LEADPIPE_URL`` (default ``http://127.0.0.1:8000``), checked and without a final ``/``."""
    url = (env.get(URL_VARIABLE) or DEFAULT_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"{URL_VARIABLE} must be an http(s) URL like {DEFAULT_URL}, got {url!r}", EXIT_USAGE
        )
    return url


def api_key(env: Mapping[str, str]) -> str:
    key = (env.get(KEY_VARIABLE) or "").strip()
    if not key:
        raise CliError(
            f"no API key: set {KEY_VARIABLE} (make one with: leadpipe keys create)", EXIT_USAGE
        )
    return key


def transport_reason(exc: httpx.TransportError) -> str:
    """``connection refused``, ``timed out`` …: the useful end of httpx's message."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = one_line(str(exc)) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text


class Remote:
    """A Leadpipe web process, reached over HTTP with an API key."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.http = httpx.Client(
            base_url=url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
            transport=transport,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Remote:
        env = os.environ if env is None else env
        return cls(base_url(env), api_key(env))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- requests

    def _unreachable(self, exc: httpx.TransportError) -> CliError:
        return CliError(
            f"cannot reach the Leadpipe API at {self.url} ({transport_reason(exc)}); "
            f"is the web process running? (set {URL_VARIABLE} to point elsewhere)"
        )

    def _check(self, method: str, path: str, response: httpx.Response) -> None:
        if response.is_success:
            return
        response.read()  # a streamed answer's body is not read yet
        problem = _problem(response)
        if response.status_code == 401:
            raise CliError(f"the API refused the key in {KEY_VARIABLE}: {problem}")
        if response.status_code == 404:
            raise CliError(f"not found: {problem}")
        raise CliError(f"{method} {path} answered {response.status_code}: {problem}")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        self._check(method, path, response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body).json()

    # ---- what the commands do

    def import_csv(self, path: Path, dedupe: str = "email") -> dict[str, Any]:
        """``POST /imports`` with the file streamed as the body (never read whole)."""
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
        with handle:
            return self.request(
                "POST",
                "/imports",
                params={"dedupe": dedupe, "filename": path.name},
                content=_chunks(handle),
                headers={"Content-Type": "text/csv"},
            ).json()

    def start_run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("/runs", body)

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.get("/runs", limit=limit)["items"]

    def run(self, run_id: int) -> dict[str, Any]:
        return self.get(f"/runs/{run_id}")

    def status(self) -> dict[str, Any]:
        return self.get("/status")

    @contextmanager
    def stream(self, path: str, **params: Any) -> Iterator[httpx.Response]:
        try:
            with self.http.stream("GET", path, params=params) as response:
                self._check("GET", path, response)
                yield response
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    def export(self, run_id: int, fmt: str, output: str | None, stdout: BinaryIO) -> str | None:
        """Save ``GET /exports/leads.<fmt>?run=<id>`` to ``output`` (default: the file name the
        server suggests, in the current directory; ``-``: stdout). Returns the path written."""
        with self.stream(f"/exports/leads.{fmt}", run=run_id) as response:
            if output == "-":
                for chunk in response.iter_bytes():
                    stdout.write(chunk)
                stdout.flush()
                return None
            target = Path(output or suggested_name(response, f"leads-run-{run_id}.{fmt}"))
            save(response.iter_bytes(), target)
            return str(target)


def _chunks(handle: BinaryIO, size: int = 64 * 1024) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


def suggested_name(response: httpx.Response, default: str) -> str:
    """The file name of ``Content-Disposition`` (only its last path part), else ``default``."""
    match = _FILENAME.search(response.headers.get("Content-Disposition", ""))
    name = match.group(1).replace("\\", "/").rsplit("/", 1)[-1] if match else ""
    return name if name and name not in (".", "..") else default


def save(chunks: Iterator[bytes], target: Path) -> None:
    """Write to a temporary file beside ``target``, then rename: no half-written export."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"cannot write {target}: no such directory {folder}")
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        shutil.move(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
