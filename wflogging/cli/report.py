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

import collections
import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from wflogging.cli.exact_sums import units as _units
from wflogging.cli.inputs import (
    DECODE_ERRORS,
    LineBatch,
    Progress,
    read_line_batches,
    torn_line,
)
from wflogging.cli.report_aggregate import (
    _FOLD_EVERY_MASK,
    Section,
    Tally,
    _HilEvent,
    _model_charges,
    _PlainFacts,
    _tally,
)
from wflogging.cli.report_decode import (
    _QUOTE,
    ENTRY_DECODER,
    ENTRY_ERRORS,
    UNATTRIBUTED,
    _AnyEntry,
    _error_reason,
    _Event,
    _fingerprint_literal,
    _read_event,
    _text,
    any_entry,
    decode_any_entry,
    parse_moment,
    prompt_fingerprint,
)
from wflogging.cli.report_findings import (
    CellNumbers,
    PromptSeen,
    Retries,
    count_repeated_calls,
    count_retries,
    per_call_costs,
)
from wflogging.lines import DEFAULT_MAX_LINE_BYTES
from wflogging.reader import TornLine

__all__ = ["ReportBuilder", "ReportFilter", "parse_moment"]

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
    report must remember: 32 bytes per event (its duration, overall and in its
    run, for exact percentiles; its (agent, task) cell, failure and money in its
    run, for the findings of :mod:`wflogging.cli.improve`), each failure and HIL
    pause, a few hundred bytes per run, the distinct agents, models and task
    ids, and at most ``prompt_memory`` prompt fingerprints (for "prompts that
    repeat across runs"), each with the runs that sent it after another run did
    (8 bytes a run) and the money of its calls (8 bytes a call). Everything the
    findings need is kept here, in the same pass. Run sections keep
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
    ) -> None:
        self.filter = report_filter or ReportFilter()
        self._run_prefix = None if self.filter.run is None else self.filter.run.lower()
        self.overall = Section()
        self.runs: dict[str, Section] = {}
        self.skipped = 0  # entries that are not task events
        self.filtered_out = 0
        self.unreadable = 0  # torn lines, counted by the caller
        self._count = 0  # events counted so far: the next event's order
        # Prompt fingerprint -> what was seen of it, for at most prompt_memory prompts; a prompt left out
        # because the memory was full sets prompts_left_out.
        self._prompts: dict[int, PromptSeen] = {}
        self._prompt_memory = prompt_memory
        self.prompts_left_out = False
        #: Models called more than once within a task (for the findings).
        self.retries: Retries = {}
        #: The (agent, task) pairs met, numbered (run sections keep each event's: the findings group them).
        self.cells = CellNumbers()
        self._detailed_runs = detailed_runs
        self.runs_detailed = True
        self._unfiltered = self.filter.run is None and self.filter.since is None and self.filter.until is None

    def add_all(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            self.add(entry)

    def add(self, entry: Mapping[str, Any]) -> None:
        """Count one parsed entry (one that is not a task event is counted as skipped)."""
        self._add_any(any_entry(entry))

    def _add_any(self, entry: _AnyEntry) -> None:
        event = _read_event(entry)
        if event is None:
            self.skipped += 1
            return
        calls = entry.llm_trace
        self._add_event(event, calls if type(calls) is list else ())

    def _fold(self) -> None:
        # A run section without detail has no pending floats: _add_lines folds its total when the
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
        on_torn: Callable[[TornLine], None] | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        """Count every entry of every path in turn (``-`` is standard input).

        Each line is decoded into the typed structs of :mod:`wflogging.cli.report_decode`,
        which read only the fields the report needs (see :meth:`_add_lines`). Torn lines
        are counted in :attr:`unreadable` and handed to ``on_torn``.
        """
        self.read_items(read_line_batches(paths, progress, max_line_bytes), on_torn=on_torn)

    def read_items(
        self, items: Iterable[LineBatch | TornLine], *, on_torn: Callable[[TornLine], None] | None = None
    ) -> None:
        """:meth:`read` for lines already read (the items :func:`.read_line_batches` yields)."""
        for item in items:
            if isinstance(item, TornLine):
                self._torn(item, on_torn)
            else:
                self._add_lines(item, on_torn)

    def _torn(self, item: TornLine | None, on_torn: Callable[[TornLine], None] | None) -> None:
        if item is not None:  # None: a blank line
            self.unreadable += 1
            if on_torn is not None:
                on_torn(item)

    def _add_any_line(self, batch: LineBatch, index: int, on_torn: Callable[[TornLine], None] | None) -> None:
        """Count a line that is not in the recorder's shape, read the general way (or count it torn)."""
        try:
            entry = decode_any_entry(batch.lines[index])
        except DECODE_ERRORS as exc:
            self._torn(torn_line(batch, index, exc), on_torn)
        else:
            self._add_any(entry)

    def _add_lines(  # noqa: PLR0912, PLR0915 - the hot loop, inlined on purpose
        self, batch: LineBatch, on_torn: Callable[[TornLine], None] | None
    ) -> None:
        """Count a batch of lines, each decoded into the typed structs (see :mod:`.report_decode`).

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
        decode = ENTRY_DECODER.decode
        entry_errors = ENTRY_ERRORS
        inf = math.inf
        fsum = math.fsum
        unfiltered = self._unfiltered
        run_prefix = self._run_prefix
        since, until = self.filter.since, self.filter.until
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
        retries = self.retries
        call_models: list[str] = []  # the model of every LLM call, counted at the end
        count_model = call_models.append
        order = self._count
        # The current run (run_id) and its totals since it became current.
        run_id = ""
        run = overall  # replaced before use
        run_events = run_failed = run_paused = run_calls = run_input = run_output = run_unpriced = 0
        run_first = run_last = ""
        run_plain = False
        run_duration = run_cost = run_costs = overall_durations  # replaced before use
        run_cell_of = run.cell_of.append  # replaced before use
        cell_numbers = self.cells.numbers
        new_cell_number = self.cells.number
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
            except entry_errors:
                entry = None
            if entry is not None:
                timestamps = entry.timestamps
                duration = timestamps.duration_seconds
                start = timestamps.start_time_utc
                end = timestamps.end_time_utc
                agent = entry.agent_name
                cost = entry.cost_data
                parts = cost.models
                tokens = cost.tokens
            if (
                entry is None
                or not 0.0 <= duration < inf
                or len(start) != 27
                or start[26] != "Z"
                or len(end) != 27
                or end[26] != "Z"
                or not agent
                or not parts
                or not (tokens.input or tokens.output)
            ):
                # Not in the recorder's shape: read the general way (_read_event's defensive rules).
                self._count = order
                self._add_any_line(batch, index, on_torn)
                order = self._count
                run_id = ""  # the general way may have changed the run sections: look again
                slowest_floor = slowest[0][0] if len(slowest) == 5 else -1.0
                continue
            entry_run_id = entry.workflow_run_id
            if not unfiltered and (
                (run_prefix is not None and not entry_run_id.lower().startswith(run_prefix))
                or (since is not None and start < since)
                or (until is not None and start >= until)
            ):
                self.filtered_out += 1  # (as _wanted, for a start in canonical form)
                continue
            usd = cost.total_cost_usd
            # --- an entry in the recorder's shape: _add_event, written out ---
            if not order & fold_every_mask:
                self._fold()
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
                    run_costs = run.costs.append
                    run_cell_of = run.cell_of.append
            task_id = entry.task_id
            status = entry.status
            calls = entry.llm_trace
            call_count = len(calls)
            input_tokens = tokens.input
            output_tokens = tokens.output
            unpriced = cost.unpriced_calls
            key = (agent, task_id)
            cell_number = cell_numbers.get(key)
            if cell_number is None:
                cell_number = new_cell_number(key)
            # The run: its totals only, once the report covers many runs (else Section.add_plain).
            if run_plain:
                run_duration(duration)
                run_cost(usd)  # (its total duration is the sum of run.durations)
                run_cell_of(cell_number + cell_number + (status == "Failed"))
                run_costs(usd)
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
                    cell_number,
                )
            # Overall: the (agent, task) cell, the models, the slowest, failures and HIL events.
            overall_durations(duration)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = Tally(_text(entry.task_description))
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
            # A model called again within the task (a retry) divides its money among its calls.
            per_call = None
            if call_count > 1 and (
                calls[0].model_name == calls[1].model_name
                if call_count == 2
                else len({call.model_name for call in calls}) < call_count
            ):
                per_call = count_repeated_calls(retries, task_id, agent, calls, parts)
            for call in calls:
                model = call.model_name
                count_model(model)
                # Prompts that repeat across runs (as _remember_prompts keeps them). Only a JSON string
                # (not "") is remembered, so only a literal not found needs that checked.
                prompt = call.prompt
                seen = remembered(fingerprint(prompt))
                if seen is None:
                    if len(prompt) <= 2 or memoryview(prompt)[0] != quote:
                        continue
                    if len(prompts) >= prompt_memory:
                        self.prompts_left_out = True
                        continue
                    seen = prompts[fingerprint(prompt)] = PromptSeen(task_id, agent, run_id)
                elif seen.last_run is not run_id:  # seen.sent_by(run_id), inlined
                    seen.last_run = run_id
                    later_runs = seen.later_runs
                    if later_runs is None:
                        seen.later_runs = [run_id]
                    else:
                        later_runs.append(run_id)
                seen.calls += 1
                if per_call is None:
                    part = parts.get(model)
                    call_usd = None if part is None else part.cost_usd
                else:
                    call_usd = per_call.get(model)
                if call_usd:
                    if run_id == seen.first_run:
                        seen.first_costs.append(call_usd)
                    else:
                        seen.later_costs.append(call_usd)
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
        """Add what :meth:`_add_lines` kept of a run while it was current (see :meth:`Section.add`).

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
        usd = event.cost.usd
        cell = self.cells.number((event.agent, event.task_id))
        run.note_cell(cell, event.status == "Failed", 0.0 if usd is None else float(usd))
        if calls:
            by_model = event.cost.by_model
            per_call = per_call_costs(event.models, [row[:2] for row in by_model]) if by_model else {}
            count_retries(self.retries, event.task_id, event.agent, event.models, per_call)
            self._remember_prompts(event, calls, run.run_id or event.run_id, per_call)

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

    def _remember_prompts(
        self, event: _Event, calls: Sequence[Any], run_id: str, per_call: dict[str, float]
    ) -> None:
        """Fingerprint each prompt (``hash`` of its text) for "prompts that repeat across runs".

        ``run_id`` is the run section's own string: one string per run, so that the runs kept for each
        prompt share it and the last run is recognised by identity. ``per_call``: each model's money per call.
        """
        prompts = self._prompts
        models = event.models if len(event.models) == len(calls) else [None] * len(calls)
        for call, model in zip(calls, models, strict=True):
            key = prompt_fingerprint(call)
            if key is None:
                continue
            seen = prompts.get(key)
            if seen is None:
                if len(prompts) >= self._prompt_memory:
                    self.prompts_left_out = True
                    continue
                seen = prompts[key] = PromptSeen(event.task_id, event.agent, run_id)
            else:
                seen.sent_by(run_id)
            seen.calls += 1
            usd = None if model is None else per_call.get(model)
            if usd:
                seen.cost(run_id, usd)

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
        """The overall first start and last end: the hot loop leaves them to the runs'."""
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
        repeated: list[dict[str, Any]] = sorted(
            (
                {"task_id": seen.task, "agent_name": seen.agent, "runs": seen.runs()}
                for seen in self._prompts.values()
                if seen.later_runs
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
