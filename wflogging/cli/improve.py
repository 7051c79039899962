"""The report's "Where to improve" findings, each with its figures and the command that shows it.

:class:`FindingsCollector` sees each event the report counts (as an observer
of :class:`~wflogging.cli.report.ReportBuilder`, so the files are read once) and
keeps, in memory bounded like the report's:

- per prompt fingerprint (at most ``prompt_memory``): its task and agent, the
  runs that sent it, its calls and their estimated cost;
- per event with a model called more than once: the extra calls and their cost;
- per run: first start, last end, and per task and per agent: cost, duration,
  events and failures.

Findings, in this order, at most :data:`LIMIT` of each kind:

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
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wflogging.cli.exact_sums import from_units as _from_units
from wflogging.cli.exact_sums import units as _units
from wflogging.cli.render import money, seconds, short_id

if TYPE_CHECKING:
    from wflogging.cli.report_decode import _Event

__all__ = ["BASELINE_RUNS", "LIMIT", "RISE_PERCENT", "FindingsCollector", "prompt_keys"]

LIMIT = 3
BASELINE_RUNS = 5
RISE_PERCENT = 20.0
_MIN_COST_RISE = 0.0001
_MIN_DURATION_RISE = 1.0


# Money and durations are summed as exact integers (the report's units): sums that do not depend
# on the order of the events, so the findings of several processes merge into the same figures.


class _Prompt:
    __slots__ = ("agent", "calls", "cost", "first_cost", "first_run", "runs", "task")

    def __init__(self, task: str, agent: str, run: str) -> None:
        self.task = task
        self.agent = agent
        self.first_run = run
        self.runs = {run}
        self.calls = 0
        self.cost = 0  # units
        self.first_cost = 0  # units, of the calls in the first run: the rest is what a cache saves

    @property
    def later_cost(self) -> float:
        return _from_units(self.cost - self.first_cost)

    def merge(self, later: _Prompt) -> None:
        self.runs |= later.runs
        self.calls += later.calls
        self.cost += later.cost
        if later.first_run == self.first_run:
            self.first_cost += later.first_cost


class _Totals:
    __slots__ = ("cost", "duration", "events", "failed")

    def __init__(self) -> None:
        self.cost = 0  # units
        self.duration = 0  # units
        self.events = 0
        self.failed = 0

    def merge(self, later: _Totals) -> None:
        self.cost += later.cost
        self.duration += later.duration
        self.events += later.events
        self.failed += later.failed


class _Run:
    __slots__ = ("agents", "first", "last", "order", "tasks")

    def __init__(self, order: int) -> None:
        self.order = order
        self.first = ""
        self.last = ""
        self.tasks: dict[str, _Totals] = {}
        self.agents: dict[str, _Totals] = {}

    def merge(self, later: _Run) -> None:
        if later.first and (not self.first or later.first < self.first):
            self.first = later.first
        self.last = max(self.last, later.last)
        for mine, theirs in ((self.tasks, later.tasks), (self.agents, later.agents)):
            for name, totals in theirs.items():
                if name in mine:
                    mine[name].merge(totals)
                else:
                    mine[name] = totals


def prompt_keys(calls: Sequence[Any]) -> list[int | None]:
    """Each call's prompt fingerprint (``None``: no prompt): all the findings need of the calls."""
    from wflogging.cli.report_decode import prompt_fingerprint

    return [prompt_fingerprint(call) for call in calls]


class FindingsCollector:
    """Observe the report's events (:meth:`observe`), then ask for the :meth:`findings`."""

    def __init__(self, *, prompt_memory: int = 100_000) -> None:
        self._prompt_memory = prompt_memory
        self._prompts: dict[int, _Prompt] = {}
        self._retries: dict[tuple[str, str, str], list[int]] = {}  # -> [events, extra calls, cost units]
        self._runs: dict[str, _Run] = {}
        #: Whether a prompt was left out because ``prompt_memory`` was full.
        self.saturated = False

    def observe(self, event: _Event, calls: Sequence[Any]) -> None:
        """Count one event the report counts (``calls``: its ``llm_trace`` items)."""
        self.observe_keys(event, prompt_keys(calls))

    def merge(self, later: FindingsCollector) -> None:
        """Add what ``later`` saw of the events after those this collector saw (``report --jobs``).

        The result is what one collector seeing all the events in order would hold, as long as
        neither left a prompt out (:attr:`saturated`): the caller reads again in one process then.
        """
        for run_id, run in later._runs.items():
            if run_id in self._runs:
                self._runs[run_id].merge(run)
            else:
                run.order = len(self._runs)
                self._runs[run_id] = run
        for key, (events, extra, cost) in later._retries.items():
            seen = self._retries.setdefault(key, [0, 0, 0])
            seen[0] += events
            seen[1] += extra
            seen[2] += cost
        for fingerprint, prompt in later._prompts.items():
            mine = self._prompts.get(fingerprint)
            if mine is not None:
                mine.merge(prompt)
            elif len(self._prompts) < self._prompt_memory:
                self._prompts[fingerprint] = prompt
            else:
                self.saturated = True
        self.saturated = self.saturated or later.saturated

    def observe_keys(self, event: _Event, keys: Sequence[int | None]) -> None:
        """:meth:`observe`, given the calls' prompt fingerprints (:func:`prompt_keys`)."""
        run = self._runs.get(event.run_id)
        if run is None:
            run = self._runs[event.run_id] = _Run(len(self._runs))
        if event.start is not None and (not run.first or event.start < run.first):
            run.first = event.start
        if event.end is not None and event.end > run.last:
            run.last = event.end
        cost = event.cost_units or 0
        for totals in (
            run.tasks.setdefault(event.task_id, _Totals()),
            run.agents.setdefault(event.agent, _Totals()),
        ):
            totals.cost += cost
            totals.duration += event.duration_units
            totals.events += 1
            totals.failed += event.status == "Failed"
        if event.models:
            per_call = _cost_per_call(event)
            self._count_retries(event, per_call)
            self._count_prompts(event, keys, {model: _units(cost) for model, cost in per_call.items()})

    def _count_retries(self, event: _Event, per_call: dict[str, float]) -> None:
        counts: dict[str, int] = {}
        for model in event.models:
            counts[model] = counts.get(model, 0) + 1
        for model, count in counts.items():
            if count > 1:
                seen = self._retries.setdefault((event.task_id, event.agent, model), [0, 0, 0])
                seen[0] += 1
                seen[1] += count - 1
                seen[2] += _units((count - 1) * per_call.get(model, 0.0))

    def _count_prompts(self, event: _Event, keys: Sequence[int | None], per_call: dict[str, int]) -> None:
        prompts = self._prompts
        for key, model in zip(keys, event.models, strict=False):
            if key is None:
                continue
            seen = prompts.get(key)
            if seen is None:
                if len(prompts) >= self._prompt_memory:
                    self.saturated = True
                    continue
                seen = prompts[key] = _Prompt(event.task_id, event.agent, event.run_id)
            cost = per_call.get(model, 0)
            seen.calls += 1
            seen.cost += cost
            if event.run_id == seen.first_run:
                seen.first_cost += cost
            else:
                seen.runs.add(event.run_id)

    def findings(self, overall: dict[str, Any], files: Sequence[str]) -> list[dict[str, Any]]:
        """The findings (see the module docstring), each ``{"kind", "text", "figures", "command"}``."""
        where = shlex.join(files)
        return [
            *self._cache_findings(where),
            *self._retry_findings(where),
            *self._rise_findings(where),
            *self._wait_findings(overall, where),
        ]

    def _cache_findings(self, where: str) -> list[dict[str, Any]]:
        by_task: dict[tuple[str, str], dict[str, Any]] = {}
        for prompt in self._prompts.values():
            if len(prompt.runs) < 2:
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
            row["runs"] = max(row["runs"], len(prompt.runs))
            row["calls"] += prompt.calls
            row["repeat_cost_usd"] += prompt.later_cost
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

    def _retry_findings(self, where: str) -> list[dict[str, Any]]:
        rows = sorted(self._retries.items(), key=lambda item: (-item[1][2], -item[1][1], item[0]))
        converted = [(key, (events, extra, _from_units(cost))) for key, (events, extra, cost) in rows]
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

    def _rise_findings(self, where: str) -> list[dict[str, Any]]:
        runs = sorted(self._runs.items(), key=lambda item: (item[1].first, item[1].order))
        if len(runs) < 2:
            return []
        latest_id, latest = runs[-1]
        before = [run for _, run in runs[-1 - BASELINE_RUNS : -1]]
        command = f"wflogging diff --baseline-runs {len(before)} {short_id(latest_id)} {where}"
        rows: list[dict[str, Any]] = []
        for kind, key in (("task", "tasks"), ("agent", "agents")):
            for name, now in getattr(latest, key).items():
                history = [getattr(run, key)[name] for run in before if name in getattr(run, key)]
                if history:
                    rows.extend(_rises(kind, name, now, history))
        rows.sort(key=lambda row: -math.inf if row["percent"] is None else -row["percent"])
        return [
            {"kind": "rose", "text": row.pop("text"), "figures": row, "command": command}
            for row in rows[:LIMIT]
        ]

    def _wait_findings(self, overall: dict[str, Any], where: str) -> list[dict[str, Any]]:
        waits: dict[str, float] = {}
        for item in overall.get("human_feedback", []):
            if item.get("paused") and item.get("wait_seconds") is not None:
                run_id = str(item.get("workflow_run_id"))
                waits[run_id] = waits.get(run_id, 0.0) + float(item["wait_seconds"])
        rows = []
        for run_id, waited in waits.items():
            run = self._runs.get(run_id)
            wall = _seconds_between(run.first, run.last) if run is not None else None
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


def _cost_per_call(event: _Event) -> dict[str, float]:
    """Each model's cost in the event divided by its calls there (the SOP has no per-call cost)."""
    by_model = event.cost.by_model
    if not by_model:
        return {}
    counts: dict[str, int] = {}
    for model in event.models:
        counts[model] = counts.get(model, 0) + 1
    return {
        model: float(usd) / counts[model]
        for model, usd, _, _ in by_model
        if usd is not None and counts.get(model)
    }


def _rises(kind: str, name: str, now: _Totals, history: list[_Totals]) -> list[dict[str, Any]]:
    rows = []
    for figure, value, base, minimum, show in (
        (
            "cost",
            _from_units(now.cost),
            statistics.median(_from_units(t.cost) for t in history),
            _MIN_COST_RISE,
            money,
        ),
        (
            "duration",
            _from_units(now.duration),
            statistics.median(_from_units(t.duration) for t in history),
            _MIN_DURATION_RISE,
            seconds,
        ),
        (
            "failure rate",
            now.failed / now.events,
            statistics.median(t.failed / t.events for t in history),
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
