"""``wflogging diff``: what changed between two runs, or between a run and the runs before it.

Figures per ``task_id`` and per agent: cost (``cost_data.total_cost_usd``, summed
exactly as ``Decimal``), input and output tokens (``cost_data.tokens``), LLM calls
(the ``llm_trace`` items), duration (``timestamps.duration_seconds``) and status.
A task logged several times in a run (paused, then resumed) sums its events,
and its status is that of its last event (latest start). Cost is ``None``
(unknown) for a task none of whose events states one.

With ``baseline_runs=N`` the base is the N runs that started before NEW; each
figure of the base is the median over the runs of those N in which the task (or
agent) appears, and its status and prompts are those of the latest such run.

Changes: a task that fails in NEW but not in the base (*newly failing*: a task
added and failing counts), one that failed in the base but not in NEW
(*fixed*), tasks *added* and *removed*, and tasks whose prompts changed: the
ordered list of the prompts' fingerprints (the first 12 hex digits of the
SHA-256 of each prompt) differs.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from wflogging.cli.inputs import InputError
from wflogging.cli.render import Document, money, seconds, short_id
from wflogging.reader import EventLine, TornLine

__all__ = ["Diff", "Figures", "RunEvents", "collect_runs", "diff_runs", "exceeded_limits", "render_diff"]

_FIGURES = ("cost_usd", "input_tokens", "output_tokens", "llm_calls", "duration_seconds")


@attrs.define
class Figures:
    """One task's (or agent's) figures in one run (or the baseline's medians)."""

    cost_usd: Decimal | None = None
    input_tokens: Decimal = Decimal(0)
    output_tokens: Decimal = Decimal(0)
    llm_calls: Decimal = Decimal(0)
    duration_seconds: Decimal = Decimal(0)
    status: str | None = None
    failures: int = 0
    events: int = 0
    prompts: tuple[str, ...] = ()
    latest_start: str = ""

    def add(self, entry: dict[str, Any]) -> None:
        cost = _cost(entry)
        if cost is not None:
            self.cost_usd = (self.cost_usd or Decimal(0)) + cost
        tokens = _mapping(_mapping(entry.get("cost_data")).get("tokens"))
        self.input_tokens += _number(tokens.get("input"))
        self.output_tokens += _number(tokens.get("output"))
        trace = entry.get("llm_trace")
        trace = trace if isinstance(trace, list) else []
        self.llm_calls += len(trace)
        self.duration_seconds += _number(_mapping(entry.get("timestamps")).get("duration_seconds"))
        self.events += 1
        status = entry.get("status")
        if status == "Failed":
            self.failures += 1
        start = str(_mapping(entry.get("timestamps")).get("start_time_utc") or "")
        if start >= self.latest_start:
            self.latest_start = start
            self.status = status if isinstance(status, str) else None
            self.prompts = tuple(_fingerprint(_mapping(call).get("prompt")) for call in trace)

    def as_json(self) -> dict[str, Any]:
        return {
            "cost_usd": None if self.cost_usd is None else float(self.cost_usd),
            "input_tokens": int(self.input_tokens),
            "output_tokens": int(self.output_tokens),
            "llm_calls": int(self.llm_calls),
            "duration_seconds": float(self.duration_seconds),
            "status": self.status,
        }


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Decimal(0)
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _cost(entry: dict[str, Any]) -> Decimal | None:
    value = _mapping(entry.get("cost_data")).get("total_cost_usd")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return _number(value)


def _fingerprint(prompt: object) -> str:
    return hashlib.sha256(str(prompt).encode("utf-8", "surrogatepass")).hexdigest()[:12]


@attrs.define
class RunEvents:
    """One run's events, grouped by task and by agent."""

    run_id: str
    #: Position of the run's first event in the files (orders runs that start at the same time).
    order: int = 0
    first_start: str = ""
    tasks: dict[str, Figures] = attrs.field(factory=dict)
    agents: dict[str, Figures] = attrs.field(factory=dict)

    def add(self, entry: dict[str, Any]) -> None:
        start = str(_mapping(entry.get("timestamps")).get("start_time_utc") or "")
        if not self.first_start or (start and start < self.first_start):
            self.first_start = start
        self.tasks.setdefault(str(entry.get("task_id")), Figures()).add(entry)
        self.agents.setdefault(str(entry.get("agent_name")), Figures()).add(entry)


def collect_runs(items: Iterable[EventLine | TornLine]) -> dict[str, RunEvents]:
    """The readable events, by run (torn lines and entries without a run are skipped)."""
    runs: dict[str, RunEvents] = {}
    for item in items:
        if not isinstance(item, EventLine):
            continue
        run_id = item.entry.get("workflow_run_id")
        if isinstance(run_id, str):
            runs.setdefault(run_id, RunEvents(run_id, len(runs))).add(item.entry)
    return runs


def find_run(runs: dict[str, RunEvents], prefix: str, role: str) -> RunEvents:
    """The one run whose id starts with ``prefix`` (``InputError`` if none or several)."""
    found = [run for run_id, run in runs.items() if run_id.startswith(prefix)]
    if len(found) != 1:
        what = "no run" if not found else f"{len(found)} runs"
        raise InputError(f"{role} {prefix!r}: {what} with this id prefix in the given files")
    return found[0]


def baseline_before(runs: dict[str, RunEvents], new: RunEvents, count: int) -> list[RunEvents]:
    """The ``count`` runs that started last before ``new`` (oldest first; ties: file order)."""

    def when(run: RunEvents) -> tuple[str, int]:
        return run.first_start, run.order

    earlier = sorted((run for run in runs.values() if when(run) < when(new)), key=when)
    if not earlier:
        raise InputError(f"--baseline-runs: no run started before run {short_id(new.run_id)}")
    return earlier[-count:]


def median_figures(runs: Sequence[RunEvents], key: str) -> dict[str, Figures]:
    """Per task (``key="tasks"``) or agent: the median of each figure over the runs it appears in."""
    names: dict[str, list[Figures]] = {}
    for run in runs:
        for name, figures in getattr(run, key).items():
            names.setdefault(name, []).append(figures)
    medians: dict[str, Figures] = {}
    for name, seen in names.items():
        latest = seen[-1]  # runs are oldest first
        costs = [f.cost_usd for f in seen if f.cost_usd is not None]
        medians[name] = Figures(
            cost_usd=statistics.median(costs) if costs else None,
            input_tokens=statistics.median(f.input_tokens for f in seen),
            output_tokens=statistics.median(f.output_tokens for f in seen),
            llm_calls=statistics.median(f.llm_calls for f in seen),
            duration_seconds=statistics.median(f.duration_seconds for f in seen),
            status=latest.status,
            failures=latest.failures,
            events=latest.events,
            prompts=latest.prompts,
            latest_start=latest.latest_start,
        )
    return medians


@attrs.frozen
class Change:
    """One task's or agent's base and new figures (``None`` where absent)."""

    name: str
    base: Figures | None
    new: Figures | None

    def delta(self, figure: str) -> Decimal | None:
        if self.base is None or self.new is None:
            return None
        before, after = getattr(self.base, figure), getattr(self.new, figure)
        return None if before is None or after is None else after - before

    def percent(self, figure: str) -> Decimal | None:
        delta = self.delta(figure)
        before = None if self.base is None else getattr(self.base, figure)
        return None if delta is None or not before else delta * 100 / before

    def as_json(self) -> dict[str, Any]:
        return {
            "base": None if self.base is None else self.base.as_json(),
            "new": None if self.new is None else self.new.as_json(),
            "delta": {f: _plain(self.delta(f)) for f in _FIGURES},
            "percent": {f: _plain(self.percent(f), 2) for f in _FIGURES},
        }


def _plain(value: Decimal | None, places: int | None = None) -> float | None:
    if value is None:
        return None
    return float(round(value, places)) if places is not None else float(value)


@attrs.frozen
class Diff:
    """What ``wflogging diff`` found."""

    base_runs: list[str]
    new_run: str
    tasks: list[Change]
    agents: list[Change]
    total: Change

    @property
    def added(self) -> list[str]:
        return [c.name for c in self.tasks if c.base is None]

    @property
    def removed(self) -> list[str]:
        return [c.name for c in self.tasks if c.new is None]

    @property
    def newly_failing(self) -> list[str]:
        return [
            c.name
            for c in self.tasks
            if c.new is not None
            and c.new.status == "Failed"
            and (c.base is None or c.base.status != "Failed")
        ]

    @property
    def fixed(self) -> list[str]:
        return [
            c.name
            for c in self.tasks
            if c.base is not None
            and c.base.status == "Failed"
            and c.new is not None
            and c.new.status != "Failed"
        ]

    @property
    def prompt_changes(self) -> list[dict[str, Any]]:
        return [
            {"task_id": c.name, "base": list(c.base.prompts), "new": list(c.new.prompts)}
            for c in self.tasks
            if c.base is not None and c.new is not None and c.base.prompts != c.new.prompts
        ]

    def as_json(self, exceeded: list[str]) -> dict[str, Any]:
        return {
            "base_runs": self.base_runs,
            "new_run": self.new_run,
            "total": self.total.as_json(),
            "tasks": {c.name: c.as_json() for c in self.tasks},
            "agents": {c.name: c.as_json() for c in self.agents},
            "added": self.added,
            "removed": self.removed,
            "newly_failing": self.newly_failing,
            "fixed": self.fixed,
            "prompt_changes": self.prompt_changes,
            "limits_exceeded": exceeded,
        }


def _total(figures: Iterable[Figures]) -> Figures:
    total = Figures()
    for f in figures:
        if f.cost_usd is not None:
            total.cost_usd = (total.cost_usd or Decimal(0)) + f.cost_usd
        total.input_tokens += f.input_tokens
        total.output_tokens += f.output_tokens
        total.llm_calls += f.llm_calls
        total.duration_seconds += f.duration_seconds
        total.failures += f.failures
    return total


def _changes(base: dict[str, Figures], new: dict[str, Figures]) -> list[Change]:
    names = list(base) + [name for name in new if name not in base]
    return [Change(name, base.get(name), new.get(name)) for name in sorted(names, key=_natural)]


def _natural(name: str) -> tuple[Any, ...]:
    """``1.2`` before ``1.10``: task ids compare by their numeric parts."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in name.split("."))


def diff_runs(runs: dict[str, RunEvents], new: RunEvents, base: Sequence[RunEvents]) -> Diff:
    """Compare ``new`` with one ``base`` run, or with the medians of several."""
    if len(base) == 1:
        base_tasks, base_agents = base[0].tasks, base[0].agents
    else:
        base_tasks, base_agents = median_figures(base, "tasks"), median_figures(base, "agents")
    return Diff(
        base_runs=[run.run_id for run in base],
        new_run=new.run_id,
        tasks=_changes(base_tasks, new.tasks),
        agents=_changes(base_agents, new.agents),
        total=Change("total", _total(base_tasks.values()), _total(new.tasks.values())),
    )


def exceeded_limits(
    diff: Diff,
    *,
    max_cost_increase: float | None,
    max_duration_increase: float | None,
    fail_on_new_failure: bool,
) -> list[str]:
    """What exceeded the limits given, in words (empty: within them). Totals and each task are checked."""
    found: list[str] = []
    for figure, limit, words in (
        ("cost_usd", max_cost_increase, "cost"),
        ("duration_seconds", max_duration_increase, "duration"),
    ):
        if limit is None:
            continue
        for change in [diff.total, *diff.tasks]:
            percent = change.percent(figure)
            if percent is not None and percent > Decimal(repr(limit)):
                where = "total" if change is diff.total else f"task {change.name}"
                found.append(f"{where} {words} +{percent:.1f}% > {limit:g}%")
    if fail_on_new_failure:
        found.extend(f"task {name} newly fails" for name in diff.newly_failing)
    return found


# --- rendering (all printing of logged text is here) ---------------------------------------


def _signed(value: Decimal | None, render: Any) -> str:
    if value is None:
        return "-"
    text: str = render(float(abs(value)))
    return ("+" if value > 0 else "-" if value < 0 else "±") + text


def _status(figures: Figures | None, name: str) -> str:
    if figures is None:
        return "-"
    if name == "total":
        return f"{figures.failures} failed"
    return str(figures.status)


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def _count(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.1f}"


def _rows(changes: Sequence[Change]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for c in changes:
        base, new = c.base, c.new
        rows.append(
            (
                c.name,
                "-" if base is None else money(None if base.cost_usd is None else float(base.cost_usd)),
                "-" if new is None else money(None if new.cost_usd is None else float(new.cost_usd)),
                _pct(c.percent("cost_usd")),
                _signed(c.delta("input_tokens"), lambda v: f"{v:,.0f}"),
                _signed(c.delta("output_tokens"), lambda v: f"{v:,.0f}"),
                "-" if new is None else _count(new.llm_calls),
                _signed(c.delta("llm_calls"), lambda v: f"{v:,.0f}"),
                "-" if new is None else seconds(float(new.duration_seconds)),
                _pct(c.percent("duration_seconds")),
                f"{_status(base, c.name)} -> {_status(new, c.name)}",
            )
        )
    return rows


_HEADERS = (
    "",
    "base cost",
    "new cost",
    "cost",
    "input tok",
    "output tok",
    "calls",
    "calls Δ",
    "duration",
    "duration Δ",
    "status",
)


def render_diff(diff: Diff, exceeded: list[str], *, markdown: bool) -> str:
    """The diff as terminal text or Markdown."""
    doc = Document()
    base = ", ".join(short_id(run) for run in diff.base_runs)
    label = f"median of {len(diff.base_runs)} runs ({base})" if len(diff.base_runs) > 1 else f"run {base}"
    doc.heading(f"Run {short_id(diff.new_run)} against {label}", 1)
    numeric = range(1, 10)
    doc.heading("Total")
    doc.table(("", *_HEADERS[1:]), _rows([diff.total]), numeric)
    doc.heading("Tasks")
    doc.table(("task", *_HEADERS[1:]), _rows(diff.tasks), numeric)
    doc.heading("Agents")
    doc.table(("agent", *_HEADERS[1:]), _rows(diff.agents), numeric)
    doc.heading("Changes")
    for words, names in (
        ("Newly failing", diff.newly_failing),
        ("Fixed", diff.fixed),
        ("Added", diff.added),
        ("Removed", diff.removed),
    ):
        doc.line(f"{words}: {', '.join(names) if names else 'none'}")
    prompt_changes = diff.prompt_changes
    if prompt_changes:
        doc.line("Prompts changed (fingerprints, base -> new):")
        doc.table(
            ("task", "base", "new"),
            [(p["task_id"], " ".join(p["base"]), " ".join(p["new"])) for p in prompt_changes],
        )
    else:
        doc.line("Prompts changed: none")
    if exceeded:
        doc.heading("Limits exceeded")
        for line in exceeded:
            doc.line(line)
    return doc.as_markdown() if markdown else doc.as_text()
