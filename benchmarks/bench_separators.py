"""What escaping U+2028/U+2029/U+0085 costs wflogging, against a byte search of the encoded line.

JSON Lines splits on ``\\n`` only, but ``str.splitlines()``, many editors and JavaScript
before ES2019 also break a line at U+2028, U+2029 and U+0085, which JSON allows raw inside a
string. wflogging escapes them so that a line is one line to every reader. This measures
what that costs per event: the builder searches each non-ASCII text for the three characters
(``str.isascii()`` is O(1), so ASCII text costs nothing); the alternative the issue names is
a byte search of the encoded line. Run pinned to one CPU::

    python benchmarks/bench_separators.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import orjson
from payloads import PAYLOAD_NAMES, make_payload

SEPARATORS = ("\u2028", "\u2029", "\x85")
SEPARATOR_BYTES = tuple(separator.encode("utf-8") for separator in SEPARATORS)


def texts_of(fields: dict[str, object]) -> list[str]:
    """The texts the builder searches: ids and names, prompts, completions, feedback."""
    texts = [str(fields[name]) for name in ("task_id", "task_description", "agent_name")]
    for call in fields["llm_trace"]:  # type: ignore[attr-defined]
        texts += (call["model_name"], call["prompt"], call["completion"])
    feedback = fields["human_feedback"]
    if isinstance(feedback, dict):
        texts += (feedback["type"], feedback["content"])
    return texts


def search_texts(texts: list[str]) -> bool:
    """What the builder does: only non-ASCII text is searched."""
    found = False
    for text in texts:
        if not text.isascii() and ("\u2028" in text or "\u2029" in text or "\x85" in text):
            found = True
    return found


def search_line(line: bytes) -> bool:
    """The alternative: search the encoded line for each separator's UTF-8 bytes."""
    return any(needle in line for needle in SEPARATOR_BYTES)


def per_call_us(operation: Callable[[], object], seconds: float = 0.3) -> float:
    """Median over 7 runs of the mean µs per call, each run about ``seconds`` long."""
    count = 1
    while True:
        start = time.perf_counter()
        for _ in range(count):
            operation()
        if time.perf_counter() - start > seconds / 10:
            break
        count *= 2
    count = max(1, int(count * 10 * seconds / max(time.perf_counter() - start, 1e-9) / 10))
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(count):
            operation()
        runs.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(runs)


def main() -> None:
    print(
        "| payload | line bytes | search the texts (wflogging) | one byte search of the line | orjson.dumps |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in PAYLOAD_NAMES:
        fields = make_payload(name)
        texts = texts_of(fields)
        line = orjson.dumps(fields)
        ours = per_call_us(lambda texts=texts: search_texts(texts))
        bytes_search = per_call_us(lambda line=line: search_line(line))
        dumps = per_call_us(lambda fields=fields: orjson.dumps(fields))
        print(f"| {name} | {len(line):,} | {ours:,.2f} µs | {bytes_search:,.2f} µs | {dumps:,.2f} µs |")


if __name__ == "__main__":
    main()
