"""Peers killed mid-line: their fragments never swallow an event of a process whose handler is already open.

The live writer's handler stays open across every kill (the case a check at open time
alone misses). Every event it logged must then be readable by our reader, by DuckDB's
``read_json(..., ignore_errors=true)``, by ``jq`` and by a plain ``for line in f`` loop
that skips what does not parse; each fragment is a line of its own, counted as torn.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

import wflogging
from tests import storage_workers as workers
from tests.conftest import unique_logger

_ROOT = Path(__file__).resolve().parent.parent

# A peer that logs one big event and is SIGKILLed once the kernel has half of it:
# os.write is wrapped to write the first half, then the process kills itself.
_PEER_KILLED_MID_LINE = textwrap.dedent(
    """
    import logging, os, signal, sys
    from tests import storage_workers as workers
    import wflogging

    path, trial = sys.argv[1], int(sys.argv[2])
    handler = wflogging.TaskEventHandler(path)
    log = logging.getLogger("peer")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    real_write = os.write

    def write_half_then_die(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        os.kill(os.getpid(), signal.SIGKILL)

    os.write = write_half_then_die
    log.info("e", extra=workers.event_fields("peer", trial, 200_000))
    """
)

# A peer that writes 1 MB events (at most 41) until it is killed; it says "ready" after its first.
# The line is formatted once and written again and again through the handler's file,
# so the peer spends its time inside write(2), where a kill leaves a fragment.
_PEER_WRITING_UNTIL_KILLED = textwrap.dedent(
    """
    import logging, sys
    from tests import storage_workers as workers
    import wflogging

    handler = wflogging.TaskEventHandler(sys.argv[1])
    record = logging.LogRecord("peer", logging.INFO, "peer.py", 0, "e", None, None)
    record.__dict__.update(workers.event_fields(sys.argv[2], 0, 1_000_000))
    line = handler.formatter.format_line(record)
    handler.file.write_line(line)
    print("ready", flush=True)
    for _ in range(40):  # bounded, so that a slow kill does not fill the disk
        handler.file.write_line(line)
    sys.stdin.read()  # then wait for the kill
    """
)

# The live writer: its handler opens once, then it logs one event per line read on stdin.
_LIVE_WRITER = textwrap.dedent(
    """
    import logging, sys
    from tests import storage_workers as workers
    import wflogging

    handler = wflogging.TaskEventHandler(sys.argv[1])
    log = logging.getLogger("live")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    seq = 0
    for command in sys.stdin:
        for _ in range(int(command)):
            log.info("e", extra=workers.event_fields("live", seq, 300))
            seq += 1
        print(seq, handler.dropped, flush=True)
    """
)


def _live_ids_by_every_reader(path: Path) -> dict[str, list[str]]:
    """The live writer's task ids as each consumer sees them."""
    ours = [
        item.entry["task_id"] for item in wflogging.read_events(path) if isinstance(item, wflogging.EventLine)
    ]
    plain: list[str] = []
    with path.open("rb") as lines:
        for line in lines:
            try:
                plain.append(json.loads(line)["task_id"])
            except ValueError:
                continue  # a fragment (or a blank line): skipped, as such loops do
    with duckdb.connect() as connection:
        rows = connection.execute(
            "select task_id from read_json(?, format='newline_delimited', ignore_errors=true,"
            " columns={task_id: 'VARCHAR'}, maximum_object_size=16777216)",
            [str(path)],
        ).fetchall()
    readers = {"read_events": ours, "for line in f": plain, "duckdb": [row[0] for row in rows]}
    if shutil.which("jq"):
        jq = subprocess.run(
            ["jq", "-R", "-r", "fromjson? | .task_id", str(path)], capture_output=True, check=True, text=True
        )
        readers["jq"] = jq.stdout.split()
    return {
        name: [task_id for task_id in ids if task_id and task_id.startswith("live.")]
        for name, ids in readers.items()
    }


def _log_in(live: subprocess.Popen[str], count: int) -> int:
    """Have the live writer log ``count`` events; returns how many it has logged in all."""
    assert live.stdin is not None
    assert live.stdout is not None
    live.stdin.write(f"{count}\n")
    live.stdin.flush()
    logged, dropped = map(int, live.stdout.readline().split())
    assert dropped == 0
    return logged


def _torn_lines(path: Path) -> list[wflogging.TornLine]:
    return [item for item in wflogging.read_events(path) if isinstance(item, wflogging.TornLine)]


def test_a_peer_killed_mid_line_never_swallows_the_next_event_of_an_open_handler(tmp_path: Path) -> None:
    """25 peers, each SIGKILLed halfway through a line, between events of a handler open all along."""
    path = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(path)
    logger = unique_logger()
    logger.addHandler(handler)
    trials = 25
    for trial in range(trials):
        logger.info("e", extra=workers.event_fields("live", 2 * trial, 300))
        peer = subprocess.run(
            [sys.executable, "-c", _PEER_KILLED_MID_LINE, str(path), str(trial)], cwd=_ROOT, check=False
        )
        assert peer.returncode == -signal.SIGKILL
        logger.info("e", extra=workers.event_fields("live", 2 * trial + 1, 300))
    handler.close()
    assert handler.dropped == 0
    expected = [f"live.{seq}" for seq in range(2 * trials)]
    for reader, ids in _live_ids_by_every_reader(path).items():
        assert ids == expected, f"{reader} lost {len(set(expected) - set(ids))} events"
    torn = _torn_lines(path)
    assert len(torn) == trials
    assert all(line.head.startswith(b'{"event_id":') for line in torn)  # each fragment alone on its line


def test_peers_killed_at_random_moments_lose_no_event_of_a_live_process(tmp_path: Path) -> None:
    """Real SIGKILLs at random moments of 1 MB writes, while another process logs: all its events readable."""
    path = tmp_path / "events.jsonl"
    kills = 20
    logged = 0
    with subprocess.Popen(
        [sys.executable, "-c", _LIVE_WRITER, str(path)],
        cwd=_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as live:
        assert live.stdin is not None
        assert live.stdout is not None
        for kill in range(kills):
            with subprocess.Popen(
                [sys.executable, "-c", _PEER_WRITING_UNTIL_KILLED, str(path), f"peer{kill}"],
                cwd=_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            ) as peer:
                assert peer.stdout is not None
                assert peer.stdout.readline() == b"ready\n"
                logged = _log_in(live, 5)  # the live writer logs while the peer writes
                os.kill(peer.pid, signal.SIGKILL)
                assert peer.wait(timeout=60) == -signal.SIGKILL
            logged = _log_in(live, 5)  # and again right after the kill, onto whatever it left
        live.stdin.close()
    expected = [f"live.{seq}" for seq in range(logged)]
    for reader, ids in _live_ids_by_every_reader(path).items():
        assert ids == expected, f"{reader} lost {len(set(expected) - set(ids))} events"
    assert len(_torn_lines(path)) <= kills
    assert (
        workers.check_stream(
            b"\n".join(line for line in path.read_bytes().split(b"\n") if b'"live.' in line[:200]) + b"\n",
            {"live": logged},
        )
        == []
    )


def test_a_forked_child_takes_the_write_lock_on_its_own_open_file(tmp_path: Path) -> None:
    """After fork the child opens the file again: its write lock is its own, not the parent's.

    flock() locks belong to the open file description, which fork shares; a child writing on
    the parent's would hold the parent's lock and exclude nothing. The child proves it: it
    takes the lock on its descriptor while the parent holds it on the parent's, and must fail.
    """
    import fcntl

    path = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(path)
    logger = unique_logger()
    logger.addHandler(handler)
    logger.info("e", extra=workers.event_fields("parent", 0, 100))
    parent_fd = handler.file._fd
    assert parent_fd is not None
    fcntl.flock(parent_fd, fcntl.LOCK_EX)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on, only os._exit
        code = 1
        try:
            handler.file.open()
            child_fd = handler.file._fd
            assert child_fd is not None
            try:
                fcntl.flock(child_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                code = 2  # got it: the parent's lock did not exclude the child
            except BlockingIOError:
                code = 0
        finally:
            os.write(writer, bytes([code]))
            os._exit(0)
    os.close(writer)
    verdict = os.read(reader, 1)
    os.close(reader)
    os.waitpid(pid, 0)
    fcntl.flock(parent_fd, fcntl.LOCK_UN)
    handler.close()
    assert verdict == b"\x00", {b"\x01": "the child failed", b"\x02": "the child shared the parent's lock"}[
        verdict
    ]
