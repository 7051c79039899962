"""Appending whole lines to a file that other threads and processes append to too.

**Mechanism.** Each line goes to the kernel in a single ``write(2)`` on a
descriptor opened with ``O_APPEND``: the kernel moves to the end of the file and
writes in one step, under the inode's lock, so lines from several handlers,
threads or processes on one local file never interleave, whatever their size
(a local-filesystem property that Linux keeps for regular files; NFS does not).

A line is ``\\n``-terminated and reaches the OS before :meth:`AppendOnlyFile.write_line`
returns. **A writer killed mid-line** (or a write cut short by a full disk) leaves
a fragment without its newline; the next line written by anyone through this
class starts on a fresh line, so an event is never glued onto it. Each write
holds an exclusive ``flock`` on the file while it reads the file's last byte
(``lseek`` and a one-byte ``pread``) and writes, with a leading ``\\n`` when that
byte is not one. The lock is what makes the check exact: no other writer of this
class can be half-way through a line (which would look like a fragment, and cost
a blank line) nor be killed between the check and the write (which would glue
this line onto its fragment). A killed writer's lock goes with it. The kernel
already serializes the writes themselves, so the lock costs its two system calls
and no parallelism. It is waited for at most ``_LOCK_PATIENCE_SECONDS``: a
writer stopped while holding it (``SIGSTOP``, a debugger) delays the others by
that much, then they write without it, checking the tail all the same.

**Links.** The path is opened with ``O_NOFOLLOW``: a symbolic link planted at it
is refused (``ELOOP``), so events never go into, nor tail checks read from,
a file elsewhere. ``follow_symlinks=True`` allows a link that the process's own
user or root owns, never one owned by another user.

**Watching the path.** By default every write first ``stat``\\ s the path (one
system call, well under a microsecond on a local file system) and reopens it
when the file there is not the one the descriptor points to: after an external
``logrotate`` (rename, then create), or when the file or its directory was
removed. Without the check, events would keep going into a renamed or deleted
file, which for a deleted one means lost without a word.

**Durability.** See :class:`AppendOnlyFile`'s ``fsync_every`` and ``fsync_interval``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import threading
import time
import warnings
import weakref
from collections.abc import Iterator

from wflogging.files import (
    CompressFailed,
    FsyncFailed,
    SymlinkRefused,
    WrittenWithError,
    open_no_follow,
)
from wflogging.rotation import Rotation, compress_file, rotated_name

__all__ = [
    "AppendOnlyFile",
    "CompressFailed",
    "ExposedFileWarning",
    "FsyncFailed",
    "SymlinkRefused",
    "WrittenWithError",
]

_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
#: How long a writer waits for the write lock before it writes without it (see the module doc).
_LOCK_PATIENCE_SECONDS = 1.0
_open_files: weakref.WeakSet[AppendOnlyFile] = weakref.WeakSet()


class AppendOnlyFile:
    """A lazily opened, append-only file of ``\\n``-terminated lines.

    Args:
        path: the file (created with ``file_mode`` when missing).
        file_mode: permission bits for a new file.
        fsync_every: ``fsync`` after every N-th line (``1``: before each write
            returns). ``None`` (default): no ``fsync``; lines are in the OS page
            cache when :meth:`write_line` returns, which survives a crash of the
            process but not of the machine.
        fsync_interval: ``fsync`` at the first write that comes at least this
            many seconds after the last ``fsync``. Checked on writes (no timer
            thread), so the last lines of a burst are synced by the next write,
            :meth:`sync` or :meth:`close`.
        watch: reopen the path when the file there changed (see the module doc).
        rotation: rotate the file by size and/or time (:class:`wflogging.rotation.Rotation`);
            implies ``watch``.
        follow_symlinks: open the path even when it is a symbolic link, provided
            the link belongs to this process's user or to root. Off by default:
            a link at the path is refused with :class:`SymlinkRefused`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        file_mode: int = 0o600,
        fsync_every: int | None = None,
        fsync_interval: float | None = None,
        watch: bool = True,
        rotation: Rotation | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        if fsync_every is not None and fsync_every < 1:
            raise ValueError(f"fsync_every must be a positive count, not {fsync_every!r}")
        if fsync_interval is not None and fsync_interval < 0:
            raise ValueError(f"fsync_interval must be >= 0 seconds, not {fsync_interval!r}")
        self.path = os.path.abspath(os.fspath(path))
        self.file_mode = file_mode
        self.fsync_every = fsync_every
        self.fsync_interval = fsync_interval
        self.watch = watch or rotation is not None
        self.rotation = rotation
        self.follow_symlinks = follow_symlinks
        self._warned_readable = False
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._unsynced = 0  # lines written since the last fsync
        self._last_sync = time.monotonic()
        self._lock = threading.Lock()
        self._rotation_lock_fd: int | None = None
        self._deferred_failure: WrittenWithError | None = None
        # Where this writer's last line ended in the open file (None: unknown). While the
        # file still ends there, its last byte is that line's newline: no need to read it.
        self._own_end: int | None = None
        _open_files.add(self)

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    @property
    def syncs(self) -> bool:
        """Whether an ``fsync`` policy is set."""
        return self.fsync_every is not None or self.fsync_interval is not None

    def open(self) -> None:
        """Open (creating the file with ``file_mode`` if needed); a no-op when open."""
        with self._lock:
            self._ensure_open()

    def write_line(self, line: bytes) -> None:
        """Append ``line`` (which must end with ``\\n``) in one write.

        Raises ``OSError`` when the line could not be written (nothing of it, or
        a fragment that the next write isolates on its own line), and
        :class:`FsyncFailed` when it was written but the ``fsync`` due after it failed.
        """
        with self._lock:
            if self.rotation is not None:
                _write_rotating(self, line)
            else:
                self._write(self._current_fd(), line)
            self._sync_if_due()
            if self._deferred_failure is not None:
                failed, self._deferred_failure = self._deferred_failure, None
                raise failed

    def sync(self) -> None:
        """``fsync`` the lines not yet synced, if an ``fsync`` policy is set; raises :class:`FsyncFailed`."""
        with self._lock:
            if self._unsynced and self._fd is not None:
                self._fsync(self._fd)

    def close(self) -> None:
        """Sync (per the policy) and close; a later :meth:`write_line` opens the file again."""
        with self._lock:
            try:
                if self._unsynced and self._fd is not None:
                    self._fsync(self._fd)
            finally:
                self._close_fd()
                if self._rotation_lock_fd is not None:
                    fd, self._rotation_lock_fd = self._rotation_lock_fd, None
                    os.close(fd)

    # --- internals, called with self._lock held -------------------------------------------

    def _ensure_open(self) -> int:
        if self._fd is None:
            fd = open_no_follow(self.path, _OPEN_FLAGS, self.file_mode, follow=self.follow_symlinks)
            status = os.fstat(fd)
            self._fd, self._identity, self._own_end = fd, (status.st_dev, status.st_ino), None
            self._warn_if_readable_by_others(status)
        return self._fd

    def _warn_if_readable_by_others(self, status: os.stat_result) -> None:
        """Warn once when the file lets more people read it than ``file_mode`` would."""
        extra = stat.S_IMODE(status.st_mode) & 0o077 & ~self.file_mode
        if extra and not self._warned_readable:
            self._warned_readable = True
            # Under -W error the warning is raised: swallowed here, as a warning must never
            # cost the event being written (the constructor's open, with delay=False, too).
            with contextlib.suppress(ExposedFileWarning):
                self._warn(status)

    def _warn(self, status: os.stat_result) -> None:
        warnings.warn(
            f"wflogging: {self.path} is readable or writable by others (mode "
            f"{stat.S_IMODE(status.st_mode):04o}; new files get {self.file_mode:04o}); "
            f"prompts and completions may hold secrets: chmod it",
            ExposedFileWarning,
            stacklevel=2,
        )

    def _current_fd(self) -> int:
        """The descriptor for the file now at ``path``, reopening when it was replaced or removed."""
        if self._fd is not None and self.watch:
            try:
                status = os.stat(self.path)
                replaced = (status.st_dev, status.st_ino) != self._identity
            except FileNotFoundError:
                replaced = True
            if replaced:
                self._reopen()
        return self._ensure_open()

    def _reopen(self) -> None:
        try:
            if self._unsynced and self._fd is not None:
                self._fsync(self._fd)  # the old file's lines, before we let go of it
        except FsyncFailed as failed:
            self._deferred_failure = failed  # raised once the line at hand is written
        finally:
            self._close_fd()

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd, self._identity = self._fd, None, None
            os.close(fd)

    def _write(self, fd: int, line: bytes) -> None:
        locked = _lock_for_write(fd)
        own_end: int | None = self._own_end
        self._own_end = None  # unknown until this write is whole
        try:
            size = os.lseek(fd, 0, os.SEEK_END)  # cheaper than fstat; O_APPEND writes ignore the offset
            if size and size != own_end and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn line (a killed writer's) ends the file: start a fresh one
            written = os.write(fd, line)
            while written < len(line):  # short write: the rest, still as the tail
                written += os.write(fd, memoryview(line)[written:])
            if locked:  # no one else could append in between: the file ends where this line does
                self._own_end = size + written
        except BaseException as exc:
            if isinstance(exc, OSError) and exc.errno in _STALE_DESCRIPTOR:
                self._close_fd()  # reopen on the next write
                locked = False  # (closing the descriptor released the lock)
            raise
        finally:
            if locked:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
        self._unsynced += 1 if self.syncs else 0

    def _sync_if_due(self) -> None:
        if not self._unsynced or self._fd is None:
            return
        if (self.fsync_every is not None and self._unsynced >= self.fsync_every) or (
            self.fsync_interval is not None and time.monotonic() - self._last_sync >= self.fsync_interval
        ):
            self._fsync(self._fd)

    def _fsync(self, fd: int) -> None:
        lines, self._unsynced = self._unsynced, 0  # counted once: never retried into a false success
        self._last_sync = time.monotonic()
        try:
            os.fsync(fd)
        except OSError as exc:
            raise FsyncFailed(exc, lines) from exc

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would never be released in the child.
        self._lock = threading.Lock()
        # flock() locks belong to the open file description, which fork shares with
        # the parent: the child needs its own, or its lock would be the parent's.
        if self._rotation_lock_fd is not None:
            fd, self._rotation_lock_fd = self._rotation_lock_fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        # The same holds for the write lock, taken on the events file's own descriptor: the
        # child opens the file again at its first write (closing its copy here leaves the
        # parent's descriptor, and any lock the parent holds, as they are).
        if self._fd is not None:
            fd, self._fd, self._identity = self._fd, None, None
            with contextlib.suppress(OSError):
                os.close(fd)


class ExposedFileWarning(UserWarning):
    """An existing events or rejects file is open to more users than its ``file_mode`` allows."""


def _lock_for_write(fd: int) -> bool:
    """Take the exclusive write lock on ``fd``; ``False`` when it stayed busy too long (or cannot be had)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    except OSError:
        return False  # a file system without flock: write unlocked, checking the tail all the same
    deadline = time.monotonic() + _LOCK_PATIENCE_SECONDS
    pause = 0.0
    while time.monotonic() < deadline:
        time.sleep(pause)  # 0 first (a yield): the holder is usually one write(2) from done
        pause = min(pause * 2 or 0.0001, 0.01)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            continue
        except OSError:
            return False
    return False


#: Errors after which the descriptor itself is no good: drop it and open the path again.
_STALE_DESCRIPTOR = frozenset({errno.EBADF, errno.EIO, errno.ESTALE})


def _reinit_after_fork() -> None:
    for open_file in list(_open_files):
        open_file._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _write_rotating(file: AppendOnlyFile, line: bytes) -> None:
    """Write ``line`` to ``file``, rotating first when due (called with ``file``'s thread lock held)."""
    rotation = file.rotation
    assert rotation is not None
    lock_fd = _lock_fd(file)
    rotated: list[str] = []  # can be several: others may fill the new file before our write
    while True:
        with _flock(lock_fd, fcntl.LOCK_SH):
            fd = file._current_fd()
            status = os.fstat(fd)
            if not rotation.is_due(status.st_size, status.st_mtime, len(line), time.time()):
                file._write(fd, line)
                break
        with _flock(lock_fd, fcntl.LOCK_EX):
            fd = file._current_fd()  # another process may have rotated in between
            status = os.fstat(fd)
            now = time.time()
            if rotation.is_due(status.st_size, status.st_mtime, len(line), now):
                rotated.append(rotated_name(file.path, now))
                os.rename(file.path, rotated[-1])
                file._reopen()
        # and round again: write under the shared lock, into whatever file is current
    for name in rotated if rotation.compress else ():
        try:
            compress_file(name, file.file_mode)
        except OSError as exc:  # the rotated file is still there, whole: report, lose nothing
            raise CompressFailed(exc.errno, f"could not gzip {name}: {exc.strerror}") from exc


def _lock_fd(file: AppendOnlyFile) -> int:
    if file._rotation_lock_fd is None:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        file._rotation_lock_fd = open_no_follow(file.path + ".lock", flags, file.file_mode)
    return file._rotation_lock_fd


@contextlib.contextmanager
def _flock(fd: int, operation: int) -> Iterator[None]:
    fcntl.flock(fd, operation)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
