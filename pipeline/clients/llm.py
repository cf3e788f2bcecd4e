"""Client for an LLM behind the Message Batches API shape.

One batch carries many leads; each request's ``custom_id`` is the reference of one
(lead, stage, attempt), so results find their rows whatever order they come back in.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from pipeline.errors import ServiceResponseError

API_VERSION = "2023-06-01"


class LlmClient:
    def __init__(self, http: httpx.Client, base_url: str, auth_token: str = "") -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"anthropic-version": API_VERSION}
        if auth_token:
            self._headers["Authorization"] = f"Bearer {auth_token}"
            self._headers["x-api-key"] = auth_token

    def create_batch(
        self, requests: list[dict[str, Any]], *, webhook_url: str | None = None
    ) -> str:
        """Submit ``[{custom_id, params}]``; return the batch id."""
        body: dict[str, Any] = {"requests": requests}
        if webhook_url:
            # Not part of the public API: the bundled stand-in calls back; real ones ignore it.
            body["webhook_url"] = webhook_url
        response = self._http.post(
            f"{self._base}/v1/messages/batches", json=body, headers=self._headers
        )
        response.raise_for_status()
        batch_id = _object(response).get("id")
        if not batch_id:
            raise ServiceResponseError("LLM accepted the batch but returned no id")
        return str(batch_id)

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        response = self._http.get(
            f"{self._base}/v1/messages/batches/{batch_id}", headers=self._headers
        )
        response.raise_for_status()
        return _object(response)

    def results(self, batch_id: str) -> list[dict[str, Any]]:
        """One ``{custom_id, result}`` per request of an ended batch (JSONL on the wire)."""
        response = self._http.get(
            f"{self._base}/v1/messages/batches/{batch_id}/results", headers=self._headers
        )
        response.raise_for_status()
        return parse_jsonl(response.text)

    def cancel(self, batch_id: str) -> bool:
        try:
            response = self._http.post(
                f"{self._base}/v1/messages/batches/{batch_id}/cancel", headers=self._headers
            )
        except httpx.HTTPError:
            return False
        return response.is_success


def parse_jsonl(body: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ServiceResponseError(f"results line {number} is not JSON ({exc})") from exc
        if not isinstance(item, dict):
            raise ServiceResponseError(f"results line {number} is not an object")
        lines.append(item)
    return lines


def result_text(result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Text and usage of a ``succeeded`` result."""
    message = result.get("message") or {}
    blocks = message.get("content") or []
    text = "".join(
        block.get("text", "")
        for block in blocks
        if isinstance(block, dict) and block.get("type", "text") == "text"
    )
    usage = message.get("usage") or {}
    return text, usage if isinstance(usage, dict) else {}


def _object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise ServiceResponseError(f"LLM answered non-JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ServiceResponseError("LLM answered JSON that is not an object")
    return data
