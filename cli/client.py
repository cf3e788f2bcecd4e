"""The few Leadpipe HTTP API calls the demo makes, with errors as :class:`CliError`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from cli.errors import CliError

#: The API takes at most this many leads per POST /leads.
CHUNK = 500


def _problem(response: httpx.Response) -> str:
    """The API's error description (``{"title", "description"}``), else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        text = body.get("description") or body.get("title")
        if text:
            return str(text)
    return str(body)[:200]


class Api:
    def __init__(self, base_url: str, key: str, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url, timeout=timeout, headers={"Authorization": f"Bearer {key}"}
        )

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, expect: int | tuple[int, ...], **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code not in (expect if isinstance(expect, tuple) else (expect,)):
            raise CliError(
                f"{method} {self.base_url}{path} answered {response.status_code}: "
                f"{_problem(response)}"
            )
        return response.json()

    def create_leads(self, leads: Sequence[Mapping[str, Any]]) -> list[int]:
        ids: list[int] = []
        for start in range(0, len(leads), CHUNK):
            body = {"leads": list(leads[start : start + CHUNK])}
            ids.extend(self._call("POST", "/leads", 201, json=body)["ids"])
        return ids

    def customize(self, ids: Sequence[int]) -> dict[str, Any]:
        """Start a run over ``ids`` (201), or learn that none could be queued (200)."""
        return self._call("POST", "/customize", (200, 201), json={"lead_ids": list(ids)})

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/status", 200)

    def lead(self, lead_id: int) -> dict[str, Any]:
        return self._call("GET", f"/leads/{lead_id}", 200)
