"""Event ids of ``record_task``: RFC 4122 version 4, distinct, and never repeated by a forked child."""

from __future__ import annotations

import logging
import os
import uuid

import pytest

import wflogging


def _quiet_logger() -> logging.Logger:
    """A logger that logs nothing: the recorder then builds no event, but still has its id."""
    logger = logging.getLogger(f"ids-{uuid.uuid4()}")
    logger.propagate = False
    logger.setLevel(logging.CRITICAL + 1)
    return logger


def _next_event_id(logger: logging.Logger) -> str:
    with wflogging.record_task(logger, task_id="1", task_description="d", agent_name="a") as task:
        return task.event_id


def test_event_ids_are_distinct_version_4_uuids() -> None:
    logger = _quiet_logger()
    ids = [_next_event_id(logger) for _ in range(3000)]  # more than one batch of random bytes
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


# Python 3.12+ warns on fork() while other threads run (a queue listener left by another test,
# say); the child here only records and _exits, which that warning is not about.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_does_not_repeat_its_parents_next_event_ids() -> None:
    logger = _quiet_logger()
    _next_event_id(logger)  # the parent has random bytes in hand when it forks
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, on the pipe
        try:
            os.write(write_end, " ".join(_next_event_id(logger) for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child_ids = pipe.read().decode().split()
    os.waitpid(pid, 0)
    parent_ids = [_next_event_id(logger) for _ in range(5)]
    assert len(child_ids) == 5
    assert not set(child_ids) & set(parent_ids)
