"""The SOP's vocabulary and the rule for every field of a task event.

Each rule is a small pure function that takes a caller's value and the field's
path, and returns the value in the form the log entry stores, or raises a
:class:`FieldError` naming the field.  The attrs model (:mod:`wflogging.model`)
and the record path (:mod:`wflogging.event`) both call these functions, so there
is one definition of "valid" in the package; the shipped JSON Schema
(:func:`load_json_schema`) states the same rules for other tools, and a property
test holds the two together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import re
import sys
import uuid
from collections.abc import Mapping
from typing import Any, NoReturn, cast

import attrs

from wflogging import declaration

__all__ = [
    "FIELD_ORDER",
    "SCHEMA_VERSION",
    "FeedbackType",
    "FieldError",
    "FieldTypeError",
    "FieldValueError",
    "Problem",
    "Status",
    "load_json_schema",
]

#: Version of the shipped JSON Schema (``$id`` ends with it).
SCHEMA_VERSION = declaration.SCHEMA_VERSION

#: The SOP's ten top-level fields, in the SOP's order: the order every entry is written in.
FIELD_ORDER = tuple(field.name for field in declaration.EVENT)

#: Nesting deeper than this inside ``cost_data`` or ``extensions`` is rejected
#: (the stdlib encoder would otherwise hit the recursion limit).
MAX_DEPTH = declaration.MAX_DEPTH

#: The integers ``cost_data`` and ``extensions`` may hold (inclusive bounds).
INT_RANGE = declaration.INT_RANGE
_INT_MIN, _INT_MAX = INT_RANGE


Status = declaration.Status
FeedbackType = declaration.FeedbackType


@attrs.frozen
class Problem:
    """Why a value was refused: the field's path (``llm_trace[2].prompt``) and the problem."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class FieldError(Exception):
    """A field's value breaks its rule. Always also a ``TypeError`` or a ``ValueError``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    @property
    def as_problem(self) -> Problem:
        return Problem(self.path, self.problem)


class FieldTypeError(FieldError, TypeError):
    """The value has the wrong type."""


class FieldValueError(FieldError, ValueError):
    """The value has the right type but is not allowed."""


def _type_error(path: str, expected: str, value: object) -> NoReturn:
    raise FieldTypeError(path, f"expected {expected}, got {type(value).__name__}")


def preview(value: object, limit: int = 60) -> str:
    """A short one-line ``repr`` of ``value`` for error messages."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break error reporting
        text = f"<{type(value).__name__} with a failing repr>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- identifiers and text ---------------------------------------------------------------

#: A UUID in its 8-4-4-4-12 hex form, either case (use ``fullmatch``).
UUID_PATTERN = re.compile(declaration.UUID_PATTERN_TEXT)
_UUID_RE = UUID_PATTERN


def uuid_text(value: object, path: str) -> str:
    """A UUID as its canonical lowercase 8-4-4-4-12 string."""
    if isinstance(value, str):
        if _UUID_RE.fullmatch(value):
            return value.lower()
        raise FieldValueError(path, f"{preview(value)} is not a UUID (8-4-4-4-12 hex digits)")
    if isinstance(value, uuid.UUID):
        return str(value)
    _type_error(path, "a UUID or a UUID string", value)


def text(value: object, path: str, *, allow_empty: bool = False) -> str:
    """A string, kept exactly as given (a ``str`` subclass becomes a plain ``str``)."""
    if isinstance(value, str):
        if not value and not allow_empty:
            raise FieldValueError(path, "must not be empty")
        # str.__str__ of a subclass (a str-mixin enum, say) is the plain text itself;
        # orjson and json would otherwise treat subclasses differently.
        return value if type(value) is str else str.__str__(value)
    _type_error(path, "a string", value)


def status(value: object, path: str = "status") -> Status:
    """A :class:`Status`, from a member or its exact string value."""
    if isinstance(value, Status):
        return value
    if isinstance(value, str):
        member = _STATUS_BY_VALUE.get(value)
        if member is not None:
            return member
        raise FieldValueError(path, f"{preview(value)} is not one of {_STATUS_CHOICES}")
    _type_error(path, f"a Status or one of {_STATUS_CHOICES}", value)


_STATUS_BY_VALUE = {member.value: member for member in Status}
_STATUS_CHOICES = ", ".join(_STATUS_BY_VALUE)


def feedback_type(value: object, path: str) -> str:
    """A feedback type: a :class:`FeedbackType` or any non-empty string."""
    if isinstance(value, FeedbackType):
        return value.value
    return text(value, path)


def positive_integer(value: object, path: str) -> int:
    """An integer >= 1 (an integral float such as ``2.0`` counts, as in JSON Schema)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        _type_error(path, "an integer", value)
    if value < 1:
        raise FieldValueError(path, f"{value} is not a positive integer")
    return int(value)


def call_sequence(value: object, position: int, path: str) -> int:
    """A call's ``call_sequence``: it must equal the call's 1-based position in the trace."""
    value = positive_integer(value, path)
    if value != position:
        raise FieldValueError(
            path, f"is {value} but this is call {position}: calls are numbered 1..n in order"
        )
    return position


# --- time -----------------------------------------------------------------------------

_INSTANT_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_UTC = dt.timezone.utc


def instant(value: object, path: str) -> dt.datetime:
    """A moment in time as an aware UTC ``datetime``.

    Takes an aware ``datetime``, or an RFC 3339 / ISO 8601 string with a ``Z`` or
    ``±HH:MM`` offset and any number of fractional digits (kept to microseconds,
    the rest truncated). A naive value is refused: its time zone is a guess.
    """
    if isinstance(value, dt.datetime):
        if value.utcoffset() is None:
            raise FieldValueError(path, "naive datetime (no time zone) is ambiguous; pass an aware datetime")
        return _to_utc(value, path)
    if isinstance(value, str):
        return _parse_instant(value, path)
    _type_error(path, "an aware datetime or an ISO 8601 string", value)


def _parse_instant(value: str, path: str) -> dt.datetime:
    match = _INSTANT_RE.fullmatch(value)
    if match is None:
        if _INSTANT_RE.fullmatch(value + "Z"):
            raise FieldValueError(path, f"{preview(value)} has no UTC offset (add Z or +HH:MM)")
        raise FieldValueError(path, f"{preview(value)} is not an ISO 8601 date-time")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        if zulu:
            tz = _UTC
        else:
            offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
            if int(off_m) > 59 or offset >= dt.timedelta(hours=24):
                raise ValueError("UTC offset out of range")
            tz = dt.timezone(-offset if sign == "-" else offset)
        moment = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
    except ValueError as exc:
        raise FieldValueError(path, f"{preview(value)} is not a valid date-time ({exc})") from None
    return _to_utc(moment, path)


def _to_utc(moment: dt.datetime, path: str) -> dt.datetime:
    try:
        return moment.astimezone(_UTC)
    except OverflowError:
        raise FieldValueError(path, f"{moment.isoformat()} is out of range in UTC") from None


def format_instant(moment: dt.datetime) -> str:
    """An aware UTC ``datetime`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def duration(value: object, path: str = "timestamps.duration_seconds") -> float:
    """A non-negative, finite number of seconds (a ``timedelta`` is accepted too)."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        _type_error(path, "a number of seconds", value)
    elif value > sys.float_info.max:  # an int no float can hold; float() would raise OverflowError
        raise FieldValueError(path, f"{preview(value)} is too large for a float number of seconds")
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise FieldValueError(path, f"{preview(value)} is not a finite, non-negative duration")
    return seconds


def check_order(start: dt.datetime, end: dt.datetime, path: str = "timestamps") -> None:
    """The end of a task must not come before its start."""
    if end < start:
        raise FieldValueError(
            path,
            f"end_time_utc {format_instant(end)} is before start_time_utc {format_instant(start)}",
        )


# --- free-form JSON (cost_data, extensions) ----------------------------------------------


def plain_json(value: object, path: str, problems: list[Problem]) -> Any:
    """``value`` as plain JSON data (dict, list, str, int, float, bool, None).

    ``Decimal`` becomes the nearest float, aware ``datetime`` a UTC ``...Z`` string,
    ``date``/``time`` their ISO text, ``timedelta`` seconds, ``UUID`` its string,
    an enum member its value, and attrs or dataclass instances a dict of their
    fields. Anything without a faithful JSON form (NaN, infinity, bytes, sets, a
    naive datetime, non-string keys, integers beyond 64 bits, cycles, other
    objects) is appended to ``problems`` with its path; the result then must not
    be used.
    """
    return _plain(value, path, problems, 0, set())


def _plain(value: object, path: str, problems: list[Problem], depth: int, open_ids: set[int]) -> Any:
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is int:
        if _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
            return value
        problems.append(Problem(path, f"integer {value} is outside the 64-bit range JSON readers keep"))
        return None
    if kind is float:
        if math.isfinite(value):  # type: ignore[arg-type]
            return value
        problems.append(Problem(path, f"{value} has no JSON form (JSON numbers are finite)"))
        return None
    if depth >= MAX_DEPTH:
        problems.append(Problem(path, f"nested more than {MAX_DEPTH} levels deep"))
        return None
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in open_ids:
            problems.append(Problem(path, "contains itself (a reference cycle)"))
            return None
        open_ids.add(id(value))
        try:
            if isinstance(value, Mapping):
                return _plain_mapping(value, path, problems, depth, open_ids)
            return [
                _plain(item, f"{path}[{index}]", problems, depth + 1, open_ids)
                for index, item in enumerate(value)
            ]
        finally:
            open_ids.discard(id(value))
    return _plain_other(value, path, problems, depth, open_ids)


def _plain_mapping(
    value: Mapping[Any, Any], path: str, problems: list[Problem], depth: int, open_ids: set[int]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Problem(path, f"key {preview(key)} is not a string"))
            continue
        name = key if type(key) is str else str.__str__(key)
        result[name] = _plain(item, f"{path}.{name}", problems, depth + 1, open_ids)
    return result


def _plain_other(value: object, path: str, problems: list[Problem], depth: int, open_ids: set[int]) -> Any:
    if isinstance(value, enum.Enum):
        return _plain(value.value, path, problems, depth + 1, open_ids)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _plain(int(value), path, problems, depth, open_ids)
    if isinstance(value, float):
        return _plain(float(value), path, problems, depth, open_ids)
    if isinstance(value, decimal.Decimal):
        number = float(value) if value.is_finite() else math.nan
        return _plain(number, path, problems, depth, open_ids)
    if isinstance(value, dt.datetime):
        try:
            return format_instant(instant(value, path))
        except FieldError as exc:
            problems.append(exc.as_problem)
            return None
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if attrs.has(type(value)):
        fields = attrs.asdict(cast(attrs.AttrsInstance, value), recurse=False)
        return _plain_instance(value, fields, path, problems, depth=depth, open_ids=open_ids)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _plain_instance(value, fields, path, problems, depth=depth, open_ids=open_ids)
    problems.append(Problem(path, f"{type(value).__name__} value {preview(value)} has no JSON form"))
    return None


def _plain_instance(
    instance: object,
    fields: dict[str, Any],
    path: str,
    problems: list[Problem],
    *,
    depth: int,
    open_ids: set[int],
) -> Any:
    # The fields dict is new on every visit, so the cycle check must track the
    # instance itself; otherwise a self-referencing object reads as "too deep".
    if id(instance) in open_ids:
        problems.append(Problem(path, "contains itself (a reference cycle)"))
        return None
    open_ids.add(id(instance))
    try:
        return _plain(fields, path, problems, depth, open_ids)
    finally:
        open_ids.discard(id(instance))


# --- the shipped JSON Schema ----------------------------------------------------------


def load_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one log entry, as shipped in the package.

    It states the per-field rules; the rules JSON Schema cannot express are
    listed under its ``x-wflogging-cross-field-rules`` key and enforced by the
    library: ``end_time_utc`` is not before ``start_time_utc``;
    ``llm_trace[i].call_sequence`` is ``i + 1``; every date-time lies within the
    years 0001-9999 once converted to UTC; ``cost_data`` and ``extensions`` nest
    at most :data:`MAX_DEPTH` levels and hold no integer outside
    -2**63 .. 2**64-1.
    """
    from importlib import resources  # here, not at import: it pulls in zipfile and pathlib

    source = resources.files("wflogging").joinpath("task_event.schema.json")
    loaded: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return loaded
