"""Client for the scraper's async job API (``POST /jobs``, ``GET /jobs/{id}``)."""

from __future__ import annotations

from typing import Any

import httpx

from pipeline.errors import ServiceResponseError

MAX_PAGES_LIMIT = 100


class ScraperClient:
    def __init__(self, http: httpx.Client, base_url: str, auth_token: str = "") -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"X-Auth-Token": auth_token} if auth_token else {}

    def submit(
        self,
        url: str,
        *,
        max_pages: int = 20,
        max_concurrency: int = 5,
        include_sitemap: bool = False,
        webhook_url: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Start a crawl of ``url``; return the job id. HTTP errors raise ``HTTPStatusError``."""
        body: dict[str, Any] = {
            "url": url,
            "maxPages": max(1, min(max_pages, MAX_PAGES_LIMIT)),
            "maxConcurrency": max(1, min(max_concurrency, 10)),
            "includeSitemap": include_sitemap,
        }
        if webhook_url:
            body["webhookUrl"] = webhook_url
            body["metadata"] = metadata or {}
        response = self._http.post(f"{self._base}/jobs", json=body, headers=self._headers)
        response.raise_for_status()
        job_id = _json(response).get("id")
        if not job_id:
            raise ServiceResponseError("scraper accepted the job but returned no id")
        return str(job_id)

    def get(self, job_id: str) -> dict[str, Any]:
        """The job as the service reports it (``status``, ``result``, ``error``)."""
        response = self._http.get(f"{self._base}/jobs/{job_id}", headers=self._headers)
        response.raise_for_status()
        return _json(response)

    def cancel(self, job_id: str) -> bool:
        """Best effort: ask the service to stop a job nobody waits for any more."""
        try:
            response = self._http.delete(f"{self._base}/jobs/{job_id}", headers=self._headers)
        except httpx.HTTPError:
            return False
        return response.is_success


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise ServiceResponseError(f"scraper answered non-JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ServiceResponseError("scraper answered JSON that is not an object")
    return data
