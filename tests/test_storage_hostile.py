"""Hostile values end as a valid JSON line or a reject with a reason; strict parsers accept every file."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import unique_logger, valid_fields

_NAUGHTY = [
    "\ud800",
    "\udfff",
    "\u2028",
    "\u2029",
    "\x85",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\r",
    '\n{"event_id":1}',
]
_TEXT = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF)), st.sampled_from(_NAUGHTY)
    ),
    max_size=6,
).map("".join)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
)
_NESTED = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)


def _refuse(constant: str) -> Any:
    raise ValueError(f"non-standard JSON constant {constant}")


def _check_strict(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` through strict parsers; returns the parsed lines."""
    if not path.exists():
        return []
    data = path.read_bytes()
    text = data.decode("utf-8")  # strict: raises on invalid UTF-8 or encoded lone surrogates
    for forbidden in ("\u2028", "\u2029", "\x85", "\r"):
        assert forbidden not in text
    lines = data.split(b"\n")
    assert lines[-1] == b""
    assert len(text.splitlines()) == len(lines) - 1  # naive splitters see the same lines
    parsed = [json.loads(line, parse_constant=_refuse) for line in lines[:-1]]
    assert parsed == [orjson.loads(line) for line in lines[:-1]]
    return parsed


def _duckdb_rows(path: Path) -> int:
    with duckdb.connect() as connection:
        result = connection.execute(
            "select count(*) from read_json(?, format='newline_delimited', maximum_object_size=67108864)",
            [str(path)],
        ).fetchone()
    assert result is not None
    return int(result[0])


class Boom:
    """An object whose __repr__ and __str__ both raise."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompt=_TEXT, completion=_TEXT, cost=st.dictionaries(_TEXT, _NESTED, max_size=4), note=_NESTED)
def test_any_values_become_a_strictly_valid_line_or_a_reject(
    prompt: str, completion: str, cost: dict[str, Any], note: Any
) -> None:
    """Surrogates, controls, NaN, huge ints, nesting: each event is a line or a reject; all strict JSON."""
    with tempfile.TemporaryDirectory() as directory, wflogging.workflow_run():
        events = Path(directory) / "events.jsonl"
        handler = wflogging.TaskEventHandler(events)
        logger = unique_logger()
        logger.addHandler(handler)
        fields = valid_fields(
            llm_trace=[{"model_name": "m", "prompt": prompt, "completion": completion}],
            cost_data={**cost, "note": note},
        )
        logger.info("hostile %s", prompt, extra=fields)
        handler.close()
        written = _check_strict(events)
        rejected = _check_strict(Path(handler.rejects.path or ""))
        assert len(written) + len(rejected) == 1
        assert handler.dropped == 0
        for reject in rejected:
            assert reject["reasons"]
        if written:
            assert written[0]["llm_trace"][0]["prompt"] == prompt
            assert _duckdb_rows(events) == 1


def test_a_50_mb_prompt_is_written_whole(event_log: Any, run_id: str) -> None:
    """A 50 MB prompt (with non-ASCII) makes one whole line that json and orjson read back exactly."""
    prompt = ("é" * 1_000 + "a" * 9_000) * 5_000
    event_log.logger.info(
        "big", extra=valid_fields(llm_trace=[{"model_name": "m", "prompt": prompt, "completion": "ok"}])
    )
    [entry] = _check_strict(event_log.path)
    assert entry["llm_trace"][0]["prompt"] == prompt
    # (DuckDB reads such a line too, given maximum_object_size, but takes ~25 s on it: not in CI.)


def test_objects_whose_repr_and_str_raise_never_reach_the_caller(event_log: Any, run_id: str) -> None:
    """__repr__/__str__ raising inside cost_data, a prompt, the message args: a line or a reject, no raise."""
    event_log.logger.info("cost", extra=valid_fields(cost_data={"tool": Boom(), "n": [Boom()]}))
    event_log.logger.info(
        "prompt", extra=valid_fields(llm_trace=[{"model_name": "m", "prompt": Boom(), "completion": "ok"}])
    )
    event_log.logger.info("id", extra=valid_fields(task_id=Boom()))
    assert event_log.handler.dropped == 0
    written, rejected = _check_strict(event_log.path), _check_strict(event_log.rejects_path)
    assert len(written) + len(rejected) == 3
    assert all(reject["reasons"] for reject in rejected)


def test_wflogging_filters_never_raise_into_the_caller(tmp_path: Path, run_id: str) -> None:
    """TaskEventFilter and RunContextFilter on a logger (outside any handler's error net) never raise."""
    logger = unique_logger()
    logger.addFilter(wflogging.RunContextFilter())
    logger.addFilter(wflogging.TaskEventFilter(rejects_file=tmp_path / "rejects.jsonl"))
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(Collect())
    hostile: list[dict[str, Any]] = [
        valid_fields(task_id=Boom()),
        valid_fields(cost_data={"x": Boom(), "deep": _deep(10_000)}),
        valid_fields(llm_trace=[{"model_name": "m", "prompt": "\ud800", "completion": "ok"}]),
        valid_fields(timestamps=Boom()),
        {"task_event": Boom()},
    ]
    for extra in hostile:
        logger.info("hostile", extra=extra)
    assert len(seen) + len(_check_strict(tmp_path / "rejects.jsonl")) == len(hostile)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": value}
    return value


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**200])
def test_integers_beyond_64_bits_are_written_exactly_or_rejected(
    event_log: Any, run_id: str, value: int
) -> None:
    """Integers past 2**63 in cost_data never make a line DuckDB or orjson refuse."""
    event_log.logger.info(
        "big int", extra=valid_fields(cost_data={"tokens": {"input": 1, "output": 1}, "x": value})
    )
    written = _check_strict(event_log.path)
    rejected = _check_strict(event_log.rejects_path)
    assert len(written) + len(rejected) == 1
    if written:
        assert _duckdb_rows(event_log.path) == 1
