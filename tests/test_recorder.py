"""``record_task``: one schema-valid event per task, on success, failure, cancellation or pause."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypedDict

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wflogging
from tests.conftest import EventLog, unique_logger

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)


class TaskFields(TypedDict):
    task_id: str
    task_description: str
    agent_name: str


TASK = TaskFields(task_id="1.2", task_description="Implement CSV export", agent_name="/dev:implement-pro")


def task(**overrides: str) -> TaskFields:
    """TASK with some fields replaced."""
    fields = TaskFields(**TASK)
    fields.update(overrides)  # type: ignore[typeddict-item]
    return fields


def valid_entries(event_log: EventLog, validator: jsonschema.protocols.Validator) -> list[dict[str, Any]]:
    """The events written so far, each checked against the shipped schema and the model."""
    entries = event_log.entries()
    for entry in entries:
        validator.validate(entry)
        wflogging.TaskEvent.from_dict(entry)
    return entries


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class SteppingClock:
    """A clock under the test's control: wall readings and monotonic readings are scripted."""

    def __init__(self, wall: list[dt.datetime], mono: list[float]) -> None:
        self._wall: Iterator[dt.datetime] = iter(wall)
        self._mono: Iterator[float] = iter(mono)
        self._last_wall = wall[-1]

    def now_utc(self) -> dt.datetime:
        return next(self._wall, self._last_wall)

    def monotonic(self) -> float:
        return next(self._mono)


# --- the normal path ----------------------------------------------------------------------


def test_success_writes_one_entry_with_exactly_the_ten_sop_fields(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A block that returns normally logs one Success entry with the SOP's ten fields in order."""
    prompt = 'Line one\nline "two" — ünïcödé \x00 end'
    with wflogging.workflow_run() as run_id, wflogging.record_task(event_log.logger, **TASK) as t:
        first = t.llm_call(model_name="claude-sonnet-4", prompt=prompt, completion="def f(): ...")
        second = t.llm_call(model_name="gpt-4.1-mini", prompt="Review", completion="")
    (entry,) = valid_entries(event_log, schema_validator)
    assert list(entry) == list(wflogging.schema.FIELD_ORDER)
    assert (first, second) == (1, 2)
    assert entry["workflow_run_id"] == run_id
    assert entry["event_id"] == t.event_id
    assert {key: entry[key] for key in TASK} == TASK
    assert entry["status"] == "Success"
    assert entry["human_feedback"] is None
    assert entry["llm_trace"] == [
        {"call_sequence": 1, "model_name": "claude-sonnet-4", "prompt": prompt, "completion": "def f(): ..."},
        {"call_sequence": 2, "model_name": "gpt-4.1-mini", "prompt": "Review", "completion": ""},
    ]


def test_real_clock_timestamps_agree_exactly(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """With the system clock, end_time_utc is exactly start_time_utc + duration_seconds."""
    before = dt.datetime.now(UTC)
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, **TASK):
        pass
    (entry,) = valid_entries(event_log, schema_validator)
    stamps = entry["timestamps"]
    start, end = instant(stamps["start_time_utc"]), instant(stamps["end_time_utc"])
    assert start >= before
    assert stamps["duration_seconds"] >= 0
    assert (end - start).total_seconds() == stamps["duration_seconds"]


def test_run_is_the_one_current_where_the_recorder_was_entered(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """The event carries the run current at entry, even when the exit happens after that run ended."""
    recorder = wflogging.record_task(event_log.logger, **TASK)
    with wflogging.workflow_run() as entered_in:
        recorder.__enter__()
    with wflogging.workflow_run() as other:
        recorder.__exit__(None, None, None)
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["workflow_run_id"] == entered_in != other


# --- failure paths ------------------------------------------------------------------------


def test_exception_propagates_unchanged_and_event_is_failed_with_the_sop_fields_only(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator, caplog: pytest.LogCaptureFixture
) -> None:
    """The block's exception reaches the caller as the same object; the event is Failed with ten fields.

    The reason goes to ``<logger>.failures`` as an ordinary ERROR record with the
    traceback, carrying the event's id.
    """
    error = ValueError("tests are red: 3 failures")

    def failing_task() -> None:
        with wflogging.record_task(event_log.logger, **TASK) as t:
            t.llm_call(model_name="m", prompt="p", completion="c")
            raise error

    with wflogging.workflow_run() as run_id, pytest.raises(ValueError, match="tests are red") as raised:
        failing_task()
    assert raised.value is error
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["status"] == "Failed"
    assert entry["llm_trace"][0]["prompt"] == "p"
    assert list(entry) == list(wflogging.schema.FIELD_ORDER)
    (failure,) = [r for r in caplog.records if r.name == f"{event_log.logger.name}.failures"]
    assert failure.levelno == logging.ERROR
    assert failure.exc_info is not None
    assert failure.exc_info[1] is error
    assert failure.event_id == entry["event_id"]  # type: ignore[attr-defined]
    assert failure.workflow_run_id == run_id  # type: ignore[attr-defined]
    assert "1.2" in failure.getMessage()
    assert "ValueError: tests are red: 3 failures" in failure.getMessage()
    assert failure.filename == "test_recorder.py"  # points at the task's code, not at wflogging


def test_failure_details_on_request_adds_extensions_error(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """failure_details=True adds the optional eleventh key with the exception's type and message."""
    with (
        wflogging.workflow_run(),
        pytest.raises(RuntimeError),
        wflogging.record_task(event_log.logger, failure_details=True, **TASK),
    ):
        raise RuntimeError("tests are red: 3 failures")
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["status"] == "Failed"
    assert entry["extensions"] == {
        "error": {"reason": "exception", "type": "RuntimeError", "message": "tests are red: 3 failures"}
    }


def test_keyboard_interrupt_is_logged_as_failed_interrupted_and_propagates(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Ctrl-C inside a task still logs its event (Failed, interrupted) and still interrupts."""
    with (
        wflogging.workflow_run(),
        pytest.raises(KeyboardInterrupt),
        wflogging.record_task(event_log.logger, failure_details=True, **TASK),
    ):
        raise KeyboardInterrupt
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["status"] == "Failed"
    assert entry["extensions"]["error"]["reason"] == "interrupted"
    assert entry["extensions"]["error"]["type"] == "KeyboardInterrupt"


def test_cancelled_asyncio_task_is_logged_as_failed_cancelled_and_stays_cancelled(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Cancelling a task inside ``async with record_task`` logs Failed/cancelled; the task ends cancelled."""

    async def main() -> asyncio.Task[None]:
        started = asyncio.Event()

        async def task() -> None:
            async with wflogging.record_task(event_log.logger, **TASK) as t:
                t.llm_call(model_name="m", prompt="before the cancel", completion="ok")
                started.set()
                await asyncio.Event().wait()  # never set: only the cancel ends this

        with wflogging.workflow_run():
            running = asyncio.create_task(task())
        await started.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return running

    finished = asyncio.run(main())
    assert finished.cancelled()
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["status"] == "Failed"
    assert list(entry) == list(wflogging.schema.FIELD_ORDER)
    assert entry["llm_trace"][0]["prompt"] == "before the cancel"


def test_fail_marks_the_task_failed_without_an_exception(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """t.fail(message) ends the task Failed with the message in extensions.error, raising nothing."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, failure_details=True, **TASK) as t:
        t.fail("reviewer agent rejected the diff")
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["status"] == "Failed"
    assert entry["extensions"] == {
        "error": {"reason": "reported", "message": "reviewer agent rejected the diff"}
    }


def test_exception_wins_over_a_status_set_earlier(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A task paused and then raising ends Failed: what happened last is what the event says."""

    def paused_then_failing_task() -> None:
        with wflogging.record_task(event_log.logger, **TASK) as t:
            t.pause()
            raise OSError("disk full")

    with wflogging.workflow_run(), pytest.raises(OSError, match="disk full"):
        paused_then_failing_task()
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["status"] == "Failed"


def test_strict_handler_never_replaces_the_task_exception(tmp_path: Path) -> None:
    """With a strict handler rejecting the event, the caller still gets the task's own exception."""
    logger = unique_logger()
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl", strict=True)
    logger.addHandler(handler)
    try:

        def bad_call_task(error: Exception | None) -> None:
            with wflogging.record_task(logger, **TASK) as t:
                t.llm_call(model_name=None, prompt="p", completion="c")  # type: ignore[arg-type]
                if error is not None:
                    raise error

        with wflogging.workflow_run(), pytest.raises(LookupError, match="original"):
            bad_call_task(LookupError("original"))
        with wflogging.workflow_run(), pytest.raises(wflogging.TaskEventRejected, match="model_name"):
            bad_call_task(None)
    finally:
        logger.removeHandler(handler)
        handler.close()
    rejects = Path(handler.rejects.path or "").read_text(encoding="utf-8").splitlines()
    assert len(rejects) == 2


def test_bad_call_value_makes_a_visible_reject_not_an_exception(
    event_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trace value that breaks the schema lands in the rejects file with its reason; the task goes on."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, **TASK) as t:
        t.llm_call(model_name="", prompt="p", completion="c")
    assert event_log.entries() == []
    (reject,) = event_log.rejects()
    assert {"path": "llm_trace[0].model_name", "problem": "must not be empty"} in reject["reasons"]
    assert "llm_trace[0].model_name" in capsys.readouterr().err


def test_reject_report_points_at_the_callers_code(event_log: EventLog) -> None:
    """A rejected event's source is the caller's with statement or call, not wflogging's internals."""

    @wflogging.record_task(event_log.logger, **TASK)
    def decorated() -> None:
        recorder = wflogging.current_task()
        assert recorder is not None
        recorder.llm_call(model_name="", prompt="p", completion="c")

    async def in_async_with() -> None:
        async with wflogging.record_task(event_log.logger, **TASK) as t:
            t.llm_call(model_name="", prompt="p", completion="c")

    with wflogging.workflow_run():
        with wflogging.record_task(event_log.logger, **TASK) as t:
            t.llm_call(model_name="", prompt="p", completion="c")
        decorated()
        asyncio.run(in_async_with())
    sources = [reject["source"] for reject in event_log.rejects()]
    assert len(sources) == 3
    assert all(source.startswith(f"{__file__}:") for source in sources), sources


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({**TASK, "task_id": ""}, "task_id"),
        ({**TASK, "agent_name": ""}, "agent_name"),
        ({**TASK, "prices": {"m": {"input_per_million": -1, "output_per_million": 1}}}, "input_per_million"),
        ({**TASK, "prices": {"m": {"input_per_million": 1, "ouput_per_million": 1}}}, "ouput_per_million"),
    ],
)
def test_arguments_that_can_never_make_an_event_raise_before_the_task_runs(
    event_log: EventLog, arguments: dict[str, Any], message: str
) -> None:
    """An empty task_id or a broken price table is a ValueError from record_task(...) itself."""
    with pytest.raises(ValueError, match=message):
        wflogging.record_task(event_log.logger, **arguments)


def test_unknown_status_is_refused_when_set(event_log: EventLog) -> None:
    """Setting t.status to a value that is not one of the SOP's three raises ValueError at once."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, **TASK) as t:
        with pytest.raises(ValueError, match="Done"):
            t.status = "Done"
        t.status = "HIL-Paused"
    assert event_log.entries()[0]["status"] == "HIL-Paused"


def test_failure_level_lets_other_handlers_pick_out_failures(event_log: EventLog) -> None:
    """failure_level sets the record level of Failed events only."""
    levels: list[int] = []

    class Levels(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == event_log.logger.name:  # the events, not the failure's reason record
                levels.append(record.levelno)

    event_log.logger.addHandler(Levels())
    recorder = wflogging.record_task(
        event_log.logger, failure_level=logging.ERROR, failure_details=True, **TASK
    )
    with wflogging.workflow_run():
        with recorder:
            pass
        with pytest.raises(ZeroDivisionError), recorder:
            _ = 1 / 0
    assert levels == [logging.INFO, logging.ERROR]


class _MessageCounted(Exception):
    """An exception that counts how often its message is read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __str__(self) -> str:
        self.reads += 1
        return "boom"


def test_disabled_level_logs_no_event_builds_nothing_and_the_exception_still_propagates(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A disabled event level: no event, reject or stderr; the exception propagates.

    The failure's reason is an ERROR record of its own, so it still reaches ``<logger>.failures``.
    """
    event_log.logger.setLevel(logging.WARNING)
    raised = _MessageCounted()
    recorders: list[wflogging.TaskRecorder] = []

    def failing_task() -> None:
        with wflogging.record_task(event_log.logger, **TASK) as t:
            recorders.append(t)
            t.llm_call(model_name="m", prompt="p", completion="c")
            raise raised

    with wflogging.workflow_run():
        with pytest.raises(_MessageCounted) as caught:
            failing_task()
        with wflogging.record_task(event_log.logger, **TASK):
            pass
    assert caught.value is raised
    assert [r.name for r in caplog.records] == [f"{event_log.logger.name}.failures"]
    assert event_log.entries() == []
    assert event_log.rejects() == []
    assert capsys.readouterr().err == ""
    assert recorders[0].llm_call(model_name="m", prompt="late", completion="x") == 0  # the task still ended


def test_disabled_success_level_still_logs_failures_at_an_enabled_failure_level(event_log: EventLog) -> None:
    """The level is chosen from the outcome before the check: an ERROR failure passes a WARNING logger."""
    event_log.logger.setLevel(logging.WARNING)
    recorder = wflogging.record_task(
        event_log.logger, failure_level=logging.ERROR, failure_details=True, **TASK
    )
    with wflogging.workflow_run():
        with recorder:
            pass
        with pytest.raises(KeyError), recorder:
            raise KeyError("missing")
    assert [(entry["status"], entry["extensions"]["error"]["type"]) for entry in event_log.entries()] == [
        ("Failed", "KeyError")
    ]


# --- time -------------------------------------------------------------------------------


def test_wall_clock_step_back_cannot_make_end_precede_start(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A wall clock stepping back an hour mid-task leaves start, end and duration consistent."""
    stepped_back = T0 - dt.timedelta(hours=1)
    clock = SteppingClock(wall=[T0, stepped_back], mono=[5000.0, 5002.5])
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, clock=clock, **TASK) as t:
        t.human_feedback(
            type=wflogging.FeedbackType.HIL_APPROVAL, content="approve"
        )  # reads the stepped clock
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["timestamps"] == {
        "start_time_utc": "2026-03-01T10:00:00.000000Z",
        "end_time_utc": "2026-03-01T10:00:02.500000Z",
        "duration_seconds": 2.5,
    }
    assert entry["human_feedback"]["timestamp_utc"] == "2026-03-01T09:00:00.000000Z"


@given(
    wall_step=st.timedeltas(min_value=dt.timedelta(days=-2), max_value=dt.timedelta(days=2)),
    start_mono=st.floats(min_value=0, max_value=1e9),
    elapsed=st.floats(min_value=0, max_value=1e6),
    start_micros=st.integers(min_value=0, max_value=999_999),
)
def test_timestamps_always_agree_whatever_the_clocks_do(
    tmp_path_factory: pytest.TempPathFactory,
    wall_step: dt.timedelta,
    start_mono: float,
    elapsed: float,
    start_micros: int,
) -> None:
    """For any wall step and monotonic elapsed time, duration >= 0 and end == start + duration."""
    start = T0.replace(microsecond=start_micros)
    clock = SteppingClock(wall=[start, start + wall_step], mono=[start_mono, start_mono + elapsed])
    path = tmp_path_factory.mktemp("clock") / "events.jsonl"
    logger = unique_logger()
    handler = wflogging.TaskEventHandler(path, strict=True)
    logger.addHandler(handler)
    try:
        with wflogging.workflow_run(), wflogging.record_task(logger, clock=clock, **TASK):
            pass
    finally:
        logger.removeHandler(handler)
        handler.close()
    stamps = json.loads(path.read_text(encoding="utf-8"))["timestamps"]
    begin, end = instant(stamps["start_time_utc"]), instant(stamps["end_time_utc"])
    assert begin == start
    assert stamps["duration_seconds"] >= 0
    assert (end - begin).total_seconds() == stamps["duration_seconds"]
    assert abs(stamps["duration_seconds"] - (start_mono + elapsed - start_mono)) <= 1e-6


class _FixedClock:
    """A wall clock that always reads ``wall`` (in whatever zone it is given) and a still monotonic clock."""

    def __init__(self, wall: dt.datetime) -> None:
        self.wall = wall

    def now_utc(self) -> dt.datetime:
        return self.wall

    def monotonic(self) -> float:
        return 0.0


@given(
    moment=st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    offset_minutes=st.integers(min_value=-23 * 60, max_value=23 * 60),
    feedback_in_zone=st.booleans(),
)
def test_timestamps_are_written_as_the_entry_rules_write_them_in_any_zone(
    tmp_path_factory: pytest.TempPathFactory, moment: dt.datetime, offset_minutes: int, feedback_in_zone: bool
) -> None:
    """Start, end and feedback times read from a clock in any zone are the instant in UTC as ...ffffffZ."""
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    wall = moment.astimezone(zone) if offset_minutes else moment
    path = tmp_path_factory.mktemp("zones") / "events.jsonl"
    logger = unique_logger()
    handler = wflogging.TaskEventHandler(path, strict=True)
    logger.addHandler(handler)
    given_stamp = moment.astimezone(zone) if feedback_in_zone else None
    try:
        with wflogging.workflow_run(), wflogging.record_task(logger, clock=_FixedClock(wall), **TASK) as t:
            t.human_feedback(type="HIL-Approval", content="ok", timestamp_utc=given_stamp)
    finally:
        logger.removeHandler(handler)
        handler.close()
    entry = json.loads(path.read_text(encoding="utf-8"))
    expected = moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    assert entry["timestamps"] == {
        "start_time_utc": expected,
        "end_time_utc": expected,
        "duration_seconds": 0.0,
    }
    assert entry["human_feedback"]["timestamp_utc"] == expected


# --- structure and concurrency -------------------------------------------------------------


def test_nested_recorders_each_log_their_own_event(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A task running sub-tasks yields one event per task; calls go to the recorder they were made on."""
    with wflogging.workflow_run() as run_id:
        with wflogging.record_task(event_log.logger, **task(task_id="2")) as outer:
            outer.llm_call(model_name="m", prompt="plan", completion="2.1 then 2.2")
            for sub in ("2.1", "2.2"):
                with wflogging.record_task(event_log.logger, **task(task_id=sub)) as inner:
                    assert wflogging.current_task() is inner
                    inner.llm_call(model_name="m", prompt=f"do {sub}", completion="done")
                assert wflogging.current_task() is outer
            outer.llm_call(model_name="m", prompt="check", completion="ok")
        assert wflogging.current_task() is None
    entries = valid_entries(event_log, schema_validator)
    assert [entry["task_id"] for entry in entries] == ["2.1", "2.2", "2"]
    assert {entry["workflow_run_id"] for entry in entries} == {run_id}
    assert [call["prompt"] for call in entries[2]["llm_trace"]] == ["plan", "check"]
    assert [call["prompt"] for call in entries[0]["llm_trace"]] == ["do 2.1"]


def test_concurrent_asyncio_tasks_each_get_their_own_event(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Many interleaved asyncio tasks, each in its own recorder and run, never mix calls or runs."""
    task_count, calls_each = 40, 5

    async def one_task(number: int) -> str:
        with wflogging.workflow_run() as run_id:
            async with wflogging.record_task(event_log.logger, **task(task_id=f"3.{number}")):
                for call in range(calls_each):
                    await asyncio.sleep(0)  # a scheduling point, so the tasks interleave
                    recorder = wflogging.current_task()
                    assert recorder is not None
                    recorder.llm_call(model_name="m", prompt=f"{number}/{call}", completion="ok")
        return run_id

    async def main() -> list[str]:
        return await asyncio.gather(*(one_task(number) for number in range(task_count)))

    run_ids = asyncio.run(main())
    entries = valid_entries(event_log, schema_validator)
    assert len(entries) == task_count
    for entry in entries:
        number = int(entry["task_id"].split(".")[1])
        assert entry["workflow_run_id"] == run_ids[number]
        assert [call["prompt"] for call in entry["llm_trace"]] == [f"{number}/{c}" for c in range(calls_each)]
        assert [call["call_sequence"] for call in entry["llm_trace"]] == list(range(1, calls_each + 1))


def test_calls_from_a_thread_pool_are_numbered_one_to_n_without_gaps(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Calls made from many threads into one recorder get distinct numbers 1..n matching the trace."""
    workers, calls_each = 8, 100
    barrier = threading.Barrier(workers)
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, **TASK) as t:

        def worker(worker_number: int) -> list[tuple[int, str]]:
            barrier.wait()  # all threads start recording together
            made = []
            for call in range(calls_each):
                prompt = f"{worker_number}/{call}"
                made.append(
                    (t.llm_call(model_name="m", prompt=prompt, completion="ok", input_tokens=1), prompt)
                )
            return made

        with ThreadPoolExecutor(workers) as pool:
            results = [pair for made in pool.map(worker, range(workers)) for pair in made]
    (entry,) = valid_entries(event_log, schema_validator)
    trace = entry["llm_trace"]
    total = workers * calls_each
    assert sorted(number for number, _ in results) == list(range(1, total + 1))
    assert [call["call_sequence"] for call in trace] == list(range(1, total + 1))
    for number, prompt in results:
        assert trace[number - 1]["prompt"] == prompt
    assert entry["cost_data"]["tokens"]["input"] == total


def test_call_after_the_event_was_logged_is_not_recorded(
    event_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """A late call (a straggler thread) is refused with 0 and a stderr line, never raising."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, **TASK) as t:
        pass
    assert t.llm_call(model_name="m", prompt="late", completion="x") == 0
    assert "after its event was logged" in capsys.readouterr().err
    assert event_log.entries()[0]["llm_trace"] == []


# --- decorators ---------------------------------------------------------------------------


def test_sync_decorator_records_each_call_and_passes_results_and_errors_through(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A decorated function logs one event per call, returns its value, and raises its errors."""

    @wflogging.record_task(event_log.logger, **TASK)
    def implement(feature: str) -> str:
        recorder = wflogging.current_task()
        assert recorder is not None
        recorder.llm_call(model_name="m", prompt=f"implement {feature}", completion="done")
        if feature == "broken":
            raise ValueError(feature)
        return f"{feature} done"

    with wflogging.workflow_run():
        assert implement("csv") == "csv done"
        with pytest.raises(ValueError, match="broken"):
            implement("broken")
    entries = valid_entries(event_log, schema_validator)
    assert [entry["status"] for entry in entries] == ["Success", "Failed"]
    assert [entry["llm_trace"][0]["prompt"] for entry in entries] == ["implement csv", "implement broken"]
    assert entries[0]["event_id"] != entries[1]["event_id"]
    assert implement.__name__ == "implement"


def test_async_decorator_records_concurrent_calls_separately(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A decorated coroutine function run concurrently gives each call its own recorder and event."""

    @wflogging.record_task(event_log.logger, **TASK)
    async def review(number: int) -> int:
        recorder = wflogging.current_task()
        assert recorder is not None
        await asyncio.sleep(0)
        recorder.llm_call(model_name="m", prompt=f"review {number}", completion="lgtm")
        return number

    async def main() -> list[int]:
        with wflogging.workflow_run():
            return await asyncio.gather(*(review(number) for number in range(10)))

    assert asyncio.run(main()) == list(range(10))
    entries = valid_entries(event_log, schema_validator)
    assert sorted(entry["llm_trace"][0]["prompt"] for entry in entries) == sorted(
        f"review {number}" for number in range(10)
    )
    assert all(len(entry["llm_trace"]) == 1 for entry in entries)


# --- HIL ----------------------------------------------------------------------------------


def test_hil_pause_then_resume_with_approval(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A task pauses for the Director (HIL-Paused, no answer yet), then resumes approved (Success)."""
    deploy = task(task_id="2.1", agent_name="/ops:deploy")
    answered = dt.datetime(2026, 3, 1, 11, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with wflogging.workflow_run() as run_id:
        with wflogging.record_task(event_log.logger, **deploy) as t:
            t.pause()
            assert t.status is wflogging.Status.HIL_PAUSED
        with wflogging.record_task(event_log.logger, **deploy) as t:
            t.human_feedback(
                type=wflogging.FeedbackType.HIL_APPROVAL, content="approve", timestamp_utc=answered
            )
    paused, resumed = valid_entries(event_log, schema_validator)
    assert (paused["status"], paused["human_feedback"]) == ("HIL-Paused", None)
    assert resumed["status"] == "Success"
    assert resumed["human_feedback"] == {
        "type": "HIL-Approval",
        "content": "approve",
        "timestamp_utc": "2026-03-01T09:30:00.000000Z",
    }
    assert paused["workflow_run_id"] == resumed["workflow_run_id"] == run_id


def test_feedback_timestamp_defaults_to_now_utc(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """human_feedback without a timestamp is stamped with the recorder clock's current UTC time."""
    clock = SteppingClock(wall=[T0, T0 + dt.timedelta(minutes=7)], mono=[0.0, 1.0])
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, clock=clock, **TASK) as t:
        t.pause()
        t.human_feedback(type="Manual-Step-Confirmation", content="confirm")
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["human_feedback"]["timestamp_utc"] == "2026-03-01T10:07:00.000000Z"


# --- cost roll-up ---------------------------------------------------------------------------


def _three_calls(t: wflogging.TaskRecorder) -> None:
    t.llm_call(
        model_name="big",
        prompt="a",
        completion="b",
        input_tokens=1000,
        output_tokens=500,
        latency_seconds=1.5,
    )
    t.llm_call(
        model_name="big", prompt="c", completion="d", input_tokens=2000, output_tokens=100, cached_tokens=1500
    )
    t.llm_call(model_name="small", prompt="e", completion="f", input_tokens=400, output_tokens=40)


def test_cost_roll_up_without_prices_totals_tokens_per_model_and_states_no_money(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Without a price table cost_data totals calls and tokens per model and claims no money."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, **TASK) as t:
        _three_calls(t)
    (entry,) = valid_entries(event_log, schema_validator)
    assert entry["cost_data"] == {
        "llm_calls": 3,
        "tokens": {"input": 3400, "output": 640, "cached": 1500},
        "models": {
            "big": {
                "calls": 2,
                "input_tokens": 3000,
                "output_tokens": 600,
                "cached_tokens": 1500,
                "latency_seconds": 1.5,
            },
            "small": {"calls": 1, "input_tokens": 400, "output_tokens": 40, "cached_tokens": 0},
        },
        "per_call": [
            {"call_sequence": 1, "input_tokens": 1000, "output_tokens": 500, "latency_seconds": 1.5},
            {"call_sequence": 2, "input_tokens": 2000, "output_tokens": 100, "cached_tokens": 1500},
            {"call_sequence": 3, "input_tokens": 400, "output_tokens": 40},
        ],
    }


# big: (1000*2 + 500*10) + (500*2 + 1500*0.5 + 100*10) per million = 7000 + 2750 = 9750e-6
# small: 400*0.1 + 40*0.4 per million = 56e-6
PRICES = {
    "big": {"input_per_million": 2, "output_per_million": 10, "cached_input_per_million": 0.5},
    "small": {"input_per_million": 0.1, "output_per_million": 0.4},
}


def _costs(cost_data: dict[str, Any]) -> dict[str, Any]:
    return {
        "big": cost_data["models"]["big"]["cost_usd"],
        "small": cost_data["models"]["small"]["cost_usd"],
        "total": cost_data["total_cost_usd"],
    }


def test_cost_roll_up_with_prices_in_code(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A price table in code prices every call, cached input at its own price; totals add up."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, prices=PRICES, **TASK) as t:
        _three_calls(t)
    (entry,) = valid_entries(event_log, schema_validator)
    assert _costs(entry["cost_data"]) == {"big": 0.00975, "small": 0.000056, "total": 0.009806}
    assert "unpriced_calls" not in entry["cost_data"]


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_cost_roll_up_with_prices_from_a_file(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator, tmp_path: Path, suffix: str
) -> None:
    """A price table loaded from JSON or TOML prices calls the same and labels cost_data with its version."""
    path = tmp_path / f"prices{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"version": "2026-03", "models": PRICES}), encoding="utf-8")
    else:
        path.write_text(
            'version = "2026-03"\n'
            "[models.big]\ninput_per_million = 2\noutput_per_million = 10\ncached_input_per_million = 0.5\n"
            "[models.small]\ninput_per_million = 0.1\noutput_per_million = 0.4\n",
            encoding="utf-8",
        )
    prices = wflogging.load_prices(path)
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, prices=prices, **TASK) as t:
        _three_calls(t)
    (entry,) = valid_entries(event_log, schema_validator)
    assert _costs(entry["cost_data"]) == {"big": 0.00975, "small": 0.000056, "total": 0.009806}
    assert entry["cost_data"]["price_table"] == "2026-03"


def test_unknown_model_is_unpriced_never_zero_and_explicit_cost_wins(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A call the table cannot price is counted as unpriced; a call's own cost_usd beats the table."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, prices=PRICES, **TASK) as t:
        t.llm_call(model_name="mystery", prompt="a", completion="b", input_tokens=10, output_tokens=10)
        t.llm_call(model_name="big", prompt="c", completion="d", input_tokens=10**6, cost_usd=0.25)
        t.llm_call(model_name="big", prompt="e", completion="f")  # no usage reported at all
    (entry,) = valid_entries(event_log, schema_validator)
    cost = entry["cost_data"]
    assert "cost_usd" not in cost["models"]["mystery"]
    assert cost["models"]["mystery"]["unpriced_calls"] == 1
    assert cost["models"]["big"]["cost_usd"] == 0.25
    assert cost["models"]["big"]["unpriced_calls"] == 1
    assert (cost["total_cost_usd"], cost["unpriced_calls"]) == (0.25, 2)


def test_reported_costs_without_a_table_are_totalled(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Without a table, calls' own cost_usd still roll up, and calls without one are unpriced."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, **TASK) as t:
        t.llm_call(model_name="m", prompt="a", completion="b", cost_usd=0.1)
        t.llm_call(model_name="m", prompt="c", completion="d", cost_usd=0.2)
        t.llm_call(model_name="n", prompt="e", completion="f")
    (entry,) = valid_entries(event_log, schema_validator)
    cost = entry["cost_data"]
    assert cost["total_cost_usd"] == 0.3  # summed exactly, not 0.30000000000000004
    assert cost["unpriced_calls"] == 1


@given(
    usage=st.lists(
        st.tuples(
            st.sampled_from(["big", "small", "other"]),
            st.integers(min_value=0, max_value=10**7),
            st.integers(min_value=0, max_value=10**7),
        ),
        max_size=12,
    )
)
def test_token_totals_are_the_sums_over_models(
    tmp_path_factory: pytest.TempPathFactory, usage: list[tuple[str, int, int]]
) -> None:
    """For any calls, the task's token totals equal the sum of the per-model totals and of the calls."""
    path = tmp_path_factory.mktemp("tokens") / "events.jsonl"
    logger = unique_logger()
    handler = wflogging.TaskEventHandler(path, strict=True)
    logger.addHandler(handler)
    try:
        with wflogging.workflow_run(), wflogging.record_task(logger, prices=PRICES, **TASK) as t:
            for model, input_tokens, output_tokens in usage:
                t.llm_call(
                    model_name=model,
                    prompt="p",
                    completion="c",
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                )
    finally:
        logger.removeHandler(handler)
        handler.close()
    cost = json.loads(path.read_text(encoding="utf-8"))["cost_data"]
    models = cost["models"].values()
    assert cost["tokens"]["input"] == sum(i for _, i, _ in usage) == sum(m["input_tokens"] for m in models)
    assert cost["tokens"]["output"] == sum(o for _, _, o in usage) == sum(m["output_tokens"] for m in models)
    assert cost["llm_calls"] == len(usage) == sum(m["calls"] for m in models)
    assert cost.get("unpriced_calls", 0) == sum(1 for model, _, _ in usage if model == "other")


def test_bad_usage_values_are_left_out_and_listed_but_the_event_is_logged(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Nonsense usage never costs the event: it is ignored in the totals and listed in usage_problems."""
    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, prices=PRICES, **TASK) as t:
        t.llm_call(model_name="big", prompt="a", completion="b", input_tokens=-5, output_tokens=100)
        t.llm_call(model_name="big", prompt="c", completion="d", input_tokens="many")  # type: ignore[arg-type]
        t.llm_call(model_name="big", prompt="e", completion="f", input_tokens=10, cached_tokens=20)
        t.llm_call(model_name="big", prompt="g", completion="h", latency_seconds=float("nan"))
        t.llm_call(model_name="big", prompt="i", completion="j", cost_usd=float("inf"))
    (entry,) = valid_entries(event_log, schema_validator)
    cost = entry["cost_data"]
    assert cost["tokens"] == {"input": 10, "output": 100, "cached": 0}
    problems = cost["usage_problems"]
    assert len(problems) == 5
    for number, name in enumerate(
        ["input_tokens", "input_tokens", "cached_tokens", "latency_seconds", "cost_usd"], start=1
    ):
        assert problems[number - 1].startswith(f"call {number}: ")
        assert name in problems[number - 1]


def test_set_cost_adds_entries_and_overrides_rolled_up_ones(
    event_log: EventLog, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Caller cost entries (IACP figures) join cost_data; a same-named entry replaces the roll-up's."""
    from decimal import Decimal

    with wflogging.workflow_run(), wflogging.record_task(event_log.logger, prices=PRICES, **TASK) as t:
        t.llm_call(model_name="small", prompt="a", completion="b", input_tokens=10)
        t.set_cost({"iacp": {"budget_usd": Decimal("5.00"), "remaining_usd": Decimal("4.99")}})
        t.set_cost(total_cost_usd=0.01)
    (entry,) = valid_entries(event_log, schema_validator)
    cost = entry["cost_data"]
    assert cost["iacp"] == {"budget_usd": 5.0, "remaining_usd": 4.99}
    assert cost["total_cost_usd"] == 0.01
    assert cost["models"]["small"]["cost_usd"] == 0.000001


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _OwnLogger(logging.Logger):
    """A Logger subclass: it may find a record's source its own way, so the recorder leaves it to it."""


@pytest.mark.parametrize("kind", ["logger", "subclass", "adapter"])
def test_the_event_record_points_at_the_task_s_code(kind: str) -> None:
    """The event's LogRecord names the code that ran the task (file, function, the ``with`` line or the
    decorated function's call), not wflogging, whether the logger is a Logger, a subclass or an adapter."""
    if kind == "adapter" and sys.version_info < (3, 11):
        pytest.skip("LoggerAdapter.log counts stacklevel one frame short before Python 3.11")
    name = unique_logger().name
    base = _OwnLogger(name) if kind == "subclass" else logging.getLogger(name)
    base.propagate = False
    base.setLevel(logging.INFO)
    records = _Records()
    base.addHandler(records)
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = (
        logging.LoggerAdapter(base, {}) if kind == "adapter" else base
    )

    @wflogging.record_task(logger, **task())
    def decorated() -> None:
        pass

    async def in_a_coroutine() -> int:
        async with wflogging.record_task(logger, **task()):
            pass
        return sys._getframe().f_lineno - 2

    with wflogging.workflow_run():
        with wflogging.record_task(logger, **task()):
            pass
        with_line = sys._getframe().f_lineno - 2
        decorated()
        call_line = sys._getframe().f_lineno - 1
        async_line = asyncio.run(in_a_coroutine())
    here = test_the_event_record_points_at_the_task_s_code.__name__
    assert [(r.pathname, r.funcName, r.lineno) for r in records.records] == [
        (__file__, here, with_line),
        (__file__, here, call_line),
        (__file__, "in_a_coroutine", async_line),
    ]
