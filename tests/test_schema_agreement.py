"""The attrs model and the shipped JSON Schema agree on which JSON documents are log entries.

Documents are valid entries drawn by hypothesis, then possibly mutated (a key
dropped or added, a wrong type, a bad enum value or UUID, an odd date-time,
null, empty text, a float where an integer belongs). The schema and
``TaskEvent.from_dict`` must give the same verdict, except for documents that
break only a rule the schema lists under ``x-wflogging-cross-field-rules``: the
schema accepts those and the model refuses them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging

UTC = dt.timezone.utc
AGREEMENT = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: For the supporting properties, fewer examples keep CI quick.
SUPPORTING = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- valid documents ---------------------------------------------------------------------

_offsets = st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "-11:59", "+23:59", "-23:00"])


@st.composite
def instant_text(draw: st.DrawFn, moment: dt.datetime) -> str:
    """``moment`` (aware, UTC) written as RFC 3339 text in a drawn offset and fraction style."""
    suffix = draw(_offsets)
    offset = dt.timedelta(0) if suffix in ("Z", "z") else _offset_of(suffix)
    local = moment.astimezone(dt.timezone(offset)).replace(tzinfo=None)
    digits = draw(st.integers(min_value=0, max_value=9))
    fraction = f"{local.microsecond:06d}".ljust(digits, "7")[:digits]
    separator = draw(st.sampled_from("Tt"))
    text = local.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    # Truncated fractions lose microseconds, so only write them when nothing is lost.
    if digits and (digits >= 6 or local.microsecond % 10 ** (6 - digits) == 0):
        text += "." + fraction
    elif local.microsecond:
        text += "." + f"{local.microsecond:06d}"
    return text + suffix


def _offset_of(suffix: str) -> dt.timedelta:
    sign = -1 if suffix[0] == "-" else 1
    return sign * dt.timedelta(hours=int(suffix[1:3]), minutes=int(suffix[4:6]))


_moments = st.datetimes(
    min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2199, 12, 30), timezones=st.just(UTC)
)
_uuid_text = st.uuids().flatmap(lambda value: st.sampled_from([str(value), str(value).upper()]))
_some_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
_non_empty = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _some_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_some_text, children, max_size=3),
    max_leaves=12,
)
_json_objects = st.dictionaries(_some_text, _json_values, max_size=4)


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON log entry that both the schema and the model accept."""
    start = draw(_moments)
    end = start + draw(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=2)))
    calls = draw(st.integers(min_value=0, max_value=3))
    document: dict[str, Any] = {
        "event_id": draw(_uuid_text),
        "workflow_run_id": draw(_uuid_text),
        "task_id": draw(_non_empty),
        "task_description": draw(_non_empty),
        "agent_name": draw(_non_empty),
        "timestamps": {
            "start_time_utc": draw(instant_text(start)),
            "end_time_utc": draw(instant_text(end)),
            "duration_seconds": draw(
                st.floats(min_value=0, allow_infinity=False) | st.integers(min_value=0, max_value=10**9)
            ),
        },
        "status": draw(st.sampled_from([member.value for member in wflogging.Status])),
        "cost_data": draw(_json_objects),
        "llm_trace": [
            {
                "call_sequence": draw(st.sampled_from([position, float(position)])),
                "model_name": draw(_non_empty),
                "prompt": draw(_some_text),
                "completion": draw(_some_text),
            }
            for position in range(1, calls + 1)
        ],
        "human_feedback": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "type": _non_empty,
                    "content": _some_text,
                    "timestamp_utc": _moments.flatmap(instant_text),
                }
            )
        ),
    }
    if draw(st.booleans()):
        document["extensions"] = draw(_json_objects)
    # Keys in any order: neither side may depend on it.
    keys = draw(st.permutations(list(document)))
    return {key: document[key] for key in keys}


# --- mutations ---------------------------------------------------------------------------

_REQUIRED: dict[tuple[Any, ...], list[str]] = {
    (): list(wflogging.schema.FIELD_ORDER),
    ("timestamps",): ["start_time_utc", "end_time_utc", "duration_seconds"],
    ("llm_trace", 0): ["call_sequence", "model_name", "prompt", "completion"],
    ("human_feedback",): ["type", "content", "timestamp_utc"],
}
_odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([1.0, 1.5, -0.0, 1e300, 10**30, 2**64]),
    st.sampled_from(["", " ", "Success", "success", "HIL-Paused", "Failed\n", "1.1"]),
    st.just([]),
    st.just({}),
    _some_text,
)

# Date-times built from parts, many of them impossible. Start values fall in the
# 1900s and end values in the 2200s, so a mutated instant that is valid never puts
# the end before the start (that rule is checked on its own below).
_start_years = st.integers(min_value=1900, max_value=1999).map(lambda year: f"{year:04d}")
_end_years = st.integers(min_value=2200, max_value=2299).map(lambda year: f"{year:04d}")


_ODD_PARTS: tuple[tuple[str, ...], ...] = (
    (),  # the year: kept, its range is what keeps start before end
    ("00", "13", "1"),
    ("00", "29", "30", "31", "32"),
    ("t", " ", "", "_"),
    ("23", "24", "25", "1"),
    ("59", "60", "7"),
    ("59", "60", "61"),
    ("", ".", ".5", ".123456789", ".1234567890123", ",5"),
    ("z", "", "-00:00", "+23:59", "+24:00", "-23:60", "+01:60", "+0100", "+01", "UTC", "Z\n", "Z\r", "Z "),
)


@st.composite
def _date_time_text(draw: st.DrawFn, years: st.SearchStrategy[str]) -> str:
    """A date-time text with at most two of its parts replaced by odd (often impossible) ones."""
    parts = [
        draw(years),
        f"-{draw(st.integers(min_value=1, max_value=12)):02d}",
        f"-{draw(st.integers(min_value=1, max_value=28)):02d}",
        "T",
        f"{draw(st.integers(min_value=0, max_value=23)):02d}",
        f":{draw(st.integers(min_value=0, max_value=59)):02d}",
        f":{draw(st.integers(min_value=0, max_value=59)):02d}",
        draw(st.sampled_from(["", ".5", ".000001"])),
        "Z",
    ]
    for index in draw(st.lists(st.integers(min_value=1, max_value=len(parts) - 1), max_size=2)):
        odd = draw(st.sampled_from(_ODD_PARTS[index]))
        prefix = parts[index][0] if index in (1, 2, 5, 6) else ""
        parts[index] = prefix + odd
    return "".join(parts)


def _instant_paths(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = []
    if isinstance(document.get("timestamps"), dict):
        paths += [("timestamps", "start_time_utc"), ("timestamps", "end_time_utc")]
    if isinstance(document.get("human_feedback"), dict):
        paths.append(("human_feedback", "timestamp_utc"))
    return paths


def _parent(document: dict[str, Any], path: tuple[Any, ...]) -> Any:
    target: Any = document
    for part in path:
        target = target[part]
    return target


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid document, then zero to two mutations that may or may not break it."""
    document = draw(valid_documents())
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        places = [
            place
            for place in _REQUIRED
            if place == ()
            or (place[0] == "llm_trace" and bool(document.get("llm_trace")))
            or (place[0] != "llm_trace" and isinstance(document.get(str(place[0])), dict))
        ]
        place = draw(st.sampled_from(places))
        try:
            target = _parent(document, place)
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(target, dict):
            continue
        kind = draw(st.sampled_from(["drop", "add", "replace", "uuid", "instant"]))
        if kind == "drop" and target:
            del target[draw(st.sampled_from(sorted(target)))]
        elif kind == "add":
            target[draw(st.sampled_from(["extra", "Status", "notes", "extensions"]))] = draw(_odd_values)
        elif kind == "replace" and target:
            target[draw(st.sampled_from(sorted(target)))] = draw(_odd_values)
        elif kind == "uuid":
            document[draw(st.sampled_from(["event_id", "workflow_run_id"]))] = draw(
                st.one_of(
                    st.uuids().map(lambda value: str(value).replace("-", "")),
                    st.uuids().map(lambda value: "{" + str(value) + "}"),
                    st.uuids().map(lambda value: str(value) + "\n"),
                    st.uuids().map(lambda value: str(value)[:-1] + "g"),
                    st.uuids().map(lambda value: str(value).upper()),
                    st.uuids().map(lambda value: f"urn:uuid:{value}"),
                )
            )
        elif kind == "instant":
            paths = _instant_paths(document)
            if paths:
                path = draw(st.sampled_from(paths))
                years = _end_years if path[-1] == "end_time_utc" else _start_years
                _parent(document, path[:-1])[path[-1]] = draw(_date_time_text(years))
    return document


# --- verdicts ----------------------------------------------------------------------------


def model_accepts(document: dict[str, Any]) -> bool:
    """Whether TaskEvent.from_dict reads the document (any other exception fails the test)."""
    try:
        wflogging.TaskEvent.from_dict(document)
    except (TypeError, ValueError):
        return False
    return True


def as_json(document: dict[str, Any]) -> dict[str, Any]:
    """The document as a JSON reader would see it (through a real serialization)."""
    loaded: dict[str, Any] = json.loads(json.dumps(document, allow_nan=False))
    return loaded


@AGREEMENT
@given(document=mutated_documents())
def test_schema_and_model_agree(
    document: dict[str, Any], schema_validator: jsonschema.protocols.Validator
) -> None:
    """For any (mutated) JSON document, the schema accepts it exactly when the model does."""
    document = as_json(document)
    schema_errors = [error.message for error in schema_validator.iter_errors(document)]
    if _misnumbered_call(document):  # a rule JSON Schema cannot state: the model alone refuses
        assert not model_accepts(document)
        return
    assert (not schema_errors) == model_accepts(document), schema_errors


def _misnumbered_call(document: dict[str, Any]) -> bool:
    """Whether some llm_trace item has an integer call_sequence other than its position."""
    calls = document.get("llm_trace")
    if not isinstance(calls, list):
        return False
    return any(
        isinstance(call, dict)
        and isinstance(call.get("call_sequence"), int)
        and not isinstance(call.get("call_sequence"), bool)
        and call["call_sequence"] >= 1
        and call["call_sequence"] != position
        for position, call in enumerate(calls, start=1)
    )


@SUPPORTING
@given(document=valid_documents())
def test_valid_documents_are_valid_on_both_sides(
    document: dict[str, Any], schema_validator: jsonschema.protocols.Validator
) -> None:
    """The generator of valid entries really makes valid entries (so the mutation test means something)."""
    document = as_json(document)
    schema_validator.validate(document)
    assert model_accepts(document)


def _end_before_start(document: dict[str, Any]) -> None:
    stamps = document["timestamps"]
    stamps["end_time_utc"] = "1999-12-31T23:59:59.999999Z"


def _renumber(document: dict[str, Any]) -> None:
    document["llm_trace"] = [
        {"call_sequence": 2, "model_name": "m", "prompt": "p", "completion": "c"},
        {"call_sequence": 1, "model_name": "m", "prompt": "p", "completion": "c"},
    ]


def _first_call_numbered_two(document: dict[str, Any]) -> None:
    document["llm_trace"] = [{"call_sequence": 2, "model_name": "m", "prompt": "p", "completion": "c"}]


def _before_year_one_in_utc(document: dict[str, Any]) -> None:
    document["timestamps"]["start_time_utc"] = "0001-01-01T00:30:00+01:00"


def _after_year_9999_in_utc(document: dict[str, Any]) -> None:
    document["timestamps"]["end_time_utc"] = "9999-12-31T23:30:00-01:00"


def _too_deep(document: dict[str, Any]) -> None:
    nested: dict[str, Any] = {}
    for _ in range(wflogging.schema.MAX_DEPTH):
        nested = {"n": nested}
    document["cost_data"] = nested


def _huge_integer(document: dict[str, Any]) -> None:
    document["cost_data"] = {"tokens": [2**64]}


@SUPPORTING
@given(
    document=valid_documents(),
    breakage=st.sampled_from(
        [
            _end_before_start,
            _renumber,
            _first_call_numbered_two,
            _before_year_one_in_utc,
            _after_year_9999_in_utc,
            _too_deep,
            _huge_integer,
        ]
    ),
)
def test_rules_beyond_the_schema_are_the_models_alone(
    document: dict[str, Any],
    breakage: Callable[[dict[str, Any]], None],
    schema_validator: jsonschema.protocols.Validator,
) -> None:
    """A document breaking only an x-wflogging-cross-field-rules rule passes the schema, not the model."""
    broken = copy.deepcopy(document)
    breakage(broken)
    broken = as_json(broken)
    schema_validator.validate(broken)
    assert not model_accepts(broken)


def test_the_schema_lists_the_rules_it_cannot_express() -> None:
    """The schema names every rule only the library enforces, so other tools know of them."""
    rules = " ".join(wflogging.load_json_schema()["x-wflogging-cross-field-rules"])
    for words in ("end_time_utc", "call_sequence", "0001-9999", "64 levels", "2^64"):
        assert words in rules


# --- build_entry output -------------------------------------------------------------------

_aware = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(2999, 12, 30),
    timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=9)), dt.timezone(dt.timedelta(hours=-3))]),
)


@st.composite
def logged_fields(draw: st.DrawFn) -> dict[str, Any]:
    """The flat extra of a valid event, in the many forms callers may use."""
    start = draw(_aware)
    end = start + draw(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=1)))
    as_text = draw(st.booleans())
    stamps: dict[str, Any] = {
        "start_time_utc": draw(instant_text(start.astimezone(UTC))) if as_text else start,
        "end_time_utc": draw(instant_text(end.astimezone(UTC))) if as_text else end,
    }
    if draw(st.booleans()):
        stamps["duration_seconds"] = draw(st.floats(min_value=0, max_value=1e9))
    fields: dict[str, Any] = {
        "task_id": draw(_non_empty),
        "task_description": draw(_non_empty),
        "agent_name": draw(_non_empty),
        "timestamps": stamps,
        "status": draw(st.sampled_from([*wflogging.Status, *(member.value for member in wflogging.Status)])),
        "cost_data": draw(_json_objects),
        "llm_trace": draw(
            st.lists(
                st.fixed_dictionaries(
                    {"model_name": _non_empty, "prompt": _some_text, "completion": _some_text}
                ),
                max_size=3,
            )
        ),
        "human_feedback": draw(
            st.none()
            | st.builds(
                wflogging.HumanFeedback,
                type=st.sampled_from(wflogging.FeedbackType) | _non_empty,
                content=_some_text,
                timestamp_utc=_aware,
            )
        ),
    }
    if draw(st.booleans()):
        fields["event_id"] = draw(st.uuids() | _uuid_text)
    return fields


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=logged_fields(), run_id=st.uuids().map(str))
def test_every_built_entry_validates_against_the_schema(
    fields: dict[str, Any], run_id: str, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Whatever valid form the caller used, build_entry's entry is schema-valid and readable by the model."""
    entry = wflogging.build_entry(fields, run_id)
    schema_validator.validate(as_json(entry))
    assert wflogging.TaskEvent.from_dict(entry).to_dict() == entry
    assert not any(isinstance(value, float) and math.isnan(value) for value in entry["timestamps"].values())


def test_an_uppercase_uuid_is_valid_but_written_lowercase(
    schema_validator: jsonschema.protocols.Validator,
) -> None:
    """Both sides accept an uppercase UUID (RFC 4122 reads any case); the library writes lowercase."""
    upper = str(uuid.uuid4()).upper()
    document: dict[str, Any] = {
        "event_id": upper,
        "workflow_run_id": str(uuid.uuid4()),
        "task_id": "1",
        "task_description": "d",
        "agent_name": "a",
        "timestamps": {
            "start_time_utc": "2026-03-01T10:00:00Z",
            "end_time_utc": "2026-03-01T10:00:00Z",
            "duration_seconds": 0,
        },
        "status": "Success",
        "cost_data": {},
        "llm_trace": [],
        "human_feedback": None,
    }
    schema_validator.validate(document)
    written = wflogging.TaskEvent.from_dict(document).to_dict()["event_id"]
    assert written == upper.lower()


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_trailing_line_break_is_refused_by_both(
    line_end: str, schema_validator: jsonschema.protocols.Validator
) -> None:
    """A date-time or UUID with a trailing line break is not valid (Python's `$` would let it by)."""
    document = json.loads(
        json.dumps(
            wflogging.build_entry(
                {
                    "task_id": "1",
                    "task_description": "d",
                    "agent_name": "a",
                    "timestamps": {
                        "start_time_utc": "2026-03-01T10:00:00Z",
                        "end_time_utc": "2026-03-01T10:00:00Z",
                    },
                    "status": "Success",
                },
                str(uuid.uuid4()),
            )
        )
    )
    for parent, key in ((("timestamps",), "end_time_utc"), ((), "event_id")):
        broken = copy.deepcopy(document)
        _parent(broken, parent)[key] += line_end
        assert not schema_validator.is_valid(broken)
        assert not model_accepts(broken)
