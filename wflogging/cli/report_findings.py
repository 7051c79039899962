"""What the report keeps for its "Where to improve" findings, beyond its own figures, in the same pass.

:mod:`wflogging.cli.improve` reads these: the (agent, task) cell numbers that run sections keep
per event (:class:`CellNumbers`, grouped per task and per agent by ``Section.groups``), each
prompt's record (:class:`PromptSeen`), and the models called again within a task (``Retries``).
Each merges exactly (``report --jobs``): money in exact units or kept per call, counts summed.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from wflogging.cli.exact_sums import units as _units

__all__ = [
    "CellNumbers",
    "GroupTotals",
    "PromptSeen",
    "Retries",
    "count_repeated_calls",
    "count_retries",
    "group_totals",
    "merge_retries",
    "per_call_costs",
    "renumbered_cells",
]


class CellNumbers:
    """A number for each (agent, task) pair a report met, in the order met (run sections keep numbers)."""

    __slots__ = ("keys", "numbers")

    def __init__(self) -> None:
        self.numbers: dict[tuple[str, str], int] = {}
        self.keys: list[tuple[str, str]] = []

    def number(self, key: tuple[str, str]) -> int:
        """The number of ``key``, given on first use."""
        number = self.numbers.get(key)
        if number is None:
            number = self.numbers[key] = len(self.keys)
            self.keys.append(key)
        return number

    def renumbering(self, part: CellNumbers) -> list[int] | None:
        """The numbers of ``part``'s pairs in this numbering (``None``: they are the same)."""
        renumber = [self.number(key) for key in part.keys]
        return None if renumber == list(range(len(renumber))) else renumber


def renumbered_cells(cells: array[int], renumber: Sequence[int]) -> array[int]:
    """Section.cell_of items with their cell numbers mapped by ``renumber``."""
    return array("q", [renumber[cell >> 1] * 2 + (cell & 1) for cell in cells])


class GroupTotals(NamedTuple):
    """A task's or an agent's figures in one run (for the findings)."""

    cost: float
    duration: float
    events: int
    failed: int


def group_totals(groups: dict[str, tuple[list[float], list[float], list[int]]]) -> dict[str, GroupTotals]:
    """Each group's (money, durations, [events, failed]) as its totals."""
    # math.fsum is the correctly rounded exact sum: what the exact units give, in any order.
    return {
        name: GroupTotals(math.fsum(costs), math.fsum(durations), counts[0], counts[1])
        for name, (costs, durations, counts) in groups.items()
    }


class PromptSeen:
    """What the report keeps of one prompt (by fingerprint): where it was first sent, the runs, the calls.

    ``last_run`` and ``later_runs`` give the runs that sent it (a run is added to the later runs when
    it sends the prompt after another run did, so a run that comes back is there twice); the money of
    the calls is kept, 8 bytes a call, apart for the first run's calls (what a cache would not save).
    """

    __slots__ = (
        "agent",
        "calls",
        "first_costs",
        "first_run",
        "last_run",
        "later_costs",
        "later_runs",
        "task",
    )

    def __init__(self, task: str, agent: str, run_id: str) -> None:
        self.task = task
        self.agent = agent
        self.first_run = run_id
        self.last_run = run_id
        self.later_runs: list[str] | None = None
        self.calls = 0
        self.first_costs = array("d")
        self.later_costs = array("d")

    def runs(self) -> int:
        """How many distinct runs sent the prompt."""
        return len({self.first_run, *(self.later_runs or ())})

    def sent_by(self, run_id: str) -> None:
        """Note the run of a call (``run_id``: the run section's own string, compared by identity)."""
        if self.last_run is not run_id:
            self.last_run = run_id
            if self.later_runs is None:
                self.later_runs = [run_id]
            else:
                self.later_runs.append(run_id)

    def cost(self, run_id: str, usd: float) -> None:
        """Add a call's money."""
        (self.first_costs if run_id == self.first_run else self.later_costs).append(usd)

    def merge(self, later: PromptSeen) -> None:
        """Add what ``later`` (the same prompt in the next chunk of the input) saw, in order."""
        for run_id in (later.first_run, *(later.later_runs or ())):
            if run_id != self.last_run:
                self.last_run = run_id
                if self.later_runs is None:
                    self.later_runs = [run_id]
                else:
                    self.later_runs.append(run_id)
        self.calls += later.calls
        if later.first_run == self.first_run:
            self.first_costs += later.first_costs
        else:
            self.later_costs += later.first_costs
        self.later_costs += later.later_costs


def per_call_costs(models: list[str], by_model: Iterable[tuple[str, float | int | None]]) -> dict[str, float]:
    """Each model's money in the event divided by its calls there (the SOP has no per-call cost)."""
    counts: dict[str, int] = {}
    for model in models:
        counts[model] = counts.get(model, 0) + 1
    return {
        model: float(usd) / counts[model] for model, usd in by_model if usd is not None and counts.get(model)
    }


#: (task, agent, model) -> [events, extra calls, their money in exact units]: models called again in a task.
Retries = dict[tuple[str, str, str], list[int]]


def count_retries(
    retries: Retries, task: str, agent: str, models: list[str], per_call: dict[str, float]
) -> None:
    """Count the models of one event's calls that were called more than once."""
    counts: dict[str, int] = {}
    for model in models:
        counts[model] = counts.get(model, 0) + 1
    for model, count in counts.items():
        if count > 1:
            _note_retry(retries, (task, agent, model), count, per_call.get(model, 0.0))


def _note_retry(retries: Retries, key: tuple[str, str, str], count: int, usd_per_call: float) -> None:
    """One event that called ``key``'s model ``count`` (> 1) times: an event, its extra calls, their money."""
    seen = retries.get(key)
    if seen is None:
        seen = retries[key] = [0, 0, 0]
    seen[0] += 1
    seen[1] += count - 1
    seen[2] += _units((count - 1) * usd_per_call)


def count_repeated_calls(
    retries: Retries, task: str, agent: str, calls: Sequence[Any], parts: dict[str, Any]
) -> dict[str, float]:
    """:func:`count_retries` and :func:`per_call_costs` for an entry in the recorder's shape (the hot loop).

    ``calls`` have a ``model_name``, ``parts`` (``cost_data.models``) map a model to a ``cost_usd``.
    """
    counts: dict[str, int] = {}
    for call in calls:
        model = call.model_name
        counts[model] = counts.get(model, 0) + 1
    per_call: dict[str, float] = {}
    for model, count in counts.items():
        part = parts.get(model)
        usd = 0.0 if part is None else float(part.cost_usd) / count
        if part is not None:
            per_call[model] = usd
        if count > 1:
            _note_retry(retries, (task, agent, model), count, usd)
    return per_call


def merge_retries(into: Retries, part: Retries) -> None:
    """Add the retries counted in the next chunk of the input (``report --jobs``)."""
    for key, (events, extra, cost) in part.items():
        seen = into.setdefault(key, [0, 0, 0])
        seen[0] += events
        seen[1] += extra
        seen[2] += cost
