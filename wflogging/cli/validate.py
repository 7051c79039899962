"""``wflogging validate``: every line checked against the library's schema rules."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from wflogging.reader import EventLine, TornLine
from wflogging.terminal import visible

__all__ = ["Finding", "findings", "write_findings"]

#: One bad line, as ``--format json`` writes it (one JSON object per line).
Finding = dict[str, Any]


def findings(items: Iterable[EventLine | TornLine], totals: dict[str, int]) -> Iterator[Finding]:
    """A finding per invalid or torn line; ``totals`` counts ``lines``, ``valid``, ``invalid``, ``torn``."""
    for item in items:
        totals["lines"] += 1
        if isinstance(item, TornLine):
            totals["torn"] += 1
            yield {
                "file": item.source,
                "line": item.line_number,
                "kind": "torn",
                "offset": item.offset,
                "length": item.length,
                "reasons": [item.reason],
            }
            continue
        problems = item.problems()
        if not problems:
            totals["valid"] += 1
            continue
        totals["invalid"] += 1
        event_id = item.entry.get("event_id")
        yield {
            "file": item.source,
            "line": item.line_number,
            "kind": "invalid",
            "event_id": event_id if isinstance(event_id, str) else None,
            "offset": item.offset,
            "reasons": [{"path": problem.path, "problem": problem.problem} for problem in problems],
        }


def write_findings(items: Iterable[EventLine | TornLine], out: TextIO, *, as_json: bool) -> dict[str, int]:
    """Write each finding as it is found (streaming), then a summary; returns the totals."""
    totals = {"lines": 0, "valid": 0, "invalid": 0, "torn": 0}
    for finding in findings(items, totals):
        out.write(json.dumps(finding, ensure_ascii=False) + "\n" if as_json else _describe(finding))
    if as_json:
        out.write(json.dumps({"summary": totals}) + "\n")
    else:
        verdict = "all valid" if not (totals["invalid"] or totals["torn"]) else "NOT valid"
        out.write(
            f"{totals['lines']} lines: {totals['valid']} valid, {totals['invalid']} invalid, "
            f"{totals['torn']} torn: {verdict}\n"
        )
    return totals


def _describe(finding: Finding) -> str:
    """The finding for people; logged text in it (ids, paths, quoted values) shown escaped."""
    return visible(_describe_raw(finding))


def _describe_raw(finding: Finding) -> str:
    where = f"{finding['file']}:{finding['line']}"
    if finding["kind"] == "torn":
        return (
            f"{where}: torn line at byte {finding['offset']} ({finding['length']} bytes): "
            f"{finding['reasons'][0]}\n"
        )
    event = finding["event_id"] or "(no event_id)"
    reasons = "".join(f"\n    {reason['path']}: {reason['problem']}" for reason in finding["reasons"])
    return f"{where}: event {event} is invalid:{reasons}\n"
