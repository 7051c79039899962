"""Non-blocking logging: a queue handler and listener that close the standard library's gaps.

With :class:`TaskEventQueueHandler` on the orchestrator's logger, ``logger.info``
builds the entry in the caller (so the run, the ``event_id`` and any exception
are captured where the event happened) and puts the record on a bounded queue;
a :class:`ResilientQueueListener` thread does the file I/O. What the stdlib
pair lacks, and these add:

* the listener survives an exception in a target handler (the stdlib thread
  dies, and every later record piles up unwritten);
* the 3.12 ``dictConfig`` form (a ``QueueHandler`` with ``handlers``) gets its
  listener started as soon as it is attached, and stopped - the queue drained -
  when the handler is closed, which :func:`logging.shutdown` does at exit;
* a full queue never grows memory: ``put`` blocks up to ``put_timeout`` seconds,
  then the event is dropped, counted in :attr:`TaskEventQueueHandler.dropped` and
  reported through ``handleError`` (once per episode, not once per event);
* ``exc_info`` is kept as text (type, message, traceback) before the stdlib's
  ``prepare`` clears it, for a formatter with ``error_details`` on the other side;
* with a ``multiprocessing.Queue``, whose feeder thread drops a record it cannot
  pickle with no more than a traceback, a record is checked in the caller: an
  attribute that cannot be pickled is replaced by its ``repr`` and reported, and
  the event itself (already built) is written intact.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import logging.handlers
import pickle
import queue as queue_module
import sys
import threading
from typing import Any

from wflogging.event import TaskEventRejected, is_task_event
from wflogging.formatter import ERROR_ATTRIBUTE, error_details, shared_entry
from wflogging.handler import report_fault

__all__ = ["QueueFull", "ResilientQueueListener", "TaskEventQueueHandler"]

#: Default bound of the queue :class:`TaskEventQueueHandler` makes.
DEFAULT_MAXSIZE = 10_000


class QueueFull(Exception):
    """The queue stayed full for ``put_timeout`` seconds: the event was dropped (and counted)."""


class ResilientQueueListener(logging.handlers.QueueListener):
    """A :class:`~logging.handlers.QueueListener` whose thread outlives its handlers' exceptions.

    An exception escaping a target handler is reported through that handler's
    ``handleError`` and the listener goes on with the next record. ``start`` and
    ``stop`` may be called more than once; ``stop`` writes every queued record first.
    """

    def __init__(self, queue: Any, *handlers: logging.Handler, respect_handler_level: bool = False) -> None:
        super().__init__(queue, *handlers, respect_handler_level=respect_handler_level)
        self._state_lock = threading.Lock()

    def start(self) -> None:
        with self._state_lock:
            if self._thread is None:
                super().start()

    def stop(self) -> None:
        with self._state_lock:
            if self._thread is not None:
                super().stop()  # enqueues the sentinel after every record already queued

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    def handle(self, record: logging.LogRecord) -> None:
        record = self.prepare(record)
        for handler in self.handlers:
            if self.respect_handler_level and record.levelno < handler.level:
                continue
            try:
                handler.handle(record)
            except Exception:  # includes RecursionError: one bad record must not end the thread
                with contextlib.suppress(Exception):  # a broken handleError too: nothing left to say
                    handler.handleError(record)


def _copied(record: logging.LogRecord) -> logging.LogRecord:
    """A shallow copy of ``record``, as ``copy.copy`` makes it.

    For a plain ``LogRecord`` the copy is made directly: ``copy.copy`` goes through
    ``__reduce_ex__`` and costs twice as much, on the caller's thread.
    """
    if type(record) is not logging.LogRecord:
        return copy.copy(record)
    copied: logging.LogRecord = object.__new__(logging.LogRecord)
    copied.__dict__.update(record.__dict__)
    return copied


class TaskEventQueueHandler(logging.handlers.QueueHandler):
    """A :class:`~logging.handlers.QueueHandler` for task events; see the module doc.

    Args:
        queue: where records go. Default: a ``queue.Queue(maxsize)``. A
            ``multiprocessing.Queue`` works too (records are checked for pickling).
        handlers: the handlers the listener writes to (a :class:`~wflogging.TaskEventHandler`).
            Given here, a :class:`ResilientQueueListener` is made and started.
            Under Python 3.12's ``dictConfig``, give ``handlers`` in the config
            instead: the listener ``dictConfig`` attaches is started (and made
            resilient) the moment it is attached.
        maxsize: the bound of the default queue.
        put_timeout: seconds ``logger.info`` may wait for room in a full queue
            before dropping the event (counted and reported). ``None``: wait as
            long as it takes (never drop); ``0``: never wait.
        respect_handler_level: as for :class:`~logging.handlers.QueueListener`.
    """

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - stdlib name
        """As the stdlib's report, minus the record's arguments (``wflogging.handler.report_fault``)."""
        report_fault(record)

    def __init__(
        self,
        queue: Any = None,
        *,
        handlers: tuple[logging.Handler, ...] | list[logging.Handler] = (),
        maxsize: int = DEFAULT_MAXSIZE,
        put_timeout: float | None = 1.0,
        respect_handler_level: bool = True,
    ) -> None:
        self._listener: logging.handlers.QueueListener | None = None
        super().__init__(queue_module.Queue(maxsize) if queue is None else queue)
        self.put_timeout = put_timeout
        #: Events dropped because the queue stayed full (or could not take them).
        self.dropped = 0
        self._drop_lock = threading.Lock()
        self._dropping = False  # in a drop episode: reported already
        self._unpicklable_reported = False
        # A multiprocessing queue exists only once its module is imported: no need to
        # import multiprocessing (~14 ms) for every program that logs through a queue.
        mp_queues = sys.modules.get("multiprocessing.queues")
        self._pickles = mp_queues is not None and isinstance(self.queue, mp_queues.Queue)
        if handlers:
            self.listener = ResilientQueueListener(
                self.queue, *handlers, respect_handler_level=respect_handler_level
            )

    @property
    def listener(self) -> logging.handlers.QueueListener | None:
        """The listener writing this handler's queue; started as soon as it is set."""
        return self._listener

    @listener.setter
    def listener(self, listener: logging.handlers.QueueListener | None) -> None:
        if listener is not None and not isinstance(listener, ResilientQueueListener):
            # dictConfig's default, the stdlib QueueListener: same queue and handlers, made resilient.
            listener = ResilientQueueListener(
                listener.queue, *listener.handlers, respect_handler_level=listener.respect_handler_level
            )
        self._listener = listener
        if listener is not None:
            listener.start()

    # --- in the caller's thread ----------------------------------------------------------

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """A copy of ``record`` fit to queue: entry built here, ``exc_info`` kept as text."""
        if not is_task_event(record):
            prepared: logging.LogRecord = super().prepare(record)
            return prepared
        record = _copied(record)
        try:
            entry = shared_entry(record)
        except TaskEventRejected:
            entry = None  # the target handler rejects it again, with the reasons, on its side
        if record.exc_info and record.exc_info[0] is not None and entry is not None:
            record.__dict__[ERROR_ATTRIBUTE] = error_details(record.exc_info)
        try:
            record.message = record.getMessage()
        except Exception:  # a bad %-format: keep the raw msg, as the reject path does
            record.message = str(record.msg)
        record.msg, record.args = record.message, None
        record.exc_info, record.exc_text = None, None
        if self._pickles:
            self._make_picklable(record)
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        """Queue ``record``, waiting up to ``put_timeout``; if still full, drop, count and report it."""
        try:
            records: Any = self.queue  # Queue, SimpleQueue and multiprocessing queues all take a timeout
            if self.put_timeout == 0:
                records.put_nowait(record)
            else:
                records.put(record, timeout=self.put_timeout)
        except queue_module.Full:
            self._dropped(record)
            return
        if self._dropping:
            with self._drop_lock:
                self._dropping = False

    def _dropped(self, record: logging.LogRecord) -> None:
        with self._drop_lock:
            self.dropped += 1
            first, self._dropping = not self._dropping, True
        if first:
            try:
                raise QueueFull(
                    f"wflogging: the log queue stayed full for {self.put_timeout}s: event dropped; "
                    f"more are counted in {type(self).__name__}.dropped ({self.dropped} so far)"
                )
            except QueueFull:
                self.handleError(record)

    def _make_picklable(self, record: logging.LogRecord) -> None:
        try:
            pickle.dumps(record)
            return
        except Exception:
            for key, value in list(record.__dict__.items()):
                try:
                    pickle.dumps(value)
                except Exception:
                    record.__dict__[key] = _safe_repr(value)
            if not self._unpicklable_reported:
                self._unpicklable_reported = True
                self.handleError(record)  # still in the except block: prints the pickling error

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the listener, writing every queued record, then close."""
        try:
            if self._listener is not None:
                self._listener.stop()
        finally:
            super().close()


def _safe_repr(value: object) -> str:
    try:
        return f"<unpicklable {type(value).__qualname__}: {repr(value)[:200]}>"
    except Exception:
        return f"<unpicklable {type(value).__qualname__}>"
