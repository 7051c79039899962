"""The report's "Where to improve" findings: figures checked by hand, commands that run."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest

import wflogging
from wflogging.cli import main
from wflogging.demo import SimulatedClock

PRICES = {"m": (1, 0), "n": (2, 0)}  # $1 (m) or $2 (n) per million input tokens, output free


def write_history(path: Path) -> list[str]:
    """Four runs: three alike, then one where task "grow" costs 3x and "flaky" fails; plus retries."""
    handler = wflogging.TaskEventHandler(path, journal=False, strict=True)
    log = logging.getLogger(f"improve-{uuid.uuid4()}")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    run_ids = []
    try:
        for number in range(4):
            clock = SimulatedClock(dt.datetime(2026, 3, 1 + number, 9, tzinfo=dt.timezone.utc))
            latest = number == 3

            def task(
                task_id: str,
                calls: list[tuple[str, str, int]],
                seconds: float,
                fail: bool = False,
                clock: SimulatedClock = clock,
            ) -> None:
                with wflogging.record_task(
                    log,
                    task_id=task_id,
                    task_description="d",
                    agent_name=f"/{task_id}",
                    prices=PRICES,
                    clock=clock,
                ) as t:
                    for model, prompt, tokens in calls:
                        t.llm_call(model_name=model, prompt=prompt, completion="c", input_tokens=tokens)
                    clock.advance(seconds)
                    if fail:
                        t.fail("broken")

            with wflogging.workflow_run() as run_id:
                run_ids.append(run_id)
                task("cached", [("m", "the same question", 1000)], 5)  # $0.001 each run
                task("grow", [("m", f"grow {number}", 3000 if latest else 1000)], 5)
                task("flaky", [("m", f"flaky {number}", 10)], 5, fail=latest)
                task(
                    "retry", [("n", f"try {number}", 500), ("n", f"again {number}", 500)], 5
                )  # $0.001 each call
                with wflogging.record_task(
                    log, task_id="ask", task_description="d", agent_name="/ask", clock=clock
                ) as t:
                    t.pause()
                clock.advance(600 if latest else 1)  # the Director answers
                with wflogging.record_task(
                    log, task_id="ask", task_description="d", agent_name="/ask", clock=clock
                ) as t:
                    t.human_feedback(type="HIL-Approval", content="ok", timestamp_utc=clock.now_utc())
    finally:
        log.removeHandler(handler)
        handler.close()
    return run_ids


def findings(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert main(["report", "--format", "json", *argv]) == 0
    result: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["where_to_improve"]["findings"]
    return result


def test_findings_have_hand_checked_figures_and_commands_that_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    run_ids = write_history(events)
    found = findings(capsys, str(events))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for finding in found:
        by_kind.setdefault(finding["kind"], []).append(finding)

    [cache] = by_kind["cache"]
    assert cache["figures"]["task_id"] == "cached"
    assert cache["figures"]["runs"] == 4
    assert cache["figures"]["repeat_cost_usd"] == pytest.approx(3 * 0.001)  # runs 2-4 repeat run 1's prompt

    [retry] = by_kind["retry"]
    assert (retry["figures"]["task_id"], retry["figures"]["model"]) == ("retry", "n")
    assert retry["figures"]["events"] == 4
    assert retry["figures"]["extra_calls"] == 4
    assert retry["figures"]["extra_cost_usd"] == pytest.approx(4 * 0.001)

    rose = {(f["figures"]["name"], f["figures"]["figure"]): f["figures"] for f in by_kind["rose"]}
    assert rose[("grow", "cost")]["value"] == pytest.approx(0.003)
    assert rose[("grow", "cost")]["baseline_median"] == pytest.approx(0.001)
    assert rose[("grow", "cost")]["percent"] == pytest.approx(200)
    assert ("flaky", "failure rate") in rose
    assert all(
        f["command"].startswith(f"wflogging diff --baseline-runs 3 {run_ids[3][:8]}") for f in by_kind["rose"]
    )

    [waits] = by_kind["waits"]
    assert waits["figures"]["workflow_run_id"] == run_ids[3]
    assert waits["figures"]["wait_seconds"] == pytest.approx(600)
    assert waits["figures"]["wall_seconds"] == pytest.approx(620)

    for finding in found:
        command = shlex.split(finding["command"])
        assert command[0] == "wflogging"
        if command[1] == "timeline":
            command[command.index("-o") + 1] = str(tmp_path / "timeline.html")
        assert main(command[1:]) == 0, finding["command"]
    capsys.readouterr()

    assert main(["report", str(events)]) == 0
    text = capsys.readouterr().out
    assert "a cache candidate. Details: wflogging show --run" in text
    assert "called n again within the task" in text


def test_the_demo_report_finds_the_human_wait(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "demo.jsonl"
    assert main(["demo", "-o", str(events)]) == 0
    assert "human waits took 20m 00s of 21m 20s wall time (94%)" in capsys.readouterr().out
    [waits] = findings(capsys, str(events))
    assert waits["kind"] == "waits"
