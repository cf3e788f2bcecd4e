"""Dramatiq actors: thin callers of ``pipeline``.

Importing this package sets up the broker (before any actor is declared, as dramatiq and
periodiq require) and declares every actor, so ``dramatiq actors`` and ``periodiq actors``
both find them.
"""

import logging

from actors.broker import broker  # noqa: F401  (must come first: declares the broker)

from actors import periodic, stages  # noqa: F401  isort: skip

# httpx logs every request at INFO: one line per submit is noise at production volume, and
# formatting it cost about 3 % of a worker's CPU in the benchmark's profile.
logging.getLogger("httpx").setLevel(logging.WARNING)
