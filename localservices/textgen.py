"""Deterministic stand-in LLM text: the same prompt always gets the same reply.

The pipeline's prompts carry ``Task: <intel|strategy|subject|messaging>`` (system prompt)
and ``Company:`` / ``Contact:`` / ``Subject:`` lines (user message). The reply follows the
task's shape closely enough for the pipeline to parse it, and picks its phrases by the
SHA-256 of the whole prompt, so different leads get different (but repeatable) text.
Prompts without these lines get a generic reply.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

TASKS = ("intel", "strategy", "subject", "messaging")
#: ``Key: value`` lines that are instructions, not content worth quoting.
_HEADER_LINE = re.compile(r"^\s*[A-Za-z][A-Za-z ]{0,30}:(\s|$)")


def _field(text: str, key: str) -> str | None:
    match = re.search(rf"^\s*{key}\s*:[ \t]*(\S.*?)\s*$", text, re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str

    @property
    def full(self) -> str:
        return f"{self.system}\n{self.user}" if self.system else self.user

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.full.encode()).digest()

    @property
    def task(self) -> str | None:
        value = _field(self.system, "Task") or _field(self.user, "Task")
        value = (value or "").strip().lower()
        return value if value in TASKS else None

    @property
    def company(self) -> str | None:
        return _field(self.user, "Company") or _field(self.system, "Company")

    @property
    def contact(self) -> str | None:
        return _field(self.user, "Contact") or _field(self.system, "Contact")

    @property
    def subject(self) -> str | None:
        return _field(self.user, "Subject")

    def quote(self, words: int = 8) -> str | None:
        """A few words of the user content (not of its ``Key: value`` header lines)."""
        lines = [
            " ".join(line.lstrip("#-* ").split())
            for line in self.user.splitlines()
            if not _HEADER_LINE.match(line)
        ]
        candidates = [line for line in lines if len(line.split()) >= 4]
        if not candidates:
            return None
        chosen = candidates[self.digest[6] % len(candidates)]
        return " ".join(chosen.split()[:words]).rstrip(".,;:!?")


class _Picker:
    """Picks phrases by successive bytes of the prompt's digest."""

    def __init__(self, digest: bytes) -> None:
        self._digest = digest
        self._next = 8

    def pick(self, options: tuple[str, ...]) -> str:
        byte = self._digest[self._next % len(self._digest)]
        self._next += 1
        return options[byte % len(options)]


def fit_score(prompt: Prompt) -> int:
    return int.from_bytes(prompt.digest[:2], "big") % 101


def compose(system: str, user: str) -> str:
    """The reply to a prompt: ``system`` text and the text of all messages (``user``)."""
    prompt = Prompt(system=system, user=user)
    writer = {
        "intel": _intel,
        "strategy": _strategy,
        "subject": _subjects,
        "messaging": _email,
    }.get(prompt.task or "", _generic)
    return writer(prompt, _Picker(prompt.digest))


def _intel(prompt: Prompt, picker: _Picker) -> str:
    company = prompt.company or "The company"
    quote = prompt.quote()
    evidence = f'Their site says: "{quote}".' if quote else "Their site offers little text."
    lines = [
        f"Sales intelligence report: {company}",
        picker.pick(
            (
                f"{company} presents a focused offer and a clear target customer.",
                f"{company} looks like an established business that is still growing.",
                f"{company} appears to be expanding its product line.",
                f"{company} positions itself on reliability and customer service.",
            )
        ),
        evidence,
        "Signals: "
        + picker.pick(
            (
                "recent product updates and an active blog.",
                "a growing team and new customer segments.",
                "emphasis on measurable results for customers.",
                "a regional focus with national ambitions.",
            )
        ),
        "Likely priorities: "
        + picker.pick(
            (
                "saving their team time on repetitive work.",
                "winning larger accounts without adding headcount.",
                "keeping customers longer through better service.",
                "entering new markets quickly.",
            )
        ),
        f"Fit score: {fit_score(prompt)}",
    ]
    return "\n".join(lines)


def _strategy(prompt: Prompt, picker: _Picker) -> str:
    company = prompt.company or "the company"
    who = prompt.contact or "the decision maker"
    return " ".join(
        (
            picker.pick(
                (
                    f"Open with a specific observation about {company}'s recent work",
                    f"Lead with the outcome {company} cares about most",
                    f"Start from a problem {company} is likely facing this quarter",
                )
            )
            + f" and address {who} directly.",
            picker.pick(
                (
                    "Tie our offer to one measurable result rather than a feature list.",
                    "Use one short customer story from a similar company as proof.",
                    "Keep the value proposition to a single, concrete sentence.",
                )
            ),
            picker.pick(
                (
                    "Close with a low-commitment ask: a 15-minute call next week.",
                    "End by offering a short written teardown instead of a meeting.",
                    "Ask one easy question they can answer in a line.",
                )
            ),
            f"Keep the first email to {company} under 120 words.",
        )
    )


SUBJECT_TEMPLATES = (
    "Quick idea for {company}",
    "{company}: a faster way to grow pipeline",
    "A question about {company}'s next quarter",
    "How teams like {company} cut busywork",
    "Worth a look for {company}?",
    "{company} and a 15-minute idea",
    "Saw what {company} is building",
    "Helping {company} win bigger accounts",
)


def _subject_options(prompt: Prompt) -> list[str]:
    company = prompt.company or "your team"
    ranked = sorted(
        SUBJECT_TEMPLATES,
        key=lambda template: hashlib.sha256((prompt.full + template).encode()).digest(),
    )
    return [template.format(company=company) for template in ranked[:3]]


def _subjects(prompt: Prompt, picker: _Picker) -> str:
    return "\n".join(f"{n}. {line}" for n, line in enumerate(_subject_options(prompt), 1))


def _email(prompt: Prompt, picker: _Picker) -> str:
    company = prompt.company or "your company"
    first_name = (prompt.contact or "").split()[0] if prompt.contact else "there"
    subject = prompt.subject or _subject_options(prompt)[0]
    body = " ".join(
        (
            picker.pick(
                (
                    f"I have been following {company} and liked what I saw.",
                    f"I came across {company} while researching teams in your space.",
                    f"Congratulations on the recent progress at {company}.",
                )
            ),
            picker.pick(
                (
                    "We help similar teams cut the time they spend on repetitive work.",
                    "We help companies like yours win larger accounts without extra headcount.",
                    "Our customers usually see results within the first month.",
                )
            ),
            picker.pick(
                (
                    "Would a 15-minute call next week be worth it?",
                    "Open to a short call to see if it fits?",
                    "Shall I send over a one-page summary?",
                )
            ),
        )
    )
    signoff = picker.pick(("Best,", "Kind regards,", "Thanks,", "Cheers,"))
    return f"Subject: {subject}\n\nHi {first_name},\n\n{body}\n\n{signoff}\nSam Carter"


def _generic(prompt: Prompt, picker: _Picker) -> str:
    about = f" about {prompt.company}" if prompt.company else ""
    quote = prompt.quote(12)
    echo = f' You wrote: "{quote}".' if quote else ""
    closing = picker.pick(
        (
            "Let me know if you want more detail.",
            "Happy to expand on any part of this.",
            "Tell me which part to focus on next.",
        )
    )
    return f"Thanks for your message{about}.{echo} {closing}"
