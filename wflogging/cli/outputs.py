"""Files the CLI writes: private (0600) and whole, whatever was at the path before.

A timeline or an export holds prompts and completions, which may hold secrets, so it is
created ``0600`` under any umask, like the events file. It is written to a new file with an
unpredictable name in the same directory (``tempfile.mkstemp``: ``O_EXCL | O_NOFOLLOW``) and
renamed over the path: a reader never sees half a file, and a symbolic link planted at the
path is replaced, never written through.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["write_private_text"]


def write_private_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` as a ``0600`` file, atomically."""
    target = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(target)
    fd, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
