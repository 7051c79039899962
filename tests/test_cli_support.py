"""Shared helpers for the CLI tests: run the command, and write realistic event files (no tests here)."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import wflogging
from tests.conftest import EventLog, valid_fields
from wflogging.__main__ import main

AGENTS = ("/plan:analyst", "/dev:implement-pro", "/qa:test-runner")
MODELS = ("claude-sonnet-4", "gpt-4.1-mini")
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


@attrs.frozen
class Result:
    """What a command run returned and printed."""

    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run ``wflogging ARGS`` in this process through the console script's entry point."""
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def run_cli_process(*args: str, stdin: bytes | None = None) -> Result:
    """Run ``python -m wflogging ARGS`` in a child process (exit codes, stdin, no traceback)."""
    done = subprocess.run(
        [sys.executable, "-m", "wflogging", *args], input=stdin, capture_output=True, timeout=120, check=False
    )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


def log_task(event_log: EventLog, **fields: Any) -> None:
    """Log one task event through the real handler (exc_info=True if ``error`` is given).

    The handler's formatter keeps the error as ``extensions.error`` (``error_details``, the
    opt-in), which is what the report and the timeline show as a failure's reason.
    """
    error = fields.pop("error", None)
    if error is None:
        event_log.logger.info("task", extra=valid_fields(**fields))
        return
    if not event_log.handler.formatter.error_details:
        event_log.handler.setFormatter(wflogging.TaskEventFormatter(error_details=True))
    try:
        raise RuntimeError(error)
    except RuntimeError:
        event_log.logger.error("task", exc_info=True, extra=valid_fields(**fields))


def write_workflow(event_log: EventLog, *, runs: int = 2, tasks: int = 12, seed: int = 1) -> list[str]:
    """Several runs of tasks over 3 agents and 2 models, with failures, HIL pauses and answers."""
    rng = random.Random(seed)
    run_ids = []
    clock = T0
    for _ in range(runs):
        with wflogging.workflow_run() as run_id:
            run_ids.append(run_id)
            for number in range(tasks):
                seconds = round(rng.uniform(0.5, 90), 3)
                task_id = f"{number // 4 + 1}.{number % 4 + 1}"
                agent = AGENTS[number % 3]
                status = rng.choice(("Success", "Success", "Failed", "HIL-Paused"))
                calls = [
                    {
                        "model_name": rng.choice(MODELS),
                        "prompt": f"do {task_id} #{rng.randint(0, 3)}",
                        "completion": "ok",
                    }
                    for _ in range(rng.randint(0, 3))
                ]
                cost = _cost(rng, calls)
                start, clock = clock, clock + dt.timedelta(seconds=seconds)
                fields: dict[str, Any] = {
                    "task_id": task_id,
                    "agent_name": agent,
                    "task_description": f"Task {task_id}",
                    "timestamps": {"start_time_utc": start, "end_time_utc": clock},
                    "status": status,
                    "cost_data": cost,
                    "llm_trace": calls,
                }
                if status == "Failed":
                    fields["error"] = f"task {task_id} broke"
                log_task(event_log, **fields)
                if status == "HIL-Paused":
                    waited = dt.timedelta(minutes=rng.randint(1, 30))
                    answered, resumed_end = clock + waited, clock + waited + dt.timedelta(seconds=5)
                    log_task(
                        event_log,
                        task_id=task_id,
                        agent_name=agent,
                        task_description=f"Task {task_id}",
                        timestamps={"start_time_utc": answered, "end_time_utc": resumed_end},
                        status="Success",
                        cost_data={},
                        llm_trace=[],
                        human_feedback={
                            "type": "HIL-Approval",
                            "content": f"approve {task_id}",
                            "timestamp_utc": answered,
                        },
                    )
                    clock = resumed_end
    return run_ids


def _cost(rng: random.Random, calls: list[dict[str, str]]) -> dict[str, Any]:
    """cost_data in the recorder's shape (per-model breakdown), or sometimes just totals, or nothing."""
    if not calls or rng.random() < 0.15:
        return {}
    models: dict[str, dict[str, Any]] = {}
    for call in calls:
        part = models.setdefault(
            call["model_name"], {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
        )
        part["calls"] += 1
        part["input_tokens"] += rng.randint(10, 5000)
        part["output_tokens"] += rng.randint(10, 900)
        part["cost_usd"] += rng.uniform(0.0001, 0.2)
    total = sum(part["cost_usd"] for part in models.values())
    tokens = {
        "input": sum(part["input_tokens"] for part in models.values()),
        "output": sum(part["output_tokens"] for part in models.values()),
    }
    if rng.random() < 0.3:
        return {"total_cost_usd": total, "tokens": tokens}
    return {"llm_calls": len(calls), "tokens": tokens, "models": models, "total_cost_usd": total}


def events_in(path: Path) -> list[dict[str, Any]]:
    """The entries of an events file (parsed with the stdlib, independently of the reader)."""
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
