"""Faults are reported, not fatal: full disk, read-only file system, permission denied, directory removed."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import wflogging
from tests import storage_workers as workers
from tests.conftest import unique_logger


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs (needs root, as in CI); the test is skipped where it cannot be mounted."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


class Logged:
    """A logger on a TaskEventHandler, numbering the events it logs."""

    def __init__(self, path: Path, **options: object) -> None:
        self.handler = wflogging.TaskEventHandler(path, **options)  # type: ignore[arg-type]
        self.logger = unique_logger()
        self.logger.addHandler(self.handler)
        self.seq = 0

    def log(self, count: int, size: int = 100) -> list[str]:
        task_ids = []
        for _ in range(count):
            self.logger.info("e", extra=workers.event_fields("w", self.seq, size))
            task_ids.append(f"w.{self.seq}")
            self.seq += 1
        return task_ids


def _whole_task_ids(path: Path) -> list[str]:
    return [
        item.entry["task_id"] for item in wflogging.read_events(path) if isinstance(item, wflogging.EventLine)
    ]


def _logging_errors(err: str) -> int:
    return err.count("--- Logging error ---")


@pytest.fixture(autouse=True)
def _report_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging, "raiseExceptions", True)  # handleError prints: count its reports


def test_disk_full_is_reported_once_and_writing_resumes_when_space_returns(
    tiny_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENOSPC on a real full tmpfs: one report, events counted as dropped, later events whole."""
    filler = tiny_fs / "filler"
    filler.write_bytes(b"x" * 120_000)
    events = tiny_fs / "events.jsonl"
    logged = Logged(events)
    try:
        first = logged.log(10, size=30_000)  # ~300 KB into ~130 KB of space: some fit, then ENOSPC
        assert 0 < logged.handler.dropped < 10
        filler.unlink()  # the fault clears
        later = logged.log(3, size=30_000)
    finally:
        logged.handler.close()
    err = capsys.readouterr().err
    assert _logging_errors(err) == 1
    assert "No space left on device" in err
    written = _whole_task_ids(events)
    assert written == first[: len(first) - logged.handler.dropped] + later
    torn = [item for item in wflogging.read_events(events) if isinstance(item, wflogging.TornLine)]
    assert len(torn) <= 1  # at most the fragment of the write cut short, on its own line


def test_read_only_file_system_is_reported_once_and_writing_resumes(
    tiny_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """EROFS (the tmpfs remounted read-only): one report, dropped counted, resumes after remount rw."""
    events = tiny_fs / "events.jsonl"
    logged = Logged(events, delay=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
        logged.log(4)
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
        later = logged.log(2)
    finally:
        logged.handler.close()
    err = capsys.readouterr().err
    assert _logging_errors(err) == 1
    assert "Read-only file system" in err
    assert logged.handler.dropped == 4
    assert _whole_task_ids(events) == later


def test_directory_removed_under_the_handler_is_reported_and_writing_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log directory is deleted while open: no events vanish into the unlinked file unreported."""
    directory = tmp_path / "logs"
    directory.mkdir()
    events = directory / "events.jsonl"
    logged = Logged(events)
    try:
        logged.log(1)
        shutil.rmtree(directory)
        logged.log(3)
        directory.mkdir()
        later = logged.log(2)
    finally:
        logged.handler.close()
    err = capsys.readouterr().err
    assert _logging_errors(err) == 1
    assert "FileNotFoundError" in err
    assert logged.handler.dropped == 3
    assert _whole_task_ids(events) == later


def _fail_for(path: Path, error: int, calls: list[str]) -> Callable[..., int]:
    """An ``os.write`` that fails with ``error`` on descriptors of ``path`` while ``calls`` says so."""
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if calls and os.readlink(f"/proc/self/fd/{fd}") == str(path):
            calls.pop()
            raise OSError(error, os.strerror(error))
        return real_write(fd, data)

    return write


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to tell descriptors apart")
@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EIO, errno.EFBIG])
def test_each_write_error_kind_is_reported_once_per_episode_and_counted(
    tmp_path: Path, error: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Injected at os.write: 5 failures -> 1 report and dropped=5; recovery; a new episode reports again."""
    events = tmp_path / "events.jsonl"
    failures: list[str] = []
    monkeypatch.setattr(os, "write", _fail_for(events, error, failures))
    logged = Logged(events)
    try:
        before = logged.log(2)
        failures.extend(["fail"] * 5)
        logged.log(5)
        between = logged.log(2)
        failures.extend(["fail"] * 2)
        logged.log(2)
        after = logged.log(1)
    finally:
        logged.handler.close()
    err = capsys.readouterr().err
    assert _logging_errors(err) == 2
    assert err.count(os.strerror(error)) == 2
    assert logged.handler.dropped == 7
    assert _whole_task_ids(events) == before + between + after


def test_permission_denied_at_open_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EACCES opening the file (injected at os.open: root ignores mode bits) never reaches the caller."""
    events = tmp_path / "events.jsonl"
    real_open = os.open
    denied = [True]

    def open_(path: str, flags: int, mode: int = 0o777, **kwargs: object) -> int:
        if denied[0] and path == str(events):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_)
    logged = Logged(events, delay=True)
    try:
        logged.log(3)
        denied[0] = False
        later = logged.log(1)
    finally:
        logged.handler.close()
    err = capsys.readouterr().err
    assert _logging_errors(err) == 1
    assert "PermissionError" in err
    assert logged.handler.dropped == 3
    assert _whole_task_ids(events) == later
