"""Where events that cannot be made conformant go: a rejects file and one line on stderr.

A reject is never silently dropped and never mixed into the event stream. Its
line in the rejects file holds every reason (field path and problem), where it
was logged, and as much of the original event as JSON can represent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from wflogging import schema
from wflogging.event import TaskEventRejected, exception_text
from wflogging.redaction import Redactor
from wflogging.serialize import StdlibJsonSerializer, representable
from wflogging.storage import AppendOnlyFile
from wflogging.terminal import visible

__all__ = ["RejectSink", "reject_entry", "rejects_path_for"]

_MAX_REASONS_ON_STDERR = 3
_ORDER = {name: index for index, name in enumerate((*schema.FIELD_ORDER, "extensions", "task_event"))}


def rejects_path_for(events_path: str | os.PathLike[str]) -> str:
    """The rejects file beside an events file: ``events.jsonl`` -> ``events.rejects.jsonl``."""
    root, extension = os.path.splitext(os.fspath(events_path))
    return f"{root}.rejects{extension or '.jsonl'}"


def reject_entry(rejected: TaskEventRejected, record: logging.LogRecord) -> dict[str, Any]:
    """The rejects-file line for a rejected event (JSON-safe whatever the input was)."""
    fields = {key: value for key, value in rejected.fields.items() if key in _ORDER}
    event = dict(sorted(fields.items(), key=lambda item: _ORDER[item[0]]))
    return {
        "rejected_at": schema.format_instant(dt.datetime.now(dt.timezone.utc)),
        # A path can hold a hostile key (a lone surrogate, say): make it writable too.
        "reasons": representable([{"path": p.path, "problem": p.problem} for p in rejected.problems]),
        "logger": record.name,
        "level": record.levelname,
        "source": f"{record.pathname}:{record.lineno}",
        "message": _readable_ints(representable(_message(record))),
        "event": _readable_ints(representable(event)),
    }


_INT64 = range(-(2**63), 2**63)


def _readable_ints(value: Any) -> Any:
    """``value`` with integers outside 64 bits as strings: orjson and DuckDB refuse them as numbers."""
    if type(value) is int:
        return value if value in _INT64 else str(value)
    if type(value) is dict:
        return {key: _readable_ints(item) for key, item in value.items()}
    if type(value) is list:
        return [_readable_ints(item) for item in value]
    return value


def summary_line(reject: Mapping[str, Any], destination: str) -> str:
    """The one-line stderr report of a reject, from its rejects-file entry."""
    event = reject.get("event")
    task_id = event.get("task_id") if isinstance(event, dict) else None
    reasons = [f"{reason['path']}: {reason['problem']}" for reason in reject["reasons"]]
    more = len(reasons) - _MAX_REASONS_ON_STDERR
    reasons = reasons[:_MAX_REASONS_ON_STDERR]
    if more > 0:
        reasons.append(f"and {more} more")
    line = (
        f"wflogging: rejected task event task_id={schema.preview(task_id)}: "
        f"{'; '.join(reasons)} ({destination})"
    )
    return visible(line).replace("\n", "\\n")  # one line, no control obeyed by a terminal


def _message(record: logging.LogRecord) -> Any:
    try:
        return record.getMessage()
    except Exception:  # a bad %-format in the caller's message must not hide the reject
        return record.msg


class RejectSink:
    """Records rejects: a JSON line in ``path`` (or on stderr without one) and a line on stderr.

    :attr:`count` counts the rejects stored (written to the rejects file, or printed whole on
    stderr without one); :attr:`lost` those that could not be (the rejects file failed): each
    of those is still announced on stderr with its task id and reasons.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, file_mode: int = 0o600) -> None:
        self.file = None if path is None else AppendOnlyFile(path, file_mode=file_mode)
        self._serializer = StdlibJsonSerializer()
        self._count_lock = threading.Lock()
        #: Rejects stored.
        self.count = 0
        #: Rejects that could not be stored (announced on stderr only).
        self.lost = 0

    @property
    def path(self) -> str | None:
        return None if self.file is None else self.file.path

    def report(
        self, rejected: TaskEventRejected, record: logging.LogRecord, *, redactor: Redactor | None = None
    ) -> None:
        """Store and announce one reject, redacted by ``redactor`` if given. Never raises."""
        try:
            entry = reject_entry(rejected, record)
            if redactor is not None:  # reasons quote values too: redact the whole line
                entry, counts = redactor.redact_data(entry)
                if counts:
                    entry["redactions"] = counts
            line = self._serializer.dumps(entry) + b"\n"
            if self.file is not None:
                self.file.write_line(line)
                announce = summary_line(entry, f"full record: {self.file.path}")
            else:
                announce = summary_line(entry, "full record: next line, prefixed wflogging-reject:")
                announce += "\nwflogging-reject: " + line.decode("utf-8").rstrip("\n")
        except Exception as exc:  # the rejects file itself failed: say what was lost
            self._count(lost=True)
            _to_stderr(_lost_line(rejected, exc, redactor))
            return
        self._count(lost=False)
        with contextlib.suppress(RecursionError):  # stored and counted: the announcement is extra
            _to_stderr(announce)

    def _count(self, *, lost: bool) -> None:
        with self._count_lock:
            if lost:
                self.lost += 1
            else:
                self.count += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _lost_line(rejected: TaskEventRejected, exc: Exception, redactor: Redactor | None) -> str:
    """The stderr line for a reject that could not be stored: its task id and reasons, truthfully."""
    why = f"NOT saved: {exception_text(exc)}"
    try:
        fields = rejected.fields
        brief = {
            "event": {"task_id": representable(fields.get("task_id"))},
            "reasons": representable([{"path": p.path, "problem": p.problem} for p in rejected.problems]),
        }
        if redactor is not None:
            brief, _ = redactor.redact_data(brief)
        return summary_line(brief, why)
    except Exception:  # even the summary failed: the count and the cause still go out
        return visible(f"wflogging: rejected a task event ({len(rejected.problems)} reasons); {why}")


def _to_stderr(line: str) -> None:
    stream = sys.stderr
    if stream is None:  # pythonw, daemons: nowhere to print
        return
    try:
        stream.write(line + "\n")
        stream.flush()
    except Exception:
        pass  # stderr closed or unwritable: the rejects file still has the record
