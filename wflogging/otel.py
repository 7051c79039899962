"""Export task events to OpenTelemetry backends over OTLP (the ``wflogging[otel]`` extra).

:class:`OTelTaskEventHandler` is a :class:`logging.Handler` that sits beside
:class:`~wflogging.TaskEventHandler` in the same ``dictConfig``. It turns each
task event into spans with the official OpenTelemetry SDK and hands them to the
SDK's batch processor, which exports them from its own thread:

- a workflow run is one trace: the trace id *is* ``workflow_run_id`` (both are
  128 bits), so every task of a run, from any host or process, lands in the
  same trace;
- a task is an ``invoke_agent {agent_name}`` span with the event's start and end
  times (GenAI semantic conventions where they name a thing, ``wflogging.*``
  where they don't); ``Failed`` sets the span's status to ``ERROR`` and
  ``wflogging.task.status`` tells the three outcomes apart;
- each LLM call is a ``chat {model_name}`` child span with its call sequence,
  model and token usage; prompt and completion go along only when content
  capture is on (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` or
  ``capture_content=``), after the optional ``redact`` callable;
- human feedback is a ``wflogging.human_feedback`` span event at its own time.

Span ids are derived from ``event_id``, so exporting the same entry twice (live,
then again from the JSON Lines file with :meth:`OTelTaskEventHandler.export_entry`)
gives the same ids. The local file stays the source of truth: a collector that
is down costs a bounded queue and nothing else, and this handler never raises to
the caller of ``logger.info``.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

try:
    from opentelemetry import trace as trace_api
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"wflogging.otel needs the OpenTelemetry SDK ({missing.name} is missing): "
        "pip install 'wflogging[otel]'"
    ) from missing

from wflogging import schema
from wflogging.event import TaskEventRejected, build_entry
from wflogging.formatter import TaskEventFormatter
from wflogging.handler import TaskEventsOnlyHandler
from wflogging.rejects import RejectSink

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "ContentCapture",
    "OTelTaskEventHandler",
    "span_id_for",
    "trace_id_for_run",
]

#: The GenAI conventions' switch for exporting prompts and completions (off unless set).
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

#: Name of the instrumentation scope on every exported span.
SCOPE_NAME = "wflogging"

#: Span event for a human's input (the GenAI conventions have none for human approvals).
FEEDBACK_EVENT = "wflogging.human_feedback"

#: The GenAI conventions' event carrying message content.
CONTENT_EVENT = "gen_ai.client.inference.operation.details"

_AttributeValue = str | bool | int | float
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_FLATTENED_DEPTH = 8

Redactor = Callable[[str], str]


class ContentCapture(enum.Enum):
    """Where prompt and completion text goes, as the GenAI conventions' switch names it."""

    NO_CONTENT = "no_content"
    SPAN_ONLY = "span_only"
    EVENT_ONLY = "event_only"
    SPAN_AND_EVENT = "span_and_event"

    @classmethod
    def parse(cls, setting: bool | str | None) -> ContentCapture:
        """A capture mode from a handler option or the environment variable's text.

        ``True``/``"true"`` mean ``SPAN_ONLY`` (the older boolean form of the switch);
        ``False``, ``None``, ``""`` and anything unrecognised mean ``NO_CONTENT``:
        content is exported only on an explicit opt-in.
        """
        if isinstance(setting, bool):
            return cls.SPAN_ONLY if setting else cls.NO_CONTENT
        text = (setting or "").strip().lower()
        if text in ("true", "1", "yes", "on"):
            return cls.SPAN_ONLY
        for member in cls:
            if member.value == text:
                return member
        return cls.NO_CONTENT

    @property
    def on_span(self) -> bool:
        return self in (ContentCapture.SPAN_ONLY, ContentCapture.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        return self in (ContentCapture.EVENT_ONLY, ContentCapture.SPAN_AND_EVENT)


# --- identifiers ----------------------------------------------------------------------------


def trace_id_for_run(workflow_run_id: str) -> int:
    """The OTel trace id of a run: the run's UUID as a 128-bit integer.

    The nil UUID (an invalid trace id) maps to a fixed hash of itself instead.
    """
    return int(uuid.UUID(workflow_run_id)) or _hash_id("trace", workflow_run_id, bits=128)


def span_id_for(event_id: str, call_sequence: int | None = None) -> int:
    """The 64-bit span id of a task (``call_sequence`` unset) or of one of its LLM calls.

    A hash of the event id, so re-exporting an entry gives the same span ids and a
    backend that keys spans by id stores it once.
    """
    part = "task" if call_sequence is None else f"call/{call_sequence}"
    return _hash_id(part, event_id, bits=64)


def _hash_id(part: str, key: str, *, bits: int) -> int:
    digest = hashlib.blake2b(f"{part}:{key}".encode(), digest_size=bits // 8).digest()
    return int.from_bytes(digest, "big") or 1  # zero is the invalid id


def _trace_id_is_random(workflow_run_id: str) -> bool:
    # UUID versions 4 and 7 have random low 56 bits, what W3C's "random" trace flag promises.
    return uuid.UUID(workflow_run_id).version in (4, 7)


class _PresetIdGenerator(IdGenerator):
    """Hands the SDK the ids the handler chose for the next span started in this thread.

    The SDK's tracer asks its id generator for a root span's trace id and for
    every span id; presetting them per thread lets the handler use the SDK's own
    span pipeline (limits, processors) with the deterministic ids above.
    """

    def __init__(self) -> None:
        self._next = threading.local()
        self._random = RandomIdGenerator()

    @property
    def _preset(self) -> tuple[int | None, int | None, bool]:
        preset: tuple[int | None, int | None, bool] = getattr(self._next, "ids", (None, None, False))
        return preset

    def preset(self, *, span_id: int, trace_id: int | None = None, random_trace_id: bool = False) -> None:
        self._next.ids = (trace_id, span_id, random_trace_id)

    def clear(self) -> None:
        self._next.ids = (None, None, False)

    def generate_trace_id(self) -> int:
        trace_id = self._preset[0]
        return self._random.generate_trace_id() if trace_id is None else trace_id

    def generate_span_id(self) -> int:
        span_id = self._preset[1]
        return self._random.generate_span_id() if span_id is None else span_id

    def is_trace_id_random(self) -> bool:
        return self._preset[2]


# --- values -------------------------------------------------------------------------------


def unix_nanos(instant: str) -> int:
    """An entry's ``...Z`` timestamp as integer nanoseconds since the Unix epoch (exact)."""
    moment = schema.instant(instant, "timestamp")
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

_USAGE_CONTAINERS = ("tokens", "usage", "token_usage")
_PER_CALL_CONTAINERS = ("calls", "llm_calls", "per_call")


def token_usage(data: Mapping[str, Any]) -> dict[str, int]:
    """GenAI usage attributes found in a ``cost_data``-like mapping.

    Recognises ``input_tokens``/``output_tokens``/``cached_tokens`` (or OpenAI's
    ``prompt_tokens``/``completion_tokens``) at the top level or under
    ``tokens``/``usage``/``token_usage``, and the recorder's
    ``{"tokens": {"input": n, "output": n, "cached": n}}`` shape. Cached tokens
    are taken as part of the input count, as the GenAI conventions define it.
    """
    places = [data, *(data[key] for key in _USAGE_CONTAINERS if isinstance(data.get(key), Mapping))]
    usage: dict[str, int] = {}
    for attribute, keys in _USAGE_KEYS:
        for place in places:
            found = next((place[key] for key in keys if _is_count(place.get(key))), None)
            if found is not None:
                usage[attribute] = found
                break
    return usage


_USAGE_KEYS = (
    ("gen_ai.usage.input_tokens", ("input_tokens", "prompt_tokens", "input")),
    ("gen_ai.usage.output_tokens", ("output_tokens", "completion_tokens", "output")),
    ("gen_ai.usage.cache_read.input_tokens", ("cached_tokens", "cache_read_input_tokens", "cached")),
)


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= _INT64_MAX


def per_call_usage(cost_data: Mapping[str, Any], models: Sequence[str]) -> dict[int, dict[str, int]]:
    """Token usage per call sequence, where ``cost_data`` attributes it to single calls.

    ``models`` is the model name of each call, in call order. Usage comes from a
    list under ``calls``/``llm_calls``/``per_call`` (matched by each item's
    ``call_sequence``, else by position); else from a per-model breakdown under
    ``models`` (as :func:`wflogging.record_task` writes it) for each model used by
    exactly one call; else, for a task with exactly one call, the task's totals.
    """
    for key in _PER_CALL_CONTAINERS:
        items = cost_data.get(key)
        if isinstance(items, list):
            found: dict[int, dict[str, int]] = {}
            for position, item in enumerate(items, start=1):
                if isinstance(item, Mapping):
                    sequence = item.get("call_sequence", position)
                    usage = token_usage(item)
                    if usage and _is_count(sequence) and 1 <= sequence <= len(models):
                        found[sequence] = usage
            return found
    by_model = cost_data.get("models")
    if isinstance(by_model, Mapping):
        found = {}
        for sequence, model in enumerate(models, start=1):
            breakdown = by_model.get(model)
            if isinstance(breakdown, Mapping) and models.count(model) == 1:
                usage = token_usage(breakdown)
                if usage:
                    found[sequence] = usage
        if found:
            return found
    if len(models) == 1:
        usage = token_usage(cost_data)
        if usage:
            return {1: usage}
    return {}


def unattributed_usage(
    cost_data: Mapping[str, Any], per_call: Mapping[int, Mapping[str, int]], calls: int
) -> dict[str, int]:
    """The task's usage not already on a call span: the totals minus what the calls carry.

    So that summing ``gen_ai.usage.*`` over a trace counts every token once.
    """
    if calls and len(per_call) == calls:
        return {}
    remainder: dict[str, int] = {}
    for attribute, total in token_usage(cost_data).items():
        rest = total - sum(usage.get(attribute, 0) for usage in per_call.values())
        if rest > 0:
            remainder[attribute] = rest
    return remainder


def flatten(value: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, _AttributeValue]]:
    """Span attributes for a JSON object: ``prefix.a.b`` = scalar; lists as JSON text.

    Nulls are left out (OTel attributes have no null); integers beyond 64 bits
    become text (OTLP integers are signed 64-bit).
    """
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, Mapping) and prefix.count(".") < _MAX_FLATTENED_DEPTH:
            yield from flatten(item, name)
        elif isinstance(item, bool | str | float):
            yield name, item
        elif isinstance(item, int):
            yield name, item if _INT64_MIN <= item <= _INT64_MAX else str(item)
        elif item is not None:
            yield name, json.dumps(item, ensure_ascii=False)


def _clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters in the local log]"


def _messages(role: str, content: str) -> str:
    # The GenAI conventions' message JSON: a list of messages, each with typed parts.
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": content}]}], ensure_ascii=False)


# --- the handler ----------------------------------------------------------------------------


class OTelTaskEventHandler(TaskEventsOnlyHandler):  # the SDK's tracer and processor are thread-safe
    """Exports each task event as spans of the run's trace, batched, over OTLP.

    Records that are not task events are ignored. An event that cannot be made
    conformant is not exported: it is counted in :attr:`skipped_events` and, if
    ``rejects_filename`` is given, reported there (normally the
    :class:`~wflogging.TaskEventHandler` beside this one stores it in its rejects
    file, with the reasons). A first skip is announced once on stderr.

    Args:
        endpoint: the OTLP/HTTP traces URL, path included
            (``http://127.0.0.1:4318/v1/traces``). Unset, the OTLP exporter reads
            ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
            (default ``http://localhost:4318/v1/traces``).
        headers: extra HTTP headers (authentication for hosted backends).
        timeout: seconds allowed for one batch's export, retries included (the
            exporter's default is 10 or ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT``). With a
            collector that does not answer, :meth:`flush` and :meth:`close` wait up
            to this long for each batch still queued.
        exporter: a ready :class:`~opentelemetry.sdk.trace.export.SpanExporter`, or
            a class/factory called without arguments (``"ext://..."`` in
            ``dictConfig``), instead of OTLP/HTTP (e.g. the gRPC exporter).
        service_name: the ``service.name`` resource attribute; unset,
            ``OTEL_SERVICE_NAME`` or ``"wflogging"``.
        resource_attributes: more resource attributes (e.g. Phoenix's
            ``openinference.project.name``).
        capture_content: export prompts and completions: ``True``, ``False`` or one
            of ``span_only``, ``event_only``, ``span_and_event``, ``no_content``.
            Unset, ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` decides;
            the default is no content.
        redact: a function applied to every prompt, completion and feedback
            content before export. If it raises, that text is left out and the
            span says ``wflogging.redaction_failed``.
        max_content_chars: longer prompts and completions are cut to this many
            characters on export (the local log keeps them whole), so a batch
            stays below collectors' request limits. ``None``: no limit.
        max_queue_size, max_export_batch_size, schedule_delay_millis: the batch
            processor's bounds (the SDK's defaults: 2048, 512, 5000 ms). When the
            queue is full, new spans are dropped, never waited for.
        rejects_filename: where to report events this handler skips.
        level: the handler's level.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        exporter: SpanExporter | Callable[[], SpanExporter] | None = None,
        service_name: str | None = None,
        resource_attributes: Mapping[str, _AttributeValue] | None = None,
        capture_content: bool | str | None = None,
        redact: Redactor | None = None,
        max_content_chars: int | None = 32_768,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        schedule_delay_millis: float = 5000,
        rejects_filename: str | os.PathLike[str] | None = None,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.capture = ContentCapture.parse(
            os.environ.get(CAPTURE_CONTENT_ENV) if capture_content is None else capture_content
        )
        self.redact = redact
        self.max_content_chars = max_content_chars
        #: Task events not exported because they are not conformant.
        self.skipped_events = 0
        self._rejects = None if rejects_filename is None else RejectSink(rejects_filename)
        self._entries = TaskEventFormatter()
        self._ids = _PresetIdGenerator()
        self._closed = False
        self._provider = TracerProvider(
            resource=_resource(service_name, resource_attributes),
            sampler=ALWAYS_ON,  # the run, not a ratio of random trace ids, is the unit to keep
            id_generator=self._ids,
            shutdown_on_exit=False,  # logging.shutdown() closes this handler at exit
        )
        self._provider.add_span_processor(
            BatchSpanProcessor(
                _make_exporter(exporter, endpoint, headers, timeout),
                max_queue_size=max_queue_size,
                max_export_batch_size=max_export_batch_size,
                schedule_delay_millis=schedule_delay_millis,
            )
        )
        self._tracer = self._provider.get_tracer(SCOPE_NAME, _version())

    # --- logging.Handler --------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        if self._closed:  # the export thread is gone; the events file still has the event
            return
        try:
            entry = self._entry(record)
        except TaskEventRejected as rejected:
            self._skip(rejected, record)
            return
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        try:
            self._export(entry)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _entry(self, record: logging.LogRecord) -> dict[str, Any]:
        # The formatter builds the entry once per record and keeps it there, so the
        # file handler and this one write the same generated event_id.
        return self._entries.entry(record)

    def export_entry(self, entry: Mapping[str, Any]) -> bool:
        """Export one entry read back from a JSON Lines file ("log now, ship later").

        Returns ``False`` (and counts a skip) if the entry is not conformant. Span
        ids come from ``event_id``, so an entry already exported live gets the
        same ids again.
        """
        if self._closed:
            raise ValueError("export_entry on a closed OTelTaskEventHandler")
        try:
            built = build_entry(entry)
        except TaskEventRejected as rejected:
            self._skip(rejected, None)
            return False
        self._export(built)
        return True

    def flush(self) -> None:
        """Export everything queued now (blocks until sent or the export times out)."""
        if not self._closed:
            self._provider.force_flush()

    def close(self) -> None:
        """Export what is queued, then stop the export thread. Never raises."""
        try:
            if not self._closed:
                self._closed = True
                self._provider.shutdown()
                if self._rejects is not None:
                    self._rejects.close()
        except Exception:  # closing at exit must not fail the program
            logging.getLogger(__name__).debug("closing the OTLP export failed", exc_info=True)
        finally:
            super().close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ({logging.getLevelName(self.level)})>"

    # --- the mapping --------------------------------------------------------------------

    def _export(self, entry: Mapping[str, Any]) -> None:
        run_id: str = entry["workflow_run_id"]
        event_id: str = entry["event_id"]
        stamps = entry["timestamps"]
        start, end = unix_nanos(stamps["start_time_utc"]), unix_nanos(stamps["end_time_utc"])
        cost_data: Mapping[str, Any] = entry["cost_data"]
        calls: Sequence[Mapping[str, Any]] = entry["llm_trace"]
        call_usage = per_call_usage(cost_data, [call["model_name"] for call in calls])

        attributes = task_attributes(entry)
        # Usage goes on the call spans where it is known per call, the rest on the task span.
        attributes.update(unattributed_usage(cost_data, call_usage, len(calls)))
        attributes.update(flatten(cost_data, "wflogging.cost_data"))
        extensions = dict(entry.get("extensions") or {})
        error = extensions.pop("error", None)
        if extensions:
            attributes["wflogging.extensions"] = json.dumps(extensions, ensure_ascii=False)
        if entry["status"] == schema.Status.FAILED.value:
            attributes["error.type"] = _error_type(error)

        self._ids.preset(
            trace_id=trace_id_for_run(run_id),
            span_id=span_id_for(event_id),
            random_trace_id=_trace_id_is_random(run_id),
        )
        try:
            task = self._tracer.start_span(
                f"invoke_agent {entry['agent_name']}",
                context=trace_api.set_span_in_context(trace_api.INVALID_SPAN),  # a root: ignore the caller's
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=start,
            )
        finally:
            self._ids.clear()
        if isinstance(error, Mapping):
            task.add_event("exception", _exception_attributes(error), timestamp=end)
        feedback = entry["human_feedback"]
        if feedback is not None:
            self._add_feedback(task, feedback)
        if entry["status"] == schema.Status.FAILED.value:
            task.set_status(Status(StatusCode.ERROR, _error_description(error)))

        parent = trace_api.set_span_in_context(task)
        for call in calls:
            usage = call_usage.get(call["call_sequence"], {})
            self._export_call(call, parent=parent, event_id=event_id, start=start, end=end, usage=usage)
        task.end(end_time=end)

    def _export_call(
        self,
        call: Mapping[str, Any],
        *,
        parent: Any,
        event_id: str,
        start: int,
        end: int,
        usage: Mapping[str, int],
    ) -> None:
        sequence: int = call["call_sequence"]
        attributes: dict[str, _AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": call["model_name"],
            "gen_ai.response.model": call["model_name"],
            "wflogging.llm_call.sequence": sequence,
            # The SOP records no per-call times: a call span covers its task's interval.
            "wflogging.llm_call.timing": "task",
            **usage,
        }
        content: dict[str, _AttributeValue] = {}
        if self.capture is not ContentCapture.NO_CONTENT:
            content, failed = self._content(call)
            if failed:
                attributes["wflogging.redaction_failed"] = True
            if self.capture.on_span:
                attributes.update(content)
        self._ids.preset(span_id=span_id_for(event_id, sequence))
        try:
            span = self._tracer.start_span(
                f"chat {call['model_name']}",
                context=parent,
                kind=SpanKind.CLIENT,
                attributes=attributes,
                start_time=start,
            )
        finally:
            self._ids.clear()
        if content and self.capture.on_event:
            span.add_event(CONTENT_EVENT, content, timestamp=end)
        span.end(end_time=end)

    def _content(self, call: Mapping[str, Any]) -> tuple[dict[str, _AttributeValue], bool]:
        content: dict[str, _AttributeValue] = {}
        failed = False
        for attribute, role, text in (
            ("gen_ai.input.messages", "user", call["prompt"]),
            ("gen_ai.output.messages", "assistant", call["completion"]),
        ):
            redacted = self._redacted(text)
            if redacted is None:
                failed = True
            else:
                content[attribute] = _messages(role, _clip(redacted, self.max_content_chars))
        return content, failed

    def _add_feedback(self, span: trace_api.Span, feedback: Mapping[str, Any]) -> None:
        attributes: dict[str, _AttributeValue] = {"wflogging.feedback.type": feedback["type"]}
        content = self._redacted(feedback["content"])
        if content is None:
            attributes["wflogging.redaction_failed"] = True
        else:
            attributes["wflogging.feedback.content"] = content
        span.add_event(FEEDBACK_EVENT, attributes, timestamp=unix_nanos(feedback["timestamp_utc"]))

    def _redacted(self, text: str) -> str | None:
        if self.redact is None:
            return text
        try:
            return str(self.redact(text))
        except Exception:  # a failing redactor must never let the raw text out
            return None

    def _skip(self, rejected: TaskEventRejected, record: logging.LogRecord | None) -> None:
        self.skipped_events += 1
        if self._rejects is not None and record is not None:
            self._rejects.report(rejected, record)
        if self.skipped_events == 1 and sys.stderr is not None:
            print(
                f"wflogging.otel: a task event was not exported ({rejected}); the TaskEventHandler's "
                "rejects file (or this handler's rejects_filename) keeps it; further skips are "
                "only counted (OTelTaskEventHandler.skipped_events)",
                file=sys.stderr,
            )


def task_attributes(entry: Mapping[str, Any]) -> dict[str, _AttributeValue]:
    """The task span's attributes for a conformant entry (usage and cost_data aside)."""
    return {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": entry["agent_name"],
        "wflogging.event_id": entry["event_id"],
        "wflogging.workflow_run_id": entry["workflow_run_id"],
        "wflogging.task.id": entry["task_id"],
        "wflogging.task.description": entry["task_description"],
        "wflogging.task.status": entry["status"],
        "wflogging.task.duration_seconds": entry["timestamps"]["duration_seconds"],
        "wflogging.llm_call.count": len(entry["llm_trace"]),
    }


def _error_type(error: object) -> str:
    if isinstance(error, Mapping) and isinstance(error.get("type"), str) and error["type"]:
        return str(error["type"])
    return "_OTHER"  # the conventions' value when the error has no type


def _error_description(error: object) -> str:
    if isinstance(error, Mapping) and isinstance(error.get("type"), str):
        message = error.get("message")
        return f"{error['type']}: {message}" if message else str(error["type"])
    return "task failed"


def _exception_attributes(error: Mapping[str, Any]) -> dict[str, _AttributeValue]:
    names = {"type": "exception.type", "message": "exception.message", "traceback": "exception.stacktrace"}
    return {names[key]: value for key, value in error.items() if key in names and isinstance(value, str)}


def _resource(service_name: str | None, extra: Mapping[str, _AttributeValue] | None) -> Resource:
    attributes: dict[str, _AttributeValue] = dict(extra or {})
    if service_name:
        attributes[SERVICE_NAME] = service_name
    resource = Resource.create(attributes)
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "wflogging"}))
    return resource


def _make_exporter(
    exporter: SpanExporter | Callable[[], SpanExporter] | None,
    endpoint: str | None,
    headers: Mapping[str, str] | None,
    timeout: float | None,
) -> SpanExporter:
    if isinstance(exporter, SpanExporter):
        return exporter
    if exporter is not None:
        return exporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as missing:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OTLP/HTTP export needs opentelemetry-exporter-otlp-proto-http: pip install 'wflogging[otel]'"
        ) from missing
    return OTLPSpanExporter(endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout)


def _version() -> str:
    from wflogging import __version__

    return __version__
