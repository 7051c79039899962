"""The files a command reads: checked up front, read in order, with a progress bar on a terminal."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO, TextIO

from wflogging.reader import EventLine, TornLine, open_source, read_events

__all__ = ["InputError", "Progress", "check_inputs", "read_inputs"]

_SNIFF_BYTES = 4096


class InputError(Exception):
    """An input cannot be read as events; the message is the one line shown to the user."""


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
        self._stream.write("\r" + text[:100].ljust(100))
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


def read_inputs(paths: Sequence[str], progress: Progress | None = None) -> Iterator[EventLine | TornLine]:
    """Every line of every path in turn (``-`` is standard input).

    Raises :class:`InputError` for standard input that is empty or not JSON Lines.
    """
    for path in paths:
        if path == "-":
            yield from _read_stdin()
        elif progress is not None and progress.enabled:
            yield from _read_with_progress(path, progress)
        else:
            yield from read_events(path)
    if progress is not None:
        progress.finish()


def _read_stdin() -> Iterator[EventLine | TornLine]:
    with open_source("-") as stream:
        _sniff(stream, "standard input")
        yield from read_events(stream, name="-")


def _read_with_progress(path: str, progress: Progress) -> Iterator[EventLine | TornLine]:
    with open(path, "rb", buffering=0) as raw:
        total = os.fstat(raw.fileno()).st_size
        for count, item in enumerate(read_events(raw, name=path), start=1):
            if count % 1024 == 0:
                progress.update(path, raw.tell(), total)
            yield item
