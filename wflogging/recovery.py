"""``wflogging.recover``: log the tasks whose process died inside ``record_task``.

The journal (:mod:`wflogging.journal`) keeps the open tasks and reads them back; this module
adds the handler that writes their ``Failed`` events, so the journal never imports the handler.
"""

from __future__ import annotations

import os

from wflogging.handler import TaskEventHandler
from wflogging.journal import EventWriter, Recovery, recover_into

__all__ = ["recover"]


def recover(
    events_path: str | os.PathLike[str],
    *,
    journal_dir: str | os.PathLike[str] | None = None,
    handler: EventWriter | None = None,
) -> Recovery:
    """Write one ``Failed`` event for each open task whose process is gone (see :mod:`wflogging.journal`).

    ``handler`` writes the events (default: a :class:`~wflogging.TaskEventHandler`
    on ``events_path`` with its defaults, journal off, opened at its first event).
    Raises ``OSError`` when the journal directory cannot be opened (a missing one
    means nothing to do).
    """
    if handler is not None:
        return recover_into(events_path, handler=handler, journal_dir=journal_dir)
    own = TaskEventHandler(events_path, journal=False, delay=True)
    try:
        return recover_into(events_path, handler=own, journal_dir=journal_dir)
    finally:
        own.close()
