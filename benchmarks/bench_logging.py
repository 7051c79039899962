"""wflogging against the JSON loggers people use, and against the serialization floors.

One process, one command::

    python benchmarks/bench_logging.py            # full run (several minutes on 2 cores)
    python benchmarks/bench_logging.py --quick    # a short run (about 30 s)

Every pipeline logs the same deterministic payloads (``benchmarks/payloads.py``) to
the same sinks; see ``benchmarks/README.md`` for what each figure means and how it is
measured. Results are printed as markdown tables and saved as JSON (``--output``)
with library versions and machine facts. This is a benchmark, not a test: it never
fails on a slow figure, it reports PASS/FAIL per target of issue 5.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import logging.handlers
import os
import queue
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from bench_names import (
    ECS,
    FLOOR_JSON,
    FLOOR_LOGGING,
    FLOOR_LOGGING_ORJSON,
    FLOOR_ORJSON,
    PIPELINES,
    PJL_JSON,
    PJL_JSON_UTF8,
    PJL_ORJSON,
    QUEUE_PIPELINES,
    SINKLESS,
    SINKS,
    STRUCTLOG_JSON,
    STRUCTLOG_ORJSON,
    WFL_JSON,
    WFL_ORJSON,
    WFL_RECORDER,
)
from bench_stages import machine_facts, stage_breakdown, time_calls
from bench_targets import Target, evaluate_targets, fmt, percentile, targets_table
from payloads import PAYLOAD_NAMES, make_payload, recorded_task

import wflogging
from wflogging.handler import TaskEventHandler
from wflogging.storage import AppendOnlyFile

Op = Callable[[], object]

#: A file-sink run writes at most this many bytes (large events are ~1.2 MB each).
MAX_BYTES_PER_RUN = 64 * 2**20
MESSAGE = "task done"


# --- sinks ------------------------------------------------------------------------------


class DiscardHandler(logging.Handler):
    """The in-memory sink for ``logging.Formatter`` pipelines: format, then drop the string."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


class DiscardFile(AppendOnlyFile):
    """An :class:`AppendOnlyFile` whose writes go nowhere (never opens its path)."""

    def write_line(self, line: bytes) -> None:
        pass


def discarding_task_event_handler(workdir: Path, name: str, serializer: str) -> TaskEventHandler:
    """wflogging's in-memory sink: the real ``TaskEventHandler`` code path minus the write.

    ``TaskEventHandler`` serializes to bytes itself and writes them; keeping its
    ``handle``/``emit`` (filter, ``format_bytes``, the newline, reject handling) and
    discarding only the final ``write(2)`` is the closest analogue of "a handler that
    discards the string" for the other pipelines.
    """
    handler = TaskEventHandler(workdir / f"{name}.jsonl", delay=True)
    handler.file = DiscardFile(workdir / f"{name}.jsonl")
    handler.setFormatter(wflogging.TaskEventFormatter(serializer=serializer))
    return handler


class DiscardStructlogLogger:
    """structlog's in-memory sink: a wrapped logger whose methods drop the rendered event."""

    def msg(self, message: object) -> None:
        pass

    info = msg


# --- pipelines ---------------------------------------------------------------------------


@dataclass
class Cell:
    """One pipeline on one sink with one payload, ready to run."""

    pipeline: str
    sink: str
    payload: str
    op: Op
    logger: logging.Logger | None = None  # for queue mode: the logger and its handler
    handler: logging.Handler | None = None
    path: Path | None = None  # the file sink, truncated between runs
    rejects_path: Path | None = None
    samples: list[list[int]] = field(default_factory=list)  # ns per call, one list per run
    note: str = ""

    def reset_file(self) -> None:
        if self.path is not None and self.path.exists():
            os.truncate(self.path, 0)


class Skip(Exception):
    """A pipeline that cannot run here (a library missing, the recorder not built yet)."""


def _fresh_logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def _stdlib_handler(sink: str, path: Path, formatter: logging.Formatter) -> logging.Handler:
    handler: logging.Handler = (
        DiscardHandler() if sink == "memory" else logging.FileHandler(path, encoding="utf-8")
    )
    handler.setFormatter(formatter)
    return handler


def _log_extra(logger: logging.Logger, fields: dict[str, Any]) -> Op:
    info = logger.info
    return lambda: info(MESSAGE, extra=fields)


def build_cell(pipeline: str, sink: str, payload: str, fields: dict[str, Any], workdir: Path) -> Cell:
    """Set up ``pipeline`` on ``sink`` for ``payload`` (raises :class:`Skip`)."""
    name = f"{pipeline}-{sink}-{payload}".replace(" ", "_").replace(":", "").replace("/", "")
    for char in "()":
        name = name.replace(char, "")
    path = workdir / f"{name}.jsonl"
    entry = wflogging.build_entry(fields)
    cell = Cell(pipeline, sink, payload, op=lambda: None, path=None if sink == "memory" else path)

    if pipeline == FLOOR_ORJSON:
        dumps = orjson.dumps
        cell.op = lambda: dumps(entry)
        return cell
    if pipeline == FLOOR_JSON:
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        cell.op = lambda: encode(entry)
        return cell

    handler: logging.Handler
    if pipeline in (WFL_JSON, WFL_ORJSON, WFL_RECORDER):
        serializer = "json" if pipeline == WFL_JSON else "auto"
        if sink == "memory":
            handler = discarding_task_event_handler(workdir, name, serializer)
        else:
            handler = TaskEventHandler(path)
            handler.setFormatter(wflogging.TaskEventFormatter(serializer=serializer))
        cell.rejects_path = workdir / f"{name}.rejects.jsonl"
        cell.logger = _fresh_logger(name, handler)
        cell.handler = handler
        cell.op = (
            recorded_task(cell.logger, fields)
            if pipeline == WFL_RECORDER
            else _log_extra(cell.logger, fields)
        )
        return cell
    if pipeline in (FLOOR_LOGGING, FLOOR_LOGGING_ORJSON):
        handler = _stdlib_handler(sink, path, logging.Formatter("%(message)s"))
        cell.logger = _fresh_logger(name, handler)
        cell.handler = handler
        info = cell.logger.info
        if pipeline == FLOOR_LOGGING:
            message = orjson.dumps(entry).decode("utf-8")
            cell.op = lambda: info(message)
        else:  # what the simplest JSON logging costs: serialize the finished entry in the call
            dumps = orjson.dumps
            cell.op = lambda: info(dumps(entry).decode("utf-8"))
        return cell
    if pipeline in (STRUCTLOG_JSON, STRUCTLOG_ORJSON):
        cell.op = _structlog_op(pipeline, sink, path, fields)
        return cell
    handler = _stdlib_handler(sink, path, _foreign_formatter(pipeline))
    cell.logger = _fresh_logger(name, handler)
    cell.handler = handler
    cell.op = _log_extra(cell.logger, fields)
    return cell


def _foreign_formatter(pipeline: str) -> logging.Formatter:
    """The formatter of a python-json-logger or ecs-logging pipeline, with default options."""
    if pipeline == PJL_JSON:
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter()
    if pipeline == PJL_JSON_UTF8:  # raw UTF-8 like wflogging's lines (the default escapes to ASCII)
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(json_ensure_ascii=False)
    if pipeline == PJL_ORJSON:
        from pythonjsonlogger.orjson import OrjsonFormatter

        return OrjsonFormatter()
    if pipeline == ECS:
        try:
            import ecs_logging
        except ImportError as exc:
            raise Skip(f"ecs-logging not installed ({exc})") from None
        formatter: logging.Formatter = ecs_logging.StdlibFormatter()
        return formatter
    raise ValueError(f"unknown pipeline {pipeline!r}")


def _structlog_op(pipeline: str, sink: str, path: Path, fields: dict[str, Any]) -> Op:
    try:
        import structlog
    except ImportError as exc:
        raise Skip(f"structlog not installed ({exc})") from None
    wrapped: object
    if pipeline == STRUCTLOG_JSON:
        renderer = structlog.processors.JSONRenderer()
        wrapped = (
            DiscardStructlogLogger()
            if sink == "memory"
            else structlog.WriteLogger(open(path, "a", encoding="utf-8"))  # noqa: SIM115 - lives for the run
        )
    else:
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        wrapped = (
            DiscardStructlogLogger() if sink == "memory" else structlog.BytesLogger(open(path, "ab"))  # noqa: SIM115 - lives for the run
        )
    logger = structlog.wrap_logger(
        wrapped,
        processors=[renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )
    info = logger.info
    return lambda: info(MESSAGE, **fields)


# --- measuring ---------------------------------------------------------------------------


def calibrate(op: Op, warmup_seconds: float, run_seconds: float, event_bytes: int, has_file: bool) -> int:
    """Warm ``op`` up, then pick how many calls make one run of about ``run_seconds``."""
    deadline = time.perf_counter() + warmup_seconds
    calls, elapsed_ns = 0, 0
    while calls < 3 or time.perf_counter() < deadline:
        elapsed_ns += sum(time_calls(op, 1))
        calls += 1
    per_call = elapsed_ns / calls
    count = max(5, min(50_000, round(run_seconds * 1e9 / per_call)))
    if has_file:
        count = max(5, min(count, MAX_BYTES_PER_RUN // event_bytes))
    return count


def run_rounds(cells: list[Cell], counts: dict[int, int], runs: int) -> None:
    """``runs`` rounds, each timing every cell once (round-robin, so drift hits all alike)."""
    for round_number in range(runs):
        for cell in cells:
            cell.reset_file()
            gc.collect()
            cell.samples.append(time_calls(cell.op, counts[id(cell)]))
        print(f"  round {round_number + 1}/{runs} done", file=sys.stderr, flush=True)


@dataclass
class QueueLatency:
    """Call-site latency of ``logger.info`` through a ``QueueHandler``."""

    pipeline: str
    payload: str
    paced: list[int]
    burst: list[int]


class _Processed(logging.Handler):
    """Last handler of the listener: signals that the record has been fully handled."""

    def __init__(self) -> None:
        super().__init__()
        self.done = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.done.set()


def queue_latency(cell: Cell, count: int, runs: int) -> QueueLatency:
    """Call-site ns per ``logger.info`` with the cell's handler behind a queue.

    wflogging pipelines use the handler wflogging documents for queue mode,
    :class:`wflogging.TaskEventQueueHandler`, which builds and validates the entry
    in the caller (so that the caller's context and values are the ones written);
    the others use the stdlib ``QueueHandler``. "paced": each call is timed, then the
    listener is let finish that record before the next call (an orchestrator logs a
    task now and then). "burst": calls back to back while the listener works, so the
    caller competes with it for the GIL.
    """
    assert cell.logger is not None
    assert cell.handler is not None
    logger, target = cell.logger, cell.handler
    events: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    processed = _Processed()
    listener = logging.handlers.QueueListener(events, target, processed)
    logger.removeHandler(target)
    queue_handler = (
        wflogging.TaskEventQueueHandler(events)
        if cell.pipeline in (WFL_JSON, WFL_ORJSON, WFL_RECORDER)
        else logging.handlers.QueueHandler(events)
    )
    logger.addHandler(queue_handler)
    clock = time.perf_counter_ns
    paced: list[int] = []
    burst: list[int] = []
    try:
        listener.start()
        for _ in range(runs):
            cell.reset_file()
            gc.collect()
            for _ in range(count):
                processed.done.clear()
                start = clock()
                cell.op()
                paced.append(clock() - start)
                processed.done.wait()
            cell.reset_file()
            gc.collect()
            burst += time_calls(cell.op, count)
            listener.stop()  # drains the queue
            listener.start()
    finally:
        listener.stop()
        logger.removeHandler(queue_handler)
        logger.addHandler(target)
    return QueueLatency(cell.pipeline, cell.payload, paced, burst)


# --- memory ------------------------------------------------------------------------------------


def peak_allocation(workdir: Path, prompt_chars: int, serializer: str) -> dict[str, Any]:
    """Peak memory of logging one event whose prompt has ``prompt_chars`` ASCII characters.

    Runs in a fresh child process so that its peak RSS (``ru_maxrss``) belongs to this
    event alone. Both figures are reported: tracemalloc counts bytes *requested*, and
    orjson requests a worst-case buffer (about 10x the text) that it never touches, so
    the RSS growth is the memory the event really costs.
    """
    command = [sys.executable, __file__, "--memory-child", serializer, str(prompt_chars), str(workdir)]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(completed.stdout)
    return figures


def memory_child(serializer: str, prompt_chars: int, workdir: Path) -> None:
    """The child of :func:`peak_allocation`: log the event, print the peaks as JSON."""
    fields = make_payload("small")
    fields["llm_trace"] = [dict(fields["llm_trace"][0], prompt="x" * prompt_chars)]
    handler = TaskEventHandler(workdir / f"memory-{serializer}.jsonl")
    handler.setFormatter(wflogging.TaskEventFormatter(serializer=serializer))
    logger = _fresh_logger(f"memory-{serializer}", handler)
    with wflogging.workflow_run():
        logger.info(MESSAGE, extra=make_payload("small"))  # warm up (first-call imports) with a small event
        gc.collect()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        logger.info(MESSAGE, extra=fields)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    handler.close()
    os.unlink(handler.filename)
    print(
        json.dumps(
            {
                "serializer": serializer,
                "prompt_bytes": prompt_chars,
                "tracemalloc_peak_bytes": peak - before,
                "rss_growth_bytes": rss_growth,
                "ratio": rss_growth / prompt_chars,
                "tracemalloc_ratio": (peak - before) / prompt_chars,
            }
        )
    )


# --- checks --------------------------------------------------------------------------------


def check_outputs(fields: dict[str, Any], workdir: Path) -> str:
    """The benchmark payload gives a schema-valid line, the same from both serializers."""
    expected = orjson.dumps(wflogging.build_entry(fields))
    for serializer in ("json", "orjson"):
        path = workdir / f"check-{serializer}.jsonl"
        path.unlink(missing_ok=True)
        handler = TaskEventHandler(path, strict=True)
        handler.setFormatter(wflogging.TaskEventFormatter(serializer=serializer))
        logger = _fresh_logger(f"check-{serializer}", handler)
        logger.info(MESSAGE, extra=fields)
        handler.close()
        written = path.read_bytes()
        if written != expected + b"\n":
            raise SystemExit(f"serializer {serializer}: line differs from orjson.dumps(build_entry(fields))")
    try:
        import jsonschema
    except ImportError:
        return "lines identical for json and orjson (jsonschema not installed: schema not checked)"
    jsonschema.validate(json.loads(expected), wflogging.load_json_schema())
    return "lines identical for json and orjson, schema-valid"


def count_rejects(cells: list[Cell]) -> int:
    """Lines in the wflogging cells' rejects files (must be 0: every event was valid)."""
    total = 0
    for cell in cells:
        if cell.rejects_path is not None and cell.rejects_path.exists():
            total += len(cell.rejects_path.read_bytes().splitlines())
    return total


# --- facts and reports -------------------------------------------------------------------------


def summarize(cells: list[Cell], event_bytes: dict[str, int]) -> list[dict[str, Any]]:
    """Per cell: medians over runs of the per-run mean, plus pooled call latency percentiles."""
    rows: list[dict[str, Any]] = []
    for cell in cells:
        per_run_ns = [sum(run) / len(run) for run in cell.samples]
        ns = statistics.median(per_run_ns)
        pooled = sorted(sample for run in cell.samples for sample in run)
        rows.append(
            {
                "pipeline": cell.pipeline,
                "sink": cell.sink,
                "payload": cell.payload,
                "us_per_event": ns / 1000,
                "us_per_event_runs": [value / 1000 for value in per_run_ns],
                "events_per_s": 1e9 / ns,
                "mb_per_s": event_bytes[cell.payload] / ns * 1e9 / 1e6,
                "p50_us": percentile(pooled, 0.50) / 1000,
                "p99_us": percentile(pooled, 0.99) / 1000,
                "calls_per_run": len(cell.samples[0]),
                "runs": len(cell.samples),
                "note": cell.note,
            }
        )
    floors = {(r["payload"]): r["us_per_event"] for r in rows if r["pipeline"] == FLOOR_ORJSON}
    by_key = {(r["pipeline"], r["sink"], r["payload"]): r["us_per_event"] for r in rows}
    for row in rows:
        sink, payload = row["sink"], row["payload"]
        row["x_orjson_floor"] = row["us_per_event"] / floors[payload]
        logging_floor = by_key.get((FLOOR_LOGGING, sink, payload))
        row["x_logging_floor"] = None if logging_floor is None else row["us_per_event"] / logging_floor
        pjl = by_key.get((PJL_JSON, sink, payload))
        row["x_pjl_json"] = None if pjl is None else row["us_per_event"] / pjl
    return rows


def markdown_tables(rows: list[dict[str, Any]]) -> str:
    """The throughput figures: a full table per sink and a compact ratio pivot."""
    out: list[str] = []
    for sink in ("memory", "file"):
        out.append(f"\n### Sink: {sink} (floors without a sink repeated for reference)\n")
        out.append(
            "| pipeline | payload | µs/event | events/s | MB/s | x orjson floor | x logging floor "
            "| x PJL json | p50 µs | p99 µs |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            if row["sink"] != sink and row["sink"] != "none":
                continue
            out.append(
                f"| {row['pipeline']} | {row['payload']} | {fmt(row['us_per_event'])} "
                f"| {fmt(row['events_per_s'])} | {fmt(row['mb_per_s'])} | {fmt(row['x_orjson_floor'])} "
                f"| {fmt(row['x_logging_floor'])} | {fmt(row['x_pjl_json'])} "
                f"| {fmt(row['p50_us'])} | {fmt(row['p99_us'])} |"
            )
    payloads = [p for p in PAYLOAD_NAMES if any(r["payload"] == p for r in rows)]
    for sink in ("memory", "file"):
        out.append(f"\n### x orjson.dumps floor, sink {sink} (small / typical / large)\n")
        out.append("| pipeline | " + " | ".join(payloads) + " |")
        out.append("|---|" + "---:|" * len(payloads))
        for pipeline in PIPELINES:
            values = {
                r["payload"]: r["x_orjson_floor"]
                for r in rows
                if r["pipeline"] == pipeline and r["sink"] in (sink, "none")
            }
            if values:
                out.append(f"| {pipeline} | " + " | ".join(fmt(values.get(p), 1) for p in payloads) + " |")
    return "\n".join(out)


def latency_table(latencies: list[QueueLatency], rows: list[dict[str, Any]]) -> str:
    """Call-site latency, direct (file sink) and through a queue."""
    direct = {(r["pipeline"], r["payload"]): r for r in rows if r["sink"] == "file"}
    out = [
        "\n### Call-site latency of logger.info, file sink (µs)\n",
        (
            "| pipeline | payload | direct p50 | direct p99 | queue paced p50 | queue paced p99 "
            "| queue burst p50 | queue burst p99 |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for item in latencies:
        paced, burst = sorted(item.paced), sorted(item.burst)
        row = direct.get((item.pipeline, item.payload), {})
        out.append(
            f"| {item.pipeline} | {item.payload} | {fmt(row.get('p50_us'))} | {fmt(row.get('p99_us'))} "
            f"| {fmt(percentile(paced, 0.5) / 1000)} | {fmt(percentile(paced, 0.99) / 1000)} "
            f"| {fmt(percentile(burst, 0.5) / 1000)} | {fmt(percentile(burst, 0.99) / 1000)} |"
        )
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run on one CPU (less migration noise); ``None`` leaves the affinity alone."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short run: 3 rounds of ~0.05 s per cell")
    parser.add_argument("--runs", type=int, help="rounds per cell (default 7, quick 3)")
    parser.add_argument("--run-seconds", type=float, help="target duration of one run of a cell")
    parser.add_argument("--payloads", nargs="+", choices=PAYLOAD_NAMES, default=list(PAYLOAD_NAMES))
    parser.add_argument("--pipelines", nargs="+", metavar="NAME", help="substrings of pipeline names to run")
    parser.add_argument("--sinks", nargs="+", choices=SINKS, default=list(SINKS))
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: the last one)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to a CPU")
    parser.add_argument("--no-queue", action="store_true", help="skip the queue-mode latency")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc peak check")
    parser.add_argument("--memory-mb", type=int, default=50, help="prompt size for the peak check")
    parser.add_argument("--workdir", type=Path, help="where file sinks write (default: a temp dir)")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help="results JSON (default benchmarks/results/<mode>.json)")
    return parser.parse_args(argv)


@dataclass
class Results:
    """Everything one benchmark run measured."""

    facts: dict[str, Any]
    event_bytes: dict[str, int]
    checks: dict[str, str]
    skipped: dict[str, str]
    cells: list[Cell]
    rejects: int
    stages: dict[str, dict[str, float]]
    latencies: list[QueueLatency]
    memory: list[dict[str, Any]]


def build_cells(
    payloads: dict[str, dict[str, Any]], pipelines: list[str], sinks: list[str], workdir: Path
) -> tuple[list[Cell], dict[str, str]]:
    """Every (payload, pipeline, sink) cell that can run here, and why others were skipped."""
    cells: list[Cell] = []
    skipped: dict[str, str] = {}
    for payload, fields in payloads.items():
        for pipeline in pipelines:
            for sink in ["none"] if pipeline in SINKLESS else sinks:
                try:
                    cells.append(build_cell(pipeline, sink, payload, fields, workdir))
                except Skip as skip:
                    skipped[pipeline] = str(skip)
    return cells, skipped


def collect(args: argparse.Namespace, workdir: Path, cpu: int | None) -> Results:
    """Set up, time every cell, then the stages, the queue latency and the memory peak."""
    runs = args.runs or (3 if args.quick else 7)
    run_seconds = args.run_seconds or (0.04 if args.quick else 0.2)
    warmup_seconds = 0.02 if args.quick else 0.1
    pipelines = [p for p in PIPELINES if not args.pipelines or any(s in p for s in args.pipelines)]
    if FLOOR_ORJSON not in pipelines:
        pipelines.append(FLOOR_ORJSON)  # every ratio is against it
    facts = machine_facts()
    facts.update(runs=runs, run_seconds=run_seconds, pinned_cpu=cpu, gc="on; collected before each run")
    payloads = {name: make_payload(name) for name in args.payloads}
    event_bytes = {n: len(orjson.dumps(wflogging.build_entry(f))) + 1 for n, f in payloads.items()}
    checks = {name: check_outputs(fields, workdir) for name, fields in payloads.items()}
    cells, skipped = build_cells(payloads, pipelines, args.sinks, workdir)
    gc.collect()
    gc.freeze()  # payloads and handlers are long-lived: keep them out of every collection

    print(f"{len(cells)} cells, {runs} rounds; pinned to CPU {cpu}", file=sys.stderr)
    counts: dict[int, int] = {}
    with pinned(cpu):
        for cell in cells:
            counts[id(cell)] = calibrate(
                cell.op, warmup_seconds, run_seconds, event_bytes[cell.payload], cell.path is not None
            )
        run_rounds(cells, counts, runs)
        stages = {
            payload: stage_breakdown(fields, workdir, 50 if payload == "large" else 500, runs)
            for payload, fields in payloads.items()
        }
    latencies: list[QueueLatency] = []
    if not args.no_queue:  # unpinned: the listener thread may use the other core
        for cell in cells:
            if cell.sink == "file" and cell.pipeline in QUEUE_PIPELINES:
                latencies.append(queue_latency(cell, max(20, min(400, counts[id(cell)])), runs))
    memory: list[dict[str, Any]] = []
    if not args.no_memory:
        for serializer in ("orjson", "json"):
            memory.append(peak_allocation(workdir, args.memory_mb * 10**6, serializer))
    return Results(
        facts, event_bytes, checks, skipped, cells, count_rejects(cells), stages, latencies, memory
    )


def render(results: Results, rows: list[dict[str, Any]], targets: list[Target]) -> str:
    """The whole report as markdown."""
    facts, stages, memory = results.facts, results.stages, results.memory
    report = [
        "## wflogging benchmark",
        f"\n{facts['python'].split()[0]} on {facts['cpu_model']} ({facts['cpu_count']} CPUs), "
        f"pinned CPU {facts['pinned_cpu']}, {facts['runs']} rounds; medians of per-run means. "
        f"Default serializer: {facts['default_serializer']}. wflogging from {facts['wflogging_path']}. "
        "Versions: " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items()),
        "\nEvent sizes (bytes of the wflogging line): "
        + ", ".join(f"{k} {v:,}" for k, v in results.event_bytes.items()),
        "Output checks: " + "; ".join(f"{k}: {v}" for k, v in results.checks.items()),
        f"Rejects written during the runs: {results.rejects}",
    ]
    report += [f"Skipped {name}: {why}" for name, why in results.skipped.items()]
    report.append(markdown_tables(rows))
    if results.latencies:
        report.append(latency_table(results.latencies, rows))
    report.append("\n### wflogging hot path, stage by stage (median ns per event)\n")
    report.append("| stage | " + " | ".join(stages) + " |")
    report.append("|---|" + "---:|" * len(stages))
    for label in next(iter(stages.values()), {}):
        report.append(f"| {label} | " + " | ".join(f"{stages[p][label]:,.0f}" for p in stages) + " |")
    if memory:
        report.append("\nPeak memory logging one event with a large ASCII prompt (fresh process):")
        report += [
            f"- {m['serializer']}: RSS +{m['rss_growth_bytes'] / 1e6:.1f} MB ({m['ratio']:.2f}x), "
            f"tracemalloc peak {m['tracemalloc_peak_bytes'] / 1e6:.1f} MB ({m['tracemalloc_ratio']:.2f}x) "
            f"for a {m['prompt_bytes'] / 1e6:.0f} MB prompt"
            for m in memory
        ]
    report.append(targets_table(targets))
    return "\n".join(report)


def save(
    output: Path, results: Results, rows: list[dict[str, Any]], targets: list[Target], text: str
) -> None:
    """The results as JSON, with the facts needed to compare runs."""
    output.parent.mkdir(parents=True, exist_ok=True)
    saved = {
        "facts": results.facts,
        "event_bytes": results.event_bytes,
        "checks": results.checks,
        "rejects": results.rejects,
        "skipped": results.skipped,
        "cells": rows,
        "queue_latency_us": [
            {
                "pipeline": q.pipeline,
                "payload": q.payload,
                "paced_p50": percentile(sorted(q.paced), 0.5) / 1000,
                "paced_p99": percentile(sorted(q.paced), 0.99) / 1000,
                "burst_p50": percentile(sorted(q.burst), 0.5) / 1000,
                "burst_p99": percentile(sorted(q.burst), 0.99) / 1000,
                "samples": len(q.paced),
            }
            for q in results.latencies
        ],
        "stages_ns": results.stages,
        "memory": results.memory,
        "targets": [t.__dict__ for t in targets],
        "markdown": text,
    }
    output.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        serializer, chars, workdir = args.memory_child
        memory_child(serializer, int(chars), Path(workdir))
        return 0
    cpu = None if args.no_pin else (args.cpu if args.cpu is not None else max(os.sched_getaffinity(0)))
    output = args.output or Path(__file__).parent / "results" / ("quick.json" if args.quick else "full.json")
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wfl-bench-")))
        stack.enter_context(wflogging.workflow_run("0e8f1d2c-4a5b-4c6d-8e7f-901a2b3c4d5e"))
        results = collect(args, workdir, cpu)
    rows = summarize(results.cells, results.event_bytes)
    targets = evaluate_targets(rows, results.latencies, results.memory, results.event_bytes)
    text = render(results, rows, targets)
    print(text)
    save(output, results, rows, targets, text)
    print(f"\nsaved {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
