"""By default, every path writes entries with exactly the SOP's ten keys, and nothing more.

The paths a user has: the formatter on a handler of their own, the
TaskEventHandler, the queue handler with its listener, ``record_task`` (success,
failure, a raised exception, a cancelled asyncio task, a human pause) and the
demo. Failures are included on purpose: they are where an eleventh key crept in.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.handlers
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import wflogging
from tests.conftest import SOP_KEYS, unique_logger, valid_fields
from wflogging.demo import run_demo


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _log_with_and_without_an_exception(logger: logging.Logger) -> None:
    logger.info("ok", extra=valid_fields())
    try:
        raise RuntimeError("the model refused")
    except RuntimeError:
        logger.exception("failed", extra=valid_fields(status="Failed"))


def test_formatter_on_a_stream_handler(run_id: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(wflogging.TaskEventFormatter())
    logger = unique_logger()
    logger.addHandler(handler)
    _log_with_and_without_an_exception(logger)
    # A StreamHandler's formatter writes the entry; the exception stays out of the line.
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [list(entry) for entry in entries] == [SOP_KEYS, SOP_KEYS]


def test_task_event_handler(tmp_path: Path, run_id: str) -> None:
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    logger = unique_logger()
    logger.addHandler(handler)
    _log_with_and_without_an_exception(logger)
    handler.close()
    assert [list(entry) for entry in _lines(tmp_path / "events.jsonl")] == [SOP_KEYS, SOP_KEYS]


def test_queue_handler_and_its_listener(tmp_path: Path, run_id: str) -> None:
    target = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    queued = wflogging.TaskEventQueueHandler(handlers=[target])
    logger = unique_logger()
    logger.addHandler(queued)
    _log_with_and_without_an_exception(logger)
    queued.close()  # drains the queue through the listener
    target.close()
    assert [list(entry) for entry in _lines(tmp_path / "events.jsonl")] == [SOP_KEYS, SOP_KEYS]


def test_error_details_are_an_opt_in_on_the_formatter(tmp_path: Path, run_id: str) -> None:
    """error_details=True is how a user asks for the eleventh key, on the direct and the queue path."""
    direct = wflogging.TaskEventHandler(tmp_path / "direct.jsonl")
    direct.setFormatter(wflogging.TaskEventFormatter(error_details=True))
    target = wflogging.TaskEventHandler(tmp_path / "queued.jsonl")
    target.setFormatter(wflogging.TaskEventFormatter(error_details=True))
    queued = wflogging.TaskEventQueueHandler(handlers=[target])
    for handler in (direct, queued):
        logger = unique_logger()
        logger.addHandler(handler)
        _log_with_and_without_an_exception(logger)
        handler.close()
    target.close()
    for name in ("direct.jsonl", "queued.jsonl"):
        ok, failed = _lines(tmp_path / name)
        assert list(ok) == SOP_KEYS
        assert list(failed) == [*SOP_KEYS, "extensions"]
        assert failed["extensions"]["error"]["type"] == "RuntimeError"
        assert failed["extensions"]["error"]["message"] == "the model refused"


class _Boom(Exception):
    pass


def _succeeds(t: wflogging.TaskRecorder) -> None:
    t.llm_call(model_name="m", prompt="p", completion="c", input_tokens=1, output_tokens=1)


def _fails(t: wflogging.TaskRecorder) -> None:
    t.fail("the reviewer rejected it")


def _raises(t: wflogging.TaskRecorder) -> None:
    raise _Boom("exploded")


def _pauses(t: wflogging.TaskRecorder) -> None:
    t.human_feedback(type="HIL-Approval", content="approve")
    t.pause()


@pytest.mark.parametrize(
    ("outcome", "work", "status"),
    [
        ("success", _succeeds, "Success"),
        ("failure", _fails, "Failed"),
        ("exception", _raises, "Failed"),
        ("pause", _pauses, "HIL-Paused"),
    ],
)
def test_record_task(
    tmp_path: Path, outcome: str, work: Callable[[wflogging.TaskRecorder], None], status: str
) -> None:
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    logger = unique_logger()
    logger.addHandler(handler)
    with wflogging.workflow_run():
        try:
            with wflogging.record_task(logger, task_id="1", task_description="d", agent_name="a") as t:
                work(t)
        except _Boom:
            assert outcome == "exception"
    handler.close()
    (entry,) = _lines(tmp_path / "events.jsonl")
    assert entry["status"] == status
    assert list(entry) == SOP_KEYS


def test_record_task_cancelled(tmp_path: Path) -> None:
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    logger = unique_logger()
    logger.addHandler(handler)

    async def main() -> None:
        started = asyncio.Event()

        async def task() -> None:
            async with wflogging.record_task(logger, task_id="1", task_description="d", agent_name="a"):
                started.set()
                await asyncio.Event().wait()  # until cancelled

        with wflogging.workflow_run():
            running = asyncio.create_task(task())
        await started.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(main())
    handler.close()
    (entry,) = _lines(tmp_path / "events.jsonl")
    assert entry["status"] == "Failed"
    assert list(entry) == SOP_KEYS


def test_demo(tmp_path: Path) -> None:
    run_demo(tmp_path / "demo.jsonl")
    entries = _lines(tmp_path / "demo.jsonl")
    assert {entry["status"] for entry in entries} == {"Success", "Failed", "HIL-Paused"}
    assert all(list(entry) == SOP_KEYS for entry in entries)
