"""Writer processes and the stream checker shared by the storage tests and the storage benchmark.

Importable by ``spawn``-ed children (no test fixtures here). Every event a writer
logs carries ``task_id = "<writer>.<seq>"`` and a prompt that names both and is
padded to a chosen size, so the checker can tell a missing, duplicated, torn or
mixed line apart from a good one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import wflogging

#: Prompt sizes cycled through by the writers: below and well past PIPE_BUF (4096).
SIZES = (200, 5_000, 20_000)
#: Every BIG_EVERY-th event gets a prompt of BIG_SIZE bytes instead.
BIG_EVERY = 700
BIG_SIZE = 3_000_000
RUN_ID = "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f"


def prompt_for(writer: str, seq: int, size: int) -> str:
    """A prompt naming its writer and sequence number, padded to ``size`` characters."""
    head = f"{writer}:{seq}:"
    pad = chr(0x61 + (zlib.crc32(writer.encode()) + seq) % 26)  # not hash(): salted per process
    return head + pad * max(0, size - len(head))


def size_for(seq: int, big_every: int = BIG_EVERY, big_size: int = BIG_SIZE) -> int:
    return big_size if big_every and seq % big_every == big_every - 1 else SIZES[seq % len(SIZES)]


def event_fields(writer: str, seq: int, size: int) -> dict[str, Any]:
    return {
        "task_id": f"{writer}.{seq}",
        "workflow_run_id": RUN_ID,
        "task_description": "stress",
        "agent_name": "/bench:writer",
        "timestamps": {"start_time_utc": "2026-03-01T10:00:00Z", "end_time_utc": "2026-03-01T10:00:01Z"},
        "status": "Success",
        "cost_data": {"tokens": {"input": seq, "output": 1}},
        "llm_trace": [{"model_name": "m", "prompt": prompt_for(writer, seq, size), "completion": "ok"}],
    }


def write_events(  # noqa: PLR0917 - a multiprocessing target: its arguments come positionally
    path: str,
    writer: str,
    count: int,
    threads: int = 1,
    big_every: int = BIG_EVERY,
    big_size: int = BIG_SIZE,
    handler_options: dict[str, Any] | None = None,
) -> None:
    """Log ``count`` events per thread, each thread through its own TaskEventHandler on ``path``."""

    def run(name: str) -> None:
        handler = wflogging.TaskEventHandler(path, **(handler_options or {}))
        logger = logging.getLogger(f"stress.{name}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            for seq in range(count):
                logger.info("e", extra=event_fields(name, seq, size_for(seq, big_every, big_size)))
        finally:
            logger.removeHandler(handler)
            handler.close()
        if handler.dropped or handler.rejects.count:
            raise SystemExit(f"{name}: {handler.dropped} events dropped, {handler.rejects.count} rejected")

    names = [f"{writer}-{number}" for number in range(threads)] if threads > 1 else [writer]
    workers = [threading.Thread(target=run, args=(name,)) for name in names]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def write_broken(path: str, writer: str, count: int, mistake: str, start: Any = None) -> None:
    """A deliberately broken writer of the same lines, to prove the checker can fail.

    ``mistake`` is ``"no_append"`` (a descriptor without ``O_APPEND``) or
    ``"two_writes"`` (the line, then its newline, in two ``write`` calls).
    ``start`` is a barrier the writers wait on, so that they really overlap.
    """
    formatter = wflogging.TaskEventFormatter()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mistake == "two_writes" else 0)
    lines = [
        formatter.format_bytes(logging.makeLogRecord(event_fields(writer, seq, size_for(seq, 0, 0))))
        for seq in range(count)
    ]
    fd = os.open(path, flags, 0o600)
    if start is not None:
        start.wait()
    try:
        for line in lines:
            if mistake == "two_writes":
                os.write(fd, line)
                os.write(fd, b"\n")
            else:
                os.write(fd, line + b"\n")
    finally:
        os.close(fd)


def check_stream(data: bytes, expected: dict[str, int]) -> list[str]:
    """Every problem with an events stream that should hold exactly ``expected[writer]`` events per writer.

    Lines are split on ``\\n`` only; each must be strict UTF-8 JSON with the
    prompt its ``task_id`` implies; every (writer, seq) must appear exactly once.
    Blank lines are skipped, as readers do: a handler that opens the file while
    another process is in the middle of a big line cannot tell it from a torn
    one, and starts its first line with a (then redundant) newline.
    """
    problems: list[str] = []
    if data and not data.endswith(b"\n"):
        problems.append("stream does not end with a newline")
    seen: Counter[tuple[str, int]] = Counter()
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):
        if not line:
            continue
        try:
            entry = json.loads(line.decode("utf-8"), parse_constant=_refuse)
            writer, seq_text = entry["task_id"].rsplit(".", 1)
            seq = int(seq_text)
            prompt = entry["llm_trace"][0]["prompt"]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            problems.append(f"line {number}: not a whole event ({type(exc).__name__}): {line[:60]!r}")
            continue
        if prompt != prompt_for(writer, seq, len(prompt)):
            problems.append(f"line {number}: prompt of {writer}.{seq} is not the one it logged")
        seen[(writer, seq)] += 1
    problems += [f"{key} written {times} times" for key, times in seen.items() if times > 1]
    for writer, count in expected.items():
        missing = [seq for seq in range(count) if (writer, seq) not in seen]
        if missing:
            problems.append(f"{writer}: {len(missing)} events missing (first: {missing[0]})")
    problems += [f"{key}: unexpected event" for key in seen if key[0] not in expected]
    return problems


def _refuse(constant: str) -> Any:
    raise ValueError(f"non-standard JSON constant {constant}")


def expected_writers(writers: Iterable[str], count: int, threads: int = 1) -> dict[str, int]:
    names: Sequence[str] = list(writers)
    if threads > 1:
        names = [f"{writer}-{number}" for writer in names for number in range(threads)]
    return dict.fromkeys(names, count)
