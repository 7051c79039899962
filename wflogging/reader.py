"""Reading event files back: every whole entry, and a report (never an exception) for torn lines.

:func:`read_events` streams one source — a ``.jsonl`` file, a rotated or gzipped
one (``.gz`` is recognised by its content, not its name), standard input
(``"-"``) or an open binary file — and yields, in file order:

* an :class:`EventLine` for every line that is a whole JSON object, with the
  parsed entry, its 1-based line number, byte offset and the exact bytes;
* a :class:`TornLine` for every other non-blank line: a line with no final
  newline (a write cut short, or one still in progress), a line that is not
  valid UTF-8 JSON, or JSON that is not an object. It carries the byte offset
  and length, so the bytes can be found and inspected.

Blank lines are skipped. Memory stays flat: one line is held at a time. The
reader does not check entries against the schema (that is the job of
``wflogging validate``); :meth:`EventLine.problems` does, line by line, with the
same rules the library writes by::

    import wflogging

    for item in wflogging.read_events("events.jsonl"):
        if isinstance(item, wflogging.TornLine):
            print(f"line {item.line_number} at byte {item.offset}: {item.reason}")
        else:
            print(item.entry["task_id"], item.entry["status"])
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, cast

import attrs
import msgspec

from wflogging.lines import CUT_SHORT, DEFAULT_MAX_LINE_BYTES, Oversized, bounded_lines, oversized_reason
from wflogging.model import TaskEvent
from wflogging.schema import FIELD_ORDER, FieldError, Problem

__all__ = [
    "GZIP_RATIO_LIMIT",
    "EventLine",
    "GzipExpansionError",
    "TornLine",
    "entry_problems",
    "open_source",
    "parse_line",
    "read_events",
]

#: What :func:`read_events` reads: a path, ``"-"`` for standard input, or an open binary file.
Source = str | os.PathLike[str] | IO[bytes]

_GZIP_MAGIC = b"\x1f\x8b"


#: Parses one line of JSON (bytes). msgspec, as the report's reader (``wflogging report``), so that the
#: two agree on every line: orjson would turn integers past 64 bits into floats (which then pass the
#: integer range check) and stops at 1,024 levels of nesting, where msgspec follows the interpreter's
#: recursion limit (several thousand levels from Python 3.12; before 3.12 the limit counts the
#: caller's frames too, so there the two can still differ for a line within a few levels of it).
parse_line: Callable[[bytes], Any] = msgspec.json.Decoder().decode
_PARSE_ERRORS: tuple[type[Exception], ...] = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


@attrs.frozen(slots=True)
class EventLine:
    """A line that is a whole JSON object (not yet checked against the schema)."""

    #: The parsed entry.
    entry: dict[str, Any]
    #: Where it came from: the path as given, or ``"-"`` (``"<stream>"`` for a file object).
    source: str
    #: 1-based line number (blank lines count).
    line_number: int
    #: Byte offset of the line's first byte (in the decompressed data for a ``.gz`` file).
    offset: int
    #: The line's bytes exactly as stored, without the final newline.
    raw: bytes = attrs.field(repr=False)

    def problems(self) -> list[Problem]:
        """Why this entry breaks the schema (empty when it is valid); see :func:`entry_problems`."""
        return entry_problems(self.entry)


@attrs.frozen(slots=True)
class TornLine:
    """A non-blank line that is not a whole JSON object; reported, never raised."""

    source: str
    line_number: int
    #: Byte offset of the line's first byte (in the decompressed data for a ``.gz`` file).
    offset: int
    #: Length in bytes, without the final newline.
    length: int
    #: Why the line cannot be read, in words.
    reason: str
    #: The start of the line (at most 80 bytes), to help find it.
    head: bytes = attrs.field(repr=False)


def read_events(
    source: Source, *, name: str | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[EventLine | TornLine]:
    """Every non-blank line of ``source`` as an :class:`EventLine` or a :class:`TornLine`, in order.

    ``source`` is a path (plain or gzip-compressed, recognised by content),
    ``"-"`` for standard input, or a binary file object (left open). Raises
    ``OSError`` only for a source that cannot be opened or read; unreadable
    lines are yielded as :class:`TornLine`, never raised. ``name`` sets the
    items' ``source`` (by default the path as given, or the file object's name).
    A line longer than ``max_line_bytes`` (64 MiB by default) is never held in
    memory: it is a :class:`TornLine` too. Blank lines cost no more than reading them.
    """
    name = _source_name(source) if name is None else name
    with open_source(source) as stream:
        yield from _read_lines(stream, name, max_line_bytes)


def open_source(source: Source) -> IO[bytes]:
    """``source`` as a binary stream of the (decompressed) lines.

    Gzip data is recognised by its magic bytes, so rotated files keep working
    whatever they are named. The caller closes the result; closing it does not
    close standard input or a file object passed in.
    """
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "-":
            return _maybe_gunzip(_KeepOpen(sys.stdin.buffer))
        return _maybe_gunzip(open(source, "rb"))
    return _maybe_gunzip(_KeepOpen(source))


def _source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


class _KeepOpen(io.BufferedReader):
    """A buffered view of a stream we do not own: closing it leaves the stream open."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(stream)  # type: ignore[arg-type]
        self._attached = True

    def close(self) -> None:
        if self._attached:
            self._attached = False
            self.detach()


def _maybe_gunzip(stream: IO[bytes]) -> IO[bytes]:
    peek = getattr(stream, "peek", None)
    head: bytes = peek(2)[:2] if peek is not None else b""
    if head == _GZIP_MAGIC:
        return cast(IO[bytes], _GzipOwning(stream))
    return stream


#: A gzip source may expand to at most this many times the compressed bytes read so far
#: (plus :data:`GZIP_FREE_BYTES`): event logs compress about 5-25:1, a file of exact duplicate
#: lines about 85:1, while deflate allows some 1,032:1 (a "decompression bomb" of blank lines).
#: Past it, reading stops with :class:`GzipExpansionError`: memory and time stay bounded by the
#: compressed size. The CLI's ``--max-gzip-ratio`` sets it.
GZIP_RATIO_LIMIT = 256
#: Decompressed bytes always allowed, whatever the ratio (small files compress unevenly).
GZIP_FREE_BYTES = 64 << 20


class GzipExpansionError(OSError):
    """A gzip source expands past :data:`GZIP_RATIO_LIMIT`: reading it stops there."""


class _Counted:
    """The compressed stream under a ``GzipFile``, counting the bytes it hands over."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.read_bytes = 0
        self.name = getattr(stream, "name", "")

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.read_bytes += len(data)
        return data


class _GzipOwning(gzip.GzipFile):
    """A ``GzipFile`` that also closes the stream it decompresses, and bounds its expansion."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._counted = _Counted(stream)
        super().__init__(fileobj=cast(IO[bytes], self._counted), mode="rb")
        self._owned = stream
        self._given = 0
        self._ratio = GZIP_RATIO_LIMIT

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._given += len(data)
        if self._given > GZIP_FREE_BYTES and self._given > self._ratio * self._counted.read_bytes:
            name = getattr(self._owned, "name", "")
            raise GzipExpansionError(
                errno.EFBIG,
                f"gzip data expands more than {self._ratio}:1 ({self._given:,} bytes from "
                f"{self._counted.read_bytes:,}; a decompression bomb?): stopped reading "
                "(--max-gzip-ratio allows more)",
                str(name) if isinstance(name, str) and name else None,
            )
        return data

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._owned.close()


def _read_lines(stream: IO[bytes], name: str, max_line_bytes: int) -> Iterator[EventLine | TornLine]:
    loads = parse_line
    for line_number, start, line in bounded_lines(stream, max_line_bytes):
        if isinstance(line, Oversized):
            yield TornLine(
                name,
                line_number,
                start,
                line.length,
                oversized_reason(line.length, max_line_bytes),
                line.head,
            )
            continue
        if line == CUT_SHORT:
            yield _torn(name, line_number, start, b"", "compressed data ends early (a truncated .gz file)")
            return
        if line.endswith(b"\n"):
            body = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        else:
            body = line
            if body.strip():
                yield _torn(
                    name, line_number, start, body, "no final newline (a write cut short or in progress)"
                )
            continue
        try:
            entry = loads(body)
        except _PARSE_ERRORS as exc:
            if body.strip():
                yield _torn(name, line_number, start, body, _parse_reason(exc, body))
            continue
        if type(entry) is dict:
            yield EventLine(entry, name, line_number, start, body)
        else:
            yield _torn(name, line_number, start, body, f"JSON {type(entry).__name__}, not an object")


def _is_utf8(body: bytes) -> bool:
    # (msgspec names the first error it meets: a stray byte outside a string is "malformed JSON")
    try:
        str(body, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _torn(name: str, line_number: int, offset: int, body: bytes, reason: str) -> TornLine:
    return TornLine(name, line_number, offset, len(body), reason, body[:80])


def _parse_reason(exc: Exception, body: bytes) -> str:
    if isinstance(exc, UnicodeDecodeError) or "utf-8" in str(exc).lower() or not _is_utf8(body):
        return "not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read"
    return f"not valid JSON ({str(exc).splitlines()[0][:120]})"


# --- schema checks -----------------------------------------------------------------------

_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    name: field.converter  # type: ignore[misc]
    for name, field in attrs.fields_dict(TaskEvent).items()
    if field.converter is not None
}


def entry_problems(entry: Mapping[str, Any]) -> list[Problem]:
    """Every reason ``entry`` is not a valid stored log entry; empty when it is valid.

    Uses the library's own rules (:class:`wflogging.TaskEvent` and its field
    converters): each field is checked on its own so that one line reports all
    its bad fields, then the whole entry is read with ``TaskEvent.from_dict``
    for the rules that span fields (required keys, end after start, call
    numbering).
    """
    problems: list[Problem] = [
        Problem(str(key), "unknown field (not in the schema)") for key in entry if key not in _CONVERTERS
    ]
    problems += [Problem(name, "missing (required)") for name in FIELD_ORDER if name not in entry]
    for name, value in entry.items():
        convert = _CONVERTERS.get(name)
        if convert is None:
            continue
        try:
            convert(value)
        except (TypeError, ValueError) as exc:
            problems.append(_as_problem(exc, name))
    if not problems:
        try:
            TaskEvent.from_dict(entry)
        except (TypeError, ValueError) as exc:
            problems.append(_as_problem(exc, "event"))
    return problems


def _as_problem(exc: Exception, path: str) -> Problem:
    if isinstance(exc, FieldError):
        return exc.as_problem
    return Problem(path, str(exc))
