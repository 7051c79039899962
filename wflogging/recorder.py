"""``record_task``: wrap a task, get exactly one conformant event for it, whatever happens.

::

    with wflogging.record_task(logger, task_id="1.2", task_description="Implement CSV export",
                               agent_name="/dev:implement-pro", prices=prices) as t:
        reply = llm(prompt)
        t.llm_call(model_name="claude-sonnet-4", prompt=prompt, completion=reply.text,
                   input_tokens=reply.usage.input_tokens, output_tokens=reply.usage.output_tokens)

``record_task`` also works with ``async with`` and as a decorator of sync and
async functions (the function reaches its recorder through :func:`current_task`).
On exit it logs one event through ``logger`` (``logger.log(level, ..., extra=
{"task_event": ...})``), so the event takes the normal handler path: a
:class:`~wflogging.TaskEventHandler` writes it, or rejects it visibly. The
event's values are plain (``str``, ``dict``, ``list``, ``...ffffffZ`` times,
``Status``), the form the handler checks fastest. When the logger would drop the
event's level (``level``, or ``failure_level`` for a failure), the recorder
builds nothing: the task still ends and its exception still propagates.

Status
    ``Success`` on a normal exit, unless set with :meth:`TaskRecorder.pause`
    (``HIL-Paused``), :meth:`TaskRecorder.fail` or :attr:`TaskRecorder.status`.
    ``Failed`` when the block raises: the exception then propagates unchanged.
    ``KeyboardInterrupt`` and ``asyncio.CancelledError`` are logged as ``Failed``
    too, and propagate.

Failure details
    A failed event has exactly the SOP's ten fields, like every other event: the
    SOP has no field for *why* a task failed. The reason reaches you two ways:

    - always, as an ordinary ``ERROR`` record on the logger ``<logger>.failures``
      (``orchestrator.failures`` for a recorder logging to ``orchestrator``): the
      message names the task and the reason, the exception's traceback is attached
      (``exc_info``), and ``extra`` carries ``event_id`` and ``workflow_run_id`` to
      join it to the event. It propagates to your ordinary handlers (a console, a
      plain log file); a :class:`~wflogging.TaskEventHandler` ignores it (it is
      not a task event).
    - on request (``failure_details=True``), in the event itself, under the
      optional eleventh key ``extensions``: ``extensions.error = {"reason": ...,
      "type": ..., "message": ...}`` where ``reason`` is ``"exception"`` (the
      block raised; ``type`` is the exception's class name), ``"cancelled"``
      (``asyncio.CancelledError``), ``"interrupted"`` (``KeyboardInterrupt``) or
      ``"reported"`` (the code called :meth:`TaskRecorder.fail`; no ``type``).
      ``wflogging report`` and ``show`` then print the reason beside the task.

Timestamps
    ``start_time_utc`` is the wall clock (UTC) on entry. ``duration_seconds`` is
    measured on the monotonic clock, and ``end_time_utc`` is *computed* as start
    + duration rather than read from the wall clock again. The wall clock can step
    (NTP, a VM resuming, a manual change) while a task runs; read twice it could
    give an end before the start or a duration that disagrees with the two
    instants. This way the duration is never negative and the three values always
    agree exactly (all three are kept to the microsecond). The price: after a
    step, ``end_time_utc`` is where the end would be on the clock as it was at the
    start.

Run
    ``workflow_run_id`` is the run current where the recorder is *entered*
    (:func:`~wflogging.current_run_id`), passed explicitly in the event, so the
    event belongs to that run even if the exit happens in another context. Outside
    any run the handler's usual fallback applies (and an event with no run at all
    is rejected visibly).

cost_data
    What reports read: token counts and money rolled up from the usage the calls
    reported (:meth:`TaskRecorder.llm_call`), plus the caller's own entries
    (:meth:`TaskRecorder.set_cost`). Its shape and rules are in
    :mod:`wflogging.usage`.

Errors
    Arguments that can never make an event (an empty ``task_id``, a ``prices``
    table that does not parse) raise ``ValueError``/``TypeError`` from
    ``record_task(...)`` itself, before the task runs; so does setting
    :attr:`TaskRecorder.status` to something that is not a status. Otherwise the
    recorder's bookkeeping never raises into the task: a bad usage value is left out of the
    roll-up and listed under ``cost_data.usage_problems``; a bad trace or feedback
    value makes the event a reject (stored with its reasons by the handler, one line
    on stderr); an internal failure is reported on stderr. The task's own exception
    is never replaced. Only a handler in ``strict`` mode can raise, and only when
    the task itself did not.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from wflogging import schema
from wflogging.clock import SYSTEM_CLOCK, Clock, naive_instant_text, naive_utc
from wflogging.clock import instant_text as _instant_text
from wflogging.context import current_run_id, each_call_within
from wflogging.journal import Note, OpenTaskJournal, journal_of
from wflogging.pricing import PriceTable, to_price_table
from wflogging.schema import FeedbackType, Status
from wflogging.task_failure import failure_of, log_failure
from wflogging.terminal import say
from wflogging.usage import CallUsage, roll_up, usd

# roll_up and usd: importable from here as before the usage accounting had its own module.
__all__ = ["SYSTEM_CLOCK", "Clock", "TaskRecorder", "current_task", "record_task", "roll_up", "usd"]

_F = TypeVar("_F", bound=Callable[..., Any])
# A call that reported no usage (the common case): its note carries an empty usage mapping.
_NO_USAGE: Mapping[str, Any] = types.MappingProxyType({})
_STATUS_TEXT = {member: member.value for member in Status}


_current_task: contextvars.ContextVar[TaskRecorder | None] = contextvars.ContextVar(
    "wflogging_current_task", default=None
)


def current_task() -> TaskRecorder | None:
    """The innermost task being recorded in this context (thread or asyncio task), or ``None``.

    How a function decorated with :func:`record_task` (or code it calls) reaches
    its recorder. A worker thread does not inherit it: pass the recorder along.
    """
    return _current_task.get()


class _Settings:
    """What ``record_task(...)`` was given, checked once."""

    __slots__ = (
        "agent_name",
        "clock",
        "failure_details",
        "failure_level",
        "journal",
        "level",
        "logger",
        "prices",
        "task_description",
        "task_id",
    )

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        *,
        task_id: str,
        task_description: str,
        agent_name: str,
        level: int,
        failure_level: int | None,
        prices: PriceTable | Mapping[str, Any] | None,
        failure_details: bool,
        clock: Clock | None,
        journal: OpenTaskJournal | str | os.PathLike[str] | bool,
    ) -> None:
        if not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
            raise TypeError(f"logger: expected a logging.Logger, got {type(logger).__name__}")
        self.logger = logger
        self.task_id = _text(task_id, "task_id")
        self.task_description = _text(task_description, "task_description")
        self.agent_name = _text(agent_name, "agent_name")
        self.level = _level(level, "level")
        self.failure_level = self.level if failure_level is None else _level(failure_level, "failure_level")
        self.prices = None if prices is None else to_price_table(prices)
        self.failure_details = failure_details
        self.clock = SYSTEM_CLOCK if clock is None else clock
        #: ``True``: the journal of the logger's handler, looked up at each entry.
        self.journal: OpenTaskJournal | bool = (
            journal if isinstance(journal, (bool, OpenTaskJournal)) else OpenTaskJournal(journal)
        )


def _text(value: object, path: str) -> str:
    """``schema.text``: an exact non-empty ``str`` (the usual case) is returned without the call."""
    if type(value) is str and value:
        return value
    return schema.text(value, path)


def _level(value: object, path: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{path}: expected a logging level (int), got {type(value).__name__}")
    return value


class TaskRecorder:
    """What ``with record_task(...) as t`` gives: record the task's calls, feedback, costs, outcome.

    Every method is safe to call from several threads or asyncio tasks at once.
    """

    def __init__(self, settings: _Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._usage: list[CallUsage] = []
        self._feedback: dict[str, Any] | None = None
        self._cost_entries: dict[str, Any] = {}
        self._status: Status | None = None
        self._failure: dict[str, Any] | None = None
        self._finished = False
        self._note: Note | None = None
        #: The event's id, known from the start (to link other records to this task).
        self.event_id = _uuid4_text()
        #: The run current where the recorder was entered (``None`` outside any run).
        self.workflow_run_id = current_run_id()
        clock = settings.clock
        self._started_wall = clock.now_utc()
        # The end is the start plus the duration: both formatted from a naive UTC time, the fast way.
        self._started_naive = naive_utc(self._started_wall)
        self._started_text = (  # for the note and the event
            _instant_text(self._started_wall)
            if self._started_naive is None
            else naive_instant_text(self._started_naive)
        )
        self._started_mono = clock.monotonic()

    @property
    def task_id(self) -> str:
        return self._settings.task_id

    # --- what happened during the task --------------------------------------------

    def llm_call(
        self,
        *,
        model_name: str,
        prompt: str,
        completion: str,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cached_tokens: int | None = None,
        latency_seconds: float | None = None,
        cost_usd: float | Decimal | None = None,
        provider: str | None = None,
        finish_reason: str | None = None,
    ) -> int:
        """Record one LLM call; returns its ``call_sequence`` (1, 2, 3, ... in the order recorded).

        ``prompt`` and ``completion`` are kept whole. The usage arguments feed
        ``cost_data`` only (the SOP's trace items hold just the four fields):

        - ``input_tokens``: all input (prompt) tokens of the call, cached ones included;
        - ``output_tokens``: output tokens, reasoning tokens included;
        - ``cached_tokens``: the part of ``input_tokens`` read from a prompt cache;
        - ``latency_seconds``: the call's wall time, summed per model;
        - ``cost_usd``: what the provider billed for the call; wins over the price table;
        - ``provider``: who served it (``gen_ai.provider.name``: ``anthropic``, ``openai``,
          ``aws.bedrock``...); unset, an OpenTelemetry export infers it from the model name;
        - ``finish_reason``: why the model stopped (``stop``, ``length``, ``tool_calls``...).

        Each call that reports any of these gets an item in ``cost_data.per_call``, so
        a retry's tokens stay with the retry (an OTLP export puts them on its span).

        Calls from several threads are numbered in the order they reach this
        method, without gaps or duplicates. A call recorded after the task's event
        was logged is not recorded (returns 0; one line on stderr).
        """
        usage = CallUsage(
            model_name,
            input_tokens,
            output_tokens,
            cached_tokens,
            latency_seconds,
            cost_usd,
            provider,
            finish_reason,
        )
        call: dict[str, Any] = {"model_name": model_name, "prompt": prompt, "completion": completion}
        with self._lock:
            if self._finished:
                _warn(f"llm_call for task {self.task_id!r} after its event was logged: not recorded")
                return 0
            sequence = len(self._calls) + 1
            call["call_sequence"] = sequence
            self._calls.append(call)
            self._usage.append(usage)
            if self._note is not None:  # under the lock: the note keeps the calls' order
                self._note.add_call(call, _NO_USAGE if usage.reported_nothing() else usage._asdict())
        return sequence

    def human_feedback(
        self,
        *,
        type: FeedbackType | str,
        content: str,
        timestamp_utc: dt.datetime | str | None = None,
    ) -> None:
        """Record the Director's input (replacing earlier feedback: an entry holds one).

        ``timestamp_utc`` defaults to now (UTC). Feedback does not change the
        status: call :meth:`pause` if the task stops to wait, or leave it to end
        ``Success`` when the task resumed after an approval.
        """
        stamp = _instant_text(self._settings.clock.now_utc() if timestamp_utc is None else timestamp_utc)
        with self._lock:
            self._feedback = {"type": type, "content": content, "timestamp_utc": stamp}
            if self._note is not None:
                self._note.add_feedback(self._feedback)

    def set_cost(self, entries: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Add entries to ``cost_data`` (like ``dict.update``): the IACP's figures, say.

        Values are any JSON-able data (``Decimal``, ``datetime``... become plain
        JSON). An entry named like a rolled-up one (``total_cost_usd``...) replaces it.
        """
        with self._lock:
            if entries is not None:
                self._cost_entries.update(entries)
            self._cost_entries.update(more)

    # --- the outcome ----------------------------------------------------------------

    @property
    def status(self) -> Status | None:
        """The status set so far (``None``: ``Success`` on a normal exit). An exception wins."""
        return self._status

    @status.setter
    def status(self, value: Status | str) -> None:
        self._status = schema.status(value)

    def pause(self) -> None:
        """End the task as ``HIL-Paused``: it stops to wait for a human.

        The resumed task is recorded again (same ``task_id``), with the answer
        in :meth:`human_feedback`.
        """
        self._status = Status.HIL_PAUSED

    def fail(self, message: str = "") -> None:
        """End the task as ``Failed`` without raising; ``message`` is the reason (see Failure details)."""
        self._status = Status.FAILED
        self._failure = {"reason": "reported", "message": str(message)}

    # --- the event ------------------------------------------------------------------

    def _finish(self, exc: BaseException | None, stacklevel: int) -> None:
        """Log the task's event (and a failure's reason). Never raises, except a strict handler's reject.

        ``stacklevel`` (as for ``logger.log``) makes the record's source the caller's
        ``with`` statement or call, where a reject report should point.
        """
        with self._lock:
            self._finished = True  # from here on llm_call records nothing: the lists are final
        status = Status.FAILED if exc is not None else self._status or Status.SUCCESS
        try:
            self._log_event(status, exc, stacklevel + 1)
        finally:
            if status is Status.FAILED:
                self._log_failure(exc, stacklevel + 1)
            note = self._note
            if note is not None:  # after the event is logged: recover skips a logged event_id
                self._note = None
                note.close()

    def _open_note(self) -> None:
        """Note the task in the open-task journal, if there is one (never raises)."""
        settings = self._settings
        if settings.journal is False:
            return
        if not settings.logger.isEnabledFor(min(settings.level, settings.failure_level)):
            return  # no event would be logged: nothing to recover either
        journal = journal_of(settings.logger) if settings.journal is True else settings.journal
        if journal is None:
            return
        self._note = journal.open_note(
            {
                "event_id": self.event_id,
                "workflow_run_id": self.workflow_run_id,
                "task_id": settings.task_id,
                "task_description": settings.task_description,
                "agent_name": settings.agent_name,
                "start_time_utc": self._started_text,
            }
        )

    def _log_event(self, status: Status, exc: BaseException | None, stacklevel: int) -> None:
        settings = self._settings
        logger = settings.logger
        try:
            level = settings.failure_level if status is Status.FAILED else settings.level
            if not logger.isEnabledFor(level):
                return  # nothing would be logged: build nothing (the task's exception still propagates)
            fields = self._event(status, exc)
        except Exception as bug:  # a wflogging bug must not break the orchestrator
            _warn(f"could not build the event of task {self.task_id!r}: {type(bug).__name__}: {bug}")
            return
        try:
            _log_from_caller(
                logger,
                level,
                "task %s (%s) %s",
                (settings.task_id, settings.agent_name, fields["status"]),
                extra={"task_event": fields},
                stacklevel=stacklevel,
            )
        except Exception as logging_error:
            if exc is None:
                raise  # only a strict handler raises here: the caller asked for it
            _warn(
                f"event of task {self.task_id!r} not logged: {type(logging_error).__name__}: {logging_error}"
            )

    def _log_failure(self, exc: BaseException | None, stacklevel: int) -> None:
        """Why the task failed, as an ordinary ERROR record on ``<logger>.failures`` (module docstring)."""
        settings = self._settings
        log_failure(
            settings.logger,
            task_id=settings.task_id,
            agent_name=settings.agent_name,
            event_id=self.event_id,
            workflow_run_id=self.workflow_run_id,
            exc=exc,
            reported=self._failure,
            stacklevel=stacklevel,
        )

    def _event(self, status: Status, exc: BaseException | None) -> dict[str, Any]:
        """The event's fields, as plain values ``build_entry`` takes on its compiled path.

        Plain ``str``/``dict``/``list`` values (the status as its text) and canonical
        ``...ffffffZ`` timestamps: the handler then checks them without building
        models or problem lists (a value of another form, such as a caller's
        non-UTC feedback time, is left as given and takes the full rules).
        """
        settings = self._settings
        micros = max(0, round((settings.clock.monotonic() - self._started_mono) * 1_000_000))
        with self._lock:  # human_feedback and set_cost may still run in other threads
            feedback = self._feedback
            cost_entries = dict(self._cost_entries) if self._cost_entries else None
        cost_data = roll_up(self._usage, settings.prices)
        if cost_entries is not None:
            cost_data.update(cost_entries)
        started = self._started_naive
        ended = (
            _instant_text(self._started_wall + dt.timedelta(microseconds=micros))
            if started is None
            else naive_instant_text(started + dt.timedelta(0, 0, micros))
        )
        fields: dict[str, Any] = {
            "event_id": self.event_id,
            "task_id": settings.task_id,
            "task_description": settings.task_description,
            "agent_name": settings.agent_name,
            "timestamps": {
                "start_time_utc": self._started_text,
                "end_time_utc": ended,
                "duration_seconds": micros / 1_000_000,
            },
            "status": _STATUS_TEXT[status],  # its text: reading an Enum's .value costs a property call
            "cost_data": cost_data,
            "llm_trace": self._calls,
            "human_feedback": feedback,
        }
        if self.workflow_run_id is not None:
            fields["workflow_run_id"] = self.workflow_run_id
        if status is Status.FAILED and settings.failure_details:
            failure = failure_of(exc) if exc is not None else self._failure
            if failure is not None:
                fields["extensions"] = {"error": failure}
        return fields


def _uuid4_text() -> str:
    """``str(uuid.uuid4())`` without building a ``UUID``: 16 random bytes, version 4, RFC 4122 variant."""
    raw = next(_random_ids, None)
    if raw is None:
        raw = _refill_random_ids()
    digits = raw.hex()
    # The version nibble becomes 4; the variant nibble keeps its two low random bits under 0b10.
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
# os.urandom read 4 KiB at a time: one system call per 256 ids rather than one per id. A list
# iterator's next() is atomic under the GIL, so threads never get the same bytes; a forked
# child starts with an empty pool, so it never repeats its parent's ids.
_POOL_BYTES = 4096
_random_ids: Iterator[bytes] = iter(())


def _refill_random_ids() -> bytes:
    global _random_ids  # noqa: PLW0603 - the pool is process state by nature
    pool = os.urandom(_POOL_BYTES)
    ids = iter([pool[start : start + 16] for start in range(0, _POOL_BYTES, 16)])
    raw = next(ids)
    _random_ids = ids
    return raw


def _empty_random_ids() -> None:
    global _random_ids  # noqa: PLW0603
    _random_ids = iter(())


os.register_at_fork(after_in_child=_empty_random_ids)


def _warn(line: str) -> None:
    say(f"wflogging: {line}")


# --- the context manager / decorator -----------------------------------------------------


def _log_from_caller(
    logger: logging.Logger | logging.LoggerAdapter[Any],
    level: int,
    msg: str,
    args: tuple[Any, ...],
    *,
    extra: dict[str, Any],
    stacklevel: int,
) -> None:
    """``logger.log(level, msg, *args, extra=extra, stacklevel=stacklevel)``, as the caller would call it.

    The stdlib finds the record's source by walking the stack a frame at a time, asking of each
    whether it is logging's own: 2 µs for the recorder's four frames, a tenth of a small task's
    cost. Between the caller and the user's code there are only wflogging's frames, never
    logging's, so the source is simply the frame ``stacklevel`` up from here, as Python 3.11+
    counts it (3.10 counted one frame short). A Logger subclass or an adapter may find the
    source its own way, and ``logging._srcfile = None`` asks for none: those get ``logger.log``.
    """
    if type(logger) is logging.Logger and logging._srcfile:
        try:
            frame = sys._getframe(stacklevel)
        except ValueError:  # the stack is not that deep: let logging decide
            pass
        else:
            code = frame.f_code
            record = logger.makeRecord(
                logger.name, level, code.co_filename, frame.f_lineno, msg, args, None, code.co_name, extra
            )
            logger.handle(record)
            return
    logger.log(level, msg, *args, extra=extra, stacklevel=stacklevel + 1)


class record_task:  # noqa: N801 - used like a function: ``with record_task(...) as t``
    """Record one task: a context manager (``with``/``async with``) and a decorator (sync/async).

    Each entry (each call, for a decorated function) starts a new
    :class:`TaskRecorder` and logs exactly one event on exit; see the module
    docstring for status, timestamps, run and ``cost_data``.

    Args:
        logger: where the event is logged (a ``Logger`` or ``LoggerAdapter``).
        task_id, task_description, agent_name: the SOP's fields (non-empty strings).
        level: the level of the event's record (``INFO``).
        failure_level: the level of a ``Failed`` event's record (default: ``level``);
            ``logging.ERROR`` lets an alerting handler pick out failures.
        prices: a :class:`~wflogging.PriceTable` (see :func:`~wflogging.load_prices`)
            or a mapping of model name to prices, to put money in ``cost_data``.
        failure_details: also write ``extensions.error`` on a failed event, an eleventh
            key beside the SOP's ten (default ``False``; the reason always goes to the
            ``<logger>.failures`` logger).
        journal: where to note the task while it runs, so ``wflogging recover`` can log it
            if the process dies inside the block (:mod:`wflogging.journal`): ``True``
            (default) for the journal of the first :class:`~wflogging.TaskEventHandler`
            the logger reaches, an :class:`~wflogging.journal.OpenTaskJournal` or a
            directory, or ``False`` for no note.
        clock: where time is read (default :data:`SYSTEM_CLOCK`); any object with
            ``now_utc()`` and ``monotonic()``, for simulations and tests.

    Raises:
        ValueError, TypeError: an argument that can never make a valid event.
    """

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        *,
        task_id: str,
        task_description: str,
        agent_name: str,
        level: int = logging.INFO,
        failure_level: int | None = None,
        prices: PriceTable | Mapping[str, Any] | None = None,
        failure_details: bool = False,
        clock: Clock | None = None,
        journal: OpenTaskJournal | str | os.PathLike[str] | bool = True,
    ) -> None:
        self._settings = _Settings(
            logger,
            task_id=task_id,
            task_description=task_description,
            agent_name=agent_name,
            level=level,
            failure_level=failure_level,
            prices=prices,
            failure_details=failure_details,
            clock=clock,
            journal=journal,
        )
        self._open: list[tuple[TaskRecorder, contextvars.Token[TaskRecorder | None]]] = []
        # Frames from logger.log up to the user's code: _finish, _exit, __exit__/__aexit__, the user.
        self._stacklevel = 4

    def __enter__(self) -> TaskRecorder:
        recorder = TaskRecorder(self._settings)
        recorder._open_note()
        self._open.append((recorder, _current_task.set(recorder)))
        return recorder

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self._exit(exc)
        # Returning None lets the task's exception (if any) propagate unchanged.

    def _exit(self, exc: BaseException | None) -> None:
        recorder, token = self._open.pop()
        # Exited in another context than entered (ValueError): nothing of ours to restore there.
        with contextlib.suppress(ValueError):
            _current_task.reset(token)
        recorder._finish(exc, self._stacklevel)

    async def __aenter__(self) -> TaskRecorder:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self._exit(exc)

    def _fresh(self) -> record_task:
        """A new, unentered copy: each call of a decorated function has its own recorder stack."""
        copy = object.__new__(record_task)
        copy._settings = self._settings
        copy._open = []
        copy._stacklevel = self._stacklevel + 1  # the decorator's wrapper sits between
        return copy

    def __call__(self, func: _F) -> _F:
        return each_call_within(self._fresh, func)
