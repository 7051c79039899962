"""Configuring wflogging from a JSON file through logging.config.dictConfig, as the README shows."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import wflogging
from tests.conftest import unique_logger, valid_fields

CONFIG_FILE = Path(__file__).parent / "data" / "dictconfig.json"


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[tuple[logging.Logger, Path]]:
    """A logger configured from tests/data/dictconfig.json, writing to a file in tmp_path."""
    logger = unique_logger()
    events = tmp_path / "events.jsonl"
    text = CONFIG_FILE.read_text(encoding="utf-8")
    config: dict[str, Any] = json.loads(
        text.replace("EVENTS_FILE", events.as_posix()).replace("LOGGER_NAME", logger.name)
    )
    logging.config.dictConfig(config)
    yield logger, events
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
        handler.close()


def _task_event_handler(logger: logging.Logger) -> wflogging.TaskEventHandler:
    # Only ours: pytest's log capture may add its own handlers to the logger too.
    [handler] = [each for each in logger.handlers if isinstance(each, wflogging.TaskEventHandler)]
    return handler


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_json_file_config_writes_schema_valid_events_with_options_applied(
    configured: tuple[logging.Logger, Path], run_id: str, schema_validator: jsonschema.protocols.Validator
) -> None:
    """The JSON config yields a handler whose formatter has the configured options, ext:// resolved."""
    logger, events = configured
    handler = _task_event_handler(logger)
    assert handler.level == logging.INFO
    logger.info("done %s", "now", extra=valid_fields())
    logger.debug("below the handler level", extra=valid_fields(task_id="debug"))
    logger.info("not an event")
    [entry] = _entries(events)
    schema_validator.validate(entry)
    assert entry["workflow_run_id"] == run_id
    assert entry["extensions"] == {
        "log": {"levelname": "INFO", "message": "done now", "host_platform": sys.platform}
    }


def test_close_then_log_again_reopens_the_file(configured: tuple[logging.Logger, Path], run_id: str) -> None:
    """After close(), the next event reopens the file and is appended (as stdlib FileHandler does)."""
    logger, events = configured
    handler = _task_event_handler(logger)
    logger.info("first", extra=valid_fields(task_id="1"))
    handler.close()
    logger.info("second", extra=valid_fields(task_id="2"))
    handler.close()
    assert [entry["task_id"] for entry in _entries(events)] == ["1", "2"]
