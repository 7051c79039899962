"""The open-task journal: notes of the tasks being recorded, so a crash cannot lose one.

:func:`~wflogging.record_task` logs its event when the task ends. A process that
dies inside the block (``SIGKILL``, the OOM killer, a power loss with ``fsync``
on) never gets there, and without a note the task would leave no trace at all.
So the recorder notes the task on entry, appends each LLM call (and the human's
feedback) as the task records them, and notes the end once the task's event is
logged. :func:`~wflogging.recover` (``wflogging recover EVENTS_FILE``) turns each open
task of a process that is gone into one ``Failed`` event.

Where the journal lives
    A directory beside the events file: ``<events file>.open/``
    (``events.jsonl`` -> ``events.jsonl.open/``), created ``0700`` at the first
    note. :class:`~wflogging.TaskEventHandler` owns it (``journal=True``, the
    default; ``journal="/some/dir"`` puts it elsewhere, ``journal=False`` turns it
    off) and exposes it as ``handler.open_task_journal``. ``record_task`` finds it
    by walking the handlers its logger reaches (as logging does, following
    ``propagate``), looking behind a queue handler's ``listener`` too (a
    :class:`~wflogging.TaskEventQueueHandler` with ``handlers=``, or Python 3.12's
    ``dictConfig`` form); pass ``record_task(..., journal=...)`` when the handler
    is out of its reach (in another process, say), or ``journal=False`` to write
    no note.

The notes of one process
    Each process (each journal in it) writes its own file,
    ``<pid>-<random>.tasks`` (mode ``0600``), of JSON lines. The first line says
    which process writes it: ``{"process": {"pid", "process_start", "host"}}``,
    where ``process_start`` is the process's start time in clock ticks from
    ``/proc`` (where there is one), to tell a reused pid. The file is created
    under a temporary name and renamed, so it is never seen without that line.
    Then, each in one ``pwrite`` after the line before it:
    ``{"open": {event_id, workflow_run_id, task_id, task_description, agent_name,
    start_time_utc}, "at": T}`` on entry; ``{"call": {...}, "usage": {...}, "id":
    EVENT_ID, "at": T}`` per call; ``{"feedback": {...}, "id": ..., "at": T}``;
    ``{"close": EVENT_ID, "at": T}`` at the end (``T``: seconds since the epoch).

    Once no task of the process is open (its last ``close`` is written), the next
    note goes right after the first line again, over the notes before it. The same
    pages of the page cache are then rewritten task after task: on ext4, rewriting
    1.4 MB of notes took about 80 µs where appending them to fresh pages took 450 µs;
    and the file stays as large as the most notes its open tasks ever held. What
    lies past the current notes is the tail of earlier rounds, every task of which
    was closed before its round ended; as a task's ``close`` comes after all its
    lines, a tail that holds a task's ``open`` holds its ``close`` too (a line cut
    where the tail starts is no JSON object and is skipped). A reader therefore
    finds exactly the tasks open now. A file that grew past 4 MiB is truncated
    back to its first line at that moment, so one huge task leaves no huge file
    behind. An orchestrator whose tasks always overlap keeps writing after its
    notes until a pause comes. A forked child writes a file of its own from its
    first note; it writes nothing about the tasks it inherited open from its parent
    (their notes stay the parent's). An interpreter that exits normally removes its file.

    Files are opened relative to the directory's descriptor with ``O_NOFOLLOW``,
    and a journal directory that is a symlink, is not ours, or is writable by
    others is refused (one line on stderr; tasks then run without notes). When
    the handler redacts, notes keep no prompt, completion or feedback text (a
    marker instead): the journal must not hold what the events file may not.

Durability
    A note is in the operating system when ``record_task``'s entry returns (and
    each call when ``llm_call`` returns), which survives the process being
    killed. When the handler has an ``fsync`` policy, every journal write is
    ``fsync``-ed too, which survives a power loss. A journal that cannot be
    written never breaks the task: one line on stderr per episode of failures.

What ``recover`` writes
    For each open task of a process that is gone (no such pid, a zombie, or the
    pid now belongs to a process started at another time), exactly one event
    with the SOP's ten fields: ``status`` ``Failed``; the note's ``event_id``,
    run, task, agent, description and start; ``end_time_utc``: the time of the
    task's last journal line (its entry, a call or its feedback: the last sign
    of life there is, never before the start); ``llm_trace``: the calls it
    recorded; ``cost_data``: their roll-up (tokens, and money where a call
    reported its ``cost_usd``) plus ``"recovered": {"reason": "process gone",
    "pid": ..., "host": ..., "end_time": "last journal update"}``;
    ``human_feedback``: the note's, else ``null``. Then it removes the dead
    process's file. Tasks whose process is alive, and files from another host,
    are left alone. ``recover`` holds an exclusive lock on the journal
    directory, and skips any task whose ``event_id`` is already in the events
    file or its rotated files: running it twice, or twice at once, or after a
    process that died between logging an event and noting its end, writes no
    second event. Run it on the host (and in the pid namespace) of the writers:
    by hand, from a periodic job, or by opening the handler with
    ``TaskEventHandler(..., recover=True)`` when the orchestrator starts.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import errno
import fcntl
import glob
import json
import logging
import os
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import attrs

from wflogging.terminal import say

__all__ = [
    "EventWriter",
    "Note",
    "OpenTask",
    "OpenTaskJournal",
    "Recovery",
    "journal_dir_for",
    "open_tasks",
    "recover_into",
]

JOURNAL_SUFFIX = ".open"
NOTES_SUFFIX = ".tasks"
_TEMP_SUFFIX = ".tmp"
_REDACTED = "[not kept in the open-task journal: the handler redacts]"
_UTC = dt.timezone.utc
# When no task is open, notes start again after the first line, over the old ones (module
# docstring); a file that grew past this size is also truncated back to its first line then.
# Truncating at every task end would cost more: the next notes would need fresh pages.
_SHRINK_AT = 4 << 20
# No O_APPEND: each line is written at an explicit offset (on Linux, O_APPEND makes pwrite append).
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def journal_dir_for(events_path: str | os.PathLike[str]) -> str:
    """The default journal directory of an events file: ``<path>.open``."""
    return os.path.abspath(os.fspath(events_path)) + JOURNAL_SUFFIX


# --- this process ---------------------------------------------------------------------


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``), or ``None``."""
    state_and_start = _proc_stat(pid)
    return None if state_and_start is None else state_and_start[1]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start ticks) of ``pid`` from ``/proc/<pid>/stat``; ``None`` where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            text = stream.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold anything: split after the last ')'.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])  # field 3 (state) and field 22 (starttime)
    except (IndexError, ValueError):
        return None


class _Self:
    """This process's pid, start time and host, read once per process (again after a fork)."""

    def __init__(self) -> None:
        self.pid = -1
        self.start: int | None = None
        self.host = ""

    def facts(self) -> tuple[int, int | None, str]:
        pid = os.getpid()
        if pid != self.pid:
            import socket  # here, not at the top: it costs an orchestrator's start-up a few ms

            self.start = process_start(pid)
            self.host = socket.gethostname()
            self.pid = pid
        return self.pid, self.start, self.host


_SELF = _Self()


# --- writing notes ---------------------------------------------------------------------


def _dumps_stdlib(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=True, default=_as_text, separators=(",", ":")) + "\n").encode(
        "ascii"
    )


def _dumps_fastest() -> Callable[[Any], bytes]:
    """One JSON line, with orjson when installed; anything not JSON-able is written as its ``str``."""
    try:
        import orjson
    except ImportError:
        return _dumps_stdlib
    encode = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE

    def dumps(value: Any) -> bytes:
        try:
            return encode(value, default=_as_text, option=newline)
        except TypeError:  # a lone surrogate, a non-str key...: the stdlib escapes them
            return _dumps_stdlib(value)

    return dumps


_dumps = _dumps_fastest()


def _as_text(value: object) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is None else value.astimezone(_UTC)
        return moment.isoformat(timespec="microseconds").replace("+00:00", "") + "Z"
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} with a failing str()>"


class _ProcessFile:
    """This process's notes file in one journal: its descriptor, and where the next note goes."""

    __slots__ = ("dir_fd", "end", "fd", "head_length", "name", "open_tasks", "pid", "size")

    def __init__(self, dir_fd: int, fd: int, name: str, head_length: int, pid: int) -> None:
        self.dir_fd = dir_fd
        self.fd = fd
        self.name = name
        self.head_length = head_length
        self.pid = pid
        self.open_tasks = 0
        self.end = head_length  # where the next note is written
        self.size = head_length  # the file's length: when to shrink it


class OpenTaskJournal:
    """A directory of open-task notes (see the module docstring).

    Args:
        directory: where the notes go (created ``0700`` at the first note).
        redact: keep no prompt, completion or feedback text in notes.
        sync: ``fsync`` each write.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, redact: bool = False, sync: bool = False
    ) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        self.redact = redact
        self.sync = sync
        self._file: _ProcessFile | None = None
        self._lock = threading.Lock()
        self._failing = False  # a failure was reported; quiet until a write works again
        _JOURNALS.add(self)

    def open_note(self, header: Mapping[str, Any]) -> Note | None:
        """Note a task starting now; ``None`` (never an exception) if it cannot be noted."""
        event_id = header["event_id"]
        line = _dumps({"open": header, "at": time.time()})
        try:
            with self._lock:
                file = self._own_file()
                self._write(file, line)
                file.open_tasks += 1
        except Exception as exc:
            self._failed(f"{type(exc).__name__}: {exc}", forget_file=True)
            return None
        if self._failing:
            self._failing = False
        return Note(self, file, event_id)

    def _own_file(self) -> _ProcessFile:
        """This process's file, created at the first note (and again in a forked child)."""
        file = self._file
        pid = os.getpid()
        if file is not None and file.pid == pid:
            return file
        dir_fd = _open_own_directory(self.directory)
        try:
            facts = _SELF.facts()
            head = _dumps({"process": {"pid": facts[0], "process_start": facts[1], "host": facts[2]}})
            name = f"{pid}-{os.urandom(6).hex()}{NOTES_SUFFIX}"
            temp = f".{name}{_TEMP_SUFFIX}"
            fd = os.open(temp, _FILE_FLAGS, 0o600, dir_fd=dir_fd)
            try:
                os.write(fd, head)
                if self.sync:
                    os.fsync(fd)
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                if self.sync:
                    os.fsync(dir_fd)
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)
                raise
        except BaseException:
            os.close(dir_fd)
            raise
        self._file = _ProcessFile(dir_fd, fd, name, len(head), pid)
        return self._file

    def _write(self, file: _ProcessFile, line: bytes) -> None:
        fd = file.fd
        written = os.pwrite(fd, line, file.end)
        while written < len(line):  # a short write (a full disk): the rest, or the error
            more = os.pwrite(fd, memoryview(line)[written:], file.end + written)
            if more == 0:
                raise OSError(errno.ENOSPC, "the journal file took no more bytes")
            written += more
        file.end += written
        if file.end > file.size:  # noqa: PLR1730 - no call to max() per note
            file.size = file.end
        if self.sync:
            os.fsync(fd)

    def _append(self, file: _ProcessFile, value: Mapping[str, Any]) -> None:
        line = _dumps(value)
        try:
            with self._lock:
                if file is self._file:
                    self._write(file, line)
        except Exception as exc:
            self._failed(f"{type(exc).__name__}: {exc}")

    def _close(self, file: _ProcessFile, event_id: str) -> None:
        try:
            with self._lock:
                if file is not self._file:
                    return  # a file given up on, or the parent's (after a fork)
                file.open_tasks -= 1
                self._write(file, _dumps({"close": event_id, "at": time.time()}))
                if not file.open_tasks:  # nothing open: the next notes go over these (module docstring)
                    file.end = file.head_length
                    if file.size > _SHRINK_AT:
                        os.ftruncate(file.fd, file.head_length)
                        file.size = file.head_length
        except Exception as exc:
            # The task's "open" stays without its "close": nothing may ever be written over
            # the notes before it (a tail must hold no open task), so the next note starts a new file.
            self._failed(f"{type(exc).__name__}: {exc}", forget_file=True)

    def _failed(self, why: str, *, forget_file: bool = False) -> None:
        """Say the first failure of an episode on stderr; the next note tries again."""
        with self._lock:
            first = not self._failing
            self._failing = True
            if forget_file:
                # A new file at the next note. The old descriptors are not closed: notes may
                # still hold them, and a closed number could meanwhile name another file.
                self._file = None
        if first:
            _warn(f"open-task journal {self.directory}: {why}; tasks run without notes until it works")

    def remove_own_file(self) -> None:
        """Remove this process's file if no task is open in it (done at interpreter exit)."""
        with self._lock:
            file = self._file
            if file is None or file.pid != os.getpid() or file.open_tasks:
                return
            self._file = None
            with contextlib.suppress(OSError):
                os.unlink(file.name, dir_fd=file.dir_fd)
                os.close(file.fd)
                os.close(file.dir_fd)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.directory}>"


_JOURNALS: weakref.WeakSet[OpenTaskJournal] = weakref.WeakSet()


def _forget_files_in_child() -> None:
    """After ``fork``: the parent's files stay the parent's; the child starts its own at its first note.

    A note the child inherited then writes nothing (its file is no longer the journal's):
    its writes, at the offsets the parent had reached when it forked, would land on the
    notes the parent writes since.
    """
    for journal in list(_JOURNALS):
        journal._file = None
        journal._lock = threading.Lock()  # another thread may have held it when the process forked


os.register_at_fork(after_in_child=_forget_files_in_child)


@atexit.register
def _remove_files_at_exit() -> None:
    for journal in list(_JOURNALS):
        journal.remove_own_file()


def _open_own_directory(path: str) -> int:
    """The directory's descriptor, creating it ``0700``; refuses a symlink, another's or a shared one."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    fd = os.open(path, _DIR_FLAGS)  # O_NOFOLLOW: a symlink planted here fails (ELOOP)
    info = os.fstat(fd)
    problem = None
    if info.st_uid != os.geteuid():
        problem = "is owned by another user"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = "is writable by others"
    if problem is not None:
        os.close(fd)
        raise PermissionError(f"the journal directory {problem}")
    return fd


class Note:
    """One open task's note: add its calls and feedback, then :meth:`close` it."""

    __slots__ = ("_closed", "_event_id", "_file", "_journal")

    def __init__(self, journal: OpenTaskJournal, file: _ProcessFile, event_id: str) -> None:
        self._journal = journal
        self._file = file
        self._event_id = event_id
        self._closed = False

    def add_call(self, call: Mapping[str, Any], usage: Mapping[str, Any]) -> None:
        """Append one call (``call``: the trace item; ``usage``: what feeds ``cost_data``)."""
        if self._journal.redact:
            call = {**call, "prompt": _REDACTED, "completion": _REDACTED}
        used = (
            {key: value for key, value in usage.items() if value is not None and key != "model_name"}
            if usage
            else {}  # the usual call, which reported no usage
        )
        self._journal._append(
            self._file, {"call": call, "usage": used, "id": self._event_id, "at": time.time()}
        )

    def add_feedback(self, feedback: Mapping[str, Any]) -> None:
        """Record the human's feedback (the last one written wins, as in the event)."""
        if self._journal.redact:
            feedback = {**feedback, "content": _REDACTED}
        self._journal._append(self._file, {"feedback": feedback, "id": self._event_id, "at": time.time()})

    def close(self) -> None:
        """The task's event was logged (or left out on purpose): the task is no longer open."""
        if not self._closed:
            self._closed = True
            self._journal._close(self._file, self._event_id)


def journal_of(logger: logging.Logger | logging.LoggerAdapter[Any]) -> OpenTaskJournal | None:
    """The journal of the first handler ``logger`` reaches that has one (as logging walks handlers)."""
    current: Any = logger
    while isinstance(current, logging.LoggerAdapter):
        current = current.logger
    while current is not None:
        for handler in current.handlers:
            journal = _journal_of_handler(handler)
            if journal is not None:
                return journal
        if not current.propagate:
            return None
        current = current.parent
    return None


def _journal_of_handler(handler: object) -> OpenTaskJournal | None:
    """A handler's journal, or that of a handler behind its queue listener (a ``QueueHandler``'s)."""
    journal = getattr(handler, "open_task_journal", None)
    if isinstance(journal, OpenTaskJournal):
        return journal
    listener = getattr(handler, "listener", None)
    for inner in getattr(listener, "handlers", None) or ():
        journal = getattr(inner, "open_task_journal", None)
        if isinstance(journal, OpenTaskJournal):
            return journal
    return None


def _warn(line: str) -> None:
    say(f"wflogging: {line}")


# --- reading notes and recovering -------------------------------------------------------


@attrs.frozen
class OpenTask:
    """An open task as read back from a journal: its note, calls, feedback and last sign of life."""

    #: The notes file it was read from.
    file: str
    #: The process that wrote it (``pid``, ``process_start``, ``host``).
    process: dict[str, Any]
    #: What ``record_task`` knew on entry (``event_id``, run, task, agent, description, start).
    header: dict[str, Any]
    calls: list[dict[str, Any]]
    usage: list[dict[str, Any]]
    feedback: dict[str, Any] | None
    #: The time of its last journal line.
    last_update: dt.datetime

    @property
    def pid(self) -> int:
        pid = self.process.get("pid")
        return pid if isinstance(pid, int) and not isinstance(pid, bool) else -1


@attrs.frozen
class Recovery:
    """What :func:`~wflogging.recover` did."""

    #: (task, the ``Failed`` event written) for each open task whose process was gone.
    recovered: list[tuple[OpenTask, dict[str, Any]]] = attrs.field(factory=list)
    #: Open tasks of dead processes whose event was already in the events file (nothing written).
    already_logged: list[OpenTask] = attrs.field(factory=list)
    #: Open tasks left alone because their process is alive.
    alive: list[OpenTask] = attrs.field(factory=list)
    #: Open tasks left alone because they ran on another host.
    other_host: list[OpenTask] = attrs.field(factory=list)
    #: Files in the journal that could not be read or acted on (left in place), with why.
    unreadable: list[tuple[str, str]] = attrs.field(factory=list)


class _Building:
    __slots__ = ("calls", "feedback", "header", "last", "usage")

    def __init__(self, header: dict[str, Any], at: float) -> None:
        self.header = header
        self.calls: list[dict[str, Any]] = []
        self.usage: list[dict[str, Any]] = []
        self.feedback: dict[str, Any] | None = None
        self.last = at


def read_notes_file(dir_fd: int, name: str) -> tuple[dict[str, Any], list[OpenTask]]:
    """A process's notes file: (its process line, the tasks still open). A torn last line is ignored."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise ValueError("not a regular file")
        lines = stream.read().split(b"\n")
    head = json.loads(lines[0])
    if not isinstance(head, dict) or not isinstance(head.get("process"), dict):
        raise ValueError("no process on its first line")
    process: dict[str, Any] = head["process"]
    building: dict[str, _Building] = {}
    for raw in lines[1:]:
        try:
            item = json.loads(raw)
        except ValueError:
            continue  # blank, or torn by the kill
        if not isinstance(item, dict):
            continue
        at = item.get("at")
        at = at if isinstance(at, (int, float)) and not isinstance(at, bool) else 0.0
        if isinstance(item.get("open"), dict) and "event_id" in item["open"]:
            building[str(item["open"]["event_id"])] = _Building(item["open"], at)
        elif "close" in item:
            building.pop(str(item["close"]), None)
        else:
            task = building.get(str(item.get("id")))
            if task is None:
                continue
            task.last = max(task.last, at)
            if isinstance(item.get("call"), dict):
                task.calls.append(item["call"])
                used = item.get("usage")
                task.usage.append(used if isinstance(used, dict) else {})
            elif isinstance(item.get("feedback"), dict):
                task.feedback = item["feedback"]
    tasks = [
        OpenTask(
            name, process, t.header, t.calls, t.usage, t.feedback, dt.datetime.fromtimestamp(t.last, _UTC)
        )
        for t in building.values()
    ]
    return process, tasks


def process_gone(pid: int, started: object) -> bool:
    """Whether ``pid`` (started at ``started`` ticks, if known) no longer runs."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # someone else's process: it exists
    now = _proc_stat(pid)
    if now is None:
        return False
    state, start = now
    if state == "Z":
        return True  # killed, not yet reaped by its parent
    return isinstance(started, int) and start != started  # the pid was reused


class EventWriter(Protocol):
    """What recovery writes its events with: a :class:`~wflogging.TaskEventHandler`, usually."""

    dropped: int

    def handle(self, record: logging.LogRecord) -> bool: ...


def recover_into(
    events_path: str | os.PathLike[str],
    *,
    handler: EventWriter,
    journal_dir: str | os.PathLike[str] | None = None,
) -> Recovery:
    """:func:`wflogging.recover`, writing the events with ``handler`` (module docstring).

    Raises ``OSError`` when the journal directory cannot be opened (a missing one
    means nothing to do).
    """
    directory = os.path.abspath(os.fspath(journal_dir)) if journal_dir else journal_dir_for(events_path)
    result = Recovery()
    try:
        dir_fd = os.open(directory, _DIR_FLAGS)
    except FileNotFoundError:
        return result
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)  # one recover at a time; released if we die
        host = _SELF.facts()[2]
        dead_files: list[str] = []
        dead: list[OpenTask] = []
        for name in sorted(os.listdir(dir_fd)):
            if not name.endswith(NOTES_SUFFIX):
                _remove_dead_temp(dir_fd, name)
                continue
            try:
                process, tasks = read_notes_file(dir_fd, name)
            except (OSError, ValueError) as exc:
                result.unreadable.append((name, str(exc)))
                continue
            if process.get("host") not in (None, host):
                result.other_host.extend(tasks)
            elif process_gone(tasks[0].pid if tasks else _pid(process), process.get("process_start")):
                dead_files.append(name)
                dead.extend(tasks)
            else:
                result.alive.extend(tasks)
        _recover_dead(events_path, dir_fd, dead_files=dead_files, dead=dead, handler=handler, result=result)
    finally:
        os.close(dir_fd)  # releases the lock
    return result


def _pid(process: Mapping[str, Any]) -> int:
    pid = process.get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else -1


def _remove_dead_temp(dir_fd: int, name: str) -> None:
    """A ``.<pid>-<random>.tasks.tmp`` left by a process killed while creating its file: remove it."""
    if not (name.startswith(".") and name.endswith(NOTES_SUFFIX + _TEMP_SUFFIX)):
        return
    pid_text = name[1:].split("-", 1)[0]
    if pid_text.isdigit() and process_gone(int(pid_text), None):
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dir_fd)


def _recover_dead(
    events_path: str | os.PathLike[str],
    dir_fd: int,
    *,
    dead_files: list[str],
    dead: list[OpenTask],
    handler: EventWriter,
    result: Recovery,
) -> None:
    kept: set[str] = set()
    if dead:
        logged = _logged_event_ids(events_path, {str(task.header["event_id"]) for task in dead})
        for task in dead:
            if str(task.header["event_id"]) in logged:
                result.already_logged.append(task)
                continue
            event = failed_event(task)
            record = logging.LogRecord("wflogging.recover", logging.ERROR, __file__, 0, "", None, None)
            record.task_event = event
            dropped = handler.dropped
            handler.handle(record)
            if handler.dropped != dropped:
                kept.add(task.file)
                result.unreadable.append((task.file, "a Failed event could not be written; file kept"))
            else:
                result.recovered.append((task, event))
    for name in dead_files:
        if name not in kept:
            os.unlink(name, dir_fd=dir_fd)


def _logged_event_ids(events_path: str | os.PathLike[str], wanted: set[str]) -> set[str]:
    """Which of ``wanted`` appear as an ``event_id`` in the events file or its rotated files."""
    from wflogging.reader import EventLine, read_events

    path = os.fspath(events_path)
    stem, ext = os.path.splitext(path)
    found: set[str] = set()
    for file in [path, *sorted(glob.glob(f"{glob.escape(stem)}.*Z{ext}*"))]:
        with contextlib.suppress(FileNotFoundError):
            for item in read_events(file):
                if isinstance(item, EventLine) and item.entry.get("event_id") in wanted:
                    found.add(item.entry["event_id"])
    return found


def failed_event(task: OpenTask) -> dict[str, Any]:
    """The ``Failed`` event of a dead process's open task (the ten SOP fields; module docstring)."""
    from wflogging.usage import CallUsage, roll_up

    header = task.header
    start_text = str(header.get("start_time_utc"))
    start = _instant(start_text)
    end = task.last_update if start is None else max(task.last_update, start)
    duration = 0.0 if start is None else round((end - start).total_seconds(), 6)
    usages = [
        CallUsage(
            call.get("model_name"),
            used.get("input_tokens"),
            used.get("output_tokens"),
            used.get("cached_tokens"),
            used.get("latency_seconds"),
            used.get("cost_usd"),
        )
        for call, used in zip(task.calls, task.usage, strict=True)
    ]
    cost_data = roll_up(usages, None)
    cost_data["recovered"] = {
        "reason": "process gone",
        "pid": task.process.get("pid"),
        "host": task.process.get("host"),
        "end_time": "last journal update",
    }
    calls = [{**call, "call_sequence": number} for number, call in enumerate(task.calls, start=1)]
    event: dict[str, Any] = {
        "event_id": header.get("event_id"),
        "workflow_run_id": header.get("workflow_run_id"),
        "task_id": header.get("task_id"),
        "task_description": header.get("task_description"),
        "agent_name": header.get("agent_name"),
        "timestamps": {
            "start_time_utc": start_text,
            "end_time_utc": end.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "duration_seconds": duration,
        },
        "status": "Failed",
        "cost_data": cost_data,
        "llm_trace": calls,
        "human_feedback": task.feedback,
    }
    if event["workflow_run_id"] is None:
        del event["workflow_run_id"]  # the handler's fallback applies (or rejects it, visibly)
    return event


def _instant(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(_UTC) if moment.tzinfo is not None else None


def open_tasks(directory: str | os.PathLike[str]) -> Iterator[OpenTask]:
    """The open tasks noted in a journal directory, live or not (:func:`~wflogging.recover` acts on them)."""
    try:
        dir_fd = os.open(os.fspath(directory), _DIR_FLAGS)
    except FileNotFoundError:
        return
    try:
        for name in sorted(os.listdir(dir_fd)):
            if name.endswith(NOTES_SUFFIX):
                with contextlib.suppress(OSError, ValueError):
                    yield from read_notes_file(dir_fd, name)[1]
    finally:
        os.close(dir_fd)
