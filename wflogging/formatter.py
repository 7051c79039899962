"""``TaskEventFormatter``: a log record carrying task context -> one schema-conformant JSON line."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from wflogging import schema
from wflogging.context import RECORD_ATTRIBUTE
from wflogging.event import (
    TaskEventRejected,
    build_entry,
    event_fields,
    is_task_event,
    record_run_id,
)
from wflogging.redaction import FieldSizeCap, Redactor
from wflogging.rejects import RejectSink
from wflogging.serialize import EntryDict, UnencodableText, data_traits, get_serializer, surrogate_problems

__all__ = ["NotATaskEvent", "TaskEventFilter", "TaskEventFormatter"]

#: Where :class:`TaskEventFilter` leaves the entry it built for the formatter.
ENTRY_ATTRIBUTE = "_wflogging_entry"
#: Where a queue handler keeps a record's exception (``type``, ``message``, ``traceback``)
#: once ``exc_info`` has been cleared for the queue, for a formatter with ``error_details``.
ERROR_ATTRIBUTE = "_wflogging_error"


class NotATaskEvent(ValueError):
    """The formatter was given a record whose ``extra`` has neither ``task_id`` nor ``task_event``."""


class TaskEventFormatter(JsonFormatter):
    """Formats task-event records as the SOP's JSON entries.

    The signature starts like :class:`logging.Formatter`'s, so ``"class"`` and
    ``"()"`` both work in ``dictConfig``; wflogging's options are keyword-only.

    Args:
        fmt: leave unset for entries with exactly the SOP's ten fields. A format
            string names log record attributes to add under ``extensions.log``
            (python-json-logger's convention), e.g. ``"%(levelname)s %(message)s"``.
        datefmt, style, validate, defaults: as for :class:`logging.Formatter`.
        serializer: ``"auto"`` (default: orjson when installed, else ``json``),
            ``"json"`` or ``"orjson"``. All write identical lines.
        rejects_file: where this formatter stores rejects when it runs on a handler
            other than :class:`~wflogging.TaskEventHandler` (which has its own).
            Unset, they go to stderr, each a summary line plus a
            ``wflogging-reject: {...}`` line.
        redact: ``True`` for :data:`~wflogging.DEFAULT_RULES`, or a
            :class:`~wflogging.Redactor` of your own: secrets in prompts, completions
            and other text are replaced before the entry (or its reject) is written,
            and counted by rule under ``extensions.redactions``. Off by default.
        max_field_chars, max_field_bytes: cap each prompt and completion at this
            many characters / UTF-8 bytes, with a marker and the original length
            (``extensions.truncated``). Off by default: the SOP promises full prompts.
        error_details: for a record logged with an exception (``logger.exception``,
            ``exc_info=``), add ``extensions.error`` (``type``, ``message``,
            ``traceback``) to the entry. Off by default: an entry has exactly the
            SOP's ten fields, and the exception stays in the record for ordinary
            handlers to print.

    The entry built for a record is kept on the record, so every wflogging
    formatter and handler that sees the record (a file and an OTLP exporter, say)
    writes the same ``event_id``; each still applies its own options to a copy.

    A rejected event makes :meth:`format` raise :class:`TaskEventRejected` after
    the reject is stored, so a foreign handler writes nothing for it (the stdlib
    then reports the exception through ``Handler.handleError``). Add
    :class:`~wflogging.TaskEventFilter` to such a handler to drop rejects and
    non-event records quietly before they reach the formatter.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        defaults: Mapping[str, Any] | None = None,
        serializer: str = "auto",
        rejects_file: str | os.PathLike[str] | None = None,
        redact: bool | Redactor = False,
        max_field_chars: int | None = None,
        max_field_bytes: int | None = None,
        error_details: bool = False,
    ) -> None:
        super().__init__(
            fmt,
            datefmt,
            style,
            validate,
            # Item by item, not dict(defaults): dictConfig hands over a ConvertingDict,
            # which resolves ext:// and cfg:// values only on item access.
            defaults=None if defaults is None else {key: defaults[key] for key in defaults},
            json_ensure_ascii=False,
        )
        self.serializer = get_serializer(serializer)
        #: Record attributes written under ``extensions.log`` (from ``fmt``).
        self.record_fields: tuple[str, ...] = () if fmt is None else tuple(self._required_fields)
        self.rejects = RejectSink(rejects_file)
        #: Applied to every entry and every reject (``None``: no redaction).
        self.redactor: Redactor | None = Redactor() if redact is True else (redact or None)
        #: Whether an exception logged with the event goes under ``extensions.error``.
        self.error_details = error_details
        self.size_cap: FieldSizeCap | None = (
            None
            if max_field_chars is None and max_field_bytes is None
            else FieldSizeCap(max_field_chars, max_bytes=max_field_bytes)
        )

    # --- the entry as data ---------------------------------------------------------

    def entry(self, record: logging.LogRecord) -> dict[str, Any]:
        """The log entry for ``record`` as a dict (raises :class:`TaskEventRejected`)."""
        entry = self._entry(record)
        return EntryDict(entry) if entry is record.__dict__.get(ENTRY_ATTRIBUTE) else entry

    def _entry(self, record: logging.LogRecord) -> dict[str, Any]:
        """The entry to write; the record's shared entry itself when no option changes it (read-only)."""
        attributes = record.__dict__
        if "task_id" not in attributes and "task_event" not in attributes:  # is_task_event, inline
            raise NotATaskEvent(
                f"record from {record.name!r} ({record.pathname}:{record.lineno}) is not a task event: "
                "its extra has neither task_id nor task_event"
            )
        shared = attributes.get(ENTRY_ATTRIBUTE)
        if shared is None:
            shared = shared_entry(record)
        error = self._error(record) if self.error_details else None
        if not (self.record_fields or error or self.redactor or self.size_cap):
            return shared  # not copied: the line is written from it, never changed
        fields = event_fields(record)
        entry: dict[str, Any] = EntryDict(shared)  # options below change this copy only
        if type(shared) is EntryDict and type(entry) is EntryDict:
            entry.divergent_floats, entry.line_separators, entry.longest_text = data_traits(shared)
        if self.record_fields or error:
            self._add_extensions(entry, record, fields, error)
        if self.redactor is not None:
            entry = self.redactor.apply(entry)  # a plain dict again: the serializer looks through it
        if self.size_cap is not None:
            entry = self.size_cap.apply(entry)
        return entry

    @staticmethod
    def _error(record: logging.LogRecord) -> dict[str, Any] | None:
        """The exception logged with the record, as ``extensions.error`` holds it (``None``: none)."""
        if record.exc_info and record.exc_info[0] is not None:
            return error_details(record.exc_info)
        queued: dict[str, Any] | None = record.__dict__.get(ERROR_ATTRIBUTE)
        return queued

    def _add_extensions(
        self, entry: dict[str, Any], record: logging.LogRecord, fields: Any, error: dict[str, Any] | None
    ) -> None:
        extensions: dict[str, Any] = dict(entry.get("extensions") or {})
        if self.record_fields:
            extensions["log"] = self._log_fields(record)
        if error is not None and "error" not in extensions:
            extensions["error"] = error
        problems: list[schema.Problem] = []
        entry["extensions"] = schema.plain_json(extensions, "extensions", problems)
        if problems:
            raise TaskEventRejected(problems, fields)
        if type(entry) is EntryDict:  # what the new values hold, for the serializer
            floats, separators, longest = data_traits(entry["extensions"])
            entry.divergent_floats = entry.divergent_floats or floats
            entry.line_separators = True if separators else entry.line_separators
            entry.longest_text = max(entry.longest_text, longest)

    def _log_fields(self, record: logging.LogRecord) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in self.record_fields:
            if name == "message":
                values[name] = record.getMessage()
            elif name == "asctime":
                values[name] = self.formatTime(record, self.datefmt)
            else:
                values[name] = record.__dict__.get(name, self.defaults.get(name))
        return values

    # --- the entry as a line ---------------------------------------------------------

    def format_bytes(self, record: logging.LogRecord) -> bytes:
        """The entry as one UTF-8 JSON line without the newline (raises :class:`TaskEventRejected`)."""
        entry = self._entry(record)
        try:
            return self.serializer.dumps(entry)
        except UnencodableText:
            raise _unencodable(entry, record) from None

    def format_line(self, record: logging.LogRecord) -> bytes:
        """The entry as one UTF-8 JSON line *with* its ``\\n`` (raises :class:`TaskEventRejected`).

        What a handler that writes bytes should call: the serializer appends the
        newline while it writes the line (orjson's ``OPT_APPEND_NEWLINE``), where
        ``format_bytes(record) + b"\\n"`` would copy a megabyte line once more.
        """
        entry = self._entry(record)
        try:
            return self.serializer.dumps_line(entry)
        except UnencodableText:
            raise _unencodable(entry, record) from None

    def format(self, record: logging.LogRecord) -> str:
        """The entry as one JSON line: what any ``logging.Handler`` writes.

        A reject is stored (see ``rejects_file``) before :class:`TaskEventRejected` is raised.
        """
        try:
            entry = self._entry(record)
            try:
                return self.serializer.dumps_text(entry)
            except UnencodableText:
                raise _unencodable(entry, record) from None
        except TaskEventRejected as rejected:
            self.rejects.report(rejected, record, redactor=self.redactor)
            raise


def shared_entry(record: logging.LogRecord, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The entry built for ``record``, built once and kept on it (raises :class:`TaskEventRejected`).

    Every wflogging formatter, filter and handler that sees the record uses this
    one build, so they all write the same generated ``event_id``. Treat it as
    read-only: formatters apply their options to a copy.
    """
    attributes = record.__dict__
    built: dict[str, Any] | None = attributes.get(ENTRY_ATTRIBUTE)
    if built is None:
        if fields is None:  # event_fields(record), whose usual answer is the attributes themselves
            fields = attributes if "task_event" not in attributes else event_fields(record)
        # record_run_id(record), inline for the usual case: the run captured where it was logged
        run_id = attributes[RECORD_ATTRIBUTE] if RECORD_ATTRIBUTE in attributes else record_run_id(record)
        built = build_entry(fields, run_id)
        attributes[ENTRY_ATTRIBUTE] = built
    return built


def _unencodable(entry: dict[str, Any], record: logging.LogRecord) -> TaskEventRejected:
    return TaskEventRejected(surrogate_problems(entry), event_fields(record))


class TaskEventFilter(logging.Filter):
    """Let through only task events that validate; report the rejects, drop everything else.

    For a :class:`TaskEventFormatter` on a handler of another kind (a
    ``StreamHandler`` to stdout, say): ordinary log records and rejects then
    never reach the formatter, so the stream stays pure and the stdlib prints no
    "Logging error" for them. The entry built here is kept on the record, so the
    formatter does not build it again.

    Args:
        name: as for :class:`logging.Filter` (a logger-name prefix).
        rejects_file: where rejects are stored; unset, they go to stderr.
        redact: as for :class:`TaskEventFormatter`, applied to the rejects this
            filter stores (give it the same setting as the formatter).
    """

    def __init__(
        self,
        name: str = "",
        *,
        rejects_file: str | os.PathLike[str] | None = None,
        redact: bool | Redactor = False,
    ) -> None:
        super().__init__(name)
        self.rejects = RejectSink(rejects_file)
        self.redactor: Redactor | None = Redactor() if redact is True else (redact or None)

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_task_event(record) or not super().filter(record):
            return False
        try:
            shared_entry(record)
        except TaskEventRejected as rejected:
            self.rejects.report(rejected, record, redactor=self.redactor)
            return False
        except Exception:
            # Filters run outside the handler's error net, so an exception here would
            # reach the caller of logger.info: report it the way Handler.handleError does.
            _report_internal_error(record)
            return False
        return True


def _report_internal_error(record: logging.LogRecord) -> None:
    if not (logging.raiseExceptions and sys.stderr):
        return
    try:
        sys.stderr.write(f"--- Logging error in wflogging.TaskEventFilter ({record.name}) ---\n")
        traceback.print_exc(file=sys.stderr)
        sys.stderr.write(f"Logged from file {record.filename}, line {record.lineno}\n")
    except Exception:
        pass  # stderr itself failed: nothing left to tell


def error_details(exc_info: Any) -> dict[str, Any]:
    """An exception as ``extensions.error`` holds it; a failing ``str()`` costs only the message."""
    exc_type, exc, tb = exc_info
    try:
        message = str(exc)
    except Exception:
        message = f"<{exc_type.__qualname__}: str() raised>"
    try:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
    except Exception:
        text = message
    return {"type": exc_type.__qualname__, "message": message, "traceback": text}
