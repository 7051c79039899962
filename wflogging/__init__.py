"""wflogging: a trustworthy, analysable record of every task an agent workflow runs.

Log one schema-conformant JSON entry per task with plain :mod:`logging` calls::

    import logging, wflogging

    logging.getLogger("orchestrator").info(
        "task done",
        extra={"task_id": "1.1", "task_description": "...", "agent_name": "/dev:implement-pro",
               "timestamps": {...}, "status": "Success"},
    )

with a :class:`TaskEventHandler` (or any handler using :class:`TaskEventFormatter`)
configured, for instance through :func:`logging.config.dictConfig`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Imported now, whatever is used: importing wflogging installs the record factory that
# stamps each record with the run current where it is made (wflogging.context).
from wflogging.context import RUN_ID_ENV, RunContextFilter, current_run_id, workflow_run

if TYPE_CHECKING:  # the rest is imported on first use; type checkers see it all here
    from wflogging.event import TaskEventRejected, build_entry
    from wflogging.formatter import NotATaskEvent, TaskEventFilter, TaskEventFormatter
    from wflogging.handler import TaskEventHandler
    from wflogging.model import HumanFeedback, LLMCall, TaskEvent, Timestamps
    from wflogging.pricing import ModelPrice, PriceTable, load_prices
    from wflogging.queueing import QueueFull, ResilientQueueListener, TaskEventQueueHandler
    from wflogging.reader import EventLine, TornLine, entry_problems, read_events
    from wflogging.recorder import Clock, TaskRecorder, current_task, record_task
    from wflogging.recovery import recover
    from wflogging.redaction import DEFAULT_RULES, FieldSizeCap, Redactor, Rule
    from wflogging.schema import SCHEMA_VERSION, FeedbackType, Problem, Status, load_json_schema

    __version__: str

# Public name -> the module that defines it. A program that only reads events (the
# command line, say) then never imports the formatter, the handlers or the recorder.
_HOMES = {
    **dict.fromkeys(("TaskEventRejected", "build_entry"), "event"),
    **dict.fromkeys(("NotATaskEvent", "TaskEventFilter", "TaskEventFormatter"), "formatter"),
    "TaskEventHandler": "handler",
    "recover": "recovery",
    **dict.fromkeys(("HumanFeedback", "LLMCall", "TaskEvent", "Timestamps"), "model"),
    **dict.fromkeys(("ModelPrice", "PriceTable", "load_prices"), "pricing"),
    **dict.fromkeys(("QueueFull", "ResilientQueueListener", "TaskEventQueueHandler"), "queueing"),
    **dict.fromkeys(("EventLine", "TornLine", "entry_problems", "read_events"), "reader"),
    **dict.fromkeys(("Clock", "TaskRecorder", "current_task", "record_task"), "recorder"),
    **dict.fromkeys(("DEFAULT_RULES", "FieldSizeCap", "Redactor", "Rule"), "redaction"),
    **dict.fromkeys(("SCHEMA_VERSION", "FeedbackType", "Problem", "Status", "load_json_schema"), "schema"),
}

__all__ = [
    "DEFAULT_RULES",
    "RUN_ID_ENV",
    "SCHEMA_VERSION",
    "Clock",
    "EventLine",
    "FeedbackType",
    "FieldSizeCap",
    "HumanFeedback",
    "LLMCall",
    "ModelPrice",
    "NotATaskEvent",
    "PriceTable",
    "Problem",
    "QueueFull",
    "Redactor",
    "ResilientQueueListener",
    "Rule",
    "RunContextFilter",
    "Status",
    "TaskEvent",
    "TaskEventFilter",
    "TaskEventFormatter",
    "TaskEventHandler",
    "TaskEventQueueHandler",
    "TaskEventRejected",
    "TaskRecorder",
    "Timestamps",
    "TornLine",
    "__version__",
    "build_entry",
    "current_run_id",
    "current_task",
    "entry_problems",
    "load_json_schema",
    "load_prices",
    "read_events",
    "record_task",
    "recover",
    "workflow_run",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is not None:
        value: object = getattr(importlib.import_module(f"wflogging.{home}"), name)
        globals()[name] = value  # found directly from now on
        return value
    # __version__ is read from the installed metadata on first use: importlib.metadata
    # costs ~45 ms, too much to charge every program that imports wflogging to log.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("wflogging")
        except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
