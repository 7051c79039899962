"""Which workflow run the running code belongs to.

The current run lives in a :class:`contextvars.ContextVar`, so each thread and
each asyncio task sees its own. To make a record carry the run of the code that
*logged* it (not of the thread that formats it later, such as a
``QueueListener``), importing wflogging wraps the logging record factory: every
``LogRecord`` is stamped with the current run at creation, in the caller's
context, with no configuration. :class:`RunContextFilter` does the same stamping
for setups that replace the record factory after wflogging is imported.

Where no run is current, the run named by the ``WFLOGGING_RUN_ID`` environment
variable applies: that is how an orchestrator's child processes join its run.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import os
import types
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from wflogging import schema

__all__ = [
    "RECORD_ATTRIBUTE",
    "RUN_ID_ENV",
    "RunContextFilter",
    "current_run_id",
    "workflow_run",
]

#: Environment variable naming the run of a process with no run of its own.
RUN_ID_ENV = "WFLOGGING_RUN_ID"

#: The record attribute carrying the run current where the record was made. The
#: leading underscore and the package name keep it clear of users' ``extra`` keys
#: (the stdlib raises ``KeyError`` when an ``extra`` key is already on the record).
RECORD_ATTRIBUTE = "_wflogging_run_id"

_current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("wflogging_run_id", default=None)

_F = TypeVar("_F", bound=Callable[..., Any])


def current_run_id() -> str | None:
    """The run current here: the innermost :func:`workflow_run`, else ``WFLOGGING_RUN_ID``.

    Returns ``None`` when neither names a run (or the variable is not a UUID).
    """
    run_id = _current_run.get()
    return run_id if run_id is not None else environment_run_id()


def environment_run_id() -> str | None:
    """The canonical run id in ``WFLOGGING_RUN_ID``, or ``None`` if unset or not a UUID."""
    raw = os.environ.get(RUN_ID_ENV)
    if not raw:
        return None
    try:
        return schema.uuid_text(raw.strip(), RUN_ID_ENV)
    except schema.FieldError:
        return None


def context_run_id() -> str | None:
    """The run set by :func:`workflow_run` in this context only (no environment fallback)."""
    return _current_run.get()


class workflow_run:  # noqa: N801 - used like a function: ``with workflow_run() as run_id``
    """Make a workflow run current for the code inside.

    ``with workflow_run() as run_id:`` starts a new run (a fresh UUID4);
    ``with workflow_run(run_id):`` joins an existing one, as a worker thread or a
    resumed workflow does. Exiting restores whatever run was current before.
    Also an async context manager, and a decorator for sync and async functions
    (each call then runs in its own new run, or in the given one).

    Raises:
        ValueError: ``run_id`` is not a UUID.
    """

    def __init__(self, run_id: str | uuid.UUID | None = None) -> None:
        self._run_id = None if run_id is None else schema.uuid_text(run_id, "run_id")
        self._tokens: list[contextvars.Token[str | None]] = []

    @property
    def run_id(self) -> str | None:
        """The run this object joins, or ``None`` if each entry starts a new one."""
        return self._run_id

    def __enter__(self) -> str:
        run_id = self._run_id if self._run_id is not None else str(uuid.uuid4())
        self._tokens.append(_current_run.set(run_id))
        return run_id

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        _current_run.reset(self._tokens.pop())

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def __call__(self, func: _F) -> _F:
        run_id = self._run_id
        return each_call_within(lambda: workflow_run(run_id), func)


def each_call_within(make_context: Callable[[], Any], func: _F) -> _F:
    """``func`` (sync or async) with each call inside a fresh ``make_context()``.

    The context must work with ``with`` and ``async with``; each call gets its own,
    so concurrent calls of a decorated coroutine never share one.
    """
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            async with make_context():
                return await func(*args, **kwargs)

        return cast(_F, call_async)

    @functools.wraps(func)
    def call_sync(*args: Any, **kwargs: Any) -> Any:
        with make_context():
            return func(*args, **kwargs)

    return cast(_F, call_sync)


class RunContextFilter(logging.Filter):
    """Stamp the run current at the call site on each record; never drops a record.

    With wflogging imported this already happens when a record is created. Attach
    this filter to a logger or a ``QueueHandler`` (both run in the caller's thread)
    when something replaces the logging record factory after wflogging's import.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, RECORD_ATTRIBUTE, None) is None:
            setattr(record, RECORD_ATTRIBUTE, _current_run.get())
        return True


def _install_record_factory() -> None:
    """Wrap the current record factory so that every record carries the current run."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_wflogging_stamps_run", False):  # importlib.reload: don't wrap twice
        return
    get_run = _current_run.get

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record._wflogging_run_id = get_run()  # RECORD_ATTRIBUTE
        return record

    make_record._wflogging_stamps_run = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


_install_record_factory()
