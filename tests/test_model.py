"""The attrs models: validation at construction naming the field, frozen, to_dict/from_dict."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

import wflogging
from tests.conftest import valid_fields

RUN = "6f1c2f0e-9d0a-4c55-8a1b-2f3e4d5c6b7a"
START = "2026-03-01T10:00:00Z"
END = "2026-03-01T10:00:02.5Z"


def event(**overrides: Any) -> wflogging.TaskEvent:
    return wflogging.TaskEvent(**valid_fields(workflow_run_id=RUN, **overrides))


def stored(**overrides: Any) -> dict[str, Any]:
    """A complete stored entry with ``overrides`` applied."""
    entry = event().to_dict()
    entry.update(overrides)
    return entry


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (
            lambda: wflogging.Timestamps(start_time_utc="2026-03-01T10:00:00", end_time_utc=END),
            "start_time_utc",
        ),
        (lambda: wflogging.Timestamps(start_time_utc=START, end_time_utc=3), "end_time_utc"),
        (lambda: wflogging.Timestamps(start_time_utc=END, end_time_utc=START), "timestamps"),
        (
            lambda: wflogging.Timestamps(start_time_utc=START, end_time_utc=END, duration_seconds=-1),
            "duration_seconds",
        ),
        (lambda: wflogging.LLMCall(model_name="", prompt="p", completion="c"), "model_name"),
        (lambda: wflogging.LLMCall(model_name="m", prompt=None, completion="c"), "prompt"),
        (lambda: wflogging.LLMCall(model_name="m", prompt="p", completion=b"c"), "completion"),
        (
            lambda: wflogging.LLMCall(model_name="m", prompt="p", completion="c", call_sequence=0),
            "call_sequence",
        ),
        (lambda: wflogging.HumanFeedback(type="", content="c"), "human_feedback.type"),
        (lambda: wflogging.HumanFeedback(type="t", content=1), "human_feedback.content"),
        (
            lambda: wflogging.HumanFeedback(type="t", content="c", timestamp_utc=dt.datetime(2026, 3, 1)),
            "human_feedback.timestamp_utc",
        ),
        (lambda: event(event_id="x"), "event_id"),
        (lambda: event(workflow_run_id="x"), "workflow_run_id"),
        (lambda: event(task_id=""), "task_id"),
        (lambda: event(task_description=5), "task_description"),
        (lambda: event(agent_name=""), "agent_name"),
        (lambda: event(status="success"), "status"),
        (lambda: event(timestamps="soon"), "timestamps"),
        (lambda: event(cost_data={"a": [1, {2}]}), "cost_data.a[1]"),
        (lambda: event(cost_data=[1]), "cost_data"),
        (lambda: event(llm_trace={"model_name": "m"}), "llm_trace"),
        (
            lambda: event(llm_trace=[{"model_name": "m", "prompt": "p", "completion": "c", "x": 1}]),
            "llm_trace[0]",
        ),
        (
            lambda: event(
                llm_trace=[{"model_name": "m", "prompt": "p", "completion": "c", "call_sequence": 2}]
            ),
            "llm_trace[0].call_sequence",
        ),
        (lambda: event(human_feedback={"type": "t", "content": "c"}), "human_feedback.timestamp_utc"),
        (lambda: event(human_feedback="yes"), "human_feedback"),
        (lambda: event(extensions={"n": float("nan")}), "extensions.n"),
    ],
)
def test_invalid_values_raise_at_construction_naming_the_field(build: Any, path: str) -> None:
    """Every model raises TypeError/ValueError at construction, and the message names the field."""
    with pytest.raises((TypeError, ValueError)) as caught:
        build()
    assert path in str(caught.value)


def test_models_are_frozen() -> None:
    """Instances cannot be changed after validation."""
    instance = event(human_feedback={"type": "t", "content": "c", "timestamp_utc": END})
    for target, name in [
        (instance, "status"),
        (instance.timestamps, "duration_seconds"),
        (instance.llm_trace[0], "prompt"),
        (instance.human_feedback, "content"),
    ]:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(target, name, None)


def test_event_defaults() -> None:
    """Defaults: fresh uuid4 event_id, duration from start/end, calls numbered, empty cost, no feedback."""
    made = wflogging.TaskEvent(
        task_id="1",
        task_description="d",
        agent_name="a",
        timestamps={"start_time_utc": START, "end_time_utc": END},
        status=wflogging.Status.SUCCESS,
        llm_trace=[wflogging.LLMCall(model_name="m", prompt="", completion="")] * 2,
    )
    assert uuid.UUID(made.event_id).version == 4
    assert made.workflow_run_id is None
    assert made.timestamps.duration_seconds == 2.5
    assert [c.call_sequence for c in made.llm_trace] == [1, 2]
    assert (made.cost_data, made.human_feedback, made.extensions) == ({}, None, None)


def test_event_takes_the_current_run() -> None:
    """A TaskEvent built inside a run belongs to that run."""
    with wflogging.workflow_run() as run_id:
        assert wflogging.TaskEvent(**valid_fields()).workflow_run_id == run_id


def test_feedback_timestamp_defaults_to_now() -> None:
    """HumanFeedback without a timestamp is stamped at construction, in UTC."""
    before = dt.datetime.now(dt.timezone.utc)
    feedback = wflogging.HumanFeedback(type=wflogging.FeedbackType.HIL_APPROVAL, content="approve")
    assert before <= feedback.timestamp_utc <= dt.datetime.now(dt.timezone.utc)
    assert feedback.type == "HIL-Approval"


def test_to_dict_from_dict_round_trip() -> None:
    """from_dict(to_dict()) gives an equal event, and to_dict is in SOP order."""
    original = event(
        human_feedback={"type": "HIL-Approval", "content": "ok", "timestamp_utc": END},
        extensions={"log": {"level": "INFO"}},
    )
    entry = original.to_dict()
    assert list(entry) == [*wflogging.schema.FIELD_ORDER, "extensions"]
    assert wflogging.TaskEvent.from_dict(entry) == original
    assert wflogging.TaskEvent.from_dict(entry).to_dict() == entry


def test_to_dict_matches_build_entry() -> None:
    """The model and build_entry write the same entry for the same fields."""
    fields = valid_fields(event_id=str(uuid.uuid4()), workflow_run_id=RUN)
    assert wflogging.TaskEvent(**fields).to_dict() == wflogging.build_entry(fields)


def _without(path: str) -> dict[str, Any]:
    entry = stored()
    *parents, last = path.split(".")
    target: Any = entry
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    del target[last]
    return entry


@pytest.mark.parametrize(
    "path",
    [
        *wflogging.schema.FIELD_ORDER,
        "timestamps.duration_seconds",
        "llm_trace.0.call_sequence",
        "human_feedback.timestamp_utc",
    ],
)
def test_from_dict_requires_what_a_stored_entry_has(path: str) -> None:
    """A stored entry missing any field (even ones a caller may leave out) is refused."""
    entry = stored(human_feedback={"type": "t", "content": "c", "timestamp_utc": END})
    if path == "human_feedback.timestamp_utc":
        del entry["human_feedback"]["timestamp_utc"]
    else:
        entry = _without(path)
        entry["human_feedback"] = {"type": "t", "content": "c", "timestamp_utc": END}
        if path == "human_feedback":
            del entry["human_feedback"]
    with pytest.raises(ValueError, match=path.replace(".0.", r"\[0\]\.")):
        wflogging.TaskEvent.from_dict(entry)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda e: e.update(workflow_run_id=None), "workflow_run_id"),
        (lambda e: e["timestamps"].update(duration_seconds=None), "timestamps.duration_seconds"),
        (lambda e: e["llm_trace"][0].update(call_sequence=None), "call_sequence"),
        (lambda e: e.update(extensions=None), "extensions"),
        (lambda e: e.update(cost_data=None), "cost_data"),
        (lambda e: e.update(owner="me"), "owner"),
    ],
)
def test_from_dict_refuses_null_shorthands_and_unknown_keys(change: Any, path: str) -> None:
    """null where a stored entry needs a value, and keys outside the schema, are refused."""
    entry = stored()
    change(entry)
    with pytest.raises((TypeError, ValueError), match=path):
        wflogging.TaskEvent.from_dict(entry)
