"""Opening files in a directory others may write to, and the errors of writing them.

The lowest layer of the file sinks: :mod:`wflogging.rotation` and :mod:`wflogging.storage`
both build on it, and it imports neither.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

__all__ = [
    "NOFOLLOW",
    "CompressFailed",
    "FsyncFailed",
    "SymlinkRefused",
    "WrittenWithError",
    "open_no_follow",
]

#: ``os.open`` flag that makes opening a symbolic link fail (``ELOOP``); 0 where unknown.
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SymlinkRefused(OSError):
    """The path is a symbolic link that this file may not follow."""


class WrittenWithError(OSError):
    """The line was written, but something due after it failed (so it is not a lost event)."""


class CompressFailed(WrittenWithError):
    """Gzipping a rotated file failed; the rotated file stays, uncompressed."""


class FsyncFailed(WrittenWithError):
    """``fsync`` failed: the lines written since the last good ``fsync`` may not be on disk.

    Linux reports a write-back error once and may drop the dirty pages, so a
    second ``fsync`` can succeed while the data is gone. The lines are therefore
    counted as not durable and never "retried" into a false success: the next
    ``fsync`` covers only lines written after this one.
    """

    def __init__(self, cause: OSError, lines: int) -> None:
        super().__init__(cause.errno, f"fsync failed ({cause.strerror}); {lines} line(s) may not be on disk")
        #: How many lines' durability is unknown.
        self.lines = lines


def open_no_follow(path: str, flags: int, mode: int, *, follow: bool = False) -> int:
    """``os.open``, refusing a symbolic link at ``path`` (with ``follow``: one owned by another user)."""
    if not follow:
        try:
            return os.open(path, flags | NOFOLLOW, mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP and os.path.islink(path):
                raise SymlinkRefused(
                    errno.ELOOP, "refusing to follow a symbolic link (follow_symlinks=True allows one)", path
                ) from exc
            raise
    _refuse_a_strangers_link(path)  # before O_CREAT could create the link's target
    fd = os.open(path, flags, mode)
    try:
        _refuse_a_strangers_link(path)
        opened, there = os.fstat(fd), os.stat(path)
        if (opened.st_dev, opened.st_ino) != (there.st_dev, there.st_ino):  # swapped while opening
            raise SymlinkRefused(errno.EAGAIN, "the path changed while it was being opened", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_a_strangers_link(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        link = os.lstat(path)
        if stat.S_ISLNK(link.st_mode) and link.st_uid not in (os.geteuid(), 0):
            raise SymlinkRefused(
                errno.EPERM, "refusing to follow a symbolic link owned by another user", path
            )
