"""Hostile objects in ``extra``: a reject that keeps every field it can, stderr that tells the truth.

Also the handler's fault report (never the record's arguments) and a reject whose rejects file
fails (counted as lost, its task and reasons still on stderr).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import wflogging
from tests.conftest import EventLog, unique_logger, valid_fields

_PACKAGE = str(Path(wflogging.__file__).parent)


class BadRepr:
    """An object whose __repr__ and __str__ raise (AttributeError, as a half-built object would)."""

    def __repr__(self) -> str:
        raise AttributeError("half-built")

    __str__ = __repr__


class ItemsRaise(Mapping[str, Any]):
    """A Mapping whose every way of being read raises."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("getitem exploded")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("iter exploded")

    def __len__(self) -> int:
        raise RuntimeError("len exploded")

    def items(self) -> Any:
        raise RuntimeError("items exploded")


class RaisesOnAnyAttribute:
    """An object that raises on every attribute access, ``__class__`` included."""

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"attribute {name} exploded")


def _assert_truthful_stderr(err: str, task_id: str, reason: str) -> None:
    assert "Traceback" not in err
    assert "not saved" not in err.lower()
    [line] = [line for line in err.splitlines() if "rejected task event" in line]
    assert f"task_id='{task_id}'" in line
    assert reason in line


def test_a_value_whose_repr_raises_is_marked_and_every_other_field_kept(
    event_log: EventLog, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the bad value becomes a marker; task id, description, agent, times and the rest stay."""
    fields = valid_fields(task_id="7.1", cost_data={"tool": BadRepr(), "tokens": {"input": 3}})
    event_log.logger.info("cost", extra=fields)
    [reject] = event_log.rejects()
    event = reject["event"]
    assert event["task_id"] == "7.1"
    assert event["task_description"] == fields["task_description"]
    assert event["agent_name"] == fields["agent_name"]
    assert event["timestamps"] == fields["timestamps"]
    assert event["cost_data"]["tokens"] == {"input": 3}
    assert event["cost_data"]["tool"] == "<unrepresentable BadRepr: AttributeError>"
    assert [reason["path"] for reason in reject["reasons"]] == ["cost_data.tool"]
    _assert_truthful_stderr(capsys.readouterr().err, "7.1", "cost_data.tool")
    assert event_log.handler.rejects.count == 1
    assert event_log.handler.dropped == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cost_data", ItemsRaise()),
        ("cost_data", {"nested": ItemsRaise()}),
        ("timestamps", ItemsRaise()),
        ("human_feedback", ItemsRaise()),
        ("extensions", ItemsRaise()),
        ("llm_trace", [ItemsRaise()]),
        ("llm_trace", [RaisesOnAnyAttribute()]),
        ("cost_data", RaisesOnAnyAttribute()),
        ("task_description", RaisesOnAnyAttribute()),
        ("status", BadRepr()),
        ("task_event", ItemsRaise()),
    ],
    ids=lambda value: value if type(value) is str else type(value).__name__,
)
def test_objects_that_raise_anywhere_become_a_reject_never_a_traceback(
    event_log: EventLog, run_id: str, capsys: pytest.CaptureFixture[str], field: str, value: Any
) -> None:
    """Mappings and objects raising in items(), __iter__, __len__, __getattribute__, __repr__."""
    fields = valid_fields(task_id="7.2")
    if field == "task_event":
        fields = {"task_event": value}
    fields[field] = value
    event_log.logger.info("hostile", extra=fields)
    err = capsys.readouterr().err
    [reject] = event_log.rejects()
    assert reject["reasons"]
    assert all(field in reason["path"] for reason in reject["reasons"])
    assert event_log.handler.dropped == 0
    assert "Traceback" not in err
    if field != "task_event":
        assert reject["event"]["task_id"] == "7.2"
        assert reject["event"]["agent_name"] == "/dev:implement-pro"
        _assert_truthful_stderr(err, "7.2", field)


def test_a_recursion_error_never_comes_out_of_wflogging(tmp_path: Path, run_id: str) -> None:
    """logger.info at every depth near the recursion limit: no RecursionError raised inside wflogging.

    One raised by the stdlib's own logging frames before the handler runs can reach the caller
    (as with any handler; wflogging's record factory, which only wraps the stdlib's LogRecord,
    may be on its way out); one raised in the handler is counted as dropped, never propagated.
    """
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    logger = unique_logger()
    logger.addHandler(handler)
    nested = valid_fields(cost_data={"a": {"b": {"c": [1, {"d": "e"}]}}})
    escaped_from_wflogging: list[str] = []
    reached_caller = 0

    def at_depth(remaining: int) -> None:
        if remaining:
            at_depth(remaining - 1)
        else:
            logger.info("deep", extra=nested)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        for depth in range(150, 300):
            try:
                at_depth(depth)
            except RecursionError as exc:
                reached_caller += 1
                frames = traceback.extract_tb(exc.__traceback__)
                ours = [frame for frame in frames if frame.filename.startswith(_PACKAGE)]
                if [frame.name for frame in ours] not in ([], ["make_record"]):
                    escaped_from_wflogging.append(f"depth {depth}: {frames[-1]}")
    finally:
        sys.setrecursionlimit(limit)
        handler.close()
    assert escaped_from_wflogging == []
    written = len((tmp_path / "events.jsonl").read_bytes().splitlines())
    # Each call was written, rejected, dropped (counted) or reached its caller from the stdlib; near
    # the limit an event written but whose fsync bookkeeping ran out of stack counts as dropped too.
    assert written + handler.rejects.count + reached_caller <= 150
    assert written + handler.rejects.count + handler.dropped + reached_caller >= 150


@pytest.mark.parametrize("redact", [False, True])
def test_the_fault_report_never_prints_the_records_arguments(
    tmp_path: Path, run_id: str, capsys: pytest.CaptureFixture[str], redact: bool
) -> None:
    """A failed write is reported on stderr without the message arguments (the stdlib prints them)."""
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    directory = tmp_path / "events.jsonl"
    directory.mkdir()  # opening it for writing fails: IsADirectoryError
    handler = wflogging.TaskEventHandler(directory, delay=True, redact=redact)
    logger = unique_logger()
    logger.addHandler(handler)
    previous, logging.raiseExceptions = logging.raiseExceptions, True
    try:
        logger.info("called the API with %s", secret, extra=valid_fields(task_id="9.1"))
        logger.info(f"called the API with {secret}", extra=valid_fields(task_id="9.2"))
    finally:
        logging.raiseExceptions = previous
        handler.close()
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err
    assert "IsADirectoryError" in err
    assert "task_id='9.1'" in err
    assert handler.dropped == 2
    if redact:
        assert secret not in err
    else:
        assert f"'{secret}'" not in err  # the argument itself, as the stdlib would print it


def test_a_reject_that_cannot_be_stored_is_counted_as_lost_with_its_task_and_reasons(
    tmp_path: Path, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rejects file cannot be opened: rejects.lost counts it, stderr names its task and reasons."""
    handler = wflogging.TaskEventHandler(
        tmp_path / "events.jsonl", rejects_filename=tmp_path / "missing" / "rejects.jsonl"
    )
    logger = unique_logger()
    logger.addHandler(handler)
    logger.info("bad", extra=valid_fields(task_id="3.4", status="Maybe"))
    handler.close()
    err = capsys.readouterr().err
    assert handler.rejects.count == 0
    assert handler.rejects.lost == 1
    [line] = [line for line in err.splitlines() if "rejected task event" in line]
    assert "task_id='3.4'" in line
    assert "status" in line
    assert "NOT saved: FileNotFoundError" in line
    assert not (tmp_path / "missing").exists()
    assert not (tmp_path / "events.jsonl").read_bytes()


def test_the_queue_handlers_fault_report_never_prints_the_records_arguments(
    tmp_path: Path, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unpicklable extra on a multiprocessing queue is reported without the message arguments."""
    import multiprocessing
    import threading

    from wflogging.queueing import TaskEventQueueHandler

    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    records: Any = multiprocessing.get_context("spawn").Queue(10)
    handler = TaskEventQueueHandler(records, handlers=[wflogging.TaskEventHandler(tmp_path / "events.jsonl")])
    logger = unique_logger()
    logger.addHandler(handler)
    previous, logging.raiseExceptions = logging.raiseExceptions, True
    try:
        logger.info("key %s", secret, extra=valid_fields(task_id="8.1", lock=threading.Lock()))
    finally:
        logging.raiseExceptions = previous
        handler.close()
        records.close()
        records.join_thread()
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err
    assert "task_id='8.1'" in err
    assert secret not in err
