"""Run context: which workflow run an event belongs to, wherever and whenever it is formatted."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import os
import queue
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

import wflogging
from tests.conftest import EventLog, unique_logger, valid_fields


def _is_canonical_uuid4(text: str) -> bool:
    parsed = uuid.UUID(text)
    return str(parsed) == text and parsed.version == 4


@pytest.fixture
def no_env_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """No WFLOGGING_RUN_ID in the environment, whatever the test runner inherited."""
    monkeypatch.delenv(wflogging.RUN_ID_ENV, raising=False)


# --- workflow_run as a context manager ---------------------------------------------------


@pytest.mark.usefixtures("no_env_run")
def test_new_run_is_a_canonical_uuid4_and_current_inside() -> None:
    """`with workflow_run()` yields a fresh lowercase uuid4 string, current only inside the block."""
    assert wflogging.current_run_id() is None
    with wflogging.workflow_run() as first:
        assert _is_canonical_uuid4(first)
        assert wflogging.current_run_id() == first
    with wflogging.workflow_run() as second:
        assert second != first
    assert wflogging.current_run_id() is None


def test_joining_a_run_accepts_a_uuid_object_or_string() -> None:
    """`workflow_run(id)` joins that run, given as a UUID object or any-case string, canonicalised."""
    target = uuid.uuid4()
    for form in (target, str(target), str(target).upper()):
        with wflogging.workflow_run(form) as joined:
            assert joined == str(target)
            assert wflogging.current_run_id() == str(target)


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "1234", "{12345678-1234-1234-1234-123456789abc}"])
def test_joining_an_invalid_run_id_raises_value_error(bad: str) -> None:
    """A run id that is not a UUID string is refused with ValueError."""
    with pytest.raises(ValueError, match="run_id"):
        wflogging.workflow_run(bad)


@pytest.mark.usefixtures("no_env_run")
def test_nesting_restores_the_outer_run() -> None:
    """Leaving an inner run, including by an exception, makes the outer run current again."""
    with wflogging.workflow_run() as outer:
        with wflogging.workflow_run() as inner:
            assert wflogging.current_run_id() == inner != outer
        assert wflogging.current_run_id() == outer
        with pytest.raises(RuntimeError), wflogging.workflow_run():
            raise RuntimeError("task failed")
        assert wflogging.current_run_id() == outer
    assert wflogging.current_run_id() is None


# --- decorator and async ---------------------------------------------------------------


@pytest.mark.usefixtures("no_env_run")
def test_decorator_on_sync_function_gives_each_call_a_new_run() -> None:
    """A function decorated with `@workflow_run()` runs each call in its own new run."""

    @wflogging.workflow_run()
    def task(value: int) -> tuple[int, str | None]:
        return value, wflogging.current_run_id()

    (one, first), (two, second) = task(1), task(2)
    assert (one, two) == (1, 2)
    assert first is not None
    assert second is not None
    assert _is_canonical_uuid4(first)
    assert _is_canonical_uuid4(second)
    assert first != second
    assert task.__name__ == "task"
    assert wflogging.current_run_id() is None


def test_decorator_with_a_run_id_joins_that_run_on_every_call() -> None:
    """`@workflow_run(id)` makes every call run in that run."""
    target = str(uuid.uuid4())

    @wflogging.workflow_run(target)
    def task() -> str | None:
        return wflogging.current_run_id()

    assert task() == task() == target


@pytest.mark.usefixtures("no_env_run")
def test_decorator_on_async_function_gives_each_call_its_own_run() -> None:
    """An async function decorated with `@workflow_run()` runs each awaited call in a new run."""
    target = str(uuid.uuid4())

    @wflogging.workflow_run()
    async def fresh() -> str | None:
        await asyncio.sleep(0)
        return wflogging.current_run_id()

    @wflogging.workflow_run(target)
    async def joined() -> str | None:
        await asyncio.sleep(0)
        return wflogging.current_run_id()

    async def main() -> list[str | None]:
        return list(await asyncio.gather(fresh(), fresh(), joined(), joined()))

    first, second, third, fourth = asyncio.run(main())
    assert first is not None
    assert second is not None
    assert _is_canonical_uuid4(first)
    assert first != second
    assert third == fourth == target
    assert wflogging.current_run_id() is None


@pytest.mark.usefixtures("no_env_run")
def test_async_with_makes_a_run_current_and_restores_on_exit() -> None:
    """`async with workflow_run()` works like the sync form across awaits."""

    async def main() -> tuple[str, str | None, str | None]:
        async with wflogging.workflow_run() as run_id:
            await asyncio.sleep(0)
            inside = wflogging.current_run_id()
        return run_id, inside, wflogging.current_run_id()

    run_id, inside, after = asyncio.run(main())
    assert inside == run_id
    assert after is None


@pytest.mark.usefixtures("no_env_run")
def test_concurrent_asyncio_tasks_each_log_under_their_own_run(event_log: EventLog) -> None:
    """200 interleaved asyncio tasks, each in its own run: every entry carries its task's run."""
    tasks_count, events_per_task = 200, 3

    async def one_task(number: int) -> tuple[int, str]:
        async with wflogging.workflow_run() as run_id:
            for step in range(events_per_task):
                await asyncio.sleep(0)  # hand control to the other tasks between events
                event_log.logger.info("step", extra=valid_fields(task_id=f"{number}.{step}"))
        return number, run_id

    async def main() -> dict[int, str]:
        return dict(await asyncio.gather(*(one_task(number) for number in range(tasks_count))))

    run_of_task = asyncio.run(main())
    assert len(set(run_of_task.values())) == tasks_count
    entries = event_log.entries()
    assert len(entries) == tasks_count * events_per_task
    for entry in entries:
        number = int(entry["task_id"].split(".")[0])
        assert entry["workflow_run_id"] == run_of_task[number]
    assert event_log.rejects() == []


# --- threads -----------------------------------------------------------------------------


def test_worker_thread_joins_a_run_explicitly(event_log: EventLog) -> None:
    """A worker thread that enters `workflow_run(run_id)` logs its events under that run."""
    with wflogging.workflow_run() as run_id:

        def work() -> None:
            with wflogging.workflow_run(run_id):
                event_log.logger.info("worker", extra=valid_fields(task_id="w.1"))

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    [entry] = event_log.entries()
    assert entry["workflow_run_id"] == run_id


@pytest.mark.usefixtures("no_env_run")
def test_plain_thread_does_not_inherit_the_run(
    event_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """A thread that does not join a run sees none; its event is rejected for lacking a run."""
    seen: list[str | None] = []

    def work() -> None:
        seen.append(wflogging.current_run_id())
        event_log.logger.info("orphan", extra=valid_fields(task_id="orphan"))

    with wflogging.workflow_run():
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    assert seen == [None]
    assert event_log.entries() == []
    [reject] = event_log.rejects()
    assert [reason["path"] for reason in reject["reasons"]] == ["workflow_run_id"]
    assert "workflow_run_id" in capsys.readouterr().err


# --- environment fallback and child processes ----------------------------------------


def test_current_run_id_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no active run, WFLOGGING_RUN_ID (canonicalised) is current; an active run takes precedence."""
    from_env = uuid.uuid4()
    monkeypatch.setenv(wflogging.RUN_ID_ENV, str(from_env).upper())
    assert wflogging.current_run_id() == str(from_env)
    with wflogging.workflow_run() as run_id:
        assert wflogging.current_run_id() == run_id != str(from_env)
    monkeypatch.setenv(wflogging.RUN_ID_ENV, "not a uuid")
    assert wflogging.current_run_id() is None


_CHILD_SCRIPT = """
import json, logging, sys
import wflogging

path, fields = sys.argv[1], json.loads(sys.argv[2])
logger = logging.getLogger("child")
logger.propagate = False
logger.setLevel(logging.INFO)
handler = wflogging.TaskEventHandler(path)
logger.addHandler(handler)
logger.info("child task", extra=fields)
handler.close()
print(wflogging.current_run_id())
"""


def test_child_process_logs_under_the_run_in_its_environment(tmp_path: Path) -> None:
    """A child process started with WFLOGGING_RUN_ID writes its events under that run."""
    events = tmp_path / "events.jsonl"
    with wflogging.workflow_run() as run_id:
        environment = {**os.environ, wflogging.RUN_ID_ENV: run_id}
        child = subprocess.run(
            [sys.executable, "-c", _CHILD_SCRIPT, str(events), json.dumps(valid_fields(task_id="child"))],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == run_id
    [line] = events.read_text(encoding="utf-8").splitlines()
    entry = json.loads(line)
    assert (entry["task_id"], entry["workflow_run_id"]) == ("child", run_id)


# --- stamping the record ---------------------------------------------------------------


def _queued_logger() -> tuple[logging.Logger, queue.Queue[logging.LogRecord]]:
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    logger = unique_logger()
    logger.addHandler(logging.handlers.QueueHandler(records))
    return logger, records


@pytest.mark.usefixtures("no_env_run")
def test_record_factory_stamps_the_run_where_the_record_is_made() -> None:
    """A record made inside a run and formatted after the run ended still yields that run."""
    logger, records = _queued_logger()
    with wflogging.workflow_run() as run_id:
        logger.info("queued", extra=valid_fields())
    assert wflogging.current_run_id() is None
    line = wflogging.TaskEventFormatter().format(records.get_nowait())
    assert json.loads(line)["workflow_run_id"] == run_id


@pytest.mark.usefixtures("no_env_run")
def test_run_context_filter_stamps_when_the_record_factory_was_replaced() -> None:
    """With a non-chaining record factory installed later, RunContextFilter on the logger stamps the run."""
    formatter = wflogging.TaskEventFormatter()
    original_factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        unfiltered, unfiltered_records = _queued_logger()
        filtered, filtered_records = _queued_logger()
        filtered.addFilter(wflogging.RunContextFilter())
        with wflogging.workflow_run() as run_id:
            unfiltered.info("lost", extra=valid_fields())
            filtered.info("kept", extra=valid_fields())
    finally:
        logging.setLogRecordFactory(original_factory)
    # Without the filter the run is gone by the time the record is formatted: proof the filter is needed.
    with pytest.raises(wflogging.TaskEventRejected, match="workflow_run_id"):
        formatter.entry(unfiltered_records.get_nowait())
    assert formatter.entry(filtered_records.get_nowait())["workflow_run_id"] == run_id


@pytest.mark.parametrize(
    "key", ["run_id", "workflow_run", "current_run", "wflogging_run_id", "_run_id", "run", "context"]
)
def test_stamped_attribute_never_collides_with_user_extra(event_log: EventLog, run_id: str, key: str) -> None:
    """Users' own extra keys that sound like a run never clash with what wflogging stamps."""
    event_log.logger.info("event", extra=valid_fields(**{key: "users value"}))
    event_log.logger.info("plain", extra={key: "users value"})
    [entry] = event_log.entries()
    assert entry["workflow_run_id"] == run_id


def test_explicit_workflow_run_id_in_extra_wins(event_log: EventLog, run_id: str) -> None:
    """A `workflow_run_id` given in extra is written, not the run current at the call."""
    explicit = uuid.uuid4()
    event_log.logger.info("event", extra=valid_fields(workflow_run_id=explicit))
    event_log.logger.info("event", extra=valid_fields(workflow_run_id=str(explicit).upper()))
    assert [entry["workflow_run_id"] for entry in event_log.entries()] == [str(explicit)] * 2
    assert run_id != str(explicit)


# --- queue mode: formatted on the listener's thread after the run has ended -----------------


@pytest.mark.usefixtures("no_env_run")
def test_queue_listener_formats_after_the_run_ended(tmp_path: Path) -> None:
    """QueueHandler -> QueueListener -> TaskEventHandler: entries carry the run they were logged in."""
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    logger = unique_logger()
    logger.addHandler(logging.handlers.QueueHandler(records))
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    runs = []
    for number in range(3):
        with wflogging.workflow_run() as run_id:
            logger.info("queued", extra=valid_fields(task_id=str(number)))
            logger.info("not an event")
        runs.append(run_id)
    # Only now, with every run over, does the listener thread format the records.
    listener = logging.handlers.QueueListener(records, handler)
    listener.start()
    listener.stop()
    handler.close()
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["workflow_run_id"] for line in lines] == runs
    assert not (tmp_path / "events.rejects.jsonl").exists()


@pytest.mark.skipif(
    sys.version_info < (3, 12), reason="the dictConfig queue_handler form (handlers: [...]) is new in 3.12"
)
@pytest.mark.usefixtures("no_env_run")
def test_dictconfig_queue_handler_form_keeps_the_run(tmp_path: Path) -> None:
    """The 3.12+ dictConfig QueueHandler form delivers entries with the run current when logged."""
    import logging.config

    logger = unique_logger()
    events = tmp_path / "events.jsonl"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "events": {"class": "wflogging.TaskEventHandler", "filename": str(events)},
                "queued": {"class": "logging.handlers.QueueHandler", "handlers": ["events"]},
            },
            "loggers": {logger.name: {"handlers": ["queued"], "level": "INFO"}},
        }
    )
    [queue_handler] = logger.handlers
    listener = queue_handler.listener  # type: ignore[attr-defined]
    try:
        with wflogging.workflow_run() as run_id:
            logger.info("queued", extra=valid_fields())
        listener.start()
    finally:
        listener.stop()
        for handler in [queue_handler, *listener.handlers]:
            handler.close()
        logger.removeHandler(queue_handler)
    [line] = events.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["workflow_run_id"] == run_id
