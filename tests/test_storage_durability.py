"""Durability you can choose: flushed to the OS by default, fsync per event or every N, drained at exit."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import wflogging
from tests import storage_workers as workers
from tests.conftest import unique_logger

_ROOT = Path(__file__).resolve().parent.parent


class FsyncSpy:
    """Wraps ``os.fsync`` (the OS-call level): counts calls, fails the ones listed in ``fail_on``."""

    def __init__(self, fail_on: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.calls = 0
        self.fail_on = fail_on
        self._real = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        self._real(fd)


def _log(handler: wflogging.TaskEventHandler, seqs: range) -> None:
    logger = unique_logger()
    logger.addHandler(handler)
    for seq in seqs:
        logger.info("e", extra=workers.event_fields("w", seq, 100))


def test_default_survives_a_process_crash(tmp_path: Path) -> None:
    """No fsync policy: every event logged before a SIGKILL is in the file, whole."""
    path = tmp_path / "events.jsonl"
    script = textwrap.dedent(
        """
        import logging, os, signal, sys
        from tests import storage_workers as workers
        import wflogging

        log = logging.getLogger("child")
        log.addHandler(wflogging.TaskEventHandler(sys.argv[1]))
        log.setLevel(logging.INFO)
        for seq in range(200):
            log.info("e", extra=workers.event_fields("w", seq, 1_000))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run([sys.executable, "-c", script, str(path)], cwd=_ROOT, check=False, timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert workers.check_stream(path.read_bytes(), {"w": 200}) == []


@pytest.mark.parametrize(("every", "events", "expected_calls"), [(1, 5, 5), (3, 7, 3)])
def test_fsync_every_n_events_and_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: int, events: int, expected_calls: int
) -> None:
    """fsync_every=N syncs after each N-th event; close() syncs the remainder (7 events, N=3: 2 + 1)."""
    spy = FsyncSpy()
    monkeypatch.setattr(os, "fsync", spy)
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl", fsync_every=every)
    _log(handler, range(events))
    assert spy.calls == events // every
    handler.close()
    assert spy.calls == expected_calls
    assert handler.not_durable == 0


def test_fsync_interval_zero_syncs_each_event_and_default_never_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync_interval=0 syncs at every event; with no policy, fsync is never called, not even at close."""
    spy = FsyncSpy()
    monkeypatch.setattr(os, "fsync", spy)
    interval = wflogging.TaskEventHandler(tmp_path / "a.jsonl", fsync_interval=0)
    _log(interval, range(4))
    interval.close()
    assert spy.calls == 4
    default = wflogging.TaskEventHandler(tmp_path / "b.jsonl")
    _log(default, range(4))
    default.flush()
    default.close()
    assert spy.calls == 4


def test_fsync_error_is_reported_once_and_never_retried_into_false_durability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fsync EIO with 3 events pending: one report, not_durable=3, no retry of that batch, events kept."""
    monkeypatch.setattr(logging, "raiseExceptions", True)
    spy = FsyncSpy(fail_on={1})
    monkeypatch.setattr(os, "fsync", spy)
    path = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(path, fsync_every=3)
    _log(handler, range(3))
    assert spy.calls == 1  # failed, and not called again for the same three events
    _log(handler, range(3, 6))
    handler.close()
    assert spy.calls == 2  # the next batch's own fsync
    assert handler.not_durable == 3
    assert handler.dropped == 0
    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 1
    assert "may not be on disk" in err
    assert workers.check_stream(path.read_bytes(), {"w": 6}) == []


def test_interpreter_exit_syncs_pending_events(tmp_path: Path) -> None:
    """A normal exit runs logging.shutdown, which fsyncs what an interval policy left pending."""
    path = tmp_path / "events.jsonl"
    script = textwrap.dedent(
        """
        import logging, os, sys
        from tests import storage_workers as workers
        import wflogging

        real_fsync = os.fsync
        def noisy_fsync(fd):
            real_fsync(fd)
            sys.stderr.write("fsync\\n")
        os.fsync = noisy_fsync
        log = logging.getLogger("child")
        log.addHandler(wflogging.TaskEventHandler(sys.argv[1], fsync_interval=3600))
        log.setLevel(logging.INFO)
        for seq in range(10):
            log.info("e", extra=workers.event_fields("w", seq, 100))
        sys.stderr.write("logged\\n")
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=_ROOT, capture_output=True, check=True, timeout=60
    )
    assert child.stderr.decode().split() == ["logged", "fsync"]
    assert workers.check_stream(path.read_bytes(), {"w": 10}) == []
