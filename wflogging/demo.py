"""A small simulated workflow that writes real task events: ``python -m wflogging demo``.

An orchestrator runs a plan of five tasks (six events) by five agents, wrapping each
in :func:`wflogging.record_task`:

- 1.1 ``/plan:analyst`` writes acceptance criteria;
- 1.2 ``/dev:implement-pro`` implements the feature, reviewed by a second model;
- 1.3 ``/qa:test-runner`` runs the tests, which fail: the agent raises, the
  event says ``Failed`` with the error, and the orchestrator carries on with the
  tasks that do not depend on it;
- 2.1 ``/ops:deploy`` prepares a release and stops for the Director's approval
  (``HIL-Paused``); once the Director approves, the orchestrator resumes 2.1
  (a second event for 2.1, ``Success``, carrying the approval);
- 2.2 ``/docs:writer`` updates the changelog.

The LLM is canned (no network) but reports usage, so ``cost_data`` rolls up
tokens and money with an illustrative price table. Time is simulated too: a
:class:`SimulatedClock` advances as the agents "work" and the Director "thinks",
so the events show realistic durations and a human wait between the pause and
the resume, while the demo itself runs in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from wflogging.context import workflow_run
from wflogging.handler import TaskEventHandler
from wflogging.pricing import PriceTable
from wflogging.recorder import TaskRecorder, record_task
from wflogging.schema import FeedbackType

__all__ = ["DEMO_PRICES", "SimulatedClock", "run_demo", "summarize"]

#: Example prices (USD per million tokens) for the demo's made-up model names; not anyone's list prices.
DEMO_PRICES = PriceTable(
    {
        "claude-sonnet-4": {
            "input_per_million": 3.0,
            "output_per_million": 15.0,
            "cached_input_per_million": 0.3,
        },
        "gpt-4.1-mini": {"input_per_million": 0.4, "output_per_million": 1.6},
    },
    version="demo-illustrative",
)


class SimulatedClock:
    """A wall clock and a monotonic clock that move only when told to (see :class:`wflogging.Clock`)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.utcoffset() is None:
            raise ValueError("start must be an aware datetime")
        self._start = start.astimezone(dt.timezone.utc)
        self._elapsed = 0.0

    def now_utc(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self._elapsed += seconds


class SuiteFailed(RuntimeError):
    """What the simulated test runner raises."""


class _Agents:
    """The specialist agents, each a function of the task's recorder. The LLM is canned."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock

    def llm(
        self, t: TaskRecorder, model: str, prompt: str, completion: str, *, cached_tokens: int = 0
    ) -> str:
        """A canned LLM call: takes simulated time and reports usage as a provider would."""
        input_tokens, output_tokens = len(prompt) // 4 + 1 + cached_tokens, len(completion) // 4 + 1
        latency = 0.6 + output_tokens / 80
        self.clock.advance(latency)
        t.llm_call(
            model_name=model,
            prompt=prompt,
            completion=completion,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
            latency_seconds=latency,
        )
        return completion

    def analyst(self, t: TaskRecorder) -> None:
        self.llm(
            t,
            "claude-sonnet-4",
            "Summarise the feature request as acceptance criteria:\nUsers want to export reports as CSV.",
            "1. A 'CSV' button on every report.\n2. The header row names the columns.\n"
            "3. Fields containing commas or quotes are quoted.\n4. The file is UTF-8.",
        )
        self.clock.advance(1.5)

    def implementer(self, t: TaskRecorder) -> None:
        code = self.llm(
            t,
            "claude-sonnet-4",
            "Write export_csv(rows) for reports/export.py meeting these criteria:\n1. ...\n4. UTF-8.",
            "import csv\n\ndef export_csv(rows, path):\n"
            "    with open(path, 'w', newline='') as f:\n        csv.writer(f).writerows(rows)\n",
            cached_tokens=1800,  # the repository context was served from the provider's prompt cache
        )
        self.clock.advance(12.0)  # runs the linters, writes the file
        self.llm(t, "gpt-4.1-mini", f"Review this code for bugs:\n{code}", "open() has no encoding='utf-8'.")
        self.clock.advance(4.0)

    def test_runner(self, t: TaskRecorder) -> None:
        self.clock.advance(9.0)  # pytest runs
        diagnosis = self.llm(
            t,
            "gpt-4.1-mini",
            "Explain this failure:\nUnicodeEncodeError: 'charmap' codec can't encode character '\\u20ac'",
            "The file is opened without encoding='utf-8', so '€' cannot be written on Windows.",
        )
        raise SuiteFailed(f"2 of 48 tests failed (test_export_unicode, test_export_euro): {diagnosis}")

    def deploy_prepare(self, t: TaskRecorder) -> None:
        self.llm(
            t,
            "claude-sonnet-4",
            "Draft release notes for version 2.4 (CSV export).",
            "Release 2.4: reports can now be exported as CSV.",
        )
        self.clock.advance(2.0)
        t.pause()  # production deploys wait for the Director

    def deploy_resume(self, t: TaskRecorder) -> None:
        self.clock.advance(45.0)  # the rollout
        self.llm(t, "gpt-4.1-mini", "Summarise the rollout log: 12/12 hosts healthy", "Rollout complete.")

    def docs_writer(self, t: TaskRecorder) -> None:
        self.llm(t, "gpt-4.1-mini", "Add CSV export to CHANGELOG.md under 2.4", "## 2.4\n- CSV export")
        self.clock.advance(0.8)


def run_demo(
    path: str | os.PathLike[str],
    *,
    start: dt.datetime | None = None,
    also_to: Sequence[logging.Handler] = (),
) -> str:
    """Run the simulated workflow, appending its events to ``path``; returns the run id.

    ``start`` is when the simulated run begins (default: now). ``also_to`` are
    more handlers that get the same events (an OTLP exporter, say); the caller
    closes them. The caller's logging configuration is left alone: the demo logs
    through its own logger and handlers, removed again before returning.
    """
    clock = SimulatedClock(start or dt.datetime.now(dt.timezone.utc))
    agents = _Agents(clock)
    logger = logging.getLogger("wflogging.demo.orchestrator")
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the events go to the demo's file, not to whatever the caller configured
    handler = TaskEventHandler(path)
    for each in (handler, *also_to):
        logger.addHandler(each)

    def task(task_id: str, description: str, agent_name: str, work: Callable[[TaskRecorder], None]) -> None:
        """What the orchestrator does per task: record it, run the agent, survive its failure."""
        try:
            with record_task(
                logger,
                task_id=task_id,
                task_description=description,
                agent_name=agent_name,
                prices=DEMO_PRICES,
                clock=clock,
            ) as t:
                work(t)
        except SuiteFailed:
            pass  # recorded as Failed by record_task; the plan goes on with independent tasks

    deploy = "Deploy release 2.4 to production (needs the Director's approval)"
    try:
        with workflow_run() as run_id:
            task(
                "1.1",
                "Read the feature request and write the acceptance criteria",
                "/plan:analyst",
                agents.analyst,
            )
            task("1.2", "Implement CSV export in reports/export.py", "/dev:implement-pro", agents.implementer)
            task("1.3", "Run the test suite", "/qa:test-runner", agents.test_runner)
            task("2.1", deploy, "/ops:deploy", agents.deploy_prepare)
            clock.advance(
                20 * 60
            )  # the Director reads the release notes: a human wait, in no task's duration

            def resume(t: TaskRecorder) -> None:
                t.human_feedback(type=FeedbackType.HIL_APPROVAL, content="approve")
                agents.deploy_resume(t)

            task("2.1", deploy, "/ops:deploy", resume)
            task("2.2", "Add CSV export to the changelog", "/docs:writer", agents.docs_writer)
    finally:
        for each in (handler, *also_to):
            logger.removeHandler(each)
        handler.close()
    return run_id


def summarize(path: str | os.PathLike[str], *, run_id: str | None = None) -> str:
    """One line about the events in ``path`` (or of one run): counts by status, LLM calls, total cost."""
    events = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    if run_id is not None:
        events = [event for event in events if event.get("workflow_run_id") == run_id]
    statuses = Counter(event["status"] for event in events)
    cost = sum(event["cost_data"].get("total_cost_usd", 0) for event in events)
    calls = sum(len(event["llm_trace"]) for event in events)
    by_status = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    return f"{len(events)} events ({by_status}); {calls} LLM calls; ${cost:.6f} in total"
