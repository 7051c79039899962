"""From the fields a caller logged to the log entry the SOP asks for.

:func:`build_entry` is the hot path of the library: a pure function from a
mapping of fields (a record's ``__dict__`` works as is) to the entry as a plain
dict in the SOP's field order, or :class:`TaskEventRejected` carrying every
problem found. It derives what it can (``event_id``, ``workflow_run_id``,
``duration_seconds``, ``call_sequence``, empty ``cost_data``/``llm_trace``,
``human_feedback: null``) and checks the rest.

Both ways of building an entry read the event's declaration (:mod:`wflogging.declaration`):
the compiled path (:mod:`wflogging.compiled`: msgspec types, then the rules they cannot
state) takes the forms callers normally pass; the general rules here take anything else,
field by field as declared, with each kind's rule from :mod:`wflogging.schema`, and list
every problem with its path. The rules that span fields are in :func:`_object_rules`.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from wflogging import declaration, schema
from wflogging.compiled import compiled_entry
from wflogging.context import RECORD_ATTRIBUTE, RUN_ID_ENV, context_run_id
from wflogging.model import HumanFeedback, LLMCall, TaskEvent, Timestamps
from wflogging.schema import FIELD_ORDER, Problem
from wflogging.serialize import (
    EntryDict,
    data_traits,
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
        fast = compiled_entry(fields, run_id_at_call)
        if fast is not None:
            return fast
    return _checked_entry(fields, run_id_at_call)


def _checked_entry(fields: Mapping[str, Any], run_id_at_call: str | None) -> EntryDict:
    """:func:`build_entry` by the general rules: every value checked, every problem collected."""
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
        field.name: _guarded(field.name, problems, partial(_top_field, field, get, run_id_at_call, problems))
        for field in declaration.EVENT
    }
    extensions = get(declaration.EXTENSIONS.name)
    if extensions is not None:
        entry[declaration.EXTENSIONS.name] = _guarded(
            declaration.EXTENSIONS.name,
            problems,
            partial(_read, declaration.EXTENSIONS, extensions, declaration.EXTENSIONS.name, problems),
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


def _status_value(value: Any, path: str) -> str:
    return schema.status(value, path).value


def _any_text(value: Any, path: str) -> str:
    return schema.text(value, path, allow_empty=True)


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


#: The rule of each kind of field that holds one value (see ``wflogging.declaration.Kind``).
_KIND_RULES: dict[str, Callable[[Any, str], Any]] = {
    "uuid": schema.uuid_text,
    "text": schema.text,
    "any_text": _any_text,
    "feedback_type": schema.feedback_type,
    "instant": schema.instant,  # a datetime here; written by _object_rules, after the order check
    "duration": schema.duration,
    "status": _status_value,
    "position": schema.positive_integer,  # and equal to the item's position: _object_rules
}
#: The public model's class for a declared object, also accepted in its place.
_MODELS: dict[str, type[Any]] = {
    "timestamps": Timestamps,
    "llm_trace": LLMCall,
    "human_feedback": HumanFeedback,
}
#: What a field the caller left out becomes, for the derivations that are constants.
_CONSTANT_DERIVATIONS: dict[str, Callable[[], Any]] = {"{}": dict, "[]": list, "null": lambda: None}


def _top_field(
    field: declaration.Field, get: Callable[..., Any], run_id_at_call: str | None, problems: list[Problem]
) -> Any:
    """The entry's value of top-level ``field``, read from the caller's fields with ``get``."""
    if field.name == "event_id":
        given = get("event_id")
        return str(uuid.uuid4()) if given is None else _apply(schema.uuid_text, given, "event_id", problems)
    if field.name == "workflow_run_id":
        return _run_id(get("workflow_run_id"), run_id_at_call, problems)
    return _read(field, get(field.name, _MISSING), field.name, problems)


def _read(field: declaration.Field, value: Any, path: str, problems: list[Problem], position: int = 0) -> Any:
    """The value ``field`` stores for the caller's ``value`` (``_MISSING``: not given), or ``None``."""
    if value is _MISSING or (value is None and not field.required):
        if field.required:
            problems.append(Problem(path, "missing (required)"))
            return None
        derive = _CONSTANT_DERIVATIONS.get(field.derived or "")
        return None if derive is None else derive()  # None: _object_rules derives it
    kind = field.kind
    if kind == "object":
        return _read_object(field, value, path, problems, position)
    if kind == "objects":
        if not isinstance(value, (list, tuple)):
            problems.append(Problem(path, f"expected a list, got {type(value).__name__}"))
            return None
        return [
            _read_object(field, item, f"{path}[{index}]", problems, index + 1)
            for index, item in enumerate(value)
        ]
    if kind == "json_object":
        if not isinstance(value, Mapping):
            problems.append(Problem(path, f"expected a mapping, got {type(value).__name__}"))
            return None
        return schema.plain_json(value, path, problems)
    return _apply(_KIND_RULES[kind], value, path, problems)


def _read_object(
    field: declaration.Field, value: Any, path: str, problems: list[Problem], position: int
) -> dict[str, Any] | None:
    """A declared object (or an item of a declared list), from a mapping or the model's instance."""
    model = _MODELS.get(field.name)
    if model is not None and isinstance(value, model):
        stored: dict[str, Any] = value.to_dict()  # the model checked its values when it was made
        return _object_rules(field.fields, stored, path, problems, position, checked=True)
    if not isinstance(value, Mapping):
        alternatives = "a mapping" if model is None else f"{model.__name__} or a mapping"
        alternatives += ", or None" if field.nullable else ""
        problems.append(Problem(path, f"expected {alternatives}, got {type(value).__name__}"))
        return None
    allowed = _KEYS_OF[field.name]
    if not allowed.issuperset(value):
        _unknown_keys(value, allowed, path, problems)
    before = len(problems)
    stored = {
        child.name: _read(child, value.get(child.name, _MISSING), f"{path}.{child.name}", problems, position)
        for child in field.fields
    }
    if len(problems) > before:
        return None
    return _object_rules(field.fields, stored, path, problems, position)


_KEYS_OF = {
    field.name: declaration.keys(field.fields)
    for field in declaration.EVENT
    if field.kind in ("object", "objects")
}


# --- the cross-field rules, in one place --------------------------------------------------


def _object_rules(
    fields: tuple[declaration.Field, ...],
    stored: dict[str, Any],
    path: str,
    problems: list[Problem],
    position: int,
    *,
    checked: bool = False,
) -> dict[str, Any] | None:
    """The rules that span an object's fields, and the values derived from others.

    An end is not before its start, and a missing duration is end minus start; instants are
    written as ``...ffffffZ`` once every rule on them has run (``checked``: a model's
    ``to_dict()``, which has done both); an item's ``position`` field equals its place in the
    list, and is derived when missing.
    """
    if not checked:
        if "start_time_utc" in stored and "end_time_utc" in stored:
            start, end = stored["start_time_utc"], stored["end_time_utc"]
            try:
                schema.check_order(start, end, path)
            except schema.FieldError as exc:
                problems.append(exc.as_problem)
                return None
            if stored.get("duration_seconds", 0) is None:
                stored["duration_seconds"] = (end - start).total_seconds()
        for field in fields:
            if field.kind == "instant":
                stored[field.name] = schema.format_instant(stored[field.name])
    for field in fields:
        if field.kind == "position":
            given = stored[field.name]
            if given is None:
                stored[field.name] = position
            elif given != position:
                problems.append(
                    Problem(
                        f"{path}.{field.name}",
                        f"is {given} but this is call {position}: calls are numbered 1..n in order",
                    )
                )
                return None
    return stored


def _unknown_keys(
    value: Mapping[Any, Any], allowed: frozenset[str], path: str, problems: list[Problem]
) -> None:
    for key in value:
        if key not in allowed:
            problems.append(
                Problem(path, f"unknown field {schema.preview(key)} (allowed: {', '.join(sorted(allowed))})")
            )
