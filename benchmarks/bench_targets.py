"""The targets the benchmark checks (issue 5's and issue 16's), from its measured rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench_names import (
    FLOOR_LOGGING,
    FLOOR_LOGGING_ORJSON,
    FLOOR_ORJSON,
    PJL_JSON,
    PJL_JSON_UTF8,
    PJL_ORJSON,
    WFL_JSON,
    WFL_ORJSON,
    WFL_RECORDER,
)
from payloads import PAYLOAD_NAMES


def percentile(sorted_samples: list[int], fraction: float) -> float:
    """The ``fraction`` quantile of already sorted samples (nearest rank)."""
    index = min(len(sorted_samples) - 1, max(0, round(fraction * len(sorted_samples)) - 1))
    return float(sorted_samples[index])


def fmt(value: float | None, digits: int = 2) -> str:
    """A figure as the tables print it: ``-`` for none, no decimals from 100."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


@dataclass
class Target:
    """One target of issue 5, its measured value and whether it passes."""

    name: str
    measured: float | None
    limit: str
    passed: bool | None


def evaluate_targets(
    rows: list[dict[str, Any]],
    latencies: list[Any],  # bench_logging.QueueLatency: .pipeline, .payload, .paced
    memory: list[dict[str, Any]],
    event_bytes: dict[str, int],
) -> list[Target]:
    """Issue 5's targets, on the in-memory sink (where its anchors were measured)."""
    us = {(r["pipeline"], r["payload"]): r["us_per_event"] for r in rows if r["sink"] in ("memory", "none")}
    targets: list[Target] = []

    def ratio(a: tuple[str, str], b: tuple[str, str]) -> float | None:
        return us[a] / us[b] if a in us and b in us else None

    def add(name: str, value: float | None, limit: str, ok: Callable[[float], bool]) -> None:
        targets.append(Target(name, value, limit, None if value is None else ok(value)))

    for payload in PAYLOAD_NAMES:
        add(
            f"{payload}: wflogging json / PJL JsonFormatter",
            ratio((WFL_JSON, payload), (PJL_JSON, payload)),
            "<= 1.0",
            lambda v: v <= 1.0,
        )
        add(
            f"{payload}: wflogging json / PJL JsonFormatter(json_ensure_ascii=False) (same UTF-8 output)",
            ratio((WFL_JSON, payload), (PJL_JSON_UTF8, payload)),
            "<= 1.0",
            lambda v: v <= 1.0,
        )
    add(
        "large: wflogging orjson / orjson.dumps floor",
        ratio((WFL_ORJSON, "large"), (FLOOR_ORJSON, "large")),
        "<= 1.5",
        lambda v: v <= 1.5,
    )
    add(
        "large: PJL JsonFormatter / wflogging orjson (speed-up)",
        ratio((PJL_JSON, "large"), (WFL_ORJSON, "large")),
        ">= 3.0",
        lambda v: v >= 3.0,
    )
    for payload in ("small", "typical"):
        add(
            f"{payload}: wflogging orjson / stdlib-logging floor",
            ratio((WFL_ORJSON, payload), (FLOOR_LOGGING, payload)),
            "<= 1.5",
            lambda v: v <= 1.5,
        )
    paced = {(q.pipeline, q.payload): sorted(q.paced) for q in latencies}
    if (WFL_ORJSON, "typical") in paced:
        typical_p99 = percentile(paced[(WFL_ORJSON, "typical")], 0.99) / 1000
        add("typical: queue-mode call-site p99 µs (wflogging orjson)", typical_p99, "< 50", lambda v: v < 50)
        if (FLOOR_LOGGING, "typical") in paced:
            floor_p99 = percentile(paced[(FLOOR_LOGGING, "typical")], 0.99) / 1000
            add(
                "(noise floor) typical: queue-mode call-site p99 µs, stdlib-logging floor",
                floor_p99,
                "< 50",
                lambda v: v < 50,
            )
        if (WFL_ORJSON, "large") in paced:
            large_p99 = percentile(paced[(WFL_ORJSON, "large")], 0.99) / 1000
            add(
                "queue-mode p99 large / typical (size independence)",
                large_p99 / typical_p99,
                "<= 1.5",
                lambda v: v <= 1.5,
            )
    for pipeline in (WFL_ORJSON, WFL_JSON):
        if (pipeline, "large") in us and (pipeline, "typical") in us:
            per_byte_large = us[(pipeline, "large")] / event_bytes["large"]
            per_byte_typical = us[(pipeline, "typical")] / event_bytes["typical"]
            add(
                f"{pipeline}: per-byte cost large / typical",
                per_byte_large / per_byte_typical,
                "<= 1.0",
                lambda v: v <= 1.0,
            )
    _add_issue16_targets(rows, add)
    for item in memory:
        megabytes = item["prompt_bytes"] / 1e6
        add(
            f"tracemalloc peak / prompt size, {megabytes:.0f} MB prompt, {item['serializer']}",
            item["tracemalloc_ratio"],
            "< 3.0",
            lambda v: v < 3.0,
        )
        add(
            f"(for reference) peak RSS growth / prompt size, {megabytes:.0f} MB prompt, {item['serializer']}",
            item["ratio"],
            "< 3.0",
            lambda v: v < 3.0,
        )
    return targets


def targets_table(targets: list[Target]) -> str:
    out = [
        "\n### Targets (issue 5: in-memory sink; issue 16: both sinks)\n",
        "| target | measured | limit | verdict |",
        "|---|---:|---|---|",
    ]
    for target in targets:
        verdict = "n/a" if target.passed is None else ("PASS" if target.passed else "FAIL")
        out.append(f"| {target.name} | {fmt(target.measured)} | {target.limit} | {verdict} |")
    return "\n".join(out)


#: Issue 16's targets: (what, numerator pipeline, denominator pipeline, payloads, limit).
_ISSUE16_RATIOS = (
    ("wflogging orjson / PJL OrjsonFormatter (time per event)", WFL_ORJSON, PJL_ORJSON, PAYLOAD_NAMES, 1.0),
    ("wflogging orjson / stdlib logging + orjson floor", WFL_ORJSON, FLOOR_LOGGING_ORJSON, ("large",), 1.2),
    ("wflogging recorder / wflogging orjson (formatter path)", WFL_RECORDER, WFL_ORJSON, PAYLOAD_NAMES, 1.3),
)


def _add_issue16_targets(rows: list[dict[str, Any]], add: Callable[..., None]) -> None:
    """Issue 16: at least PJL OrjsonFormatter's events/s per cell; large near the stdlib+orjson floor."""
    us = {(r["pipeline"], r["sink"], r["payload"]): r["us_per_event"] for r in rows}
    for sink in ("memory", "file"):
        for what, numerator, denominator, payloads, limit in _ISSUE16_RATIOS:
            for payload in payloads:
                a, b = (numerator, sink, payload), (denominator, sink, payload)
                add(
                    f"{payload}, {sink}: {what}",
                    us[a] / us[b] if a in us and b in us else None,
                    f"<= {limit}",
                    lambda v, limit=limit: v <= limit,
                )
