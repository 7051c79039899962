"""Shared fixtures: a private logger wired to a real TaskEventHandler, and a schema validator."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

import wflogging

_logger_names = itertools.count()

#: The SOP's ten keys in its order, written out from the SOP, not taken from
#: wflogging.schema.FIELD_ORDER: a change there must fail the tests that compare with this.
SOP_KEYS = [
    "event_id",
    "workflow_run_id",
    "task_id",
    "task_description",
    "agent_name",
    "timestamps",
    "status",
    "cost_data",
    "llm_trace",
    "human_feedback",
]


def valid_fields(**overrides: Any) -> dict[str, Any]:
    """The ``extra`` of a valid task event; ``overrides`` replace or add fields."""
    fields: dict[str, Any] = {
        "task_id": "1.1",
        "task_description": "Write the acceptance criteria",
        "agent_name": "/dev:implement-pro",
        "timestamps": {
            "start_time_utc": "2026-03-01T10:00:00Z",
            "end_time_utc": "2026-03-01T10:00:02.5Z",
        },
        "status": "Success",
        "cost_data": {"tokens": {"input": 10, "output": 5}},
        "llm_trace": [{"model_name": "claude-sonnet-4", "prompt": "Plan it", "completion": "Done"}],
    }
    fields.update(overrides)
    return fields


@attrs.define
class EventLog:
    """A logger whose task events go to ``path`` through a real TaskEventHandler."""

    logger: logging.Logger
    handler: wflogging.TaskEventHandler
    path: Path

    @property
    def rejects_path(self) -> Path:
        return Path(self.handler.rejects.path or "")

    def entries(self) -> list[dict[str, Any]]:
        """Every line of the events file, parsed (fails on a line that is not JSON)."""
        return [json.loads(line) for line in _lines(self.path)]

    def rejects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in _lines(self.rejects_path)]


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "file does not end with a newline"
    return data.decode("utf-8").split("\n")[:-1]


def unique_logger() -> logging.Logger:
    logger = logging.getLogger(f"wflogging.tests.{next(_logger_names)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


@pytest.fixture
def event_log(tmp_path: Path) -> Iterator[EventLog]:
    logger = unique_logger()
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl")
    logger.addHandler(handler)
    yield EventLog(logger, handler, tmp_path / "events.jsonl")
    logger.removeHandler(handler)
    handler.close()


@pytest.fixture(scope="session")
def schema_validator() -> jsonschema.protocols.Validator:
    """The shipped JSON Schema, with format assertions (uuid, date-time) switched on."""
    schema = wflogging.load_json_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator: jsonschema.protocols.Validator = validator_class(
        schema, format_checker=validator_class.FORMAT_CHECKER
    )
    return validator


@pytest.fixture
def run_id() -> Iterator[str]:
    """A workflow run current for the test."""
    with wflogging.workflow_run() as current:
        yield current
