"""TaskEventHandler: what reaches the events file, the rejects file, stderr and the caller."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path

import pytest

import wflogging
from tests.conftest import EventLog, unique_logger, valid_fields


def _attached(handler: logging.Handler) -> logging.Logger:
    logger = unique_logger()
    logger.addHandler(handler)
    return logger


def test_records_that_are_not_events_are_ignored(event_log: EventLog, run_id: str) -> None:
    """Plain records and third-party extras (status=200) write nothing anywhere."""
    event_log.logger.info("starting")
    event_log.logger.info("http", extra={"status": 200, "agent_name": "requests"})
    event_log.logger.error("boom", exc_info=True)
    assert event_log.path.read_bytes() == b""
    assert not event_log.rejects_path.exists()


def test_reject_goes_to_the_file_beside_the_events_file_and_one_stderr_line(
    event_log: EventLog, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """events.jsonl -> events.rejects.jsonl holds the reject; stderr gets one line naming the field."""
    assert event_log.rejects_path == event_log.path.with_name("events.rejects.jsonl")
    event_log.logger.info("bad", extra=valid_fields(task_id="t-1", status="Done"))
    assert event_log.entries() == []
    [reject] = event_log.rejects()
    assert [reason["path"] for reason in reject["reasons"]] == ["status"]
    assert reject["event"]["task_id"] == "t-1"
    assert reject["level"] == "INFO"
    assert reject["source"].startswith(__file__)
    err_lines = capsys.readouterr().err.splitlines()
    assert len(err_lines) == 1
    assert "status" in err_lines[0]
    assert str(event_log.rejects_path) in err_lines[0]


def test_rejects_filename_is_configurable(tmp_path: Path, run_id: str) -> None:
    """rejects_filename puts rejects where the user asked."""
    chosen = tmp_path / "elsewhere" / "bad.jsonl"
    chosen.parent.mkdir()
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl", rejects_filename=chosen)
    try:
        _attached(handler).info("bad", extra=valid_fields(agent_name=7))
    finally:
        handler.close()
    [line] = chosen.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["reasons"][0]["path"] == "agent_name"
    assert not (tmp_path / "events.rejects.jsonl").exists()


def test_strict_raises_to_the_caller_after_storing_the_reject(tmp_path: Path, run_id: str) -> None:
    """strict=True raises TaskEventRejected from logger.info, with the reject already on disk."""
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl", strict=True)
    try:
        with pytest.raises(wflogging.TaskEventRejected) as raised:
            _attached(handler).info("bad", extra=valid_fields(status="Done"))
    finally:
        handler.close()
    assert [problem.path for problem in raised.value.problems] == ["status"]
    [line] = (tmp_path / "events.rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["reasons"][0]["path"] == "status"


@pytest.mark.parametrize("raise_exceptions", [True, False])
def test_unwritable_events_file_never_raises_to_the_caller(
    tmp_path: Path,
    run_id: str,
    raise_exceptions: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Events path is a directory: handleError reports it (per raiseExceptions); the caller sees nothing."""
    monkeypatch.setattr(logging, "raiseExceptions", raise_exceptions)
    directory = tmp_path / "events.jsonl"
    directory.mkdir()
    handler = wflogging.TaskEventHandler(directory, delay=True)
    try:
        _attached(handler).info("lost?", extra=valid_fields())
    finally:
        handler.close()
    err = capsys.readouterr().err
    if raise_exceptions:
        assert "--- Logging error ---" in err
        assert "IsADirectoryError" in err
    else:
        assert err == ""


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions; root ignores them"
)
def test_read_only_directory_never_raises_to_the_caller(
    tmp_path: Path, run_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An events file in a read-only directory is reported through handleError, not raised."""
    monkeypatch.setattr(logging, "raiseExceptions", True)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    handler = wflogging.TaskEventHandler(locked / "events.jsonl", delay=True)
    try:
        _attached(handler).info("lost?", extra=valid_fields())
    finally:
        handler.close()
        locked.chmod(0o700)
    assert "PermissionError" in capsys.readouterr().err


def test_set_formatter_refuses_other_formatters(event_log: EventLog) -> None:
    """A TaskEventHandler only takes a TaskEventFormatter; None restores the default."""
    with pytest.raises(TypeError, match="TaskEventFormatter"):
        event_log.handler.setFormatter(logging.Formatter("%(message)s"))
    event_log.handler.setFormatter(None)
    assert isinstance(event_log.handler.formatter, wflogging.TaskEventFormatter)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_new_files_are_private(event_log: EventLog, run_id: str) -> None:
    """New events and rejects files are created 0600: prompts may hold secrets."""
    event_log.logger.info("bad", extra=valid_fields(status="Done"))
    for path in (event_log.path, event_log.rejects_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_torn_tail_is_isolated_on_its_own_line(tmp_path: Path, run_id: str) -> None:
    """An existing file ending without a newline gets one before the next event, so the event stays whole."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"event_id": "torn')
    events.chmod(0o600)  # private, as the handler would have made it: no warning
    handler = wflogging.TaskEventHandler(events)
    logger = _attached(handler)
    try:
        logger.info("one", extra=valid_fields(task_id="1"))
        logger.info("two", extra=valid_fields(task_id="2"))
    finally:
        handler.close()
    torn, *whole = events.read_bytes().split(b"\n")
    assert torn == b'{"event_id": "torn'
    assert whole[-1] == b""
    assert [json.loads(line)["task_id"] for line in whole[:-1]] == ["1", "2"]


def test_many_threads_through_one_handler_write_every_line_whole(event_log: EventLog) -> None:
    """16 threads x 500 events through one handler: every line present, whole and parseable."""
    threads_count, per_thread = 16, 500

    def work(number: int, run_id: str) -> None:
        with wflogging.workflow_run(run_id):
            prompt = chr(0x41 + number) * (100 * (number + 1))
            for index in range(per_thread):
                event_log.logger.info(
                    "e",
                    extra=valid_fields(
                        task_id=f"{number}.{index}",
                        llm_trace=[{"model_name": "m", "prompt": prompt, "completion": "ok"}],
                    ),
                )

    with wflogging.workflow_run() as run_id:
        workers = [threading.Thread(target=work, args=(number, run_id)) for number in range(threads_count)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    entries = event_log.entries()
    assert sorted(entry["task_id"] for entry in entries) == sorted(
        f"{number}.{index}" for number in range(threads_count) for index in range(per_thread)
    )
    for entry in entries:
        number = int(entry["task_id"].split(".")[0])
        assert entry["llm_trace"][0]["prompt"] == chr(0x41 + number) * (100 * (number + 1))
    assert event_log.rejects() == []
