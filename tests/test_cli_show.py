"""``wflogging show``: one event readably, or exactly as stored."""

from __future__ import annotations

import pytest

import wflogging
from tests.conftest import EventLog
from tests.test_cli_support import events_in, log_task, run_cli

LONG_PROMPT = (
    "Refactor the exporter so that " + "every field is quoted " * 20 + "\n    def keep(self):\n        pass"
)


def test_show_by_event_id_prints_fields_and_numbered_calls(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """Fields first, then each call with its number and model; long lines wrapped, code indentation kept."""
    calls = [
        {"model_name": "claude-sonnet-4", "prompt": LONG_PROMPT, "completion": "Done."},
        {"model_name": "gpt-4.1-mini", "prompt": "Review", "completion": ""},
    ]
    log_task(event_log, task_id="1.2", llm_trace=calls)
    event = events_in(event_log.path)[0]
    result = run_cli(capsys, "show", "--event", event["event_id"][:8], "--width", "60", str(event_log.path))
    assert result.code == 0
    out = result.out
    assert f"event      {event['event_id']}" in out
    assert "task       1.2: Write the acceptance criteria" in out
    assert "── call 1 of 2 · claude-sonnet-4" in out
    assert "── call 2 of 2 · gpt-4.1-mini" in out
    assert max(len(line) for line in out.splitlines() if not line.startswith(("event", "run", "cost"))) <= 60
    assert "            pass" in out  # the prompt's own indentation survives wrapping
    assert out.index("call 1 of 2") < out.index("call 2 of 2")
    assert "    (empty)" in out


def test_show_raw_prints_the_stored_line_exactly(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """--raw prints the line's bytes as stored."""
    log_task(event_log, task_id="1.1")
    log_task(
        event_log,
        task_id="1.2",
        llm_trace=[{"model_name": "m", "prompt": "ünïcode \u2028", "completion": ""}],
    )
    line = event_log.path.read_bytes().splitlines()[1]
    event_id = events_in(event_log.path)[1]["event_id"]
    result = run_cli(capsys, "show", "--raw", "--event", event_id, str(event_log.path))
    assert result.out.encode() == line + b"\n"


def test_show_by_run_and_task_lists_every_event_of_the_task(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """--run and --task show the pause and the resumed event of a task, in file order."""
    log_task(event_log, task_id="2.1", status="HIL-Paused")
    log_task(event_log, task_id="2.2")
    log_task(
        event_log,
        task_id="2.1",
        human_feedback={
            "type": "HIL-Approval",
            "content": "approve",
            "timestamp_utc": "2026-03-01T10:05:00Z",
        },
    )
    result = run_cli(capsys, "show", "--run", run_id[:6], "--task", "2.1", str(event_log.path))
    assert result.code == 0
    assert result.out.count("event      ") == 2
    assert result.out.index("HIL-Paused") < result.out.index("feedback   HIL-Approval")


def test_show_without_a_match_exits_one(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """No matching event: a message on stderr and exit 1."""
    log_task(event_log)
    result = run_cli(capsys, "show", "--event", "ffffffff", str(event_log.path))
    assert (result.code, result.out) == (1, "")
    assert "no event ffffffff" in result.err


def test_show_needs_a_selection(event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str) -> None:
    """--run without --task is a usage error with a clear line."""
    log_task(event_log)
    result = run_cli(capsys, "show", "--run", run_id, str(event_log.path))
    assert result.code == 2
    assert "show --run ID needs --task TASK_ID" in result.err


def test_show_task_alone_shows_it_in_every_run(
    event_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """--task without --run shows that task's events from every run in the files."""
    runs = []
    for _ in range(2):
        with wflogging.workflow_run() as run:
            runs.append(run)
            log_task(event_log)
    result = run_cli(capsys, "show", "--task", "1.1", str(event_log.path))
    assert result.code == 0
    assert [line.split()[1] for line in result.out.splitlines() if line.startswith("run ")] == runs
