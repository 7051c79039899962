"""Where a recorder reads time, and how it writes an instant into an event.

The recorder reads the wall clock (UTC) once, on entry, and measures the
duration on the monotonic clock (see :mod:`wflogging.recorder`, Timestamps).
Tests and simulations pass their own :class:`Clock`.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "instant_text", "naive_instant_text", "naive_utc"]

_UTC = dt.timezone.utc


class Clock(Protocol):
    """Where a recorder reads time: the wall clock (UTC) and a monotonic clock."""

    def now_utc(self) -> dt.datetime:
        """The current time as an aware UTC ``datetime``."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences matter)."""
        ...


class SystemClock:
    """The real clocks: :func:`datetime.datetime.now` in UTC and :func:`time.monotonic`."""

    def now_utc(self) -> dt.datetime:
        return dt.datetime.now(_UTC)

    def monotonic(self) -> float:
        return time.monotonic()


#: The clock recorders use unless given another (``record_task(..., clock=...)``).
SYSTEM_CLOCK: Clock = SystemClock()


def instant_text(moment: object) -> object:
    """A UTC ``datetime`` as the entry's ``...ffffffZ`` text (what ``schema.format_instant`` writes).

    Anything else (an aware time in another zone, a ``datetime`` subclass, a
    caller's string) is returned as given, for the handler's rules to convert or reject.
    """
    if type(moment) is dt.datetime and moment.tzinfo is _UTC:
        # Positional arguments: a keyword costs a C method a third of its time here.
        return moment.isoformat("T", "microseconds")[:-6] + "Z"  # drops "+00:00"
    return moment


def naive_utc(moment: object) -> dt.datetime | None:
    """A UTC ``datetime`` without its ``tzinfo`` (it formats in half the time), else ``None``."""
    if type(moment) is dt.datetime and moment.tzinfo is _UTC:
        return moment.replace(tzinfo=None)
    return None


def naive_instant_text(moment: dt.datetime) -> str:
    """A naive UTC ``datetime`` (from :func:`naive_utc`) as the entry's ``...ffffffZ`` text."""
    return moment.isoformat("T", "microseconds") + "Z"
