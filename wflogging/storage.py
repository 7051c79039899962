"""Appending whole lines to a file that other threads and processes append to too.

Each line goes to the kernel in a single ``write(2)`` on a descriptor opened with
``O_APPEND``: the kernel moves to the end of the file and writes in one step, so
lines from several handlers, threads or processes on one local file never
interleave (a local-filesystem property, not one NFS offers). A line is
``\\n``-terminated and reaches the OS before :meth:`AppendOnlyFile.write_line`
returns. If a write fails part-way (a full disk, a killed writer), the next
line written by anyone through this class starts on a fresh line, so an event is
never glued onto a torn fragment.
"""

from __future__ import annotations

import os
import threading
import weakref

__all__ = ["AppendOnlyFile"]

_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_open_files: weakref.WeakSet[AppendOnlyFile] = weakref.WeakSet()


class AppendOnlyFile:
    """A lazily opened, append-only file of ``\\n``-terminated lines."""

    def __init__(self, path: str | os.PathLike[str], *, file_mode: int = 0o600) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.file_mode = file_mode
        self._fd: int | None = None
        self._check_tail = True  # until we know the file ends with "\n"
        self._lock = threading.Lock()
        _open_files.add(self)

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self) -> None:
        """Open (creating the file with ``file_mode`` if needed); a no-op when open."""
        with self._lock:
            self._ensure_open()

    def write_line(self, line: bytes) -> None:
        """Append ``line`` (which must end with ``\\n``) in one write; raises ``OSError``."""
        with self._lock:
            fd = self._ensure_open()
            if self._check_tail:
                line = self._resync(fd) + line
            try:
                written = os.write(fd, line)
                while written < len(line):  # short write: the rest, still as the tail
                    written += os.write(fd, memoryview(line)[written:])
            except BaseException:
                self._check_tail = True
                raise

    def close(self) -> None:
        """Close the descriptor; a later :meth:`write_line` opens the file again."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)

    def _ensure_open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, _OPEN_FLAGS, self.file_mode)
            self._check_tail = True
        return self._fd

    def _resync(self, fd: int) -> bytes:
        """``b"\\n"`` when the file ends in a torn line (no final newline), else ``b""``."""
        size = os.fstat(fd).st_size
        self._check_tail = False
        if size and os.pread(fd, 1, size - 1) != b"\n":
            return b"\n"
        return b""

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would never be released in the child.
        self._lock = threading.Lock()


def _reinit_after_fork() -> None:
    for open_file in list(_open_files):
        open_file._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
