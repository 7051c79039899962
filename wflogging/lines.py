"""Lines of a stream with memory bounded by a line-length limit, not by the input.

:func:`bounded_lines` reads a megabyte at a time (for gzip, a megabyte of decompressed
data: ``GzipFile.read(n)`` never inflates more than asked), so:

* a line longer than ``max_line_bytes`` is never held: its first bytes are kept for the
  report, the rest is read past, and it comes out as :class:`Oversized`;
* runs of blank lines are skipped by C-level searches (``re.search``, ``bytes.count``),
  never one Python step per line, so a file of blank lines costs its reading time only
  (a 510 KB gzip expanding to 520 MB of newlines: a few seconds, constant memory);
* deflate itself bounds a gzip member's expansion at about 1,032:1, and no more than one
  chunk of it is in memory at a time.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from typing import IO, NamedTuple

__all__ = [
    "CUT_SHORT",
    "DEFAULT_MAX_LINE_BYTES",
    "Oversized",
    "blank_lines_at",
    "bounded_lines",
    "oversized_reason",
]

#: The line-length limit readers apply unless told otherwise: 64 MiB (the shippers' settings
#: suggested in docs/guarantees.md). An event with a longer line is counted and skipped.
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024

_CHUNK_BYTES = 1 << 20
_CONTENT = re.compile(rb"[^\s]")
_HEAD_BYTES = 80
_CUT_SHORT_ERRORS: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, zlib.error)


def oversized_reason(length: int, limit: int) -> str:
    """The reason every reader gives for a line past the length limit."""
    return f"longer than the line limit ({length:,} bytes, limit {limit:,}): skipped unread"


class Oversized(NamedTuple):
    """A line longer than the limit: its length (without the newline) and its first bytes."""

    length: int
    head: bytes


#: Yielded as the line of the last item when compressed data ends early (a truncated .gz file).
CUT_SHORT = b""


def bounded_lines(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, int, bytes | Oversized]]:
    """``(line_number, offset, line)`` for every line of ``stream`` that is not blank.

    ``line`` keeps its newline (absent only on the last line, when the stream does not end
    with one), or is :class:`Oversized`, or :data:`CUT_SHORT` (then last) when a gzip
    stream breaks off. Line numbers count from 1 and offsets from 0 over all lines, blank
    ones included.
    """
    pending = bytearray()  # the start of a line that goes on in the next chunk
    length = 0  # bytes of the current line so far, including those skipped when oversized
    head = b""  # first bytes of an oversized line (set: the line is being skipped)
    line_number, offset = 1, 0
    while True:
        try:
            chunk = stream.read(_CHUNK_BYTES)
        except _CUT_SHORT_ERRORS:
            chunk = None
        if not chunk:
            if length:
                yield line_number, offset, Oversized(length, head) if head else bytes(pending)
                line_number, offset = line_number + 1, offset + length
            if chunk is None:
                yield line_number, offset, CUT_SHORT
            return
        position, size = 0, len(chunk)
        while position < size:
            if not length:  # at the start of a line: pass over blank lines in C
                skipped, blank = blank_lines_at(chunk, position)
                line_number, offset, position = line_number + blank, offset + skipped, position + skipped
                if position == size:
                    break
            end = chunk.find(b"\n", position)
            stop = size if end < 0 else end + 1
            if not length and end >= 0 and stop - position <= max_line_bytes:
                yield line_number, offset, chunk[position:stop]  # the usual line: whole in this chunk
                line_number, offset, position = line_number + 1, offset + stop - position, stop
                continue
            if not head and length + stop - position > max_line_bytes:
                head = bytes(pending[:_HEAD_BYTES]) + chunk[position : position + _HEAD_BYTES - len(pending)]
                pending.clear()
            elif not head:
                pending += chunk[position:stop]
            length += stop - position
            position = stop
            if end >= 0:
                yield line_number, offset, Oversized(length - 1, head) if head else bytes(pending)
                line_number, offset = line_number + 1, offset + length
                pending.clear()
                length, head = 0, b""


def blank_lines_at(data: bytes | bytearray, position: int, end: int | None = None) -> tuple[int, int]:
    """How many bytes, and lines, of whole blank lines start ``data[position:end]``."""
    end = len(data) if end is None else end
    found = _CONTENT.search(data, position, end)
    last_newline = data.rfind(b"\n", position, end if found is None else found.start())
    if last_newline < 0:
        return 0, 0
    return last_newline + 1 - position, data.count(b"\n", position, last_newline + 1)
