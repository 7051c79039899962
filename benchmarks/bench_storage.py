"""Storage benchmark (not a test): events/s and MB/s with 1, 2 and 4 processes appending to one file.

The stress scenario of tests/test_storage_concurrency.py: each process has its own
TaskEventHandler on the same path and logs events whose prompts cycle through
200 B, 5 kB and 20 kB (far past PIPE_BUF), with an occasional 3 MB one. After
each run the file is checked (every event once, every line whole). Prints a
markdown table; never fails on a slow number.

    python benchmarks/bench_storage.py                 # 2,000 events per process
    python benchmarks/bench_storage.py --events 500 --fsync-every 1
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import storage_workers as workers


def run(processes: int, events: int, options: dict[str, Any], directory: str) -> tuple[float, int]:
    """Seconds and bytes for ``processes`` writers of ``events`` each (start-up excluded via a barrier)."""
    path = os.path.join(directory, f"events-{processes}.jsonl")
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 1)
    writers = [
        context.Process(target=_writer, args=(path, f"p{n}", events, options, start))
        for n in range(processes)
    ]
    for writer in writers:
        writer.start()
    start.wait()
    began = time.perf_counter()
    for writer in writers:
        writer.join()
    elapsed = time.perf_counter() - began
    if any(writer.exitcode for writer in writers):
        raise SystemExit("a writer failed")
    data = Path(path).read_bytes()
    problems = workers.check_stream(
        data, workers.expected_writers([f"p{n}" for n in range(processes)], events)
    )
    if problems:
        raise SystemExit(f"stream check failed: {problems[:3]}")
    return elapsed, len(data)


def _writer(path: str, writer: str, events: int, options: dict[str, Any], start: Any) -> None:
    start.wait()
    workers.write_events(path, writer, events, 1, workers.BIG_EVERY, workers.BIG_SIZE, options)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2_000, help="events per process")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--fsync-every", type=int, default=None)
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args()
    options: dict[str, Any] = {}
    if args.fsync_every:
        options["fsync_every"] = args.fsync_every
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{args.events} events/process, options {options}"
    )
    print("\n| processes | events | seconds | events/s | MB/s |\n|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for processes in args.processes:
            elapsed, size = run(processes, args.events, options, directory)
            total = processes * args.events
            rate, throughput = total / elapsed, size / elapsed / 1e6
            print(f"| {processes} | {total} | {elapsed:.2f} | {rate:,.0f} | {throughput:,.1f} |")


if __name__ == "__main__":
    main()
