"""Where ``record_task``'s cost goes, next to the formatter path (issue 16).

For each payload of ``payloads.py``, times in one process, alternating round by round:

- ``formatter``: ``bench_logging``'s "wflogging orjson" cell (``logger.info(extra=payload)``);
- ``recorder``: its "wflogging recorder" cell (``record_task``, the calls, the feedback);
- ``no journal``: the same task with ``journal=False`` (what crash recovery costs is the difference);
- ``no journal, 0.25 s tasks``: the same with a clock on which each task lasts 0.25 s, as real
  tasks do: the benchmark's tasks last microseconds, and a ``duration_seconds`` below 1e-4 takes
  the serializer's tiny-float path (orjson and ``json`` spell those floats differently);
- ``level disabled``: the task on a logger that logs nothing: the recorder's own work alone.

Times are CPU time (``time.process_time``) per task, best of the rounds: on a shared machine the
wall clock moves by 2x from run to run, CPU time much less. The memory sink is
``bench_logging``'s (the real ``TaskEventHandler`` path minus the ``write(2)``); the recorder's
journal writes to a real file::

    python benchmarks/bench_recorder.py                     # small, typical, large; 7 rounds
    python benchmarks/bench_recorder.py --payloads small --rounds 9

``--only VARIANT --tasks N`` runs N tasks of one variant and prints nothing, for counting
instructions (the difference of ``--tasks N`` and ``--tasks 0`` under valgrind, divided by N, as
``instructions.py`` does); callgrind slows tasks past 100 µs, so there the tiny-float path does not
show: use the ``0.25 s`` variant against a clock of tasks of a few µs to count it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_logging
from payloads import PAYLOAD_NAMES, make_payload, recorded_task

import wflogging

_TASKS_PER_ROUND = {"small": 2000, "typical": 1000, "large": 40}
_RUN_ID = "0e8f1d2c-4a5b-4c6d-8e7f-901a2b3c4d5e"  # the run bench_logging.main logs in


class _QuarterSecondTasks:
    """A clock on which every task lasts 0.25 s (the wall clock is the real one)."""

    def __init__(self) -> None:
        self._now = 0.0

    def now_utc(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def monotonic(self) -> float:
        self._now += 0.125  # read twice per task: on entry and on exit
        return self._now


def variants(payload: str, workdir: Path) -> dict[str, Callable[[], object]]:
    """The operations compared, set up for ``payload``."""
    fields = make_payload(payload)
    formatter = bench_logging.build_cell("wflogging orjson", "memory", payload, fields, workdir)
    recorder = bench_logging.build_cell("wflogging recorder", "memory", payload, fields, workdir)
    assert recorder.logger is not None
    quiet = logging.getLogger(f"bench-recorder-quiet-{payload}")
    quiet.propagate = False
    quiet.setLevel(logging.CRITICAL + 1)
    return {
        "formatter": formatter.op,
        "recorder": recorder.op,
        "no journal": recorded_task(recorder.logger, fields, journal=False),
        "no journal, 0.25 s tasks": recorded_task(
            recorder.logger, fields, journal=False, clock=_QuarterSecondTasks()
        ),
        "level disabled": recorded_task(quiet, fields, journal=False),
    }


def cpu_us_per_call(op: Callable[[], object], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        op()
    return (time.process_time() - started) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--payloads", nargs="+", choices=PAYLOAD_NAMES, default=list(PAYLOAD_NAMES))
    parser.add_argument("--only", help="run one variant --tasks times, print nothing (for valgrind)")
    parser.add_argument("--tasks", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir, wflogging.workflow_run(_RUN_ID):
        if args.only is not None:
            op = variants(args.payloads[0], Path(workdir))[args.only]
            op()  # first-call imports and the journal's file, as instructions.py's set-up
            for _ in range(args.tasks):
                op()
            return 0
        print("| payload | variant | CPU µs/task (best) | x formatter |")
        print("|---|---|---:|---:|")
        for payload in args.payloads:
            ops = variants(payload, Path(workdir))
            count = _TASKS_PER_ROUND[payload]
            for op in ops.values():  # warm-up
                for _ in range(count // 10):
                    op()
            best = dict.fromkeys(ops, float("inf"))
            for _ in range(args.rounds):
                for name, op in ops.items():
                    best[name] = min(best[name], cpu_us_per_call(op, count))
            for name, value in best.items():
                print(f"| {payload} | {name} | {value:,.1f} | {value / best['formatter']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
