"""Reading a CSV file of leads as a stream: byte chunks in, numbered records out.

Memory stays bounded whatever the file's size: the bytes are split into physical lines
(on ``\\n``, which never occurs inside a UTF-8 multi-byte character), each line is decoded
on its own, and :mod:`csv` reads the lines one at a time. A line that is not UTF-8 spoils
only the record it belongs to. A record (its physical lines together) longer than
:data:`MAX_RECORD_BYTES` means the body is not a CSV file of leads.

Line numbers are physical: the header is line 1 (or later, after blank lines), and a
record is numbered by the line it starts on, as an editor shows it. Blank lines, and lines
of nothing but separators, are skipped and not counted as rows.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MAX_RECORD_BYTES = 1024 * 1024
BOM = "\ufeff"

#: Header names (lower-case, runs of spaces, ``_`` and ``-`` read as one space) that name
#: each lead field. ``first_name`` + ``last_name`` make the name when there is no name.
ALIASES: dict[str, frozenset[str]] = {
    "email": frozenset(
        {"email", "e mail", "email address", "e mail address", "mail", "work email"}
    ),
    "company_url": frozenset(
        {
            "company url",
            "website",
            "url",
            "domain",
            "company website",
            "company domain",
            "web site",
            "website url",
            "homepage",
            "site",
        }
    ),
    "name": frozenset({"name", "full name", "contact name", "contact"}),
    "first_name": frozenset({"first name", "firstname", "given name"}),
    "last_name": frozenset({"last name", "lastname", "surname", "family name"}),
    "company": frozenset(
        {"company", "company name", "organization", "organisation", "organization name"}
    ),
    "title": frozenset({"title", "job title", "position", "role"}),
}
_BY_ALIAS = {alias: target for target, names in ALIASES.items() for alias in names}
_SEPARATORS = re.compile(r"[\s_\-]+")


class CsvFormatError(ValueError):
    """The body is not a usable CSV file of leads; nothing may be written.

    ``kind`` is ``empty``, ``not_csv``, ``header`` or ``too_large``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def normalize_header(name: str) -> str:
    return _SEPARATORS.sub(" ", name.strip().lower()).strip()


@dataclass(frozen=True)
class Header:
    """Which column holds which lead field."""

    line: int
    columns: list[str]
    #: lead field (or first_name / last_name) -> column index
    index: dict[str, int]
    ignored: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, line: int, columns: list[str]) -> Header:
        index: dict[str, int] = {}
        ignored: list[str] = []
        for position, column in enumerate(columns):
            target = _BY_ALIAS.get(normalize_header(column))
            if target is None:
                if column.strip():
                    ignored.append(column.strip())
                continue
            if target in index:
                first = columns[index[target]].strip()
                raise CsvFormatError(
                    "header",
                    f"columns {first!r} and {column.strip()!r} both give the "
                    f"{target.replace('_', ' ')}; keep one",
                )
            index[target] = position
        if "email" not in index:
            found = ", ".join(repr(c.strip()[:40]) for c in columns[:12]) or "nothing"
            raise CsvFormatError(
                "header",
                f"the header (line {line}) has no email column; name one 'email', 'e-mail' or "
                f"'email address' (found: {found})",
            )
        return cls(line, columns, index, ignored)

    @property
    def mapping(self) -> dict[str, str]:
        """lead field -> the header as written, for the import record."""
        return {target: self.columns[i].strip() for target, i in self.index.items()}

    def lead(self, values: list[str]) -> dict[str, str]:
        """The lead fields of a record that has as many values as the header."""
        lead = {
            target: values[i]
            for target, i in self.index.items()
            if target not in ("first_name", "last_name")
        }
        if not lead.get("name", "").strip():
            parts = [
                values[self.index[p]].strip()
                for p in ("first_name", "last_name")
                if p in self.index
            ]
            joined = " ".join(p for p in parts if p)
            if joined:
                lead["name"] = joined
        return lead


@dataclass(frozen=True)
class Record:
    """One CSV record: its values, or the problem that kept it from being read."""

    line: int
    values: list[str] | None = None
    #: (reason code, message): bad_encoding or malformed_csv
    problem: tuple[str, str] | None = None


class _Lines:
    """Physical lines of a byte stream, decoded one by one; remembers which were not UTF-8."""

    def __init__(self, chunks: Iterable[bytes], max_bytes: int) -> None:
        self._chunks = iter(chunks)
        self._max_bytes = max_bytes
        self.bytes_read = 0
        self.count = 0  # lines handed out so far
        self.bad: list[int] = []  # numbers of lines that were not UTF-8
        self.record_start = 1  # set by the reader before each record
        self._record_bytes = 0

    def start_record(self) -> None:
        self.record_start = self.count + 1
        self._record_bytes = 0
        self.bad.clear()

    def _take(self, raw: bytes) -> str:
        self.count += 1
        self._record_bytes += len(raw)
        if self._record_bytes > MAX_RECORD_BYTES:
            raise CsvFormatError(
                "not_csv",
                f"the record starting on line {self.record_start} is longer than "
                f"{MAX_RECORD_BYTES // 1024} KiB; this does not look like a CSV file of leads",
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad.append(self.count)
            text = raw.decode("utf-8", errors="replace")
        if self.count == 1 and text.startswith(BOM):
            text = text[1:]
        return text

    def __iter__(self) -> Iterator[str]:
        pending = b""
        for chunk in self._chunks:
            if not chunk:
                continue
            self.bytes_read += len(chunk)
            if self.bytes_read > self._max_bytes:
                raise CsvFormatError(
                    "too_large", f"the file is larger than the limit of {self._max_bytes} bytes"
                )
            pending += chunk
            if b"\n" not in chunk:
                if len(pending) > MAX_RECORD_BYTES:
                    self._take(pending)  # raises: a record cannot be this long
                continue
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                yield self._take(raw + b"\n")
        if pending:
            yield self._take(pending)


class CsvStream:
    """``header()`` first (it raises :class:`CsvFormatError` for a body that is not a CSV
    file of leads, before anything is written), then ``records()``."""

    def __init__(self, chunks: Iterable[bytes], max_bytes: int) -> None:
        self._lines = _Lines(chunks, max_bytes)
        self._reader = csv.reader(iter(self._lines), strict=False)
        self._header: Header | None = None

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def _next(self) -> Record | None:
        """The next non-blank record, or None at the end."""
        while True:
            self._lines.start_record()
            try:
                values = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                return Record(self._lines.record_start, problem=("malformed_csv", f"{exc}"))
            line = self._lines.record_start
            if self._lines.bad:
                where = ", ".join(str(n) for n in self._lines.bad[:3])
                noun = "line" if len(self._lines.bad) == 1 else "lines"
                return Record(line, problem=("bad_encoding", f"{noun} {where} not UTF-8 text"))
            if not any(v.strip() for v in values):
                continue
            return Record(line, values)

    def header(self) -> Header:
        if self._header is not None:
            return self._header
        first = self._next()
        if first is None:
            if self.bytes_read == 0:
                raise CsvFormatError("empty", "the file is empty")
            raise CsvFormatError("empty", "the file has no header and no rows")
        if first.problem is not None:
            code, message = first.problem
            detail = "it is not UTF-8 text" if code == "bad_encoding" else message
            raise CsvFormatError(
                "not_csv", f"the header (line {first.line}) is unreadable: {detail}"
            )
        values = first.values or []
        text = ",".join(values)
        if "\x00" in text:
            raise CsvFormatError("not_csv", "the file holds binary data, not CSV text")
        if text.lstrip().startswith(("{", "[")):
            raise CsvFormatError(
                "not_csv", "the file looks like JSON, not CSV (POST JSON leads to /leads)"
            )
        self._header = Header.parse(first.line, values)
        return self._header

    def records(self) -> Iterator[Record]:
        """Every data record after the header, in file order."""
        self.header()
        while True:
            record = self._next()
            if record is None:
                return
            yield record
