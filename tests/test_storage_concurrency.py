"""Many writers, one file: threads and processes (fork and spawn), each with its own handler."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from tests import storage_workers as workers


def _run_processes(method: str, target: object, args_per_process: list[tuple[object, ...]]) -> None:
    context = multiprocessing.get_context(method)
    processes = [context.Process(target=target, args=args) for args in args_per_process]  # type: ignore[attr-defined]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [process.exitcode for process in processes] == [0] * len(processes)


@pytest.mark.parametrize(("method", "count"), [("spawn", 800), ("fork", 750)])
def test_processes_and_threads_append_whole_lines_far_past_pipe_buf(
    tmp_path: Path, method: str, count: int
) -> None:
    """4 processes x 2 threads, each with its own handler, lines up to 3 MB: every event once, whole."""
    path = str(tmp_path / "events.jsonl")
    writers = [f"p{number}" for number in range(4)]
    _run_processes(
        method,
        workers.write_events,
        [(path, writer, count, 2, workers.BIG_EVERY, workers.BIG_SIZE) for writer in writers],
    )
    data = Path(path).read_bytes()
    expected = workers.expected_writers(writers, count, threads=2)
    assert sum(expected.values()) >= 4_800
    assert max(len(line) for line in data.split(b"\n")) > workers.BIG_SIZE  # several-MB lines were in the mix
    assert workers.check_stream(data, expected) == []


@pytest.mark.parametrize("mistake", ["no_append", "two_writes"])
def test_checker_catches_a_broken_writer(tmp_path: Path, mistake: str) -> None:
    """The oracle can fail: 4 processes without O_APPEND, or writing line and newline apart, are caught."""
    path = str(tmp_path / "events.jsonl")
    writers = [f"p{number}" for number in range(4)]
    start = multiprocessing.get_context("fork").Barrier(len(writers))
    _run_processes("fork", workers.write_broken, [(path, writer, 600, mistake, start) for writer in writers])
    problems = workers.check_stream(Path(path).read_bytes(), workers.expected_writers(writers, 600))
    assert problems != []


def test_checker_catches_glued_torn_duplicated_and_mixed_lines() -> None:
    """Each kind of damage to a good stream is reported by the checker."""
    lines = [
        json.dumps(workers.event_fields(writer, seq, workers.size_for(seq, 0, 0))).encode()
        for writer in ("a", "b")
        for seq in range(3)
    ]
    expected = {"a": 3, "b": 3}
    good = b"\n".join(lines) + b"\n"
    assert workers.check_stream(good, expected) == []
    glued = b"\n".join([lines[0] + lines[1], *lines[2:]]) + b"\n"
    torn = good[:-10]
    duplicated = good + lines[0] + b"\n"
    mixed_prompt = good.replace(b'"a:1:', b'"b:1:', 1)
    for damaged in (glued, torn, duplicated, mixed_prompt):
        assert workers.check_stream(damaged, expected) != []
