"""What the open-task journal costs a task recorded with ``record_task`` (issue 17).

Each round times the same tasks (the ``small``, ``typical`` and ``large`` payloads of
``payloads.py``: their calls and feedback) through ``record_task`` into a real
``TaskEventHandler`` file, once with ``journal=False`` and once with the default journal,
alternating so that the machine's load hits both alike. Prints µs per task (the best round
and the median round) and the difference::

    python benchmarks/bench_journal.py            # 5 rounds
    python benchmarks/bench_journal.py --rounds 9 --payloads typical
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payloads import PAYLOAD_NAMES, make_payload, recorded_task

import wflogging

_TASKS_PER_ROUND = {"small": 2000, "typical": 2000, "large": 200}


def time_tasks(directory: Path, fields: dict[str, Any], count: int, *, journal: bool) -> float:
    """µs per task for ``count`` tasks, each entering, making the payload's calls, exiting."""
    handler = wflogging.TaskEventHandler(directory / f"events-{journal}.jsonl", journal=journal)
    logger = logging.getLogger(f"bench-journal-{uuid.uuid4()}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    task = recorded_task(logger, fields)
    try:
        with wflogging.workflow_run():
            started = time.perf_counter()
            for _ in range(count):
                task()
            return (time.perf_counter() - started) / count * 1e6
    finally:
        logger.removeHandler(handler)
        handler.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--payloads", nargs="+", choices=PAYLOAD_NAMES, default=list(PAYLOAD_NAMES))
    args = parser.parse_args(argv)
    print("| payload | no journal µs/task (best, median) | journal µs/task (best, median) | + µs (best) |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.payloads:
            fields = make_payload(name)
            count = _TASKS_PER_ROUND[name]
            times: dict[bool, list[float]] = {False: [], True: []}
            time_tasks(Path(workdir), fields, count // 10, journal=True)  # warm-up
            for _ in range(args.rounds):
                for journal in (False, True):
                    times[journal].append(time_tasks(Path(workdir), fields, count, journal=journal))
            off, on = times[False], times[True]
            print(
                f"| {name} | {min(off):.1f}, {statistics.median(off):.1f} | "
                f"{min(on):.1f}, {statistics.median(on):.1f} | {min(on) - min(off):+.1f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
