"""build_entry: every rule of issue 2's "How users log an event", tested without logging."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import valid_fields
from wflogging.schema import FIELD_ORDER, MAX_DEPTH
from wflogging.serialize import available_serializers, get_serializer

RUN = "6f1c2f0e-9d0a-4c55-8a1b-2f3e4d5c6b7a"
UTC = dt.timezone.utc


def build(run_id_at_call: str | None = RUN, **overrides: Any) -> dict[str, Any]:
    """The entry for the valid fields with ``overrides``."""
    return wflogging.build_entry(valid_fields(**overrides), run_id_at_call)


def rejected(run_id_at_call: str | None = RUN, **overrides: Any) -> dict[str, str]:
    """The problems (path -> problem text) of an event expected to be rejected."""
    with pytest.raises(wflogging.TaskEventRejected) as caught:
        wflogging.build_entry(valid_fields(**overrides), run_id_at_call)
    paths = [problem.path for problem in caught.value.problems]
    assert len(paths) == len(set(paths)), "one problem per path in these tests"
    return {problem.path: problem.problem for problem in caught.value.problems}


def stamps(start: object, end: object, **more: object) -> dict[str, object]:
    return {"start_time_utc": start, "end_time_utc": end, **more}


# --- event_id --------------------------------------------------------------------------


def test_event_id_is_a_fresh_uuid4_when_not_given() -> None:
    """Without event_id each entry gets a new, canonical uuid4."""
    first, second = build()["event_id"], build()["event_id"]
    assert first != second
    for event_id in (first, second):
        parsed = uuid.UUID(event_id)
        assert parsed.version == 4
        assert str(parsed) == event_id


@pytest.mark.parametrize("form", [lambda given: given, str, lambda given: str(given).upper()])
def test_given_event_id_is_kept_in_canonical_lowercase(form: Any) -> None:
    """A given event_id (UUID object, string, uppercase string) is written lowercase 8-4-4-4-12."""
    given = uuid.UUID("A1B2C3D4-E5F6-4789-9ABC-DEF012345678")
    assert build(event_id=form(given))["event_id"] == "a1b2c3d4-e5f6-4789-9abc-def012345678"


@pytest.mark.parametrize("bad", ["not-a-uuid", "a1b2c3d4e5f647899abcdef012345678", "", 12, b"x" * 16])
def test_bad_event_id_is_rejected(bad: object) -> None:
    """An event_id that is not a UUID (or its 8-4-4-4-12 text) is a reject naming event_id."""
    assert "event_id" in rejected(event_id=bad)


# --- workflow_run_id ---------------------------------------------------------------------


def test_given_workflow_run_id_wins_over_the_run_at_call_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An explicit workflow_run_id beats the run current at the call and WFLOGGING_RUN_ID."""
    monkeypatch.setenv(wflogging.RUN_ID_ENV, str(uuid.uuid4()))
    given = uuid.uuid4()
    assert build(workflow_run_id=given)["workflow_run_id"] == str(given)
    assert build(workflow_run_id=str(given).upper())["workflow_run_id"] == str(given)


def test_run_at_call_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit id, the run current where the record was made is used."""
    monkeypatch.setenv(wflogging.RUN_ID_ENV, str(uuid.uuid4()))
    assert build(RUN)["workflow_run_id"] == RUN


def test_environment_run_applies_when_nothing_else_names_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """WFLOGGING_RUN_ID (any case, surrounding blanks) is the fallback, written canonically."""
    from_env = uuid.uuid4()
    monkeypatch.setenv(wflogging.RUN_ID_ENV, f" {str(from_env).upper()}\n")
    assert build(None)["workflow_run_id"] == str(from_env)


def test_no_run_at_all_is_rejected_with_a_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no run anywhere the event is rejected, and the reason says how to name one."""
    monkeypatch.delenv(wflogging.RUN_ID_ENV, raising=False)
    problem = rejected(None)["workflow_run_id"]
    assert "workflow_run" in problem
    assert wflogging.RUN_ID_ENV in problem


def test_invalid_environment_run_is_rejected_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A WFLOGGING_RUN_ID that is not a UUID is a reject whose reason names the variable."""
    monkeypatch.setenv(wflogging.RUN_ID_ENV, "run-42")
    problem = rejected(None)["workflow_run_id"]
    assert wflogging.RUN_ID_ENV in problem
    assert "run-42" in problem


@pytest.mark.parametrize("bad", ["run-42", 42])
def test_invalid_run_id_at_call_is_rejected_not_written(bad: Any) -> None:
    """A run id handed to build_entry that is not a UUID never reaches an entry."""
    assert "workflow_run_id" in rejected(bad)


def test_invalid_explicit_workflow_run_id_is_rejected() -> None:
    """An explicit workflow_run_id that is not a UUID is rejected even when a run is current."""
    assert "workflow_run_id" in rejected(RUN, workflow_run_id="nope")


# --- timestamps ------------------------------------------------------------------------

_START = "2026-03-01T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00.000000Z"),
        ("2026-03-01t10:00:00z", "2026-03-01T10:00:00.000000Z"),
        ("2026-03-01T12:30:00+02:30", "2026-03-01T10:00:00.000000Z"),
        ("2026-03-01T05:00:00.5-05:00", "2026-03-01T10:00:00.500000Z"),
        ("2026-03-01T10:00:00.123456789Z", "2026-03-01T10:00:00.123456Z"),
        ("2026-03-01T10:00:00.1234567891234+00:00", "2026-03-01T10:00:00.123456Z"),
        ("2026-03-01T10:00:00-00:00", "2026-03-01T10:00:00.000000Z"),
        ("2026-03-02T09:59:00+23:59", "2026-03-01T10:00:00.000000Z"),
        (dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC), "2026-03-01T10:00:00.000000Z"),
        (
            dt.datetime(2026, 3, 1, 11, 0, 0, 7, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2026-03-01T10:00:00.000007Z",
        ),
    ],
)
def test_instants_are_written_as_utc_z_with_microseconds(given: object, written: str) -> None:
    """Aware datetimes and ISO strings (any offset, Z/z, any fraction) become UTC ...Z with 6 digits."""
    entry = build(timestamps=stamps(given, "2026-03-01T11:00:00Z"))
    assert entry["timestamps"]["start_time_utc"] == written


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (dt.datetime(2026, 3, 1, 10, 0), "naive"),
        ("2026-03-01T10:00:00", "no UTC offset"),
        ("2026-03-01T10:00:00.5", "no UTC offset"),
        ("2026-03-01", "not an ISO 8601"),
        ("2026-03-01 10:00:00Z", "not an ISO 8601"),
        ("2026-02-30T10:00:00Z", "not a valid date-time"),
        ("2026-03-01T24:00:00Z", "not a valid date-time"),
        ("2026-03-01T10:00:60Z", "not a valid date-time"),
        ("2026-03-01T10:00:00+24:00", "not a valid date-time"),
        ("2026-03-01T10:00:00+01:60", "not a valid date-time"),
        ("0001-01-01T00:30:00+01:00", "out of range"),
        ("", "not an ISO 8601"),
        (1_772_359_200, "expected an aware datetime"),
        (dt.date(2026, 3, 1), "expected an aware datetime"),
    ],
)
def test_bad_instants_are_rejected_with_a_reason(bad: object, words: str) -> None:
    """Naive, offset-less, impossible and non-date-time values are rejected, naming the field."""
    problem = rejected(timestamps=stamps(bad, "2026-03-01T11:00:00Z"))["timestamps.start_time_utc"]
    assert words in problem


def test_end_before_start_is_rejected() -> None:
    """An end earlier than the start (after offsets are applied) is rejected under timestamps."""
    problems = rejected(timestamps=stamps("2026-03-01T10:00:00Z", "2026-03-01T10:30:00+01:00"))
    assert "before" in problems["timestamps"]


def test_equal_start_and_end_is_a_zero_duration() -> None:
    """A task that starts and ends in the same microsecond lasts 0 seconds."""
    assert build(timestamps=stamps(_START, _START))["timestamps"]["duration_seconds"] == 0


def test_duration_is_computed_from_start_and_end_when_absent() -> None:
    """Without duration_seconds, it is end - start in seconds (offsets applied)."""
    entry = build(timestamps=stamps("2026-03-01T10:00:00Z", "2026-03-01T11:00:02.25+01:00"))
    assert entry["timestamps"]["duration_seconds"] == 2.25


@pytest.mark.parametrize("given", [1.75, 3, dt.timedelta(milliseconds=1500)])
def test_given_duration_is_kept(given: object) -> None:
    """An explicit duration (a monotonic measurement, say) is kept, not recomputed, as a float."""
    duration = build(timestamps=stamps(_START, "2026-03-01T10:00:10Z", duration_seconds=given))["timestamps"][
        "duration_seconds"
    ]
    expected = given.total_seconds() if isinstance(given, dt.timedelta) else float(str(given))
    assert duration == expected
    assert type(duration) is float


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf, True, "2", 10**400])
def test_bad_duration_is_rejected(bad: object) -> None:
    """Negative, NaN, infinite, boolean, text and unrepresentable durations are rejected."""
    problems = rejected(timestamps=stamps(_START, _START, duration_seconds=bad))
    assert "timestamps.duration_seconds" in problems


def test_timestamps_missing_parts_are_each_reported() -> None:
    """Missing start and end are two problems, not one."""
    problems = rejected(timestamps={})
    assert set(problems) == {"timestamps.start_time_utc", "timestamps.end_time_utc"}


def test_timestamps_model_is_accepted() -> None:
    """A Timestamps instance works as the timestamps field."""
    model = wflogging.Timestamps(start_time_utc=_START, end_time_utc="2026-03-01T10:00:01Z")
    assert build(timestamps=model)["timestamps"] == model.to_dict()


# --- status ----------------------------------------------------------------------------


@pytest.mark.parametrize("member", list(wflogging.Status))
def test_status_as_member_or_exact_string(member: wflogging.Status) -> None:
    """A Status member and its exact value both write the value, as a plain str."""
    for status in (member, member.value):
        written = build(status=status)["status"]
        assert written == member.value
        assert type(written) is str


@pytest.mark.parametrize("bad", ["success", "Done", "SUCCESS", " Success", "", None, 1])
def test_any_other_status_is_rejected(bad: object) -> None:
    """Wrong case, unknown words, blanks and non-strings are rejected, listing the allowed values."""
    problem = rejected(status=bad)["status"]
    assert "HIL-Paused" in problem


# --- llm_trace -------------------------------------------------------------------------


def call(**overrides: Any) -> dict[str, Any]:
    return {"model_name": "m", "prompt": "p", "completion": "c", **overrides}


def test_calls_are_numbered_in_list_order_when_not_numbered() -> None:
    """call_sequence is 1..n in list order when left out; plain dicts and LLMCall mix."""
    trace = [
        call(prompt="a"),
        wflogging.LLMCall(model_name="m", prompt="b", completion="c"),
        call(prompt="c"),
    ]
    written = build(llm_trace=trace)["llm_trace"]
    assert [(item["call_sequence"], item["prompt"]) for item in written] == [(1, "a"), (2, "b"), (3, "c")]
    assert [list(item) for item in written] == [["call_sequence", "model_name", "prompt", "completion"]] * 3


def test_given_numbers_running_one_to_n_are_kept() -> None:
    """Explicit call_sequence values 1..n (2.0 counts as 2) are accepted."""
    written = build(llm_trace=[call(call_sequence=1), call(call_sequence=2.0)])["llm_trace"]
    assert [item["call_sequence"] for item in written] == [1, 2]


@pytest.mark.parametrize("numbers", [[2, 1], [1, 3], [0, 1], [1, 1], [1, True]])
def test_given_numbers_not_running_one_to_n_are_rejected(numbers: list[object]) -> None:
    """A call_sequence that differs from the call's position is rejected at that call."""
    problems = rejected(llm_trace=[call(call_sequence=number) for number in numbers])
    assert any(path.endswith(".call_sequence") for path in problems)


def test_empty_or_absent_trace_is_an_empty_list() -> None:
    """No LLM calls: llm_trace is []."""
    fields = valid_fields()
    del fields["llm_trace"]
    assert wflogging.build_entry(fields, RUN)["llm_trace"] == []
    assert build(llm_trace=[])["llm_trace"] == []


def test_bad_trace_items_are_reported_by_position() -> None:
    """Each bad call is reported at its index; model_name must be non-empty."""
    problems = rejected(llm_trace=[call(), "text", call(model_name=""), {"prompt": "p", "completion": "c"}])
    assert set(problems) == {"llm_trace[1]", "llm_trace[2].model_name", "llm_trace[3].model_name"}


_ALL_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]))
_TRICKY = st.sampled_from(["", "\x00", "\n\r\n", '"\\', "\u2028\u2029", "\ufeff", "\U0001f600", "</script>"])


@settings(max_examples=200, deadline=None)
@given(
    prompt=st.one_of(_ALL_TEXT, _TRICKY, st.lists(_TRICKY).map("".join)),
    completion=st.one_of(_ALL_TEXT, _TRICKY),
    serializer=st.sampled_from(available_serializers()),
)
def test_prompt_and_completion_survive_serialization_whole(
    prompt: str, completion: str, serializer: str
) -> None:
    """Any Unicode text (NUL, newlines, quotes, U+2028) round-trips exactly through a real JSON line."""
    entry = build(llm_trace=[call(prompt=prompt, completion=completion)])
    line = get_serializer(serializer).dumps_text(entry)
    assert "\n" not in line
    read_back = json.loads(line)["llm_trace"][0]
    assert (read_back["prompt"], read_back["completion"]) == (prompt, completion)


# --- cost_data -------------------------------------------------------------------------


class Tier(enum.Enum):
    GOLD = "gold"


@attrs.frozen
class Usage:
    tokens: int
    price: decimal.Decimal


@dataclasses.dataclass(frozen=True)
class Budget:
    limit: float
    used: tuple[int, ...]


def test_cost_data_values_become_plain_json() -> None:
    """Decimal, datetimes, dates, UUID, enums, attrs/dataclass values and tuples become plain JSON."""
    some_id = uuid.uuid4()
    cost = {
        "usd": decimal.Decimal("0.125"),
        "at": dt.datetime(2026, 3, 1, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "day": dt.date(2026, 3, 1),
        "id": some_id,
        "tier": Tier.GOLD,
        "status": wflogging.Status.FAILED,
        "usage": Usage(tokens=3, price=decimal.Decimal("1.5")),
        "budget": Budget(limit=2.0, used=(1, 2)),
        "nested": {"list": [(1, "a"), None, True, -(2**63), 2**64 - 1]},
    }
    written = build(cost_data=cost)["cost_data"]
    expected = {
        "usd": 0.125,
        "at": "2026-03-01T10:00:00.000000Z",
        "day": "2026-03-01",
        "id": str(some_id),
        "tier": "gold",
        "status": "Failed",
        "usage": {"tokens": 3, "price": 1.5},
        "budget": {"limit": 2.0, "used": [1, 2]},
        "nested": {"list": [[1, "a"], None, True, -(2**63), 2**64 - 1]},
    }
    assert written == expected
    assert json.loads(json.dumps(written, allow_nan=False)) == expected
    assert type(written["status"]) is str


def _cycle() -> dict[str, Any]:
    looped: dict[str, Any] = {}
    looped["self"] = looped
    return looped


@dataclasses.dataclass
class Node:
    next: object = None


def _object_cycle() -> Node:
    node = Node()
    node.next = node
    return node


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("bad", "path", "words"),
    [
        (math.nan, "cost_data.a.b[2]", "no JSON form"),
        (-math.inf, "cost_data.a.b[2]", "no JSON form"),
        (decimal.Decimal("NaN"), "cost_data.a.b[2]", "no JSON form"),
        (decimal.Decimal("Infinity"), "cost_data.a.b[2]", "no JSON form"),
        (b"bytes", "cost_data.a.b[2]", "bytes"),
        ({1, 2}, "cost_data.a.b[2]", "set"),
        (frozenset(), "cost_data.a.b[2]", "frozenset"),
        (dt.datetime(2026, 3, 1), "cost_data.a.b[2]", "naive"),
        ({1: "x"}, "cost_data.a.b[2]", "not a string"),
        (2**64, "cost_data.a.b[2]", "64-bit"),
        (-(2**63) - 1, "cost_data.a.b[2]", "64-bit"),
        (_cycle(), "cost_data.a.b[2].self", "cycle"),
        (_object_cycle(), "cost_data.a.b[2].next", "cycle"),
        (object(), "cost_data.a.b[2]", "object"),
        (_deep(MAX_DEPTH), "cost_data.a.b[2]" + ".x" * (MAX_DEPTH - 3), "levels deep"),
    ],
)
def test_cost_data_without_faithful_json_is_rejected_at_its_path(bad: object, path: str, words: str) -> None:
    """Each value with no faithful JSON form is a reject whose problem names its exact path."""
    problems = rejected(cost_data={"a": {"b": [1, 2, bad]}, "ok": 1})
    assert list(problems) == [path]
    assert words in problems[path]


def test_nesting_up_to_the_limit_is_accepted() -> None:
    """cost_data nested exactly MAX_DEPTH levels (counting cost_data) is fine."""
    build(cost_data=_deep(MAX_DEPTH - 1))


@pytest.mark.parametrize("bad", [[1], "x", 3])
def test_cost_data_must_be_an_object(bad: object) -> None:
    """cost_data that is not a mapping is rejected."""
    assert "cost_data" in rejected(cost_data=bad)


_instants = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-7, minutes=-30))]),
)
_json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**300), max_value=10**300),
    _instants,
    st.dates(),
    st.uuids(),
)
_json_like = st.recursive(
    _json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=30,
)


def _is_plain_json(value: object) -> bool:
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(map(_is_plain_json, value))
    if type(value) is dict:
        return all(type(key) is str and _is_plain_json(item) for key, item in value.items())
    return False


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cost=st.dictionaries(st.text(max_size=8), _json_like, max_size=5))
def test_json_able_cost_data_is_never_rejected_and_comes_out_plain(cost: dict[str, Any]) -> None:
    """Any nesting of JSON-able values (Decimal, datetimes, UUIDs, tuples) is accepted as plain JSON."""
    written = build(cost_data=cost)["cost_data"]
    assert _is_plain_json(written)
    assert json.loads(json.dumps(written, allow_nan=False)) == written


# --- human_feedback --------------------------------------------------------------------

_FEEDBACK = {"type": "HIL-Approval", "content": "approve", "timestamp_utc": "2026-03-01T10:00:03+00:00"}


def test_human_feedback_is_null_unless_given() -> None:
    """Without human_feedback, the entry has human_feedback: null."""
    assert build()["human_feedback"] is None


@pytest.mark.parametrize("status", list(wflogging.Status))
def test_human_feedback_is_allowed_with_any_status(status: wflogging.Status) -> None:
    """Feedback is kept whatever the status (a resumed task keeps its feedback)."""
    assert build(status=status, human_feedback=_FEEDBACK)["human_feedback"] == {
        "type": "HIL-Approval",
        "content": "approve",
        "timestamp_utc": "2026-03-01T10:00:03.000000Z",
    }


def test_paused_task_without_feedback_is_valid() -> None:
    """A HIL-Paused event whose human has not answered yet has human_feedback: null."""
    assert build(status="HIL-Paused")["human_feedback"] is None


@pytest.mark.parametrize(
    "kind", [wflogging.FeedbackType.MANUAL_STEP_CONFIRMATION, "Manual-Step-Confirmation", "Slack-Thumbs-Up"]
)
def test_feedback_type_is_a_member_or_any_non_empty_string(kind: object) -> None:
    """FeedbackType members write their value; other non-empty strings are kept."""
    written = build(human_feedback={**_FEEDBACK, "type": kind})["human_feedback"]["type"]
    assert written == getattr(kind, "value", kind)
    assert type(written) is str


def test_feedback_model_is_accepted() -> None:
    """A HumanFeedback instance works as the human_feedback field."""
    feedback = wflogging.HumanFeedback(type="HIL-Approval", content="", timestamp_utc=_START)
    assert build(human_feedback=feedback)["human_feedback"] == feedback.to_dict()


def test_bad_feedback_is_rejected_field_by_field() -> None:
    """Missing timestamp, empty type and non-text content are each reported."""
    problems = rejected(human_feedback={"type": "", "content": 3})
    assert set(problems) == {
        "human_feedback.type",
        "human_feedback.content",
        "human_feedback.timestamp_utc",
    }
    assert "missing" in problems["human_feedback.timestamp_utc"]


# --- task_event and flat fields ----------------------------------------------------------


def _model_event(**overrides: Any) -> wflogging.TaskEvent:
    fields = valid_fields(**overrides)
    return wflogging.TaskEvent(**fields)


def test_task_event_model_gives_the_same_entry_as_flat_fields() -> None:
    """extra={"task_event": TaskEvent(...)} yields the entry the same flat fields give."""
    event = _model_event(event_id=uuid.uuid4())
    from_model = wflogging.build_entry({"task_event": event}, RUN)
    assert from_model == build(event_id=event.event_id)


def test_task_event_mapping_mixes_with_flat_fields() -> None:
    """Fields split between a task_event mapping and flat keys are merged into one entry."""
    fields = valid_fields()
    flat = {key: fields.pop(key) for key in ("status", "llm_trace")}
    entry = wflogging.build_entry({"task_event": fields, **flat, "unrelated": 1}, RUN)
    assert entry["status"] == "Success"
    assert entry["llm_trace"][0]["prompt"] == "Plan it"


def test_model_event_outside_a_run_takes_the_run_at_call() -> None:
    """A TaskEvent built outside any run gets the run current where it is logged."""
    event = _model_event()
    assert event.workflow_run_id is None
    assert wflogging.build_entry({"task_event": event}, RUN)["workflow_run_id"] == RUN


def test_field_in_both_task_event_and_extra_is_rejected() -> None:
    """The same field in task_event and as a flat key is a conflict, even with an equal value."""
    fields = valid_fields()
    with pytest.raises(wflogging.TaskEventRejected) as caught:
        wflogging.build_entry({"task_event": fields, "task_id": fields["task_id"]}, RUN)
    assert [problem.path for problem in caught.value.problems] == ["task_id"]


def test_task_event_of_the_wrong_type_is_rejected() -> None:
    """task_event must be a TaskEvent or a mapping."""
    with pytest.raises(wflogging.TaskEventRejected) as caught:
        wflogging.build_entry({"task_event": "1.1"}, RUN)
    assert caught.value.problems[0].path == "task_event"


@pytest.mark.parametrize(
    ("overrides", "path", "allowed"),
    [
        ({"timestamps": stamps(_START, _START, duration=1)}, "timestamps", "start_time_utc"),
        ({"llm_trace": [call(), call(tokens=3)]}, "llm_trace[1]", "call_sequence"),
        ({"human_feedback": {**_FEEDBACK, "by": "me"}}, "human_feedback", "timestamp_utc"),
    ],
)
def test_unknown_nested_keys_are_rejected_with_the_allowed_list(
    overrides: dict[str, Any], path: str, allowed: str
) -> None:
    """Unknown keys in timestamps, trace items and feedback are rejected, listing what is allowed."""
    problem = rejected(**overrides)[path]
    assert "unknown field" in problem
    assert allowed in problem


def test_unknown_task_event_key_is_rejected_with_the_allowed_list() -> None:
    """An unknown key inside a task_event mapping is rejected, listing the allowed fields."""
    with pytest.raises(wflogging.TaskEventRejected) as caught:
        wflogging.build_entry({"task_event": valid_fields(owner="me")}, RUN)
    (problem,) = caught.value.problems
    assert problem.path == "task_event"
    assert "'owner'" in problem.problem
    assert "agent_name" in problem.problem


# --- the whole entry ----------------------------------------------------------------------


def test_every_problem_is_collected_in_one_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    """One TaskEventRejected carries every problem, including merge conflicts, with the fields."""
    monkeypatch.delenv(wflogging.RUN_ID_ENV, raising=False)
    fields = {
        "task_event": {"task_id": "", "bogus": 1},
        "task_id": "1.1",
        "status": "Done",
        "timestamps": stamps("2026-03-01T10:00:00", _START),
        "cost_data": {"x": {1, 2}},
        "llm_trace": [call(call_sequence=5)],
        "human_feedback": {"type": "t", "content": "c"},
    }
    with pytest.raises(wflogging.TaskEventRejected) as caught:
        wflogging.build_entry(fields)
    assert {problem.path for problem in caught.value.problems} == {
        "task_event",
        "task_id",
        "workflow_run_id",
        "task_description",
        "agent_name",
        "timestamps.start_time_utc",
        "status",
        "cost_data.x",
        "llm_trace[0].call_sequence",
        "human_feedback.timestamp_utc",
    }
    assert caught.value.fields["status"] == "Done"
    for problem in caught.value.problems:
        assert str(problem) in str(caught.value)


@pytest.mark.parametrize("name", ["task_id", "task_description", "agent_name"])
def test_text_fields_must_be_non_empty_strings(name: str) -> None:
    """task_id, task_description and agent_name must be non-empty strings."""
    assert name in rejected(RUN, **{name: ""})
    assert name in rejected(RUN, **{name: 11})


@settings(max_examples=50, deadline=None)
@given(order=st.permutations(list(valid_fields(event_id=str(uuid.uuid4()), human_feedback=None))))
def test_output_keys_are_the_sop_fields_in_sop_order(order: list[str]) -> None:
    """Whatever order the caller used, the entry has exactly FIELD_ORDER's keys in that order."""
    fields = valid_fields(event_id=str(uuid.uuid4()), human_feedback=None)
    entry = wflogging.build_entry({key: fields[key] for key in order}, RUN)
    assert tuple(entry) == FIELD_ORDER


def test_non_event_keys_of_a_record_are_ignored() -> None:
    """Keys other than the event's (a record's own attributes) never reach the entry."""
    entry = wflogging.build_entry(
        {**valid_fields(), "msg": "done", "levelname": "INFO", "status_code": 3}, RUN
    )
    assert tuple(entry) == FIELD_ORDER
