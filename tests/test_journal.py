"""The open-task journal and ``wflogging recover``, with real processes killed by SIGKILL."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wflogging
from tests.conftest import SOP_KEYS
from wflogging.cli import main
from wflogging.journal import OpenTask, journal_dir_for, open_tasks, process_gone, process_start
from wflogging.reader import EventLine, entry_problems, read_events
from wflogging.recovery import recover


@contextlib.contextmanager
def _logging_to(handler: logging.Handler) -> Iterator[logging.Logger]:
    """A logger of its own at INFO, writing to ``handler``; the handler is closed afterwards."""
    log = logging.getLogger(f"journal-{uuid.uuid4()}")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield log
    finally:
        log.removeHandler(handler)
        handler.close()


# A task that records CALLS calls, says "inside" on stdout, then waits for a line on stdin.
CHILD = textwrap.dedent(
    """
    import logging, sys, wflogging
    events, run_id, task_id, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    log = logging.getLogger("orchestrator")
    log.setLevel(logging.INFO)
    log.addHandler(wflogging.TaskEventHandler(events))
    with wflogging.workflow_run(run_id):
        with wflogging.record_task(log, task_id=task_id, task_description="work " + task_id,
                                   agent_name="/dev:agent") as task:
            for n in range(1, calls + 1):
                task.llm_call(model_name="model-a", prompt=f"prompt {n} \\u00e9\\u2028",
                              completion=f"reply {n}", input_tokens=10 * n, output_tokens=n,
                              cost_usd=0.001)
            print("inside", flush=True)
            sys.stdin.readline()
    print("done", flush=True)
    """
)


def start_task(events: Path, run_id: str, task_id: str, calls: int) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(events), run_id, task_id, str(calls)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "inside\n"  # the pipe says it is inside the block: no sleep
    return child


def reap(child: subprocess.Popen[str]) -> int:
    """Wait for the child and close its pipes."""
    code = child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()
    return code


def entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [item.entry for item in read_events(path) if isinstance(item, EventLine)]


def test_each_task_killed_inside_record_task_yields_exactly_one_failed_event(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    run_id = str(uuid.uuid4())
    killed = {f"k{n}": n % 4 for n in range(20)}  # 20 trials, killed after 0..3 calls
    children = {task: start_task(events, run_id, task, calls) for task, calls in killed.items()}
    live = start_task(events, run_id, "alive", 2)
    for child in children.values():
        child.send_signal(signal.SIGKILL)
        assert reap(child) == -signal.SIGKILL
    assert entries(events) == []  # no process got to log anything

    first = recover(events)

    written = entries(events)
    assert sorted(e["task_id"] for e in written) == sorted(killed)  # one each, none twice
    assert [task.header["task_id"] for task in first.alive] == ["alive"]
    for entry in written:
        assert list(entry) == SOP_KEYS
        assert entry_problems(entry) == []
        assert entry["status"] == "Failed"
        assert entry["workflow_run_id"] == run_id
        calls = killed[entry["task_id"]]
        assert [c["call_sequence"] for c in entry["llm_trace"]] == list(range(1, calls + 1))
        prompts = [f"prompt {n} \u00e9\u2028" for n in range(1, calls + 1)]
        assert [c["prompt"] for c in entry["llm_trace"]] == prompts
        assert entry["cost_data"]["llm_calls"] == calls
        assert entry["cost_data"]["tokens"]["input"] == sum(10 * n for n in range(1, calls + 1))
        assert entry["timestamps"]["end_time_utc"] >= entry["timestamps"]["start_time_utc"]
        assert entry["timestamps"]["duration_seconds"] >= 0

    second = recover(events)
    assert second.recovered == []
    assert entries(events) == written  # nothing new the second time
    assert [task.header["task_id"] for task in second.alive] == ["alive"]

    # The live task was left alone: it finishes normally, with its own single event.
    assert live.stdin is not None
    assert live.stdout is not None
    live.stdin.write("go\n")
    live.stdin.flush()
    assert live.stdout.readline() == "done\n"
    assert reap(live) == 0
    alive_events = [e for e in entries(events) if e["task_id"] == "alive"]
    assert [e["status"] for e in alive_events] == ["Success"]
    assert list(open_tasks(journal_dir_for(events))) == []
    assert recover(events).recovered == []
    assert os.listdir(journal_dir_for(events)) == []  # dead processes' files removed, the live one's at exit


KILLED_AFTER_LOGGING = textwrap.dedent(
    """
    import logging, os, signal, sys, wflogging

    class KillAfterTheEvent(logging.Handler):  # runs after the TaskEventHandler wrote the event
        def emit(self, record):
            os.kill(os.getpid(), signal.SIGKILL)

    log = logging.getLogger("orchestrator")
    log.setLevel(logging.INFO)
    log.addHandler(wflogging.TaskEventHandler(sys.argv[1]))
    log.addHandler(KillAfterTheEvent())
    with wflogging.workflow_run():
        with wflogging.record_task(log, task_id="1", task_description="d", agent_name="a") as task:
            task.llm_call(model_name="m", prompt="p", completion="c")
    """
)


def test_a_process_killed_between_its_event_and_removing_its_note_gets_none_again(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    child = subprocess.run([sys.executable, "-c", KILLED_AFTER_LOGGING, str(events)], check=False)
    assert child.returncode == -signal.SIGKILL
    [logged] = entries(events)
    assert [task.header["event_id"] for task in open_tasks(journal_dir_for(events))] == [logged["event_id"]]

    result = recover(events)

    assert [task.header["event_id"] for task in result.already_logged] == [logged["event_id"]]
    assert entries(events) == [logged]
    assert list(open_tasks(journal_dir_for(events))) == []


def test_a_normal_exit_clears_the_note_and_the_note_holds_the_calls_while_open(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(events)
    with _logging_to(handler) as log:
        with (
            wflogging.workflow_run() as run_id,
            wflogging.record_task(log, task_id="2.1", task_description="desc", agent_name="agent") as task,
        ):
            task.llm_call(model_name="m", prompt="p1", completion="c1", input_tokens=3)
            task.human_feedback(type="Approval", content="yes")
            [note] = open_tasks(journal_dir_for(events))
            assert note.header["event_id"] == task.event_id
            assert note.header["workflow_run_id"] == run_id
            assert note.pid == os.getpid()
            assert note.process["process_start"] == process_start(os.getpid())
            assert [call["prompt"] for call in note.calls] == ["p1"]
            assert note.feedback is not None
            assert note.feedback["content"] == "yes"
            assert oct(os.stat(journal_dir_for(events)).st_mode & 0o777) == "0o700"
            assert oct(os.stat(Path(journal_dir_for(events)) / note.file).st_mode & 0o777) == "0o600"
            assert recover(events).recovered == []  # our own process is alive
        assert list(open_tasks(journal_dir_for(events))) == []


def test_a_reused_pid_or_a_zombie_counts_as_gone() -> None:
    me = os.getpid()
    assert not process_gone(me, process_start(me))
    assert process_gone(me, (process_start(me) or 0) + 1)  # same pid, another start: reused
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert process_gone(child.pid, None)
    child.wait()


def test_a_symlinked_journal_is_refused_and_the_task_is_still_logged(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, journal_dir_for(events))
    handler = wflogging.TaskEventHandler(events)
    with (
        _logging_to(handler) as log,
        wflogging.workflow_run(),
        wflogging.record_task(log, task_id="1", task_description="d", agent_name="a"),
    ):
        pass
    assert [e["status"] for e in entries(events)] == ["Success"]
    assert list(elsewhere.iterdir()) == []
    assert "open-task journal" in capfd.readouterr().err


def test_redacting_handler_keeps_no_prompt_text_in_the_note(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(events, redact=True)
    with (
        _logging_to(handler) as log,
        wflogging.workflow_run(),
        wflogging.record_task(log, task_id="1", task_description="d", agent_name="a") as task,
    ):
        task.llm_call(model_name="m", prompt="secret sk-abc", completion="secret too")
        [note] = open_tasks(journal_dir_for(events))
        assert "secret" not in json.dumps(note.calls)


def test_recover_command_says_what_it_did_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    child = start_task(events, str(uuid.uuid4()), "3.1", 1)
    child.kill()
    reap(child)
    assert main(["recover", str(events)]) == 0
    assert "recovered task 3.1 (/dev:agent)" in capsys.readouterr().out
    assert main(["recover", str(events)]) == 0
    assert capsys.readouterr().out == "no open tasks\n"
    assert main(["validate", str(events)]) == 0
    assert len(entries(events)) == 1


def test_open_task_type_is_public() -> None:
    assert OpenTask.__name__ == "OpenTask"


NESTED = textwrap.dedent(
    """
    import logging, sys, wflogging
    log = logging.getLogger("orchestrator")
    log.setLevel(logging.INFO)
    log.addHandler(wflogging.TaskEventHandler(sys.argv[1]))
    with wflogging.workflow_run():
        with wflogging.record_task(log, task_id="outer", task_description="d", agent_name="a") as outer:
            outer.llm_call(model_name="m", prompt="before", completion="c")
            with wflogging.record_task(log, task_id="inner", task_description="d", agent_name="a") as inner:
                inner.llm_call(model_name="m", prompt="inner", completion="c")
            outer.llm_call(model_name="m", prompt="after", completion="c")
            print("inside", flush=True)
            sys.stdin.readline()
    """
)


def test_only_the_tasks_still_open_are_recovered(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", NESTED, str(events)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "inside\n"
    child.kill()
    reap(child)
    [inner] = entries(events)
    assert inner["task_id"] == "inner"

    [(_, event)] = recover(events).recovered

    assert event["task_id"] == "outer"
    assert [call["prompt"] for call in event["llm_trace"]] == ["before", "after"]
    assert [e["task_id"] for e in entries(events)] == ["inner", "outer"]


def test_the_journal_file_stays_small_across_many_tasks(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(events)
    big = "x" * 300_000
    with _logging_to(handler) as log:
        with wflogging.workflow_run():
            for number in range(20):  # 6 MB of prompts in all
                with wflogging.record_task(
                    log, task_id=str(number), task_description="d", agent_name="a"
                ) as t:
                    t.llm_call(model_name="m", prompt=big, completion="c")
        [notes] = Path(journal_dir_for(events)).iterdir()
        assert notes.stat().st_size < 2 * 2**20
        assert list(open_tasks(journal_dir_for(events))) == []


def test_the_journal_is_found_behind_a_queue_handler(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    target = wflogging.TaskEventHandler(events)
    queued = wflogging.TaskEventQueueHandler(handlers=[target])
    try:
        with (
            _logging_to(queued) as log,
            wflogging.workflow_run(),
            wflogging.record_task(log, task_id="q", task_description="d", agent_name="a") as task,
        ):
            [note] = open_tasks(journal_dir_for(events))
            assert note.header["event_id"] == task.event_id
    finally:
        target.close()
    assert [e["task_id"] for e in entries(events)] == ["q"]
    assert list(open_tasks(journal_dir_for(events))) == []


def test_a_handler_opened_with_recover_logs_the_dead_tasks(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    child = start_task(events, str(uuid.uuid4()), "crashed", 2)
    child.kill()
    reap(child)
    assert entries(events) == []
    handler = wflogging.TaskEventHandler(events, recover=True)
    handler.close()
    [event] = entries(events)
    assert (event["task_id"], event["status"], len(event["llm_trace"])) == ("crashed", "Failed", 2)
    wflogging.TaskEventHandler(events, recover=True).close()
    assert len(entries(events)) == 1
