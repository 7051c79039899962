"""The report's aggregates: tallies and sections, and the rows, percentiles and HIL pairs made of them.

A :class:`Tally` is the totals of a group of events; a :class:`Section` is what
the report says of one run or of all of them. Both take the facts that
:mod:`wflogging.cli.report_decode` reads, and both merge (``report --jobs``), with
money and durations summed exactly (:mod:`wflogging.cli.exact_sums`).
"""

from __future__ import annotations

import bisect
import heapq
import math
import operator
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from wflogging import schema
from wflogging.cli.exact_sums import exact_units as _exact_units
from wflogging.cli.exact_sums import from_units as _from_units
from wflogging.cli.exact_sums import units as _units
from wflogging.cli.report_decode import (
    NO_CALLS,
    SEVERAL_MODELS,
    UNATTRIBUTED,
    _canonical,
    _error_reason,
    _Event,
    _seconds_between,
    _text,
)
from wflogging.cli.report_findings import GroupTotals, group_totals, renumbered_cells

# --- the tallies -----------------------------------------------------------------------------


class Tally:
    """Totals for a group of events (one agent, model, task, run, or all).

    Money and durations are summed exactly, in integer units (see :func:`_units`).
    The report's hot loop appends the floats to ``cost_floats``/``duration_floats`` instead
    (a list append is ten times cheaper than a conversion to units); they are
    folded into the units, exactly, when read and by :meth:`fold`.
    """

    __slots__ = (
        "_cost",
        "_duration",
        "calls",
        "cost_floats",
        "costed",
        "duration_floats",
        "events",
        "failed",
        "input_tokens",
        "label",
        "output_tokens",
        "paused",
        "unpriced",
    )

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.events = 0
        self.failed = 0
        self.paused = 0
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self._cost = 0  # exact units
        self.cost_floats: list[float] = []  # not yet in _cost
        self.costed = 0  # events that state a cost
        self._duration = 0  # exact units
        self.duration_floats: list[float] = []  # not yet in _duration
        self.unpriced = 0  # calls the recorder could not price

    def __reduce__(self) -> tuple[Any, ...]:
        # A worker's partial report is pickled for the parent (report --jobs): its slots as one tuple,
        # read in one C call, pickle in a third less time than the default (a dict of slots per object).
        return _restored, (Tally, _TALLY_SLOTS(self))

    @property
    def cost(self) -> int:
        """Total money in exact units."""
        self.fold()
        return self._cost

    @property
    def duration(self) -> int:
        """Total duration in exact units."""
        self.fold()
        return self._duration

    def fold(self) -> None:
        """Fold the pending floats into the exact units (keeps memory bounded)."""
        if self.cost_floats:
            self._cost += _exact_units(self.cost_floats)
            self.cost_floats.clear()
        if self.duration_floats:
            self._duration += _exact_units(self.duration_floats)
            self.duration_floats.clear()

    def count(self, event: _Event) -> None:
        """Add one event."""
        self.events += 1
        status = event.status
        if status == "Failed":
            self.failed += 1
        elif status == "HIL-Paused":
            self.paused += 1
        self.calls += len(event.models)
        cost = event.cost
        self.input_tokens += cost.input_tokens
        self.output_tokens += cost.output_tokens
        self._duration += event.duration_units
        self.unpriced += cost.unpriced_calls
        if event.cost_units is not None:
            self._cost += event.cost_units
            self.costed += 1

    def count_plain(  # noqa: PLR0917 - the hot loop's Tally.count, without an _Event
        self,
        status: str,
        calls: int,
        input_tokens: int,
        output_tokens: int,
        usd: float,
        duration: float,
        unpriced: int,
    ) -> None:
        """Add one event with a cost (a float) and a duration that is a finite float >= 0."""
        self.events += 1
        if status == "Failed":
            self.failed += 1
        elif status == "HIL-Paused":
            self.paused += 1
        self.calls += calls
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.duration_floats.append(duration)
        self.unpriced += unpriced
        self.cost_floats.append(usd)
        self.costed += 1

    def merge(self, other: Tally) -> None:
        """Add another group's totals."""
        self.events += other.events
        self.failed += other.failed
        self.paused += other.paused
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self._cost += other.cost
        self.costed += other.costed
        self._duration += other.duration
        self.unpriced += other.unpriced
        self.label = self.label or other.label

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "failed": self.failed,
            "paused": self.paused,
            "llm_calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": _from_units(self.cost),
            "duration_seconds": _from_units(self.duration),
        }


_TALLY_SLOTS = operator.attrgetter(*Tally.__slots__)


def _restored(cls: type[Tally | Section], values: tuple[Any, ...]) -> Tally | Section:
    """A :class:`Tally` or :class:`Section` from its slots' values (what its ``__reduce__`` gives)."""
    restored = object.__new__(cls)
    for name, value in zip(cls.__slots__, values, strict=True):
        setattr(restored, name, value)
    return restored


class _HilEvent(NamedTuple):
    """What HIL pairing needs of an event (kept for pauses and answers only)."""

    run_id: str
    task_id: str
    agent: str
    status: str
    start: str | None
    end: str | None
    feedback: dict[str, Any] | None


class Section:
    """Everything the report says about one run, or about all of them.

    A section always keeps its totals (a few hundred bytes, plus 8 bytes per
    event for the durations that exact percentiles need). A *detailed* section
    also keeps its breakdowns: a tally per (agent, task) pair and per model,
    the slowest tasks, each failure and each HIL event; a run section drops
    them when the report covers too many runs to keep them all (see
    :class:`ReportBuilder`).
    """

    __slots__ = (
        "cell_of",
        "cells",
        "costs",
        "durations",
        "failures",
        "first_start",
        "hil",
        "last_end",
        "models",
        "other_statuses",
        "run_id",
        "slowest",
        "total",
    )

    def __init__(self, run_id: str | None = None, *, detailed: bool = True) -> None:
        self.run_id = run_id
        self.total = Tally()  # kept directly only when not detailed; else summed from the cells
        self.other_statuses: dict[str, int] = {}
        self.durations = array("d")
        # Per event, beside its duration (the findings' per-task and per-agent figures of a run, kept
        # whether or not the section is detailed): its (agent, task) cell, as the cell's number in the
        # report (see CellNumbers) * 2 + failed, and its money (0.0 when it states none). 16 bytes an
        # event; they are grouped only when asked (groups()).
        self.cell_of = array("q")
        self.costs = array("d")
        self.first_start: str | None = None
        self.last_end: str | None = None
        self.cells: dict[tuple[str, str], Tally] | None = None
        self.models: dict[str, Tally] = {}
        self.slowest: list[tuple[float, int, str, str, str, str]] = []
        # Kept as compact tuples (run, task, agent, end, reason): failures can be many.
        self.failures: list[tuple[str, str, str, str | None, str | None]] = []
        self.hil: list[_HilEvent] = []
        if detailed:
            self.cells = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return _restored, (Section, _SECTION_SLOTS(self))  # (see Tally.__reduce__)

    @property
    def detailed(self) -> bool:
        return self.cells is not None

    def tallies(self) -> Iterator[Tally]:
        """Every tally this section keeps."""
        yield self.total
        if self.cells is not None:
            yield from self.cells.values()
        yield from self.models.values()

    def drop_detail(self) -> None:
        """Keep only the totals (the report covers too many runs for every run's breakdowns)."""
        if self.cells is not None:
            self.total = self._summed_total()
            self.cells = None
            self.models, self.slowest, self.failures, self.hil = {}, [], [], []

    def add(self, event: _Event, order: int, charges: list[_Charge]) -> None:
        status = event.status
        if status not in _STATUSES:
            self.other_statuses[status] = self.other_statuses.get(status, 0) + 1
        self.durations.append(event.duration)
        start, end = event.start, event.end
        if start is not None and (self.first_start is None or start < self.first_start):
            self.first_start = start
        if end is not None and (self.last_end is None or end > self.last_end):
            self.last_end = end
        cells = self.cells
        if cells is None:
            self.total.count(event)
            return
        key = (event.agent, event.task_id)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Tally(event.description)
        cell.count(event)
        self._add_models(event, charges)
        slowest = self.slowest
        if len(slowest) < 5 or event.duration > slowest[0][0]:
            item = (event.duration, -order, event.run_id, event.task_id, event.agent, status)
            if len(slowest) < 5:
                heapq.heappush(slowest, item)
            else:
                heapq.heapreplace(slowest, item)
        if status == "Failed":
            self.failures.append((event.run_id, event.task_id, event.agent, end, event.error))
        feedback = event.feedback
        if status == "HIL-Paused" or feedback is not None:
            self.hil.append(_HilEvent(event.run_id, event.task_id, event.agent, status, start, end, feedback))

    def note_cell(self, cell: int, failed: bool, usd: float) -> None:
        """Keep an event's (agent, task) cell number, failure and money beside its duration."""
        self.cell_of.append(cell + cell + failed)
        self.costs.append(usd)

    def extend_cells(self, part: Section, renumber: Sequence[int] | None) -> None:
        """Add ``part``'s events after this section's (with the durations' extend: they go in step).

        ``renumber`` maps ``part``'s cell numbers to this section's report's (``None``: the same).
        """
        self.cell_of.extend(part.cell_of if renumber is None else renumbered_cells(part.cell_of, renumber))
        self.costs.extend(part.costs)

    def groups(
        self, keys: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, GroupTotals], dict[str, GroupTotals]]:
        """Money, duration, events and failures per task and per agent, each summed exactly.

        ``keys``: the (agent, task) of each cell number (:attr:`CellNumbers.keys`).
        """
        by_task: dict[str, tuple[list[float], list[float], list[int]]] = {}
        by_agent: dict[str, tuple[list[float], list[float], list[int]]] = {}
        for cell, usd, duration in zip(self.cell_of, self.costs, self.durations, strict=True):
            agent, task = keys[cell >> 1]
            for groups, name in ((by_task, task), (by_agent, agent)):
                found = groups.get(name)
                if found is None:
                    found = groups[name] = ([], [], [0, 0])
                found[0].append(usd)
                found[1].append(duration)
                found[2][0] += 1
                found[2][1] += cell & 1
        return group_totals(by_task), group_totals(by_agent)

    def add_plain(self, facts: _PlainFacts, order: int, cell_number: int) -> None:
        """:meth:`add` for a detailed section, from the hot loop's facts (and the event's cell number)."""
        status = facts.status
        if status not in _STATUSES:
            self.other_statuses[status] = self.other_statuses.get(status, 0) + 1
        duration = facts.duration
        self.durations.append(duration)
        start, end = facts.start, facts.end
        if self.first_start is None or start < self.first_start:
            self.first_start = start
        if self.last_end is None or end > self.last_end:
            self.last_end = end
        key = (facts.agent, facts.task_id)
        self.note_cell(cell_number, status == "Failed", facts.usd)
        cells = self.cells
        assert cells is not None
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Tally(_text(facts.entry.task_description))
        calls = facts.calls
        cell.count_plain(
            status, len(calls), facts.input_tokens, facts.output_tokens, facts.usd, duration, facts.unpriced
        )
        self._add_plain_models(facts)
        slowest = self.slowest
        if len(slowest) < 5 or duration > slowest[0][0]:
            item = (duration, -order, facts.run_id, facts.task_id, facts.agent, status)
            if len(slowest) < 5:
                heapq.heappush(slowest, item)
            else:
                heapq.heapreplace(slowest, item)
        entry = facts.entry
        if status == "Failed":
            self.failures.append(
                (facts.run_id, facts.task_id, facts.agent, end, _error_reason(entry.extensions))
            )
        feedback = entry.human_feedback
        if type(feedback) is not dict:
            feedback = None
        if status == "HIL-Paused" or feedback is not None:
            self.hil.append(_HilEvent(facts.run_id, facts.task_id, facts.agent, status, start, end, feedback))

    def _add_plain_models(self, facts: _PlainFacts) -> None:
        """:meth:`_add_models` with :func:`_model_charges` for a cost broken down by model."""
        models = self.models
        for call in facts.calls:
            tally = _tally(models, call.model_name)
            tally.calls += 1
        parts = facts.by_model
        charged_input = charged_output = 0
        for name, part in parts.items():
            tally = _tally(models, name)
            tally.events += 1
            input_tokens, output_tokens, usd = part.input_tokens, part.output_tokens, part.cost_usd
            tally.input_tokens += input_tokens
            tally.output_tokens += output_tokens
            charged_input += input_tokens
            charged_output += output_tokens
            if type(usd) is float:
                tally.cost_floats.append(usd)
            else:
                tally._cost += _units(usd)  # an integer amount: straight to the units
            tally.costed += 1
        # What the breakdown leaves of the event's totals goes to (unattributed), exactly.
        rest = [facts.usd, *[-part.cost_usd for part in parts.values()]]
        rest_input = facts.input_tokens - charged_input
        rest_output = facts.output_tokens - charged_output
        has_rest = math.fsum(rest) != 0.0  # exact: fsum is 0 only when the exact sum is
        if has_rest or rest_input or rest_output:
            tally = _tally(models, UNATTRIBUTED)
            tally.events += 1
            tally.input_tokens += rest_input
            tally.output_tokens += rest_output
            if has_rest:
                tally.cost_floats += rest
                tally.costed += 1

    def _add_models(self, event: _Event, charges: list[_Charge]) -> None:
        models = self.models
        for name in event.models:
            tally = _tally(models, name)
            tally.calls += 1
        for name, units, input_tokens, output_tokens in charges:
            tally = _tally(models, name)
            tally.events += 1
            tally.input_tokens += input_tokens
            tally.output_tokens += output_tokens
            if units is not None:
                tally._cost += units  # the units, as Tally.count adds them
                tally.costed += 1

    def _summed_total(self) -> Tally:
        if self.cells is None:
            return self.total
        total = Tally()
        for cell in self.cells.values():
            total.merge(cell)
        return total

    def result(self) -> dict[str, Any]:
        total = self._summed_total()
        durations = sorted(self.durations)
        others = sum(self.other_statuses.values())
        result: dict[str, Any] = {}
        if self.run_id is not None:
            result["workflow_run_id"] = self.run_id
        result.update(
            {
                "start_time_utc": self.first_start,
                "end_time_utc": self.last_end,
                "events": total.events,
                "by_status": {
                    "Success": total.events - total.failed - total.paused - others,
                    "Failed": total.failed,
                    "HIL-Paused": total.paused,
                    **(dict(sorted(self.other_statuses.items())) if self.other_statuses else {}),
                },
                "duration": {
                    # The durations' exact sum, correctly rounded (as _from_units(total.duration)
                    # is, but the hot loop does not sum a run's durations twice); + 0.0: never -0.0.
                    "total_seconds": math.fsum(durations) + 0.0,
                    "median_seconds": median(durations),
                    "p95_seconds": _nearest_rank(durations, 0.95),
                },
                "cost": {
                    "total_usd": _from_units(total.cost),
                    "events_with_cost": total.costed,
                    "input_tokens": total.input_tokens,
                    "output_tokens": total.output_tokens,
                    "llm_calls": total.calls,
                    "unpriced_calls": total.unpriced,
                },
                "detailed": self.cells is not None,
            }
        )
        if self.cells is not None:
            result["duration"]["slowest"] = [
                {
                    "workflow_run_id": run_id,
                    "task_id": task_id,
                    "agent_name": agent,
                    "status": status,
                    "duration_seconds": duration,
                }
                for duration, _, run_id, task_id, agent, status in sorted(self.slowest, reverse=True)
            ]
            result.update(self._breakdowns(self.cells))
        return result

    def _breakdowns(self, cells: dict[tuple[str, str], Tally]) -> dict[str, Any]:
        by_agent: dict[str, Tally] = {}
        by_task: dict[str, Tally] = {}
        for (agent, task_id), cell in cells.items():
            _tally(by_agent, agent).merge(cell)
            _tally(by_task, task_id).merge(cell)
        return {
            "by_agent": _rows(by_agent, "agent_name"),
            "by_model": _rows(self.models, "model_name"),
            "by_task": _rows(by_task, "task_id", with_label="task_description"),
            "failures": [
                {
                    "workflow_run_id": run_id,
                    "task_id": task_id,
                    "agent_name": agent,
                    "end_time_utc": end,
                    "reason": reason,
                }
                for run_id, task_id, agent, end, reason in self.failures
            ],
            "human_feedback": _pair_feedback(self.hil),
        }


_SECTION_SLOTS = operator.attrgetter(*Section.__slots__)
_STATUSES = frozenset(member.value for member in schema.Status)


def _tally(groups: dict[str, Tally], key: str) -> Tally:
    """The tally kept under ``key``, made on first use."""
    tally = groups.get(key)
    if tally is None:
        tally = groups[key] = Tally()
    return tally


#: A model's share of one event: (model, cost in exact units or None, input tokens, output tokens).
_Charge = tuple[str, int | None, int, int]


def _model_charges(event: _Event) -> list[_Charge]:
    """The event's cost and tokens split by model, in exact units (see the module docstring)."""
    cost = event.cost
    total = event.cost_units
    if cost.by_model is not None:
        charges: list[_Charge] = [
            (model, None if usd is None else _units(usd), inp, out) for model, usd, inp, out in cost.by_model
        ]
        charged = sum(c[1] for c in charges if c[1] is not None)
        rest = (
            None if total is None or total == charged else total - charged,
            cost.input_tokens - sum(c[2] for c in charges),
            cost.output_tokens - sum(c[3] for c in charges),
        )
        if rest[0] is not None or rest[1] or rest[2]:
            charges.append((UNATTRIBUTED, *rest))
        return charges
    if not total and not (cost.input_tokens or cost.output_tokens):
        return _NO_CHARGES  # nothing to charge (a zero cost is still counted in the event's totals)
    models = event.models
    first = models[0] if models else NO_CALLS
    model = first if all(name == first for name in models) else SEVERAL_MODELS
    return [(model, total, cost.input_tokens, cost.output_tokens)]


_NO_CHARGES: list[_Charge] = []


def _rows(groups: dict[str, Tally], key: str, *, with_label: str | None = None) -> list[dict[str, Any]]:
    ordered = sorted(groups.items(), key=lambda item: (-item[1].cost, -item[1].duration, item[0]))
    rows = []
    for name, tally in ordered:
        row: dict[str, Any] = {key: name}
        if with_label is not None:
            row[with_label] = tally.label
        row.update(tally.as_dict())
        rows.append(row)
    return rows


def median(ordered: list[float]) -> float | None:
    """The median of values in ascending order (the mean of the two middle ones for an even count)."""
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _nearest_rank(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def _pair_feedback(events: list[_HilEvent]) -> list[dict[str, Any]]:
    """Each HIL pause with the answer that resumed it, and feedback given without a pause.

    Pauses are taken in order of their end; each gets the first answer (in order
    of start) of the same run and task that starts at or after the pause ends and
    that no earlier pause got. Within one run and task the pauses' ends only grow,
    so every answer before the last one given out is either given out or starts
    too early for the pauses still to come: a binary search from there finds the
    answer, with no scan of all answers for each pause.
    """
    pauses = sorted((e for e in events if e.status == "HIL-Paused"), key=lambda e: (e.end or "", e.task_id))
    answers = sorted(
        (e for e in events if e.feedback is not None and e.status != "HIL-Paused"),
        key=lambda e: (e.start or "", e.task_id),
    )
    # (run, task) -> the starts of its answers and their indexes in answers, in that order.
    by_task: dict[tuple[str, str], tuple[list[str], list[int]]] = {}
    for index, answer in enumerate(answers):
        key = (answer.run_id, answer.task_id)
        found = by_task.get(key)
        if found is None:  # (not setdefault: that would make two lists for every answer)
            found = by_task[key] = ([], [])
        found[0].append(answer.start or "")
        found[1].append(index)
    given_upto: dict[tuple[str, str], int] = {}  # the position after the last answer given out
    used: set[int] = set()
    items: list[dict[str, Any]] = []
    for pause in pauses:
        key = (pause.run_id, pause.task_id)
        feedback = pause.feedback
        if key in by_task:
            starts, indexes = by_task[key]
            position = max(bisect.bisect_left(starts, pause.end or ""), given_upto.get(key, 0))
            if position < len(starts):
                given_upto[key] = position + 1
                used.add(indexes[position])
                feedback = answers[indexes[position]].feedback
        items.append(_hil_item(pause, feedback))
    items += [_hil_item(None, e.feedback, e) for index, e in enumerate(answers) if index not in used]
    return items


def _hil_item(
    pause: _HilEvent | None, feedback: dict[str, Any] | None, event: _HilEvent | None = None
) -> dict[str, Any]:
    source = pause if pause is not None else event
    assert source is not None
    answered_at = _canonical(feedback.get("timestamp_utc")) if feedback is not None else None
    wait = None
    if pause is not None and pause.end is not None and answered_at is not None:
        seconds = _seconds_between(pause.end, answered_at)
        wait = seconds if seconds is not None and seconds >= 0 else None
    return {
        "workflow_run_id": source.run_id,
        "task_id": source.task_id,
        "agent_name": source.agent,
        "paused": pause is not None,
        "paused_at": None if pause is None else pause.end,
        "feedback_type": None if feedback is None else feedback.get("type"),
        "answer": None if feedback is None else feedback.get("content"),
        "answered_at": answered_at,
        "wait_seconds": wait,
    }


class _PlainFacts(NamedTuple):
    """The facts of an entry in the recorder's shape, for Section.add_plain (a detailed run)."""

    run_id: str
    task_id: str
    agent: str
    status: str
    start: str
    end: str
    duration: float
    usd: float
    input_tokens: int
    output_tokens: int
    unpriced: int
    calls: list[Any]  # of report_decode._Call
    by_model: dict[str, Any]  # of _FastModelCost
    entry: Any  # the report_decode._Entry, for the rarely needed fields


#: Pending floats are folded into exact units every this many events (a power of two, minus one).
_FOLD_EVERY_MASK = (1 << 16) - 1
