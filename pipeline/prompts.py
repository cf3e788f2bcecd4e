"""How each LLM stage's request is built from earlier results, and how its answer is read.

Every prompt carries a ``Task:`` line in the system prompt and ``Company:`` /
``Contact:`` lines in the user message; the bundled LLM stand-in keys its deterministic
answers on them, and a real model simply reads them as context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeline.errors import EmptyContent

#: Characters of scraped text sent to the intel stage (about 4k tokens).
MAX_CONTENT_CHARS = 16_000
MAX_TOKENS = {"intel": 1200, "strategy": 900, "subject": 200, "messaging": 900}

SYSTEM = {
    "intel": (
        "Task: intel\n"
        "You are a B2B sales research analyst. From the company's website content, write a "
        "concise sales-intelligence report: what the company does, who it sells to, recent "
        "signals, likely pains, and how well it fits our offer. End with a line "
        "'Fit score: N' where N is 0-100."
    ),
    "strategy": (
        "Task: strategy\n"
        "You are a senior account executive. From the intelligence report, write a "
        "personalised outreach strategy for this contact: angle, value proposition, proof "
        "points and call to action."
    ),
    "subject": (
        "Task: subject\n"
        "You write cold-email subject lines. From the strategy, give exactly three subject "
        "lines, numbered '1.', '2.', '3.', each under 70 characters, no quotes."
    ),
    "messaging": (
        "Task: messaging\n"
        "You write short, specific cold emails. Using the strategy and the given subject "
        "line, write the email. First line 'Subject: ...', then a blank line, then the body."
    ),
}


def _header(lead: Mapping[str, Any]) -> str:
    contact = lead.get("name") or "there"
    if lead.get("title"):
        contact = f"{contact} ({lead['title']})"
    lines = [f"Company: {lead.get('company') or 'unknown'}", f"Contact: {contact}"]
    if lead.get("company_url"):
        lines.append(f"Website: {lead['company_url']}")
    return "\n".join(lines)


def _scraped_text(scrape_result: Mapping[str, Any] | None) -> str:
    pages = (scrape_result or {}).get("pages") or []
    parts: list[str] = []
    used = 0
    for page in pages:
        chunk = f"## {page.get('title') or page.get('url', '')}\n{page.get('content', '')}"
        parts.append(chunk[: MAX_CONTENT_CHARS - used])
        used += len(parts[-1])
        if used >= MAX_CONTENT_CHARS:
            break
    return "\n\n".join(parts)


def _text_of(result: Mapping[str, Any] | None) -> str:
    return str((result or {}).get("text", ""))


def user_message(stage: str, lead: Mapping[str, Any]) -> str:
    """The user turn for ``stage``, built from the claimed row's columns."""
    header = _header(lead)
    if stage == "intel":
        return f"{header}\n\nWebsite content:\n{_scraped_text(lead.get('scrape_result'))}"
    if stage == "strategy":
        return f"{header}\n\nIntelligence report:\n{_text_of(lead.get('intel_result'))}"
    if stage == "subject":
        return f"{header}\n\nOutreach strategy:\n{_text_of(lead.get('strategy_result'))}"
    if stage == "messaging":
        subject = (lead.get("subject_result") or {}).get("chosen", "")
        strategy = _text_of(lead.get("strategy_result"))
        return f"{header}\nSubject: {subject}\n\nOutreach strategy:\n{strategy}"
    raise ValueError(f"{stage!r} is not an LLM stage")


def request_params(stage: str, lead: Mapping[str, Any], model: str) -> dict[str, Any]:
    """``params`` of one Message Batches request."""
    return {
        "model": model,
        "max_tokens": MAX_TOKENS[stage],
        "temperature": 0.7,
        "system": SYSTEM[stage],
        "messages": [{"role": "user", "content": user_message(stage, lead)}],
    }


_FIT = re.compile(r"fit\s*score\s*[:=]\s*(\d{1,3})", re.I)
_NUMBERED = re.compile(r"^\s*\d+\s*[.)]\s*(.+?)\s*$")


def _tokens(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """Token counts as whole numbers (they are summed in SQL; anything else reads as 0)."""
    out = {}
    for key in ("input_tokens", "output_tokens"):
        value = (usage or {}).get(key)
        out[key] = int(value) if isinstance(value, int | float) and 0 <= value < 2**40 else 0
    return out


def parse_output(stage: str, text: str, usage: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Turn a model's text into the stage's stored result; empty text is a hard failure."""
    text = (text or "").strip()
    if not text:
        raise EmptyContent(f"the model returned no text for {stage}")
    result: dict[str, Any] = {"text": text, "usage": _tokens(usage)}
    if stage == "intel":
        match = _FIT.search(text)
        result["fit_score"] = min(int(match.group(1)), 100) if match else None
    elif stage == "subject":
        options = [m.group(1).strip("\"' ") for m in map(_NUMBERED.match, text.splitlines()) if m]
        if not options:
            options = [next(line.strip() for line in text.splitlines() if line.strip())]
        result["options"] = options
        result["chosen"] = options[0]
    elif stage == "messaging":
        first, _, rest = text.partition("\n")
        if first.lower().startswith("subject:"):
            result["subject"] = first.split(":", 1)[1].strip()
            result["body"] = rest.strip()
        else:
            result["subject"] = None
            result["body"] = text
    return result
