"""The event declared once: the shipped JSON Schema, the compiled and the general paths agree with it."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import SOP_KEYS, valid_fields
from tests.test_serialize import EVENT_ID, RUN_ID, _fields, _floats, _json, _text
from wflogging import declaration
from wflogging.serialize import available_serializers, get_serializer


def test_the_shipped_json_schema_is_the_one_the_declaration_derives() -> None:
    """task_event.schema.json is generated: `declaration.write_json_schema()` rewrites it after a change."""
    shipped = resources.files("wflogging").joinpath("task_event.schema.json").read_text(encoding="utf-8")
    assert shipped == declaration.json_schema_text()
    assert wflogging.load_json_schema() == declaration.json_schema()


def test_every_declared_field_is_in_every_entry_in_the_declared_order() -> None:
    entry = wflogging.build_entry(valid_fields(), RUN_ID)
    declared = [field.name for field in declaration.EVENT]
    assert list(entry) == declared == list(SOP_KEYS)
    assert list(entry["timestamps"]) == [field.name for field in declaration.TIMESTAMPS]
    assert list(entry["llm_trace"][0]) == [field.name for field in declaration.LLM_CALL]
    assert wflogging.load_json_schema()["required"] == declared


def test_the_compiled_path_applies_every_rule_the_declaration_asks_for() -> None:
    """A field of a kind the compiled path does not check there must be added to it too."""
    from wflogging.compiled import COMPILED_PATH_COMPLETE

    assert COMPILED_PATH_COMPLETE


def test_the_public_model_has_the_declared_fields() -> None:
    """The attrs model is the typed face of the declaration: a declared field must be in it too."""
    import attrs

    models = {
        wflogging.TaskEvent: (*declaration.EVENT, declaration.EXTENSIONS),
        wflogging.Timestamps: declaration.TIMESTAMPS,
        wflogging.LLMCall: declaration.LLM_CALL,
        wflogging.HumanFeedback: declaration.HUMAN_FEEDBACK,
    }
    for model, fields in models.items():
        assert {field.name for field in attrs.fields(model)} == declaration.keys(fields), model.__name__


def test_the_status_values_are_the_schema_enum() -> None:
    schema = wflogging.load_json_schema()
    assert schema["properties"]["status"]["enum"] == [member.value for member in wflogging.Status]


# Generated events, good and bad: the SOP fields plus what callers get wrong (a run id
# that is no UUID, unknown nested keys, text that is not a string, a trace given as a tuple).
def _with_mistakes(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    changes: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
        {},
        optional={
            "workflow_run_id": st.sampled_from([RUN_ID, RUN_ID.upper(), None, "run-1", 7]),
            "agent_name": st.one_of(_text, st.integers(0, 3), st.none()),
            "llm_trace": st.just(tuple(fields["llm_trace"])),
            "timestamps": st.just({**fields["timestamps"], "elapsed": 1.0}),
            "cost_data": st.sampled_from([None, {"tokens": 2**70}, {"usd": float("nan")}, {1: 2}, []]),
        },
    )
    return changes.map(lambda change: {**fields, **change})


_odd_events = _fields.flatmap(_with_mistakes)


_canonical = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
    lambda moment: moment.isoformat(timespec="microseconds") + "Z"
)
_words = _text.filter(bool)
# Valid events in the forms callers normally pass: what the compiled path is for.
_good_events = st.builds(
    lambda start, end, calls, cost, feedback, seconds: valid_fields(
        timestamps={
            "start_time_utc": min(start, end),
            "end_time_utc": max(start, end),
            **({} if seconds is None else {"duration_seconds": seconds}),
        },
        llm_trace=[
            {"model_name": model, "prompt": prompt, "completion": completion, **numbered}
            for position, (model, prompt, completion) in enumerate(calls, start=1)
            for numbered in [{"call_sequence": position} if position % 2 else {}]
        ],
        cost_data=cost,
        human_feedback=feedback,
    ),
    _canonical,
    _canonical,
    st.lists(st.tuples(_words, _text, _text), max_size=3),
    st.dictionaries(_text, _json, max_size=4),
    st.one_of(
        st.none(), st.fixed_dictionaries({"type": _words, "content": _text, "timestamp_utc": _canonical})
    ),
    st.one_of(st.none(), _floats.filter(lambda number: number >= 0), st.integers(0, 10**6)),
)


def _verdict(fields: dict[str, Any]) -> Any:
    try:
        entry = wflogging.build_entry(fields)
    except wflogging.TaskEventRejected as rejected:
        return ("rejected", [str(problem) for problem in rejected.problems])
    return ("written", [get_serializer(name).dumps_line(entry) for name in available_serializers()])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.one_of(_good_events, _fields, _odd_events))
def test_the_compiled_path_and_the_general_rules_give_the_same_verdict_and_the_same_bytes(
    fields: dict[str, Any],
) -> None:
    """Flat fields take the compiled path when they can; task_event always takes the general rules."""
    fields = {"event_id": EVENT_ID, **fields}
    flat = _verdict(fields)
    general = _verdict({"task_event": fields})
    assert flat == general
    if flat[0] == "written":
        line = json.loads(flat[1][0])
        assert list(line)[:10] == list(SOP_KEYS)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_good_events)
def test_valid_events_in_the_usual_forms_take_the_compiled_path(fields: dict[str, Any]) -> None:
    """The hot path is the compiled one: a bug there must fail here, not fall back unseen."""
    from wflogging.compiled import compiled_entry

    entry = compiled_entry({"event_id": EVENT_ID, **fields}, RUN_ID)
    assert entry is not None
    assert entry == wflogging.build_entry({"task_event": {"event_id": EVENT_ID, **fields}}, RUN_ID)


def test_a_reader_naming_a_field_the_declaration_lacks_fails_at_once() -> None:
    """The report's decoder takes its names from the declaration: a renamed field cannot read as absent."""
    import msgspec
    import pytest

    with pytest.raises(ValueError, match="duration"):
        declaration.decoder_struct("Reader", {"timestamps": {"duration": float}})
    reader = declaration.decoder_struct("Reader", {"task_id": str, "llm_trace": {"model_name": str}})
    line = wflogging.TaskEventFormatter().format(_record(valid_fields()))
    decoded = msgspec.json.decode(line, type=reader)
    assert decoded.task_id == valid_fields()["task_id"]
    assert [call.model_name for call in decoded.llm_trace] == [
        call["model_name"] for call in valid_fields()["llm_trace"]
    ]


def _record(fields: dict[str, Any]) -> Any:
    import logging

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "done", None, None)
    record.__dict__.update({"workflow_run_id": RUN_ID, **fields})
    return record
