"""``wflogging export --otlp-endpoint URL FILE...``: send event files to an OpenTelemetry backend.

Backfills history into Phoenix, Langfuse or a collector with the same spans the
live :class:`~wflogging.otel.OTelTaskEventHandler` sends. Span ids come from
``event_id``, so exporting a file again stores nothing twice in a backend that
keys spans by id. With ``--sample N`` whole runs are chosen (the files are read
twice: first to find the runs holding a ``Failed`` or ``HIL-Paused`` task, which
are always kept).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from wflogging.cli.inputs import InputError, Progress, check_inputs, expand_inputs, read_inputs
from wflogging.reader import EventLine, TornLine

if TYPE_CHECKING:
    pass

__all__ = ["ExportSummary", "add_otlp_options", "export_files", "write_summary"]

#: Spans handed to the exporter between two waits for the backend, so the batch
#: processor's queue (2048 spans) never overflows and drops spans during a backfill.
_SPANS_PER_FLUSH = 1024


class ExportSummary(NamedTuple):
    """What an export did: events read and sent, runs, spans accepted, and the problem if any."""

    events: int
    runs: int
    sampled_out: int
    unreadable: int
    invalid: int
    spans_sent: int
    spans_accepted: int
    problem: str | None


def add_otlp_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``export`` that only an OTLP export reads."""
    group = parser.add_argument_group("OTLP export (--otlp-endpoint)")
    group.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for the backend (default: OTEL_EXPORTER_OTLP_TIMEOUT or 10)",
    )
    group.add_argument(
        "--service-name", help="the service.name resource attribute (default: OTEL_SERVICE_NAME)"
    )
    group.add_argument(
        "--project",
        help="the backend's project: sets openinference.project.name (Arize Phoenix) and "
        "langfuse.project.name resource attributes",
    )
    group.add_argument(
        "--capture-content",
        metavar="MODE",
        default=None,
        choices=("no_content", "span_only", "event_only", "span_and_event"),
        help="send prompts, completions, descriptions and feedback text: span_only (what Phoenix and "
        "Langfuse read), event_only, span_and_event or no_content (default: "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, else no_content)",
    )
    group.add_argument(
        "--sample",
        type=int,
        default=1,
        metavar="N",
        help="send 1 run in N, chosen by a hash of workflow_run_id; runs with a Failed or "
        "HIL-Paused task are always sent (default: 1, every run)",
    )


def export_files(
    files: Sequence[str],
    endpoint: str,
    options: argparse.Namespace,
    *,
    progress: Progress | None = None,
) -> ExportSummary:
    """Export every valid event of ``files``; returns what was sent and what the backend accepted."""
    from wflogging.otel import OTelTaskEventHandler, run_is_sampled

    if options.sample < 1:
        raise InputError(f"--sample: expected a whole number >= 1, got {options.sample}")
    if options.timeout is not None and options.timeout <= 0:
        raise InputError(f"--timeout: expected a positive number of seconds, got {options.timeout}")
    files = expand_inputs(files)
    check_inputs(files)
    resource: dict[str, str | bool | int | float] = {}
    if options.project:
        resource["openinference.project.name"] = options.project
        resource["langfuse.project.name"] = options.project
    # The SDK logs every failed batch itself; the summary line below says it once, with the cause.
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    handler = OTelTaskEventHandler(
        endpoint,
        timeout=options.timeout,
        service_name=options.service_name,
        resource_attributes=resource,
        capture_content=options.capture_content,
        schedule_delay_millis=200,
        announce_failures=False,  # the command's own error line says it, with the counts
    )
    with _rereadable(files) as sources:
        keep = None if options.sample == 1 else _runs_to_keep(sources, options.sample, run_is_sampled)
        counts = _Counts()
        try:
            _send(handler, read_inputs(sources, progress or Progress()), keep, counts)
        finally:
            handler.close()
    delivery = handler.delivery
    return ExportSummary(
        events=counts.events,
        runs=len(counts.runs),
        sampled_out=counts.sampled_out,
        unreadable=counts.unreadable,
        invalid=handler.skipped_events,
        spans_sent=counts.spans,
        spans_accepted=delivery.accepted,
        problem=delivery.problem,
    )


class _Counts:
    def __init__(self) -> None:
        self.events = 0
        self.spans = 0
        self.sampled_out = 0
        self.unreadable = 0
        self.runs: set[str] = set()


def _send(
    handler: Any, items: Iterator[EventLine | TornLine], keep: set[str] | None, counts: _Counts
) -> None:
    since_flush = 0
    for item in items:
        if isinstance(item, TornLine):
            counts.unreadable += 1
            continue
        entry = item.entry
        run_id = entry.get("workflow_run_id")
        if keep is not None and run_id not in keep:
            counts.sampled_out += 1
            continue
        if not handler.export_entry(entry):
            continue
        spans = 1 + len(entry["llm_trace"])
        counts.events += 1
        counts.spans += spans
        counts.runs.add(str(run_id))
        since_flush += spans
        if since_flush >= _SPANS_PER_FLUSH:
            handler.flush()
            since_flush = 0
            if handler.delivery.problem is not None:
                return  # the backend is down or refusing: stop sending, say so once


def _runs_to_keep(sources: Sequence[str], one_in: int, sampled: Any) -> set[str]:
    keep: set[str] = set()
    for item in read_inputs(sources, None):
        if isinstance(item, EventLine):
            run_id = item.entry.get("workflow_run_id")
            if isinstance(run_id, str) and (
                sampled(run_id, one_in) or item.entry.get("status") in ("Failed", "HIL-Paused")
            ):
                keep.add(run_id)
    return keep


class _rereadable:  # noqa: N801 - a context manager used like a function
    """The inputs, with standard input copied to a temporary file so it can be read twice."""

    def __init__(self, files: Sequence[str]) -> None:
        self._files = list(files)
        self._spool: str | None = None

    def __enter__(self) -> list[str]:
        if "-" not in self._files:
            return self._files
        descriptor, self._spool = tempfile.mkstemp(prefix="wflogging-export-", suffix=".jsonl")
        with os.fdopen(descriptor, "wb") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
        return [self._spool if name == "-" else name for name in self._files]

    def __exit__(self, *exc: object) -> None:
        if self._spool is not None:
            os.unlink(self._spool)


def write_summary(summary: ExportSummary, endpoint: str, out: TextIO) -> None:
    """The closing lines: what was read, sent and accepted (the problem goes to stderr)."""
    skipped = []
    if summary.sampled_out:
        skipped.append(f"{summary.sampled_out} left out by --sample")
    if summary.invalid:
        skipped.append(f"{summary.invalid} invalid (run wflogging validate)")
    if summary.unreadable:
        skipped.append(f"{summary.unreadable} unreadable lines")
    tail = f"; skipped {', '.join(skipped)}" if skipped else ""
    out.write(
        f"exported {summary.events} events of {summary.runs} runs to {endpoint}: "
        f"{summary.spans_accepted} of {summary.spans_sent} spans accepted{tail}\n"
    )
