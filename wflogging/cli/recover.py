"""``wflogging recover EVENTS_FILE``: log the tasks whose process died inside ``record_task``."""

from __future__ import annotations

from typing import TextIO

from wflogging.journal import Recovery
from wflogging.recovery import recover
from wflogging.terminal import visible


def run_recover(events_file: str, journal_dir: str | None, out: TextIO) -> Recovery:
    """Recover, then say what was done (task ids and agents are logged text: shown escaped)."""
    return _report(recover(events_file, journal_dir=journal_dir), _Escaped(out))


class _Escaped:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> None:
        self._out.write(visible(text))


def _report(result: Recovery, out: _Escaped) -> Recovery:
    """One line per note (all printing of logged text is here)."""
    for task, event in result.recovered:
        header = task.header
        out.write(
            f"recovered task {header.get('task_id')} ({header.get('agent_name')}) of run "
            f"{str(header.get('workflow_run_id'))[:8]}: process {header.get('pid')} is gone; "
            f"{len(event['llm_trace'])} call(s); Failed event {event['event_id']}\n"
        )
    for task in result.already_logged:
        out.write(f"removed the note of task {task.header.get('task_id')}: its event was already logged\n")
    for task in result.alive:
        out.write(f"left alone: task {task.header.get('task_id')} (process {task.pid} is running)\n")
    for task in result.other_host:
        out.write(f"left alone: task {task.header.get('task_id')} ran on host {task.header.get('host')}\n")
    for name, why in result.unreadable:
        out.write(f"left in place: {name}: {why}\n")
    noted = (result.recovered, result.already_logged, result.alive, result.other_host, result.unreadable)
    if not any(noted):
        out.write("no open tasks\n")
    return result
