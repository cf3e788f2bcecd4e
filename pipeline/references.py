"""The reference that names one attempt of one stage of one lead.

It travels to the services (scraper ``metadata.reference``, LLM ``custom_id``) and back in
their callbacks and results, so a result can find its row even when it arrives before the
submit call returned a job id, and a result of an older attempt can never complete a newer
one (the attempt is the fencing token). The format fits the Message Batches ``custom_id``
alphabet (``^[a-zA-Z0-9_-]{1,64}$``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_PATTERN = re.compile(r"^L(\d{1,18})-([a-z]{1,20})-(\d{1,9})$")


class Reference(NamedTuple):
    lead_id: int
    stage: str
    attempt: int

    def __str__(self) -> str:
        return f"L{self.lead_id}-{self.stage}-{self.attempt}"


def parse_reference(value: object) -> Reference:
    """Parse ``L<lead>-<stage>-<attempt>``; raise ValueError on anything else."""
    if not isinstance(value, str):
        raise ValueError("reference must be a string")
    match = _PATTERN.match(value)
    if match is None:
        raise ValueError(f"malformed reference {value[:80]!r}")
    return Reference(int(match.group(1)), match.group(2), int(match.group(3)))
