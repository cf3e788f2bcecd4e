"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /openapi.json`` (no key).

It is built here, in Python, so its enums and limits come from the code that enforces them
(the stage table, page sizes, bulk limits) instead of being copied. Response objects Leadpipe
shapes itself say ``additionalProperties: false``: a field added to an answer without being
documented here fails the schemathesis run in ``tests/integration/test_openapi.py``, as does
a route missing from ``paths``. Free-form JSON (stage results, a run's selection, event
details) is left open.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import falcon

from api import imports as import_api
from api.estimates import MAX_IDS as ESTIMATE_MAX_IDS
from pipeline import listing, runs
from pipeline.estimates import LLM_STAGES
from pipeline.imports import DEDUPE_MODES
from pipeline.leads import MAX_BULK
from pipeline.signing import HEADER as SIGNATURE_HEADER
from pipeline.stages import STAGE_NAMES, STATUSES
from pipeline.validation import MAX_LENGTHS

MAX_ID = 2**63 - 1
JSON = "application/json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REJECTION_REASONS = (
    "missing_email",
    "malformed_email",
    "malformed_url",
    "too_long",
    "bad_character",
    "bad_encoding",
    "wrong_field_count",
    "malformed_csv",
    "duplicate_email",
    "duplicate_domain",
    "invalid",
)
RUN_STATUSES = ("queued", "running", "paused", "completed", "failed", "cancelled")
RUN_ACTIONS = ("pause", "resume", "cancel", "retry-failed")
CSV_EXAMPLE = (
    "Email,Full Name,Company,Website,Notes\n"
    "grace@hopper.example,Grace Hopper,Hopper Labs,hopper.example,met at a conference\n"
    "not-an-email,Bad Row,Nowhere,nowhere.example,\n"
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """A closed object: every key of ``required`` must be there, ``optional`` ones may be."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _per_key(keys: tuple[str, ...], value: dict[str, Any]) -> dict[str, Any]:
    return _obj({key: value for key in keys})


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
COUNT = {"type": "integer", "minimum": 0}
TIME = {"type": "string", "format": "date-time"}
STAGE = {"type": "string", "enum": list(STAGE_NAMES)}
STATUS = {"type": "string", "enum": list(STATUSES)}
IDS = {"type": "array", "items": ID}
TOKENS = _obj({"input": COUNT, "output": COUNT})


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": _ref("Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


RESPONSES = {
    "BadRequest": _error(
        "The request is malformed: an empty body, one that does not parse as its media type "
        "(JSON, CSV text), or a query parameter that is unknown, repeated or out of range."
    ),
    "Unauthorized": _error(
        "No API key, or one that is unknown or revoked; the description says which.",
        {"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    "NotFound": _error(
        "No such thing in the caller's account (another account's objects answer the same), "
        "or a path that names none."
    ),
    "Conflict": _error("The object's current state does not allow this; the description says why."),
    "ContentTooLarge": _error("The body, or the number of items in it, is over the limit."),
    "UnsupportedMediaType": _error("The body's content type is not the one this operation reads."),
    "Unprocessable": _error(
        "The body parses, but what it holds is not what the operation takes (a field, a value, "
        "a CSV header without an email column); the description says what."
    ),
}


def _responses(ok: dict[str, dict[str, Any]], *errors: str) -> dict[str, Any]:
    """``ok`` (status -> response) plus the named error responses."""
    codes = {
        "BadRequest": "400",
        "Unauthorized": "401",
        "NotFound": "404",
        "Conflict": "409",
        "ContentTooLarge": "413",
        "UnsupportedMediaType": "415",
        "Unprocessable": "422",
    }
    out = dict(ok)
    for name in ("Unauthorized", "NotFound", *errors):
        out[codes[name]] = {"$ref": f"#/components/responses/{name}"}
    return dict(sorted(out.items()))


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, description: str, example: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": ID,
        "description": description,
        "example": example,
    }


def _schemas() -> dict[str, Any]:
    lead_field = {
        name: _nullable({"type": "string", "maxLength": limit})
        for name, limit in MAX_LENGTHS.items()
    }
    lead_input = {
        "type": "object",
        "required": ["email"],
        "properties": {
            **lead_field,
            "email": {"type": "string", "maxLength": MAX_LENGTHS["email"]},
        },
        "additionalProperties": False,
        "example": {
            "name": "Ada Lovelace",
            "email": "ada@acme.example",
            "company": "Acme",
            "title": "CTO",
            "company_url": "https://acme.example",
        },
    }
    stage_detail = _obj(
        {
            "status": STATUS,
            "attempt": COUNT,
            "retry_count": COUNT,
            "job_id": _nullable({"type": "string"}),
            "error": _nullable({"type": "string"}),
            "started_at": _nullable(TIME),
            "completed_at": _nullable(TIME),
            "run_after": _nullable(TIME),
            "result": {"description": "the stage's result as stored (JSON), or null"},
        }
    )
    lead = _obj(
        {
            "id": ID,
            "account_id": ID,
            "name": {"type": "string"},
            "email": {"type": "string"},
            "company": {"type": "string"},
            "title": {"type": "string"},
            "company_url": _nullable({"type": "string"}),
            "created_at": TIME,
            "updated_at": TIME,
            "run_id": _nullable(ID),
            "tokens": TOKENS,
            "cost_usd": {"type": "number", "minimum": 0},
            "stages": _per_key(STAGE_NAMES, _ref("StageDetail")),
        }
    )
    lead_summary = _obj(
        {
            "id": ID,
            "name": {"type": "string"},
            "email": {"type": "string"},
            "company": {"type": "string"},
            "company_url": _nullable({"type": "string"}),
            "run_id": _nullable(ID),
            "import_id": _nullable(ID),
            "current_stage": STAGE,
            "current_state": STATUS,
            "error": _nullable({"type": "string"}),
            "stages": _per_key(STAGE_NAMES, STATUS),
            "fit_score": _nullable({"type": "integer", "minimum": 0, "maximum": 100}),
            "subject": _nullable({"type": "string"}),
            "updated_at": TIME,
        }
    )
    version = _obj(
        {
            "stage": STAGE,
            "attempt": COUNT,
            "status": STATUS,
            "result": {"description": "the replaced result (JSON), or null"},
            "error": _nullable({"type": "string"}),
            "completed_at": _nullable(TIME),
            "run_id": _nullable(ID),
            "replaced_at": TIME,
        }
    )
    depth = _obj({"stage": STAGE, **{status: COUNT for status in STATUSES}})
    duration = _obj(
        {
            "stage": STAGE,
            "completed": COUNT,
            **{
                k: _nullable({"type": "number"})
                for k in ("avg_seconds", "p50_seconds", "p95_seconds", "max_seconds")
            },
        }
    )
    run_options = {
        "from_stage": {
            **STAGE,
            "description": "re-run from this stage: it is queued, later ones go back to "
            "pending, earlier results are kept",
        },
        "budget_usd": _nullable(
            {"type": "number", "minimum": 0, "exclusiveMaximum": 1e9, "description": "LLM cap"}
        ),
    }
    run_request = {
        "description": "Exactly one of lead_ids, import_id, all_pending.",
        "oneOf": [
            _obj(
                {"lead_ids": {**IDS, "minItems": 1, "maxItems": runs.MAX_SELECTION}},
                run_options,
            ),
            _obj({"import_id": ID}, run_options),
            _obj({"all_pending": {"const": True}}, run_options),
        ],
        "example": {"lead_ids": [1, 2]},
    }
    run_report = _obj(
        {
            "run_id": _nullable(ID),
            "queued": IDS,
            "skipped": IDS,
            "already_active": IDS,
            "not_found": IDS,
        }
    )
    run_fields = {
        "id": ID,
        "status": {"type": "string", "enum": list(RUN_STATUSES)},
        "selection": {"type": "object", "description": "what the run was asked to cover"},
        "lead_count": COUNT,
        "leads": {
            "type": "object",
            "description": "leads per outcome (active, completed, failed, skipped), from the "
            "roll-up; empty before its first pass",
            "additionalProperties": COUNT,
        },
        "counts": {
            "type": "object",
            "description": "per stage: leads per status",
            "propertyNames": STAGE,
            "additionalProperties": {
                "type": "object",
                "propertyNames": STATUS,
                "additionalProperties": COUNT,
            },
        },
        "progress": _per_key(STAGE_NAMES, {"type": "number", "minimum": 0, "maximum": 1}),
        "fit_score_avg": _nullable({"type": "number"}),
        "from_stage": STAGE,
        "budget_usd": _nullable({"type": "number", "minimum": 0}),
        "spent_usd": {"type": "number", "minimum": 0},
        "tokens": TOKENS,
        "paused_reason": _nullable({"type": "string"}),
        "created_at": TIME,
        "started_at": _nullable(TIME),
        "paused_at": _nullable(TIME),
        "finished_at": _nullable(TIME),
        "eta_seconds": _nullable({"type": "number", "minimum": 0}),
    }
    run_event = _obj({"kind": {"type": "string"}, "detail": {"type": "object"}, "created_at": TIME})
    run = _obj(run_fields)
    run_detail = _obj({**run_fields, "events": {"type": "array", "items": run_event}})
    rejection = _obj(
        {
            "line": {"type": "integer", "minimum": 1},
            "reason": {"type": "string", "enum": list(REJECTION_REASONS)},
            "message": {"type": "string"},
            "lead_id": _nullable(ID),
        }
    )
    import_fields = {
        "id": ID,
        "filename": _nullable({"type": "string"}),
        "dedupe": {"type": "string", "enum": list(DEDUPE_MODES)},
        "columns": {
            "type": "object",
            "description": "lead field -> the header column it was read from",
            "additionalProperties": {"type": "string"},
        },
        "ignored_columns": {"type": "array", "items": {"type": "string"}},
        "bytes": COUNT,
        "rows": COUNT,
        "accepted": COUNT,
        "rejected": COUNT,
        "duplicates": COUNT,
        "first_lead_id": _nullable(ID),
        "last_lead_id": _nullable(ID),
        "created_at": TIME,
        "completed_at": _nullable(TIME),
    }
    rejections_url = {"rejections_url": {"type": "string", "description": "where to page them"}}
    import_created = _obj(
        {
            **import_fields,
            **rejections_url,
            "rejections": {
                "type": "array",
                "items": _ref("Rejection"),
                "maxItems": 100,
                "description": "the first rejections; the rest are paged at rejections_url",
            },
            "rejections_complete": {"type": "boolean"},
        }
    )
    filter_values = {
        "stage": _nullable(STAGE),
        "state": _nullable(STATUS),
        "status": _nullable(STATUS),
        "run": _nullable(ID),
        "import": _nullable(ID),
    }
    lead_filter = {
        "type": "object",
        "description": "The filters of GET /leads; state needs stage.",
        "properties": filter_values,
        "additionalProperties": False,
        "dependentRequired": {"state": ["stage"]},
    }
    token_count = {"type": "integer", "minimum": 0}
    stage_estimate = _obj(
        {
            "basis": {"type": "string", "enum": ["observed", "heuristic"]},
            "samples": COUNT,
            "per_lead": _obj({"input_tokens": token_count, "output_tokens": token_count}),
            "input_tokens": token_count,
            "output_tokens": token_count,
            "cost_usd": {"type": "number", "minimum": 0},
        }
    )
    estimate = _obj(
        {
            "processed": COUNT,
            "skipped": _obj(
                {"total": COUNT, "no_url": COUNT, "already_done": COUNT, "in_flight": COUNT}
            ),
            "not_found": {**COUNT, "description": "how many of the given ids were not found"},
            "stages": _per_key(LLM_STAGES, _ref("StageEstimate")),
            "total": _obj(
                {
                    "input_tokens": token_count,
                    "output_tokens": token_count,
                    "cost_usd": {"type": "number", "minimum": 0},
                }
            ),
            "prices_usd_per_mtok": _obj(
                {"input": {"type": "number"}, "output": {"type": "number"}}
            ),
            "basis": {"type": "string", "enum": ["observed", "heuristic", "mixed"]},
        }
    )
    estimate_request = {
        "oneOf": [
            _obj({"lead_ids": {**IDS, "minItems": 1, "maxItems": ESTIMATE_MAX_IDS}}),
            _obj({"filter": _ref("LeadFilter")}),
        ],
        "example": {"filter": {"stage": "intel", "state": "failed"}},
    }
    reference = {
        "type": "string",
        "pattern": r"^L\d{1,18}-[a-z]{1,20}-\d{1,9}$",
        "description": "L<lead>-<stage>-<attempt>, as Leadpipe sent it",
    }
    scraper_callback = {
        "type": "object",
        "example": {
            "event": "job.completed",
            "job": {
                "id": "job-1",
                "url": "https://acme.example",
                "status": "completed",
                "result": {
                    "success": True,
                    "pages": [
                        {
                            "url": "https://acme.example",
                            "title": "Acme",
                            "content": "# Acme\nWe make anvils.",
                            "wordCount": 4,
                        }
                    ],
                    "totalPages": 1,
                    "duration": 1.5,
                },
            },
            "metadata": {"reference": "L1-scrape-1"},
        },
        "required": ["job", "metadata"],
        "properties": {
            "event": {"type": "string", "enum": ["job.completed", "job.failed"]},
            "job": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "id": {"type": "string"},
                    "url": {"type": "string"},
                    "status": {"type": "string"},
                    "error": _nullable({"type": "string"}),
                    "result": _nullable(
                        {
                            "type": "object",
                            "properties": {
                                "success": {"type": "boolean"},
                                "pages": _nullable({"type": "array", "items": {"type": "object"}}),
                                "error": _nullable({"type": "string"}),
                            },
                        }
                    ),
                },
            },
            "metadata": {
                "type": "object",
                "required": ["reference"],
                "properties": {"reference": reference},
            },
        },
    }
    llm_result = {
        "type": "object",
        "required": ["custom_id", "result"],
        "properties": {
            "custom_id": reference,
            "result": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {
                        "type": "string",
                        "enum": ["succeeded", "errored", "canceled", "expired"],
                    },
                    "message": _nullable(
                        {
                            "type": "object",
                            "properties": {
                                "content": _nullable(
                                    {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "type": _nullable({"type": "string"}),
                                                "text": _nullable({"type": "string"}),
                                            },
                                        },
                                    }
                                ),
                                "usage": _nullable({"type": "object"}),
                            },
                        }
                    ),
                    "error": _nullable(
                        {"type": "object", "properties": {"error": _nullable({"type": "object"})}}
                    ),
                },
            },
        },
    }
    llm_callback = {
        "type": "object",
        "example": {
            "type": "message_batch.ended",
            "batch": {"id": "msgbatch_1", "processing_status": "ended"},
            "results": [
                {
                    "custom_id": "L1-intel-1",
                    "result": {
                        "type": "succeeded",
                        "message": {
                            "content": [{"type": "text", "text": "Fit score: 80\nA good fit."}],
                            "usage": {"input_tokens": 1200, "output_tokens": 300},
                        },
                    },
                }
            ],
        },
        "required": ["batch"],
        "properties": {
            "type": {"type": "string", "enum": ["message_batch.ended"]},
            "batch": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "processing_status": {"type": "string"},
                },
            },
            "results": {
                "type": "array",
                "items": llm_result,
                "description": "absent: a worker fetches the results",
            },
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["title"],
            "properties": {
                "title": {"type": "string"},
                "description": {"type": "string"},
                "problems": {
                    "type": "array",
                    "description": "POST /leads: each invalid lead (its index) and its bad fields",
                    "items": _obj(
                        {
                            "index": COUNT,
                            "errors": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        }
                    ),
                },
            },
        },
        "Stage": STAGE,
        "StageStatus": STATUS,
        "LeadInput": lead_input,
        "StageDetail": stage_detail,
        "Lead": lead,
        "LeadSummary": lead_summary,
        "LeadPage": _obj(
            {
                "items": {"type": "array", "items": _ref("LeadSummary")},
                "next": _nullable({"type": "string", "description": "pass back as after"}),
            }
        ),
        "LeadVersion": version,
        "QueueDepth": depth,
        "StageDuration": duration,
        "RunRequest": run_request,
        "RunReport": run_report,
        "Run": run,
        "RunDetail": run_detail,
        "RunActionResult": _obj(
            {"run": _ref("RunDetail")},
            {
                "cancelled_leads": {**COUNT, "description": "cancel: leads with stages cancelled"},
                "requeued": {
                    "type": "object",
                    "description": "retry-failed: requeued stages per stage name",
                    "propertyNames": STAGE,
                    "additionalProperties": COUNT,
                },
            },
        ),
        "Rejection": rejection,
        "Import": _obj(import_fields),
        "ImportDetail": _obj({**import_fields, **rejections_url}),
        "ImportCreated": import_created,
        "LeadFilter": lead_filter,
        "StageEstimate": stage_estimate,
        "Estimate": estimate,
        "EstimateRequest": estimate_request,
        "Health": _obj(
            {
                "ok": {"type": "boolean"},
                "problems": {
                    "type": "object",
                    "description": "dependency -> why it does not answer",
                    "additionalProperties": {"type": "string"},
                },
            }
        ),
        "ScraperCallback": scraper_callback,
        "LlmCallback": llm_callback,
        "CallbackResult": _obj(
            {"completed": COUNT, "failed": COUNT, "retried": COUNT, "ignored": COUNT}
        ),
    }


def _filter_params() -> list[dict[str, Any]]:
    return [
        _query("stage", STAGE, "with state: that stage's status; alone: the lead's current stage"),
        _query("state", STATUS, "the status of the stage named by stage (needs stage)"),
        _query("status", STATUS, "the status of the lead's current stage"),
        _query("run", ID, "the leads a run covers (404 if not the caller's)"),
        _query("import", ID, "the leads an import created (404 if not the caller's)"),
    ]


def _paths() -> dict[str, Any]:
    lead_id = _path("lead_id", "a lead of the caller's account")
    run_id = _path("run_id", "a run of the caller's account")
    import_id = _path("import_id", "an import of the caller's account")
    signature = {
        "name": SIGNATURE_HEADER,
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": r"^t=\d{1,12},v1=[0-9a-f]{64}$"},
        "description": 'HMAC-SHA256 of "<t>.<raw body>" with the shared WEBHOOK_SECRET, '
        "t in unix seconds (at most 5 minutes old)",
    }
    start_run = {
        "summary": "Start a run (Customize)",
        "requestBody": _json_body(_ref("RunRequest")),
        "responses": _responses(
            {
                "201": _json(_ref("RunReport"), "A run was created"),
                "200": _json(_ref("RunReport"), "No lead could be taken: no run (run_id null)"),
            },
            "BadRequest",
            "ContentTooLarge",
            "UnsupportedMediaType",
            "Unprocessable",
        ),
    }
    callback_errors = {
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": _error("The signature is missing, malformed, expired or does not match."),
        "404": _error("The callback names only leads that do not exist."),
        "413": {"$ref": "#/components/responses/ContentTooLarge"},
        "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
    }
    return {
        "/": {
            "get": {
                "summary": "The dashboard page (open it as /#key=<API key>)",
                "security": [],
                "tags": ["dashboard"],
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "tags": ["meta"],
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["openapi", "info", "paths"]},
                        "The OpenAPI document",
                    )
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Whether every dependency answers",
                "security": [],
                "tags": ["meta"],
                "responses": {
                    "200": _json(_ref("Health"), "Every dependency answers"),
                    "503": _json(_ref("Health"), "Some dependency does not answer"),
                },
            }
        },
        "/status": {
            "get": {
                "summary": "Counts of the account's leads per stage and status",
                "tags": ["leads"],
                "responses": _responses(
                    {
                        "200": _json(
                            _obj(
                                {
                                    "stages": {"type": "array", "items": _ref("QueueDepth")},
                                    "durations": {"type": "array", "items": _ref("StageDuration")},
                                }
                            ),
                            "Per stage and status",
                        )
                    }
                ),
            }
        },
        "/leads": {
            "post": {
                "summary": "Create one lead, or many (all or none)",
                "tags": ["leads"],
                "requestBody": _json_body(
                    {
                        "anyOf": [
                            _ref("LeadInput"),
                            {
                                "type": "array",
                                "items": _ref("LeadInput"),
                                "minItems": 1,
                                "maxItems": MAX_BULK,
                            },
                            _obj(
                                {
                                    "leads": {
                                        "type": "array",
                                        "items": _ref("LeadInput"),
                                        "minItems": 1,
                                        "maxItems": MAX_BULK,
                                    }
                                }
                            ),
                        ]
                    }
                ),
                "responses": _responses(
                    {
                        "201": _json(
                            {
                                "oneOf": [
                                    _obj({"id": ID}),
                                    _obj({"ids": {**IDS, "minItems": 1}}),
                                ]
                            },
                            "Created: {id} for one lead, {ids} for a list",
                        )
                    },
                    "BadRequest",
                    "ContentTooLarge",
                    "UnsupportedMediaType",
                    "Unprocessable",
                ),
            },
            "get": {
                "summary": "A page of lead summaries (keyset pagination)",
                "tags": ["leads"],
                "parameters": [
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": listing.MAX_LIMIT},
                        f"page size (default {listing.DEFAULT_LIMIT})",
                    ),
                    _query(
                        "after",
                        {"type": "string", "maxLength": 200},
                        "the next of the previous page, as given",
                    ),
                    _query(
                        "order", {"type": "string", "enum": list(listing.ORDERS)}, "id or updated"
                    ),
                    *_filter_params(),
                ],
                "responses": _responses({"200": _json(_ref("LeadPage"), "A page")}, "BadRequest"),
            },
        },
        "/leads/{lead_id}": {
            "parameters": [lead_id],
            "get": {
                "summary": "One lead with every stage's status, attempt, error and result",
                "tags": ["leads"],
                "responses": _responses({"200": _json(_ref("Lead"), "The lead")}),
            },
        },
        "/leads/{lead_id}/versions": {
            "parameters": [lead_id],
            "get": {
                "summary": "Results and errors that re-runs replaced, oldest first",
                "tags": ["leads"],
                "parameters": [_query("stage", STAGE, "only this stage's versions")],
                "responses": _responses(
                    {
                        "200": _json(
                            _obj({"items": {"type": "array", "items": _ref("LeadVersion")}}),
                            "The versions",
                        )
                    },
                    "BadRequest",
                ),
            },
        },
        "/customize": {"post": {**start_run, "tags": ["runs"], "operationId": "customize"}},
        "/runs": {
            "post": {**start_run, "tags": ["runs"], "operationId": "startRun"},
            "get": {
                "summary": "The account's runs, newest first",
                "tags": ["runs"],
                "parameters": [
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 200}, "default 50"
                    ),
                    _query("after", ID, "the next of the previous page"),
                ],
                "responses": _responses(
                    {
                        "200": _json(
                            _obj(
                                {
                                    "items": {"type": "array", "items": _ref("Run")},
                                    "next": _nullable(ID),
                                }
                            ),
                            "A page of runs",
                        )
                    },
                    "BadRequest",
                ),
            },
        },
        "/runs/{run_id}": {
            "parameters": [run_id],
            "get": {
                "summary": "One run: status, progress, counts, cost, times, ETA, events",
                "tags": ["runs"],
                "responses": _responses({"200": _json(_ref("RunDetail"), "The run")}),
            },
            "patch": {
                "summary": "Change the run's budget cap (null removes it)",
                "tags": ["runs"],
                "requestBody": _json_body(
                    _obj(
                        {
                            "budget_usd": _nullable(
                                {"type": "number", "minimum": 0, "exclusiveMaximum": 1e9}
                            )
                        }
                    )
                ),
                "responses": _responses(
                    {"200": _json(_ref("RunDetail"), "The run, changed")},
                    "BadRequest",
                    "UnsupportedMediaType",
                    "Unprocessable",
                ),
            },
        },
        "/runs/{run_id}/{action}": {
            "parameters": [
                run_id,
                {
                    "name": "action",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": list(RUN_ACTIONS)},
                    "description": "pause, resume, cancel or retry-failed",
                },
            ],
            "post": {
                "summary": "Pause, resume, cancel a run, or requeue its failed stages",
                "tags": ["runs"],
                "requestBody": _json_body(
                    _obj(
                        {},
                        {
                            "error_prefixes": {
                                "type": "array",
                                "items": {"type": "string", "minLength": 1, "maxLength": 200},
                                "description": "retry-failed: only errors starting with one",
                            }
                        },
                    ),
                    required=False,
                ),
                "responses": _responses(
                    {"200": _json(_ref("RunActionResult"), "Done: the run as it is now")},
                    "BadRequest",
                    "Conflict",
                    "UnsupportedMediaType",
                    "Unprocessable",
                ),
            },
        },
        "/imports": {
            "post": {
                "summary": "Import a CSV file of leads (one transaction)",
                "tags": ["imports"],
                "parameters": [
                    _query(
                        "dedupe", {"type": "string", "enum": list(DEDUPE_MODES)}, "default email"
                    ),
                    _query(
                        "filename",
                        {"type": "string"},
                        "the file's name, for a raw text/csv body (its last path segment is "
                        "kept, cut to 255 characters)",
                    ),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            },
                            "encoding": {"file": {"contentType": "text/csv"}},
                            "example": {"file": CSV_EXAMPLE},
                        },
                    },
                },
                "responses": _responses(
                    {
                        "201": {
                            **_json(_ref("ImportCreated"), "Imported"),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        }
                    },
                    "BadRequest",
                    "Conflict",
                    "ContentTooLarge",
                    "UnsupportedMediaType",
                    "Unprocessable",
                ),
            },
            "get": {
                "summary": "The account's imports, newest first",
                "tags": ["imports"],
                "parameters": [
                    _query("after", ID, "the next of the previous page"),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": import_api.MAX_PAGE},
                        "default 100",
                    ),
                ],
                "responses": _responses(
                    {
                        "200": _json(
                            _obj(
                                {
                                    "items": {"type": "array", "items": _ref("Import")},
                                    "next": _nullable(ID),
                                }
                            ),
                            "A page of imports",
                        )
                    },
                    "BadRequest",
                ),
            },
        },
        "/imports/{import_id}": {
            "parameters": [import_id],
            "get": {
                "summary": "One import record",
                "tags": ["imports"],
                "responses": _responses({"200": _json(_ref("ImportDetail"), "The import")}),
            },
        },
        "/imports/{import_id}/rejections": {
            "parameters": [import_id],
            "get": {
                "summary": "The import's rejected rows in line order",
                "tags": ["imports"],
                "parameters": [
                    _query(
                        "after",
                        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                        "the next of the previous page (a line number)",
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": import_api.MAX_PAGE},
                        "default 100",
                    ),
                ],
                "responses": _responses(
                    {
                        "200": _json(
                            _obj(
                                {
                                    "items": {"type": "array", "items": _ref("Rejection")},
                                    "next": _nullable({"type": "integer", "minimum": 1}),
                                }
                            ),
                            "A page of rejections",
                        )
                    },
                    "BadRequest",
                ),
            },
        },
        "/exports/leads.csv": {
            "get": {
                "summary": "Every lead the filters select, as CSV (streamed)",
                "tags": ["exports"],
                "parameters": _filter_params(),
                "responses": _responses(
                    {
                        "200": {
                            "description": "An attachment (Content-Disposition names it)",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        }
                    },
                    "BadRequest",
                ),
            }
        },
        "/exports/leads.xlsx": {
            "get": {
                "summary": "Every lead the filters select, as an XLSX workbook",
                "tags": ["exports"],
                "parameters": _filter_params(),
                "responses": _responses(
                    {
                        "200": {
                            "description": "An attachment (Content-Disposition names it)",
                            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
                        }
                    },
                    "BadRequest",
                    "Unprocessable",
                ),
            }
        },
        "/estimate": {
            "post": {
                "summary": "What Customize would process, skip and cost for a selection",
                "tags": ["runs"],
                "requestBody": _json_body(_ref("EstimateRequest")),
                "responses": _responses(
                    {"200": _json(_ref("Estimate"), "The estimate")},
                    "BadRequest",
                    "ContentTooLarge",
                    "UnsupportedMediaType",
                    "Unprocessable",
                ),
            }
        },
        "/webhooks/scraper": {
            "post": {
                "summary": "A scraper job finished (signed callback)",
                "tags": ["webhooks"],
                "security": [],
                "parameters": [signature],
                "requestBody": _json_body(_ref("ScraperCallback")),
                "responses": {
                    "200": _json(
                        _ref("CallbackResult"),
                        "Applied, or a duplicate or stale callback that changed nothing",
                    ),
                    **callback_errors,
                },
            }
        },
        "/webhooks/llm": {
            "post": {
                "summary": "An LLM message batch ended (signed callback)",
                "tags": ["webhooks"],
                "security": [],
                "parameters": [signature],
                "requestBody": _json_body(_ref("LlmCallback")),
                "responses": {
                    "200": _json(
                        _ref("CallbackResult"),
                        "Applied, or a duplicate or stale callback that changed nothing",
                    ),
                    "202": _json(
                        _obj({"fetching": {"type": "string"}}),
                        "No results in the body: a worker fetches them",
                    ),
                    **callback_errors,
                },
            }
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """The whole OpenAPI document (built once: do not change what it returns)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Leadpipe",
            "version": "1",
            "description": "Upload leads, press Customize, read the results. Every endpoint "
            "but /healthz, /openapi.json, the dashboard page and the signed webhooks wants an "
            "API key (leadpipe keys create) and acts for its account only.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerKey": []}, {"headerKey": []}],
        "tags": [
            {"name": name}
            for name in ("leads", "runs", "imports", "exports", "webhooks", "meta", "dashboard")
        ],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "lp_…",
                    "description": "Authorization: Bearer <API key>",
                },
                "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": _schemas(),
            "responses": RESPONSES,
        },
    }


@functools.cache
def _encoded() -> bytes:
    return json.dumps(document(), ensure_ascii=False).encode()


class OpenApiDocument:
    """``GET /openapi.json``: the document above (no key needed)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.cache_control = ["no-cache"]
        resp.data = _encoded()
