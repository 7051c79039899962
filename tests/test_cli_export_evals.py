"""``wflogging export --evals``: failed and rejected tasks as chat-messages JSONL, read back."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

import wflogging
from wflogging.cli import main

START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
METADATA_KEYS = {
    "event_id",
    "workflow_run_id",
    "task_id",
    "task_description",
    "agent_name",
    "model",
    "call_sequence",
    "status",
    "start_time_utc",
    "human_feedback",
    "selected_because",
}


def log_events(path: Path, tasks: list[dict[str, Any]]) -> str:
    handler = wflogging.TaskEventHandler(path, journal=False, strict=True)
    log = logging.getLogger(f"evals-{uuid.uuid4()}")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with wflogging.workflow_run() as run_id:
            for number, task in enumerate(tasks):
                start = START + dt.timedelta(hours=number)
                log.info(
                    "task",
                    extra={
                        "task_id": task["id"],
                        "task_description": f"task {task['id']}",
                        "agent_name": task.get("agent", "/a"),
                        "timestamps": {
                            "start_time_utc": start,
                            "end_time_utc": start + dt.timedelta(seconds=1),
                        },
                        "status": task["status"],
                        "llm_trace": [
                            {
                                "model_name": f"model-{n}",
                                "prompt": f"{task['id']} prompt {n}\u2028",
                                "completion": f"c{n}",
                            }
                            for n in range(task.get("calls", 1))
                        ],
                        "human_feedback": task.get("feedback"),
                    },
                )
    finally:
        log.removeHandler(handler)
        handler.close()
    return run_id


def read_back(path: Path) -> list[dict[str, Any]]:
    """Read the documented format: one {messages: [user, assistant], metadata} object per line."""
    records = []
    for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
        record = json.loads(line)
        assert set(record) == {"messages", "metadata"}
        assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
        assert all(
            isinstance(m["content"], str) and set(m) == {"role", "content"} for m in record["messages"]
        )
        assert set(record["metadata"]) == METADATA_KEYS
        records.append(record)
    return records


def feedback(kind: str, content: str) -> dict[str, str]:
    return {"type": kind, "content": content, "timestamp_utc": "2026-03-01T10:00:00.000000Z"}


TASKS: list[dict[str, Any]] = [
    {"id": "1", "status": "Success"},
    {"id": "2", "status": "Failed", "calls": 2, "agent": "/b"},
    {
        "id": "3",
        "status": "HIL-Paused",
        "feedback": feedback("HIL-Approval", "Rejected: the plan skips tests"),
    },
    {"id": "4", "status": "Success", "feedback": feedback("HIL-Approval", "approve")},
    {"id": "5", "status": "Failed", "calls": 0},
]


def test_failed_and_rejected_tasks_read_back_through_the_documented_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    run_id = log_events(events, TASKS)
    out = tmp_path / "evals.jsonl"
    assert main(["export", "--evals", str(out), str(events)]) == 0
    assert capsys.readouterr().out == f"wrote 3 prompt -> completion pairs of 2 tasks to {out}\n"
    records = read_back(out)
    assert [(r["metadata"]["task_id"], r["metadata"]["call_sequence"]) for r in records] == [
        ("2", 1),
        ("2", 2),
        ("3", 1),
    ]
    assert [r["metadata"]["selected_because"] for r in records] == ["failed", "failed", "rejected"]
    assert records[0]["messages"][0]["content"] == "2 prompt 0\u2028"
    assert records[1]["messages"][1]["content"] == "c1"
    assert records[1]["metadata"]["model"] == "model-1"
    assert records[2]["metadata"]["human_feedback"]["content"] == "Rejected: the plan skips tests"
    assert {r["metadata"]["workflow_run_id"] for r in records} == {run_id}
    ids = {
        json.loads(line)["task_id"]: json.loads(line)["event_id"] for line in events.read_text().splitlines()
    }
    assert records[0]["metadata"]["event_id"] == ids["2"]
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"


def test_all_and_the_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    log_events(events, TASKS)
    other_run = log_events(events, [{"id": "9", "status": "Failed"}])
    out = tmp_path / "evals.jsonl"
    assert main(["export", "--evals", str(out), "--all", str(events)]) == 0
    assert [r["metadata"]["task_id"] for r in read_back(out)] == ["1", "2", "2", "3", "4", "9"]
    assert main(["export", "--evals", str(out), "--agent", "/b", str(events)]) == 0
    assert {r["metadata"]["task_id"] for r in read_back(out)} == {"2"}
    assert main(["export", "--evals", str(out), "--run", other_run[:8], str(events)]) == 0
    assert [r["metadata"]["task_id"] for r in read_back(out)] == ["9"]
    assert main(["export", "--evals", str(out), "--all", "--since", "2026-03-01T11:00:00Z", str(events)]) == 0
    assert [r["metadata"]["task_id"] for r in read_back(out)] == ["3", "4"]  # "9" started at 09:00
    assert main(["export", "--evals", str(out), "--rejected-pattern", "approve", str(events)]) == 0
    assert [r["metadata"]["task_id"] for r in read_back(out)] == ["2", "2", "4", "9"]
    capsys.readouterr()
    assert main(["export", "--evals", "-", "--run", other_run[:8], str(events)]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["task_id"] == "9"


def test_works_on_the_demo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "demo.jsonl"
    assert main(["demo", "-o", str(events)]) == 0
    out = tmp_path / "evals.jsonl"
    assert main(["export", "--evals", str(out), str(events)]) == 0
    failed = [json.loads(line) for line in events.read_text().splitlines() if '"Failed"' in line]
    records = read_back(out)
    assert [r["metadata"]["event_id"] for r in records] == [
        e["event_id"] for e in failed for _ in e["llm_trace"] if e["status"] == "Failed"
    ]


def test_export_needs_exactly_one_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    log_events(events, TASKS)
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(events)])
    assert exit_info.value.code == 2
    assert "one of the arguments --otlp-endpoint --evals" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--evals", "-", "--otlp-endpoint", "http://127.0.0.1:9/v1/traces", str(events)])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
