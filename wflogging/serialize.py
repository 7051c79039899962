"""Turning a finished entry (plain JSON data) into one line of JSON text.

Two backends produce byte-identical lines: the stdlib ``json`` module and, when
installed (``pip install wflogging[fast]``), ``orjson``. Both write compact,
UTF-8, non-ASCII-preserving JSON and guarantee a single physical line: JSON
escapes ``\\n``/``\\r``, and U+2028, U+2029 and U+0085 (line breaks to
``str.splitlines`` and some JavaScript readers) are written as ``\\uXXXX``
escapes. A string that cannot be UTF-8 (a lone surrogate) raises
:class:`UnencodableText` so the caller can reject the event.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from wflogging import schema

__all__ = ["Serializer", "UnencodableText", "available_serializers", "get_serializer", "representable"]


class UnencodableText(ValueError):
    """Some string in the entry is not valid Unicode text (a lone surrogate)."""


class Serializer(Protocol):
    """Writes plain JSON data as one compact line, without the trailing newline."""

    name: str

    def dumps(self, data: Any) -> bytes: ...

    def dumps_text(self, data: Any) -> str: ...


# Raw line separators that are legal inside JSON strings but split lines for
# str.splitlines() (U+2028, U+2029, U+0085), as UTF-8 bytes and as text.
_SEPARATOR_BYTES = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"), (b"\xc2\x85", b"\\u0085"))
_SEPARATOR_TEXT = (("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\x85", "\\u0085"))


def _escape_separators_bytes(line: bytes) -> bytes:
    # Both 3-byte separators start with E2 80, so one scan rules them out in the common case.
    if b"\xe2\x80" in line or b"\xc2\x85" in line:
        for raw, escaped in _SEPARATOR_BYTES:
            line = line.replace(raw, escaped)
    return line


def _escape_separators_text(line: str) -> str:
    for raw, escaped in _SEPARATOR_TEXT:
        if raw in line:
            line = line.replace(raw, escaped)
    return line


class StdlibJsonSerializer:
    """The stdlib ``json`` encoder, configured once (compact, no NaN, keep Unicode)."""

    name = "json"

    def __init__(self) -> None:
        # check_circular is off because entries are fresh trees built by wflogging
        # (cost_data is copied with cycle detection), which saves a dict per container.
        self._encode: Callable[[Any], str] = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False
        ).encode

    def dumps_text(self, data: Any) -> str:
        line = self._encode(data)
        if line.isascii():  # O(1) for str: ASCII text can hold no surrogate and no separator
            return line
        _check_encodable(line)
        return _escape_separators_text(line)

    def dumps(self, data: Any) -> bytes:
        line = self._encode(data)
        try:
            encoded = line.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UnencodableText(str(exc)) from None
        return encoded if line.isascii() else _escape_separators_bytes(encoded)


# orjson writes floats in [1e-9, 1e-4) differently from float.__repr__ (which json
# uses): 1e-05 as ``0.00001``, 1e-07 as ``1e-7``. An entry holding such a float is
# written by the json encoder instead, the reference. Looking through the data
# (containers only; strings are skipped whole) costs per value, not per byte of
# prompt text; the range is taken a little wide, which costs time, never bytes.
_DIVERGENT_FLOATS_FROM = 1e-10
_DIVERGENT_FLOATS_BELOW = 1e-4


def _holds_divergent_float(data: Any) -> bool:
    """Whether ``data`` holds a float that orjson writes unlike ``float.__repr__``."""
    pending = [data]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            pending.extend(value.values())
        elif kind is list:
            pending.extend(value)
        elif kind is float and _DIVERGENT_FLOATS_FROM <= abs(value) < _DIVERGENT_FLOATS_BELOW:
            return True
    return False


class OrjsonSerializer:
    """``orjson``: serializes straight to UTF-8 bytes, several times faster than ``json``."""

    name = "orjson"

    def __init__(self) -> None:
        import orjson

        self._orjson = orjson
        self._reference = StdlibJsonSerializer()

    def dumps(self, data: Any) -> bytes:
        try:
            line: bytes = self._orjson.dumps(data)
        except self._orjson.JSONEncodeError as exc:
            if "surrogates" in str(exc):
                raise UnencodableText(str(exc)) from None
            raise
        if _holds_divergent_float(data):
            return self._reference.dumps(data)
        return _escape_separators_bytes(line)

    def dumps_text(self, data: Any) -> str:
        return self.dumps(data).decode("utf-8")


def _check_encodable(line: str) -> None:
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnencodableText(str(exc)) from None


_BACKENDS: dict[str, Callable[[], Serializer]] = {
    "orjson": OrjsonSerializer,
    "json": StdlibJsonSerializer,
}


def available_serializers() -> list[str]:
    """Names of the serializers usable here, fastest first."""
    return [name for name in _BACKENDS if name == "json" or importlib.util.find_spec(name)]


def get_serializer(name: str = "auto") -> Serializer:
    """The serializer called ``name``; ``"auto"`` picks the fastest one installed."""
    if name == "auto":
        name = available_serializers()[0]
    try:
        factory = _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown serializer {name!r}; choose from auto, {', '.join(_BACKENDS)}") from None
    try:
        return factory()
    except ImportError as exc:
        raise ValueError(
            f"serializer {name!r} is not installed ({exc}); try pip install 'wflogging[fast]'"
        ) from None


def surrogate_problems(data: Any, path: str = "") -> list[schema.Problem]:
    """Where ``data`` holds strings that cannot be UTF-8 (to explain a reject)."""
    found: list[schema.Problem] = []
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            problem = (
                f"lone surrogate U+{ord(data[exc.start]):04X} at index {exc.start} is not valid Unicode text"
            )
            found.append(schema.Problem(path or "value", problem))
    elif isinstance(data, Mapping):
        for key, value in data.items():
            found += surrogate_problems(key, f"{path} (key)" if path else "(key)")
            found += surrogate_problems(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found += surrogate_problems(item, f"{path}[{index}]")
    return found


def representable(value: Any, depth: int = 0, _open: frozenset[int] = frozenset()) -> Any:
    """A best-effort JSON-safe copy of anything, for the rejects file. Never raises.

    Model objects become dicts, text with lone surrogates gets them escaped,
    non-finite floats become strings, cycles and deep nesting are cut with a
    marker, and any other object becomes its (bounded) ``repr``.
    """
    try:
        return _representable(value, depth, _open)
    except Exception as exc:  # a hostile __repr__ or __iter__: keep what we can say
        return f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"


def _representable(value: Any, depth: int, open_ids: frozenset[int]) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value if type(value) in (bool, int) or value is None else int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if depth > 64 or id(value) in open_ids:
        return "<cycle or nesting too deep>"
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and type(value).__module__.startswith("wflogging"):
        return _representable(to_dict(), depth + 1, open_ids)
    inner = open_ids | {id(value)}
    if isinstance(value, Mapping):
        return {
            str(_representable(k, depth + 1, inner)): _representable(v, depth + 1, inner)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_representable(item, depth + 1, inner) for item in value]
    problems: list[schema.Problem] = []
    plain = schema.plain_json(value, "", problems)  # dates, decimals, enums, UUIDs, ...
    if not problems:
        return _representable(plain, depth + 1, inner)
    text = repr(value)
    return (
        (text if len(text) <= 1000 else text[:997] + "...")
        .encode("utf-8", "backslashreplace")
        .decode("utf-8")
    )
