"""The demo: an orchestrator-shaped workflow on record_task that writes real, valid events."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema

import wflogging
from wflogging.demo import run_demo, summarize

START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_demo_writes_a_valid_plan_with_a_failure_a_pause_and_an_approved_resume(
    tmp_path: Path, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Every demo event validates; the plan shows success, a failure, and a pause resumed on approval."""
    path = tmp_path / "demo.jsonl"
    run_id = run_demo(path, start=START)
    events = read(path)
    for event in events:
        schema_validator.validate(event)
        wflogging.TaskEvent.from_dict(event)
    assert not (tmp_path / "demo.rejects.jsonl").exists()
    assert {event["workflow_run_id"] for event in events} == {run_id}
    assert [(event["task_id"], event["status"]) for event in events] == [
        ("1.1", "Success"),
        ("1.2", "Success"),
        ("1.3", "Failed"),
        ("2.1", "HIL-Paused"),
        ("2.1", "Success"),
        ("2.2", "Success"),
    ]
    assert len({event["agent_name"] for event in events}) >= 4
    assert all(list(event) == list(wflogging.schema.FIELD_ORDER) for event in events)  # the SOP's ten
    paused, resumed = events[3], events[4]
    assert paused["human_feedback"] is None
    assert (resumed["human_feedback"]["type"], resumed["human_feedback"]["content"]) == (
        "HIL-Approval",
        "approve",
    )
    # the Director's wait lies between the pause and the resume, in neither task's duration
    assert instant(resumed["timestamps"]["start_time_utc"]) > instant(paused["timestamps"]["end_time_utc"])
    assert instant(events[0]["timestamps"]["start_time_utc"]) == START


def test_demo_costs_roll_up_per_model_to_each_event_total(tmp_path: Path) -> None:
    """Each demo event's total_cost_usd is the sum of its models' costs, and every call is priced."""
    path = tmp_path / "demo.jsonl"
    run_demo(path, start=START)
    for event in read(path):
        cost = event["cost_data"]
        assert cost["llm_calls"] == len(event["llm_trace"]) >= 1
        assert "unpriced_calls" not in cost
        assert cost["total_cost_usd"] > 0
        assert abs(cost["total_cost_usd"] - sum(m["cost_usd"] for m in cost["models"].values())) < 1e-9
        assert cost["tokens"]["input"] == sum(m["input_tokens"] for m in cost["models"].values())


def test_summarize_counts_one_run_or_the_whole_file(tmp_path: Path) -> None:
    """summarize reports status counts, calls and cost, for the whole file or for one run of it."""
    path = tmp_path / "demo.jsonl"
    first = run_demo(path, start=START)
    second = run_demo(path, start=START + dt.timedelta(days=1))
    assert first != second
    events = read(path)
    one_run = [event for event in events if event["workflow_run_id"] == first]
    total = sum(event["cost_data"]["total_cost_usd"] for event in one_run)
    calls = sum(len(event["llm_trace"]) for event in one_run)
    assert summarize(path, run_id=first) == (
        f"6 events (1 Failed, 1 HIL-Paused, 4 Success); {calls} LLM calls; ${total:.6f} in total"
    )
    assert summarize(path).startswith("12 events (2 Failed, 2 HIL-Paused, 8 Success)")


def test_demo_leaves_the_callers_logging_alone(tmp_path: Path) -> None:
    """Running the demo neither closes the caller's handlers nor sends events to the root logger."""
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    collector = Collect()
    root.addHandler(collector)
    try:
        run_demo(tmp_path / "demo.jsonl", start=START)
        logging.getLogger("wflogging.tests.demo").warning("still here")
    finally:
        root.removeHandler(collector)
    assert [record.getMessage() for record in seen] == ["still here"]


def test_python_m_wflogging_demo_writes_valid_events(
    tmp_path: Path, schema_validator: jsonschema.protocols.Validator
) -> None:
    """``python -m wflogging demo -o FILE`` exits 0 and leaves schema-valid events in FILE."""
    path = tmp_path / "cli-demo.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "wflogging", "demo", "-o", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    events = read(path)
    assert len(events) == 6
    for event in events:
        schema_validator.validate(event)
    # The failed task's reason is not in its event: the demo shows the failures log beside it.
    (failed,) = [event for event in events if event["status"] == "Failed"]
    shown = [line for line in result.stdout.splitlines() if "orchestrator.failures:" in line]
    assert len(shown) == 1
    assert "task 1.3" in shown[0]
    assert "SuiteFailed" in shown[0]
    assert failed["event_id"] in shown[0]
