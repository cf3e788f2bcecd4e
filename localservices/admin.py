"""The control endpoints every knob-driven service shares: ``/_knobs``, ``/_stats``, ``/_health``.

``GET /_knobs`` shows the knobs, ``POST /_knobs`` changes some of them (JSON object of
name → value) and answers the full set; ``GET /_stats`` shows the counters
(``?references=true``: also the submissions per reference; ``?times=true``: when each
reference arrived and ended) and ``DELETE /_stats`` zeroes them.
"""

from __future__ import annotations

import falcon

from localservices.jsonio import read_json_object
from localservices.knobs import KnobError, KnobPanel
from localservices.stats import Stats


class KnobsResource:
    def __init__(self, panel: KnobPanel) -> None:
        self._panel = panel

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._panel.knobs.as_dict()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        changes = read_json_object(req, max_bytes=64_000)
        try:
            resp.media = self._panel.update(changes).as_dict()
        except (KnobError, TypeError) as exc:
            raise falcon.HTTPBadRequest(title="Bad Request", description=str(exc)) from None


class StatsResource:
    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """``?references=true`` adds ``reference_counts``: submissions per reference;
        ``?times=true`` adds ``received_at`` / ``ended_at``: when each reference first
        arrived and when its job ended (unix seconds)."""
        per_reference = req.get_param_as_bool("references", default=False)
        times = req.get_param_as_bool("times", default=False)
        resp.media = self._stats.snapshot(per_reference=per_reference, times=times)

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._stats.reset()
        resp.media = self._stats.snapshot()


class HealthResource:
    def __init__(self, service: str) -> None:
        self._service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True, "service": self._service}


def add_admin_routes(app: falcon.App, service: str, panel: KnobPanel, stats: Stats) -> None:
    app.add_route("/_knobs", KnobsResource(panel))
    app.add_route("/_stats", StatsResource(stats))
    app.add_route("/_health", HealthResource(service))
