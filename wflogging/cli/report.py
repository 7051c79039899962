"""``wflogging report``: what a set of runs did, cost and waited for, per run and overall.

The report is built in one streaming pass (:class:`ReportBuilder`) and returned
as plain JSON data (:meth:`ReportBuilder.result`); the table and Markdown forms
are renderings of that data (:mod:`wflogging.cli.render`).

Definitions, so every number can be recomputed from the events:

* every entry is one *task event* (a paused task that is resumed gives two);
* durations are ``timestamps.duration_seconds``; ``median`` is the usual median
  (mean of the two middle values for an even count), ``p95`` the nearest-rank
  95th percentile (the value at rank ``ceil(0.95 * n)`` in ascending order);
* sums of money and durations are exact (the correctly rounded sum of the
  values, as :func:`math.fsum` gives), whatever the order of the events;
* costs and tokens come from ``cost_data``, read defensively. The keys
  understood are those :func:`wflogging.record_task` writes, plus common
  aliases: money ``total_cost_usd`` (or ``cost_usd``); tokens inside ``tokens``
  as ``input``/``output`` (or ``input_tokens``/``output_tokens``,
  ``prompt_tokens``/``completion_tokens``, also at the top level); a per-model
  breakdown under ``models`` (or ``by_model``, ``per_model``) mapping a model
  name to ``input_tokens``, ``output_tokens`` and ``cost_usd``; and
  ``unpriced_calls`` (calls left out of the money). Totals missing at the top
  are the sums of the breakdown. Anything else in ``cost_data`` is ignored; an
  event without money counts as no cost (``events_with_cost`` says how many
  stated one);
* cost by model uses the breakdown when there is one (any remainder of the
  event's total is shown as ``(unattributed)``); without one, an event whose
  calls all used one model is charged to it, else to ``(several models)``, or
  ``(no LLM calls)``;
* a failure's reason is ``extensions.error`` (``type: message``) when present;
* a HIL pause is an event with status ``HIL-Paused``; its answer is the
  ``human_feedback`` of the first event of the same run and task that carries
  one and starts at or after the pause ends (else the pause's own feedback),
  and the human's wait is ``human_feedback.timestamp_utc`` minus the pause's
  ``end_time_utc``;
* a prompt repeats across runs when the same prompt text is sent in more than
  one run; prompts are compared through a 64-bit fingerprint of their JSON
  string literal, which is the same as comparing texts for files written by
  wflogging or any writer that escapes only what JSON requires (see "prompt
  fingerprints" below for the one difference), and at most ``prompt_memory``
  distinct prompts are remembered.
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import functools
import heapq
import itertools
import json
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, cast

import attrs

from wflogging import schema
from wflogging.cli.inputs import (
    DECODE_ERRORS,
    Line,
    LineBatch,
    NotAnObject,
    Progress,
    read_line_batches,
    torn_line,
)
from wflogging.lines import DEFAULT_MAX_LINE_BYTES
from wflogging.reader import TornLine, parse_line

__all__ = ["ReportBuilder", "ReportFilter", "parse_moment"]

# --- exact sums ----------------------------------------------------------------------------
# A float is n / 2**k with k <= 1074, so n << (1074 - k) is it scaled to an integer
# exactly; integer sums are exact and order-free, and one division rounds them correctly.
_SCALE_BITS = 1074
_SCALE = 1 << _SCALE_BITS


def _units(value: float | int) -> int:
    if type(value) is int:
        return value << _SCALE_BITS
    numerator, denominator = float(value).as_integer_ratio()
    return numerator << (_SCALE_BITS - denominator.bit_length() + 1)


def _from_units(units: int) -> float:
    return units / _SCALE


def _number(value: object) -> float | int | None:
    """A finite JSON number, or ``None``."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return value  # type: ignore[return-value]
    return None


def _count(value: object) -> int:
    """A token count: an integer (or integral float); anything else counts as 0."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return 0


# --- reading cost_data ---------------------------------------------------------------------

_MONEY_KEYS = ("total_cost_usd", "cost_usd")
_INPUT_KEYS = ("input_tokens", "input", "prompt_tokens")
_OUTPUT_KEYS = ("output_tokens", "output", "completion_tokens")
_BREAKDOWN_KEYS = ("models", "by_model", "per_model")


class CostFacts(NamedTuple):
    """What one ``cost_data`` object says: money (``None`` when absent), tokens, and per model."""

    usd: float | int | None
    input_tokens: int
    output_tokens: int
    #: (model, money or None, input tokens, output tokens) per model, when ``cost_data`` breaks it down.
    by_model: tuple[tuple[str, float | int | None, int, int], ...] | None
    #: Calls the recorder could not price (left out of ``usd``).
    unpriced_calls: int = 0


def _first(mapping: dict[str, Any], keys: tuple[str, ...]) -> object:
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def _tokens(mapping: dict[str, Any], input_key: str, output_key: str) -> tuple[int, int]:
    """Input and output tokens, trying the expected keys first (this runs for every event)."""
    input_tokens = mapping.get(input_key)
    if input_tokens is None:
        input_tokens = _first(mapping, _INPUT_KEYS)
    output_tokens = mapping.get(output_key)
    if output_tokens is None:
        output_tokens = _first(mapping, _OUTPUT_KEYS)
    return _count(input_tokens), _count(output_tokens)


def read_cost(cost_data: object) -> CostFacts:
    """The money and tokens in one event's ``cost_data`` (see the module docstring for the keys)."""
    if type(cost_data) is not dict or not cost_data:
        return _NO_COST
    get = cost_data.get
    usd = get("total_cost_usd")
    usd = _number(usd if usd is not None else get("cost_usd"))
    tokens = get("tokens")
    if type(tokens) is dict:
        input_tokens, output_tokens = _tokens(tokens, "input", "output")
    else:
        input_tokens, output_tokens = _tokens(cost_data, "input_tokens", "output_tokens")
    unpriced = get("unpriced_calls")
    unpriced = 0 if unpriced is None else _count(unpriced)
    breakdown = get("models")
    if breakdown is None:
        breakdown = _first(cost_data, _BREAKDOWN_KEYS)
    if type(breakdown) is not dict or not breakdown:
        return CostFacts(usd, input_tokens, output_tokens, None, unpriced)
    by_model = _breakdown(breakdown)
    if usd is None and any(row[1] is not None for row in by_model):
        usd = _from_units(sum(_units(row[1]) for row in by_model if row[1] is not None))
    if not (input_tokens or output_tokens):
        input_tokens = sum(row[2] for row in by_model)
        output_tokens = sum(row[3] for row in by_model)
    return CostFacts(usd, input_tokens, output_tokens, by_model, unpriced)


def _breakdown(breakdown: dict[str, Any]) -> tuple[tuple[str, float | int | None, int, int], ...]:
    rows = []
    for model, part in breakdown.items():
        if type(part) is not dict:
            continue
        usd = part.get("cost_usd")
        input_tokens = part.get("input_tokens")
        output_tokens = part.get("output_tokens")
        if type(usd) is not float or type(input_tokens) is not int or type(output_tokens) is not int:
            usd = _number(_first(part, _MONEY_KEYS))
            input_tokens, output_tokens = _tokens(part, "input_tokens", "output_tokens")
        rows.append((model, usd, input_tokens, output_tokens))
    return tuple(rows)


_NO_COST = CostFacts(None, 0, 0, None, 0)

UNATTRIBUTED = "(unattributed)"
SEVERAL_MODELS = "(several models)"
NO_CALLS = "(no LLM calls)"

# --- time ------------------------------------------------------------------------------------


def _canonical(value: object) -> str | None:
    """A timestamp as wflogging writes it (``YYYY-MM-DDTHH:MM:SS.ffffffZ``): comparable as text."""
    if type(value) is not str:
        return None
    if len(value) == 27 and value[26] == "Z" and value[10] == "T":
        return value
    try:
        return schema.format_instant(schema.instant(value, "timestamp"))
    except ValueError:
        return None


def parse_moment(text: str) -> str:
    """A ``--since``/``--until`` value in canonical form; a date or a time without offset is UTC."""
    value = text.strip()
    if len(value) == 10:  # YYYY-MM-DD
        value += "T00:00:00Z"
    elif value[-1:] not in ("Z", "z") and not _has_offset(value):
        value += "Z"
    return schema.format_instant(schema.instant(value.replace(" ", "T", 1), "time"))


def _has_offset(value: str) -> bool:
    return len(value) > 6 and value[-6] in "+-" and value[-3] == ":"


def _seconds_between(earlier: str, later: str) -> float | None:
    """Seconds from one timestamp in :func:`_canonical` form to another; ``None`` if one is not a date."""
    try:
        # Both are UTC, so their dates and times without the "Z" differ by as much (and fromisoformat,
        # in C, is several times faster than schema.instant, which takes every RFC 3339 form).
        start = dt.datetime.fromisoformat(earlier[:26])
        end = dt.datetime.fromisoformat(later[:26])
    except ValueError:
        return None
    return (end - start).total_seconds()


# --- the tallies -----------------------------------------------------------------------------


class Tally:
    """Totals for a group of events (one agent, model, task, run, or all).

    Money and durations are summed exactly, in integer units (see :func:`_units`).
    The fast path appends the floats to ``cost_floats``/``duration_floats`` instead
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

    def count_plain(  # noqa: PLR0917 - the fast path's Tally.count, without an _Event
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


def _exact_units(values: Sequence[float]) -> int:
    """The exact sum of finite floats in units, as ``sum(map(_units, values))`` but in a few C passes.

    ``math.fsum`` gives the correctly rounded sum; subtracting it and summing
    again gives the rounding error, and so on until the rest is exactly zero
    (every float is a multiple of 2**-1074, so a nonzero rest never rounds to
    0). Each rest is at most half an ulp of the one before, so this ends after
    two or three passes, and within 40 whatever the values.
    """
    work = list(values)
    units = 0
    try:
        partial = math.fsum(work)
        while partial:
            units += _units(partial)
            work.append(-partial)
            partial = math.fsum(work)
    except OverflowError:  # sums beyond 1.8e308: the slow way
        return sum(map(_units, values))
    return units


class _Event:
    """The facts of one event that the report uses, read once (a plain class: this is the hot path)."""

    __slots__ = (
        "_description",
        "_extensions",
        "_feedback",
        "agent",
        "cost",
        "cost_units",
        "duration",
        "duration_units",
        "end",
        "models",
        "run_id",
        "start",
        "status",
        "task_id",
    )

    def __init__(  # noqa: PLR0917 - built in one place per parser, from one entry
        self,
        run_id: str,
        task_id: str,
        agent: str,
        status: str,
        start: str | None,
        end: str | None,
        duration: float,
        cost: CostFacts,
        models: list[str],
        description: object,
        feedback: object,
        extensions: object,
    ) -> None:
        self.run_id = run_id
        self.task_id = task_id
        self.agent = agent
        self.status = status
        self.start = start
        self.end = end
        self.duration = duration
        self.duration_units = _units(duration)
        self.cost = cost
        self.cost_units = None if cost.usd is None else _units(cost.usd)
        self.models = models
        # The rarely needed fields, as parsed: read through the properties below.
        self._description = description
        self._feedback = feedback
        self._extensions = extensions

    @property
    def description(self) -> str:
        return _text(self._description)

    @property
    def feedback(self) -> dict[str, Any] | None:
        feedback = self._feedback
        return feedback if type(feedback) is dict else None

    @property
    def error(self) -> str | None:
        return _error_reason(self._extensions)


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
        "cells",
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

    def add_plain(self, facts: _PlainFacts, order: int) -> None:
        """:meth:`add` for a detailed section, from the fast path's facts."""
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
        cells = self.cells
        assert cells is not None
        key = (facts.agent, facts.task_id)
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
                    # is, but the fast path does not sum a run's durations twice); + 0.0: never -0.0.
                    "total_seconds": math.fsum(durations) + 0.0,
                    "median_seconds": _median(durations),
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


def _median(ordered: list[float]) -> float | None:
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
        starts, indexes = by_task.setdefault((answer.run_id, answer.task_id), ([], []))
        starts.append(answer.start or "")
        indexes.append(index)
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


# --- the builder -----------------------------------------------------------------------------


@attrs.frozen
class ReportFilter:
    """Which events the report counts: a run (id or id prefix), and a window on start time."""

    run: str | None = None
    since: str | None = None  # canonical timestamp, inclusive
    until: str | None = None  # canonical timestamp, exclusive


class ReportBuilder:
    """Feed it entries (:meth:`add`), then ask for the :meth:`result`.

    Memory does not grow with the size of prompts or files, only with what the
    report must remember: 8 bytes per event (durations, for exact
    percentiles), each failure and HIL pause, a few hundred bytes per run, the
    distinct agents, models and task ids, and at most ``prompt_memory`` prompt
    fingerprints (for "prompts that repeat across runs"), each with the runs
    that sent it after another run did (8 bytes a run). Run sections keep
    their breakdowns (by agent, model and task, failures, pauses) while the
    report covers at most ``detailed_runs`` runs, or when one run is selected;
    beyond that they keep their totals and the breakdowns are reported over all
    runs only.
    """

    def __init__(
        self,
        report_filter: ReportFilter | None = None,
        *,
        prompt_memory: int = 100_000,
        detailed_runs: int = 20,
        observer: Callable[[_Event, Sequence[Any]], None] | None = None,
    ) -> None:
        self.filter = report_filter or ReportFilter()
        #: Called with each event counted and its calls (wflogging.cli.improve's findings).
        self.observer = observer
        self._run_prefix = None if self.filter.run is None else self.filter.run.lower()
        self.overall = Section()
        self.runs: dict[str, Section] = {}
        self.skipped = 0  # entries that are not task events
        self.filtered_out = 0
        self.unreadable = 0  # torn lines, counted by the caller
        self._count = 0  # events counted so far: the next event's order
        # Prompt fingerprint -> [task_id, agent, first run, last run, later runs or None]: a run is added to
        # the later runs when it sends the prompt after another run did (so a run that comes back is there
        # twice; improve() counts distinct runs). Bounded, see improve().
        self._prompts: dict[int, list[Any]] = {}
        self._prompt_memory = prompt_memory
        self._detailed_runs = detailed_runs
        self.runs_detailed = True
        self._unfiltered = self.filter.run is None and self.filter.since is None and self.filter.until is None

    def add_all(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            self.add(entry)

    def add(self, entry: Mapping[str, Any]) -> None:
        """Count one parsed entry (one that is not a task event is counted as skipped)."""
        event = _read_event(entry)
        if event is None:
            self.skipped += 1
            return
        calls = entry.get("llm_trace")
        self._add_event(event, calls if type(calls) is list else ())

    def _fold(self) -> None:
        # A run section without detail has no pending floats: _add_lines_fast folds its total when the
        # reading moves on to another run.
        # (Only the first detailed_runs runs can be detailed: this does not go through every run.)
        runs = self.runs.values() if self.runs_detailed else ()
        for section in itertools.chain((self.overall,), runs):
            if section.cells is not None:
                for tally in section.tallies():
                    tally.fold()

    def read(
        self,
        paths: Sequence[str],
        progress: Progress | None = None,
        *,
        parser: str = "fastest",
        on_torn: Callable[[TornLine], None] | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        """Count every entry of every path in turn (``-`` is standard input).

        ``parser`` is ``"fastest"`` (``msgspec`` when installed, else ``orjson``),
        ``"msgspec"``, ``"orjson"`` or ``"json"``; the last two parse every line
        whole, while ``msgspec`` reads only the fields the report needs, which is
        several times faster than :meth:`add` on entries parsed whole (see
        :meth:`_add_lines_fast`). Every parser gives the same report. Torn lines
        are counted in :attr:`unreadable` and handed to ``on_torn``.
        """
        self.read_items(read_line_batches(paths, progress, max_line_bytes), parser=parser, on_torn=on_torn)

    def read_items(
        self,
        items: Iterable[LineBatch | TornLine],
        *,
        parser: str = "fastest",
        on_torn: Callable[[TornLine], None] | None = None,
    ) -> None:
        """:meth:`read` for lines already read (the items :func:`.read_line_batches` yields)."""
        if parser == "fastest":
            parser = "msgspec" if _HAVE_MSGSPEC else "orjson"
        if parser == "msgspec":
            if not _HAVE_MSGSPEC:
                raise ValueError("parser 'msgspec' needs msgspec (pip install 'wflogging[fast]')")
            add_lines = self._add_lines_fast
        elif parser in ("orjson", "json"):
            add_lines = functools.partial(self._add_lines_whole, _whole_line_decoder(parser))
        else:
            raise ValueError(f"unknown parser {parser!r}")
        for item in items:
            if isinstance(item, TornLine):
                self._torn(item, on_torn)
            else:
                add_lines(item, on_torn)

    def _torn(self, item: TornLine | None, on_torn: Callable[[TornLine], None] | None) -> None:
        if item is not None:  # None: a blank line
            self.unreadable += 1
            if on_torn is not None:
                on_torn(item)

    def _add_lines_whole(
        self,
        decode: Callable[[Line], dict[str, Any]],
        batch: LineBatch,
        on_torn: Callable[[TornLine], None] | None,
    ) -> None:
        add = self.add
        for index, line in enumerate(batch.lines):
            try:
                entry = decode(line)
            except DECODE_ERRORS as exc:
                self._torn(torn_line(batch, index, exc), on_torn)
            else:
                add(entry)

    def _add_lines_fast(  # noqa: PLR0912, PLR0915 - the hot loop, inlined on purpose
        self, batch: LineBatch, on_torn: Callable[[TornLine], None] | None
    ) -> None:
        """Count a batch of lines, reading each with the typed decoder (see "reading lines fast" below).

        An entry in the shape wflogging.record_task writes is counted right here:
        this is what :meth:`_add_event` does with it, written out with no calls
        per event (each call costs about as much as parsing a hundred bytes),
        because on a large file this loop is most of the report's time. Any other
        entry takes the general way, so both give the same facts (the tests
        compare them on random entries). Three things are deferred to keep the
        work per event small: the current run's totals are kept in local
        variables until the reading moves on to another run (see
        :meth:`_add_run_totals`), LLM calls are counted per model at the end of
        the batch, and the overall first start and last end are taken from the
        runs' at the end (:meth:`parts`).
        """
        decode = _FAST_DECODER.decode
        decode_whole = _WHOLE_LINE_DECODER
        fast_errors = _FAST_ERRORS
        fast_tokens = _FastTokens
        inf = math.inf
        fsum = math.fsum
        unfiltered = self._unfiltered
        runs = self.runs
        overall = self.overall
        cells = overall.cells
        assert cells is not None  # the overall section is always detailed
        models = overall.models
        overall_durations = overall.durations.append
        overall_statuses = overall.other_statuses
        slowest = overall.slowest
        failures = overall.failures.append
        hil = overall.hil.append
        prompts = self._prompts
        prompt_memory = self._prompt_memory
        remembered = prompts.get
        fingerprint = _fingerprint_literal
        observer = self.observer  # sees each event as _add_event would hand it over
        # An observer that takes the calls' prompt fingerprints (the findings) gets the ones made here.
        observe_keys: Callable[[_Event, list[int | None]], None] | None = getattr(
            getattr(observer, "__self__", None), "observe_keys", None
        )
        call_models: list[str] = []  # the model of every LLM call, counted at the end
        count_model = call_models.append
        order = self._count
        # The current run (run_id) and its totals since it became current.
        run_id = ""
        run = overall  # replaced before use
        run_events = run_failed = run_paused = run_calls = run_input = run_output = run_unpriced = 0
        run_first = run_last = ""
        run_plain = False
        run_duration = run_cost = overall_durations  # replaced before use
        fold_every_mask = _FOLD_EVERY_MASK
        quote = _QUOTE
        slowest_floor = slowest[0][0] if len(slowest) == 5 else -1.0  # durations are >= 0
        # msgspec does not check the UTF-8 of the strings it skips (the reader calls such a line torn), so
        # the lines of a batch that was not checked at once are checked one by one.
        utf8 = batch.utf8
        for index, line in enumerate(batch.lines):
            try:
                if not utf8:
                    str(line, "utf-8")
                entry = decode(line)
            except UnicodeDecodeError as exc:
                self._torn(torn_line(batch, index, exc), on_torn)
                continue
            except fast_errors:
                try:
                    whole = decode_whole(line)
                except DECODE_ERRORS as exc:
                    self._torn(torn_line(batch, index, exc), on_torn)
                else:
                    self._count = order
                    self.add(whole)
                    order = self._count
                    run_id = ""  # the general way may have changed the run sections: look again
                    slowest_floor = slowest[0][0] if len(slowest) == 5 else -1.0
                continue
            timestamps = entry.timestamps
            duration = timestamps.duration_seconds
            start = timestamps.start_time_utc
            end = timestamps.end_time_utc
            agent = entry.agent_name
            cost = entry.cost_data
            usd = tokens = parts = None
            if (
                unfiltered
                and 0.0 <= duration < inf
                and len(start) == 27
                and start[26] == "Z"
                and len(end) == 27
                and end[26] == "Z"
                and agent
                and cost is not None
            ):
                usd = cost.total_cost_usd
                tokens = cost.tokens
                parts = cost.models
            if (
                type(usd) is not float
                or type(tokens) is not fast_tokens
                or type(parts) is not dict
                or not parts
                or not (tokens.input or tokens.output)
            ):
                self._count = order
                self._add_event(_fast_event(entry), entry.llm_trace)
                order = self._count
                run_id = ""  # the general way may have changed the run sections: look again
                slowest_floor = slowest[0][0] if len(slowest) == 5 else -1.0
                continue
            # --- an entry in the recorder's shape: _add_event, written out ---
            if not order & fold_every_mask:
                self._fold()
            entry_run_id = entry.workflow_run_id
            if entry_run_id != run_id:
                if run_events:
                    self._add_run_totals(
                        run,
                        (run_events, run_failed, run_paused, run_calls, run_input, run_output, run_unpriced),
                        run_first,
                        run_last,
                    )
                    run_events = run_failed = run_paused = run_calls = run_input = run_output = 0
                    run_unpriced = 0
                found = runs.get(entry_run_id)
                run = self._new_run(entry_run_id) if found is None else found
                run_id = run.run_id or entry_run_id  # one string per run (the prompt fingerprints keep it)
                run_first, run_last = start, end
                run_plain = run.cells is None
                if run_plain:
                    run_duration = run.durations.append
                    run_cost = run.total.cost_floats.append
            task_id = entry.task_id
            status = entry.status
            calls = entry.llm_trace
            call_count = len(calls)
            input_tokens = tokens.input
            output_tokens = tokens.output
            unpriced = cost.unpriced_calls  # type: ignore[union-attr]
            # The run: its totals only, once the report covers many runs (else Section.add_plain).
            if run_plain:
                run_duration(duration)
                run_cost(usd)  # (its total duration is the sum of run.durations)
                if start < run_first:  # noqa: PLR1730 - min() is a call: slower here
                    run_first = start
                if end > run_last:  # noqa: PLR1730
                    run_last = end
                run_events += 1
                if status != "Success":
                    if status == "Failed":
                        run_failed += 1
                    elif status == "HIL-Paused":
                        run_paused += 1
                    else:
                        run.other_statuses[status] = run.other_statuses.get(status, 0) + 1
                run_calls += call_count
                run_input += input_tokens
                run_output += output_tokens
                run_unpriced += unpriced
            else:
                run.add_plain(
                    _PlainFacts(
                        run_id,
                        task_id,
                        agent,
                        status,
                        start,
                        end,
                        duration,
                        usd,
                        input_tokens,
                        output_tokens,
                        unpriced,
                        calls,
                        parts,
                        entry,
                    ),
                    order,
                )
            # Overall: the (agent, task) cell, the models, the slowest, failures and HIL events.
            overall_durations(duration)
            cell = cells.get((agent, task_id))
            if cell is None:
                cell = cells[agent, task_id] = Tally(_text(entry.task_description))
            cell.events += 1
            if status != "Success":
                if status == "Failed":
                    cell.failed += 1
                    failures((run_id, task_id, agent, end, _error_reason(entry.extensions)))
                elif status == "HIL-Paused":
                    cell.paused += 1
                else:
                    overall_statuses[status] = overall_statuses.get(status, 0) + 1
            cell.calls += call_count
            cell.input_tokens += input_tokens
            cell.output_tokens += output_tokens
            cell.duration_floats.append(duration)
            cell.unpriced += unpriced
            cell.cost_floats.append(usd)
            cell.costed += 1
            keys: list[int | None] | None = None if observe_keys is None else []
            for call in calls:
                count_model(call.model_name)
                # Prompts that repeat across runs (as _remember_prompts keeps them). Only a JSON string
                # (not "") is remembered, so only a literal not found needs that checked.
                prompt = call.prompt
                key = fingerprint(prompt)
                if keys is not None:  # as prompt_fingerprint(call) gives it
                    keys.append(key if len(prompt) > 2 and memoryview(prompt)[0] == quote else None)
                seen = remembered(key)
                if seen is None:
                    if len(prompts) < prompt_memory and len(prompt) > 2 and memoryview(prompt)[0] == quote:
                        prompts[key] = [task_id, agent, run_id, run_id, None]
                elif seen[3] is not run_id:
                    seen[3] = run_id
                    others = seen[4]
                    if others is None:
                        seen[4] = [run_id]
                    else:
                        others.append(run_id)
            if keys is not None and observe_keys is not None:
                observe_keys(_fast_event(entry), keys)
            elif observer is not None:
                observer(_fast_event(entry), calls)
            rest = [usd]
            rest_input = input_tokens
            rest_output = output_tokens
            for name, part in parts.items():
                tally = models.get(name)
                if tally is None:
                    tally = models[name] = Tally()
                tally.events += 1
                part_input = part.input_tokens
                part_output = part.output_tokens
                part_usd = part.cost_usd
                tally.input_tokens += part_input
                tally.output_tokens += part_output
                rest_input -= part_input
                rest_output -= part_output
                rest.append(-part_usd)
                if type(part_usd) is float:
                    tally.cost_floats.append(part_usd)
                else:
                    tally._cost += _units(part_usd)  # an integer amount: straight to the units
                tally.costed += 1
            # What the breakdown leaves of the event's totals goes to (unattributed), exactly: fsum is 0
            # only when the exact sum is (and two numbers compare exactly).
            has_rest = usd != part_usd if len(rest) == 2 else fsum(rest) != 0.0
            if has_rest or rest_input or rest_output:
                tally = models.get(UNATTRIBUTED)
                if tally is None:
                    tally = models[UNATTRIBUTED] = Tally()
                tally.events += 1
                tally.input_tokens += rest_input
                tally.output_tokens += rest_output
                if has_rest:
                    tally.cost_floats += rest
                    tally.costed += 1
            if duration > slowest_floor:
                item = (duration, -order, run_id, task_id, agent, status)
                if len(slowest) < 5:
                    heapq.heappush(slowest, item)
                else:
                    heapq.heapreplace(slowest, item)
                if len(slowest) == 5:
                    slowest_floor = slowest[0][0]
            feedback = entry.human_feedback
            if feedback is not None and type(feedback) is not dict:
                feedback = None
            if status == "HIL-Paused" or feedback is not None:
                hil(_HilEvent(run_id, task_id, agent, status, start, end, feedback))
            order += 1
        self._count = order
        if run_events:
            self._add_run_totals(
                run,
                (run_events, run_failed, run_paused, run_calls, run_input, run_output, run_unpriced),
                run_first,
                run_last,
            )
        for name, calls_made in collections.Counter(call_models).items():
            _tally(models, name).calls += calls_made

    @staticmethod
    def _add_run_totals(
        run: Section, counts: tuple[int, int, int, int, int, int, int], first: str, last: str
    ) -> None:
        """Add what :meth:`_add_lines_fast` kept of a run while it was current (see :meth:`Section.add`).

        ``counts`` are the events, failed, paused, LLM calls, input tokens, output
        tokens and unpriced calls; the durations and costs were appended as they came.
        """
        total = run.total
        events, failed, paused, calls, input_tokens, output_tokens, unpriced = counts
        total.events += events
        total.failed += failed
        total.paused += paused
        total.calls += calls
        total.input_tokens += input_tokens
        total.output_tokens += output_tokens
        total.unpriced += unpriced
        total.costed += events
        total.fold()  # keeps memory flat: pending floats only for the current run
        if run.first_start is None or first < run.first_start:
            run.first_start = first
        if run.last_end is None or last > run.last_end:
            run.last_end = last

    def _add_event(self, event: _Event, calls: Sequence[Any]) -> None:
        if not self._wanted(event):
            self.filtered_out += 1
            return
        order = self._count
        self._count = order + 1
        charges = _model_charges(event)
        self.overall.add(event, order, charges)
        run = self.runs.get(event.run_id)
        if run is None:
            run = self._new_run(event.run_id)
        run.add(event, order, charges)
        if calls:
            self._remember_prompts(event, calls, run.run_id or event.run_id)
        if self.observer is not None:
            self.observer(event, calls)

    def _new_run(self, run_id: str) -> Section:
        if self.runs_detailed and len(self.runs) >= self._detailed_runs and self.filter.run is None:
            self.runs_detailed = False
            for section in self.runs.values():
                section.drop_detail()
        section = self.runs[run_id] = Section(run_id, detailed=self.runs_detailed)
        return section

    def _wanted(self, event: _Event) -> bool:
        if self._run_prefix is not None and not event.run_id.lower().startswith(self._run_prefix):
            return False
        since, until = self.filter.since, self.filter.until
        if since is None and until is None:
            return True
        if event.start is None:
            return False
        return (since is None or event.start >= since) and (until is None or event.start < until)

    def _remember_prompts(self, event: _Event, calls: Sequence[Any], run_id: str) -> None:
        """Fingerprint each prompt (``hash`` of its text) for "prompts that repeat across runs".

        ``run_id`` is the run section's own string: one string per run, so that the runs kept for each
        prompt share it and the last run is recognised by identity.
        """
        prompts = self._prompts
        for call in calls:
            # A dict from a whole-line parse (the prompt's text), or a _FastCall (its JSON literal).
            if type(call) is dict:
                prompt = call.get("prompt")
                if not prompt or type(prompt) is not str:
                    continue
                key = _fingerprint(prompt)
            else:
                literal = getattr(call, "prompt", None)
                if literal is None or len(literal) <= 2 or memoryview(literal)[0] != _QUOTE:
                    continue
                key = _fingerprint_literal(literal)
            seen = prompts.get(key)
            if seen is None:
                if len(prompts) < self._prompt_memory:
                    prompts[key] = [event.task_id, event.agent, run_id, run_id, None]
            elif seen[3] is not run_id:
                seen[3] = run_id
                if seen[4] is None:
                    seen[4] = [run_id]
                else:
                    seen[4].append(run_id)

    def result(self) -> dict[str, Any]:
        """The report as plain JSON data (what ``--format json`` prints)."""
        head, runs, tail = self.parts()
        return {**head, "runs": list(runs), **tail}

    def parts(self) -> tuple[dict[str, Any], Iterator[dict[str, Any]], dict[str, Any]]:
        """The result in three parts, so a long list of runs can be written one run at a time."""
        self._span_overall()
        overall = self.overall.result()
        head = {
            "filter": attrs.asdict(self.filter),
            "entries_skipped": self.skipped,
            "entries_filtered_out": self.filtered_out,
            "unreadable_lines": self.unreadable,
            "runs_detailed": self.runs_detailed,
        }
        runs = (self.runs[key].result() for key in sorted(self.runs, key=self._run_order))
        tail = {"overall": overall, "where_to_improve": self._improve(overall)}
        return head, runs, tail

    def _span_overall(self) -> None:
        """The overall first start and last end: the fast path leaves them to the runs'."""
        overall = self.overall
        for run in self.runs.values():
            first, last = run.first_start, run.last_end
            if first is not None and (overall.first_start is None or first < overall.first_start):
                overall.first_start = first
            if last is not None and (overall.last_end is None or last > overall.last_end):
                overall.last_end = last

    def _run_order(self, run_id: str) -> tuple[str, str]:
        return (self.runs[run_id].first_start or "", run_id)

    def _improve(self, overall: dict[str, Any]) -> dict[str, Any]:
        total_cost = overall["cost"]["total_usd"]

        def share(cost: float) -> float | None:
            return cost / total_cost if total_cost else None

        costly_agents = [
            {"agent_name": row["agent_name"], "cost_usd": row["cost_usd"], "share": share(row["cost_usd"])}
            for row in overall["by_agent"][:3]
            if row["cost_usd"] > 0
        ]
        costly_tasks = [
            {
                "task_id": row["task_id"],
                "task_description": row["task_description"],
                "cost_usd": row["cost_usd"],
                "share": share(row["cost_usd"]),
            }
            for row in overall["by_task"][:3]
            if row["cost_usd"] > 0
        ]
        failing = sorted(
            (
                {
                    "agent_name": row["agent_name"],
                    "failed": row["failed"],
                    "events": row["events"],
                    "rate": row["failed"] / row["events"],
                }
                for row in overall["by_agent"]
                if row["failed"]
            ),
            key=lambda row: (-row["rate"], -row["failed"], row["agent_name"]),
        )[:3]
        repeated = sorted(
            (
                {"task_id": task, "agent_name": agent, "runs": len({first, *others})}
                for task, agent, first, _, others in self._prompts.values()
                if others
            ),
            key=lambda row: (-row["runs"], row["task_id"], row["agent_name"]),
        )
        return {
            "most_expensive_agents": costly_agents,
            "most_expensive_tasks": costly_tasks,
            "highest_failure_rates": failing,
            "repeated_prompts": _merge_repeats(repeated)[:5],
            "prompts_tracked": len(self._prompts),
            "prompt_memory": self._prompt_memory,
        }


def _merge_repeats(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per task and agent: how many distinct prompts repeat, and in up to how many runs."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["task_id"], row["agent_name"])
        if key in merged:
            merged[key]["prompts"] += 1
        else:
            merged[key] = {**row, "prompts": 1}
    return list(merged.values())


def _read_event(entry: Mapping[str, Any]) -> _Event | None:
    """The facts the report needs, or ``None`` when ``entry`` is not a task event.

    This runs once per event, so it is written for speed: the checks for the
    form wflogging writes come first and the general helpers only run when
    they fail (each Python call costs about as much as parsing 100 bytes).
    """
    get = entry.get
    status = get("status")
    task_id = get("task_id")
    timestamps = get("timestamps")
    if type(status) is not str or type(task_id) is not str or type(timestamps) is not dict:
        return None
    duration = timestamps.get("duration_seconds")
    if type(duration) is not float or not 0 <= duration < math.inf:
        duration = _number(duration)
        duration = 0.0 if duration is None or duration < 0 else float(duration)
    start = timestamps.get("start_time_utc")
    if type(start) is not str or len(start) != 27 or start[26] != "Z":
        start = _canonical(start)
    end = timestamps.get("end_time_utc")
    if type(end) is not str or len(end) != 27 or end[26] != "Z":
        end = _canonical(end)
    calls = get("llm_trace")
    models: list[str] = []
    if type(calls) is list and calls:
        try:
            models = [call["model_name"] for call in calls]
        except (TypeError, KeyError):
            models = [call.get("model_name") for call in calls if type(call) is dict]  # type: ignore[misc]
        if not all(type(name) is str for name in models):
            models = [str(name) for name in models]  # a bad entry: keep it countable
    run_id = get("workflow_run_id")
    agent = get("agent_name")
    return _Event(
        run_id if type(run_id) is str else "(no run id)",
        task_id,
        agent if type(agent) is str and agent else "(no agent)",
        status,
        start,
        end,
        duration,
        read_cost(get("cost_data")),
        models,
        get("task_description"),
        get("human_feedback"),
        get("extensions"),
    )


def _text(value: object) -> str:
    return value if type(value) is str else ""


def _error_reason(extensions: object) -> str | None:
    if type(extensions) is not dict:
        return None
    error = extensions.get("error")
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        parts = [str(part) for part in (kind, message) if part]
        return ": ".join(parts) or None
    return None


# --- prompt fingerprints ---------------------------------------------------------------------
# "Prompts that repeat across runs" compares prompts through a 64-bit fingerprint (the report keeps
# fingerprints, never prompts) of their JSON string literal: the prompt as a writer that escapes only
# what JSON requires writes it (", \ and control characters, the short escapes where there are some;
# everything else as UTF-8). That is what wflogging writes (json and orjson alike), and
# json.dumps(ensure_ascii=False), orjson and msgspec, so for their files this is the same as comparing
# the texts. It lets the fast reader fingerprint the bytes of the line as they are, without making a
# Python string of each prompt: prompts are most of an event's bytes, and this was a large part of the
# report's time. A writer that escapes more (\uXXXX for non-ASCII, \/) writes other bytes for the same
# text: its prompts still match each other, but a line read whole (an entry in another shape, or
# ReportBuilder.read(parser="json" or "orjson")) has its prompt re-written the minimal way. With
# xxhash installed (the [fast] extra) the fingerprint is xxh3-64, several times faster than hash().

_QUOTE = ord('"')

_xxh3: Callable[[Any], int] | None
try:
    from xxhash import xxh3_64_intdigest as _xxh3
except ImportError:  # pragma: no cover - the fallback is hash(), exercised where xxhash is missing
    _xxh3 = None


def _hash_literal(literal: Any) -> int:
    return hash(bytes(literal))


#: The fingerprint of a prompt's JSON string literal (bytes, or a ``msgspec.Raw``): xxh3 where installed.
_fingerprint_literal: Callable[[Any], int] = _hash_literal if _xxh3 is None else _xxh3


def prompt_fingerprint(call: object) -> int | None:
    """The fingerprint of a call's prompt, from a parsed call or a fast-parsed one (``None``: no prompt)."""
    if type(call) is dict:
        prompt = call.get("prompt")
        return _fingerprint(prompt) if prompt and type(prompt) is str else None
    literal = getattr(call, "prompt", None)
    if literal is None or len(literal) <= 2 or memoryview(literal)[0] != _QUOTE:
        return None
    return _fingerprint_literal(literal)


def _fingerprint(prompt: str) -> int:
    """The fingerprint of a prompt's text: that of its JSON literal, written the minimal way."""
    return _fingerprint_literal(_minimal_literal(prompt))


def _minimal_literal(text: str) -> bytes:
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(text)
        except TypeError:  # orjson refuses lone surrogates (which json.loads lets through)
            pass
    return json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")


_orjson_dumps: Callable[[str], bytes] | None
try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - json.dumps writes the same literals, only slower
    _orjson_dumps = None


# --- reading lines fast ----------------------------------------------------------------------------
# The report needs a dozen small fields of each entry, while most of a line's bytes are prompts and
# completions. With msgspec installed, a line in the shape wflogging writes is decoded into the small
# typed structs below: completions are skipped without creating Python strings for them, and the
# numbers arrive already typed. A line in any other shape (aliases in cost_data, a missing field, a
# wrong type) fails their validation and is parsed whole and read by _read_event instead, so both
# paths give the same facts for the same entry (the tests check this on random entries).

try:
    import msgspec

    _HAVE_MSGSPEC = True
except ImportError:  # pragma: no cover - the whole-line parsers are tested by forcing parser="orjson"/"json"
    _HAVE_MSGSPEC = False


if _HAVE_MSGSPEC:
    _UNSET = msgspec.UNSET
    _NO_PROMPT = msgspec.Raw(b"null")

    class _FastCall(msgspec.Struct, gc=False):
        model_name: str
        # As written in the line (no Python string is made of it): see "prompt fingerprints". The
        # completion is skipped.
        prompt: msgspec.Raw = _NO_PROMPT

    class _FastTimestamps(msgspec.Struct, gc=False):
        start_time_utc: str
        end_time_utc: str
        duration_seconds: float

    class _FastTokens(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        input: int
        output: int
        cached: Any = None

    class _FastModelCost(msgspec.Struct, gc=False):
        cost_usd: int | float
        input_tokens: int
        output_tokens: int

    class _FastCost(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        # Unknown keys (the aliases read_cost understands, among others) send the line to the full parse.
        total_cost_usd: int | float | msgspec.UnsetType = _UNSET
        tokens: _FastTokens | msgspec.UnsetType = _UNSET
        models: dict[str, _FastModelCost] | msgspec.UnsetType = _UNSET
        unpriced_calls: int = 0
        llm_calls: Any = None

    class _FastEntry(msgspec.Struct, gc=False):
        workflow_run_id: str
        task_id: str
        agent_name: str
        status: str
        timestamps: _FastTimestamps
        llm_trace: list[_FastCall]
        cost_data: _FastCost | None = None
        task_description: Any = None
        human_feedback: Any = None
        extensions: Any = None

    _FAST_ERRORS: tuple[type[Exception], ...] = (msgspec.ValidationError, msgspec.DecodeError)


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
    calls: list[Any]  # of _FastCall
    by_model: dict[str, Any]  # of _FastModelCost
    entry: Any  # the _FastEntry, for the rarely needed fields


#: Pending floats are folded into exact units every this many events (a power of two, minus one).
_FOLD_EVERY_MASK = (1 << 16) - 1

if _HAVE_MSGSPEC:
    #: Reads a line into a _FastEntry, or raises one of _FAST_ERRORS.
    _FAST_DECODER = msgspec.json.Decoder(_FastEntry)


def _loads_bytes(line: Line) -> Any:
    """``json.loads`` for a line that may be a view (which it does not take)."""
    return json.loads(bytes(line))


def _whole_line_decoder(parser: str) -> Callable[[Line], dict[str, Any]]:
    """A function that parses a line (``parser`` is ``"orjson"`` or ``"json"``) into an entry.

    It raises ``ValueError`` (or :class:`~wflogging.cli.inputs.NotAnObject`) for a
    line that is not a JSON object, as :func:`wflogging.read_events` would report it.
    """
    # json.loads (parse_line too, where orjson is missing) takes only bytes, not a view of a buffer.
    loads: Callable[[Line], Any] = _loads_bytes
    if parser != "json" and parse_line is not json.loads:
        loads = cast("Callable[[Line], Any]", parse_line)  # orjson.loads, which takes any buffer

    def decode(line: Line) -> dict[str, Any]:
        entry = loads(line)
        if type(entry) is not dict:
            raise NotAnObject(f"JSON {type(entry).__name__}, not an object")
        return entry

    return decode


#: The fast path's fallback for a line that is not in the recorder's shape.
_WHOLE_LINE_DECODER = _whole_line_decoder("orjson")


def _fast_event(entry: _FastEntry) -> _Event:
    """The facts of an entry read by the fast decoder: exactly what :func:`_read_event` gives for it."""
    timestamps = entry.timestamps
    duration = timestamps.duration_seconds
    if not 0.0 <= duration < math.inf:
        duration = 0.0
    start_text, end_text = timestamps.start_time_utc, timestamps.end_time_utc
    start = start_text if len(start_text) == 27 and start_text[26] == "Z" else _canonical(start_text)
    end = end_text if len(end_text) == 27 and end_text[26] == "Z" else _canonical(end_text)
    agent = entry.agent_name
    return _Event(
        entry.workflow_run_id,
        entry.task_id,
        agent or "(no agent)",
        entry.status,
        start,
        end,
        duration,
        _fast_cost(entry.cost_data),
        [call.model_name for call in entry.llm_trace],
        entry.task_description,
        entry.human_feedback,
        entry.extensions,
    )


def _fast_cost(cost: _FastCost | None) -> CostFacts:
    """:func:`read_cost` for a ``cost_data`` read by the fast decoder (which allows no alias keys)."""
    if cost is None:
        return _NO_COST
    usd = cost.total_cost_usd
    tokens = cost.tokens
    if tokens is _UNSET:
        input_tokens = output_tokens = 0
    else:
        input_tokens, output_tokens = tokens.input, tokens.output
    models = cost.models
    if models is _UNSET or not models:
        money = None if usd is _UNSET else usd
        return CostFacts(money, input_tokens, output_tokens, None, cost.unpriced_calls)
    by_model = tuple(
        (name, part.cost_usd, part.input_tokens, part.output_tokens) for name, part in models.items()
    )
    if usd is _UNSET:
        usd = _from_units(sum(_units(row[1]) for row in by_model))
    if not (input_tokens or output_tokens):
        input_tokens = sum(row[2] for row in by_model)
        output_tokens = sum(row[3] for row in by_model)
    return CostFacts(usd, input_tokens, output_tokens, by_model, cost.unpriced_calls)
