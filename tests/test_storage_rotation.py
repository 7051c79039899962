"""Rotation: off by default, opt-in by size or time across processes, and external rename rotation."""

from __future__ import annotations

import gzip
import multiprocessing
import os
import re
import time
from pathlib import Path

import pytest

import wflogging
from tests import storage_workers as workers
from tests.conftest import unique_logger


def _all_lines(directory: Path) -> bytes:
    """Every file's lines (gzip ones decompressed), oldest rotation first, the live file last."""
    data = b""
    for path in sorted(directory.iterdir()):
        if path.name.endswith(".lock") or path.name == "events.jsonl":
            continue
        data += gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data + (directory / "events.jsonl").read_bytes()


def _log(handler: wflogging.TaskEventHandler, writer: str, seqs: range, size: int = 1_000) -> None:
    logger = unique_logger()
    logger.addHandler(handler)
    for seq in seqs:
        logger.info("e", extra=workers.event_fields(writer, seq, size))


def test_rotation_is_off_by_default(tmp_path: Path) -> None:
    """Without rotation options one file grows: 2 MB of events, and no other file appears."""
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    _log(handler, "w", range(200), 10_000)
    handler.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["events.jsonl"]


@pytest.mark.parametrize("compress", [False, True])
def test_size_rotation_with_four_processes_loses_and_duplicates_nothing(
    tmp_path: Path, compress: bool
) -> None:
    """4 processes rotating at 300 kB: every event in exactly one file; files over by at most 4 lines."""
    path = str(tmp_path / "events.jsonl")
    options = {"max_bytes": 300_000, "compress": compress}
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=workers.write_events, args=(path, f"p{n}", 400, 1, 0, 0, options))
        for n in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * 4
    assert (
        workers.check_stream(_all_lines(tmp_path), workers.expected_writers(["p0", "p1", "p2", "p3"], 400))
        == []
    )
    rotated = [p for p in tmp_path.iterdir() if p.name not in ("events.jsonl", "events.jsonl.lock")]
    assert len(rotated) >= 10
    name = re.compile(r"events\.\d{8}T\d{6}Z(-\d+)?\.jsonl" + (r"\.gz" if compress else ""))
    assert [p.name for p in rotated if not name.fullmatch(p.name)] == []
    if not compress:  # a soft limit: writers appending at the same moment may each add their line
        assert all(p.stat().st_size <= 300_000 + 4 * 21_000 for p in rotated)


def test_time_rotation_starts_a_new_file_in_a_new_period(tmp_path: Path) -> None:
    """rotate_interval=86400: a file last written yesterday is rotated before today's first event."""
    events = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(events, rotate_interval=86_400)
    _log(handler, "w", range(2))
    yesterday = time.time() - 86_400
    os.utime(events, (yesterday, yesterday))
    _log(handler, "w", range(2, 3))
    _log(handler, "w", range(3, 4))
    handler.close()
    [rotated] = [p for p in tmp_path.iterdir() if p.name not in ("events.jsonl", "events.jsonl.lock")]
    stamp = time.strftime("%Y%m%d", time.gmtime())
    assert rotated.name.startswith(f"events.{stamp}")
    assert workers.check_stream(rotated.read_bytes(), {"w": 2}) == []
    assert [e.entry["task_id"] for e in wflogging.read_events(events)] == ["w.2", "w.3"]  # type: ignore[union-attr]


def test_external_rename_rotation_reopens_on_inode_change(tmp_path: Path) -> None:
    """logrotate-style rename (+ create) under 2 writer processes: every event lands once, in some file."""
    path = tmp_path / "events.jsonl"
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=workers.write_events, args=(str(path), f"p{n}", 3_000, 1, 0, 0))
        for n in range(2)
    ]
    for process in processes:
        process.start()
    renamed = 0
    while any(process.is_alive() for process in processes):
        if renamed < 5 and path.exists() and path.stat().st_size > 500_000:
            renamed += 1
            os.rename(path, tmp_path / f"events.jsonl.{renamed}")
            path.touch(mode=0o600)  # logrotate's "create"
    for process in processes:
        process.join()
    assert [process.exitcode for process in processes] == [0, 0]
    assert renamed >= 1
    data = b"".join((tmp_path / f"events.jsonl.{n}").read_bytes() for n in range(1, renamed + 1))
    assert workers.check_stream(data + path.read_bytes(), {"p0": 3_000, "p1": 3_000}) == []


def test_rename_then_create_sends_later_events_to_the_new_file(tmp_path: Path) -> None:
    """One handler: events after an external rename go to the new file at the path, none to the old one."""
    events = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(events)
    _log(handler, "w", range(3))
    os.rename(events, tmp_path / "events.jsonl.1")
    _log(handler, "w", range(3, 5))
    handler.close()
    assert workers.check_stream((tmp_path / "events.jsonl.1").read_bytes(), {"w": 3}) == []
    assert [e.entry["task_id"] for e in wflogging.read_events(events)] == ["w.3", "w.4"]  # type: ignore[union-attr]
