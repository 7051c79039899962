"""Non-blocking mode: TaskEventQueueHandler + ResilientQueueListener, through real queues and threads."""

from __future__ import annotations

import json
import logging
import logging.config
import multiprocessing
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import wflogging
from tests import storage_workers as workers
from tests.conftest import unique_logger, valid_fields
from wflogging.queueing import ResilientQueueListener, TaskEventQueueHandler

_ROOT = Path(__file__).resolve().parent.parent


class ThreadRecorder(logging.Handler):
    """A plain stdlib handler noting which thread handled each record."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.threads.append(threading.get_ident())


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_caller_does_no_file_io_and_run_context_is_captured_at_the_call_site(tmp_path: Path) -> None:
    """Handlers run on the listener thread, yet each event carries the run current where it was logged."""
    path = tmp_path / "events.jsonl"
    recorder = ThreadRecorder()
    handler = TaskEventQueueHandler(handlers=[wflogging.TaskEventHandler(path), recorder])
    logger = unique_logger()
    logger.addHandler(handler)
    runs: dict[str, str] = {}

    def work(number: int) -> None:
        with wflogging.workflow_run() as run_id:
            runs[str(number)] = run_id
            for seq in range(50):
                logger.info("e", extra=valid_fields(task_id=f"{number}.{seq}"))

    threads = [threading.Thread(target=work, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.close()
    entries = _entries(path)
    assert len(entries) == 200
    assert all(entry["workflow_run_id"] == runs[entry["task_id"].split(".")[0]] for entry in entries)
    assert set(recorder.threads) - {thread.ident for thread in threads} == set(recorder.threads)
    assert threading.get_ident() not in recorder.threads


def test_listener_survives_an_exception_in_a_target_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A filter raising inside the target handler is reported; the listener thread writes later events."""
    monkeypatch.setattr(logging, "raiseExceptions", True)
    path = tmp_path / "events.jsonl"
    target = wflogging.TaskEventHandler(path)

    def buggy_filter(record: logging.LogRecord) -> bool:
        if getattr(record, "task_id", None) == "bad":
            raise RuntimeError("filter bug")
        return True

    target.addFilter(buggy_filter)
    handler = TaskEventQueueHandler(handlers=[target])
    logger = unique_logger()
    logger.addHandler(handler)
    with wflogging.workflow_run():
        logger.info("e", extra=valid_fields(task_id="before"))
        logger.info("e", extra=valid_fields(task_id="bad"))
        logger.info("e", extra=valid_fields(task_id="after"))
    assert handler.listener is not None
    assert handler.listener.is_running  # type: ignore[attr-defined]
    handler.close()
    assert [entry["task_id"] for entry in _entries(path)] == ["before", "after"]
    assert "RuntimeError: filter bug" in capsys.readouterr().err


def test_full_queue_drops_are_counted_and_reported_once_then_queued_events_drain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """maxsize=2 and no listener yet: 2 events queued, 3 dropped with one report; a listener drains 2."""
    monkeypatch.setattr(logging, "raiseExceptions", True)
    path = tmp_path / "events.jsonl"
    handler = TaskEventQueueHandler(maxsize=2, put_timeout=0)
    logger = unique_logger()
    logger.addHandler(handler)
    with wflogging.workflow_run():
        for seq in range(5):
            logger.info("e", extra=valid_fields(task_id=str(seq)))
    assert handler.dropped == 3
    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 1
    assert "stayed full" in err
    handler.listener = ResilientQueueListener(handler.queue, wflogging.TaskEventHandler(path))
    handler.close()
    assert [entry["task_id"] for entry in _entries(path)] == ["0", "1"]


def test_put_timeout_waits_for_room_before_dropping(tmp_path: Path) -> None:
    """With put_timeout > 0 a full queue makes the caller wait, then drop and count (never block forever)."""
    handler = TaskEventQueueHandler(maxsize=1, put_timeout=0.01)
    logger = unique_logger()
    logger.addHandler(handler)
    with wflogging.workflow_run():
        logger.info("e", extra=valid_fields(task_id="kept"))
        logger.info("e", extra=valid_fields(task_id="dropped"))
    assert handler.dropped == 1
    handler.close()


def test_exc_info_survives_the_queue_as_extensions_error(tmp_path: Path) -> None:
    """logger.exception through the queue still writes extensions.error (error_details on the far side)."""
    path = tmp_path / "events.jsonl"
    target = wflogging.TaskEventHandler(path)
    target.setFormatter(wflogging.TaskEventFormatter(error_details=True))
    handler = TaskEventQueueHandler(handlers=[target])
    logger = unique_logger()
    logger.addHandler(handler)

    def failing_step() -> None:
        raise ValueError("the agent gave up")

    with wflogging.workflow_run():
        try:
            failing_step()
        except ValueError:
            logger.exception("task failed", extra=valid_fields(status="Failed"))
    handler.close()
    [entry] = _entries(path)
    error = entry["extensions"]["error"]
    assert error["type"] == "ValueError"
    assert error["message"] == "the agent gave up"
    assert "failing_step" in error["traceback"]


def test_multiprocessing_queue_reports_an_unpicklable_extra_and_keeps_the_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Lock in extra cannot be pickled: reported once, and the event still reaches the file."""
    monkeypatch.setattr(logging, "raiseExceptions", True)
    path = tmp_path / "events.jsonl"
    records: Any = multiprocessing.get_context("spawn").Queue(100)
    handler = TaskEventQueueHandler(records, handlers=[wflogging.TaskEventHandler(path)])
    logger = unique_logger()
    logger.addHandler(handler)
    with wflogging.workflow_run():
        logger.info("e", extra=valid_fields(task_id="locked", lock=threading.Lock()))
        logger.info("e", extra=valid_fields(task_id="plain"))
    handler.close()
    records.close()
    records.join_thread()
    assert sorted(entry["task_id"] for entry in _entries(path)) == ["locked", "plain"]
    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 1
    assert "pickle" in err


def test_interpreter_exit_drains_the_queue(tmp_path: Path) -> None:
    """5,000 events then a normal exit: logging.shutdown stops the listener and all 5,000 are written."""
    path = tmp_path / "events.jsonl"
    script = textwrap.dedent(
        """
        import logging, sys
        from tests import storage_workers as workers
        import wflogging
        from wflogging.queueing import TaskEventQueueHandler

        log = logging.getLogger("child")
        target = wflogging.TaskEventHandler(sys.argv[1])
        log.addHandler(TaskEventQueueHandler(handlers=[target], put_timeout=None))
        log.setLevel(logging.INFO)
        for seq in range(5_000):
            log.info("e", extra=workers.event_fields("w", seq, 300))
        sys.exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=_ROOT, check=True, timeout=120)
    assert workers.check_stream(path.read_bytes(), {"w": 5_000}) == []


@pytest.mark.skipif(
    sys.version_info < (3, 12), reason="the queue_handler dictConfig form is new in Python 3.12"
)
def test_dictconfig_queue_handler_form_starts_its_listener_and_drains_at_close(tmp_path: Path) -> None:
    """3.12 dictConfig with handlers/queue keys: listener running at once, bounded queue, drained by close."""
    path = tmp_path / "events.jsonl"
    logger = unique_logger()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "task_events": {"class": "wflogging.TaskEventHandler", "filename": str(path)},
                "queued": {
                    "class": "wflogging.queueing.TaskEventQueueHandler",
                    "handlers": ["task_events"],
                    "queue": {"()": "queue.Queue", "maxsize": 1000},
                },
            },
            "loggers": {logger.name: {"handlers": ["queued"], "level": "INFO", "propagate": False}},
        }
    )
    [handler] = [each for each in logger.handlers if isinstance(each, TaskEventQueueHandler)]
    assert isinstance(handler.listener, ResilientQueueListener)
    assert handler.listener.is_running
    assert isinstance(handler.queue, queue.Queue)
    assert handler.queue.maxsize == 1000
    with wflogging.workflow_run():
        for seq in range(300):
            logger.info("e", extra=valid_fields(task_id=str(seq)))
    for each in logger.handlers[:]:
        logger.removeHandler(each)
        each.close()
    logging.getHandlerByName("task_events").close()  # type: ignore[attr-defined]
    assert [entry["task_id"] for entry in _entries(path)] == [str(seq) for seq in range(300)]


def test_queueing_leaves_the_callers_record_whole_for_the_handlers_after_it(tmp_path: Path) -> None:
    """Handlers after the queue handler still see the record's msg, args and exc_info as logged."""
    path = tmp_path / "events.jsonl"
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    queued = TaskEventQueueHandler(handlers=[wflogging.TaskEventHandler(path)])
    logger = unique_logger()
    logger.addHandler(queued)
    logger.addHandler(Keep())
    with wflogging.workflow_run():
        try:
            raise RuntimeError("tool timed out")
        except RuntimeError:
            logger.error("task %s failed", "2.1", exc_info=True, extra=valid_fields(status="Failed"))
    queued.close()  # stops the listener: every queued record is written

    [record] = seen
    assert (record.msg, record.args) == ("task %s failed", ("2.1",))
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    [entry] = _entries(path)
    assert entry["status"] == "Failed"
    assert "extensions" not in entry  # the default: the SOP's ten fields
