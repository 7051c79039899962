"""What redaction costs per event: ``Redactor().apply`` on the benchmark payloads.

Prints the median CPU µs (process time, so that other load matters less) per entry for
each payload (``small``, ``typical``, ``large``) and for a 1 MB prompt of prose, best of a few
rounds. A benchmark, not a test: it never fails.

    python benchmarks/bench_redaction.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payloads import PAYLOAD_NAMES, make_payload, make_text

import wflogging
from wflogging.event import build_entry


def _entry(fields: dict[str, Any]) -> dict[str, Any]:
    return dict(build_entry(fields))


def _time(redactor: wflogging.Redactor, entry: dict[str, Any], rounds: int = 7) -> float:
    per_round = []
    for _ in range(rounds):
        count = 0
        started = time.process_time()
        while (elapsed := time.process_time() - started) < 0.2:
            redactor.apply(entry)
            count += 1
        per_round.append(elapsed / count * 1e6)
    return statistics.median(per_round)


def main() -> None:
    redactor = wflogging.Redactor()
    entries = {name: _entry(make_payload(name)) for name in PAYLOAD_NAMES}
    big = dict(entries["small"])
    big["llm_trace"] = [dict(big["llm_trace"][0], prompt=make_text(1_000_000, random.Random(7)))]
    entries["1 MB prompt"] = big
    print(f"wflogging {wflogging.__file__}")
    for name, entry in entries.items():
        print(f"{name:>12}: {_time(redactor, entry):10.1f} µs per entry")


if __name__ == "__main__":
    main()
