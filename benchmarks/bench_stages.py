"""The stages of wflogging's hot path timed one by one, the clock, and the machine's facts."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import importlib.metadata
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import wflogging
from wflogging.storage import AppendOnlyFile

Op = Callable[[], object]
MESSAGE = "task done"


def time_calls(op: Op, count: int) -> list[int]:
    """Nanoseconds of each of ``count`` calls of ``op`` (the clock read is ~40 ns)."""
    clock = time.perf_counter_ns
    samples = [0] * count
    for index in range(count):
        start = clock()
        op()
        samples[index] = clock() - start
    return samples


def machine_facts() -> dict[str, Any]:
    """Versions and hardware, saved beside the figures."""
    versions: dict[str, str] = {}
    for dist in ("wflogging", "orjson", "python-json-logger", "ecs-logging", "structlog", "attrs"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    cpu_model = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "python": sys.version,
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
        "wflogging_path": os.path.dirname(wflogging.__file__),
        "default_serializer": wflogging.TaskEventFormatter().serializer.name,
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def stage_breakdown(fields: dict[str, Any], workdir: Path, count: int, runs: int) -> dict[str, float]:
    """Median ns per event of each stage of wflogging's path, measured alone."""
    from wflogging.event import build_entry, event_fields, record_run_id
    from wflogging.serialize import get_serializer

    logger = logging.getLogger("bench.stages")
    logger.handlers[:] = [logging.NullHandler()]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, MESSAGE, (), None, extra=fields)
    entry = build_entry(fields)
    plain = dict(entry)
    serializers = {name: get_serializer(name) for name in ("json", "orjson")}
    lines = {name: serializer.dumps(entry) for name, serializer in serializers.items()}
    sink = AppendOnlyFile(workdir / "stages.jsonl")
    line = lines["orjson"] + b"\n"
    stages: dict[str, Op] = {
        "logger.info -> NullHandler (stdlib record + dispatch)": lambda: logger.info(MESSAGE, extra=fields),
        "build_entry(event_fields(record))": lambda: build_entry(event_fields(record), record_run_id(record)),
        "json serializer .dumps(entry)": lambda: serializers["json"].dumps(entry),
        "orjson serializer .dumps(entry)": lambda: serializers["orjson"].dumps(entry),
        "orjson serializer .dumps_line(entry) (with the newline)": lambda: serializers["orjson"].dumps_line(
            entry
        ),
        "orjson serializer .dumps(dict(entry)) (no hints: walks the data)": lambda: serializers[
            "orjson"
        ].dumps(plain),
        "orjson.dumps(entry) bare": lambda: orjson.dumps(entry),
        "line + b'\\n' (the copy format_line avoids)": lambda: lines["orjson"] + b"\n",
        "AppendOnlyFile.write_line": lambda: sink.write_line(line),
    }
    result: dict[str, float] = {}
    for label, op in stages.items():
        time_calls(op, max(3, count // 10))
        per_run = []
        for _ in range(runs):
            if label.startswith("AppendOnlyFile"):
                os.truncate(sink.path, 0)
            gc.collect()
            per_run.append(statistics.median(time_calls(op, count)))
        result[label] = statistics.median(per_run)
    sink.close()
    return result
