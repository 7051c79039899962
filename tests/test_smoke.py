"""The README's promise in one test: dictConfig, extra=, a file whose lines validate."""

from __future__ import annotations

import json
import logging
import logging.config
from pathlib import Path

import jsonschema

import wflogging
from tests.conftest import unique_logger, valid_fields


def test_dictconfig_extra_and_schema_valid_file(
    tmp_path: Path, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A handler configured by dictConfig writes one schema-valid line per task event."""
    logger = unique_logger()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "events": {"class": "wflogging.TaskEventHandler", "filename": str(tmp_path / "e.jsonl")}
            },
            "loggers": {logger.name: {"handlers": ["events"], "level": "INFO"}},
        }
    )
    try:
        with wflogging.workflow_run() as run_id:
            logger.info("done", extra=valid_fields())
            logger.info("not an event")
    finally:
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
            handler.close()
    lines = (tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    entry = wflogging.TaskEvent.from_dict(json.loads(lines[0])).to_dict()
    schema_validator.validate(entry)
    assert entry["workflow_run_id"] == run_id
    assert list(entry) == list(wflogging.schema.FIELD_ORDER)
