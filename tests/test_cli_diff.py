"""``wflogging diff``: deltas checked against a recomputation from the raw JSON lines."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import statistics
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import wflogging
from wflogging.cli import main

START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def write_runs(path: Path, runs: list[dict[str, dict[str, Any]]]) -> list[str]:
    """Log each run's tasks through a real TaskEventHandler; returns the run ids in order."""
    handler = wflogging.TaskEventHandler(path, journal=False, strict=True)
    log = logging.getLogger(f"diff-{uuid.uuid4()}")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    run_ids = []
    try:
        for number, tasks in enumerate(runs):
            with wflogging.workflow_run() as run_id:
                run_ids.append(run_id)
                begin = START + dt.timedelta(hours=number)
                for task_id, spec in tasks.items():
                    for part in range(spec.get("events", 1)):
                        start = begin + dt.timedelta(minutes=part)
                        log.info(
                            "task",
                            extra={
                                "task_id": task_id,
                                "task_description": f"task {task_id}",
                                "agent_name": spec["agent"],
                                "timestamps": {
                                    "start_time_utc": start,
                                    "end_time_utc": start + dt.timedelta(seconds=spec["seconds"]),
                                },
                                "status": spec["status"]
                                if part == spec.get("events", 1) - 1
                                else "HIL-Paused",
                                "cost_data": {
                                    "total_cost_usd": spec["cost"],
                                    "tokens": {"input": spec["input"], "output": spec["output"]},
                                },
                                "llm_trace": [
                                    {"model_name": "m", "prompt": prompt, "completion": "ok"}
                                    for prompt in spec["prompts"]
                                ],
                            },
                        )
    finally:
        log.removeHandler(handler)
        handler.close()
    return run_ids


def random_run(rng: random.Random, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {
        task_id: {
            "agent": rng.choice(["/a", "/b", "/c"]),
            "seconds": rng.randint(1, 500) / 4,
            "status": rng.choice(["Success", "Success", "Failed"]),
            "cost": rng.randint(0, 10**6) / 10**7,
            "input": rng.randint(0, 9000),
            "output": rng.randint(0, 900),
            "prompts": [rng.choice(["plan it", "write it", "test it"]) for _ in range(rng.randint(0, 3))],
            "events": rng.randint(1, 2),
        }
        for task_id in task_ids
    }


def recompute(path: Path, run_id: str, key: str) -> dict[str, dict[str, Any]]:
    """Per task (key="task_id") or agent: sums and last status, straight from the JSON lines."""
    groups: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "cost": Decimal(0),
            "input": 0,
            "output": 0,
            "calls": 0,
            "seconds": Decimal(0),
            "last": ("", None),
        }
    )
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["workflow_run_id"] != run_id:
            continue
        group = groups[entry[key]]
        group["cost"] += Decimal(repr(entry["cost_data"]["total_cost_usd"]))
        group["input"] += entry["cost_data"]["tokens"]["input"]
        group["output"] += entry["cost_data"]["tokens"]["output"]
        group["calls"] += len(entry["llm_trace"])
        group["seconds"] += Decimal(repr(entry["timestamps"]["duration_seconds"]))
        start = entry["timestamps"]["start_time_utc"]
        if start >= group["last"][0]:
            group["last"] = (start, entry["status"])
    return dict(groups)


def run_diff(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["diff", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("seed", range(5))
def test_deltas_match_a_recomputation_from_the_raw_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    rng = random.Random(seed)
    events = tmp_path / "events.jsonl"
    base_id, new_id = write_runs(
        events,
        [random_run(rng, ["1.1", "1.2", "1.10", "2.1"]), random_run(rng, ["1.1", "1.2", "1.10", "3.1"])],
    )
    code, found = run_diff(capsys, base_id[:8], new_id[:8], str(events))
    assert code == 0
    for key, section in (("task_id", "tasks"), ("agent_name", "agents")):
        base, new = recompute(events, base_id, key), recompute(events, new_id, key)
        assert sorted(found[section]) == sorted(set(base) | set(new))
        for name in set(base) & set(new):
            delta = found[section][name]["delta"]
            assert Decimal(repr(delta["cost_usd"])) == new[name]["cost"] - base[name]["cost"]
            assert delta["input_tokens"] == new[name]["input"] - base[name]["input"]
            assert delta["output_tokens"] == new[name]["output"] - base[name]["output"]
            assert delta["llm_calls"] == new[name]["calls"] - base[name]["calls"]
            assert Decimal(repr(delta["duration_seconds"])) == new[name]["seconds"] - base[name]["seconds"]
            assert found[section][name]["new"]["status"] == new[name]["last"][1]
    base_tasks, new_tasks = recompute(events, base_id, "task_id"), recompute(events, new_id, "task_id")
    assert found["added"] == ["3.1"]
    assert found["removed"] == ["2.1"]
    assert found["newly_failing"] == sorted(
        (
            t
            for t in new_tasks
            if new_tasks[t]["last"][1] == "Failed"
            and base_tasks.get(t, {"last": (0, None)})["last"][1] != "Failed"
        ),
        key=lambda t: [int(p) for p in t.split(".")],
    )
    assert found["fixed"] == [
        t
        for t in ["1.1", "1.2", "1.10"]
        if base_tasks[t]["last"][1] == "Failed" and new_tasks[t]["last"][1] != "Failed"
    ]


def steady(
    cost: float, seconds: float, status: str = "Success", prompts: tuple[str, ...] = ("p",)
) -> dict[str, Any]:
    return {
        "agent": "/a",
        "seconds": seconds,
        "status": status,
        "cost": cost,
        "input": 100,
        "output": 10,
        "prompts": list(prompts),
    }


def test_limits_gate_with_exit_1_naming_what_exceeded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    base_id, new_id = write_runs(
        events,
        [
            {"1": steady(0.010, 10), "2": steady(0.010, 10), "3": steady(0.01, 5, "Failed")},
            {"1": steady(0.013, 10), "2": steady(0.010, 30, "Failed"), "3": steady(0.01, 5, prompts=("q",))},
        ],
    )
    code, found = run_diff(capsys, base_id, new_id, str(events), "--max-cost-increase", "20")
    assert code == 1
    assert found["limits_exceeded"] == ["task 1 cost +30.0% > 20%"]  # total +10% is within
    assert found["newly_failing"] == ["2"]
    assert found["fixed"] == ["3"]
    assert [change["task_id"] for change in found["prompt_changes"]] == ["3"]
    assert (
        main(["diff", base_id, new_id, str(events), "--max-duration-increase", "50", "--fail-on-new-failure"])
        == 1
    )
    captured = capsys.readouterr()
    exceeded = "total duration +80.0% > 50%; task 2 duration +200.0% > 50%; task 2 newly fails"
    assert captured.err == f"wflogging: diff: limits exceeded: {exceeded}\n"
    assert "Limits exceeded" in captured.out
    assert main(["diff", base_id, new_id, str(events), "--max-cost-increase", "30"]) == 0


def test_baseline_runs_compare_with_the_median_of_the_runs_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    costs = [0.5, 0.01, 0.02, 0.04, 0.03]  # the first run is outside a baseline of 3
    ids = write_runs(events, [{"1": steady(cost, 10 * (n + 1))} for n, cost in enumerate(costs)])
    code, found = run_diff(capsys, "--baseline-runs", "3", ids[-1][:8], str(events))
    assert code == 0
    assert found["base_runs"] == ids[1:4]
    delta = found["tasks"]["1"]["delta"]
    assert Decimal(repr(delta["cost_usd"])) == Decimal("0.03") - statistics.median(
        [Decimal("0.01"), Decimal("0.02"), Decimal("0.04")]
    )
    assert delta["duration_seconds"] == 50 - 30


def test_works_on_the_demo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "demo.jsonl"
    for _ in range(2):
        assert main(["demo", "-o", str(events)]) == 0
    capsys.readouterr()
    base_id, new_id = dict.fromkeys(
        json.loads(line)["workflow_run_id"] for line in events.read_text().splitlines()
    )
    code, found = run_diff(capsys, base_id[:8], new_id[:8], str(events))
    assert code == 0
    assert found["total"]["new"]["llm_calls"] == sum(
        len(json.loads(line)["llm_trace"]) for line in events.read_text().splitlines() if new_id in line
    )
    assert main(["diff", base_id[:8], new_id[:8], str(events), "--format", "markdown"]) == 0
    assert "| 1.3 |" in capsys.readouterr().out


def test_an_unknown_run_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    write_runs(events, [{"1": steady(0.1, 1)}])
    assert main(["diff", "ffff", "eeee", str(events)]) == 2
    assert "'eeee': no run with this id prefix" in capsys.readouterr().err
