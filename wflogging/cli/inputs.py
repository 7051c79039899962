"""The files a command reads: checked up front, read in order, with a progress bar on a terminal."""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import os
import stat
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import IO, NamedTuple, TextIO, cast

from wflogging.lines import (
    CUT_SHORT,
    DEFAULT_MAX_LINE_BYTES,
    Oversized,
    blank_lines_at,
    bounded_lines,
    oversized_reason,
)
from wflogging.reader import EventLine, TornLine, open_source, read_events
from wflogging.terminal import visible

__all__ = [
    "DECODE_ERRORS",
    "InputError",
    "LineBatch",
    "NotAnObject",
    "Progress",
    "check_inputs",
    "expand_inputs",
    "read_inputs",
    "read_line_batches",
    "torn_line",
]

_SNIFF_BYTES = 4096


class InputError(Exception):
    """An input cannot be read as events; the message is the one line shown to the user."""


def expand_inputs(paths: Sequence[str]) -> list[str]:
    """``paths`` with each quoted glob (``'logs/**/events*.jsonl*'``) expanded, in sorted order.

    A shell expands an unquoted glob itself; a quoted one spares a command line too
    long for thousands of files. A path that exists is taken as it is, even if its
    name holds a ``*``. A glob takes files only: ``events.jsonl*`` also matches the
    open-task journal's directory ``events.jsonl.open/``, which is not an events file.
    A glob that matches no file is an error.
    """
    expanded: list[str] = []
    for path in paths:
        if path == "-" or not _GLOB_MAGIC.intersection(path) or os.path.lexists(path):
            expanded.append(path)
            continue
        matches = sorted(match for match in glob.glob(path, recursive=True) if not os.path.isdir(match))
        if not matches:
            raise InputError(f"{path}: no file matches")
        expanded += matches
    return expanded


_GLOB_MAGIC = frozenset("*?[")


def check_inputs(paths: Sequence[str]) -> None:
    """Raise :class:`InputError` for the first path that is missing, a directory, empty or not JSON Lines.

    Standard input (``-``) is checked as it is read.
    """
    if paths.count("-") > 1:
        raise InputError("standard input (-) can be read only once")
    for path in paths:
        if path != "-":
            _check_file(path)


def _check_file(path: str) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a directory (name the event files inside it, e.g. {path}/*.jsonl)")
    try:
        with open_source(path) as stream:
            _sniff(stream, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except EOFError:
        raise InputError(f"{path}: compressed data ends early (a truncated .gz file)") from None


def _sniff(stream: IO[bytes], name: str) -> None:
    """Refuse data that is clearly not JSON Lines, looking only at its first bytes."""
    peek = getattr(stream, "peek", None)
    head: bytes = peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if peek is not None else stream.read(_SNIFF_BYTES)
    start = head.lstrip()
    if not start:
        if len(head) < _SNIFF_BYTES and not stream.read(1):
            raise InputError(f"{name}: is empty (no events)")
        return  # a long run of blank lines: let the reader decide
    if b"\0" in head:
        raise InputError(f"{name}: is a binary file, not JSON Lines")
    if start[:1] == b"[":
        raise InputError(f"{name}: holds a JSON array; event files are JSON Lines (one object per line)")
    if start[:1] != b"{":
        first = start.split(b"\n", 1)[0][:60].decode("utf-8", "replace")
        raise InputError(f"{name}: is not JSON Lines (first line starts {first!r})")


class Progress:
    """A one-line progress bar on standard error, only when it is a terminal; silent otherwise."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.2) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = self._stream.isatty()
        self._interval = interval
        self._next = 0.0
        self._shown = False

    def update(self, name: str, done: int, total: int | None) -> None:
        """Show ``done`` of ``total`` bytes of ``name`` (at most every ``interval`` seconds)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._interval
        if total:
            share = min(done / total, 1.0)
            bar = "#" * int(share * 30)
            text = f"reading {name} [{bar:<30}] {share:4.0%} of {_megabytes(total)}"
        else:
            text = f"reading {name} {_megabytes(done)}"
        self._stream.write("\r" + visible(text)[:100].ljust(100))
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        """Clear the bar so the command's output starts on a clean line."""
        if self._shown:
            self._stream.write("\r" + " " * 100 + "\r")
            self._stream.flush()
            self._shown = False


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def read_inputs(
    paths: Sequence[str], progress: Progress | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[EventLine | TornLine]:
    """Every line of every path in turn (``-`` is standard input); lines past ``max_line_bytes`` are torn.

    Raises :class:`InputError` for standard input that is empty or not JSON Lines.
    """
    for path in paths:
        if path == "-":
            yield from _read_stdin(max_line_bytes)
        elif progress is not None and progress.enabled:
            yield from _read_with_progress(path, progress, max_line_bytes)
        else:
            yield from read_events(path, max_line_bytes=max_line_bytes)
    if progress is not None:
        progress.finish()


def _read_stdin(max_line_bytes: int) -> Iterator[EventLine | TornLine]:
    with open_source("-") as stream:
        _sniff(stream, "standard input")
        yield from read_events(stream, name="-", max_line_bytes=max_line_bytes)


def _read_with_progress(path: str, progress: Progress, max_line_bytes: int) -> Iterator[EventLine | TornLine]:
    with open(path, "rb", buffering=0) as raw:
        total = os.fstat(raw.fileno()).st_size
        for count, item in enumerate(read_events(raw, name=path, max_line_bytes=max_line_bytes), start=1):
            if count % 1024 == 0:
                progress.update(path, raw.tell(), total)
            yield item


# --- lines in batches, for a caller that parses them itself ------------------------------------
# ``wflogging report`` needs only some fields of each entry, so it parses lines itself (see
# wflogging.cli.report) instead of taking read_events' whole parsed dicts, and it takes them in batches:
# one Python call per megabyte instead of one per line. The torn-line rules and reasons below are those
# of wflogging.reader, so validate and report agree on what is torn.

_GZIP_MAGIC = b"\x1f\x8b"
_NO_NEWLINE = "no final newline (a write cut short or in progress)"
_CUT_SHORT = "compressed data ends early (a truncated .gz file)"
_CUT_SHORT_ERRORS: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, zlib.error)

#: The exceptions a line decoder raises for a line it cannot read (see :func:`torn_line`).
DECODE_ERRORS: tuple[type[Exception], ...] = (ValueError, UnicodeDecodeError, RecursionError)

#: Event lines are often several kilobytes: reading them through the default 8 KB buffer costs about
#: as much as parsing them (benchmarks/report_scale.py reads its parse-only floor the same way).
READ_BUFFER_BYTES = 1 << 20

#: About this many bytes of lines make one batch (a few hundred events of the usual size).
BATCH_BYTES = 1 << 20


class NotAnObject(ValueError):
    """Raised by a line decoder for a line that is valid JSON but not an object (the message says what)."""


#: A line of a :class:`LineBatch`: bytes, or a view of the reader's buffer.
Line = bytes | memoryview


class LineBatch(NamedTuple):
    """Consecutive lines of one source, each with its final newline (blank lines included).

    The lines of a plain file are views of the reader's buffer, which the reader
    fills again for the next batch: use a batch's lines before asking for the next
    batch, and copy (``bytes(line)``) what must outlive it.
    """

    source: str
    #: The line number of ``lines[0]`` (the first line of a source is 1).
    first_line: int
    #: The byte offset of ``lines[0]`` in the (decompressed) source.
    offset: int
    lines: Sequence[Line]
    #: Every line is known to be valid UTF-8 (the batch was checked at once); else each line must be.
    utf8: bool = False


def read_line_batches(
    paths: Sequence[str], progress: Progress | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[LineBatch | TornLine]:
    """Every line of every path in turn (``-`` is standard input), in :class:`LineBatch` es.

    A last line without a final newline is not in a batch: it is yielded as a
    :class:`TornLine` (unless blank), as is the end of a truncated gzip file,
    where :func:`wflogging.read_events` would report them. A caller that cannot
    read a line of a batch reports it with :func:`torn_line`. Raises
    :class:`InputError` for standard input that is empty or not JSON Lines. A line longer
    than ``max_line_bytes`` is never held: it is a :class:`TornLine`. Runs of blank lines
    are passed over in C and never make a line of a batch.
    """
    for path in paths:
        if path == "-":
            with open_source("-") as stream:
                _sniff(stream, "standard input")
                yield from _batches(stream, "-", None, max_line_bytes)
            continue
        with open(path, "rb", buffering=0) as raw:
            tick = None
            if progress is not None and progress.enabled:
                total = os.fstat(raw.fileno()).st_size

                def tick(raw: io.FileIO = raw, path: str = path, total: int = total) -> None:
                    progress.update(path, raw.tell(), total)

            if _is_plain_file(raw):
                yield from _file_batches(raw, path, tick, max_line_bytes)
            else:
                with _buffered_source(raw) as stream:
                    yield from _batches(stream, path, tick, max_line_bytes)
    if progress is not None:
        progress.finish()


def torn_line(batch: LineBatch, index: int, exc: Exception) -> TornLine | None:
    """``batch.lines[index]`` as a torn line, for the exception its decoder raised; ``None`` if it is blank.

    ``exc`` is one of :data:`DECODE_ERRORS` (:class:`NotAnObject` for JSON that is
    not an object); the reason is worded as :func:`wflogging.read_events` words it.
    """
    line = bytes(batch.lines[index])
    if not line.strip():
        return None
    offset = batch.offset + sum(map(len, batch.lines[:index]))
    body = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    return TornLine(batch.source, batch.first_line + index, offset, len(body), _decode_reason(exc), body[:80])


def _is_plain_file(raw: io.FileIO) -> bool:
    """Whether ``raw`` is a regular file that is not gzip (so :func:`_file_batches` can read it)."""
    if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
        return False  # a pipe or a device: read through a buffer, which can peek without seeking
    head = raw.read(2)
    raw.seek(0)
    return head != _GZIP_MAGIC


def _file_batches(
    raw: io.FileIO, name: str, tick: Callable[[], None] | None, max_line_bytes: int
) -> Iterator[LineBatch | TornLine]:
    """The lines of a plain file, a megabyte at a time, as views of one buffer that is read into again.

    Reading into the same buffer, and handing out views of it instead of a bytes
    object per line, spares copying every byte once more and the allocator's
    churn of a fresh object per line: about a quarter of the time it takes to
    read the lines the usual way (``benchmarks/report_scale.py``). The buffer grows
    for a long line up to ``max_line_bytes``; a longer line is read past, never held.
    """
    buffer = bytearray(BATCH_BYTES)
    held = 0  # bytes of a line not yet finished, at the start of the buffer
    unscanned = False  # whether the held bytes may hold whole lines (what followed a skipped line)
    line_number = 1
    offset = 0
    while True:
        if held == len(buffer):  # one line fills the buffer
            if held > max_line_bytes:  # too long to hold: report it, keep what follows it
                length, consumed, head, held = _skip_long_line(raw, buffer, held)
                reason = oversized_reason(length, max_line_bytes)
                yield TornLine(name, line_number, offset, length, reason, head)
                line_number, offset = line_number + 1, offset + consumed
                unscanned = held > 0
                continue
            larger = bytearray(min(2 * len(buffer), max_line_bytes + 1))  # (older views keep the old one)
            larger[:held] = buffer
            buffer = larger
        with memoryview(buffer) as whole, whole[held:] as free:
            got = raw.readinto(free)
        if not got and not unscanned:
            break
        end = held + got
        cut = buffer.rfind(b"\n", 0 if unscanned else held, end) + 1
        unscanned = False
        if cut:
            view = memoryview(buffer)
            utf8 = _all_utf8(buffer, view, cut)
            counted = [0]
            for lines_before, bytes_before, lines in _segments(buffer, view, cut, max_line_bytes, counted):
                if isinstance(lines, Oversized):
                    reason = oversized_reason(lines.length, max_line_bytes)
                    yield TornLine(
                        name,
                        line_number + lines_before,
                        offset + bytes_before,
                        lines.length,
                        reason,
                        lines.head,
                    )
                else:
                    yield LineBatch(name, line_number + lines_before, offset + bytes_before, lines, utf8)
                del lines  # (only the caller's views of this batch are left)
            del view
            line_number += counted[0]
            offset += cut
            held = end - cut
            buffer[:held] = buffer[cut:end]  # the same length: no resize, so the caller's views may remain
        else:
            held = end
        if tick is not None:
            tick()
    if held:  # no final newline: only ever the last line of a source
        unfinished = bytes(buffer[:held])
        if unfinished.strip():
            yield TornLine(name, line_number, offset, held, _NO_NEWLINE, unfinished[:80])


def _segments(
    buffer: bytearray, view: memoryview, cut: int, max_line_bytes: int, counted: list[int]
) -> Iterator[tuple[int, int, list[Line] | Oversized]]:
    """Runs of consecutive lines in ``buffer[:cut]``: (lines before, bytes before, views).

    The usual buffer is one run, split by a loop kept lean (it runs once per line of
    every report). Three things end a run: a run of blank lines, passed over in C;
    a line past ``max_line_bytes``, which comes as :class:`Oversized` in place of the
    views; and the run's :data:`_MAX_BATCH_LINES`-th line, so that the views of a
    buffer of tiny lines stay few. ``counted[0]`` is set to the lines of ``buffer[:cut]``.
    """
    lines: list[Line] = []
    append = lines.append
    find = buffer.find
    start = first = line = first_line = 0
    while start < cut:
        end = find(b"\n", start, cut) + 1
        size = end - start
        if size == 1 or size > max_line_bytes or len(lines) == _MAX_BATCH_LINES:  # rare
            if lines:
                yield first_line, first, lines
                lines = []
                append = lines.append
            if size == 1:  # a blank line: pass over the run of them
                skipped, blank = blank_lines_at(buffer, start, cut)
                start, line = start + skipped, line + blank
                first, first_line = start, line
                continue
            first, first_line = start, line
            if size > max_line_bytes:
                yield line, start, Oversized(size - 1, bytes(buffer[start : start + 80]))
                start, line = end, line + 1
                first, first_line = start, line
                continue
        append(view[start:end])
        start = end
        line += 1
    if lines:
        yield first_line, first, lines
    counted[0] = line


#: At most this many lines make one batch, so that the views of a buffer of tiny lines stay few.
_MAX_BATCH_LINES = 8192


def _skip_long_line(raw: io.FileIO, buffer: bytearray, held: int) -> tuple[int, int, bytes, int]:
    """Read past the line that fills ``buffer``: its length, bytes consumed, first bytes, bytes now held."""
    head = bytes(buffer[:80])
    consumed = held
    while True:
        with memoryview(buffer) as whole:
            got = raw.readinto(whole)
        if not got:  # the end of the file, without a newline
            return consumed, consumed, head, 0
        newline = buffer.find(b"\n", 0, got)
        if newline < 0:
            consumed += got
            continue
        rest = got - newline - 1
        buffer[:rest] = buffer[newline + 1 : got]
        return consumed + newline, consumed + newline + 1, head, rest


def _all_utf8(buffer: bytearray, view: memoryview, cut: int) -> bool:
    """Whether ``buffer[:cut]`` is valid UTF-8, known at once for the usual all-ASCII buffer.

    The whole buffer is checked for ASCII first (a superset of the lines, so a yes
    holds for them); else the lines are decoded together, which is valid exactly
    when each line is, since the newlines between them are ASCII.
    """
    if buffer.isascii():
        return True
    try:
        str(view[:cut], "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _batches(
    stream: IO[bytes], name: str, tick: Callable[[], None] | None, max_line_bytes: int
) -> Iterator[LineBatch | TornLine]:
    # A gzip stream or standard input: whole lines (bytes) from bounded_lines, a megabyte of the
    # stream at a time; consecutive lines make a batch, which a skipped blank run or a torn line ends.
    lines: list[bytes] = []
    first_line = first_offset = size = 0
    for line_number, offset, line in bounded_lines(stream, max_line_bytes):
        if lines and (line_number != first_line + len(lines) or size >= BATCH_BYTES or not _whole(line)):
            yield LineBatch(name, first_line, first_offset, lines, all(map(bytes.isascii, lines)))
            lines, size = [], 0
            if tick is not None:
                tick()
        if isinstance(line, Oversized):
            reason = oversized_reason(line.length, max_line_bytes)
            yield TornLine(name, line_number, offset, line.length, reason, line.head)
        elif line == CUT_SHORT:
            yield TornLine(name, line_number, offset, 0, _CUT_SHORT, b"")
        elif not line.endswith(b"\n"):  # only ever the last line of a source
            if line.strip():
                yield TornLine(name, line_number, offset, len(line), _NO_NEWLINE, line[:80])
        else:
            if not lines:
                first_line, first_offset = line_number, offset
            lines.append(line)
            size += len(line)
    if lines:
        yield LineBatch(name, first_line, first_offset, lines, all(map(bytes.isascii, lines)))


def _whole(line: bytes | Oversized) -> bool:
    return not isinstance(line, Oversized) and line.endswith(b"\n")


@contextlib.contextmanager
def _buffered_source(raw: IO[bytes]) -> Iterator[IO[bytes]]:
    """``raw`` (an unbuffered file, left open) through a large buffer, decompressed if it is gzip."""
    with io.BufferedReader(cast(io.RawIOBase, raw), READ_BUFFER_BYTES) as stream:
        if stream.peek(2)[:2] != _GZIP_MAGIC:
            yield stream
            return
        with open_source(stream) as decompressed:  # (leaves stream to the outer with)
            yield decompressed


def _decode_reason(exc: Exception) -> str:
    if isinstance(exc, NotAnObject):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError) or "utf-8" in str(exc).lower():
        return "not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read"
    return f"not valid JSON ({str(exc).splitlines()[0][:120]})"
