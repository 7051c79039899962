"""``TaskEventHandler``: stores task events as JSON Lines, and rejects beside them."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import sys
import threading
import traceback

from wflogging.event import TaskEventRejected
from wflogging.formatter import TaskEventFormatter
from wflogging.journal import OpenTaskJournal, journal_dir_for, recover_into
from wflogging.redaction import Redactor
from wflogging.rejects import RejectSink, rejects_path_for
from wflogging.rotation import Rotation
from wflogging.schema import preview
from wflogging.storage import AppendOnlyFile, FsyncFailed, WrittenWithError
from wflogging.terminal import visible

__all__ = ["TaskEventHandler", "report_fault"]


def report_fault(record: logging.LogRecord, redactor: Redactor | None = None) -> None:
    """Report the exception being handled on stderr, as ``Handler.handleError`` does, minus the data.

    The stdlib's report ends with the record's message and its arguments, which for a
    task event are where secrets are (``logger.info("called with %s", api_key, ...)``),
    and stderr usually ends up in journald or a container log. This one keeps the
    stdlib's header and traceback, then names the task and where it was logged, and
    shows the message only redacted by ``redactor`` (a queue handler merges the
    arguments into the message), never the arguments.
    """
    if not (logging.raiseExceptions and sys.stderr):
        return
    kind, exc, trace = sys.exc_info()
    try:
        # The message too can hold the arguments (a QueueHandler merges them into it): shown
        # only when it can be redacted.
        message = "not shown"
        if redactor is not None:
            message = redactor.redact_text(preview(record.msg, 200)).value
        stream = sys.stderr
        stream.write("--- Logging error ---\n")  # the stdlib's header, which tools look for
        if kind is not None:
            traceback.print_exception(kind, exc, trace, file=stream)
        stream.write(
            visible(
                f"Task event task_id={preview(record.__dict__.get('task_id'))} logged at "
                f"{record.pathname}:{record.lineno}; message {message}; "
                f"its arguments are not shown (they may hold secrets)"
            )
            + "\n"
        )
    except Exception:  # stderr closed or unwritable: nothing more to do
        pass
    finally:
        del trace


class TaskEventsOnlyHandler(logging.Handler):
    """A handler that handles task-event records only, without a handler-wide lock.

    Most records on a shared logger are not task events: they are ruled out
    before the handler's filters. And unlike :meth:`logging.Handler.handle`, no
    handler-wide lock is taken around :meth:`emit`: subclasses serialize only
    what must be (a file write, say), so formatting runs concurrently.
    """

    def handle(self, record: logging.LogRecord) -> bool:
        attributes = record.__dict__  # is_task_event(record), inline: this runs for every record
        if "task_id" not in attributes and "task_event" not in attributes:
            return False
        if self.filters:  # Filterer.filter only when there is a filter to ask
            verdict: object = self.filter(record)
            if not verdict:
                return False
            if isinstance(verdict, logging.LogRecord):  # 3.12+: a filter may return a replacement
                record = verdict
        self.emit(record)
        return True

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - stdlib name
        """Report the exception being handled as the stdlib does, but never the record's arguments."""
        report_fault(record, getattr(self.formatter, "redactor", None))


class TaskEventHandler(TaskEventsOnlyHandler):
    """Appends each task event to ``filename`` as one JSON line (UTF-8, ``\\n``-terminated).

    Records that are not task events (no ``task_id`` or ``task_event`` in their
    ``extra``) are ignored, so the handler can sit on the root logger beside
    ordinary logging. An event that cannot be made conformant is written to the
    rejects file with its reasons, and a one-line error goes to stderr; the
    caller of ``logger.info`` never sees an exception unless ``strict`` is set.

    Each line reaches the OS in a single ``write`` on an ``O_APPEND`` descriptor
    before :meth:`emit` returns, so handlers in several threads and processes can
    share one file.

    **Faults** (disk full, permission denied, the directory removed, a read-only
    file system) never reach the caller: the event is counted in :attr:`dropped`,
    and each kind of error (exception type and ``errno``) is reported once through
    :meth:`handleError` until a write succeeds again, not once per event. The
    next write retries, so logging resumes by itself when the fault clears.

    Args:
        filename: the events file (created with ``file_mode`` if missing).
        rejects_filename: where rejects go; default ``<name>.rejects<ext>``
            beside ``filename`` (``events.jsonl`` -> ``events.rejects.jsonl``).
        strict: raise :class:`~wflogging.TaskEventRejected` to the caller after
            storing a reject (for tests and development).
        delay: open the file at the first event rather than now.
        file_mode: permission bits for new files; ``0o600`` by default because
            prompts and completions may hold secrets.
        fsync_every: ``fsync`` after every N events (``1``: each event is on disk
            before :meth:`emit` returns). Default ``None``: no ``fsync``; each
            event is in the OS before :meth:`emit` returns, which survives the
            process crashing but not the machine losing power.
        fsync_interval: ``fsync`` at the first event at least this many seconds
            after the last ``fsync`` (checked on events; :meth:`flush` and
            :meth:`close` sync the rest).
        watch: before each write, check (one ``stat``) that the path still names
            the open file, and reopen it if not: after ``logrotate``'s
            rename-and-create, or when the file was deleted. On by default.
        max_bytes, rotate_interval, compress: opt-in rotation, safe with several
            processes; see :class:`wflogging.rotation.Rotation`. Off by default.
        redact, max_field_chars, max_field_bytes: redaction and size caps, as for
            :class:`TaskEventFormatter`, for this handler's events and rejects. They
            apply to whatever formatter the handler gets, unless that formatter sets
            its own: so they work in ``dictConfig`` even beside a formatter declared
            with ``"class"`` (which the stdlib builds without wflogging's options).
        journal: where ``record_task`` notes each open task, so ``wflogging recover``
            can log a task whose process died inside it (see :mod:`wflogging.journal`):
            ``True`` (default) for ``<filename>.open/``, a directory path, or ``False``
            for none. Exposed as :attr:`open_task_journal`.
        recover: on opening, log a ``Failed`` event for each open task in the journal
            whose process is gone, as ``wflogging recover`` does (:func:`wflogging.recover`):
            useful when the orchestrator restarts after a crash. Off by default (it reads
            the events file when there is such a task). A failure is reported on stderr,
            never raised.
        follow_symlinks: write through a symbolic link at ``filename`` if the link
            belongs to this process's user or root. Off by default: a link there is
            refused (the event is counted in :attr:`dropped` and reported), because
            anyone who can write in the directory could point it at another file.
            The rejects file, the rotation lock and compression temporaries never
            follow links, whatever this says.
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
        fsync_every: int | None = None,
        fsync_interval: float | None = None,
        watch: bool = True,
        max_bytes: int | None = None,
        rotate_interval: float | None = None,
        compress: bool = False,
        redact: bool | Redactor = False,
        max_field_chars: int | None = None,
        max_field_bytes: int | None = None,
        journal: bool | str | os.PathLike[str] = True,
        recover: bool = False,
        follow_symlinks: bool = False,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        # Built through a formatter so that the options mean exactly what they mean there.
        self._privacy = TaskEventFormatter(
            redact=redact, max_field_chars=max_field_chars, max_field_bytes=max_field_bytes
        )
        rotation = (
            None
            if max_bytes is None and rotate_interval is None
            else Rotation(max_bytes=max_bytes, interval=rotate_interval, compress=compress)
        )
        self.file = AppendOnlyFile(
            filename,
            file_mode=file_mode,
            fsync_every=fsync_every,
            fsync_interval=fsync_interval,
            watch=watch,
            rotation=rotation,
            follow_symlinks=follow_symlinks,
        )
        #: Events that could not be written (an I/O error, or a failure to format).
        self.dropped = 0
        #: Events written whose ``fsync`` then failed: in the OS, but maybe not on disk.
        self.not_durable = 0
        self._reported: set[tuple[str, int | None]] = set()
        self._fault_lock = threading.Lock()
        self.rejects = RejectSink(
            rejects_path_for(filename) if rejects_filename is None else rejects_filename,
            file_mode=file_mode,
        )
        self.strict = strict
        self.formatter: TaskEventFormatter = self._privacy
        #: The open-task journal ``record_task`` writes to (``None`` with ``journal=False``).
        self.open_task_journal: OpenTaskJournal | None = None
        if journal is not False:
            self.open_task_journal = OpenTaskJournal(
                journal_dir_for(self.file.path) if journal is True else journal,
                redact=self._privacy.redactor is not None,
                sync=self.file.syncs,
            )
        if not delay:
            self.file.open()
        if recover and self.open_task_journal is not None:
            self._recover_open_tasks(self.open_task_journal)

    def _recover_open_tasks(self, journal: OpenTaskJournal) -> None:
        try:
            recover_into(self.file.path, journal_dir=journal.directory, handler=self)
        except Exception as exc:  # recovery must not stop the orchestrator from starting
            sys.stderr.write(f"wflogging: could not recover open tasks from {journal.directory}: {exc}\n")

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
        # The handler's redaction and caps fill in what the formatter leaves unset, on
        # a copy: dictConfig shares one formatter object among the handlers naming it.
        wanted = self._privacy
        if (fmt.redactor is None and wanted.redactor) or (fmt.size_cap is None and wanted.size_cap):
            fmt = copy.copy(fmt)
            fmt.redactor = fmt.redactor or wanted.redactor
            fmt.size_cap = fmt.size_cap or wanted.size_cap
        self.formatter = fmt
        if self.open_task_journal is not None:
            self.open_task_journal.redact = fmt.redactor is not None

    def emit(self, record: logging.LogRecord) -> None:
        # One frame for the whole write (a frame per step costs more than some steps).
        try:
            try:
                line = self.formatter.format_line(record)
            except TaskEventRejected as rejected:
                self.rejects.report(rejected, record, redactor=self.formatter.redactor)
                if self.strict:
                    raise
                return
            except RecursionError:
                raise  # to the handler below, once the stack has unwound to this frame
            except Exception as exc:
                self._fault(record, exc, written=False)
                return
            try:
                self.file.write_line(line)
            except RecursionError:
                raise
            except Exception as exc:
                self._fault(record, exc, written=isinstance(exc, WrittenWithError))
            else:
                if self._reported:  # the fault cleared: report the next one again
                    with self._fault_lock:
                        self._reported.clear()
        except RecursionError as exc:
            # Unlike the stdlib's StreamHandler, which re-raises it: logging must not break the
            # caller, and a caller near the recursion limit gets its RecursionError from its own
            # next call anyway. The event is counted and reported like any other fault.
            try:
                self._fault(record, exc, written=False)
            except RecursionError:  # not even the report fits in the stack that is left
                self.dropped += 1

    def _fault(self, record: logging.LogRecord, exc: Exception, *, written: bool) -> None:
        """Count the event; report this kind of error through handleError once per fault episode."""
        kind = (type(exc).__name__, getattr(exc, "errno", None))
        with self._fault_lock:
            if isinstance(exc, FsyncFailed):
                self.not_durable += exc.lines
            elif not written:
                self.dropped += 1
            first = kind not in self._reported
            self._reported.add(kind)
        if first:
            with contextlib.suppress(RecursionError):  # counted above; the report may not fit the stack
                self.handleError(record)  # inside the except block: prints this traceback

    def flush(self) -> None:
        """``fsync`` events not yet synced when an ``fsync`` policy is set; else nothing to do.

        Without a policy every line is already in the OS when :meth:`emit` returns.
        """
        try:
            self.file.sync()
        except OSError as exc:
            self._fault_outside_emit(exc)

    def close(self) -> None:
        """Sync (per the ``fsync`` policy) and close the files; a later event reopens them."""
        try:
            try:
                self.file.close()
            except OSError as exc:
                self._fault_outside_emit(exc)
            self.rejects.close()
            if self.open_task_journal is not None:
                # Its notes file holds only closed tasks now (or open ones, which it keeps).
                self.open_task_journal.remove_own_file()
        finally:
            super().close()

    def _fault_outside_emit(self, exc: OSError) -> None:
        record = logging.LogRecord(self.name or "wflogging", logging.ERROR, __file__, 0, str(exc), None, None)
        self._fault(record, exc, written=True)

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} {self.filename} ({level})>"
