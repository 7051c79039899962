"""What ``wflogging export`` sends, read back through a real backend's own API: Arize Phoenix.

Phoenix converts the GenAI conventions to its own model on ingest and validates
messages, so these tests see what a user sees: which spans are LLM spans, their
completions, providers and token counts, and what free text arrived.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "opentelemetry.exporter.otlp.proto.http",
    reason="the otel extra is not installed: pip install 'wflogging[otel]'",
)

import wflogging
from tests.conftest import unique_logger, valid_fields
from tests.phoenix import Phoenix, running_phoenix
from wflogging.demo import run_demo


@pytest.fixture(scope="module")
def phoenix() -> Iterator[Phoenix]:
    yield from running_phoenix()


def _project() -> str:
    return f"wflogging-test-{uuid.uuid4().hex[:12]}"


def _export(phoenix: Phoenix, project: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wflogging",
            "export",
            "--otlp-endpoint",
            phoenix.traces_url,
            "--project",
            project,
            *list(args),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _span_count(entries: list[dict[str, Any]]) -> int:
    return len(entries) + sum(len(entry["llm_trace"]) for entry in entries)


def _calls_by_span(spans: list[dict[str, Any]], entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each LLM span's id -> the file's trace item it stands for (through its task span's event id)."""
    by_event = {entry["event_id"]: entry for entry in entries}
    tasks = {span["context"]["span_id"]: span for span in spans if span["parent_id"] is None}
    found = {}
    for span in spans:
        if span["span_kind"] == "LLM":
            entry = by_event[tasks[span["parent_id"]]["attributes"]["wflogging.event_id"]]
            found[span["context"]["span_id"]] = entry["llm_trace"][
                span["attributes"]["wflogging.llm_call.sequence"] - 1
            ]
    return found


def _file_tokens(entries: list[dict[str, Any]]) -> tuple[int, int]:
    return (
        sum(entry["cost_data"]["tokens"]["input"] for entry in entries),
        sum(entry["cost_data"]["tokens"]["output"] for entry in entries),
    )


def test_the_demo_arrives_whole_and_a_second_export_adds_nothing(phoenix: Phoenix, tmp_path: Path) -> None:
    """Spans = events + calls; every call an LLM span with its completion and provider; tokens equal."""
    events = tmp_path / "demo.jsonl"
    run_demo(events)
    entries = _entries(events)
    project = _project()

    sent = _export(phoenix, project, "--capture-content", "span_only", str(events))
    assert sent.returncode == 0, sent.stderr
    expected = _span_count(entries)
    assert f"{expected} of {expected} spans accepted" in sent.stdout
    spans = phoenix.wait_for_spans(project, expected)
    assert len(spans) == expected

    calls = _calls_by_span(spans, entries)
    assert len(calls) == sum(len(entry["llm_trace"]) for entry in entries)  # every call is an LLM span
    for span in spans:
        if span["span_kind"] == "LLM":
            attributes = span["attributes"]
            call = calls[span["context"]["span_id"]]
            assert attributes["llm.output_messages.0.message.content"] == call["completion"]
            assert attributes["llm.input_messages.0.message.content"] == call["prompt"]
            assert attributes["llm.model_name"] == call["model_name"]
            assert attributes["llm.provider"] in ("anthropic", "openai")
    assert phoenix.token_totals(project) == _file_tokens(entries)

    # Again, plus one new event behind it: once the new event is stored, so is anything sent before it.
    later = tmp_path / "later.jsonl"
    run_demo(later)
    again = _export(phoenix, project, "--capture-content", "span_only", str(events), str(later))
    assert again.returncode == 0, again.stderr
    both = expected + _span_count(_entries(later))
    spans = phoenix.wait_for_spans(project, both)
    assert len(spans) == both
    assert len({span["context"]["span_id"] for span in spans}) == both


def test_a_retried_model_keeps_each_calls_tokens(phoenix: Phoenix, tmp_path: Path) -> None:
    """record_task with the same model called twice: each LLM span has its own tokens, and totals equal."""
    events = tmp_path / "retry.jsonl"
    handler = wflogging.TaskEventHandler(events)
    logger = unique_logger()
    logger.addHandler(handler)
    try:
        with (
            wflogging.workflow_run(),
            wflogging.record_task(
                logger, task_id="3.1", task_description="Retry", agent_name="/dev:retry"
            ) as t,
        ):
            t.llm_call(
                model_name="claude-sonnet-4", prompt="try", completion="x", input_tokens=100, output_tokens=9
            )
            t.llm_call(
                model_name="claude-sonnet-4",
                prompt="again",
                completion="y",
                input_tokens=120,
                output_tokens=11,
            )
    finally:
        logger.removeHandler(handler)
        handler.close()
    entries = _entries(events)
    project = _project()

    sent = _export(phoenix, project, str(events))
    assert sent.returncode == 0, sent.stderr
    spans = phoenix.wait_for_spans(project, 3)
    llm = sorted(
        (span for span in spans if span["span_kind"] == "LLM"),
        key=lambda span: span["attributes"]["wflogging.llm_call.sequence"],
    )
    assert [span["attributes"]["llm.token_count.prompt"] for span in llm] == [100, 120]
    assert [span["attributes"]["llm.token_count.completion"] for span in llm] == [9, 11]
    assert phoenix.token_totals(project) == _file_tokens(entries) == (220, 20)


def test_with_capture_off_no_free_text_arrives(phoenix: Phoenix, tmp_path: Path) -> None:
    """The default export: ids, counts, models, status and exception type; no text anyone wrote."""
    events = tmp_path / "private.jsonl"
    handler = wflogging.TaskEventHandler(events)
    logger = unique_logger()
    logger.addHandler(handler)
    logging.getLogger(f"{logger.name}.failures").disabled = True  # the reason's own record is not under test
    secrets = {
        "description": "Migrate the payroll of ACME-DESCRIPTION",
        "prompt": "PROMPT-TEXT the salaries",
        "completion": "COMPLETION-TEXT done",
        "feedback": "FEEDBACK-TEXT approve, but hurry",
        "exception": "EXCEPTION-TEXT token sk-live-123",
    }
    try:
        with wflogging.workflow_run():
            with wflogging.record_task(
                logger, task_id="4.1", task_description=secrets["description"], agent_name="/ops:pay"
            ) as t:
                t.llm_call(
                    model_name="gpt-4.1",
                    prompt=secrets["prompt"],
                    completion=secrets["completion"],
                    input_tokens=7,
                    output_tokens=3,
                )
                t.human_feedback(type="HIL-Approval", content=secrets["feedback"])
                t.pause()
            with (
                pytest.raises(RuntimeError),
                wflogging.record_task(
                    logger,
                    task_id="4.2",
                    task_description=secrets["description"],
                    agent_name="/ops:pay",
                    failure_details=True,  # the file holds the message; the export must not
                ),
            ):
                raise RuntimeError(secrets["exception"])
    finally:
        logger.removeHandler(handler)
        handler.close()
    entries = _entries(events)
    assert secrets["exception"] in events.read_text()
    project = _project()

    sent = _export(phoenix, project, str(events))
    assert sent.returncode == 0, sent.stderr
    spans = phoenix.wait_for_spans(project, _span_count(entries))
    assert len(spans) == _span_count(entries)
    stored = json.dumps(spans)
    for name, text in secrets.items():
        assert text not in stored, f"the {name} reached the backend"
    tasks = {span["attributes"]["wflogging.task.id"]: span for span in spans if span["parent_id"] is None}
    assert tasks["4.1"]["attributes"]["wflogging.task.status"] == "HIL-Paused"
    assert tasks["4.2"]["status_code"] == "ERROR"
    assert tasks["4.2"]["attributes"]["error.type"] == "RuntimeError"
    (llm,) = [span for span in spans if span["span_kind"] == "LLM"]
    assert llm["attributes"]["llm.model_name"] == "gpt-4.1"
    assert llm["attributes"]["llm.token_count.prompt"] == 7


def test_a_live_dictconfig_run_arrives_as_one_trace(phoenix: Phoenix, tmp_path: Path) -> None:
    """File and OTLP handlers in one dictConfig: the run is one trace, calls under their tasks."""
    logger = unique_logger()
    project = _project()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "otlp": {
                    "class": "wflogging.otel.OTelTaskEventHandler",
                    "endpoint": phoenix.traces_url,
                    "service_name": "orchestrator",
                    "resource_attributes": {"openinference.project.name": project},
                },
                "events": {"class": "wflogging.TaskEventHandler", "filename": str(tmp_path / "events.jsonl")},
            },
            "loggers": {logger.name: {"handlers": ["otlp", "events"], "level": "INFO"}},
        }
    )
    calls = [
        {"model_name": "claude-sonnet-4", "prompt": "Plan it", "completion": "Planned"},
        {"model_name": "gpt-4.1-mini", "prompt": "Review it", "completion": "Reviewed"},
    ]
    try:
        with wflogging.workflow_run() as run_id:
            logger.info("done", extra=valid_fields(task_id="1.1", llm_trace=calls))
            logger.info("failed", extra=valid_fields(task_id="1.2", status="Failed"))
            logger.info("ordinary log line, not a task event")
    finally:
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
            handler.close()  # the OTLP handler sends what is queued before close returns

    spans = phoenix.wait_for_spans(project, 5)  # two tasks; 1.1 makes two calls, 1.2 one
    assert len(spans) == 5
    assert {span["context"]["trace_id"] for span in spans} == {uuid.UUID(run_id).hex}
    tasks = {span["attributes"]["wflogging.task.id"]: span for span in spans if span["parent_id"] is None}
    assert sorted(tasks) == ["1.1", "1.2"]
    children = sorted(
        (span for span in spans if span["parent_id"] == tasks["1.1"]["context"]["span_id"]),
        key=lambda span: span["attributes"]["wflogging.llm_call.sequence"],
    )
    assert [child["attributes"]["llm.model_name"] for child in children] == [
        "claude-sonnet-4",
        "gpt-4.1-mini",
    ]
    assert [child["span_kind"] for child in children] == ["LLM", "LLM"]
    assert tasks["1.2"]["status_code"] == "ERROR"
    assert tasks["1.1"]["start_time"].startswith("2026-03-01T10:00:00")
    assert "Plan it" not in json.dumps(spans)  # no content without the opt-in
    file_ids = {entry["event_id"] for entry in _entries(tmp_path / "events.jsonl")}
    assert {span["attributes"]["wflogging.event_id"] for span in tasks.values()} == file_ids


def test_the_demo_command_exports_its_run_as_one_trace(phoenix: Phoenix, tmp_path: Path) -> None:
    """`wflogging demo --otlp-endpoint URL` sends the run, says how many spans were accepted."""
    project = _project()
    url = phoenix.traces_url
    done = subprocess.run(
        [sys.executable, "-m", "wflogging", "demo", "-o", str(tmp_path / "d.jsonl"), "--otlp-endpoint", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}"},
    )
    assert done.returncode == 0, done.stderr
    entries = _entries(tmp_path / "d.jsonl")
    (run_id,) = {entry["workflow_run_id"] for entry in entries}
    expected = _span_count(entries)
    assert f"exported run {run_id}" in done.stdout
    assert f"{expected} spans accepted" in done.stdout
    spans = phoenix.wait_for_spans(project, expected)
    assert {span["context"]["trace_id"] for span in spans} == {uuid.UUID(run_id).hex}
    assert sorted(
        span["attributes"]["wflogging.event_id"] for span in spans if span["parent_id"] is None
    ) == sorted(entry["event_id"] for entry in entries)
