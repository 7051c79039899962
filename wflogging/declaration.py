"""The task event, declared once: every field, its kind, its description, how it is derived.

This table is the one place to add a field or a rule. Everything else is derived from it:

- the JSON Schema shipped as ``task_event.schema.json`` (:func:`json_schema`; a test fails
  when the file and the declaration drift apart, :func:`write_json_schema` rewrites it);
- the compiled validator of the hot path (:func:`compiled_entry_type`: msgspec Structs that
  check types, shapes, required keys, enums and lengths at C speed);
- the general, problem-collecting builder's field order and key sets (``wflogging.event``);
- the report's decoder (``wflogging report`` decodes the fields declared here).

A field's *kind* names its rule in ``wflogging.schema`` (what a caller may pass and what
the entry stores); the rules that span fields are :data:`CROSS_FIELD_RULES`, enforced in
``wflogging.schema`` (``check_order``, ``call_sequence``) and stated in the JSON Schema.
"""

from __future__ import annotations

import enum
import functools
import json
import sys
from typing import Annotated, Any, Literal

import attrs

__all__ = [
    "CROSS_FIELD_RULES",
    "EVENT",
    "EXTENSIONS",
    "HUMAN_FEEDBACK",
    "LLM_CALL",
    "TIMESTAMPS",
    "FeedbackType",
    "Field",
    "Status",
    "compiled_entry_type",
    "decoder_struct",
    "json_schema",
    "write_json_schema",
]


class Status(str, enum.Enum):
    """The final outcome of a task: the SOP's three values, spelt exactly."""

    SUCCESS = "Success"
    FAILED = "Failed"
    HIL_PAUSED = "HIL-Paused"


class FeedbackType(str, enum.Enum):
    """The kinds of human interaction the SOP names.

    The SOP lists these as examples, so ``human_feedback.type`` also accepts any
    other non-empty string; these constants spare callers typos.
    """

    HIL_APPROVAL = "HIL-Approval"
    MANUAL_STEP_CONFIRMATION = "Manual-Step-Confirmation"


#: What a field holds; each kind has one rule in ``wflogging.schema``.
Kind = Literal[
    "uuid",  # a UUID, written as its lowercase 8-4-4-4-12 text
    "text",  # a non-empty string, kept exactly
    "any_text",  # a string, possibly empty, kept exactly (prompts, completions, feedback)
    "instant",  # an RFC 3339 date-time, written as UTC ...ffffffZ
    "duration",  # finite, non-negative seconds
    "status",  # one of the SOP's three outcomes
    "feedback_type",  # a non-empty string (the SOP's examples are FeedbackType)
    "position",  # an integer >= 1: the item's place in its list
    "json_object",  # free-form JSON data under an object
    "object",  # a nested object of declared fields
    "objects",  # a list of nested objects of declared fields
]


@attrs.frozen
class Field:
    """One field of the entry.

    ``derived`` says what the builder writes when the caller leaves the field out
    (``None``: the caller must give it). Every declared field is in every entry.
    """

    name: str
    kind: Kind
    description: str | None = None
    derived: str | None = None
    nullable: bool = False
    fields: tuple[Field, ...] = ()

    @property
    def required(self) -> bool:
        """Whether the caller must give the field (nothing derives it)."""
        return self.derived is None


TIMESTAMPS = (
    Field("start_time_utc", "instant", "When the task began."),
    Field("end_time_utc", "instant", "When the task ended; never before start_time_utc."),
    Field(
        "duration_seconds",
        "duration",
        "The total time taken to complete the task, in seconds.",
        derived="end_time_utc - start_time_utc",
    ),
)

LLM_CALL = (
    Field(
        "call_sequence",
        "position",
        "The order of the LLM call (1, 2, 3, ...).",
        derived="the call's position in llm_trace",
    ),
    Field("model_name", "text", "The specific model used for that call."),
    Field("prompt", "any_text", "The full prompt sent to the LLM, unabridged."),
    Field("completion", "any_text", "The full completion received from the LLM, unabridged."),
)

HUMAN_FEEDBACK = (
    Field("type", "feedback_type", "The type of interaction (e.g. HIL-Approval, Manual-Step-Confirmation)."),
    Field("content", "any_text", 'The Director\'s input (e.g. "approve", "reject", "confirm").'),
    Field("timestamp_utc", "instant", "When the feedback was provided."),
)

#: The SOP's ten fields in the SOP's order, which is the order every entry is written in.
EVENT = (
    Field(
        "event_id",
        "uuid",
        "A unique UUID for this specific log entry, ensuring traceability.",
        derived="a new UUID4",
    ),
    Field(
        "workflow_run_id",
        "uuid",
        "A shared UUID for all tasks executed within a single run of /workflow:run_automated, "
        "allowing for aggregation.",
        derived="the run current where the event is logged (workflow_run(), WFLOGGING_RUN_ID)",
    ),
    Field("task_id", "text", 'The identifier from task_deps.md (e.g. "1.1").'),
    Field("task_description", "text", "The full description of the task from the plan."),
    Field("agent_name", "text", "The specialist agent that executed the task (e.g. /dev:implement-pro)."),
    Field("timestamps", "object", "Performance timing data.", fields=TIMESTAMPS),
    Field("status", "status", "The final outcome of the task."),
    Field(
        "cost_data",
        "json_object",
        "A nested object containing the final cost metrics for the task, as captured by the "
        "enhanced IACP. Free-form JSON.",
        derived="{}",
    ),
    Field(
        "llm_trace",
        "objects",
        "Every individual LLM call made during the task's execution, in order; call_sequence of "
        "item i is i + 1.",
        derived="[]",
        fields=LLM_CALL,
    ),
    Field(
        "human_feedback",
        "object",
        "Populated only if the task was paused for human intervention; null otherwise.",
        derived="null",
        nullable=True,
        fields=HUMAN_FEEDBACK,
    ),
)

#: Not part of the SOP, and written only when the user opts in.
EXTENSIONS = Field(
    "extensions",
    "json_object",
    "Not part of the SOP and never written by default: data the user opted in to "
    "(log record fields, failure details).",
    derived="left out",
)

#: Nesting deeper than this inside ``cost_data`` or ``extensions`` is rejected
#: (the stdlib encoder would otherwise hit the recursion limit).
MAX_DEPTH = 64
#: The integers ``cost_data`` and ``extensions`` may hold (inclusive): what json and orjson write faithfully.
INT_RANGE = (-(2**63), 2**64 - 1)

#: The rules that span fields, as the JSON Schema states them (``x-wflogging-cross-field-rules``).
CROSS_FIELD_RULES = (
    "timestamps.end_time_utc is not before timestamps.start_time_utc",
    "llm_trace[i].call_sequence equals i + 1",
    "every date-time lies within the years 0001-9999 once converted to UTC",
    (
        f"cost_data and extensions nest at most {MAX_DEPTH} levels deep and hold no integer outside "
        "-2^63 .. 2^64-1 (the range every JSON reader keeps exactly)"
    ),
)

STATUS_VALUES = tuple(member.value for member in Status)
SCHEMA_VERSION = "1.0"

UUID_PATTERN_TEXT = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_INSTANT_PATTERN_TEXT = (
    "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?"
    "([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)


def keys(fields: tuple[Field, ...]) -> frozenset[str]:
    """The names of ``fields``."""
    return frozenset(field.name for field in fields)


# --- the JSON Schema ------------------------------------------------------------------------

_ANCHORED = "$(?!\\n)"  # "$" alone also matches before a final newline in Python's re

_KIND_SCHEMA: dict[str, dict[str, Any]] = {
    "uuid": {"$ref": "#/$defs/uuid"},
    "text": {"type": "string", "minLength": 1},
    "feedback_type": {"type": "string", "minLength": 1},
    "any_text": {"type": "string"},
    "instant": {"$ref": "#/$defs/instant"},
    "duration": {"type": "number", "minimum": 0, "maximum": sys.float_info.max},
    "status": {"enum": list(STATUS_VALUES)},
    "position": {"type": "integer", "minimum": 1},
    "json_object": {"type": "object"},
}


def _object_schema(fields: tuple[Field, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [field.name for field in fields],
        "additionalProperties": False,
        "properties": {field.name: _field_schema(field) for field in fields},
    }


def _field_schema(field: Field) -> dict[str, Any]:
    described: dict[str, Any] = {} if field.description is None else {"description": field.description}
    if field.kind == "object":
        shape = _object_schema(field.fields)
        if field.nullable:
            return {**described, "oneOf": [{"type": "null"}, shape]}
        return {**described, **shape}
    if field.kind == "objects":
        return {**described, "type": "array", "items": _object_schema(field.fields)}
    if field.derived == "null":  # written as null when the caller leaves it out
        return {**described, "oneOf": [{"type": "null"}, _KIND_SCHEMA[field.kind]]}
    return {**described, **_KIND_SCHEMA[field.kind]}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one entry, derived from the declaration."""
    entry = _object_schema(EVENT)
    entry["properties"][EXTENSIONS.name] = _field_schema(EXTENSIONS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:wflogging:schema:task-event:{SCHEMA_VERSION}",
        "title": "Workflow task event",
        "description": (
            "One JSON log entry per task executed by the orchestrator (SOP: Workflow Performance "
            "Logging Schema, section 2.0). Every entry has exactly the ten SOP fields; 'extensions' "
            "appears only when the user opts in to non-SOP data."
        ),
        **entry,
        "$defs": {
            "uuid": {"type": "string", "format": "uuid", "pattern": f"^{UUID_PATTERN_TEXT}{_ANCHORED}"},
            "instant": {
                "description": (
                    "RFC 3339 date-time with an explicit offset. wflogging writes UTC with a Z suffix "
                    "and microseconds."
                ),
                "type": "string",
                "format": "date-time",
                "pattern": f"^{_INSTANT_PATTERN_TEXT}{_ANCHORED}",
            },
        },
        "x-wflogging-cross-field-rules": list(CROSS_FIELD_RULES),
    }


def json_schema_text() -> str:
    """:func:`json_schema` as the shipped file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# --- the compiled validator -----------------------------------------------------------------


@functools.cache
def compiled_entry_type() -> type[Any]:
    """A msgspec Struct type per declared object, for ``msgspec.convert(fields, type)``.

    It checks at C speed what a type can say (types, required keys, unknown keys of
    nested objects, enums, non-empty text, non-negative durations); the builder then
    applies what it cannot (UUID and date-time forms, cross-field rules, free-form JSON).
    Top-level keys it does not declare are ignored: a record's ``__dict__`` is read as is.
    """
    import msgspec

    struct_fields = [_struct_field(field) for field in EVENT]
    struct_fields.append(_struct_field(EXTENSIONS))
    # gc=False: the Structs live for one event and hold no cycle, so the collector need not track them.
    entry: type[Any] = msgspec.defstruct("CompiledEntry", struct_fields, kw_only=True, gc=False)
    return entry


def _struct_field(field: Field) -> tuple[str, Any] | tuple[str, Any, Any]:
    value_type = _struct_type(field)
    if field.required:
        return (field.name, value_type)
    return (field.name, value_type | None, None)  # left out: the builder derives it


def _struct_type(field: Field) -> Any:
    import msgspec

    non_empty = msgspec.Meta(min_length=1)
    simple: dict[str, Any] = {
        "uuid": str,
        "text": Annotated[str, non_empty],
        "feedback_type": Annotated[str, non_empty],
        "any_text": str,
        "instant": str,
        "duration": Annotated[float, msgspec.Meta(ge=0)],
        "status": Literal[STATUS_VALUES],
        "position": Annotated[int, msgspec.Meta(ge=1)],
        "json_object": dict[str, Any],
    }
    if field.kind in simple:
        return simple[field.kind]
    shape = msgspec.defstruct(
        f"Compiled_{field.name}",
        [_struct_field(child) for child in field.fields],
        kw_only=True,
        forbid_unknown_fields=True,
        gc=False,
    )
    return list[shape] if field.kind == "objects" else shape  # type: ignore[valid-type]


# --- decoders of written entries -----------------------------------------------------------

#: What a reader wants of one declared field: a type (required), ``(type, default)``, or, for
#: an object or a list of objects, the same mapping for its own fields.
Wanted = dict[str, Any]


def decoder_struct(name: str, wanted: Wanted, **options: Any) -> type[Any]:
    """A msgspec Struct that decodes the ``wanted`` fields of a written entry and skips the rest.

    Readers (the report) choose how to read each field (``msgspec.Raw`` for a prompt they only
    fingerprint, ``Any`` for one they check themselves); the names and the nesting come from the
    declaration, so a field that is renamed or moved fails here, at import, and never reads as
    absent. Fields not named are skipped by the decoder without making Python objects of them.
    ``options`` go to every Struct made (``gc=False``, say).
    """
    return _decoder_struct(name, (*EVENT, EXTENSIONS), wanted, "", options)


def _decoder_struct(
    name: str, fields: tuple[Field, ...], wanted: Wanted, path: str, options: dict[str, Any]
) -> type[Any]:
    import msgspec

    declared = {field.name: field for field in fields}
    unknown = set(wanted) - set(declared)
    if unknown:
        raise ValueError(f"{name}: {path or 'the entry'} declares no field {sorted(unknown)}")
    members: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for field in fields:  # the declared order, whatever the order of `wanted`
        if field.name not in wanted:
            continue
        how = wanted[field.name]
        if isinstance(how, dict):
            nested = _decoder_struct(
                f"{name}_{field.name}", field.fields, how, f"{path}{field.name}.", options
            )
            members.append((field.name, list[nested] if field.kind == "objects" else nested))  # type: ignore[valid-type]
        elif isinstance(how, tuple):
            members.append((field.name, how[0], how[1]))
        else:
            members.append((field.name, how))
    struct: type[Any] = msgspec.defstruct(name, members, kw_only=True, **options)
    return struct


def write_json_schema(path: str | None = None) -> None:
    """Rewrite the shipped ``task_event.schema.json`` (or ``path``) from the declaration."""
    from pathlib import Path

    target = Path(path) if path else Path(__file__).with_name("task_event.schema.json")
    target.write_text(json_schema_text(), encoding="utf-8")
