"""A small simulated workflow that writes real task events: ``python -m wflogging demo``.

The plan has five tasks run by three agents: one task fails, one pauses for the
Director's approval and is resumed once approved. The LLM calls are canned (no
network); everything else is the library used as an orchestrator would use it.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
import os
from collections import Counter
from pathlib import Path
from typing import Any

from wflogging.context import workflow_run
from wflogging.schema import FeedbackType, Status

__all__ = ["run_demo"]

_PLAN: list[dict[str, Any]] = [
    {
        "task_id": "1.1",
        "task_description": "Read the feature request and write the acceptance criteria",
        "agent_name": "/plan:analyst",
        "calls": [("claude-sonnet-4", "Summarise the request:\nAdd CSV export.", "Criteria: 1) ...")],
        "seconds": 4.2,
    },
    {
        "task_id": "1.2",
        "task_description": "Implement CSV export in reports/export.py",
        "agent_name": "/dev:implement-pro",
        "calls": [
            ("claude-sonnet-4", "Write export_csv(rows) with a header row", "def export_csv(rows): ..."),
            ("gpt-4.1-mini", "Review this diff for bugs:\n+def export_csv", 'Quote fields containing ","'),
        ],
        "seconds": 31.0,
    },
    {
        "task_id": "1.3",
        "task_description": "Run the test suite",
        "agent_name": "/qa:test-runner",
        "calls": [("gpt-4.1-mini", "Explain this failure: UnicodeEncodeError", "Open the file as UTF-8")],
        "seconds": 12.5,
        "status": Status.FAILED,
    },
    {
        "task_id": "2.1",
        "task_description": "Deploy to production (needs the Director's approval)",
        "agent_name": "/ops:deploy",
        "calls": [("claude-sonnet-4", "Draft the release notes for CSV export", "Release 2.4: CSV export")],
        "seconds": 2.0,
        "status": Status.HIL_PAUSED,
    },
    {
        "task_id": "2.1",
        "task_description": "Deploy to production (needs the Director's approval)",
        "agent_name": "/ops:deploy",
        "calls": [],
        "seconds": 48.0,
        "feedback": (FeedbackType.HIL_APPROVAL, "approve"),
    },
]

_PRICES_PER_MILLION = {"claude-sonnet-4": (3.0, 15.0), "gpt-4.1-mini": (0.4, 1.6)}


def _cost(calls: list[tuple[str, str, str]]) -> dict[str, Any]:
    tokens = {"input": 0, "output": 0}
    usd = 0.0
    for model, prompt, completion in calls:
        input_tokens, output_tokens = len(prompt) // 4 + 1, len(completion) // 4 + 1
        tokens["input"] += input_tokens
        tokens["output"] += output_tokens
        price_in, price_out = _PRICES_PER_MILLION[model]
        usd += (input_tokens * price_in + output_tokens * price_out) / 1e6
    return {"tokens": tokens, "total_cost_usd": round(usd, 8)}


def run_demo(path: str | os.PathLike[str], *, start: dt.datetime | None = None) -> str:
    """Run the simulated workflow, appending its events to ``path``; returns the run id."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"events": {"class": "wflogging.TaskEventHandler", "filename": os.fspath(path)}},
            "loggers": {"demo.orchestrator": {"handlers": ["events"], "level": "INFO", "propagate": False}},
        }
    )
    logger = logging.getLogger("demo.orchestrator")
    clock = start or dt.datetime.now(dt.timezone.utc)
    try:
        with workflow_run() as run_id:
            for task in _PLAN:
                began, clock = clock, clock + dt.timedelta(seconds=task["seconds"])
                feedback = task.get("feedback")
                logger.info(
                    "task %s finished",
                    task["task_id"],
                    extra={
                        "task_id": task["task_id"],
                        "task_description": task["task_description"],
                        "agent_name": task["agent_name"],
                        "timestamps": {"start_time_utc": began, "end_time_utc": clock},
                        "status": task.get("status", Status.SUCCESS),
                        "cost_data": _cost(task["calls"]),
                        "llm_trace": [
                            {"model_name": model, "prompt": prompt, "completion": completion}
                            for model, prompt, completion in task["calls"]
                        ],
                        "human_feedback": None
                        if feedback is None
                        else {"type": feedback[0], "content": feedback[1], "timestamp_utc": began},
                    },
                )
    finally:
        for handler in logger.handlers[:]:
            handler.close()
            logger.removeHandler(handler)
    return run_id


def summarize(path: str | os.PathLike[str]) -> str:
    """A few lines about the events in ``path``: counts by status and total cost."""
    import json

    events = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    statuses = Counter(event["status"] for event in events)
    cost = sum(event["cost_data"].get("total_cost_usd", 0) for event in events)
    calls = sum(len(event["llm_trace"]) for event in events)
    by_status = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    return f"{len(events)} events ({by_status}); {calls} LLM calls; ${cost:.6f} in total"
