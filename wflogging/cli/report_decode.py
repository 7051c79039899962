"""The report's reading of event lines: each line decoded into the facts the report counts.

What the report knows of an entry's fields (their names, and the types it reads
them as) is here: ``cost_data`` read defensively (:func:`read_cost`), times in
canonical form, the facts of one event (:class:`_Event`), prompt fingerprints, and
the typed structs a line is decoded into (see "reading lines fast" below).
The definitions the figures follow are in :mod:`wflogging.cli.report`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import msgspec

from wflogging import declaration, schema
from wflogging.cli.exact_sums import from_units as _from_units
from wflogging.cli.exact_sums import units as _units
from wflogging.cli.inputs import Line, NotAnObject


def _number(value: object) -> float | int | None:
    """A finite JSON number, or ``None``."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return value  # type: ignore[return-value]
    return None


def _count(value: object) -> int:
    """A token count: an integer (or integral float); anything else counts as 0."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return 0


# --- reading cost_data ---------------------------------------------------------------------

_MONEY_KEYS = ("total_cost_usd", "cost_usd")
_INPUT_KEYS = ("input_tokens", "input", "prompt_tokens")
_OUTPUT_KEYS = ("output_tokens", "output", "completion_tokens")
_BREAKDOWN_KEYS = ("models", "by_model", "per_model")


class CostFacts(NamedTuple):
    """What one ``cost_data`` object says: money (``None`` when absent), tokens, and per model."""

    usd: float | int | None
    input_tokens: int
    output_tokens: int
    #: (model, money or None, input tokens, output tokens) per model, when ``cost_data`` breaks it down.
    by_model: tuple[tuple[str, float | int | None, int, int], ...] | None
    #: Calls the recorder could not price (left out of ``usd``).
    unpriced_calls: int = 0


def _first(mapping: dict[str, Any], keys: tuple[str, ...]) -> object:
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def _tokens(mapping: dict[str, Any], input_key: str, output_key: str) -> tuple[int, int]:
    """Input and output tokens, trying the expected keys first (this runs for every event)."""
    input_tokens = mapping.get(input_key)
    if input_tokens is None:
        input_tokens = _first(mapping, _INPUT_KEYS)
    output_tokens = mapping.get(output_key)
    if output_tokens is None:
        output_tokens = _first(mapping, _OUTPUT_KEYS)
    return _count(input_tokens), _count(output_tokens)


def read_cost(cost_data: object) -> CostFacts:
    """The money and tokens in one event's ``cost_data`` (see the module docstring for the keys)."""
    if type(cost_data) is not dict or not cost_data:
        return _NO_COST
    get = cost_data.get
    usd = get("total_cost_usd")
    usd = _number(usd if usd is not None else get("cost_usd"))
    tokens = get("tokens")
    if type(tokens) is dict:
        input_tokens, output_tokens = _tokens(tokens, "input", "output")
    else:
        input_tokens, output_tokens = _tokens(cost_data, "input_tokens", "output_tokens")
    unpriced = get("unpriced_calls")
    unpriced = 0 if unpriced is None else _count(unpriced)
    breakdown = get("models")
    if breakdown is None:
        breakdown = _first(cost_data, _BREAKDOWN_KEYS)
    if type(breakdown) is not dict or not breakdown:
        return CostFacts(usd, input_tokens, output_tokens, None, unpriced)
    by_model = _breakdown(breakdown)
    if usd is None and any(row[1] is not None for row in by_model):
        usd = _from_units(sum(_units(row[1]) for row in by_model if row[1] is not None))
    if not (input_tokens or output_tokens):
        input_tokens = sum(row[2] for row in by_model)
        output_tokens = sum(row[3] for row in by_model)
    return CostFacts(usd, input_tokens, output_tokens, by_model, unpriced)


def _breakdown(breakdown: dict[str, Any]) -> tuple[tuple[str, float | int | None, int, int], ...]:
    rows = []
    for model, part in breakdown.items():
        if type(part) is not dict:
            continue
        usd = part.get("cost_usd")
        input_tokens = part.get("input_tokens")
        output_tokens = part.get("output_tokens")
        if type(usd) is not float or type(input_tokens) is not int or type(output_tokens) is not int:
            usd = _number(_first(part, _MONEY_KEYS))
            input_tokens, output_tokens = _tokens(part, "input_tokens", "output_tokens")
        rows.append((model, usd, input_tokens, output_tokens))
    return tuple(rows)


_NO_COST = CostFacts(None, 0, 0, None, 0)

UNATTRIBUTED = "(unattributed)"
SEVERAL_MODELS = "(several models)"
NO_CALLS = "(no LLM calls)"

# --- time ------------------------------------------------------------------------------------


def _canonical(value: object) -> str | None:
    """A timestamp as wflogging writes it (``YYYY-MM-DDTHH:MM:SS.ffffffZ``): comparable as text."""
    if type(value) is not str:
        return None
    if len(value) == 27 and value[26] == "Z" and value[10] == "T":
        return value
    try:
        return schema.format_instant(schema.instant(value, "timestamp"))
    except ValueError:
        return None


def parse_moment(text: str) -> str:
    """A ``--since``/``--until`` value in canonical form; a date or a time without offset is UTC."""
    value = text.strip()
    if len(value) == 10:  # YYYY-MM-DD
        value += "T00:00:00Z"
    elif value[-1:] not in ("Z", "z") and not _has_offset(value):
        value += "Z"
    return schema.format_instant(schema.instant(value.replace(" ", "T", 1), "time"))


def _has_offset(value: str) -> bool:
    return len(value) > 6 and value[-6] in "+-" and value[-3] == ":"


def _seconds_between(earlier: str, later: str) -> float | None:
    """Seconds from one timestamp in :func:`_canonical` form to another; ``None`` if one is not a date."""
    try:
        # Both are UTC, so their dates and times without the "Z" differ by as much (and fromisoformat,
        # in C, is several times faster than schema.instant, which takes every RFC 3339 form).
        start = dt.datetime.fromisoformat(earlier[:26])
        end = dt.datetime.fromisoformat(later[:26])
    except ValueError:
        return None
    return (end - start).total_seconds()


class _Event:
    """The facts of one event that the report uses, read once (a plain class: this is the hot path)."""

    __slots__ = (
        "_description",
        "_extensions",
        "_feedback",
        "agent",
        "cost",
        "cost_units",
        "duration",
        "duration_units",
        "end",
        "models",
        "run_id",
        "start",
        "status",
        "task_id",
    )

    def __init__(  # noqa: PLR0917 - built in one place per parser, from one entry
        self,
        run_id: str,
        task_id: str,
        agent: str,
        status: str,
        start: str | None,
        end: str | None,
        duration: float,
        cost: CostFacts,
        models: list[str],
        description: object,
        feedback: object,
        extensions: object,
    ) -> None:
        self.run_id = run_id
        self.task_id = task_id
        self.agent = agent
        self.status = status
        self.start = start
        self.end = end
        self.duration = duration
        self.duration_units = _units(duration)
        self.cost = cost
        self.cost_units = None if cost.usd is None else _units(cost.usd)
        self.models = models
        # The rarely needed fields, as parsed: read through the properties below.
        self._description = description
        self._feedback = feedback
        self._extensions = extensions

    @property
    def description(self) -> str:
        return _text(self._description)

    @property
    def feedback(self) -> dict[str, Any] | None:
        feedback = self._feedback
        return feedback if type(feedback) is dict else None

    @property
    def error(self) -> str | None:
        return _error_reason(self._extensions)


def _read_event(entry: _AnyEntry) -> _Event | None:
    """The facts the report needs, or ``None`` when ``entry`` is not a task event.

    This runs once per event, so it is written for speed: the checks for the
    form wflogging writes come first and the general helpers only run when
    they fail (each Python call costs about as much as parsing 100 bytes).
    """
    status = entry.status
    task_id = entry.task_id
    timestamps = entry.timestamps
    if type(status) is not str or type(task_id) is not str or type(timestamps) is not dict:
        return None
    duration = timestamps.get("duration_seconds")
    if type(duration) is not float or not 0 <= duration < math.inf:
        duration = _number(duration)
        duration = 0.0 if duration is None or duration < 0 else float(duration)
    start = timestamps.get("start_time_utc")
    if type(start) is not str or len(start) != 27 or start[26] != "Z":
        start = _canonical(start)
    end = timestamps.get("end_time_utc")
    if type(end) is not str or len(end) != 27 or end[26] != "Z":
        end = _canonical(end)
    calls = entry.llm_trace
    models: list[str] = []
    if type(calls) is list and calls:
        try:
            models = [call["model_name"] for call in calls]
        except (TypeError, KeyError):
            models = [call.get("model_name") for call in calls if type(call) is dict]  # type: ignore[misc]
        if not all(type(name) is str for name in models):
            models = [str(name) for name in models]  # a bad entry: keep it countable
    run_id = entry.workflow_run_id
    agent = entry.agent_name
    return _Event(
        run_id if type(run_id) is str else "(no run id)",
        task_id,
        agent if type(agent) is str and agent else "(no agent)",
        status,
        start,
        end,
        duration,
        read_cost(entry.cost_data),
        models,
        entry.task_description,
        entry.human_feedback,
        entry.extensions,
    )


def _text(value: object) -> str:
    return value if type(value) is str else ""


def _error_reason(extensions: object) -> str | None:
    if type(extensions) is not dict:
        return None
    error = extensions.get("error")
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        parts = [str(part) for part in (kind, message) if part]
        return ": ".join(parts) or None
    return None


# --- prompt fingerprints ---------------------------------------------------------------------
# "Prompts that repeat across runs" compares prompts through a 64-bit fingerprint (the report keeps
# fingerprints, never prompts) of their JSON string literal: the prompt as a writer that escapes only
# what JSON requires writes it (", \ and control characters, the short escapes where there are some;
# everything else as UTF-8). That is what wflogging writes (json and orjson alike), and
# json.dumps(ensure_ascii=False), orjson and msgspec, so for their files this is the same as comparing
# the texts. It lets the fast reader fingerprint the bytes of the line as they are, without making a
# Python string of each prompt: prompts are most of an event's bytes, and this was a large part of the
# report's time. A writer that escapes more (\uXXXX for non-ASCII, \/) writes other bytes for the same
# text: its prompts still match each other, but an entry read the general way (_AnyEntry, or an entry
# given to ReportBuilder.add already parsed) has its prompt re-written the minimal way. With
# xxhash installed (the [fast] extra) the fingerprint is xxh3-64, several times faster than hash().

_QUOTE = ord('"')

_xxh3: Callable[[Any], int] | None
try:
    from xxhash import xxh3_64_intdigest as _xxh3
except ImportError:  # pragma: no cover - the fallback is hash(), exercised where xxhash is missing
    _xxh3 = None


def _hash_literal(literal: Any) -> int:
    return hash(bytes(literal))


#: The fingerprint of a prompt's JSON string literal (bytes, or a ``msgspec.Raw``): xxh3 where installed.
_fingerprint_literal: Callable[[Any], int] = _hash_literal if _xxh3 is None else _xxh3


def prompt_fingerprint(call: object) -> int | None:
    """The fingerprint of a call's prompt, from a parsed call or a fast-parsed one (``None``: no prompt)."""
    if type(call) is dict:
        prompt = call.get("prompt")
        return _fingerprint(prompt) if prompt and type(prompt) is str else None
    literal = getattr(call, "prompt", None)
    if literal is None or len(literal) <= 2 or memoryview(literal)[0] != _QUOTE:
        return None
    return _fingerprint_literal(literal)


def _fingerprint(prompt: str) -> int:
    """The fingerprint of a prompt's text: that of its JSON literal, written the minimal way."""
    return _fingerprint_literal(_minimal_literal(prompt))


def _minimal_literal(text: str) -> bytes:
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(text)
        except TypeError:  # orjson refuses lone surrogates (which json.loads lets through)
            pass
    return json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")


_orjson_dumps: Callable[[str], bytes] | None
try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - json.dumps writes the same literals, only slower
    _orjson_dumps = None


# --- the entry, as the report reads it -----------------------------------------------------------
# The report needs a dozen small fields of each entry, while most of a line's bytes are prompts and
# completions. Every line is decoded by msgspec into the typed structs below, the one place that names
# the fields the report reads and the types it reads them as:
#
# * _Entry is the shape wflogging.record_task writes. Completions are skipped without making Python
#   strings of them, prompts stay the bytes of their JSON literal (see "prompt fingerprints"), and
#   the numbers arrive typed. The report's hot loop counts such an entry straight from these structs.
# * _AnyEntry takes any JSON object: the same fields, as parsed, read by _read_event's defensive rules.
#   A line that is not in _Entry's shape (aliases in cost_data, a missing field, a wrong type) is
#   decoded again into it, so both give the same facts for the same entry (the tests check this on
#   random entries).

_NO_PROMPT = msgspec.Raw(b"null")


class _Tokens(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    input: int
    output: int
    cached: Any = None


class _ModelCost(msgspec.Struct, gc=False):
    cost_usd: int | float
    input_tokens: int
    output_tokens: int


class _Cost(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    # The shape record_task writes in the free-form cost_data. Unknown keys (the aliases
    # read_cost understands, among others) make the entry an _AnyEntry.
    total_cost_usd: float
    tokens: _Tokens
    models: dict[str, _ModelCost]
    unpriced_calls: int = 0
    llm_calls: Any = None


# The names and the nesting come from the event's declaration (wflogging.declaration): a field
# renamed there fails here at import. What is not named is skipped (completions, the event id).
_Entry: Any = declaration.decoder_struct(
    "_Entry",
    {
        "workflow_run_id": str,
        "task_id": str,
        "agent_name": str,
        "status": str,
        "timestamps": {"start_time_utc": str, "end_time_utc": str, "duration_seconds": float},
        # A prompt stays as written in the line (no Python string is made of it): see
        # "prompt fingerprints". The completion is skipped.
        "llm_trace": {"model_name": str, "prompt": (msgspec.Raw, _NO_PROMPT)},
        "cost_data": _Cost,
        "task_description": (Any, None),
        "human_feedback": (Any, None),
        "extensions": (Any, None),
    },
    gc=False,
)
_ANY_FIELDS = (
    "workflow_run_id",
    "task_id",
    "agent_name",
    "status",
    "timestamps",
    "llm_trace",
    "cost_data",
    "task_description",
    "human_feedback",
    "extensions",
)
_AnyEntry: Any = declaration.decoder_struct("_AnyEntry", dict.fromkeys(_ANY_FIELDS, (Any, None)), gc=False)


#: Reads a line into an _Entry, or raises one of ENTRY_ERRORS (then read it with decode_any_entry).
ENTRY_DECODER = msgspec.json.Decoder(_Entry)
ENTRY_ERRORS: tuple[type[Exception], ...] = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)
_ANY_ENTRY_DECODER = msgspec.json.Decoder(_AnyEntry)
_ANY_DECODER = msgspec.json.Decoder()

# msgspec's words for a JSON value's type, as Python names it (wflogging.read_events's reasons).
_PYTHON_TYPE = {
    "array": "list",
    "null": "NoneType",
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
}


def decode_any_entry(line: Line) -> _AnyEntry:
    """Any JSON object line as an :class:`_AnyEntry`.

    Raises ``ValueError`` (:class:`~wflogging.cli.inputs.NotAnObject` for JSON that
    is not an object) or ``RecursionError``: the exceptions :func:`~wflogging.cli.inputs.torn_line`
    words as :func:`wflogging.read_events` does.
    """
    try:
        return _ANY_ENTRY_DECODER.decode(line)
    except msgspec.ValidationError as exc:
        raise _not_an_object(exc) from None
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None


def decode_object(line: Line) -> dict[str, Any]:
    """A line that is a JSON object, parsed whole (for readers of every field).

    Raises as :func:`decode_any_entry` does.
    """
    try:
        entry = _ANY_DECODER.decode(line)
    except msgspec.DecodeError as exc:  # (a ValidationError too: a number out of range)
        raise ValueError(str(exc)) from None
    if type(entry) is not dict:
        raise NotAnObject(f"JSON {type(entry).__name__}, not an object")
    return entry


def _not_an_object(exc: msgspec.ValidationError) -> ValueError:
    """The error for a line that _AnyEntry refuses: JSON that is not an object, or a number out of range."""
    message = str(exc)
    if message.startswith("Expected `object`, got `") and " - at " not in message:
        kind = message.split("`")[3]
        return NotAnObject(f"JSON {_PYTHON_TYPE.get(kind, kind)}, not an object")
    return ValueError(message)


def any_entry(entry: Mapping[str, Any]) -> _AnyEntry:
    """An entry already parsed (a dict, as :func:`wflogging.read_events` gives it), as an _AnyEntry."""
    get = entry.get
    return _AnyEntry(**{name: get(name) for name in _ANY_FIELDS})
