"""From the fields a caller logged to the log entry the SOP asks for.

:func:`build_entry` is the hot path of the library: a pure function from a
mapping of fields (a record's ``__dict__`` works as is) to the entry as a plain
dict in the SOP's field order, or :class:`TaskEventRejected` carrying every
problem found. It derives what it can (``event_id``, ``workflow_run_id``,
``duration_seconds``, ``call_sequence``, empty ``cost_data``/``llm_trace``,
``human_feedback: null``) and checks the rest with the rules in
:mod:`wflogging.schema`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from wflogging import declaration, schema
from wflogging.context import RECORD_ATTRIBUTE, RUN_ID_ENV, context_run_id
from wflogging.model import HumanFeedback, LLMCall, TaskEvent, Timestamps
from wflogging.schema import FIELD_ORDER, Problem
from wflogging.serialize import (
    DIVERGENT_FLOATS_BELOW,
    SEARCH_LATER_CHARS,
    EntryDict,
    data_traits,
    holds_line_separator,
    spelled_differently,
)

__all__ = ["EVENT_KEYS", "TaskEventRejected", "build_entry", "event_fields", "is_task_event"]

#: The ``extra`` keys that make up an event (``task_event`` holds them all at once).
EVENT_KEYS = frozenset((*FIELD_ORDER, declaration.EXTENSIONS.name))

_TIMESTAMP_KEYS = declaration.keys(declaration.TIMESTAMPS)
_CALL_KEYS = declaration.keys(declaration.LLM_CALL)
_FEEDBACK_KEYS = declaration.keys(declaration.HUMAN_FEEDBACK)
_MISSING: Any = object()


class TaskEventRejected(ValueError):
    """A task event that cannot be written as a conformant entry.

    Attributes:
        problems: every problem found, each with the field's path.
        fields: the event's fields as the caller gave them.
    """

    def __init__(self, problems: list[Problem], fields: Mapping[str, Any]) -> None:
        self.problems = tuple(problems)
        self.fields = fields
        super().__init__("; ".join(map(str, self.problems)))


def is_task_event(record: logging.LogRecord) -> bool:
    """Whether a record is a task event: its ``extra`` had ``task_id`` or ``task_event``."""
    attributes = record.__dict__
    return "task_id" in attributes or "task_event" in attributes


def event_fields(record: logging.LogRecord) -> Mapping[str, Any]:
    """The event's fields on a record: ``task_event``'s, plus flat ``extra`` keys.

    When the two cannot be merged (a field given in both places, an unknown key
    in ``task_event``), the record's ``task_event`` and flat keys are returned
    as they are, so that :func:`build_entry` reports those problems together
    with every other one.
    """
    attributes = record.__dict__
    if "task_event" not in attributes:
        return attributes
    bundled = attributes["task_event"]
    if type(bundled) is dict and EVENT_KEYS.issuperset(bundled) and EVENT_KEYS.isdisjoint(attributes):
        return bundled  # what _merge would copy it into (the recorder's form): no copy needed
    try:
        merged, problems = _merge(attributes)
    except Exception:  # a task_event that raises when read: build_entry reports it, under its guard
        problems = [Problem("task_event", "raised while being read")]
    if problems:
        return {key: attributes[key] for key in _BUNDLE_KEYS.intersection(attributes)}
    return merged


_BUNDLE_KEYS = EVENT_KEYS | {"task_event"}
_EVENT_KEY_LIST = ", ".join(sorted(EVENT_KEYS))


def _merge(fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """``fields["task_event"]``'s fields plus the flat event keys of ``fields``, and any conflicts."""
    bundled = fields["task_event"]
    problems: list[Problem] = []
    merged: dict[str, Any]
    if isinstance(bundled, TaskEvent):
        merged = bundled.to_dict()
        if merged["workflow_run_id"] is None:  # no run where it was built: the record's run applies
            del merged["workflow_run_id"]
    elif isinstance(bundled, Mapping):
        merged = {}
        for key, value in bundled.items():
            if key in EVENT_KEYS:
                merged[key] = value
            else:
                problems.append(
                    Problem("task_event", f"unknown field {schema.preview(key)} (allowed: {_EVENT_KEY_LIST})")
                )
    else:
        merged = {}
        problems.append(
            Problem("task_event", f"expected a TaskEvent or a mapping, got {type(bundled).__name__}")
        )
    for key in EVENT_KEYS.intersection(fields):
        if key in merged:
            problems.append(Problem(key, "given both in task_event and as its own extra key"))
        merged[key] = fields[key]
    return merged, problems


def build_entry(fields: Mapping[str, Any], run_id_at_call: str | None = None) -> dict[str, Any]:
    """The log entry for ``fields``, or :class:`TaskEventRejected` with every problem.

    ``fields`` holds flat event fields, a ``task_event`` (a :class:`TaskEvent` or a
    mapping) or both, with no field in both places. ``workflow_run_id`` is the one
    in ``fields``, else ``run_id_at_call`` (the run current where the record was
    made), else ``WFLOGGING_RUN_ID``.

    The entry is a ``dict`` (an :class:`~wflogging.serialize.EntryDict`, which also
    tells the serializers what it holds so that they need not look).
    """
    if "task_event" not in fields:
        fast = _compiled_entry(fields, run_id_at_call)
        if fast is not None:
            return fast
    return _checked_entry(fields, run_id_at_call)


def _checked_entry(fields: Mapping[str, Any], run_id_at_call: str | None) -> EntryDict:
    """:func:`build_entry` by the full rules: every value checked, every problem collected."""
    problems: list[Problem] = []
    if "task_event" in fields:
        merged = _guarded("task_event", problems, lambda: _merge(fields))
        if merged is None:
            raise TaskEventRejected(problems, fields)
        fields, problems = merged
    get = fields.get
    # Each field is read under a guard: a caller's object may raise anywhere (a property,
    # __iter__, a Mapping's items()), and that must make a reason, never a traceback.
    entry: dict[str, Any] = {
        "event_id": _guarded("event_id", problems, lambda: _event_id(get("event_id"), problems)),
        "workflow_run_id": _guarded(
            "workflow_run_id", problems, lambda: _run_id(get("workflow_run_id"), run_id_at_call, problems)
        ),
        "task_id": _guarded(
            "task_id", problems, lambda: _required(get("task_id", _MISSING), "task_id", schema.text, problems)
        ),
        "task_description": _guarded(
            "task_description",
            problems,
            lambda: _required(get("task_description", _MISSING), "task_description", schema.text, problems),
        ),
        "agent_name": _guarded(
            "agent_name",
            problems,
            lambda: _required(get("agent_name", _MISSING), "agent_name", schema.text, problems),
        ),
        "timestamps": _guarded(
            "timestamps", problems, lambda: _timestamps(get("timestamps", _MISSING), problems)
        ),
        "status": _guarded(
            "status", problems, lambda: _required(get("status", _MISSING), "status", _status_value, problems)
        ),
        "cost_data": _guarded(
            "cost_data",
            problems,
            lambda: _json_object(get("cost_data", _MISSING), "cost_data", problems, default={}),
        ),
        "llm_trace": _guarded(
            "llm_trace", problems, lambda: _llm_trace(get("llm_trace", _MISSING), problems)
        ),
        "human_feedback": _guarded(
            "human_feedback", problems, lambda: _human_feedback(get("human_feedback"), problems)
        ),
    }
    extensions = get("extensions")
    if extensions is not None:
        entry["extensions"] = _guarded(
            "extensions", problems, lambda: _json_object(extensions, "extensions", problems, default=None)
        )
    if problems:
        raise TaskEventRejected(problems, fields)
    built = EntryDict(entry)
    # One walk: this path is for unusual input only.
    built.divergent_floats, built.line_separators, built.longest_text = data_traits(entry)
    return built


_T = TypeVar("_T")


def _guarded(path: str, problems: list[Problem], read: Callable[[], _T]) -> _T | None:
    """``read()``, or ``None`` with a problem at ``path`` when the caller's object raised."""
    try:
        return read()
    except RecursionError:
        raise  # the stack ran out, the event is not at fault: the handler counts it as a fault
    except Exception as exc:
        problems.append(Problem(path, f"raised {exception_text(exc)} while being read"))
        return None


def exception_text(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` of an exception, bounded, even when its ``__str__`` raises too."""
    try:
        message = str(exc)
    except Exception:
        message = "(a message that cannot be shown)"
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def record_run_id(record: logging.LogRecord) -> str | None:
    """The run current where ``record`` was made.

    Records made while wflogging's record factory (or :class:`RunContextFilter`)
    was in place carry it; for any other record, the run current now is the best
    answer (right for handlers that format in the logging thread).
    """
    attributes = record.__dict__
    if RECORD_ATTRIBUTE in attributes:
        run_id: str | None = attributes[RECORD_ATTRIBUTE]
        return run_id
    return context_run_id()


def _apply(rule: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    try:
        return rule(value, path)
    except schema.FieldError as exc:
        problems.append(exc.as_problem)
        return None


def _required(value: Any, path: str, rule: Any, problems: list[Problem]) -> Any:
    if value is _MISSING:
        problems.append(Problem(path, "missing (required)"))
        return None
    return _apply(rule, value, path, problems)


def _status_value(value: Any, path: str) -> str:
    return schema.status(value, path).value


def _event_id(value: Any, problems: list[Problem]) -> str | None:
    if value is None:
        return str(uuid.uuid4())
    result: str | None = _apply(schema.uuid_text, value, "event_id", problems)
    return result


def _run_id(given: Any, run_id_at_call: str | None, problems: list[Problem]) -> str | None:
    if given is not None:
        result: str | None = _apply(schema.uuid_text, given, "workflow_run_id", problems)
        return result
    if run_id_at_call is not None:
        # Checked like any other value: build_entry is public, and the stream holds only valid entries.
        checked: str | None = _apply(schema.uuid_text, run_id_at_call, "workflow_run_id", problems)
        return checked
    from_env = os.environ.get(RUN_ID_ENV)
    if from_env:
        try:
            return schema.uuid_text(from_env.strip(), "workflow_run_id")
        except schema.FieldError:
            problems.append(
                Problem("workflow_run_id", f"{RUN_ID_ENV}={schema.preview(from_env)} is not a UUID")
            )
            return None
    problems.append(
        Problem(
            "workflow_run_id",
            f"no run: log inside `with workflow_run():`, pass workflow_run_id, or set {RUN_ID_ENV}",
        )
    )
    return None


def _timestamps(value: Any, problems: list[Problem]) -> dict[str, Any] | None:
    if isinstance(value, Timestamps):
        return value.to_dict()
    if value is _MISSING:
        problems.append(Problem("timestamps", "missing (required)"))
        return None
    if not isinstance(value, Mapping):
        problems.append(Problem("timestamps", f"expected a mapping, got {type(value).__name__}"))
        return None
    if not _TIMESTAMP_KEYS.issuperset(value):
        _unknown_keys(value, _TIMESTAMP_KEYS, "timestamps", problems)
    before = len(problems)
    start = _required(
        value.get("start_time_utc", _MISSING), "timestamps.start_time_utc", schema.instant, problems
    )
    end = _required(value.get("end_time_utc", _MISSING), "timestamps.end_time_utc", schema.instant, problems)
    given = value.get("duration_seconds")
    seconds = (
        None if given is None else _apply(schema.duration, given, "timestamps.duration_seconds", problems)
    )
    if len(problems) > before:
        return None
    try:
        schema.check_order(start, end)
    except schema.FieldError as exc:
        problems.append(exc.as_problem)
        return None
    return {
        "start_time_utc": schema.format_instant(start),
        "end_time_utc": schema.format_instant(end),
        "duration_seconds": (end - start).total_seconds() if seconds is None else seconds,
    }


def _llm_trace(value: Any, problems: list[Problem]) -> list[dict[str, Any]] | None:
    if value is _MISSING or value is None:
        return []
    if not isinstance(value, (list, tuple)):
        problems.append(Problem("llm_trace", f"expected a list of calls, got {type(value).__name__}"))
        return None
    return [_llm_call(item, position, problems) for position, item in enumerate(value, start=1)]


def _llm_call(item: Any, position: int, problems: list[Problem]) -> dict[str, Any]:
    path = f"llm_trace[{position - 1}]"
    if isinstance(item, LLMCall):
        call = item.to_dict()
        call["call_sequence"] = _sequence(call["call_sequence"], position, path, problems)
        return call
    if not isinstance(item, Mapping):
        problems.append(Problem(path, f"expected an LLMCall or a mapping, got {type(item).__name__}"))
        return {}
    if not _CALL_KEYS.issuperset(item):
        _unknown_keys(item, _CALL_KEYS, path, problems)
    return {
        "call_sequence": _sequence(item.get("call_sequence"), position, path, problems),
        "model_name": _required(
            item.get("model_name", _MISSING), f"{path}.model_name", schema.text, problems
        ),
        "prompt": _required(item.get("prompt", _MISSING), f"{path}.prompt", _any_text, problems),
        "completion": _required(item.get("completion", _MISSING), f"{path}.completion", _any_text, problems),
    }


def _sequence(given: Any, position: int, path: str, problems: list[Problem]) -> int | None:
    if given is None:
        return position
    try:
        return schema.call_sequence(given, position, f"{path}.call_sequence")
    except schema.FieldError as exc:
        problems.append(exc.as_problem)
        return None


def _any_text(value: Any, path: str) -> str:
    return schema.text(value, path, allow_empty=True)


def _human_feedback(value: Any, problems: list[Problem]) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, HumanFeedback):
        return value.to_dict()
    if not isinstance(value, Mapping):
        problems.append(
            Problem(
                "human_feedback", f"expected HumanFeedback, a mapping or None, got {type(value).__name__}"
            )
        )
        return None
    if not _FEEDBACK_KEYS.issuperset(value):
        _unknown_keys(value, _FEEDBACK_KEYS, "human_feedback", problems)
    stamp = _required(
        value.get("timestamp_utc", _MISSING), "human_feedback.timestamp_utc", schema.instant, problems
    )
    return {
        "type": _required(value.get("type", _MISSING), "human_feedback.type", schema.feedback_type, problems),
        "content": _required(value.get("content", _MISSING), "human_feedback.content", _any_text, problems),
        "timestamp_utc": None if stamp is None else schema.format_instant(stamp),
    }


def _json_object(value: Any, path: str, problems: list[Problem], default: Any) -> Any:
    if value is _MISSING or value is None:
        return default
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"expected a mapping, got {type(value).__name__}"))
        return None
    return schema.plain_json(value, path, problems)


def _unknown_keys(
    value: Mapping[Any, Any], allowed: frozenset[str], path: str, problems: list[Problem]
) -> None:
    for key in value:
        if key not in allowed:
            problems.append(
                Problem(path, f"unknown field {schema.preview(key)} (allowed: {', '.join(sorted(allowed))})")
            )


# --- the compiled path -------------------------------------------------------------------
#
# The declaration (wflogging.declaration) compiles to msgspec Structs that check, at C
# speed, what types can say: every declared key's type, the required keys, unknown keys
# of nested objects, the status enum, non-empty text, non-negative durations. What they
# cannot say is applied below, on the converted values: UUID and date-time forms, the
# cross-field rules (end not before start, calls numbered 1..n), free-form JSON data
# under cost_data/extensions, and exact `str` (a subclass passes msgspec's check).
# Anything the compiled path does not take, valid or not, goes to the general rules
# (_checked_entry), which also collect every problem for the reject: the output is the
# same and no check is skipped. tests/test_serialize.py holds the two paths together on
# generated good and bad input (same verdicts, same bytes).
#
# While it visits the values it also notes, for the serializers, whether the entry holds
# a float that orjson spells differently or a raw line separator (EntryDict).

_CANONICAL_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII).fullmatch
_UUID_FULLMATCH = schema.UUID_PATTERN.fullmatch
_naive_from_iso = dt.datetime.fromisoformat
_INT_MIN, _INT_MAX = schema.INT_RANGE
_FLOAT_MAX = sys.float_info.max
_COMPILED_ENTRY = declaration.compiled_entry_type()
_convert = msgspec.convert


class _NotFast(Exception):
    """A value the compiled path does not take; the general rules decide about it."""


class _Traits:
    """What the compiled path has seen so far (see :class:`~wflogging.serialize.EntryDict`)."""

    # Class defaults instead of an __init__: a Python-level __init__ costs a frame per entry.
    floats = False
    separators = False
    longest_text = 0
    unsearched = False


def _compiled_entry(fields: Mapping[str, Any], run_id_at_call: str | None) -> EntryDict | None:
    if type(fields) is not dict:
        return None
    try:
        given = _convert(fields, _COMPILED_ENTRY)
    except RecursionError:
        raise  # the stack ran out, the event is not at fault: the handler counts it as a fault
    except Exception:  # refused (msgspec.ValidationError), or a caller's object raised while read
        return None
    try:
        return _finish(given, run_id_at_call)  # reads converted plain values only: no caller code
    except _NotFast:
        return None


def _note_wide_text(value: str, traits: _Traits) -> None:
    """Note whether non-ASCII ``value`` holds a line separator, or leave a long one to the serializer."""
    if len(value) >= SEARCH_LATER_CHARS:
        traits.unsearched = True
    elif holds_line_separator(value):
        traits.separators = True


def _finish(given: Any, run_id_at_call: str | None) -> EntryDict:  # noqa: PLR0912, PLR0915 - one frame on purpose
    """The entry from the compiled Struct ``given``: derived values, the remaining rules, traits.

    One frame for the common shape: on this path a Python call costs as much as the check it
    makes, so the texts are gathered and checked in one loop rather than one call each.
    """
    event_id = given.event_id
    if event_id is None:
        event_id = str(uuid.uuid4())
    elif type(event_id) is str and _UUID_FULLMATCH(event_id):
        event_id = event_id.lower()
    else:
        raise _NotFast
    run_id = given.workflow_run_id
    if run_id is None:
        run_id = run_id_at_call
    checked_run_id = _CHECKED_RUN_IDS.get(run_id) if type(run_id) is str else None
    if checked_run_id is None:
        checked_run_id = _check_run_id(run_id)  # also: no run at all (the environment fallback)
    texts = [given.task_id, given.task_description, given.agent_name]
    trace = []
    if given.llm_trace is not None:
        for position, call in enumerate(given.llm_trace, start=1):
            if call.call_sequence is not None and call.call_sequence != position:
                raise _NotFast
            model, prompt, completion = call.model_name, call.prompt, call.completion
            texts += (model, prompt, completion)
            trace.append(
                {"call_sequence": position, "model_name": model, "prompt": prompt, "completion": completion}
            )
    feedback = given.human_feedback
    if feedback is not None:
        texts += (feedback.type, feedback.content)
        feedback = {
            "type": feedback.type,
            "content": feedback.content,
            "timestamp_utc": _fast_instant(feedback.timestamp_utc)[0],
        }
    traits = _texts_traits(texts)
    stamps = given.timestamps
    start_text, end_text = stamps.start_time_utc, stamps.end_time_utc  # str: msgspec checked
    if not (_CANONICAL_INSTANT(start_text) and _CANONICAL_INSTANT(end_text)):
        raise _NotFast
    try:
        start, end = _naive_from_iso(start_text[:-1]), _naive_from_iso(end_text[:-1])
    except ValueError:  # month 13 and the like: the general rules word the problem
        raise _NotFast from None
    if end < start:
        raise _NotFast
    seconds = stamps.duration_seconds
    if seconds is None:
        seconds = (end - start).total_seconds()
    elif not seconds <= _FLOAT_MAX:  # infinity or NaN (msgspec has checked >= 0 and the type)
        raise _NotFast
    if seconds < DIVERGENT_FLOATS_BELOW and spelled_differently(seconds):
        traits.floats = True
    cost_data = given.cost_data
    # Filled key by key in the SOP's order: no second dict to copy from.
    entry = EntryDict()
    entry["event_id"] = event_id
    entry["workflow_run_id"] = checked_run_id
    entry["task_id"] = texts[0]
    entry["task_description"] = texts[1]
    entry["agent_name"] = texts[2]
    entry["timestamps"] = {
        "start_time_utc": start_text,
        "end_time_utc": end_text,
        "duration_seconds": seconds,
    }
    entry["status"] = given.status
    # msgspec made these top-level dicts for us: checked in place, nested ones copied.
    entry["cost_data"] = {} if cost_data is None else _own_dict(cost_data, traits)
    entry["llm_trace"] = trace
    entry["human_feedback"] = feedback
    extensions = given.extensions
    if extensions is not None:
        entry["extensions"] = _own_dict(extensions, traits)
    entry.divergent_floats = traits.floats
    entry.line_separators = True if traits.separators else (None if traits.unsearched else False)
    entry.longest_text = traits.longest_text
    return entry


def _texts_traits(texts: list[Any]) -> _Traits:
    """Every text an exact ``str`` (msgspec lets subclasses through), and what they hold."""
    traits = _Traits()
    longest = 0
    for text in texts:
        if type(text) is not str:
            raise _NotFast
        if len(text) > longest:  # noqa: PLR1730 - no call to max() per text
            longest = len(text)
        # isascii() is O(1): only wide text is searched, and text too long to search here
        # is left to the serializer, which looks at it in pieces.
        if not text.isascii():
            if len(text) >= SEARCH_LATER_CHARS:
                traits.unsearched = True
            elif "\u2028" in text or "\u2029" in text or "\x85" in text:
                traits.separators = True
    traits.longest_text = longest
    return traits


# A run logs many events: its id is checked once, not once per event. The memo is
# bounded, so a program that starts a run per request does not grow it without end.
_CHECKED_RUN_IDS: dict[str, str] = {}
_CHECKED_RUN_IDS_MAX = 1024


def _check_run_id(run_id: Any) -> str:
    """``run_id`` as written (lower case), if it is a ``str`` in UUID form; remembered."""
    if type(run_id) is not str or not _UUID_FULLMATCH(run_id):
        raise _NotFast
    if len(_CHECKED_RUN_IDS) >= _CHECKED_RUN_IDS_MAX:
        _CHECKED_RUN_IDS.clear()
    checked = _CHECKED_RUN_IDS[run_id] = run_id.lower()
    return checked


def _fast_instant(value: Any) -> tuple[str, dt.datetime]:
    """A canonical ``...ffffffZ`` string: itself and its naive UTC datetime."""
    if type(value) is not str or not _CANONICAL_INSTANT(value):
        raise _NotFast
    try:
        return value, _naive_from_iso(value[:-1])
    except ValueError:  # month 13 and the like: the general rules word the problem
        raise _NotFast from None


def _fast_dict(value: dict[Any, Any], depth: int, traits: _Traits) -> dict[str, Any]:
    if depth >= schema.MAX_DEPTH:
        raise _NotFast
    result: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            raise _NotFast
        if not key.isascii() and holds_line_separator(key):
            traits.separators = True
        # Cost data is mostly token counts: those are decided here, without a call.
        kind = type(item)
        if kind is int and _INT_MIN <= item <= _INT_MAX:
            result[key] = item
        elif kind is dict:
            result[key] = _fast_dict(item, depth + 1, traits)
        else:
            result[key] = _fast_item(item, depth, traits)
    return result


def _own_dict(value: dict[Any, Any], traits: _Traits) -> dict[str, Any]:  # noqa: PLR0912 - one frame on purpose
    """:func:`_fast_dict` of a top-level dict that msgspec made for this entry: checked in place."""
    for key, item in value.items():
        if type(key) is not str:
            raise _NotFast
        if not key.isascii() and holds_line_separator(key):
            traits.separators = True
        kind = type(item)
        # Cost data is mostly counts, money and names: decided here, without a call.
        if kind is int:
            if not _INT_MIN <= item <= _INT_MAX:
                raise _NotFast
        elif kind is float:
            if item - item != 0.0:  # NaN and the infinities give NaN
                raise _NotFast
            if -DIVERGENT_FLOATS_BELOW < item < DIVERGENT_FLOATS_BELOW and spelled_differently(item):
                traits.floats = True
        elif kind is dict:
            value[key] = _fast_dict(item, 1, traits)  # a copy: the caller's stays untouched
        elif kind is str and item.isascii():
            if len(item) > traits.longest_text:  # noqa: PLR1730 - no call to max() on the hot path
                traits.longest_text = len(item)
        else:
            checked = _fast_item(item, 0, traits)
            if checked is not item:
                value[key] = checked
    return value


def _fast_list(value: list[Any] | tuple[Any, ...], depth: int, traits: _Traits) -> list[Any]:
    if depth >= schema.MAX_DEPTH:
        raise _NotFast
    return [_fast_item(item, depth, traits) for item in value]


def _fast_item(value: Any, depth: int, traits: _Traits) -> Any:
    kind = type(value)
    if kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise _NotFast
    elif kind is str:
        if not value.isascii():
            _note_wide_text(value, traits)
        if len(value) > traits.longest_text:  # noqa: PLR1730 - no call to max() on the hot path
            traits.longest_text = len(value)
    elif kind is float:
        _fast_float(value, traits)
    elif kind is dict:
        return _fast_dict(value, depth + 1, traits)
    elif kind is list or kind is tuple:
        return _fast_list(value, depth + 1, traits)
    elif value is not None and kind is not bool:
        raise _NotFast
    return value


def _fast_float(value: float, traits: _Traits) -> None:
    if value - value != 0.0:  # NaN and the infinities give NaN
        raise _NotFast
    if -DIVERGENT_FLOATS_BELOW < value < DIVERGENT_FLOATS_BELOW and spelled_differently(value):
        traits.floats = True
