"""``TaskEventHandler``: stores task events as JSON Lines, and rejects beside them."""

from __future__ import annotations

import logging
import os

from wflogging.event import TaskEventRejected, is_task_event
from wflogging.formatter import TaskEventFormatter
from wflogging.rejects import RejectSink, rejects_path_for
from wflogging.storage import AppendOnlyFile

__all__ = ["TaskEventHandler"]


class TaskEventHandler(logging.Handler):
    """Appends each task event to ``filename`` as one JSON line (UTF-8, ``\\n``-terminated).

    Records that are not task events (no ``task_id`` or ``task_event`` in their
    ``extra``) are ignored, so the handler can sit on the root logger beside
    ordinary logging. An event that cannot be made conformant is written to the
    rejects file with its reasons, and a one-line error goes to stderr; the
    caller of ``logger.info`` never sees an exception unless ``strict`` is set.

    Each line reaches the OS in a single ``write`` on an ``O_APPEND`` descriptor
    before :meth:`emit` returns, so handlers in several threads and processes can
    share one file.

    Args:
        filename: the events file (created with ``file_mode`` if missing).
        rejects_filename: where rejects go; default ``<name>.rejects<ext>``
            beside ``filename`` (``events.jsonl`` -> ``events.rejects.jsonl``).
        strict: raise :class:`~wflogging.TaskEventRejected` to the caller after
            storing a reject (for tests and development).
        delay: open the file at the first event rather than now.
        file_mode: permission bits for new files; ``0o600`` by default because
            prompts and completions may hold secrets.
        level: the handler's level.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        *,
        rejects_filename: str | os.PathLike[str] | None = None,
        strict: bool = False,
        delay: bool = False,
        file_mode: int = 0o600,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.file = AppendOnlyFile(filename, file_mode=file_mode)
        self.rejects = RejectSink(
            rejects_path_for(filename) if rejects_filename is None else rejects_filename,
            file_mode=file_mode,
        )
        self.strict = strict
        self.formatter: TaskEventFormatter = TaskEventFormatter()
        if not delay:
            self.file.open()

    @property
    def filename(self) -> str:
        """The absolute path of the events file."""
        return self.file.path

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 - stdlib name
        """Use ``fmt``, which must be a :class:`TaskEventFormatter` (``None`` restores the default)."""
        if fmt is None:
            fmt = TaskEventFormatter()
        if not isinstance(fmt, TaskEventFormatter):
            raise TypeError(
                f"TaskEventHandler writes only task events: its formatter must be a "
                f"TaskEventFormatter, not {type(fmt).__name__}"
            )
        self.formatter = fmt

    def handle(self, record: logging.LogRecord) -> bool:
        # Most records on a shared logger are not task events: rule them out before
        # the handler's filters. And unlike Handler.handle, take no handler-wide lock:
        # formatting runs concurrently, and the file serializes only the write itself.
        if not is_task_event(record):
            return False
        verdict: object = self.filter(record)
        if not verdict:
            return False
        if isinstance(verdict, logging.LogRecord):  # 3.12+: a filter may return a replacement
            record = verdict
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.formatter.format_bytes(record) + b"\n"
        except TaskEventRejected as rejected:
            self.rejects.report(rejected, record, redactor=self.formatter.redactor)
            if self.strict:
                raise
            return
        except RecursionError:  # as the stdlib's StreamHandler does: don't mask it
            raise
        except Exception:
            self.handleError(record)
            return
        try:
            self.file.write_line(line)
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Nothing to do: every line reaches the OS before :meth:`emit` returns."""

    def close(self) -> None:
        try:
            self.file.close()
            self.rejects.close()
        finally:
            super().close()

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} {self.filename} ({level})>"
