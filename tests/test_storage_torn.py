"""Torn tails: a writer killed mid-write leaves at most one fragment, isolated, and reported by the reader."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import wflogging
from tests import storage_workers as workers
from tests.conftest import unique_logger

# A child that writes whole events, then has SIGKILL delivered while the kernel holds
# half of a big line: os.write is wrapped (the OS-call level) to write the first half
# and kill the process before the rest, which is what a kill mid-copy leaves behind.
_KILLED_MID_WRITE = textwrap.dedent(
    """
    import logging, os, signal, sys
    from tests import storage_workers as workers
    import wflogging

    path, whole = sys.argv[1], int(sys.argv[2])
    handler = wflogging.TaskEventHandler(path)
    log = logging.getLogger("child")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for seq in range(whole):
        log.info("e", extra=workers.event_fields("child", seq, 50_000))
    real_write = os.write

    def write_half_then_die(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        os.kill(os.getpid(), signal.SIGKILL)

    os.write = write_half_then_die
    log.info("e", extra=workers.event_fields("child", whole, 2_000_000))
    """
)

# A child that writes 8 MB events until killed; it says "ready" once it has written one.
_WRITES_UNTIL_KILLED = textwrap.dedent(
    """
    import logging, sys
    from tests import storage_workers as workers
    import wflogging

    handler = wflogging.TaskEventHandler(sys.argv[1])
    log = logging.getLogger("child")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    seq = 0
    while True:
        log.info("e", extra=workers.event_fields("child", seq, 8_000_000))
        if seq == 0:
            print("ready", flush=True)
        seq += 1
    """
)

_ROOT = Path(__file__).resolve().parent.parent


def _append_after(path: Path, count: int) -> None:
    handler = wflogging.TaskEventHandler(path)
    logger = unique_logger()
    logger.addHandler(handler)
    try:
        for seq in range(count):
            logger.info("e", extra=workers.event_fields("after", seq, 100))
    finally:
        handler.close()


def test_sigkill_mid_write_leaves_one_isolated_fragment_that_the_reader_reports(tmp_path: Path) -> None:
    """SIGKILL halfway through a 2 MB line: the next handler starts a fresh line; reader yields all whole."""
    path = tmp_path / "events.jsonl"
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_WRITE, str(path), "5"], cwd=_ROOT, check=False, timeout=120
    )
    assert child.returncode == -signal.SIGKILL
    whole_size = sum(len(line) + 1 for line in path.read_bytes().split(b"\n")[:5])
    _append_after(path, 3)

    items = list(wflogging.read_events(path))
    torn = [item for item in items if isinstance(item, wflogging.TornLine)]
    events = [item.entry["task_id"] for item in items if isinstance(item, wflogging.EventLine)]
    assert events == [f"child.{seq}" for seq in range(5)] + [f"after.{seq}" for seq in range(3)]
    [fragment] = torn
    assert fragment.offset == whole_size
    assert fragment.length > 500_000
    assert fragment.head.startswith(b'{"event_id":')
    assert path.read_bytes()[fragment.offset : fragment.offset + 12] == b'{"event_id":'


def test_sigkill_at_a_random_moment_leaves_at_most_one_torn_line(tmp_path: Path) -> None:
    """A writer of 8 MB events killed by a real SIGKILL: at most one torn line; later appends are whole."""
    path = tmp_path / "events.jsonl"
    with subprocess.Popen(
        [sys.executable, "-c", _WRITES_UNTIL_KILLED, str(path)], cwd=_ROOT, stdout=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    _append_after(path, 2)

    items = list(wflogging.read_events(path))
    torn = [item for item in items if isinstance(item, wflogging.TornLine)]
    events = [item.entry for item in items if isinstance(item, wflogging.EventLine)]
    assert len(torn) <= 1
    assert events[0]["task_id"] == "child.0"
    assert [entry["task_id"] for entry in events[-2:]] == ["after.0", "after.1"]
    for entry in events:
        writer, seq = entry["task_id"].rsplit(".", 1)
        size = 8_000_000 if writer == "child" else 100
        assert entry["llm_trace"][0]["prompt"] == workers.prompt_for(writer, int(seq), size)


def test_failed_write_makes_this_handler_resync_before_its_next_line(
    tmp_path: Path, monkeypatch: object
) -> None:
    """A write that fails after writing a fragment: the handler's next event starts on a fresh line."""
    import os

    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    path = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(path)
    logger = unique_logger()
    logger.addHandler(handler)
    real_write = os.write
    calls = {"n": 0}

    def fragment_then_enospc(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:1000]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(logging, "raiseExceptions", False)
    try:
        monkeypatch.setattr(os, "write", fragment_then_enospc)
        logger.info("e", extra=workers.event_fields("w", 0, 5_000))
        monkeypatch.setattr(os, "write", real_write)
        logger.info("e", extra=workers.event_fields("w", 1, 5_000))
    finally:
        handler.close()
    assert handler.dropped == 1
    fragment, line, end = path.read_bytes().split(b"\n")
    assert len(fragment) == 1000
    assert end == b""
    assert json.loads(line)["task_id"] == "w.1"
