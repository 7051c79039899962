"""TaskEventFormatter on handlers of any kind, TaskEventFilter, and the serializers."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import unique_logger, valid_fields

SOP_FIELDS = list(wflogging.schema.FIELD_ORDER)


@attrs.define
class StreamLog:
    """A logger whose records go to a plain StreamHandler writing into memory."""

    logger: logging.Logger
    handler: logging.StreamHandler[io.StringIO]
    stream: io.StringIO

    def lines(self) -> list[str]:
        text = self.stream.getvalue()
        assert not text or text.endswith("\n")
        return text.splitlines()


def _stream_log(formatter: logging.Formatter, *filters: logging.Filter) -> StreamLog:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    for each in filters:
        handler.addFilter(each)
    logger = unique_logger()
    logger.addHandler(handler)
    return StreamLog(logger, handler, stream)


@pytest.fixture
def no_raise_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    """logging.raiseExceptions off (as in production), restored afterwards."""
    monkeypatch.setattr(logging, "raiseExceptions", False)


# --- on a plain StreamHandler ------------------------------------------------------------


def test_stream_handler_gets_valid_lines_with_exactly_the_ten_fields(
    run_id: str, schema_validator: jsonschema.protocols.Validator
) -> None:
    """By default each event is one schema-valid line holding exactly the SOP's ten fields, in order."""
    log = _stream_log(wflogging.TaskEventFormatter())
    log.logger.info("done", extra=valid_fields(status="Failed"))
    log.logger.warning("done", extra=valid_fields(task_id="1.2"))
    entries = [json.loads(line) for line in log.lines()]
    assert len(entries) == 2
    for entry in entries:
        schema_validator.validate(entry)
        assert list(entry) == SOP_FIELDS
        assert entry["workflow_run_id"] == run_id
    assert [entry["task_id"] for entry in entries] == ["1.1", "1.2"]


def test_task_event_filter_keeps_ordinary_records_and_rejects_off_the_stream(
    run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With TaskEventFilter the stream gets only valid events: plain records and rejects never reach it."""
    log = _stream_log(wflogging.TaskEventFormatter(), wflogging.TaskEventFilter())
    log.logger.info("starting")
    log.logger.info("http", extra={"status": 200})
    log.logger.info("bad", extra=valid_fields(task_id="bad", status="Done"))
    log.logger.info("good", extra=valid_fields(task_id="good"))
    assert [json.loads(line)["task_id"] for line in log.lines()] == ["good"]
    err = capsys.readouterr().err
    assert "task_id='bad'" in err
    assert "status" in err
    assert "Logging error" not in err


def test_task_event_filter_stores_rejects_in_its_rejects_file(tmp_path: Path, run_id: str) -> None:
    """TaskEventFilter(rejects_file=...) writes each reject there with its reasons."""
    rejects = tmp_path / "stream.rejects.jsonl"
    log = _stream_log(wflogging.TaskEventFormatter(), wflogging.TaskEventFilter(rejects_file=rejects))
    log.logger.info("bad", extra=valid_fields(status="Done"))
    assert log.lines() == []
    [reject] = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [reason["path"] for reason in reject["reasons"]] == ["status"]
    assert reject["event"]["status"] == "Done"


@pytest.mark.usefixtures("no_raise_exceptions")
def test_reject_without_filter_goes_to_the_formatters_rejects_file(tmp_path: Path, run_id: str) -> None:
    """Without a filter, the formatter stores a reject in rejects_file and the stream gets nothing."""
    rejects = tmp_path / "formatter.rejects.jsonl"
    log = _stream_log(wflogging.TaskEventFormatter(rejects_file=rejects))
    log.logger.info("bad", extra=valid_fields(agent_name=""))
    assert log.lines() == []
    [reject] = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [reason["path"] for reason in reject["reasons"]] == ["agent_name"]
    assert reject["message"] == "bad"
    assert reject["logger"] == log.logger.name


@pytest.mark.usefixtures("no_raise_exceptions")
def test_reject_without_rejects_file_goes_to_stderr_whole(
    run_id: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Without a rejects file, stderr gets a summary line and a `wflogging-reject: {...}` JSON line."""
    log = _stream_log(wflogging.TaskEventFormatter())
    log.logger.info("bad", extra=valid_fields(task_id="t-9", status="Done"))
    assert log.lines() == []
    err_lines = capfd.readouterr().err.splitlines()
    assert len(err_lines) == 2
    summary, payload = err_lines
    assert "task_id='t-9'" in summary
    assert "status" in summary
    assert payload.startswith("wflogging-reject: ")
    reject = json.loads(payload.removeprefix("wflogging-reject: "))
    assert [reason["path"] for reason in reject["reasons"]] == ["status"]
    assert reject["event"]["task_id"] == "t-9"


# --- opt-in extensions ----------------------------------------------------------------------


def test_fmt_adds_exactly_the_named_record_fields_under_extensions_log(run_id: str) -> None:
    """fmt="%(levelname)s %(message)s" adds extensions.log with exactly those two values."""
    log = _stream_log(wflogging.TaskEventFormatter(fmt="%(levelname)s %(message)s"))
    log.logger.warning("task %s done", "1.1", extra=valid_fields())
    [entry] = [json.loads(line) for line in log.lines()]
    assert list(entry) == [*SOP_FIELDS, "extensions"]
    assert entry["extensions"] == {"log": {"levelname": "WARNING", "message": "task 1.1 done"}}


def test_exc_info_adds_extensions_error_on_request(
    run_id: str, schema_validator: jsonschema.protocols.Validator
) -> None:
    """With error_details, logger.exception adds extensions.error: type, message and traceback."""
    log = _stream_log(wflogging.TaskEventFormatter(error_details=True))
    try:
        raise KeyError("missing-key")
    except KeyError:
        log.logger.exception("task failed", extra=valid_fields(status="Failed"))
    [entry] = [json.loads(line) for line in log.lines()]
    schema_validator.validate(entry)
    error = entry["extensions"]["error"]
    assert set(error) == {"type", "message", "traceback"}
    assert error["type"] == "KeyError"
    assert "missing-key" in error["message"]
    assert "Traceback (most recent call last)" in error["traceback"]
    assert 'raise KeyError("missing-key")' in error["traceback"]


# --- serializers ---------------------------------------------------------------------------

_json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
_json_floats = st.floats(allow_nan=False, allow_infinity=False)
_cost_values = st.recursive(
    _json_scalars | _json_floats,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(min_size=1),
    prompt=st.text(),
    completion=st.text(),
    cost=st.dictionaries(st.text(), _cost_values, max_size=4),
    duration=st.floats(min_value=0, max_value=1e9, allow_nan=False),
)
def test_json_and_orjson_write_byte_identical_lines(
    text: str, prompt: str, completion: str, cost: dict[str, Any], duration: float
) -> None:
    """serializer="json" and serializer="orjson" produce the same bytes for any event, floats included."""
    pytest.importorskip("orjson")
    fields = valid_fields(
        task_id=text,
        task_description=text,
        agent_name=text,
        event_id="9b2c1d7e-0f4a-4c1b-8a6d-2e5f7a9c3b10",
        workflow_run_id="4f7d2a1c-3b5e-4d6f-9a8b-1c2d3e4f5a6b",
        timestamps={
            "start_time_utc": "2026-03-01T10:00:00Z",
            "end_time_utc": "2026-03-01T10:00:02.5Z",
            "duration_seconds": duration,
        },
        cost_data=cost,
        llm_trace=[{"model_name": text, "prompt": prompt, "completion": completion}],
        human_feedback={"type": "approval", "content": completion, "timestamp_utc": "2026-03-01T10:00:03Z"},
    )
    record = logging.makeLogRecord(fields)
    by_json = wflogging.TaskEventFormatter(serializer="json")
    by_orjson = wflogging.TaskEventFormatter(serializer="orjson")
    assert by_json.format_bytes(record) == by_orjson.format_bytes(record)
    assert by_json.format(record) == by_orjson.format(record)
    assert by_json.format(record).encode("utf-8") == by_json.format_bytes(record)


@pytest.mark.parametrize("serializer", ["json", "orjson"])
def test_small_floats_are_written_as_python_repr(serializer: str) -> None:
    """Floats in [1e-9, 1e-4) (per-token prices, tiny durations) are written the same by every backend."""
    if serializer == "orjson":
        pytest.importorskip("orjson")
    record = logging.makeLogRecord(
        valid_fields(
            workflow_run_id="4f7d2a1c-3b5e-4d6f-9a8b-1c2d3e4f5a6b",
            cost_data={"usd_per_token": 3e-05, "tiny": [1.5e-09, -2e-07], "prose": "re-run 0.0000 1e-5,"},
        )
    )
    line = wflogging.TaskEventFormatter(serializer=serializer).format(record)
    assert '"usd_per_token":3e-05' in line
    assert '"tiny":[1.5e-09,-2e-07]' in line
    assert json.loads(line)["cost_data"]["prose"] == "re-run 0.0000 1e-5,"


@pytest.mark.parametrize("serializer", ["json", "orjson"])
def test_unicode_line_separators_stay_on_one_line_and_round_trip(serializer: str, run_id: str) -> None:
    """U+2028, U+2029 and U+0085 in a prompt keep the entry one line for str.splitlines and round-trip."""
    if serializer == "orjson":
        pytest.importorskip("orjson")
    prompt = 'a\u2028b\u2029c\x85d\ne\r\nf\x00"\\'
    log = _stream_log(wflogging.TaskEventFormatter(serializer=serializer))
    log.logger.info(
        "x", extra=valid_fields(llm_trace=[{"model_name": "m", "prompt": prompt, "completion": prompt}])
    )
    [line] = log.stream.getvalue().splitlines()
    call = json.loads(line)["llm_trace"][0]
    assert call["prompt"] == call["completion"] == prompt


@pytest.mark.parametrize("serializer", ["json", "orjson"])
def test_lone_surrogate_in_a_prompt_is_rejected_with_its_path(
    tmp_path: Path, serializer: str, run_id: str
) -> None:
    """A prompt holding a lone surrogate is not UTF-8: the event is a reject naming the field."""
    if serializer == "orjson":
        pytest.importorskip("orjson")
    rejects = tmp_path / "r.jsonl"
    formatter = wflogging.TaskEventFormatter(serializer=serializer, rejects_file=rejects)
    log = _stream_log(formatter, wflogging.TaskEventFilter(rejects_file=rejects))
    log.logger.info(
        "x", extra=valid_fields(llm_trace=[{"model_name": "m", "prompt": "ok \ud800 ok", "completion": ""}])
    )
    assert log.lines() == []
    [reject] = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [reason["path"] for reason in reject["reasons"]] == ["llm_trace[0].prompt"]
    assert "surrogate" in reject["reasons"][0]["problem"]
    assert reject["event"]["llm_trace"][0]["prompt"] == "ok \\ud800 ok"


# --- configuration -----------------------------------------------------------------------


def _configure_stream(formatter_config: dict[str, Any], stream: io.StringIO) -> logging.Logger:
    logger = unique_logger()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"events": formatter_config},
            "handlers": {
                "out": {
                    "class": "logging.StreamHandler",
                    "stream": stream,
                    "formatter": "events",
                    "filters": ["events_only"],
                }
            },
            "filters": {"events_only": {"()": "wflogging.TaskEventFilter"}},
            "loggers": {logger.name: {"handlers": ["out"], "level": "INFO", "propagate": False}},
        }
    )
    return logger


def _detach(logger: logging.Logger) -> None:
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
        handler.close()


def test_dictconfig_factory_form_with_options(run_id: str) -> None:
    """`{"()": "wflogging.TaskEventFormatter", ...options}` in dictConfig applies the options."""
    stream = io.StringIO()
    logger = _configure_stream(
        {"()": "wflogging.TaskEventFormatter", "fmt": "%(levelname)s", "serializer": "json"}, stream
    )
    try:
        logger.info("hello", extra=valid_fields())
        logger.info("not an event")
    finally:
        _detach(logger)
    [entry] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["extensions"] == {"log": {"levelname": "INFO"}}


def test_dictconfig_class_form(run_id: str) -> None:
    """`{"class": "wflogging.TaskEventFormatter", "format": ...}` in dictConfig works too."""
    stream = io.StringIO()
    logger = _configure_stream({"class": "wflogging.TaskEventFormatter", "format": "%(message)s"}, stream)
    try:
        logger.info("hello", extra=valid_fields())
    finally:
        _detach(logger)
    [entry] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["extensions"] == {"log": {"message": "hello"}}
    assert entry["workflow_run_id"] == run_id


def test_unknown_serializer_fails_at_configuration() -> None:
    """An unknown serializer name is a ValueError when configuring, not when logging."""
    with pytest.raises(ValueError, match="serializer"):
        wflogging.TaskEventFormatter(serializer="yaml")
    with pytest.raises(ValueError, match="events"):
        _configure_stream({"()": "wflogging.TaskEventFormatter", "serializer": "yaml"}, io.StringIO())


def test_formatter_refuses_a_record_that_is_not_an_event() -> None:
    """Formatting a record with neither task_id nor task_event raises NotATaskEvent (a ValueError)."""
    record = logging.makeLogRecord({"msg": "plain", "status": 200})
    with pytest.raises(wflogging.NotATaskEvent):
        wflogging.TaskEventFormatter().format(record)
    assert issubclass(wflogging.NotATaskEvent, ValueError)


# --- redaction and size caps, wired through configuration ----------------------------------

# Assembled from pieces so that secret scanners do not flag this file.
_AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"


def _configure_redacting_handler(tmp_path: Path, logger: logging.Logger, **formatter: Any) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"events": {"()": "wflogging.TaskEventFormatter", **formatter}},
            "handlers": {
                "events": {
                    "class": "wflogging.TaskEventHandler",
                    "filename": str(tmp_path / "events.jsonl"),
                    "formatter": "events",
                }
            },
            "loggers": {logger.name: {"handlers": ["events"], "level": "INFO", "propagate": False}},
        }
    )


def _close_handlers(logger: logging.Logger) -> None:
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
        handler.close()


def test_redact_true_in_dictconfig_keeps_secrets_out_of_events_and_rejects(
    tmp_path: Path, run_id: str, schema_validator: jsonschema.protocols.Validator
) -> None:
    """With redact: true, no secret reaches the events file or the rejects file, and counts are kept."""
    logger = unique_logger()
    _configure_redacting_handler(tmp_path, logger, redact=True)
    call = {"model_name": "m", "prompt": f"deploy with key {_AWS_KEY} now", "completion": "ok"}
    try:
        logger.info("ok", extra=valid_fields(llm_trace=[call]))
        logger.info("bad", extra=valid_fields(status="Done", llm_trace=[call]))
    finally:
        _close_handlers(logger)
    events = (tmp_path / "events.jsonl").read_text(encoding="utf-8")
    rejects = (tmp_path / "events.rejects.jsonl").read_text(encoding="utf-8")
    assert _AWS_KEY not in events
    assert _AWS_KEY not in rejects
    (entry,) = [json.loads(line) for line in events.splitlines()]
    schema_validator.validate(entry)
    assert entry["extensions"]["redactions"] == {"aws_access_key": 1}
    (reject,) = [json.loads(line) for line in rejects.splitlines()]
    assert reject["reasons"][0]["path"] == "status"


def test_max_field_chars_caps_prompts_with_a_marker_and_the_original_length(
    tmp_path: Path, run_id: str, schema_validator: jsonschema.protocols.Validator
) -> None:
    """max_field_chars truncates long prompts, says so in the text, and records the original length."""
    logger = unique_logger()
    _configure_redacting_handler(tmp_path, logger, max_field_chars=1000)
    prompt = "é" * 5000
    try:
        logger.info(
            "ok", extra=valid_fields(llm_trace=[{"model_name": "m", "prompt": prompt, "completion": ""}])
        )
    finally:
        _close_handlers(logger)
    (entry,) = [
        json.loads(line) for line in (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    schema_validator.validate(entry)
    written = entry["llm_trace"][0]["prompt"]
    assert len(written) <= 1000
    assert written.startswith("é" * 100)
    assert "TRUNCATED" in written
    assert entry["extensions"]["truncated"]["llm_trace[0].prompt"]["original_chars"] == 5000


def test_default_formatter_writes_prompts_whole_with_no_extensions(tmp_path: Path, run_id: str) -> None:
    """Without redaction options, a prompt holding a key shape is written as given (the SOP's full prompt)."""
    logger = unique_logger()
    _configure_redacting_handler(tmp_path, logger)
    call = {"model_name": "m", "prompt": f"key {_AWS_KEY}", "completion": ""}
    try:
        logger.info("ok", extra=valid_fields(llm_trace=[call]))
    finally:
        _close_handlers(logger)
    (entry,) = [
        json.loads(line) for line in (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert entry["llm_trace"][0]["prompt"] == f"key {_AWS_KEY}"
    assert "extensions" not in entry


class _ExplodingMapping(dict[str, Any]):
    """A task_event whose keys cannot even be listed (a bug in caller code, say)."""

    def __iter__(self) -> Any:
        raise RuntimeError("cannot iterate")

    def keys(self) -> Any:
        raise RuntimeError("cannot iterate")

    def items(self) -> Any:
        raise RuntimeError("cannot iterate")


def test_task_event_filter_never_raises_into_the_caller(
    run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unexpected error while the filter builds the entry is reported on stderr, not raised."""
    logger = unique_logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(wflogging.TaskEventFormatter())
    handler.addFilter(wflogging.TaskEventFilter())
    logger.addHandler(handler)
    try:
        logger.info("bad", extra={"task_event": _ExplodingMapping(task_id="1.1")})
        logger.info("good", extra=valid_fields())
    finally:
        logger.removeHandler(handler)
    assert len(stream.getvalue().splitlines()) == 1
    assert "RuntimeError: cannot iterate" in capsys.readouterr().err


def test_handler_redact_option_works_beside_a_class_declared_formatter(
    tmp_path: Path, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """redact: true on the handler applies even when dictConfig builds the formatter with "class"."""
    logger = unique_logger()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            # "class" formatters get only the stdlib's arguments: wflogging's options cannot ride here.
            "formatters": {"events": {"class": "wflogging.TaskEventFormatter"}},
            "handlers": {
                "redacted": {
                    "class": "wflogging.TaskEventHandler",
                    "filename": str(tmp_path / "redacted.jsonl"),
                    "formatter": "events",
                    "redact": True,
                },
                "whole": {
                    "class": "wflogging.TaskEventHandler",
                    "filename": str(tmp_path / "whole.jsonl"),
                    "formatter": "events",
                },
            },
            "loggers": {
                logger.name: {"handlers": ["redacted", "whole"], "level": "INFO", "propagate": False}
            },
        }
    )
    call = {"model_name": "m", "prompt": f"key {_AWS_KEY}", "completion": ""}
    try:
        logger.info("ok", extra=valid_fields(llm_trace=[call]))
    finally:
        _close_handlers(logger)
    assert _AWS_KEY not in (tmp_path / "redacted.jsonl").read_text(encoding="utf-8")
    # The formatter both handlers name is shared: the other handler still writes the prompt whole.
    (whole,) = [
        json.loads(line) for line in (tmp_path / "whole.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert whole["llm_trace"][0]["prompt"] == f"key {_AWS_KEY}"
