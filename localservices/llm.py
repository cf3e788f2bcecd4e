"""The local LLM service: the Message Batches API shape, plus an OpenAI-style chat endpoint.

``POST /v1/messages/batches`` → the batch (``in_progress``); ``GET …/{id}``;
``GET …/{id}/results`` (JSONL, once ``ended``); ``POST …/{id}/cancel``;
``POST /v1/chat/completions`` (synchronous). Auth is ``Authorization: Bearer`` or
``x-api-key`` when a token is configured. Replies are deterministic (:mod:`textgen`).
Our extension: a top-level ``webhook_url`` makes the service POST
``{"type": "message_batch.ended", "batch": <GET body>, "results": [<JSONL lines>]}``,
signed with ``X-Leadpipe-Signature``, when the batch ends.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import falcon

from localservices.admin import add_admin_routes
from localservices.auth import TokenAuth, bearer_or_api_key
from localservices.callbacks import CALLBACK_COUNTERS, CallbackSender
from localservices.chaos import CHAOS_COUNTERS, maybe_refuse_submission
from localservices.jsonio import http_url, read_json_object
from localservices.knobs import KnobPanel, Knobs
from localservices.llm_batches import Batch, BatchBook
from localservices.llm_messages import InvalidParams, answer, content_text, error_result
from localservices.pool import BackgroundPool
from localservices.stats import Stats
from localservices.textgen import compose

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_REQUESTS = 10_000
MAX_BODY_BYTES = 256_000_000

LLM_COUNTERS = (
    "requests",
    "succeeded",
    "errored",
    "canceled",
    "batches_ended",
    "injected_failures",
    "processed_early",
    "chat_completions",
    *CHAOS_COUNTERS,
    *CALLBACK_COUNTERS,
)


class InvalidRequest(falcon.HTTPBadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(title="Bad Request", description=message)


def parse_batch_request(body: dict[str, Any], base_url: str) -> Batch:
    """Validate a ``POST /v1/messages/batches`` body (the ``params`` are checked later)."""
    requests = body.get("requests")
    if requests is None:
        raise InvalidRequest("requests: Field required")
    if not isinstance(requests, list):
        raise InvalidRequest("requests: Input should be a valid list")
    if not requests:
        raise InvalidRequest("requests: List should have at least 1 item")
    if len(requests) > MAX_REQUESTS:
        raise InvalidRequest(f"requests: List should have at most {MAX_REQUESTS} items")
    seen: set[str] = set()
    for number, request in enumerate(requests):
        if not isinstance(request, dict):
            raise InvalidRequest(f"requests.{number}: Input should be an object")
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise InvalidRequest(
                f"requests.{number}.custom_id: String should match pattern '{CUSTOM_ID.pattern}'"
            )
        if custom_id in seen:
            raise InvalidRequest(
                f"requests.{number}.custom_id: duplicate custom_id {custom_id!r}; "
                "custom_id must be unique within a batch"
            )
        seen.add(custom_id)
        if not isinstance(request.get("params"), dict):
            raise InvalidRequest(f"requests.{number}.params: Field required (an object)")
    webhook_url = body.get("webhook_url")
    if webhook_url is not None and not http_url(webhook_url):
        raise InvalidRequest("webhook_url: must be an absolute http or https URL")
    return Batch(requests=requests, base_url=base_url, webhook_url=webhook_url)


class BatchRunner:
    """Processes batches (in the background or, for an early callback, right away)."""

    def __init__(
        self,
        book: BatchBook,
        panel: KnobPanel,
        stats: Stats,
        callbacks: CallbackSender,
        pool: BackgroundPool,
    ) -> None:
        self._book = book
        self._panel = panel
        self._stats = stats
        self._callbacks = callbacks
        self._pool = pool

    def enqueue(self, batch: Batch) -> None:
        self._pool.submit(lambda: self.run(batch))

    def run(self, batch: Batch) -> None:
        batch.cancelled.wait(self._panel.latency_seconds)
        results = [self._result(request, batch.cancelled.is_set()) for request in batch.requests]
        if not self._book.finish(batch, results):
            return
        self._stats.add("batches_ended")
        self._stats.ended(batch.custom_ids)
        for line in results:
            self._stats.add(line["result"]["type"])
        if batch.webhook_url is not None:
            self._callbacks.deliver(
                batch.webhook_url,
                {
                    "type": "message_batch.ended",
                    "batch": self._book.view(batch),
                    "results": results,
                },
            )

    def _result(self, request: dict[str, Any], cancelled: bool) -> dict[str, Any]:
        custom_id = request["custom_id"]
        if cancelled:
            return {"custom_id": custom_id, "result": {"type": "canceled"}}
        if self._panel.chance("fail_rate"):
            self._stats.add("injected_failures")
            return {
                "custom_id": custom_id,
                "result": error_result("overloaded_error", "Overloaded"),
            }
        try:
            message = answer(request["params"])
        except InvalidParams as exc:
            return {
                "custom_id": custom_id,
                "result": error_result("invalid_request_error", str(exc)),
            }
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


class BatchesResource:
    """``POST /v1/messages/batches``: submit a batch."""

    def __init__(
        self, book: BatchBook, runner: BatchRunner, panel: KnobPanel, stats: Stats
    ) -> None:
        self._book = book
        self._runner = runner
        self._panel = panel
        self._stats = stats

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        arrived = time.time()
        maybe_refuse_submission(self._panel, self._stats)
        batch = parse_batch_request(read_json_object(req, MAX_BODY_BYTES), req.prefix)
        self._book.add(batch)
        self._stats.submitted(batch.custom_ids, at=arrived)
        self._stats.add("requests", len(batch.requests))
        accepted = self._book.view(batch)
        if self._panel.chance("callback_early"):
            # The batch ends and calls back before the client has even seen its id.
            self._stats.add("processed_early")
            self._runner.run(batch)
        else:
            self._runner.enqueue(batch)
        resp.media = accepted


class _BatchLookup:
    def __init__(self, book: BatchBook) -> None:
        self._book = book

    def _batch(self, batch_id: str) -> Batch:
        batch = self._book.get(batch_id)
        if batch is None:
            raise falcon.HTTPNotFound(
                title="Not Found", description=f"message batch {batch_id} not found"
            )
        return batch


class BatchResource(_BatchLookup):
    """``GET /v1/messages/batches/{id}``: status and counts."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, batch_id: str) -> None:
        resp.media = self._book.view(self._batch(batch_id))


class BatchResultsResource(_BatchLookup):
    """``GET /v1/messages/batches/{id}/results``: JSONL, one line per request, once ended."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, batch_id: str) -> None:
        batch = self._batch(batch_id)
        results = self._book.results(batch)
        if results is None:
            raise falcon.HTTPConflict(
                title="Conflict",
                description=(
                    f"message batch {batch_id} has not ended yet "
                    f"(processing_status is {batch.processing_status}); "
                    "results are available once it is ended"
                ),
            )
        resp.content_type = "application/x-jsonl"
        resp.data = "".join(json.dumps(line) + "\n" for line in results).encode()


class BatchCancelResource(_BatchLookup):
    """``POST /v1/messages/batches/{id}/cancel``: unprocessed requests end ``canceled``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, batch_id: str) -> None:
        batch = self._batch(batch_id)
        self._book.begin_cancel(batch)  # an ended batch is left as it is
        resp.media = self._book.view(batch)


class ChatCompletionsResource:
    """``POST /v1/chat/completions``: the OpenAI-compatible, synchronous adapter."""

    def __init__(self, panel: KnobPanel, stats: Stats) -> None:
        self._panel = panel
        self._stats = stats

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        maybe_refuse_submission(self._panel, self._stats)
        body = read_json_object(req, MAX_BODY_BYTES)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("model: you must provide a model parameter")
        system, user = self._prompt(body.get("messages"))
        metadata = body.get("metadata")
        reference = metadata.get("reference") if isinstance(metadata, dict) else None
        self._stats.submitted(
            [reference] if isinstance(reference, str) else [], counter="chat_completions"
        )
        time.sleep(self._panel.latency_seconds)
        if self._panel.chance("fail_rate"):
            self._stats.add("injected_failures")
            raise falcon.HTTPServiceUnavailable(
                title="Service Unavailable", description="The server is overloaded"
            )
        text = compose(system, user)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_reason = "stop"
        if isinstance(limit, int) and not isinstance(limit, bool) and len(text) // 4 > limit:
            text, finish_reason = text[: max(limit, 1) * 4], "length"
        prompt_tokens, completion_tokens = max(1, len(system + user) // 4), max(1, len(text) // 4)
        resp.media = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    @staticmethod
    def _prompt(messages: object) -> tuple[str, str]:
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("messages: at least one message is required")
        system: list[str] = []
        user: list[str] = []
        for number, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("system", "developer", "user", "assistant", "tool"):
                raise InvalidRequest(f"messages[{number}].role: invalid role {role!r}")
            try:
                text = content_text(message.get("content") or "", f"messages[{number}].content")
            except InvalidParams as exc:
                raise InvalidRequest(str(exc)) from None
            (system if role in ("system", "developer") else user).append(text)
        return "\n".join(system), "\n".join(user)


ANTHROPIC_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Batches errors in the Anthropic shape; chat errors in the OpenAI shape."""
    status = exc.status_code
    message = exc.description or exc.title
    resp.content_type = falcon.MEDIA_JSON
    if req.path.startswith("/v1/chat/"):
        if status == 429:
            kind = "rate_limit_exceeded"
        elif status >= 500:
            kind = "server_error"
        else:
            kind = "invalid_request_error"
        body: dict[str, Any] = {
            "error": {"message": message, "type": kind, "param": None, "code": None}
        }
    else:
        error_type = ANTHROPIC_ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        body = {"type": "error", "error": {"type": error_type, "message": message}}
    resp.data = json.dumps(body).encode()


def create_app(
    *,
    auth_token: str = "",
    webhook_secret: str = "",
    knobs: Knobs | None = None,
    batch_threads: int = 16,
    panel: KnobPanel | None = None,
    stats: Stats | None = None,
) -> falcon.App:
    """The LLM service."""
    panel = panel or KnobPanel(knobs)
    stats = stats or Stats(LLM_COUNTERS)
    book = BatchBook()
    runner = BatchRunner(
        book,
        panel,
        stats,
        CallbackSender(webhook_secret, panel, stats),
        BackgroundPool(batch_threads, "llm-batch"),
    )
    app = falcon.App(middleware=[TokenAuth(auth_token, bearer_or_api_key)])
    app.set_error_serializer(serialize_error)
    app.add_route("/v1/messages/batches", BatchesResource(book, runner, panel, stats))
    app.add_route("/v1/messages/batches/{batch_id}", BatchResource(book))
    app.add_route("/v1/messages/batches/{batch_id}/results", BatchResultsResource(book))
    app.add_route("/v1/messages/batches/{batch_id}/cancel", BatchCancelResource(book))
    app.add_route("/v1/chat/completions", ChatCompletionsResource(panel, stats))
    add_admin_routes(app, "llm", panel, stats)
    return app
