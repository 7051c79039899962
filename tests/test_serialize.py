"""Serializers and the entry builder's two paths: identical lines, one physical line, same verdicts."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import valid_fields
from wflogging.serialize import available_serializers, get_serializer

RUN_ID = "0e8f1d2c-4a5b-4c6d-8e7f-901a2b3c4d5e"
EVENT_ID = "6f1c2a9e-3b7d-4c5e-9a10-2b3c4d5e6f70"
SEPARATORS = ("\u2028", "\u2029", "\x85")
SERIALIZERS = available_serializers()

needs_orjson = pytest.mark.skipif("orjson" not in SERIALIZERS, reason="orjson not installed")


def reference_line(data: Any) -> bytes:
    """The contract, stated independently: compact json, raw UTF-8, line separators escaped."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for raw in SEPARATORS:
        text = text.replace(raw, f"\\u{ord(raw):04x}")
    return text.encode("utf-8")


# Text mixing what prompts hold with the characters that need care: the line separators,
# and the typographic punctuation that shares their UTF-8 lead bytes.
_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\u2028", "\u2029", "\x85", "\u2014", "\u201c", "\u2026", "\n", '"', "\\"]),
    ),
    max_size=40,
)
# Floats of every magnitude, including 1e-9..1e-4 where orjson and json spell them differently.
_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-10, max_value=1e-4),
    st.floats(min_value=-1e-4, max_value=-1e-10),
    st.sampled_from([1e-05, 3e-07, 9.99e-05, 1e-09, 1e-10, 0.0001, 1e16, -0.0]),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), _floats, _text),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_text, children, max_size=4)),
    max_leaves=20,
)
_instants = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1990, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.timezone.utc),
    ),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
        lambda moment: moment.isoformat(timespec="microseconds") + "Z"
    ),
    st.sampled_from(["2026-03-01T10:00:00Z", "2026-02-30T10:00:00.000000Z", "2026-03-01T10:00:00.5+02:00"]),
)
_calls = st.lists(
    st.fixed_dictionaries(
        {"model_name": _text, "prompt": _text, "completion": _text},
        optional={"call_sequence": st.sampled_from([1, 2, 3, True, 1.0])},
    ),
    max_size=3,
)
_fields = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from([EVENT_ID, EVENT_ID.upper()]),
        "task_id": _text,
        "task_description": _text,
        "agent_name": _text,
        "timestamps": st.fixed_dictionaries(
            {"start_time_utc": _instants, "end_time_utc": _instants},
            optional={"duration_seconds": st.one_of(_floats, st.integers(-5, 10**6))},
        ),
        "status": st.sampled_from(["Success", "Failed", "HIL-Paused", wflogging.Status.FAILED, "success"]),
        "cost_data": st.dictionaries(_text, _json, max_size=4),
        "llm_trace": _calls,
    },
    optional={
        "human_feedback": st.fixed_dictionaries(
            {
                "type": st.one_of(_text, st.just(wflogging.FeedbackType.HIL_APPROVAL)),
                "content": _text,
                "timestamp_utc": _instants,
            }
        ),
        "extensions": st.dictionaries(_text, _json, max_size=3),
    },
)


def _outcome(fields: dict[str, Any]) -> Any:
    try:
        return wflogging.build_entry(fields, RUN_ID)
    except wflogging.TaskEventRejected as rejected:
        return rejected.problems


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_fields)
def test_flat_fields_give_the_same_entry_or_reject_as_the_same_fields_in_task_event(
    fields: dict[str, Any],
) -> None:
    """Flat extra keys (the compiled path, for plain input) and task_event (the general rules) agree."""
    flat = _outcome(fields)
    bundled = _outcome({"task_event": fields})
    assert flat == bundled
    if isinstance(flat, dict):
        assert list(flat) == list(bundled)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cost=st.dictionaries(_text, _json, max_size=5),
    extensions=st.one_of(st.none(), st.dictionaries(_text, _json, max_size=3)),
    words=_text,
    start=st.sampled_from(["2026-03-01T10:00:00Z", "2026-03-01T10:00:00.000000Z"]),
)
def test_every_serializer_writes_the_contract_line_for_any_entry(
    cost: dict[str, Any], extensions: dict[str, Any] | None, words: str, start: str
) -> None:
    """json and orjson write the same bytes as compact json with U+2028/U+2029/U+0085 escaped, on one line,
    and leave the entry as it was. (A canonical start takes the compiled path, which notes where each
    tiny float is; the other, the general rules.)"""
    fields = valid_fields(
        event_id=EVENT_ID,
        task_description=words or "x",
        cost_data=cost,
        timestamps={"start_time_utc": start, "end_time_utc": "2026-03-01T10:00:00.000003Z"},
    )
    if extensions is not None:
        fields["extensions"] = extensions
    entry = wflogging.build_entry(fields, RUN_ID)
    before = copy.deepcopy(entry)
    expected = reference_line(entry)
    for name in SERIALIZERS:
        serializer = get_serializer(name)
        assert serializer.dumps(entry) == expected, name
        assert serializer.dumps(dict(entry)) == expected, name  # a plain dict: nothing known in advance
        assert serializer.dumps_line(entry) == expected + b"\n", name
        assert serializer.dumps_text(entry) == expected.decode("utf-8"), name
        assert len(serializer.dumps_line(entry).decode("utf-8").splitlines()) == 1
    assert entry == before


@pytest.mark.parametrize("name", SERIALIZERS)
@pytest.mark.parametrize("tiny", [1e-05, 3e-07, 9.99e-05, 1e-09])
def test_floats_orjson_spells_differently_are_written_as_json_does(name: str, tiny: float) -> None:
    """A tiny duration or cost is written as float.__repr__ spells it (1e-05, not 0.00001 or 1e-5)."""
    fields = valid_fields(
        timestamps={
            "start_time_utc": "2026-03-01T10:00:00Z",
            "end_time_utc": "2026-03-01T10:00:01Z",
            "duration_seconds": tiny,
        },
        cost_data={"usd": tiny, "per_call": [tiny, 0.5]},
    )
    line = get_serializer(name).dumps_line(wflogging.build_entry(fields, RUN_ID))
    assert line.count(repr(tiny).encode()) == 3


@pytest.mark.parametrize("name", SERIALIZERS)
@pytest.mark.parametrize("end", ["2026-03-01T10:00:00.000030Z", "2026-03-01T10:00:00.00003Z"])
def test_rewriting_tiny_floats_leaves_the_entry_as_it_was(name: str, end: str) -> None:
    """The serializer rewrites the tiny floats of a copy: the entry, which other handlers (on other
    threads, maybe) write too, keeps its floats, deep in objects and lists alike. (Canonical times
    take the compiled path, which notes where the floats are; the others, the general rules.)"""
    fields = valid_fields(
        timestamps={"start_time_utc": "2026-03-01T10:00:00.000000Z", "end_time_utc": end},
        cost_data={"models": {"m": {"cost_usd": 4.2e-05, "calls": [{"usd": 3e-07}, 0.5]}}, "usd": 4.2e-05},
        extensions={"scores": [[9.99e-05]]},
    )
    entry = wflogging.build_entry(fields, RUN_ID)
    assert entry["timestamps"]["duration_seconds"] == 3e-05
    before = copy.deepcopy(entry)
    line = get_serializer(name).dumps(entry)
    assert entry == before
    assert entry["cost_data"]["models"]["m"]["calls"][0]["usd"] == 3e-07
    assert line == reference_line(entry)
    assert line.count(b"4.2e-05") == 2
    assert b'"duration_seconds":3e-05' in line
    assert b'"calls":[{"usd":3e-07},0.5]' in line
    assert b'"scores":[[9.99e-05]]' in line


@pytest.mark.parametrize("name", SERIALIZERS)
def test_line_separators_are_escaped_but_typographic_punctuation_is_kept(name: str) -> None:
    """U+2028/U+2029/U+0085 become \\u escapes anywhere (keys too); em dashes and quotes stay raw UTF-8."""
    prompt = "a \u2014 \u201cquote\u201d \u2028 b \u2029 c \x85 d"
    fields = valid_fields(
        llm_trace=[{"model_name": "m", "prompt": prompt, "completion": "\u2014"}],
        cost_data={"k\u2028ey": "v"},
    )
    line = get_serializer(name).dumps_line(wflogging.build_entry(fields, RUN_ID))
    assert b"\\u2028 b \\u2029 c \\u0085 d" in line
    assert b'"k\\u2028ey"' in line
    assert "\u2014 \u201cquote\u201d".encode() in line
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")


@pytest.mark.parametrize("name", SERIALIZERS)
def test_format_line_is_format_bytes_with_the_newline(name: str) -> None:
    """TaskEventFormatter.format_line returns exactly format_bytes(record) + b"\\n", for every option set."""
    logger = logging.getLogger("test_serialize.format_line")
    fields = valid_fields(
        task_description="Plan \u2028 it \u2014 now",
        cost_data={"usd": 4e-06},
    )
    with wflogging.workflow_run(RUN_ID):
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "done", (), None, extra=fields)
        for options in ({}, {"fmt": "%(levelname)s %(message)s"}, {"redact": True}, {"max_field_chars": 500}):
            formatter = wflogging.TaskEventFormatter(serializer=name, **options)
            line = formatter.format_line(record)
            assert line == formatter.format_bytes(record) + b"\n"
            assert line == formatter.format(record).encode("utf-8") + b"\n"
            assert line == reference_line(formatter.entry(record)) + b"\n"


def test_entry_from_the_formatter_is_a_copy_the_caller_may_change() -> None:
    """Changing the dict TaskEventFormatter.entry returns does not change what is written for the record."""
    logger = logging.getLogger("test_serialize.copy")
    formatter = wflogging.TaskEventFormatter()
    with wflogging.workflow_run(RUN_ID):
        record = logger.makeRecord(
            logger.name, logging.INFO, __file__, 1, "done", (), None, extra=valid_fields()
        )
        before = formatter.format_line(record)
        formatter.entry(record)["task_id"] = "changed"
        assert formatter.format_line(record) == before


@needs_orjson
def test_json_and_orjson_lines_are_identical_through_the_handler(tmp_path: Any) -> None:
    """Two TaskEventHandlers, one per serializer, write byte-identical files for the same records."""
    paths = {name: tmp_path / f"{name}.jsonl" for name in ("json", "orjson")}
    logger = logging.getLogger("test_serialize.handlers")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handlers = []
    for name, path in paths.items():
        handler = wflogging.TaskEventHandler(path, strict=True)
        handler.setFormatter(wflogging.TaskEventFormatter(serializer=name))
        logger.addHandler(handler)
        handlers.append(handler)
    try:
        with wflogging.workflow_run(RUN_ID):
            for extra in (
                valid_fields(cost_data={"usd": 2e-05}),
                valid_fields(task_description="x\u2029y \u2014 z"),
                valid_fields(event_id=EVENT_ID),
            ):
                logger.info("done", extra=extra)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
    assert paths["json"].read_bytes() == paths["orjson"].read_bytes()
    assert len(paths["json"].read_bytes().splitlines()) == 3


# --- long strings: escaped a chunk at a time and spliced into the line ------------------------------
#
# Strings of LONG_TEXT_CHARS characters or more take another path (orjson: from a megabyte);
# these tests hold it to the same contract as short strings, across chunk boundaries.

LONG = 1_100_000  # above both serializers' thresholds, and more than four chunks


def _long_text(snippet: str) -> str:
    return (snippet * (LONG // len(snippet) + 1))[: LONG + len(snippet)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snippet=_text.filter(bool), short=_text, cost=st.dictionaries(_text, _json, max_size=3))
def test_long_strings_are_written_exactly_like_short_ones(
    snippet: str, short: str, cost: dict[str, Any]
) -> None:
    """A megabyte prompt of any Unicode is written byte for byte as the contract says, by every serializer."""
    long = _long_text(snippet)
    fields = valid_fields(
        event_id=EVENT_ID,
        cost_data={**cost, "note": long},
        llm_trace=[
            {"model_name": "m", "prompt": long, "completion": short},
            {"model_name": "m", "prompt": short, "completion": long[: LONG // 8]},
        ],
    )
    entry = wflogging.build_entry(fields, RUN_ID)
    expected = reference_line(entry)
    for name in SERIALIZERS:
        serializer = get_serializer(name)
        assert serializer.dumps_line(entry) == expected + b"\n", name
        assert serializer.dumps(dict(entry)) == expected, name
        assert serializer.dumps_text(entry) == expected.decode("utf-8"), name


@pytest.mark.parametrize("name", SERIALIZERS)
def test_a_long_prompt_with_a_lone_surrogate_is_rejected_with_its_path(name: str) -> None:
    """A lone surrogate deep inside a long prompt is a reject naming the prompt, not a broken line."""
    logger = logging.getLogger("test_serialize.long_surrogate")
    prompt = "a" * (LONG - 10) + "\udc80" + "b" * 20
    fields = valid_fields(llm_trace=[{"model_name": "m", "prompt": prompt, "completion": ""}])
    formatter = wflogging.TaskEventFormatter(serializer=name)
    with wflogging.workflow_run(RUN_ID):
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "done", (), None, extra=fields)
    with pytest.raises(wflogging.TaskEventRejected) as rejected:
        formatter.format_line(record)
    assert [problem.path for problem in rejected.value.problems] == ["llm_trace[0].prompt"]


@pytest.mark.parametrize("name", SERIALIZERS)
def test_formatting_a_50_mb_class_prompt_allocates_under_three_times_its_size(name: str) -> None:
    """Peak allocation while formatting one event is O(its size): below 3x an 8 MB prompt, as for 50 MB."""
    import tracemalloc

    logger = logging.getLogger("test_serialize.memory")
    prompt = _long_text('Summarise \u201cthe plan\u201d \u2014 step 1:\n\tcheck \\ quote " done. ') * 7
    size = len(prompt.encode("utf-8"))
    formatter = wflogging.TaskEventFormatter(serializer=name)
    with wflogging.workflow_run(RUN_ID):
        record = logger.makeRecord(
            logger.name,
            logging.INFO,
            __file__,
            1,
            "done",
            (),
            None,
            extra=valid_fields(llm_trace=[{"model_name": "m", "prompt": prompt, "completion": "ok"}]),
        )
    tracemalloc.start()
    try:
        line = formatter.format_line(record)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert json.loads(line)["llm_trace"][0]["prompt"] == prompt
    assert peak < 3 * size, f"peak {peak / size:.2f}x the prompt's size"


@pytest.mark.parametrize("name", SERIALIZERS)
def test_text_that_mimics_a_long_string_placeholder_is_written_as_itself(name: str) -> None:
    """Data holding the splice placeholder's text (its per-process token leaked) still gets a correct line."""
    from wflogging.serialize import _LongTexts  # the token is random per process: only a test can know it

    mimic = f"\x00wflogging-long-text:{_LongTexts._token}:1\x00"
    fields = valid_fields(
        event_id=EVENT_ID,
        task_description=mimic,
        llm_trace=[{"model_name": "m", "prompt": _long_text("\u00e9t\u00e9 \u2014 "), "completion": mimic}],
    )
    entry = wflogging.build_entry(fields, RUN_ID)
    assert get_serializer(name).dumps_line(entry) == reference_line(entry) + b"\n"
