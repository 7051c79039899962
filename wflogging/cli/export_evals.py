"""``wflogging export --evals OUT``: failures (and rejections) as an evaluation set.

Each LLM call of a selected task becomes one JSON line in the chat-messages
format that OpenAI's fine-tuning and evals, and tools that read it (promptfoo,
Inspect, Hugging Face ``datasets``), take::

    {"messages": [{"role": "user", "content": "<the call's prompt>"},
                  {"role": "assistant", "content": "<the call's completion>"}],
     "metadata": {"event_id": "...", "workflow_run_id": "...", "task_id": "1.3",
                  "task_description": "...", "agent_name": "/qa:test-runner",
                  "model": "gpt-4.1-mini", "call_sequence": 1, "status": "Failed",
                  "start_time_utc": "...Z", "human_feedback": null | {"type", "content", "timestamp_utc"},
                  "selected_because": "failed" | "rejected" | "all"}}

Selected tasks: those whose ``status`` is ``Failed``, and those a human
rejected: ``human_feedback.type`` or ``.content`` matches the *rejection
pattern* (default :data:`REJECTED`, case-insensitive: "reject...", "denied",
"deny", "declined", "not approved"; ``--rejected-pattern`` sets another). With
``--all``, every task. Filters: ``--run`` (a run id prefix), ``--agent`` (an
agent name, exactly), ``--since`` (tasks started at or after a time). Lines are
written in the order of the input; the file is created ``0600`` (prompts may
hold secrets) under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from wflogging.cli.inputs import InputError
from wflogging.reader import EventLine, TornLine

if TYPE_CHECKING:
    import argparse

__all__ = ["REJECTED", "EvalSelection", "eval_records", "export_evals", "write_evals"]

#: What marks a human's answer as a rejection, unless another pattern is given.
REJECTED = r"\b(reject\w*|denied|deny|declined?|not approved)\b"


@attrs.frozen
class EvalSelection:
    """Which tasks become eval records."""

    every_task: bool = False
    run: str | None = None
    agent: str | None = None
    since: str | None = None  # canonical timestamp, inclusive
    rejected: re.Pattern[str] = attrs.field(default=re.compile(REJECTED, re.IGNORECASE))

    def reason(self, entry: dict[str, Any]) -> str | None:
        """Why the entry is selected (``"failed"``, ``"rejected"``, ``"all"``), or ``None``."""
        if self.run is not None and not str(entry.get("workflow_run_id", "")).lower().startswith(
            self.run.lower()
        ):
            return None
        if self.agent is not None and entry.get("agent_name") != self.agent:
            return None
        if self.since is not None and _start(entry) < self.since:
            return None
        if entry.get("status") == "Failed":
            return "failed"
        if self._rejected(entry.get("human_feedback")):
            return "rejected"
        return "all" if self.every_task else None

    def _rejected(self, feedback: object) -> bool:
        if not isinstance(feedback, dict):
            return False
        return any(self.rejected.search(str(feedback.get(key) or "")) for key in ("type", "content"))


def _start(entry: dict[str, Any]) -> str:
    timestamps = entry.get("timestamps")
    return str(timestamps.get("start_time_utc", "")) if isinstance(timestamps, dict) else ""


def eval_records(items: Iterable[EventLine | TornLine], selection: EvalSelection) -> Iterator[dict[str, Any]]:
    """One record per LLM call of each selected task (the format in the module docstring)."""
    for item in items:
        if not isinstance(item, EventLine):
            continue
        entry = item.entry
        reason = selection.reason(entry)
        if reason is None:
            continue
        trace = entry.get("llm_trace")
        for call in trace if isinstance(trace, list) else []:
            if not isinstance(call, dict):
                continue
            yield {
                "messages": [
                    {"role": "user", "content": str(call.get("prompt", ""))},
                    {"role": "assistant", "content": str(call.get("completion", ""))},
                ],
                "metadata": {
                    "event_id": entry.get("event_id"),
                    "workflow_run_id": entry.get("workflow_run_id"),
                    "task_id": entry.get("task_id"),
                    "task_description": entry.get("task_description"),
                    "agent_name": entry.get("agent_name"),
                    "model": call.get("model_name"),
                    "call_sequence": call.get("call_sequence"),
                    "status": entry.get("status"),
                    "start_time_utc": _start(entry) or None,
                    "human_feedback": entry.get("human_feedback"),
                    "selected_because": reason,
                },
            }


def write_evals(records: Iterable[dict[str, Any]], output: str) -> tuple[int, int]:
    """Write the records as JSON Lines to ``output`` (``-``: standard output); (records, tasks)."""
    if output == "-":
        return _write(records, sys.stdout)
    directory, name = os.path.split(os.path.abspath(output))
    temp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            counts = _write(records, stream)
        os.replace(temp, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return counts


def _write(records: Iterable[dict[str, Any]], stream: Any) -> tuple[int, int]:
    count = 0
    events: set[object] = set()
    for record in records:
        # ensure_ascii keeps each record one line whatever the text holds (U+2028, lone surrogates).
        stream.write(json.dumps(record, ensure_ascii=True) + "\n")
        count += 1
        events.add(record["metadata"]["event_id"])
    return count, len(events)


def export_evals(args: argparse.Namespace, items: Iterable[EventLine | TornLine]) -> int:
    """``wflogging export --evals OUT``: what the dispatcher calls; returns the exit status."""
    from wflogging.cli.report import parse_moment

    try:
        since = None if args.since is None else parse_moment(args.since)
    except ValueError as exc:
        raise InputError(f"--since: {exc}") from None
    try:
        pattern = re.compile(
            REJECTED if args.rejected_pattern is None else args.rejected_pattern, re.IGNORECASE
        )
    except re.error as exc:
        raise InputError(f"--rejected-pattern: {exc}") from None
    selection = EvalSelection(
        every_task=args.all, run=args.run, agent=args.agent, since=since, rejected=pattern
    )
    records, tasks = write_evals(eval_records(items, selection), args.evals)
    if args.evals != "-":
        print(f"wrote {records} prompt -> completion pairs of {tasks} tasks to {args.evals}")
    return 0
