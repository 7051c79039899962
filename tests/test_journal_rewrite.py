"""The open-task journal writes its notes over old ones once no task is open: nothing closed comes back.

Between tasks the journal writes from the start again instead of appending, so its file
holds, after the current notes, the tail of earlier rounds. These tests hold the promise
that a reader (``recover``) still finds exactly the tasks open now, with exactly their calls:
with tasks of every size in any order (hypothesis), and with a real process killed by SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.test_journal import entries, reap
from wflogging.journal import Note, OpenTaskJournal, journal_dir_for, open_tasks
from wflogging.recovery import recover

# Prompts of 0 to 3,000 characters, ASCII and wider: lines of many lengths, ends at many offsets.
PROMPTS = st.text(alphabet=st.sampled_from('ab \n"\\é—日🚀\u2028'), max_size=3000)


class Journal(RuleBasedStateMachine):
    """Tasks open, record calls and close in any order; the journal always reads back as the model."""

    @initialize()
    def start(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="journal-rewrite-")
        self.journal = OpenTaskJournal(self.directory)
        self.notes: dict[str, Note] = {}
        self.calls: dict[str, list[str]] = {}
        self.ever_opened = 0

    @rule()
    def open_a_task(self) -> None:
        event_id = str(uuid.uuid4())
        note = self.journal.open_note({"event_id": event_id, "task_id": f"t{self.ever_opened}"})
        assert note is not None
        self.ever_opened += 1
        self.notes[event_id] = note
        self.calls[event_id] = []

    @precondition(lambda self: bool(self.notes))
    @rule(data=st.data(), prompt=PROMPTS)
    def record_a_call(self, data: st.DataObject, prompt: str) -> None:
        event_id = data.draw(st.sampled_from(sorted(self.notes)))
        self.notes[event_id].add_call({"model_name": "m", "prompt": prompt, "completion": "c"}, {})
        self.calls[event_id].append(prompt)

    @precondition(lambda self: bool(self.notes))
    @rule(data=st.data())
    def close_a_task(self, data: st.DataObject) -> None:
        event_id = data.draw(st.sampled_from(sorted(self.notes)))
        self.notes.pop(event_id).close()
        del self.calls[event_id]

    @invariant()
    def reads_back_exactly_the_open_tasks_with_their_calls(self) -> None:
        found = {
            task.header["event_id"]: [call["prompt"] for call in task.calls]
            for task in open_tasks(self.directory)
        }
        assert found == self.calls

    def teardown(self) -> None:
        for note in self.notes.values():
            note.close()
        self.journal.remove_own_file()


TestJournalRewrite = Journal.TestCase
TestJournalRewrite.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# Rounds of closed tasks, long then short, so that the file holds old notes past the new ones;
# then an outer task stays open (with a closed task nested in it) until the process is killed.
ROUNDS_THEN_KILLED = textwrap.dedent(
    """
    import logging, sys, wflogging
    log = logging.getLogger("orchestrator")
    log.setLevel(logging.INFO)
    log.addHandler(wflogging.TaskEventHandler(sys.argv[1]))

    def task(task_id, prompts):
        with wflogging.record_task(log, task_id=task_id, task_description="d", agent_name="a") as t:
            for prompt in prompts:
                t.llm_call(model_name="m", prompt=prompt, completion="c")

    with wflogging.workflow_run():
        task("long", ["x" * 40_000, "y\\u2028" * 9_000, "z" * 20_000])
        task("medium", ["m" * 3_000])
        task("short", ["s"])
        with wflogging.record_task(log, task_id="outer", task_description="d", agent_name="a") as outer:
            outer.llm_call(model_name="m", prompt="o1", completion="c")
            task("inner", ["i" * 5_000])
            outer.llm_call(model_name="m", prompt="o2", completion="c")
            print("inside", flush=True)
            sys.stdin.readline()
    """
)


def test_a_process_killed_after_rounds_of_tasks_leaves_only_its_open_task_to_recover(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", ROUNDS_THEN_KILLED, str(events)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "inside\n"
    child.send_signal(signal.SIGKILL)
    assert reap(child) == -signal.SIGKILL
    [notes] = Path(journal_dir_for(events)).iterdir()
    assert notes.stat().st_size > 80_000  # the long task's notes are still there, past the new ones

    result = recover(events)

    [(_, event)] = result.recovered
    assert (event["task_id"], event["status"]) == ("outer", "Failed")
    assert [call["prompt"] for call in event["llm_trace"]] == ["o1", "o2"]
    assert [e["task_id"] for e in entries(events)] == ["long", "medium", "short", "inner", "outer"]
    assert recover(events).recovered == []


# Python 3.12+ warns on fork() while other threads run (a queue listener left by another test,
# say); the child here only records and _exits, which that warning is not about.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_writes_nothing_into_its_parents_notes(tmp_path: Path) -> None:
    journal = OpenTaskJournal(tmp_path / "journal")
    note = journal.open_note({"event_id": str(uuid.uuid4()), "task_id": "parent"})
    assert note is not None
    note.add_call({"model_name": "m", "prompt": "p1", "completion": "c"}, {})
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: once the parent has written more, records on the task it inherited
        try:
            os.close(go_write)
            os.read(go_read, 1)
            note.add_call({"model_name": "m", "prompt": "from the child", "completion": "c"}, {})
            note.close()
        finally:
            os._exit(0)
    os.close(go_read)
    note.add_call({"model_name": "m", "prompt": "p2", "completion": "c"}, {})
    os.write(go_write, b"x")
    os.close(go_write)
    os.waitpid(pid, 0)

    [task] = open_tasks(tmp_path / "journal")

    assert task.header["task_id"] == "parent"
    assert [call["prompt"] for call in task.calls] == ["p1", "p2"]
    note.close()
    journal.remove_own_file()
