"""``wflogging report --prices``: re-priced history, exact, side by side with what was stored."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import wflogging
from wflogging.cli import main

PRICES = {
    "version": "2027-01",
    "models": {
        "model-a": {
            "input_per_million": "0.3",
            "output_per_million": "1.1",
            "cached_input_per_million": "0.03",
        },
    },
}


def log_tasks(path: Path) -> None:
    """Two tasks through record_task with a table of old prices, so cost_data stores usage per model."""
    handler = wflogging.TaskEventHandler(path, journal=False, strict=True)
    log = logging.getLogger(f"reprice-{uuid.uuid4()}")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    old = {"model-a": (5, 15), "model-b": (1, 2)}
    try:
        with wflogging.workflow_run():
            with wflogging.record_task(
                log, task_id="1", task_description="d", agent_name="/x", prices=old
            ) as t:
                t.llm_call(
                    model_name="model-a",
                    prompt="p",
                    completion="c",
                    input_tokens=1_000_001,
                    cached_tokens=3,
                    output_tokens=7,
                )
                t.llm_call(model_name="model-b", prompt="p", completion="c", input_tokens=5, output_tokens=5)
            with wflogging.record_task(
                log, task_id="2", task_description="d", agent_name="/x", prices=old
            ) as t:
                t.llm_call(
                    model_name="model-a", prompt="p", completion="c", input_tokens=10, output_tokens=20
                )
    finally:
        log.removeHandler(handler)
        handler.close()


def report_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["report", "--format", "json", *argv]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_repriced_totals_are_exact_against_a_hand_computed_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    log_tasks(events)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES), encoding="utf-8")
    before = hashlib.sha256(events.read_bytes()).hexdigest()

    repriced = report_json(capsys, "--prices", str(prices), str(events))["repriced"]

    # Task 1, model-a: (999,998 x 0.3 + 3 x 0.03 + 7 x 1.1) / 1e6 = 300,007.19 / 1e6 = 0.30000719
    # Task 2, model-a: (10 x 0.3 + 20 x 1.1) / 1e6 = 25 / 1e6 = 0.000025
    assert Decimal(repriced["repriced_cost_usd"]) == Decimal("0.30003219")
    assert Decimal(repriced["models"]["model-a"]["repriced_cost_usd"]) == Decimal("0.30003219")
    # Stored at the old prices: (1,000,001 x 5 + 7 x 15) / 1e6 + (10 x 5 + 20 x 15) / 1e6
    assert Decimal(repriced["models"]["model-a"]["stored_cost_usd"]) == Decimal("5.000110") + Decimal(
        "0.00035"
    )
    assert repriced["models"]["model-b"]["repriced_cost_usd"] is None
    assert repriced["unpriced_models"] == ["model-b"]
    assert repriced["price_table"] == "2027-01"
    assert hashlib.sha256(events.read_bytes()).hexdigest() == before  # never rewritten

    assert main(["report", "--prices", str(prices), str(events)]) == 0
    text = capsys.readouterr().out
    assert "Re-priced (price table 2027-01)" in text
    assert "Models without a price: model-b." in text
    assert "$0.300032" in text


def test_works_on_the_demo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "demo.jsonl"
    for _ in range(2):
        assert main(["demo", "-o", str(events)]) == 0
    capsys.readouterr()
    prices = tmp_path / "prices.toml"
    prices.write_text(
        'version = "2027-01"\n[models."claude-sonnet-4"]\ninput_per_million = 2\noutput_per_million = 10\n'
        "cached_input_per_million = 0.2\n",
        encoding="utf-8",
    )
    repriced = report_json(capsys, "--prices", str(prices), str(events))["repriced"]
    # Per demo run, claude-sonnet-4 used 1,858 input tokens (1,800 cached) and 80 output tokens:
    # (58 x 2 + 1,800 x 0.2 + 80 x 10) / 1e6 = 1,276 / 1e6, twice.
    assert Decimal(repriced["repriced_cost_usd"]) == Decimal("0.002552")
    assert repriced["unpriced_models"] == ["gpt-4.1-mini"]
    run = json.loads(events.read_text().splitlines()[0])["workflow_run_id"]
    one_run = report_json(capsys, "--run", run[:8], "--prices", str(prices), str(events))["repriced"]
    assert Decimal(one_run["repriced_cost_usd"]) == Decimal("0.001276")


def test_a_bad_price_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    log_tasks(events)
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"m": {"input_per_million": 1}}}', encoding="utf-8")
    assert main(["report", "--prices", str(prices), str(events)]) == 2
    assert "--prices:" in capsys.readouterr().err
