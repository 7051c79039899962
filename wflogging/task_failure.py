"""Why a recorded task failed: its reason, and the ``ERROR`` record on ``<logger>.failures``.

A failed event has exactly the SOP's ten fields, which hold no reason; the reason
goes to the logger ``<logger>.failures`` as an ordinary record (and, on request,
under the event's ``extensions.error``: see :mod:`wflogging.recorder`, Failure details).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from wflogging.terminal import say

__all__ = ["failure_of", "log_failure"]


def failure_of(exc: BaseException) -> dict[str, Any]:
    """``{"reason", "type", "message"}`` of the exception that ended a task."""
    # A CancelledError can exist only once asyncio is imported, so the recorder need
    # not import asyncio itself (it costs a sync-only orchestrator ~25 ms at start-up).
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and isinstance(exc, asyncio.CancelledError):
        reason = "cancelled"
    elif isinstance(exc, KeyboardInterrupt):
        reason = "interrupted"
    else:
        reason = "exception"
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not cost the event
        message = f"<{type(exc).__name__} with a failing str()>"
    return {"reason": reason, "type": type(exc).__qualname__, "message": message}


def log_failure(
    logger: logging.Logger | logging.LoggerAdapter[Any],
    *,
    task_id: str,
    agent_name: str,
    event_id: str,
    workflow_run_id: str | None,
    exc: BaseException | None,
    reported: dict[str, Any] | None,
    stacklevel: int,
) -> None:
    """Log why the task failed on ``<logger>.failures`` (never raises).

    ``exc`` is the exception that ended the task, else ``reported`` the reason given
    to :meth:`~wflogging.TaskRecorder.fail`. ``stacklevel`` is ``logger.log``'s, from
    the caller of this function.
    """
    try:
        failures = logging.getLogger(f"{_logger_of(logger).name}.failures")
        if not failures.isEnabledFor(logging.ERROR):
            return
        failure = failure_of(exc) if exc is not None else reported or {"reason": "reported"}
        detail = failure.get("type") or failure["reason"]
        message = failure.get("message")
        failures.error(
            "task %s (%s) failed: %s%s [event %s]",
            task_id,
            agent_name,
            detail,
            f": {message}" if message else "",
            event_id,
            exc_info=exc if exc is not None else None,
            extra={
                "event_id": event_id,
                "workflow_run_id": workflow_run_id,
                "failure_reason": failure["reason"],
            },
            stacklevel=stacklevel + 1,
        )
    except Exception as bug:  # the event is logged already; its reason must not break the task
        say(f"wflogging: could not log why task {task_id!r} failed: {type(bug).__name__}: {bug}")


def _logger_of(logger: logging.Logger | logging.LoggerAdapter[Any]) -> logging.Logger:
    while isinstance(logger, logging.LoggerAdapter):
        logger = logger.logger
    return logger
