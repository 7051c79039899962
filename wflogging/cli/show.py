"""``wflogging show``: one event, readably: header fields, then each LLM call's prompt and completion."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any

from wflogging.cli.render import seconds
from wflogging.reader import EventLine, TornLine

__all__ = ["describe_event", "matching_events"]


def matching_events(
    items: Iterable[EventLine | TornLine], *, event_id: str | None, run: str | None, task: str | None
) -> Iterator[EventLine]:
    """Events whose id starts with ``event_id``, or of run ``run`` (id prefix) and task ``task``."""
    wanted_event = None if event_id is None else event_id.lower()
    wanted_run = None if run is None else run.lower()
    for item in items:
        if isinstance(item, TornLine):
            continue
        entry = item.entry
        if wanted_event is not None:
            if str(entry.get("event_id", "")).lower().startswith(wanted_event):
                yield item
            continue
        if (wanted_run is None or str(entry.get("workflow_run_id", "")).lower().startswith(wanted_run)) and (
            task is None or entry.get("task_id") == task
        ):
            yield item


def describe_event(item: EventLine, width: int = 100) -> str:
    """The event as text for people: fields first, then every call with its number and model."""
    entry = item.entry
    timestamps = _mapping(entry.get("timestamps"))
    lines = [
        f"event      {entry.get('event_id')}    ({item.source}:{item.line_number})",
        f"run        {entry.get('workflow_run_id')}",
        f"task       {entry.get('task_id')}: {entry.get('task_description')}",
        f"agent      {entry.get('agent_name')}",
        f"status     {entry.get('status')}",
        f"started    {timestamps.get('start_time_utc')}",
        f"ended      {timestamps.get('end_time_utc')}  ({_duration(timestamps.get('duration_seconds'))})",
        f"cost_data  {_compact(entry.get('cost_data'))}",
    ]
    feedback = entry.get("human_feedback")
    if isinstance(feedback, dict):
        lines.append(
            f"feedback   {feedback.get('type')} at {feedback.get('timestamp_utc')}: "
            f"{feedback.get('content')!r}"
        )
    extensions = entry.get("extensions")
    if isinstance(extensions, dict):
        error = extensions.get("error")
        if isinstance(error, dict):
            lines.append(f"error      {error.get('type')}: {error.get('message')}")
            traceback = error.get("traceback")
            if isinstance(traceback, str) and traceback:
                lines += ["", "traceback:", *_indent(traceback, width)]
        others = {key: value for key, value in extensions.items() if key != "error"}
        if others:
            lines.append(f"extensions {_compact(others)}")
    calls = entry.get("llm_trace")
    calls = calls if isinstance(calls, list) else []
    lines.append(f"llm calls  {len(calls)}")
    for position, call in enumerate(calls, start=1):
        lines += _describe_call(_mapping(call), position, len(calls), width)
    return "\n".join(lines) + "\n"


def _describe_call(call: dict[str, Any], position: int, count: int, width: int) -> list[str]:
    number = call.get("call_sequence", position)
    title = f"── call {number} of {count} · {call.get('model_name')} "
    usage = {key: value for key, value in call.items() if key not in _CALL_KEYS}
    lines = ["", title + "─" * max(width - len(title), 3)]
    if usage:
        lines.append(f"   {_compact(usage)}")
    for label in ("prompt", "completion"):
        text = call.get(label)
        lines.append(f"{label}:")
        lines += _indent(text if isinstance(text, str) else json.dumps(text), width)
    return lines


_CALL_KEYS = frozenset(("call_sequence", "model_name", "prompt", "completion"))


def _indent(text: str, width: int) -> list[str]:
    """Wrapped to ``width``, indented, keeping the text's own line breaks (code stays readable)."""
    if not text:
        return ["    (empty)"]
    lines: list[str] = []
    for paragraph in text.splitlines():
        wrapped = textwrap.wrap(
            paragraph.expandtabs(4),
            width=max(width - 4, 20),
            initial_indent="    ",
            subsequent_indent="    ",
            replace_whitespace=False,
            drop_whitespace=False,
            break_on_hyphens=False,
        )
        lines += [line.rstrip() for line in wrapped] or [""]
    return lines


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _duration(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value} s, {seconds(float(value))}"
    return "no duration"
