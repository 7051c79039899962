"""Opt-in rotation of an events file that several processes append to.

Off by default: one file grows until you rotate it. With a :class:`Rotation`,
the writer that finds the file due (too big, or last written in an earlier
period) renames it to ``<name>.<UTC time><ext>`` (``events.jsonl`` ->
``events.20260301T100000Z.jsonl``) and every writer continues in a new file at
the original path. Rotation only ever *renames*: no copy, no truncation, so a
tail-based shipper following the path never sees a line twice or misses one.

**Safe with several processes.** Writers share an advisory lock on a sidecar
file, ``<path>.lock``: each write holds it shared, and checks under it that the
descriptor still points to the file at the path (reopening if not); the rename
holds it exclusive. So no line can land in a file after it was rotated, which
is what makes compressing a rotated file (``compress=True``) safe: the gzip
copy is made after the rename, outside the lock, and the plain file is removed
only when the ``.gz`` is complete. The cost is two ``flock`` calls and a
``stat`` per event, paid only when rotation is on. All writers of one path must
use the same rotation settings (as with any shared-lock protocol).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
import time
from typing import Any

import attrs

from wflogging.files import open_no_follow

__all__ = ["Rotation", "compress_file", "rotated_name"]


def _positive_or_none(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not (isinstance(value, (int, float)) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive number or None, not {value!r}")


@attrs.frozen
class Rotation:
    """When to rotate an events file; at least one of ``max_bytes`` and ``interval``.

    Args:
        max_bytes: rotate before a line that would take the file past this size
            (a single line bigger than this still goes whole into a fresh file).
            A soft limit: writers check it under the *shared* lock, so processes
            appending at the same moment can each add their line past it.
        interval: rotate before the first line of a new period of this many
            seconds (periods start at multiples of ``interval`` since the Unix
            epoch, UTC: ``86400`` rotates at midnight UTC). The file's period is
            the one of its last write (its ``mtime``), so all processes agree.
        compress: gzip each rotated file (``<rotated name>.gz``).
    """

    max_bytes: int | None = attrs.field(default=None, validator=_positive_or_none)
    interval: float | None = attrs.field(default=None, validator=_positive_or_none)
    compress: bool = False

    def __attrs_post_init__(self) -> None:
        if self.max_bytes is None and self.interval is None:
            raise ValueError("Rotation needs max_bytes, interval or both")

    def is_due(self, size: int, last_write: float, line_length: int, now: float) -> bool:
        """Whether a file of ``size`` bytes last written at ``last_write`` must rotate before this line."""
        if size == 0:
            return False  # an empty file takes any line: no endless rotation for a huge one
        if self.max_bytes is not None and size + line_length > self.max_bytes:
            return True
        return self.interval is not None and int(now // self.interval) > int(last_write // self.interval)


def rotated_name(path: str, now: float) -> str:
    """The name a rotation at ``now`` gives ``path``, unused so far (``-1``, ``-2``... when taken)."""
    root, extension = os.path.splitext(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    candidate = f"{root}.{stamp}{extension}"
    counter = 0
    # lexists: a dangling link planted at the name counts as taken, never as free.
    while os.path.lexists(candidate) or os.path.lexists(candidate + ".gz"):
        counter += 1
        candidate = f"{root}.{stamp}-{counter}{extension}"
    return candidate


def compress_file(path: str, file_mode: int = 0o600) -> str:
    """Gzip ``path`` to ``path + ".gz"``, then remove ``path``.

    Nothing here follows a symbolic link: the source is opened with ``O_NOFOLLOW``,
    and the gzip is written to a new file with an unpredictable name
    (:func:`tempfile.mkstemp`: ``O_CREAT | O_EXCL | O_NOFOLLOW``) in the same
    directory, then renamed over ``path + ".gz"`` (a rename replaces a link there;
    it never writes through it).
    """
    target = path + ".gz"
    directory, name = os.path.split(target)
    source_fd = open_no_follow(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0), 0)
    with open(source_fd, "rb") as source:
        fd, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=directory or ".")
        try:
            with os.fdopen(fd, "wb") as raw:
                os.fchmod(raw.fileno(), file_mode)
                with gzip.GzipFile(fileobj=raw, mode="wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
    os.unlink(path)
    return target
