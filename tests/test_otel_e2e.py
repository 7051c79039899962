"""End to end over OTLP/HTTP: a real exporter posting to a real OTLP receiver on 127.0.0.1.

The receiver is a small HTTP server that decodes each ``ExportTraceServiceRequest``
with ``opentelemetry-proto``, as a collector's OTLP/HTTP receiver does.
"""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import logging.config
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

pytest.importorskip(
    "opentelemetry.exporter.otlp.proto.http",
    reason="the otel extra is not installed: pip install 'wflogging[otel]'",
)

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

import wflogging
from tests.conftest import unique_logger, valid_fields
from wflogging.demo import run_demo
from wflogging.otel import OTelTaskEventHandler


@attrs.define
class ReceivedSpan:
    """One span as it arrived, with its resource's attributes."""

    span: Span
    resource: dict[str, Any]

    @property
    def attributes(self) -> dict[str, Any]:
        return _decode(self.span.attributes)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def _decode(attributes: Any) -> dict[str, Any]:
    pairs: list[KeyValue] = list(attributes)
    return {pair.key: _value(pair.value) for pair in pairs}


class OTLPReceiver(http.server.ThreadingHTTPServer):
    """Accepts OTLP/HTTP protobuf trace exports on ``/v1/traces`` and keeps what arrives."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.lock = threading.Lock()
        self.spans: list[ReceivedSpan] = []
        self.requests = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"

    def keep(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            self.requests += 1
            for resource_spans in request.resource_spans:
                resource = _decode(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(ReceivedSpan(span, resource) for span in scope_spans.spans)


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: OTLPReceiver

    def do_POST(self) -> None:  # http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
            self.send_error(404)
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.keep(request)  # before answering: the exporter returns only after the answer
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what arrived, not the access log."""


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    server = OTLPReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


def _tasks(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [span for span in spans if not span.span.parent_span_id]


def _children(spans: list[ReceivedSpan], task: ReceivedSpan) -> list[ReceivedSpan]:
    children = [span for span in spans if span.span.parent_span_id == task.span.span_id]
    return sorted(children, key=lambda span: int(span.attributes["wflogging.llm_call.sequence"]))


def test_dictconfig_run_arrives_as_one_trace(tmp_path: Path, receiver: OTLPReceiver) -> None:
    """A run logged through dictConfig (file + OTLP handlers) arrives as one trace, calls under tasks."""
    logger = unique_logger()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "otlp": {
                    "class": "wflogging.otel.OTelTaskEventHandler",
                    "endpoint": receiver.endpoint,
                    "service_name": "orchestrator",
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

    spans = receiver.spans
    assert {span.span.trace_id for span in spans} == {uuid.UUID(run_id).bytes}
    tasks = {span.attributes["wflogging.task.id"]: span for span in _tasks(spans)}
    assert sorted(tasks) == ["1.1", "1.2"]
    assert [child.span.name for child in _children(spans, tasks["1.1"])] == [
        "chat claude-sonnet-4",
        "chat gpt-4.1-mini",
    ]
    assert [child.attributes["wflogging.llm_call.sequence"] for child in _children(spans, tasks["1.1"])] == [
        1,
        2,
    ]
    assert tasks["1.2"].span.status.code == Status.STATUS_CODE_ERROR
    assert tasks["1.1"].span.kind == Span.SPAN_KIND_INTERNAL
    assert tasks["1.1"].span.start_time_unix_nano == 1_772_359_200_000_000_000
    assert all(span.resource["service.name"] == "orchestrator" for span in spans)
    assert "Plan it" not in str([span.span for span in spans])  # no content without the opt-in


def test_demo_run_shipped_from_its_file(tmp_path: Path, receiver: OTLPReceiver) -> None:
    """The demo's events file, exported later, is one trace: a span per task, its calls beneath."""
    run_id = run_demo(tmp_path / "demo.jsonl")
    entries = _entries(tmp_path / "demo.jsonl")
    handler = OTelTaskEventHandler(receiver.endpoint, capture_content=True)
    try:
        assert all(handler.export_entry(entry) for entry in entries)
    finally:
        handler.close()

    spans = receiver.spans
    assert {span.span.trace_id for span in spans} == {uuid.UUID(run_id).bytes}
    tasks = _tasks(spans)
    assert len(tasks) == len(entries)
    for entry in entries:
        (task,) = [span for span in tasks if span.attributes["wflogging.event_id"] == entry["event_id"]]
        assert task.span.name == f"invoke_agent {entry['agent_name']}"
        assert task.attributes["wflogging.task.status"] == entry["status"]
        children = _children(spans, task)
        assert [child.attributes["gen_ai.request.model"] for child in children] == [
            call["model_name"] for call in entry["llm_trace"]
        ]
        for child, call in zip(children, entry["llm_trace"], strict=True):
            (message,) = json.loads(child.attributes["gen_ai.input.messages"])
            assert message["parts"][0]["content"] == call["prompt"]
        feedback = [event for event in task.span.events if event.name == "wflogging.human_feedback"]
        assert len(feedback) == (entry["human_feedback"] is not None)
    assert {"Failed", "HIL-Paused", "Success"} == {entry["status"] for entry in entries}
    exported_input = sum(span.attributes.get("gen_ai.usage.input_tokens", 0) for span in spans)
    assert exported_input == sum(entry["cost_data"].get("tokens", {}).get("input", 0) for entry in entries)


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_demo_command_exports_its_run_as_one_trace(
    tmp_path: Path, receiver: OTLPReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wflogging demo --otlp-endpoint URL` sends the run as one trace with a span per event."""
    from wflogging.cli import main

    assert main(["demo", "-o", str(tmp_path / "demo.jsonl"), "--otlp-endpoint", receiver.endpoint]) == 0
    entries = _entries(tmp_path / "demo.jsonl")
    (run_id,) = {entry["workflow_run_id"] for entry in entries}
    assert f"exported run {run_id}" in capsys.readouterr().out
    spans = receiver.spans
    assert {span.span.trace_id for span in spans} == {uuid.UUID(run_id).bytes}
    assert sorted(span.attributes["wflogging.event_id"] for span in _tasks(spans)) == sorted(
        entry["event_id"] for entry in entries
    )
