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
from decimal import Decimal
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
from wflogging.otel_delivery import DeliveryTracker, RecordingSession
from wflogging.otel_usage import CallFigures, provider_for_model, trace_figures
from wflogging.rejects import RejectSink
from wflogging.terminal import say

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "SCHEMA_URL",
    "SEMCONV_VERSION",
    "ContentCapture",
    "OTelTaskEventHandler",
    "run_is_sampled",
    "span_id_for",
    "trace_id_for_run",
]

#: The GenAI conventions' switch for exporting prompts and completions (off unless set).
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

#: Name of the instrumentation scope on every exported span.
SCOPE_NAME = "wflogging"

#: The OpenTelemetry semantic conventions the spans follow (GenAI attributes, messages and
#: provider names as that release defines them), stated as the scope's schema URL.
SEMCONV_VERSION = "1.37.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

#: ``finish_reason`` of an output message when the entry does not say: the GenAI message
#: schema requires one (a backend that validates drops a message without it), and a
#: completion that was logged in full is one the model finished.
DEFAULT_FINISH_REASON = "stop"

#: Span event for a human's input (the GenAI conventions have none for human approvals).
FEEDBACK_EVENT = "wflogging.human_feedback"

#: The GenAI conventions' event carrying message content.
CONTENT_EVENT = "gen_ai.client.inference.operation.details"

_AttributeValue = str | bool | int | float
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_FLATTENED_DEPTH = 8
_KEPT_RUNS_REMEMBERED = 10_000

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


def _messages(role: str, content: str, extra: Mapping[str, str]) -> str:
    # The GenAI conventions' message JSON: a list of messages, each with typed parts (an
    # output message also needs its finish_reason, or validating backends drop it).
    message = {"role": role, "parts": [{"type": "text", "content": content}], **extra}
    return json.dumps([message], ensure_ascii=False)


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
        providers: ``gen_ai.provider.name`` by model name, for models whose name
            does not tell (a call's own ``provider`` in ``cost_data.per_call`` wins;
            unset, :func:`~wflogging.otel_usage.provider_for_model` infers it).
        sample_runs: export 1 run in this many (default 1: every run), chosen by a
            hash of ``workflow_run_id``, so every process and every re-export makes
            the same choice. Events of a run left out are still exported when they
            are ``Failed`` or ``HIL-Paused``, and so is every later event of that
            run. The events file always keeps everything.
        announce_failures: say the first delivery failure on stderr (default); off for
            a caller that reports :attr:`delivery` itself, as ``wflogging export`` does.
        rejects_filename: where to report events this handler skips.
        level: the handler's level.

    **Delivery.** :attr:`delivery` counts the spans the backend accepted and those
    it did not. A refused connection fails a batch at once (no retries), an endpoint
    that does not answer fails it after ``timeout``; after a failure the next 30 s
    of batches fail at once, so closing with the collector down takes at most one
    ``timeout``. The first failure is reported once on stderr, as one line naming
    the URL and the cause; the events file is unaffected.
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
        providers: Mapping[str, str] | None = None,
        sample_runs: int = 1,
        announce_failures: bool = True,
        rejects_filename: str | os.PathLike[str] | None = None,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        if type(sample_runs) is not int or sample_runs < 1:
            raise ValueError(f"sample_runs: expected a whole number >= 1, got {sample_runs!r}")
        self.capture = ContentCapture.parse(
            os.environ.get(CAPTURE_CONTENT_ENV) if capture_content is None else capture_content
        )
        if self.capture is ContentCapture.EVENT_ONLY:
            say(
                "wflogging.otel: capture_content=event_only puts prompts and completions only on span "
                "events; backends that read span attributes (Arize Phoenix, Langfuse) show no messages: "
                "use span_and_event to reach both"
            )
        self.providers = dict(providers) if providers is not None else None
        self.sample_runs = sample_runs
        #: Task events of runs left out by ``sample_runs`` (the events file keeps them).
        self.sampled_out_events = 0
        self._kept_runs: dict[str, None] = {}  # runs kept for a failure or pause, oldest first
        self.redact = redact
        self.max_content_chars = max_content_chars
        #: Task events not exported because they are not conformant.
        self.skipped_events = 0
        self._rejects = None if rejects_filename is None else RejectSink(rejects_filename)
        # The exception's type is exported (and its message, with content capture on).
        self._entries = TaskEventFormatter(error_details=True)
        self._ids = _PresetIdGenerator()
        self._closed = False
        self._provider = TracerProvider(
            resource=_resource(service_name, resource_attributes),
            sampler=ALWAYS_ON,  # the run, not a ratio of random trace ids, is the unit to keep
            id_generator=self._ids,
            shutdown_on_exit=False,  # logging.shutdown() closes this handler at exit
        )
        # What reached the backend (accepted and failed span counts, the last problem).
        self.delivery = _make_exporter(exporter, endpoint, headers, timeout)
        self._reported_problem = not announce_failures
        self._provider.add_span_processor(
            BatchSpanProcessor(
                self.delivery,
                max_queue_size=max_queue_size,
                max_export_batch_size=max_export_batch_size,
                schedule_delay_millis=schedule_delay_millis,
            )
        )
        self._tracer = self._provider.get_tracer(SCOPE_NAME, _version(), schema_url=SCHEMA_URL)

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
            if self._keeps(entry):
                self._export(entry)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _keeps(self, entry: Mapping[str, Any]) -> bool:
        """The live sampling decision for one event (``sample_runs``)."""
        if self.sample_runs == 1:
            return True
        run_id: str = entry["workflow_run_id"]
        if run_is_sampled(run_id, self.sample_runs) or run_id in self._kept_runs:
            return True
        if entry["status"] != schema.Status.SUCCESS.value:
            self._kept_runs[run_id] = None
            if len(self._kept_runs) > _KEPT_RUNS_REMEMBERED:
                del self._kept_runs[next(iter(self._kept_runs))]
            return True
        self.sampled_out_events += 1
        return False

    def _entry(self, record: logging.LogRecord) -> dict[str, Any]:
        # The formatter builds the entry once per record and keeps it there, so the
        # file handler and this one write the same generated event_id.
        return self._entries.entry(record)

    def export_entry(self, entry: Mapping[str, Any]) -> bool:
        """Export one entry read back from a JSON Lines file ("log now, ship later").

        Returns ``False`` (and counts a skip) if the entry is not conformant. Span
        ids come from ``event_id``, so an entry already exported live gets the
        same ids again. ``sample_runs`` does not apply: the caller, who can see
        whole runs, chooses (as ``wflogging export`` does with
        :func:`~wflogging.otel.run_is_sampled`).
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
            self._report_problem()

    def close(self) -> None:
        """Export what is queued, then stop the export thread. Never raises."""
        try:
            if not self._closed:
                self._closed = True
                self._provider.shutdown()
                self._report_problem()
                if self._rejects is not None:
                    self._rejects.close()
        except Exception:  # closing at exit must not fail the program
            logging.getLogger(__name__).debug("closing the OTLP export failed", exc_info=True)
        finally:
            super().close()

    def _report_problem(self) -> None:
        problem = self.delivery.problem
        if problem is not None and not self._reported_problem:
            self._reported_problem = True
            say(f"wflogging.otel: {problem}; the events file keeps every event")

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
        figures = trace_figures(cost_data, [call["model_name"] for call in calls])
        providers = {
            call["call_sequence"]: self._provider_of(
                call["model_name"], figures.calls.get(call["call_sequence"])
            )
            for call in calls
        }
        with_content = self.capture is not ContentCapture.NO_CONTENT

        attributes = task_attributes(entry, with_content=with_content)
        shared_provider = set(providers.values())
        if len(shared_provider) == 1 and None not in shared_provider:
            attributes["gen_ai.provider.name"] = str(next(iter(shared_provider)))
        # What the call spans do not carry (module otel_usage): every token once per trace.
        attributes.update(figures.task_usage)
        if figures.task_cost_usd is not None:
            attributes.update(cost_attributes(figures.task_cost_usd))
        attributes.update(flatten(cost_data, "wflogging.cost_data"))
        extensions = dict(entry.get("extensions") or {})
        error = extensions.pop("error", None)
        if extensions and with_content:  # extensions are the caller's free-form data
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
            task.add_event("exception", _exception_attributes(error, with_content), timestamp=end)
        feedback = entry["human_feedback"]
        if feedback is not None:
            self._add_feedback(task, feedback)
        if entry["status"] == schema.Status.FAILED.value:
            task.set_status(Status(StatusCode.ERROR, _error_description(error, with_content)))

        parent = trace_api.set_span_in_context(task)
        for call in calls:
            sequence = call["call_sequence"]
            self._export_call(
                call,
                parent=parent,
                event_id=event_id,
                start=start,
                end=end,
                figures=figures.calls.get(sequence),
                provider=providers[sequence],
            )
        task.end(end_time=end)

    def _provider_of(self, model_name: str, figures: CallFigures | None) -> str | None:
        if figures is not None and figures.provider:
            return figures.provider
        if self.providers is not None:
            given = self.providers.get(model_name)
            if given:
                return given
        return provider_for_model(model_name)

    def _export_call(
        self,
        call: Mapping[str, Any],
        *,
        parent: Any,
        event_id: str,
        start: int,
        end: int,
        figures: CallFigures | None,
        provider: str | None,
    ) -> None:
        sequence: int = call["call_sequence"]
        attributes: dict[str, _AttributeValue | Sequence[str]] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": call["model_name"],
            "gen_ai.response.model": call["model_name"],
            "wflogging.llm_call.sequence": sequence,
            # The SOP records no per-call times: a call span covers its task's interval.
            "wflogging.llm_call.timing": "task",
        }
        if provider is not None:
            attributes["gen_ai.provider.name"] = provider
        finish_reason = DEFAULT_FINISH_REASON
        if figures is not None:
            attributes.update(figures.usage)
            if figures.cost_usd is not None:
                attributes.update(cost_attributes(figures.cost_usd))
            if figures.usage or figures.cost_usd is not None:
                attributes["wflogging.usage.scope"] = figures.scope
                if figures.scope != "call":
                    attributes["wflogging.usage.calls"] = figures.calls
            if figures.finish_reason is not None:
                finish_reason = figures.finish_reason
                attributes["gen_ai.response.finish_reasons"] = [finish_reason]
        content: dict[str, _AttributeValue] = {}
        if self.capture is not ContentCapture.NO_CONTENT:
            content, failed = self._content(call, finish_reason)
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

    def _content(
        self, call: Mapping[str, Any], finish_reason: str
    ) -> tuple[dict[str, _AttributeValue], bool]:
        content: dict[str, _AttributeValue] = {}
        failed = False
        for attribute, role, text, extra in (
            ("gen_ai.input.messages", "user", call["prompt"], {}),
            ("gen_ai.output.messages", "assistant", call["completion"], {"finish_reason": finish_reason}),
        ):
            redacted = self._redacted(text)
            if redacted is None:
                failed = True
            else:
                content[attribute] = _messages(role, _clip(redacted, self.max_content_chars), extra)
        return content, failed

    def _add_feedback(self, span: trace_api.Span, feedback: Mapping[str, Any]) -> None:
        attributes: dict[str, _AttributeValue] = {"wflogging.feedback.type": feedback["type"]}
        if self.capture is not ContentCapture.NO_CONTENT:  # the Director's words are free text
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


def task_attributes(entry: Mapping[str, Any], *, with_content: bool = False) -> dict[str, Any]:
    """The task span's attributes for a conformant entry (usage and cost_data aside).

    The task's description is free text: it goes along only ``with_content``.
    """
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": entry["agent_name"],
        "wflogging.event_id": entry["event_id"],
        "wflogging.workflow_run_id": entry["workflow_run_id"],
        "wflogging.task.id": entry["task_id"],
        "wflogging.task.status": entry["status"],
        "wflogging.task.duration_seconds": entry["timestamps"]["duration_seconds"],
        "wflogging.llm_call.count": len(entry["llm_trace"]),
    }
    if with_content:
        attributes["wflogging.task.description"] = entry["task_description"]
    return attributes


def cost_attributes(cost_usd: Decimal) -> dict[str, _AttributeValue]:
    """The file's own money for a span, in the attributes backends read for a stated cost.

    ``llm.cost.total`` is OpenInference's (Arize); ``langfuse.observation.cost_details``
    is what Langfuse's OTLP ingest documents (a JSON object of USD amounts);
    ``wflogging.cost_usd`` keeps it under our own name for any other reader.
    """
    amount = float(cost_usd)
    return {
        "llm.cost.total": amount,
        "langfuse.observation.cost_details": json.dumps({"total": amount}),
        "wflogging.cost_usd": amount,
    }


def _error_type(error: object) -> str:
    if isinstance(error, Mapping) and isinstance(error.get("type"), str) and error["type"]:
        return str(error["type"])
    return "_OTHER"  # the conventions' value when the error has no type


def _error_description(error: object, with_content: bool) -> str:
    # An exception's message can hold anything (LLM output, paths, secrets): only with content.
    if isinstance(error, Mapping) and isinstance(error.get("type"), str):
        message = error.get("message") if with_content else None
        return f"{error['type']}: {message}" if message else str(error["type"])
    return "task failed"


def _exception_attributes(error: Mapping[str, Any], with_content: bool) -> dict[str, _AttributeValue]:
    names = {"type": "exception.type"}
    if with_content:
        names |= {"message": "exception.message", "traceback": "exception.stacktrace"}
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
) -> DeliveryTracker:
    seconds = timeout if timeout is not None else resolve_timeout()
    if isinstance(exporter, SpanExporter):
        return DeliveryTracker(exporter, endpoint=None, timeout=seconds)
    if exporter is not None:
        return DeliveryTracker(exporter(), endpoint=None, timeout=seconds)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as missing:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OTLP/HTTP export needs opentelemetry-exporter-otlp-proto-http: pip install 'wflogging[otel]'"
        ) from missing
    url = endpoint or resolve_endpoint()
    recording = RecordingSession()
    inner = OTLPSpanExporter(
        endpoint=url,
        headers=dict(headers) if headers else None,
        timeout=seconds,
        session=recording.session,
    )
    return DeliveryTracker(inner, endpoint=url, timeout=seconds, session=recording)


def resolve_endpoint() -> str:
    """The OTLP/HTTP traces URL the standard variables name (as the SDK's exporter resolves it)."""
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
    return f"{base.rstrip('/')}/v1/traces"


def resolve_timeout() -> float:
    """Seconds per export from ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT``/``OTEL_EXPORTER_OTLP_TIMEOUT`` (10)."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        text = os.environ.get(name, "").strip()
        if text:
            try:
                seconds = float(text)
            except ValueError:
                continue
            if seconds > 0:
                return seconds
    return 10.0


def run_is_sampled(workflow_run_id: str, one_in: int) -> bool:
    """Whether ``sample_runs=one_in`` keeps this run: the same answer in every process, every time."""
    if one_in <= 1:
        return True
    digest = hashlib.blake2b(f"sample:{workflow_run_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % one_in == 0


def _version() -> str:
    from wflogging import __version__

    return __version__
