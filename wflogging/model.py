"""The task event as attrs classes whose attribute names are the SOP's field names.

Every class validates at construction (``TypeError``/``ValueError`` naming the
field, through the rules in :mod:`wflogging.schema`) and is frozen, so an
instance is always a valid piece of a log entry. ``to_dict()`` gives the entry's
JSON form and ``from_dict()`` reads one back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from wflogging import schema
from wflogging.context import current_run_id
from wflogging.schema import FIELD_ORDER, FeedbackType, Problem, Status

__all__ = ["FeedbackType", "HumanFeedback", "LLMCall", "Status", "TaskEvent", "Timestamps"]


# Converters are named module functions (not closures) so that mypy's attrs plugin
# can type the generated __init__; each bakes in its field's path for error messages.


def _start_time(value: Any) -> dt.datetime:
    return schema.instant(value, "timestamps.start_time_utc")


def _end_time(value: Any) -> dt.datetime:
    return schema.instant(value, "timestamps.end_time_utc")


def _optional_duration(value: Any) -> float | None:
    return None if value is None else schema.duration(value)


def _model_name(value: Any) -> str:
    return schema.text(value, "llm_trace[].model_name")


def _prompt(value: Any) -> str:
    return schema.text(value, "llm_trace[].prompt", allow_empty=True)


def _completion(value: Any) -> str:
    return schema.text(value, "llm_trace[].completion", allow_empty=True)


def _feedback_type(value: Any) -> str:
    return schema.feedback_type(value, "human_feedback.type")


def _feedback_content(value: Any) -> str:
    return schema.text(value, "human_feedback.content", allow_empty=True)


def _feedback_time(value: Any) -> dt.datetime:
    return schema.instant(value, "human_feedback.timestamp_utc")


def _now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _event_id(value: Any) -> str:
    return schema.uuid_text(value, "event_id")


def _new_event_id() -> str:
    return str(uuid.uuid4())


def _task_id(value: Any) -> str:
    return schema.text(value, "task_id")


def _task_description(value: Any) -> str:
    return schema.text(value, "task_description")


def _agent_name(value: Any) -> str:
    return schema.text(value, "agent_name")


def _status(value: Any) -> Status:
    return schema.status(value, "status")


@attrs.frozen(kw_only=True)
class Timestamps:
    """When a task ran: start and end (aware, UTC) and the duration in seconds.

    ``duration_seconds`` defaults to ``end - start``. Given explicitly (measured on
    a monotonic clock, say) it is kept as given.
    """

    start_time_utc: dt.datetime = attrs.field(converter=_start_time)
    end_time_utc: dt.datetime = attrs.field(converter=_end_time)
    duration_seconds: float = attrs.field(default=None, converter=_optional_duration)

    def __attrs_post_init__(self) -> None:
        schema.check_order(self.start_time_utc, self.end_time_utc)
        given: float | None = self.duration_seconds
        if given is None:  # left out: derive it from start and end
            elapsed = (self.end_time_utc - self.start_time_utc).total_seconds()
            object.__setattr__(self, "duration_seconds", elapsed)

    def to_dict(self) -> dict[str, Any]:
        """The ``timestamps`` object of a log entry."""
        return {
            "start_time_utc": schema.format_instant(self.start_time_utc),
            "end_time_utc": schema.format_instant(self.end_time_utc),
            "duration_seconds": self.duration_seconds,
        }


def _optional_sequence(value: Any) -> int | None:
    return None if value is None else schema.positive_integer(value, "llm_trace[].call_sequence")


@attrs.frozen(kw_only=True)
class LLMCall:
    """One LLM call: the model, the full prompt and the full completion.

    ``call_sequence`` may be left out: a :class:`TaskEvent` numbers its calls
    1..n in list order and refuses a given number that differs from the position.
    """

    model_name: str = attrs.field(converter=_model_name)
    prompt: str = attrs.field(converter=_prompt)
    completion: str = attrs.field(converter=_completion)
    call_sequence: int | None = attrs.field(default=None, converter=_optional_sequence)

    def to_dict(self) -> dict[str, Any]:
        """The call as an ``llm_trace`` item (``call_sequence`` may still be ``None``)."""
        return {
            "call_sequence": self.call_sequence,
            "model_name": self.model_name,
            "prompt": self.prompt,
            "completion": self.completion,
        }


@attrs.frozen(kw_only=True)
class HumanFeedback:
    """The Director's input on a paused task. ``timestamp_utc`` defaults to now."""

    type: str = attrs.field(converter=_feedback_type)
    content: str = attrs.field(converter=_feedback_content)
    timestamp_utc: dt.datetime = attrs.field(factory=_now_utc, converter=_feedback_time)

    def to_dict(self) -> dict[str, Any]:
        """The ``human_feedback`` object of a log entry."""
        return {
            "type": self.type,
            "content": self.content,
            "timestamp_utc": schema.format_instant(self.timestamp_utc),
        }


def _to_timestamps(value: Any) -> Timestamps:
    if isinstance(value, Timestamps):
        return value
    if isinstance(value, Mapping):
        return Timestamps(**_known_keys(value, "timestamps", attrs.fields_dict(Timestamps)))
    raise schema.FieldTypeError("timestamps", f"expected Timestamps or a mapping, got {type(value).__name__}")


def _to_calls(value: Any) -> tuple[LLMCall, ...]:
    # Only sequences: a mapping or a set iterates too, but is no ordered trace.
    if not isinstance(value, (list, tuple)):
        raise schema.FieldTypeError("llm_trace", f"expected a list of calls, got {type(value).__name__}")
    calls: list[LLMCall] = []
    for position, given in enumerate(value, start=1):
        path = f"llm_trace[{position - 1}]"
        if isinstance(given, Mapping):
            call = LLMCall(**_known_keys(given, path, attrs.fields_dict(LLMCall)))
        elif isinstance(given, LLMCall):
            call = given
        else:
            raise schema.FieldTypeError(path, f"expected LLMCall or a mapping, got {type(given).__name__}")
        if call.call_sequence is None:
            call = attrs.evolve(call, call_sequence=position)
        else:
            schema.call_sequence(call.call_sequence, position, f"{path}.call_sequence")
        calls.append(call)
    return tuple(calls)


def _to_feedback(value: Any) -> HumanFeedback | None:
    if value is None or isinstance(value, HumanFeedback):
        return value
    if isinstance(value, Mapping):
        fields = _known_keys(value, "human_feedback", attrs.fields_dict(HumanFeedback))
        if "timestamp_utc" not in fields:
            raise schema.FieldValueError("human_feedback.timestamp_utc", "missing (required)")
        return HumanFeedback(**fields)
    raise schema.FieldTypeError(
        "human_feedback", f"expected HumanFeedback, a mapping or None, got {type(value).__name__}"
    )


def _json_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise schema.FieldTypeError(path, f"expected a mapping, got {type(value).__name__}")
    problems: list[Problem] = []
    plain: dict[str, Any] = schema.plain_json(value, path, problems)
    if problems:
        raise schema.FieldValueError(problems[0].path, problems[0].problem)
    return plain


def _cost_data(value: Any) -> dict[str, Any]:
    return _json_object(value, "cost_data")


def _optional_extensions(value: Any) -> dict[str, Any] | None:
    return None if value is None else _json_object(value, "extensions")


def _optional_run_id(value: Any) -> str | None:
    return None if value is None else schema.uuid_text(value, "workflow_run_id")


def _known_keys(value: Mapping[Any, Any], path: str, allowed: Mapping[str, Any]) -> dict[str, Any]:
    unknown = [key for key in value if key not in allowed]
    if unknown:
        raise schema.FieldValueError(
            path, f"unknown field {schema.preview(unknown[0])} (allowed: {', '.join(allowed)})"
        )
    return dict(value)


@attrs.frozen(kw_only=True)
class TaskEvent:
    """One task's log entry, validated as a whole.

    ``event_id`` defaults to a fresh UUID4 and ``workflow_run_id`` to the run
    current where the event is constructed (``None`` outside a run: the handler
    then fills it in where the event is logged). Nested fields take model
    instances or plain mappings.
    """

    event_id: str = attrs.field(factory=_new_event_id, converter=_event_id)
    workflow_run_id: str | None = attrs.field(factory=current_run_id, converter=_optional_run_id)
    task_id: str = attrs.field(converter=_task_id)
    task_description: str = attrs.field(converter=_task_description)
    agent_name: str = attrs.field(converter=_agent_name)
    timestamps: Timestamps = attrs.field(converter=_to_timestamps)
    status: Status = attrs.field(converter=_status)
    cost_data: dict[str, Any] = attrs.field(factory=dict, converter=_cost_data)
    llm_trace: tuple[LLMCall, ...] = attrs.field(factory=tuple, converter=_to_calls)
    human_feedback: HumanFeedback | None = attrs.field(default=None, converter=_to_feedback)
    extensions: dict[str, Any] | None = attrs.field(default=None, converter=_optional_extensions)

    def to_dict(self) -> dict[str, Any]:
        """The log entry: the ten SOP fields in the SOP's order (plus ``extensions`` if set)."""
        entry: dict[str, Any] = {
            "event_id": self.event_id,
            "workflow_run_id": self.workflow_run_id,
            "task_id": self.task_id,
            "task_description": self.task_description,
            "agent_name": self.agent_name,
            "timestamps": self.timestamps.to_dict(),
            "status": self.status.value,
            "cost_data": self.cost_data,
            "llm_trace": [call.to_dict() for call in self.llm_trace],
            "human_feedback": None if self.human_feedback is None else self.human_feedback.to_dict(),
        }
        if self.extensions is not None:
            entry["extensions"] = self.extensions
        return entry

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> TaskEvent:
        """Read a log entry back (``TypeError``/``ValueError`` if it breaks a rule)."""
        fields = _known_keys(entry, "event", dict.fromkeys((*FIELD_ORDER, "extensions")))
        _require_stored_keys(fields)
        return cls(**fields)


def _require_stored_keys(entry: Mapping[str, Any]) -> None:
    """A stored entry spells out what a caller may leave to defaults."""
    # The constructor reads None as "derive it"; a stored entry has no such
    # shorthand, so null counts as missing there (as in the JSON Schema).
    missing = [name for name in FIELD_ORDER if name not in entry]
    if entry.get("workflow_run_id", "") is None:
        missing.append("workflow_run_id")
    timestamps = entry.get("timestamps")
    if isinstance(timestamps, Mapping) and timestamps.get("duration_seconds") is None:
        missing.append("timestamps.duration_seconds")
    calls = entry.get("llm_trace")
    if isinstance(calls, list):
        missing += [
            f"llm_trace[{index}].call_sequence"
            for index, call in enumerate(calls)
            if isinstance(call, Mapping) and call.get("call_sequence") is None
        ]
    if missing:
        raise schema.FieldValueError(missing[0], "missing (required in a stored entry)")
    if "extensions" in entry and entry["extensions"] is None:
        raise schema.FieldTypeError("extensions", "expected an object, got null (leave the key out instead)")
