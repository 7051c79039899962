"""The report's "Where to improve" findings, each with its figures and the command that shows it.

The figures are kept by the report itself as it counts each event, in the same
pass (:class:`~wflogging.cli.report.ReportBuilder`: its run sections keep each
event's task, agent, failure and money beside its duration; its prompt
fingerprints keep their calls and the calls' money; ``retries`` counts models
called again within a task), so they merge exactly under ``report --jobs``.
:func:`findings` reads them. Findings, in this order, at most :data:`LIMIT` of each kind:

``cache``
    A prompt sent in more than one run, by task and agent: how many distinct
    prompts repeat, in how many runs, and what the calls after each prompt's
    first cost (what a cache or a stored answer would have saved). A call's cost
    is its model's cost in the event divided by that model's calls there.
``retry``
    The same model called more than once within one task, by task, agent and
    model: events where it happened, extra calls, their estimated cost.
``rose``
    The latest run against the median of up to :data:`BASELINE_RUNS` runs before
    it, per task and per agent: cost or duration up by more than
    :data:`RISE_PERCENT` % (and by at least $0.0001 or 1 s), or a failure rate
    that rose.
``waits``
    A run whose human waits (a pause's end to the answer) took more than half
    of its wall time (first start to last end).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from wflogging.cli.exact_sums import from_units
from wflogging.cli.render import money, seconds, short_id
from wflogging.cli.report_aggregate import median

if TYPE_CHECKING:
    from wflogging.cli.report import ReportBuilder
    from wflogging.cli.report_findings import GroupTotals

__all__ = ["BASELINE_RUNS", "LIMIT", "RISE_PERCENT", "findings"]

LIMIT = 3
BASELINE_RUNS = 5
RISE_PERCENT = 20.0
_MIN_COST_RISE = 0.0001
_MIN_DURATION_RISE = 1.0


def findings(builder: ReportBuilder, overall: dict[str, Any], files: Sequence[str]) -> list[dict[str, Any]]:
    """The findings (see the module docstring), each ``{"kind", "text", "figures", "command"}``."""
    where = shlex.join(files)
    return [
        *_cache_findings(builder, where),
        *_retry_findings(builder, where),
        *_rise_findings(builder, where),
        *_wait_findings(builder, overall, where),
    ]


def _cache_findings(builder: ReportBuilder, where: str) -> list[dict[str, Any]]:
    by_task: dict[tuple[str, str], dict[str, Any]] = {}
    for prompt in builder._prompts.values():
        if not prompt.later_runs:
            continue
        runs = prompt.runs()
        if runs < 2:
            continue
        row = by_task.setdefault(
            (prompt.task, prompt.agent),
            {
                "task_id": prompt.task,
                "agent_name": prompt.agent,
                "prompts": 0,
                "runs": 0,
                "calls": 0,
                "repeat_cost_usd": 0.0,
                "run": prompt.first_run,
            },
        )
        row["prompts"] += 1
        row["runs"] = max(row["runs"], runs)
        row["calls"] += prompt.calls
        # The exact sum of the later calls' money, correctly rounded.
        row["repeat_cost_usd"] += math.fsum(prompt.later_costs)
    rows = sorted(by_task.values(), key=lambda r: (-r["repeat_cost_usd"], -r["runs"], r["task_id"]))
    return [
        {
            "kind": "cache",
            "text": f"Task {r['task_id']} ({r['agent_name']}) sent "
            f"{_plural(r['prompts'], 'identical prompt')} in {r['runs']} runs "
            f"({_plural(r['calls'], 'call')}); the repeats cost {money(r['repeat_cost_usd'])}: "
            "a cache candidate.",
            "figures": {k: v for k, v in r.items() if k != "run"},
            "command": f"wflogging show --run {short_id(r['run'])} --task {shlex.quote(r['task_id'])} "
            + where,
        }
        for r in rows[:LIMIT]
    ]


def _retry_findings(builder: ReportBuilder, where: str) -> list[dict[str, Any]]:
    rows = sorted(builder.retries.items(), key=lambda item: (-item[1][2], -item[1][1], item[0]))
    converted = [(key, (events, extra, from_units(cost))) for key, (events, extra, cost) in rows]
    return [
        {
            "kind": "retry",
            "text": f"Task {task} ({agent}) called {model} again within the task: "
            f"{_plural(int(extra), 'extra call')} in {_plural(int(events), 'event')}, "
            f"costing {money(cost)}.",
            "figures": {
                "task_id": task,
                "agent_name": agent,
                "model": model,
                "events": int(events),
                "extra_calls": int(extra),
                "extra_cost_usd": cost,
            },
            "command": f"wflogging show --task {shlex.quote(task)} {where}",
        }
        for (task, agent, model), (events, extra, cost) in converted[:LIMIT]
    ]


def _rise_findings(builder: ReportBuilder, where: str) -> list[dict[str, Any]]:
    # In order of first start; runs that start together stay in the order they were first seen.
    runs = sorted(builder.runs.items(), key=lambda item: item[1].first_start or "")
    if len(runs) < 2:
        return []
    latest_id, latest = runs[-1]
    keys = builder.cells.keys
    before = [run.groups(keys) for _, run in runs[-1 - BASELINE_RUNS : -1]]
    command = f"wflogging diff --baseline-runs {len(before)} {short_id(latest_id)} {where}"
    rows: list[dict[str, Any]] = []
    for kind, position, groups in zip(("task", "agent"), (0, 1), latest.groups(keys), strict=True):
        for name, now in groups.items():
            history = [run[position][name] for run in before if name in run[position]]
            if history:
                rows.extend(_rises(kind, name, now, history))
    rows.sort(key=lambda row: -math.inf if row["percent"] is None else -row["percent"])
    return [
        {"kind": "rose", "text": row.pop("text"), "figures": row, "command": command} for row in rows[:LIMIT]
    ]


def _wait_findings(builder: ReportBuilder, overall: dict[str, Any], where: str) -> list[dict[str, Any]]:
    waits: dict[str, float] = {}
    for item in overall.get("human_feedback", []):
        if item.get("paused") and item.get("wait_seconds") is not None:
            run_id = str(item.get("workflow_run_id"))
            waits[run_id] = waits.get(run_id, 0.0) + float(item["wait_seconds"])
    rows = []
    for run_id, waited in waits.items():
        run = builder.runs.get(run_id)
        wall = _seconds_between(run.first_start or "", run.last_end or "") if run is not None else None
        if wall and waited / wall > 0.5:
            rows.append((waited / wall, run_id, waited, wall))
    rows.sort(reverse=True)
    return [
        {
            "kind": "waits",
            "text": f"Run {short_id(run_id)}: human waits took {seconds(waited)} of {seconds(wall)} "
            f"wall time ({share:.0%}); ask earlier, or batch the questions.",
            "figures": {
                "workflow_run_id": run_id,
                "wait_seconds": waited,
                "wall_seconds": wall,
                "share": share,
            },
            "command": f"wflogging timeline --run {short_id(run_id)} -o timeline.html {where}",
        }
        for share, run_id, waited, wall in rows[:LIMIT]
    ]


def _rises(kind: str, name: str, now: GroupTotals, history: list[GroupTotals]) -> list[dict[str, Any]]:
    rows = []
    for figure, value, base, minimum, show in (
        (
            "cost",
            now.cost,
            _median_of(t.cost for t in history),
            _MIN_COST_RISE,
            money,
        ),
        (
            "duration",
            now.duration,
            _median_of(t.duration for t in history),
            _MIN_DURATION_RISE,
            seconds,
        ),
        (
            "failure rate",
            now.failed / now.events,
            _median_of(t.failed / t.events for t in history),
            0.0,
            lambda rate: f"{rate:.0%}",
        ),
    ):
        rise = value - base
        if rise <= minimum:
            continue
        percent = rise / base * 100 if base else None  # None: up from nothing
        if figure != "failure rate" and percent is not None and percent <= RISE_PERCENT:
            continue
        change = f"+{percent:.0f}%" if base else "from 0"
        rows.append(
            {
                "text": f"{kind.capitalize()} {name}: {figure} {show(value)} against a median of "
                f"{show(base)} over the {_plural(len(history), 'run')} before ({change}).",
                "kind": kind,
                "name": name,
                "figure": figure,
                "value": value,
                "baseline_median": base,
                "percent": percent,
            }
        )
    return rows


def _median_of(values: Iterable[float]) -> float:
    """The median of at least one value (as ``statistics.median``, without importing it: ~10 ms)."""
    middle = median(sorted(values))
    assert middle is not None
    return middle


def _seconds_between(first: str, last: str) -> float | None:
    import datetime as dt

    try:
        start = dt.datetime.fromisoformat(first.replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(last.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (end - start).total_seconds()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
