"""One message request → one assistant message, as the Messages API would answer it.

Used by both the batch endpoint (one call per batch request) and the chat endpoint. The
``params`` are validated here, as the real Batches API does *after* accepting a batch: an
invalid request becomes an ``errored`` result, not a rejected batch.
"""

from __future__ import annotations

import uuid
from typing import Any

from localservices.textgen import compose


class InvalidParams(ValueError):
    """The request's params are not a valid Messages API request."""


def content_text(content: object, where: str) -> str:
    """The text of a message ``content`` (a string or a list of ``{"type": "text"}`` blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for number, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise InvalidParams(f"{where}.{number}: each content block needs a type")
            if block["type"] == "text":
                if not isinstance(block.get("text"), str):
                    raise InvalidParams(f"{where}.{number}.text: Field required")
                texts.append(block["text"])
        return "\n".join(texts)
    raise InvalidParams(f"{where}: Input should be a valid string or list of content blocks")


def usage_for(prompt_text: str, reply: str) -> tuple[int, int]:
    """(input_tokens, output_tokens), roughly four characters a token."""
    return max(1, len(prompt_text) // 4), max(1, len(reply) // 4)


def _truncate(text: str, max_tokens: int) -> tuple[str, str]:
    """The reply cut to ``max_tokens`` (four characters a token) and the stop reason."""
    if len(text) // 4 <= max_tokens:
        return text, "end_turn"
    return text[: max_tokens * 4], "max_tokens"


def prompt_of(params: dict[str, Any]) -> tuple[str, str]:
    """(system text, text of all messages) after validating the prompt part of ``params``."""
    system = params.get("system", "")
    system_text = "" if system is None else content_text(system, "system")
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidParams("messages: at least one message is required")
    texts = []
    for number, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidParams(f"messages.{number}: Input should be an object")
        if message.get("role") not in ("user", "assistant"):
            raise InvalidParams(f"messages.{number}.role: Input should be 'user' or 'assistant'")
        texts.append(content_text(message.get("content"), f"messages.{number}.content"))
    return system_text, "\n".join(texts)


def answer(params: object) -> dict[str, Any]:
    """The assistant ``message`` for Messages API ``params``; raise InvalidParams if invalid."""
    if not isinstance(params, dict):
        raise InvalidParams("params: Input should be an object")
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidParams("model: Field required")
    max_tokens = params.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise InvalidParams("max_tokens: Field required (a positive integer)")
    if max_tokens < 1:
        raise InvalidParams("max_tokens: Input should be greater than or equal to 1")
    temperature = params.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 1
    ):
        raise InvalidParams("temperature: Input should be a number between 0 and 1")
    system, user = prompt_of(params)
    text, stop_reason = _truncate(compose(system, user), max_tokens)
    input_tokens, output_tokens = usage_for(f"{system}\n{user}", text)
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def error_result(error_type: str, message: str) -> dict[str, Any]:
    """The ``result`` of an errored batch request."""
    return {
        "type": "errored",
        "error": {"type": "error", "error": {"type": error_type, "message": message}},
    }
