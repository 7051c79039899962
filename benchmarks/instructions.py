"""Instructions per ``logger.info`` for the benchmark's pipelines, counted by valgrind.

Timings on a shared machine move by 2x from run to run; instruction counts do not depend on
the load. For each pipeline and payload this runs, under ``valgrind --tool=callgrind``, the
set-up of ``bench_logging.build_cell`` followed by N calls, and the same set-up with no call,
and prints the difference divided by N. Needs valgrind (``apt-get install valgrind``); each
cell takes about a minute.

Usage::

    python benchmarks/instructions.py                                  # the default cells
    python benchmarks/instructions.py --payloads typical --pipelines "wflogging orjson" --calls 500
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_PIPELINES = (
    "wflogging json",
    "wflogging orjson",
    "PJL JsonFormatter",
    "PJL JsonFormatter(json_ensure_ascii=False)",
    "floor: stdlib logging (pre-serialized)",
)
HERE = Path(__file__).resolve().parent

SET_UP = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, {here!r})
import bench_logging, payloads, wflogging
# In a run, as bench_logging.main runs its cells: a recorder's event outside one would be a reject.
wflogging.workflow_run("0e8f1d2c-4a5b-4c6d-8e7f-901a2b3c4d5e").__enter__()
cell = bench_logging.build_cell({pipeline!r}, "memory", {payload!r}, payloads.make_payload({payload!r}),
                                Path(tempfile.mkdtemp()))
op = cell.op
op()
for _ in range({calls}):
    op()
"""


def collected(pipeline: str, payload: str, calls: int) -> int:
    """Instructions callgrind counts for the set-up plus ``calls`` calls."""
    program = SET_UP.format(here=str(HERE), pipeline=pipeline, payload=payload, calls=calls)
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in: {result.stderr[-500:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", nargs="+", default=list(DEFAULT_PIPELINES))
    parser.add_argument("--payloads", nargs="+", default=["small", "typical"])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    print("| payload | pipeline | instructions per call |")
    print("|---|---|---:|")
    for payload in args.payloads:
        for pipeline in args.pipelines:
            total = collected(pipeline, payload, args.calls) - collected(pipeline, payload, 0)
            per_call = total // args.calls
            print(f"| {payload} | {pipeline} | {per_call:,} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
