"""The compiled path of :func:`wflogging.build_entry`: the declaration's msgspec types, then the rest.

The declaration (:mod:`wflogging.declaration`) compiles to msgspec Structs that check, at C
speed, what types can say: every declared key's type, the required keys, unknown keys of
nested objects, the status values, non-empty text, non-negative durations. What they cannot
say is applied here, on the converted values, field by field as the declaration lists them:
UUID and date-time forms, finite durations, exact ``str`` (msgspec lets a subclass through),
free-form JSON under ``json_object`` fields, and the cross-field rules (end not before start,
items numbered 1..n). Anything it does not take, valid or not, goes to the general rules in
:mod:`wflogging.event`, which also collect every problem for the reject: the output is the
same and no check is skipped. ``tests/test_declaration.py`` holds the two paths together on
generated good and bad events (same verdicts, same bytes).

While it visits the values it also notes, for the serializers, where the entry holds a float
that orjson spells differently and whether it holds a raw line separator (:class:`EntryDict`).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

import msgspec

from wflogging import declaration, schema
from wflogging.serialize import (
    DIVERGENT_FLOATS_BELOW,
    SEARCH_LATER_CHARS,
    EntryDict,
    holds_line_separator,
    spelled_differently,
)

__all__ = ["compiled_entry"]

_CANONICAL_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII).fullmatch
_UUID_FULLMATCH = schema.UUID_PATTERN.fullmatch
_naive_from_iso = dt.datetime.fromisoformat
_INT_MIN, _INT_MAX = schema.INT_RANGE
_FLOAT_MAX = sys.float_info.max
_COMPILED_ENTRY = declaration.compiled_entry_type()
_convert = msgspec.convert
_asdict = msgspec.structs.asdict


def _named(fields: tuple[declaration.Field, ...], *kinds: str) -> tuple[str, ...]:
    return tuple(field.name for field in fields if field.kind in kinds)


_TEXT_KINDS = ("text", "any_text", "feedback_type")
#: The texts of each object, from the declaration: checked and searched in one loop per entry.
_ENTRY_TEXTS = _named(declaration.EVENT, *_TEXT_KINDS)
_CALL_TEXTS = _named(declaration.LLM_CALL, *_TEXT_KINDS)
_FEEDBACK_TEXTS = _named(declaration.HUMAN_FEEDBACK, *_TEXT_KINDS)
_FEEDBACK_INSTANTS = _named(declaration.HUMAN_FEEDBACK, "instant")


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The attributes ``names`` of an object as a tuple, in one C call (attrgetter)."""
    if len(names) == 1:  # attrgetter of one name gives the value itself, not a 1-tuple
        name = names[0]
        return lambda instance: (getattr(instance, name),)
    getter: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
    return getter


_entry_texts = _getter(_ENTRY_TEXTS)
_call_texts = _getter(_CALL_TEXTS)
_feedback_texts = _getter(_FEEDBACK_TEXTS)
_feedback_instants = _getter(_FEEDBACK_INSTANTS)
#: The fields other than texts that _finish applies rules to, as it was written for them.
#: Texts (and the feedback's instants) are found by kind, so adding one is a declaration
#: line only; a field of another kind makes the compiled path step aside (the general rules
#: then decide, correctly) and tests/test_declaration.py fails until it is handled here.
_WRITTEN_FOR = (
    ("event_id", "uuid"),
    ("workflow_run_id", "uuid"),
    (
        "timestamps",
        "object",
        ("start_time_utc", "instant"),
        ("end_time_utc", "instant"),
        ("duration_seconds", "duration"),
    ),
    ("status", "status"),
    ("cost_data", "json_object"),
    ("llm_trace", "objects", ("call_sequence", "position")),
    ("human_feedback", "object"),
    ("extensions", "json_object"),
)


def _signature(fields: tuple[declaration.Field, ...]) -> tuple[Any, ...]:
    return tuple(
        (field.name, field.kind, *(_signature(field.fields) if field.name != "human_feedback" else ()))
        for field in fields
        if field.kind not in _TEXT_KINDS
    )


#: Whether _finish applies every rule the declaration asks for (see _WRITTEN_FOR).
COMPILED_PATH_COMPLETE = _signature((*declaration.EVENT, declaration.EXTENSIONS)) == _WRITTEN_FOR
_FEEDBACK_OTHER_KINDS = {field.kind for field in declaration.HUMAN_FEEDBACK} - {*_TEXT_KINDS, "instant"}
COMPILED_PATH_COMPLETE = COMPILED_PATH_COMPLETE and not _FEEDBACK_OTHER_KINDS


class _NotFast(Exception):
    """A value the compiled path does not take; the general rules decide about it."""


class _Traits:
    """What the compiled path has seen so far (see :class:`~wflogging.serialize.EntryDict`)."""

    # Class defaults instead of an __init__: a Python-level __init__ costs a frame per entry.
    #: Where the floats orjson spells unlike float.__repr__ are: keys (and list indexes) from the top.
    float_paths: list[tuple[Any, ...]]
    separators = False
    unsearched = False
    longest_text = 0


def compiled_entry(fields: Mapping[str, Any], run_id_at_call: str | None) -> EntryDict | None:
    """The entry for ``fields`` by the compiled path, or ``None`` for the general rules to decide."""
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


def _finish(given: Any, run_id_at_call: str | None) -> EntryDict:  # noqa: PLR0912 - one frame on purpose
    """The entry from the compiled Struct ``given``: derived values, the remaining rules, traits.

    One frame for the common shape: on this path a Python call costs as much as the check it
    makes. msgspec's ``asdict`` gives each object's declared fields in the declared order, so
    a field added to the declaration appears here without a line of this function.
    """
    if not COMPILED_PATH_COMPLETE:
        raise _NotFast
    entry = EntryDict(_asdict(given))
    event_id = entry["event_id"]
    entry["event_id"] = str(uuid.uuid4()) if event_id is None else _uuid(event_id)
    run_id = entry["workflow_run_id"]
    if run_id is None:
        run_id = run_id_at_call
    checked_run_id = _CHECKED_RUN_IDS.get(run_id) if type(run_id) is str else None
    entry["workflow_run_id"] = _check_run_id(run_id) if checked_run_id is None else checked_run_id
    texts = [*_entry_texts(given)]
    trace = given.llm_trace
    if trace is None:
        entry["llm_trace"] = []
    else:
        calls = entry["llm_trace"] = list(map(_asdict, trace))
        for position, call in enumerate(calls, start=1):
            given_position = call["call_sequence"]
            if given_position is None:
                call["call_sequence"] = position
            elif given_position != position:
                raise _NotFast
        for call in trace:
            texts += _call_texts(call)
    feedback = given.human_feedback
    if feedback is not None:
        texts += _feedback_texts(feedback)
        for instant in _feedback_instants(feedback):
            _fast_instant(instant)
        entry["human_feedback"] = _asdict(feedback)
    traits = _texts_traits(texts)
    entry["timestamps"] = _timestamps(entry["timestamps"], traits)
    cost_data = entry["cost_data"]
    # Copied as they are checked: the caller's containers stay the caller's.
    if cost_data is None:
        entry["cost_data"] = {}
    else:
        entry["cost_data"] = _fast_dict(cost_data, 0, traits, _COST_DATA_PATH)
    extensions = entry.pop("extensions")
    if extensions is not None:
        entry["extensions"] = _fast_dict(extensions, 0, traits, _EXTENSIONS_PATH)
    # Where each float that orjson spells unlike float.__repr__ is, so the serializer rewrites those
    # alone: a task of microseconds has a duration below 1e-4, a cheap LLM call a cost below it.
    float_paths = traits.float_paths
    entry.divergent_floats = bool(float_paths)
    entry.float_paths = float_paths
    entry.line_separators = True if traits.separators else (None if traits.unsearched else False)
    entry.longest_text = traits.longest_text
    return entry


def _timestamps(given: Any, traits: _Traits) -> dict[str, Any]:
    """The timestamps' own rules: canonical instants, end not before start, duration derived."""
    stamps: dict[str, Any] = _asdict(given)
    start_text, end_text = stamps["start_time_utc"], stamps["end_time_utc"]
    if not (_CANONICAL_INSTANT(start_text) and _CANONICAL_INSTANT(end_text)):
        raise _NotFast
    try:
        start, end = _naive_from_iso(start_text[:-1]), _naive_from_iso(end_text[:-1])
    except ValueError:  # month 13 and the like: the general rules word the problem
        raise _NotFast from None
    if end < start:
        raise _NotFast
    seconds = stamps["duration_seconds"]
    if seconds is None:
        seconds = stamps["duration_seconds"] = (end - start).total_seconds()
    elif not seconds <= _FLOAT_MAX:  # infinity or NaN (msgspec has checked >= 0 and the type)
        raise _NotFast
    if seconds < DIVERGENT_FLOATS_BELOW and spelled_differently(seconds):
        traits.float_paths.append(_DURATION_PATH)
    return stamps


def _texts_traits(texts: list[Any]) -> _Traits:
    """Every text an exact ``str`` (msgspec lets subclasses through), and what they hold."""
    traits = _Traits()
    traits.float_paths = []
    longest = 0
    for text in texts:
        if type(text) is not str:
            if text is None:  # an optional text left out (msgspec lets None through only there)
                continue
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


def _note_wide_text(value: str, traits: _Traits) -> None:
    """Note whether non-ASCII ``value`` holds a line separator, or leave a long one to the serializer."""
    if len(value) >= SEARCH_LATER_CHARS:
        traits.unsearched = True
    elif holds_line_separator(value):
        traits.separators = True


def _uuid(value: Any) -> str:
    if type(value) is not str or not _UUID_FULLMATCH(value):
        raise _NotFast
    return value.lower()


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


def _fast_instant(value: Any) -> None:
    """A canonical ``...ffffffZ`` string of a real date (what the general rules write unchanged)."""
    if type(value) is not str or not _CANONICAL_INSTANT(value):
        raise _NotFast
    try:
        _naive_from_iso(value[:-1])
    except ValueError:  # month 13 and the like: the general rules word the problem
        raise _NotFast from None


# A value's path is passed as its container's path and its key, and made a tuple only for containers
# and divergent floats: a tuple per value would cost more than the check it is passed to.
_DURATION_PATH = ("timestamps", "duration_seconds")
_COST_DATA_PATH = ("cost_data",)
_EXTENSIONS_PATH = ("extensions",)


def _fast_dict(value: dict[Any, Any], depth: int, traits: _Traits, path: tuple[Any, ...]) -> dict[str, Any]:
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
            result[key] = _fast_dict(item, depth + 1, traits, (*path, key))
        else:
            result[key] = _fast_item(item, depth, traits, path, key)
    return result


def _fast_list(
    value: list[Any] | tuple[Any, ...], depth: int, traits: _Traits, path: tuple[Any, ...]
) -> list[Any]:
    if depth >= schema.MAX_DEPTH:
        raise _NotFast
    return [_fast_item(item, depth, traits, path, index) for index, item in enumerate(value)]


def _fast_item(value: Any, depth: int, traits: _Traits, path: tuple[Any, ...], key: Any) -> Any:
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
        if value - value != 0.0:  # NaN and the infinities give NaN
            raise _NotFast
        if -DIVERGENT_FLOATS_BELOW < value < DIVERGENT_FLOATS_BELOW and spelled_differently(value):
            traits.float_paths.append((*path, key))
    elif kind is dict:
        return _fast_dict(value, depth + 1, traits, (*path, key))
    elif kind is list or kind is tuple:
        return _fast_list(value, depth + 1, traits, (*path, key))
    elif value is not None and kind is not bool:
        raise _NotFast
    return value
