"""Dramatiq actors: thin callers of ``pipeline``.

Importing this package sets up the broker (before any actor is declared, as dramatiq and
periodiq require) and declares every actor, so ``dramatiq actors`` and ``periodiq actors``
both find them.
"""

from actors.broker import broker  # noqa: F401  (must come first: declares the broker)

from actors import periodic, stages  # noqa: F401  isort: skip
