"""Turning failures into one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import re

#: Exit codes: 1 the command failed, 2 it was used or configured wrongly, 130 Ctrl-C,
#: 143 SIGTERM (the shell conventions 128 + signal number).
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')


class CliError(Exception):
    """A failure the user can act on; ``main`` prints ``leadpipe: <message>``."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Terminated(Exception):
    """Raised from the SIGTERM handler so ``finally`` blocks stop child processes."""


def one_line(text: str) -> str:
    """The first non-empty line of ``text`` with runs of whitespace collapsed.

    Driver messages span lines ("...failed: Connection refused\\n\\tIs the server
    running...?"); the first line carries the reason, the rest is advice we give ourselves.
    """
    for line in str(text).splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def database_error_reason(exc: BaseException) -> str:
    """The reason of a database connection error, from the driver's exception if wrapped."""
    orig = getattr(exc, "orig", None) or exc
    reason = one_line(str(orig))
    return reason.removeprefix("connection failed: ")


def missing_database(exc: BaseException) -> str | None:
    """The database name when ``exc`` says the database does not exist, else None."""
    match = _MISSING_DATABASE.search(str(getattr(exc, "orig", None) or exc))
    return match.group(1) if match else None
