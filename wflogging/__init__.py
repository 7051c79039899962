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

from wflogging.context import RUN_ID_ENV, RunContextFilter, current_run_id, workflow_run
from wflogging.event import TaskEventRejected, build_entry
from wflogging.formatter import NotATaskEvent, TaskEventFilter, TaskEventFormatter
from wflogging.handler import TaskEventHandler
from wflogging.model import HumanFeedback, LLMCall, TaskEvent, Timestamps
from wflogging.pricing import ModelPrice, PriceTable, load_prices
from wflogging.queueing import QueueFull, ResilientQueueListener, TaskEventQueueHandler
from wflogging.reader import EventLine, TornLine, entry_problems, read_events
from wflogging.recorder import Clock, TaskRecorder, current_task, record_task
from wflogging.redaction import DEFAULT_RULES, FieldSizeCap, Redactor, Rule
from wflogging.schema import SCHEMA_VERSION, FeedbackType, Problem, Status, load_json_schema

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
    "workflow_run",
]


def __getattr__(name: str) -> str:
    # __version__ is read from the installed metadata on first use: importlib.metadata
    # costs ~45 ms, too much to charge every program that imports wflogging to log.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("wflogging")
        except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
