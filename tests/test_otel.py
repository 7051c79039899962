"""The OpenTelemetry export: task events -> spans, checked field by field with the real SDK."""

from __future__ import annotations

import json
import logging
import logging.config
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

pytest.importorskip(
    "opentelemetry.sdk", reason="the otel extra is not installed: pip install 'wflogging[otel]'"
)

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import wflogging
from tests.conftest import unique_logger, valid_fields
from wflogging.otel import (
    CAPTURE_CONTENT_ENV,
    SEMCONV_VERSION,
    ContentCapture,
    OTelTaskEventHandler,
    run_is_sampled,
    span_id_for,
)

START_NS = 1_772_359_200_000_000_000  # 2026-03-01T10:00:00Z
END_NS = START_NS + 2_500_000_000  # 2.5 s later, as in valid_fields()

#: Reached by dictConfig through "ext://tests.test_otel.CONFIGURED_EXPORTER".
CONFIGURED_EXPORTER = InMemorySpanExporter()


@attrs.define
class Exported:
    """A private logger whose task events go through a real OTelTaskEventHandler to memory."""

    logger: logging.Logger
    handler: OTelTaskEventHandler
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        self.handler.flush()
        return list(self.exporter.get_finished_spans())

    def task_spans(self) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.parent is None]

    def only_task(self) -> ReadableSpan:
        (task,) = self.task_spans()
        return task

    def calls_of(self, task: ReadableSpan) -> list[ReadableSpan]:
        calls = [
            span for span in self.spans() if span.parent is not None and span.parent.span_id == _id(task)
        ]
        return sorted(calls, key=lambda span: _attributes(span)["wflogging.llm_call.sequence"])


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    span_id: int = span.context.span_id
    return span_id


def _trace(span: ReadableSpan) -> int:
    assert span.context is not None
    trace_id: int = span.context.trace_id
    return trace_id


def _attributes(span: ReadableSpan) -> Mapping[str, Any]:
    assert span.attributes is not None
    return span.attributes


def _exported(**options: Any) -> Iterator[Exported]:
    exporter = InMemorySpanExporter()
    handler = OTelTaskEventHandler(exporter=exporter, **options)
    logger = unique_logger()
    logger.addHandler(handler)
    yield Exported(logger, handler, exporter)
    logger.removeHandler(handler)
    handler.close()


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exported]:
    """Default options, with the content switch unset in the environment."""
    monkeypatch.delenv(CAPTURE_CONTENT_ENV, raising=False)
    yield from _exported()


@pytest.fixture
def otel_content() -> Iterator[Exported]:
    yield from _exported(capture_content=True)


# --- the task span --------------------------------------------------------------------------


def test_task_becomes_a_root_span_in_the_runs_trace(otel: Exported, run_id: str) -> None:
    """A task is one root span whose trace id is the run's UUID, with the task's times and fields."""
    otel.logger.info("done", extra=valid_fields(cost_data={"total_cost_usd": 0.25}, llm_trace=[]))
    task = otel.only_task()
    assert _trace(task) == uuid.UUID(run_id).int
    assert task.name == "invoke_agent /dev:implement-pro"
    assert task.kind is SpanKind.INTERNAL
    assert (task.start_time, task.end_time) == (START_NS, END_NS)
    assert task.status.status_code is StatusCode.UNSET
    attributes = _attributes(task)
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.name"] == "/dev:implement-pro"
    assert attributes["wflogging.workflow_run_id"] == run_id
    assert uuid.UUID(attributes["wflogging.event_id"]).version == 4
    assert attributes["wflogging.task.id"] == "1.1"
    assert "wflogging.task.description" not in attributes  # free text: only with content capture
    assert attributes["wflogging.task.status"] == "Success"
    assert attributes["wflogging.task.duration_seconds"] == 2.5
    assert attributes["wflogging.llm_call.count"] == 0
    assert attributes["wflogging.cost_data.total_cost_usd"] == 0.25
    assert attributes["llm.cost.total"] == 0.25  # no call to carry it: the task span states it
    assert task.instrumentation_scope is not None
    assert task.instrumentation_scope.name == "wflogging"
    assert task.instrumentation_scope.schema_url == f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"


def test_span_id_is_derived_from_event_id(otel: Exported, run_id: str) -> None:
    """The same entry exported twice gets the same span ids; another entry gets others."""
    event_id = str(uuid.uuid4())
    otel.logger.info("done", extra=valid_fields(event_id=event_id))
    first = otel.only_task()
    first_calls = [_id(call) for call in otel.calls_of(first)]
    otel.exporter.clear()
    otel.logger.info("again", extra=valid_fields(event_id=event_id))
    again = otel.only_task()
    otel.exporter.clear()
    otel.logger.info("other", extra=valid_fields())
    other = otel.only_task()
    assert _id(first) == _id(again) == span_id_for(event_id)
    assert first_calls == [span_id_for(event_id, 1)]
    assert _id(other) != _id(first)
    assert _trace(other) == _trace(first)


def test_failed_task_without_content_exports_the_exception_type_only(otel: Exported, run_id: str) -> None:
    """Capture off: ERROR status and error.type, but the exception's message and traceback stay home."""
    try:
        raise TimeoutError("the model said: secret plan")
    except TimeoutError:
        otel.logger.exception("failed", extra=valid_fields(status=wflogging.Status.FAILED))
    task = otel.only_task()
    assert task.status.status_code is StatusCode.ERROR
    assert task.status.description == "TimeoutError"
    assert _attributes(task)["error.type"] == "TimeoutError"
    (event,) = task.events
    assert dict(event.attributes or {}) == {"exception.type": "TimeoutError"}
    assert "secret plan" not in json.dumps([span.to_json() for span in otel.spans()])


def test_failed_task_has_error_status_and_exception_event(otel_content: Exported, run_id: str) -> None:
    """Failed -> ERROR status naming the exception, error.type, and an exception event."""
    otel = otel_content
    try:
        raise TimeoutError("the model did not answer")
    except TimeoutError:
        otel.logger.exception("failed", extra=valid_fields(status=wflogging.Status.FAILED))
    task = otel.only_task()
    assert task.status.status_code is StatusCode.ERROR
    assert task.status.description == "TimeoutError: the model did not answer"
    assert _attributes(task)["error.type"] == "TimeoutError"
    assert _attributes(task)["wflogging.task.status"] == "Failed"
    (event,) = task.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "TimeoutError"
    assert event.attributes["exception.message"] == "the model did not answer"
    assert "raise TimeoutError" in str(event.attributes["exception.stacktrace"])


def test_failed_task_without_exception_is_still_an_error(otel: Exported, run_id: str) -> None:
    """A Failed event logged without exc_info still gets ERROR status and the generic error.type."""
    otel.logger.info("failed", extra=valid_fields(status="Failed"))
    task = otel.only_task()
    assert task.status.status_code is StatusCode.ERROR
    assert _attributes(task)["error.type"] == "_OTHER"
    assert task.events == ()


def test_paused_task_and_human_feedback(otel: Exported, run_id: str) -> None:
    """HIL-Paused is told apart by attribute (not an error); feedback is an event at its own time."""
    feedback = {"type": "HIL-Approval", "content": "approve", "timestamp_utc": "2026-03-01T10:00:01.25Z"}
    otel.logger.info("paused", extra=valid_fields(status="HIL-Paused", human_feedback=feedback))
    task = otel.only_task()
    assert task.status.status_code is StatusCode.UNSET
    assert _attributes(task)["wflogging.task.status"] == "HIL-Paused"
    (event,) = task.events
    assert event.name == "wflogging.human_feedback"
    assert event.timestamp == START_NS + 1_250_000_000
    assert dict(event.attributes or {}) == {"wflogging.feedback.type": "HIL-Approval"}  # no free text


def test_human_feedback_content_with_capture_on(otel_content: Exported, run_id: str) -> None:
    """With content capture the Director's words go along with the feedback event."""
    feedback = {"type": "HIL-Approval", "content": "approve", "timestamp_utc": "2026-03-01T10:00:01.25Z"}
    otel_content.logger.info("paused", extra=valid_fields(status="HIL-Paused", human_feedback=feedback))
    (event,) = otel_content.only_task().events
    assert dict(event.attributes or {}) == {
        "wflogging.feedback.type": "HIL-Approval",
        "wflogging.feedback.content": "approve",
    }


# --- LLM calls ---------------------------------------------------------------------------


def test_each_llm_call_is_a_child_span(otel: Exported, run_id: str) -> None:
    """Calls become CLIENT child spans in order, with model and sequence, inside the task's interval."""
    calls = [
        {"model_name": "claude-sonnet-4", "prompt": "p1", "completion": "c1"},
        {"model_name": "gpt-4.1-mini", "prompt": "p2", "completion": "c2"},
    ]
    otel.logger.info("done", extra=valid_fields(llm_trace=calls, cost_data={}))
    task = otel.only_task()
    spans = otel.calls_of(task)
    assert [span.name for span in spans] == ["chat claude-sonnet-4", "chat gpt-4.1-mini"]
    for sequence, (span, call) in enumerate(zip(spans, calls, strict=True), start=1):
        attributes = _attributes(span)
        assert span.kind is SpanKind.CLIENT
        assert _trace(span) == _trace(task)
        assert (span.start_time, span.end_time) == (START_NS, END_NS)
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == call["model_name"]
        assert attributes["gen_ai.response.model"] == call["model_name"]
        assert attributes["wflogging.llm_call.sequence"] == sequence
    assert _attributes(task)["wflogging.llm_call.count"] == 2


def test_content_is_not_exported_by_default(otel: Exported, run_id: str) -> None:
    """Without the opt-in, no prompt or completion text leaves the process."""
    otel.logger.info("done", extra=valid_fields())
    (call,) = otel.calls_of(otel.only_task())
    exported = json.dumps([span.to_json() for span in otel.spans()])
    assert "Plan it" not in exported
    assert not {"gen_ai.input.messages", "gen_ai.output.messages"} & set(_attributes(call))
    assert call.events == ()


def test_content_on_span_when_the_environment_switch_is_on(
    monkeypatch: pytest.MonkeyPatch, run_id: str
) -> None:
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true puts the messages on the call span."""
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    for otel in _exported():
        otel.logger.info("done", extra=valid_fields())
        (call,) = otel.calls_of(otel.only_task())
        attributes = _attributes(call)
        assert json.loads(attributes["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "Plan it"}]}
        ]
        assert json.loads(attributes["gen_ai.output.messages"]) == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Done"}], "finish_reason": "stop"}
        ]


def test_content_as_event_only(run_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    """event_only puts the messages on the conventions' details event, not on the span, and says
    once that backends reading span attributes will show no messages."""
    for otel in _exported(capture_content="EVENT_ONLY"):
        assert "span_and_event" in capsys.readouterr().err
        otel.logger.info("done", extra=valid_fields())
        (call,) = otel.calls_of(otel.only_task())
        assert "gen_ai.input.messages" not in _attributes(call)
        (event,) = call.events
        assert event.name == "gen_ai.client.inference.operation.details"
        assert event.timestamp == END_NS
        assert event.attributes is not None
        assert json.loads(str(event.attributes["gen_ai.output.messages"]))[0]["parts"][0]["content"] == "Done"


def test_content_is_redacted_before_export(run_id: str) -> None:
    """The redact callable sees prompt, completion and feedback content; only its output is exported."""

    def redact(text: str) -> str:
        return text.replace("sk-SECRET", "[key]")

    feedback = {"type": "HIL-Approval", "content": "ok, sk-SECRET", "timestamp_utc": "2026-03-01T10:00:01Z"}
    call = {"model_name": "m", "prompt": "use sk-SECRET", "completion": "sk-SECRET used"}
    for otel in _exported(capture_content=True, redact=redact):
        otel.logger.info("done", extra=valid_fields(llm_trace=[call], human_feedback=feedback))
        exported = json.dumps([span.to_json() for span in otel.spans()])
        assert "sk-SECRET" not in exported
        task = otel.only_task()
        (span,) = otel.calls_of(task)
        assert "use [key]" in _attributes(span)["gen_ai.input.messages"]
        assert "[key] used" in _attributes(span)["gen_ai.output.messages"]
        assert task.events[0].attributes == {
            "wflogging.feedback.type": "HIL-Approval",
            "wflogging.feedback.content": "ok, [key]",
        }


def test_failing_redactor_keeps_the_text_out(run_id: str) -> None:
    """If redaction raises, the text is left out, the span says so, and the caller sees nothing."""

    def redact(text: str) -> str:
        raise RuntimeError("detector down")

    feedback = {"type": "HIL-Approval", "content": "approve", "timestamp_utc": "2026-03-01T10:00:01Z"}
    for otel in _exported(capture_content=True, redact=redact):
        otel.logger.info("done", extra=valid_fields(human_feedback=feedback))
        task = otel.only_task()
        (call,) = otel.calls_of(task)
        assert _attributes(call)["wflogging.redaction_failed"] is True
        assert "gen_ai.input.messages" not in _attributes(call)
        assert task.events[0].attributes == {
            "wflogging.feedback.type": "HIL-Approval",
            "wflogging.redaction_failed": True,
        }


def test_long_content_is_clipped_and_stays_json(run_id: str) -> None:
    """max_content_chars cuts the text inside the message JSON, which still parses."""
    for otel in _exported(capture_content=True, max_content_chars=10):
        call = {"model_name": "m", "prompt": "é" * 25, "completion": "short"}
        otel.logger.info("done", extra=valid_fields(llm_trace=[call]))
        (span,) = otel.calls_of(otel.only_task())
        text = json.loads(_attributes(span)["gen_ai.input.messages"])[0]["parts"][0]["content"]
        assert text.startswith("é" * 10 + "…")
        assert "15 more characters" in text
        assert json.loads(_attributes(span)["gen_ai.output.messages"])[0]["parts"][0]["content"] == "short"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, ContentCapture.NO_CONTENT),
        ("", ContentCapture.NO_CONTENT),
        ("false", ContentCapture.NO_CONTENT),
        ("nonsense", ContentCapture.NO_CONTENT),
        ("TRUE", ContentCapture.SPAN_ONLY),
        (True, ContentCapture.SPAN_ONLY),
        (False, ContentCapture.NO_CONTENT),
        ("SPAN_AND_EVENT", ContentCapture.SPAN_AND_EVENT),
        (" event_only ", ContentCapture.EVENT_ONLY),
        ("NO_CONTENT", ContentCapture.NO_CONTENT),
    ],
)
def test_content_switch_values(setting: bool | str | None, expected: ContentCapture) -> None:
    """The switch takes the conventions' values and the boolean form; anything else means no content."""
    assert ContentCapture.parse(setting) is expected


# --- token usage and cost ---------------------------------------------------------------------


def test_usage_of_a_single_call_goes_on_the_call_span(otel: Exported, run_id: str) -> None:
    """With one call, the task's token totals are that call's usage (and are not repeated on the task)."""
    otel.logger.info("done", extra=valid_fields(cost_data={"tokens": {"input": 10, "output": 5}}))
    task = otel.only_task()
    (call,) = otel.calls_of(task)
    assert _attributes(call)["gen_ai.usage.input_tokens"] == 10
    assert _attributes(call)["gen_ai.usage.output_tokens"] == 5
    assert "gen_ai.usage.input_tokens" not in _attributes(task)
    assert _attributes(task)["wflogging.cost_data.tokens.input"] == 10


def test_usage_without_a_per_call_breakdown_goes_on_the_first_call(otel: Exported, run_id: str) -> None:
    """Task totals that name no call or model go on the first call span, scoped "task", counted once.

    Backends count tokens on LLM spans only: on the task span they would show 0.
    """
    calls = [{"model_name": "m", "prompt": "p", "completion": "c"}] * 2
    cost = {"usage": {"prompt_tokens": 30, "completion_tokens": 7}, "total_cost_usd": 0.5}
    otel.logger.info("done", extra=valid_fields(llm_trace=calls, cost_data=cost))
    task = otel.only_task()
    first, second = otel.calls_of(task)
    assert _attributes(first)["gen_ai.usage.input_tokens"] == 30
    assert _attributes(first)["gen_ai.usage.output_tokens"] == 7
    assert _attributes(first)["llm.cost.total"] == 0.5
    assert _attributes(first)["wflogging.usage.scope"] == "task"
    assert _attributes(first)["wflogging.usage.calls"] == 2
    assert not any(k.startswith(("gen_ai.usage.", "llm.cost")) for k in _attributes(second))
    assert not any(k.startswith(("gen_ai.usage.", "llm.cost")) for k in _attributes(task))


def test_a_retry_keeps_its_own_tokens_and_cost(otel: Exported, run_id: str) -> None:
    """record_task's per_call items put a retry's usage and money on the retry's span."""
    with wflogging.record_task(otel.logger, task_id="1", task_description="d", agent_name="a") as t:
        t.llm_call(
            model_name="claude-sonnet-4",
            prompt="p",
            completion="c",
            input_tokens=100,
            output_tokens=10,
            cost_usd=0.001,
        )
        t.llm_call(
            model_name="claude-sonnet-4",
            prompt="p",
            completion="c",
            input_tokens=120,
            output_tokens=12,
            cost_usd=0.0012,
            finish_reason="length",
        )
    first, second = otel.calls_of(otel.only_task())
    assert [_attributes(span)["gen_ai.usage.input_tokens"] for span in (first, second)] == [100, 120]
    assert [_attributes(span)["llm.cost.total"] for span in (first, second)] == [0.001, 0.0012]
    assert json.loads(str(_attributes(second)["langfuse.observation.cost_details"])) == {"total": 0.0012}
    assert _attributes(second)["gen_ai.response.finish_reasons"] == ("length",)
    assert {_attributes(span)["gen_ai.provider.name"] for span in (first, second)} == {"anthropic"}
    assert "gen_ai.usage.input_tokens" not in _attributes(otel.only_task())


def test_provider_from_the_call_the_option_or_the_model_name(run_id: str) -> None:
    """A call's own provider wins, then the handler's table, then the model family; unknown: none."""
    calls = [
        {"model_name": "claude-sonnet-4", "prompt": "p", "completion": "c"},
        {"model_name": "house-model", "prompt": "p", "completion": "c"},
        {"model_name": "gpt-4.1-mini", "prompt": "p", "completion": "c"},
        {"model_name": "mystery", "prompt": "p", "completion": "c"},
    ]
    cost = {"per_call": [{"call_sequence": 1, "provider": "aws.bedrock"}]}
    for otel in _exported(providers={"house-model": "groq"}):
        otel.logger.info("done", extra=valid_fields(llm_trace=calls, cost_data=cost))
        spans = otel.calls_of(otel.only_task())
        assert [_attributes(span).get("gen_ai.provider.name") for span in spans] == [
            "aws.bedrock",
            "groq",
            "openai",
            None,
        ]
        assert "gen_ai.provider.name" not in _attributes(otel.only_task())  # mixed: none claimed


def test_per_call_usage_from_cost_data(otel: Exported, run_id: str) -> None:
    """A cost_data.calls breakdown puts each call's tokens on its own span, matched by call_sequence."""
    calls = [{"model_name": "m", "prompt": "p", "completion": "c"}] * 2
    cost = {
        "tokens": {"input": 13, "output": 4},
        "calls": [
            {"call_sequence": 2, "input_tokens": 10, "output_tokens": 3},
            {"call_sequence": 1, "input_tokens": 3, "output_tokens": 1},
        ],
    }
    otel.logger.info("done", extra=valid_fields(llm_trace=calls, cost_data=cost))
    task = otel.only_task()
    usage = [
        (_attributes(call)["gen_ai.usage.input_tokens"], _attributes(call)["gen_ai.usage.output_tokens"])
        for call in otel.calls_of(task)
    ]
    assert usage == [(3, 1), (10, 3)]
    assert "gen_ai.usage.input_tokens" not in _attributes(task)


def test_per_model_breakdown_puts_a_repeated_models_totals_on_its_first_call(
    otel: Exported, run_id: str
) -> None:
    """Files with per-model totals only: one call gets its model's figures; a repeated model's
    totals go on its first call, scoped "model"; every token is on an LLM span exactly once."""
    calls = [
        {"model_name": "claude-sonnet-4", "prompt": "p", "completion": "c"},
        {"model_name": "gpt-4.1-mini", "prompt": "p", "completion": "c"},
        {"model_name": "gpt-4.1-mini", "prompt": "p", "completion": "c"},
    ]
    cost = {
        "tokens": {"input": 1900, "output": 60, "cached": 1800},
        "models": {
            "claude-sonnet-4": {"calls": 1, "input_tokens": 1822, "output_tokens": 31, "cached_tokens": 1800},
            "gpt-4.1-mini": {"calls": 2, "input_tokens": 78, "output_tokens": 29, "cached_tokens": 0},
        },
    }
    otel.logger.info("done", extra=valid_fields(llm_trace=calls, cost_data=cost))
    task = otel.only_task()
    first, second, third = otel.calls_of(task)

    def usage(span: ReadableSpan) -> dict[str, Any]:
        return {k: v for k, v in _attributes(span).items() if k.startswith("gen_ai.usage.")}

    assert usage(first) == {
        "gen_ai.usage.input_tokens": 1822,
        "gen_ai.usage.output_tokens": 31,
        "gen_ai.usage.cache_read.input_tokens": 1800,
    }
    assert _attributes(first)["wflogging.usage.scope"] == "call"
    assert usage(second) == {
        "gen_ai.usage.input_tokens": 78,
        "gen_ai.usage.output_tokens": 29,
        "gen_ai.usage.cache_read.input_tokens": 0,
    }
    assert _attributes(second)["wflogging.usage.scope"] == "model"
    assert _attributes(second)["wflogging.usage.calls"] == 2
    assert usage(third) == {}
    assert usage(task) == {}


def test_cost_data_is_flattened_into_attributes(otel: Exported, run_id: str) -> None:
    """Nested cost_data becomes dotted attributes; lists become JSON text; nulls are left out."""
    cost = {
        "total_cost_usd": 0.0123,
        "currency": "USD",
        "priced": True,
        "by_model": {"gpt-4.1-mini": {"input": 3, "usd": 0.001}},
        "models": ["a", "b"],
        "huge": 2**64 - 1,
        "note": None,
    }
    otel.logger.info("done", extra=valid_fields(cost_data=cost, llm_trace=[]))
    flattened = {
        key: value
        for key, value in _attributes(otel.only_task()).items()
        if key.startswith("wflogging.cost_data.")
    }
    assert flattened == {
        "wflogging.cost_data.total_cost_usd": 0.0123,
        "wflogging.cost_data.currency": "USD",
        "wflogging.cost_data.priced": True,
        "wflogging.cost_data.by_model.gpt-4.1-mini.input": 3,
        "wflogging.cost_data.by_model.gpt-4.1-mini.usd": 0.001,
        "wflogging.cost_data.models": '["a", "b"]',
        "wflogging.cost_data.huge": str(2**64 - 1),
    }


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=12,
)


def _leaves(value: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            found.update(_leaves(item, f"{prefix}.{key}"))
        elif item is not None:
            found[f"{prefix}.{key}"] = item
    return found


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(cost=st.dictionaries(st.text(), _json, max_size=5))
def test_any_cost_data_exports_every_leaf(otel: Exported, run_id: str, cost: dict[str, Any]) -> None:
    """Any JSON cost_data exports; each non-null leaf is an attribute an OTLP encoder accepts."""
    otel.exporter.clear()
    otel.logger.info("done", extra=valid_fields(cost_data=cost, llm_trace=[]))
    attributes = _attributes(otel.only_task())
    for name, value in _leaves(cost, "wflogging.cost_data").items():
        if name not in attributes:  # two paths can flatten to one name ({"a.b": 1} vs {"a": {"b": 2}})
            continue
        exported = attributes[name]
        if isinstance(value, list):
            assert json.loads(exported) == value
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 2**63:
            assert exported == str(value)
        else:
            assert exported == value


# --- what is not exported ------------------------------------------------------------------


def test_invalid_event_is_skipped_counted_and_reported_once(
    otel: Exported, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid event raises nothing, exports nothing, is counted, and one stderr line says so."""
    otel.logger.info("bad", extra=valid_fields(status="Done"))
    otel.logger.info("bad again", extra=valid_fields(agent_name=""))
    otel.logger.info("not an event")
    assert otel.spans() == []
    assert otel.handler.skipped_events == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1
    assert "wflogging.otel: a task event was not exported" in errors[0]
    assert "status" in errors[0]


def test_invalid_event_goes_to_the_file_handlers_rejects(tmp_path: Path, run_id: str) -> None:
    """Beside a TaskEventHandler, a skipped event is still stored with its reasons in the rejects file."""
    file_handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    for otel in _exported(rejects_filename=tmp_path / "otel.rejects.jsonl"):
        otel.logger.addHandler(file_handler)
        otel.logger.info("bad", extra=valid_fields(status="Done"))
        otel.logger.removeHandler(file_handler)
        file_handler.close()
        assert otel.spans() == []
    for path in (tmp_path / "events.rejects.jsonl", tmp_path / "otel.rejects.jsonl"):
        (reject,) = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert reject["reasons"][0]["path"] == "status"


@pytest.mark.parametrize(
    "otel_first",
    [
        True,
        False,
    ],
)
def test_generated_event_id_is_the_same_in_file_and_trace(
    tmp_path: Path, run_id: str, otel_first: bool
) -> None:
    """When event_id is left to wflogging, the file line and the exported span carry the same one."""
    file_handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    for otel in _exported():
        if otel_first:
            otel.logger.addHandler(file_handler)
        else:
            otel.logger.handlers.insert(0, file_handler)
        otel.logger.info("done", extra=valid_fields())
        otel.logger.removeHandler(file_handler)
        file_handler.close()
        (line,) = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
        task = otel.only_task()
        assert _attributes(task)["wflogging.event_id"] == json.loads(line)["event_id"]
        assert _id(task) == span_id_for(json.loads(line)["event_id"])


def test_callers_active_span_does_not_adopt_the_task(otel: Exported, run_id: str) -> None:
    """An orchestrator's own OTel span around the log call does not move the task out of the run's trace."""
    tracer = TracerProvider().get_tracer("orchestrator")
    with tracer.start_as_current_span("orchestrator step"):
        otel.logger.info("done", extra=valid_fields())
    (task,) = [span for span in otel.spans() if span.name.startswith("invoke_agent")]
    assert task.parent is None
    assert _trace(task) == uuid.UUID(run_id).int


def test_threads_keep_their_own_runs_and_ids(otel: Exported) -> None:
    """Events logged from many threads at once each land in their own run's trace with their own ids."""
    barrier = threading.Barrier(8)

    def work() -> None:
        with wflogging.workflow_run():
            barrier.wait()
            for _ in range(25):
                otel.logger.info("done", extra=valid_fields())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tasks = otel.task_spans()
    assert len(tasks) == 200
    assert len({_trace(task) for task in tasks}) == 8
    for task in tasks:
        attributes = _attributes(task)
        assert _trace(task) == uuid.UUID(attributes["wflogging.workflow_run_id"]).int
        assert _id(task) == span_id_for(attributes["wflogging.event_id"])
        (call,) = otel.calls_of(task)
        assert _trace(call) == _trace(task)
        assert _id(call) == span_id_for(attributes["wflogging.event_id"], 1)


def test_export_entry_replays_a_logged_file(tmp_path: Path, run_id: str) -> None:
    """Entries read back from the JSON Lines file export to the same ids as the live export."""
    file_handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    for live in _exported():
        live.logger.addHandler(file_handler)
        live.logger.info("one", extra=valid_fields())
        live.logger.info("two", extra=valid_fields(task_id="1.2", llm_trace=[]))
        live.logger.removeHandler(file_handler)
        file_handler.close()
        live_ids = sorted((_trace(span), _id(span), span.name) for span in live.spans())
    entries = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text("utf-8").splitlines()]
    for replay in _exported():
        assert all(replay.handler.export_entry(entry) for entry in entries)
        assert not replay.handler.export_entry({**entries[0], "status": "Done"})
        assert replay.handler.skipped_events == 1
        assert sorted((_trace(span), _id(span), span.name) for span in replay.spans()) == live_ids


def test_configured_by_dictconfig(run_id: str) -> None:
    """The handler is configured by dotted path in dictConfig, with service name and resource."""
    logger = unique_logger()
    CONFIGURED_EXPORTER.clear()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "otel": {
                    "class": "wflogging.otel.OTelTaskEventHandler",
                    "exporter": "ext://tests.test_otel.CONFIGURED_EXPORTER",
                    "service_name": "orchestrator",
                    "resource_attributes": {"openinference.project.name": "wf"},
                }
            },
            "loggers": {logger.name: {"handlers": ["otel"], "level": "INFO"}},
        }
    )
    (handler,) = logger.handlers
    try:
        logger.info("done", extra=valid_fields())
        handler.flush()
    finally:
        logger.removeHandler(handler)
        handler.close()
    spans = CONFIGURED_EXPORTER.get_finished_spans()
    assert {span.name for span in spans} == {"invoke_agent /dev:implement-pro", "chat claude-sonnet-4"}
    for span in spans:
        assert span.resource.attributes["service.name"] == "orchestrator"
        assert span.resource.attributes["openinference.project.name"] == "wf"


def test_down_collector_costs_the_caller_nothing(run_id: str) -> None:
    """With nothing listening and a tiny queue, logging and closing raise nothing."""
    logger = unique_logger()
    handler = OTelTaskEventHandler(
        "http://127.0.0.1:9/v1/traces", timeout=0.5, max_queue_size=4, max_export_batch_size=2
    )
    logger.addHandler(handler)
    try:
        for _ in range(50):
            logger.info("done", extra=valid_fields())
    finally:
        logger.removeHandler(handler)
        handler.close()
    handler.close()  # a second close is harmless


def test_closed_handler_exports_nothing_and_raises_nothing(run_id: str) -> None:
    """After close, logging through the handler is a no-op; replaying into it is refused."""
    for otel in _exported():
        otel.logger.info("before", extra=valid_fields())
        otel.handler.close()
        otel.logger.info("after", extra=valid_fields(task_id="9.9"))
        tasks = [span for span in otel.exporter.get_finished_spans() if span.parent is None]
        assert [_attributes(span)["wflogging.task.id"] for span in tasks] == ["1.1"]
        with pytest.raises(ValueError, match="closed"):
            otel.handler.export_entry({})


# --- sampling -------------------------------------------------------------------------------


def test_sampling_keeps_one_run_in_n_by_run_id_and_every_failure(run_id: str) -> None:
    """sample_runs=N exports the runs the run-id hash picks, plus failed or paused tasks of others."""
    runs = [str(uuid.uuid4()) for _ in range(60)]
    picked = {run for run in runs if run_is_sampled(run, 4)}
    assert 0 < len(picked) < len(runs)  # the hash picks some, not all
    assert picked == {run for run in runs if run_is_sampled(run, 4)}  # and the same again
    for otel in _exported(sample_runs=4):
        for run in runs:
            otel.logger.info("ok", extra=valid_fields(workflow_run_id=run))
        left_out = next(run for run in runs if run not in picked)
        otel.logger.info("failed", extra=valid_fields(workflow_run_id=left_out, status="Failed"))
        otel.logger.info("after", extra=valid_fields(workflow_run_id=left_out))
        exported = [
            (_attributes(span)["wflogging.workflow_run_id"], _attributes(span)["wflogging.task.status"])
            for span in otel.spans()
            if span.parent is None
        ]
        assert exported == [(run, "Success") for run in runs if run in picked] + [
            (left_out, "Failed"),
            (left_out, "Success"),
        ]
        assert otel.handler.sampled_out_events == len(runs) - len(picked)
