"""How ``wflogging report`` scales: time against just parsing the lines, and peak memory.

Generates an events file of a given size (realistic entries: 1-3 LLM calls with
prompts of 0.3-6 KB, runs of 20 tasks over 5 agents and 3 models, failures, HIL
pauses and the humans' answers, some prompts repeated across runs), then runs in fresh subprocesses:

* ``parse orjson lines`` / ``parse msgspec lines``: read the file line by line
  and parse each line whole with that parser (the floor any report must pay; the
  ratio is taken against the faster of the installed ones);
* ``parse orjson views`` / ``parse msgspec views``: the same, reading the lines
  the way the report reads a plain file (views of one buffer read into again),
  which is faster: the stricter floor;
* ``report``: ``python -m wflogging report --format json FILE``;
* ``validate``: ``python -m wflogging validate FILE`` (for information; it checks every
  field with the model, so it is expected to be slower).

Each command runs ``--repeat`` times; the ratio uses the least CPU time of each
(on a shared machine noise only ever adds time), and the median of the ratios of
each round's report to the same round's parse is printed beside it. For each run
it prints wall and CPU time and peak RSS (``ru_maxrss`` of the child, from
``os.wait4``). The targets (issue 6): report within 2x of parse, peak RSS under
200 MB for a 1 GB file.

The children run with a bytecode cache (``PYTHONPYCACHEPREFIX``, a temporary
directory warmed by one untimed run), as an installed package has one: where
``PYTHONDONTWRITEBYTECODE`` is set, every start would otherwise compile wflogging
and its dependencies from source (about 0.1 s of CPU) and charge that to the
report. ``report startup`` is the report of a one-line file: the fixed cost
of starting Python and importing the command, included in ``report``.

Usage::

    python benchmarks/report_scale.py --size-mb 1024            # generates /tmp/wflogging-bench-1024mb.jsonl
    python benchmarks/report_scale.py --size-mb 200 --keep --skip-validate --repeat 5
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

try:
    import orjson

    def _dumps(data: Any) -> bytes:
        return orjson.dumps(data)

except ImportError:  # pragma: no cover - the benchmark also runs with the stdlib parser only
    import json

    def _dumps(data: Any) -> bytes:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


AGENTS = ("/plan:analyst", "/dev:implement-pro", "/qa:test-runner", "/ops:deploy", "/docs:writer")
MODELS = ("claude-sonnet-4", "gpt-4.1-mini", "gemini-2.5-pro")
WORDS = (
    "the",
    "agent",
    "reads",
    "plan",
    "writes",
    "code",
    "runs",
    "tests",
    "and",
    "reports",
    "what",
    "failed",
    "why",
)

#: The floor: read the lines and parse each line whole. Two ways of reading them: ``lines``, the usual
#: way (``for line in file``, through the same 1 MB buffer the report's reader uses: with the default
#: 8 KB buffer, reading lines of several KB costs about as much as parsing them), and ``views``, the way
#: the report reads a plain file (views of one buffer read into again, see
#: wflogging.cli.inputs._file_batches), which is the stricter floor: it leaves the report no advantage.
PARSE_ONLY = """
import sys
path, parser, reading = sys.argv[1:4]
if parser == "orjson":
    from orjson import loads
elif parser == "msgspec":
    from msgspec.json import Decoder
    loads = Decoder().decode
else:
    from json import loads
count = 0
if reading == "lines":
    with open(path, "rb", buffering=1 << 20) as stream:
        for line in stream:  # the generated file has no blank lines
            loads(line)
            count += 1
else:
    buffer = bytearray(1 << 20)
    held = 0
    with open(path, "rb", buffering=0) as raw:
        while True:
            if held == len(buffer):
                larger = bytearray(2 * len(buffer))
                larger[:held] = buffer
                buffer = larger
            with memoryview(buffer) as whole, whole[held:] as free:
                got = raw.readinto(free)
            if not got:
                break
            end = held + got
            cut = buffer.rfind(b"\\n", held, end) + 1
            if cut:
                view = memoryview(buffer)
                start = 0
                while start < cut:
                    stop = buffer.find(b"\\n", start, cut) + 1
                    loads(view[start:stop] if parser != "json" else bytes(view[start:stop]))
                    count += 1
                    start = stop
                del view
                held = end - cut
                buffer[:held] = buffer[cut:end]
            else:
                held = end
print(count)
"""


#: The ways the floor reads the lines (see PARSE_ONLY).
READINGS = ("lines", "views")


def _text(rng: random.Random, size: int) -> str:
    words = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def _event(
    rng: random.Random, run_id: str, task: int, clock: float, shared_prompts: list[str]
) -> dict[str, Any]:
    calls = []
    by_model: dict[str, dict[str, Any]] = {}
    for _ in range(rng.randint(1, 3)):
        model = rng.choice(MODELS)
        prompt = rng.choice(shared_prompts) if rng.random() < 0.1 else _text(rng, rng.randint(300, 6000))
        completion = _text(rng, rng.randint(100, 2000))
        calls.append({"model_name": model, "prompt": prompt, "completion": completion})
        part = by_model.setdefault(
            model, {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "cost_usd": 0.0}
        )
        part["calls"] += 1
        part["input_tokens"] += len(prompt) // 4
        part["output_tokens"] += len(completion) // 4
        part["cost_usd"] += len(prompt) * 7.5e-7 + len(completion) * 3.75e-6
    duration = round(rng.expovariate(1 / 20), 3)
    status = rng.choices(("Success", "Failed", "HIL-Paused"), (90, 6, 4))[0]
    entry: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "workflow_run_id": run_id,
        "task_id": f"{task // 5 + 1}.{task % 5 + 1}",
        "task_description": f"Task {task} of the plan: " + _text(rng, 60),
        "agent_name": AGENTS[task % len(AGENTS)],
        "timestamps": {
            "start_time_utc": _stamp(clock),
            "end_time_utc": _stamp(clock + duration),
            "duration_seconds": duration,
        },
        "status": status,
        "cost_data": {  # the shape wflogging.record_task writes
            "llm_calls": len(calls),
            "tokens": {
                "input": sum(part["input_tokens"] for part in by_model.values()),
                "output": sum(part["output_tokens"] for part in by_model.values()),
                "cached": 0,
            },
            "models": by_model,
            "total_cost_usd": sum(part["cost_usd"] for part in by_model.values()),
        },
        "llm_trace": [{"call_sequence": n, **call} for n, call in enumerate(calls, start=1)],
        "human_feedback": None,
    }
    if status == "Failed":
        entry["extensions"] = {"error": {"type": "RuntimeError", "message": "tests failed"}}
    return entry


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}Z"


def generate(path: Path, size_bytes: int, seed: int = 7) -> int:
    """Write about ``size_bytes`` of events to ``path``; returns the number of events."""
    rng = random.Random(seed)
    shared_prompts = [_text(rng, rng.randint(300, 3000)) for _ in range(50)]
    # A pool of distinct entries re-stamped with fresh ids keeps generation fast.
    pool = [_event(rng, "", task % 20, 0.0, shared_prompts) for task in range(400)]
    written = events = 0
    clock = 1_767_225_600.0  # 2026-01-01
    with path.open("wb") as out:
        while written < size_bytes:
            run_id = str(uuid.uuid4())
            for task in range(20):
                entry = dict(pool[(events * 7919) % len(pool)])
                entry["event_id"] = str(uuid.uuid4())
                entry["workflow_run_id"] = run_id
                entry["task_id"] = f"{task // 5 + 1}.{task % 5 + 1}"
                duration = entry["timestamps"]["duration_seconds"]
                entry["timestamps"] = {
                    "start_time_utc": _stamp(clock),
                    "end_time_utc": _stamp(clock + duration),
                    "duration_seconds": duration,
                }
                clock += duration + 1
                batch = [entry]
                if entry["status"] == "HIL-Paused":  # the task resumes once a human has answered
                    clock += 60
                    batch.append(_answered(entry, clock))
                    clock += duration + 1
                for item in batch:
                    line = _dumps(item) + b"\n"
                    out.write(line)
                    written += len(line)
                    events += 1
    return events


def _answered(paused: dict[str, Any], clock: float) -> dict[str, Any]:
    """The event of a paused task resumed at ``clock``, carrying the human's answer."""
    duration = paused["timestamps"]["duration_seconds"]
    return {
        **paused,
        "event_id": str(uuid.uuid4()),
        "status": "Success",
        "timestamps": {
            "start_time_utc": _stamp(clock),
            "end_time_utc": _stamp(clock + duration),
            "duration_seconds": duration,
        },
        "human_feedback": {"type": "HIL-Approval", "content": "approved", "timestamp_utc": _stamp(clock)},
    }


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS in MB of ``command`` in a fresh process.

    CPU time is printed too because wall time on a shared machine includes waiting for a CPU.
    """
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{command[2:4]} exited with {child.returncode}")
    rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    return elapsed, usage.ru_utime + usage.ru_stime, rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256, help="size of the generated file (default 256)")
    parser.add_argument("--file", type=Path, help="use this events file instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--skip-validate", action="store_true", help="do not time validate")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3)")
    args = parser.parse_args()
    path = args.file or Path(tempfile.gettempdir()) / f"wflogging-bench-{args.size_mb}mb.jsonl"
    if args.file is None and not path.exists():
        started = time.perf_counter()
        events = generate(path, args.size_mb * 1_000_000)
        print(f"generated {path} ({events:,} events) in {time.perf_counter() - started:.1f}s")
    size_mb = path.stat().st_size / 1e6
    print(f"file: {size_mb:,.0f} MB; python {sys.version.split()[0]}")
    python = sys.executable
    parsers = [name for name in ("orjson", "msgspec") if _installed(name)] or ["json"]
    runs = {
        f"parse {name} {reading}": [python, "-c", PARSE_ONLY, str(path), name, reading]
        for reading in READINGS
        for name in parsers
    }
    runs["report"] = [python, "-m", "wflogging", "report", "--format", "json", str(path)]
    if not args.skip_validate:
        runs["validate"] = [python, "-m", "wflogging", "validate", str(path)]
    with tempfile.TemporaryDirectory() as scratch:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = os.path.join(scratch, "pycache")
        one_line = Path(scratch) / "one.jsonl"
        with path.open("rb") as source:
            one_line.write_bytes(source.readline())
        runs["report startup"] = [python, "-m", "wflogging", "report", "--format", "json", str(one_line)]
        measure(runs["report startup"], env)  # warms the bytecode cache
        wall, cpu = _run_rounds(runs, args.repeat, env, size_mb)
    print_summary(parsers, wall, cpu, args.repeat)
    if args.file is None and not args.keep:
        path.unlink()


def _run_rounds(
    runs: dict[str, list[str]], repeat: int, env: dict[str, str], size_mb: float
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, command in runs.items():
            elapsed, used, rss = measure(command, env)
            wall[name].append(elapsed)
            cpu[name].append(used)
            print(
                f"{name:>14}: wall {elapsed:7.2f} s ({size_mb / elapsed:6.1f} MB/s)  "
                f"cpu {used:7.2f} s  peak RSS {rss:6.1f} MB"
            )
    return wall, cpu


def print_summary(
    parsers: list[str], wall: dict[str, list[float]], cpu: dict[str, list[float]], repeat: int
) -> None:
    """The report's time over the faster parser's, for each way of reading: least of the repeats, and
    the median of the rounds' ratios."""
    for reading in READINGS:
        floor = min(parsers, key=lambda name: min(cpu[f"parse {name} {reading}"]))
        # Each round's floor is the faster parser of that round.
        rounds = [
            used / min(cpu[f"parse {name} {reading}"][index] for name in parsers)
            for index, used in enumerate(cpu["report"])
        ]
        parse_cpu, parse_wall = min(cpu[f"parse {floor} {reading}"]), min(wall[f"parse {floor} {reading}"])
        cpu_ratio, wall_ratio = min(cpu["report"]) / parse_cpu, min(wall["report"]) / parse_wall
        print(
            f"report / parse ({floor}, the faster whole-line parser, lines read as {reading}; least of "
            f"{repeat}): cpu {cpu_ratio:.2f}x, wall {wall_ratio:.2f}x; "
            f"median of the rounds' cpu ratios {statistics.median(rounds):.2f}x (target <= 2x)"
        )
    print(f"report startup (python + imports, included above): cpu {min(cpu['report startup']):.2f} s")


if __name__ == "__main__":
    main()
