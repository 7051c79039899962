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
import secrets
import sys
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring as _json_escape  # the C escaper when available
from typing import Any, Protocol

from wflogging import schema

__all__ = [
    "EntryDict",
    "Serializer",
    "UnencodableText",
    "available_serializers",
    "data_traits",
    "get_serializer",
    "holds_line_separator",
    "representable",
    "spelled_differently",
]


class UnencodableText(ValueError):
    """Some string in the entry is not valid Unicode text (a lone surrogate)."""


class Serializer(Protocol):
    """Writes plain JSON data as one compact line."""

    name: str

    def dumps(self, data: Any) -> bytes:
        """The line as UTF-8, without the trailing newline."""

    def dumps_line(self, data: Any) -> bytes:
        """The line as UTF-8 with its trailing ``\\n``, built without copying the line again."""

    def dumps_text(self, data: Any) -> str:
        """The line as text, without the trailing newline."""


# --- what a serializer must know about the data ------------------------------------------------
#
# Two properties of an entry change how it is written, and both are rare:
#  - a float that orjson spells unlike float.__repr__ (which json uses): orjson writes
#    1e-05 as 0.00001 and 1e-07 as 1e-7, for every magnitude in [1e-9, 1e-4);
#  - a raw U+2028, U+2029 or U+0085 in a string: legal JSON, but a line break to
#    str.splitlines() and some JavaScript readers, so it is written as a \uXXXX escape.
# Finding them by looking at the finished line is expensive: the em dashes and curly
# quotes LLMs write share U+2028's lead bytes E2 80, so a byte scan of a megabyte line
# costs milliseconds, and a walk of the data costs microseconds per event. wflogging
# builds entries by visiting every value anyway, so the builder records both facts on
# the entry (EntryDict); a serializer walks only data that arrives without them. One
# exception: the builder does not search strings of SEARCH_LATER_CHARS or more (it says
# "unknown"), so that a queue handler's caller, who builds the entry, pays nothing per byte.
#
# A third fact is size: the length of the longest string. A string of megabytes serialized in
# one piece costs far more memory than its size (orjson reserves a worst-case buffer of several
# bytes per character; the stdlib encoder holds the escaped text, the joined line and its UTF-8
# copy at once), so such strings are escaped on their own, a chunk at a time, and spliced into
# the line (see _LongTexts): a 50 MB prompt then costs about twice its size. The stdlib encoder
# also does this from LONG_TEXT_CHARS for text with non-ASCII characters, where it is faster.

_DIVERGENT_FLOATS_FROM = 1e-10  # orjson diverges from 1e-9; a little wide costs time, never bytes
#: Floats below this magnitude may be spelled differently (the builder's quick test).
DIVERGENT_FLOATS_BELOW = 1e-4


def spelled_differently(number: float) -> bool:
    """Whether orjson writes ``number`` unlike ``float.__repr__`` (and so unlike ``json``)."""
    return _DIVERGENT_FLOATS_FROM <= abs(number) < DIVERGENT_FLOATS_BELOW


#: Strings this long are searched for line separators when the line is written, not when the
#: entry is built: in queue mode the caller's cost then does not grow with the text's size.
SEARCH_LATER_CHARS = 1 << 16
#: The shortest string a serializer may write on its own (the json serializer, for wide text).
LONG_TEXT_CHARS = 1 << 14
#: From this length every serializer writes a string on its own, to bound memory.
_HUGE_TEXT_CHARS = 1 << 20
#: How much of a long string is escaped at once: bounds the escaper's working memory.
_CHUNK_CHARS = 1 << 16


def holds_line_separator(text: str) -> bool:
    """Whether ``text`` holds U+2028, U+2029 or U+0085 (``str.isascii`` is O(1), so ASCII is free)."""
    # For text whose widest character is below U+2028 (Latin-1), the first two tests
    # return without scanning: CPython compares the character widths first.
    return not text.isascii() and ("\u2028" in text or "\u2029" in text or "\x85" in text)


class EntryDict(dict):  # type: ignore[type-arg]
    """A dict of plain JSON data that knows what it holds of the three cases above.

    Made by :func:`wflogging.build_entry`; it is an ordinary ``dict`` to everyone
    else. ``divergent_floats`` and ``line_separators`` are ``True`` when the data
    may hold such a float or such a character (``False`` is a promise;
    ``line_separators`` is ``None`` when strings of :data:`SEARCH_LATER_CHARS` or
    more were not searched); ``longest_text`` is at least the length of its
    longest string. The builder sets them. A copy or a change made elsewhere loses the promise: a plain
    ``dict`` is looked through.
    """

    # Class defaults instead of an __init__: a Python-level __init__ on a dict subclass
    # costs a microsecond per entry, and a fresh EntryDict promises nothing.
    divergent_floats: bool = True
    #: Where they are, when the builder knows (``None``: look everywhere): each a path of keys (and
    #: list indexes) from the top, ``("cost_data", "models", "m", "cost_usd")``.
    float_paths: Sequence[tuple[Any, ...]] | None = None
    line_separators: bool | None = True
    longest_text: int = sys.maxsize


def data_traits(data: Any) -> tuple[bool, bool, int]:
    """``(divergent_floats, line_separators, longest_text)`` of JSON data (an :class:`EntryDict` says)."""
    if type(data) is EntryDict:
        separators = data.line_separators
        if separators is None:  # the builder left its long strings to be searched now
            separators = _holds_line_separators(data)
        return data.divergent_floats, separators, data.longest_text
    floats = separators = False
    longest = 0
    for value in _leaves(data):
        kind = type(value)
        if kind is str:
            separators = separators or holds_line_separator(value)
            longest = max(longest, len(value))
        elif kind is float:
            floats = floats or spelled_differently(value)
    return floats, separators, longest


def _holds_line_separators(data: Any) -> bool:
    return any(type(value) is str and holds_line_separator(value) for value in _leaves(data))


def _leaves(data: Any) -> Iterator[Any]:
    """Every string, number, boolean and ``None`` in plain JSON data, keys included, in no set order."""
    pending = [data]
    pop, push = pending.pop, pending.extend
    while pending:
        value = pop()
        kind = type(value)
        if kind is dict or kind is EntryDict:
            push(value)  # the keys
            push(value.values())
        elif kind is list or kind is tuple:
            push(value)
        else:
            yield value


# Raw line separators as UTF-8 bytes and as text, with their escapes.
_SEPARATOR_BYTES = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"), (b"\xc2\x85", b"\\u0085"))
_SEPARATOR_TEXT = (("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\x85", "\\u0085"))


def _escape_separators_bytes(line: bytes) -> bytes:
    # Only called when the data holds a separator, so no pre-check: each replace is one pass.
    for raw, escaped in _SEPARATOR_BYTES:
        line = line.replace(raw, escaped)
    return line


def _escape_separators_text(line: str) -> str:
    # Searching text is cheap (no E2 80 false starts as in bytes), so check before copying.
    for raw, escaped in _SEPARATOR_TEXT:
        if raw in line:
            line = line.replace(raw, escaped)
    return line


class StdlibJsonSerializer:
    """The stdlib ``json`` encoder, configured once (compact, no NaN, keep Unicode)."""

    name = "json"

    def __init__(self) -> None:
        # check_circular is off because entries are fresh trees built by wflogging
        # (the builder's depth limit hands cycles to the full rules, which reject them).
        encoder = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False
        )
        self._encode: Callable[[Any], str] = encoder.encode
        self._iterencode = encoder.iterencode
        self._c_chunks = _c_chunk_encoder()

    def _text(self, data: Any, newline: bool) -> str:
        if self._c_chunks is not None:
            chunks = self._c_chunks(data, 0)
            # Joining one more chunk appends the newline without copying the line again.
            line = "".join((*chunks, "\n")) if newline else "".join(chunks)
        elif newline:
            line = "".join((*self._iterencode(data, _one_shot=True), "\n"))
        else:
            line = self._encode(data)
        if line.isascii():  # O(1) for str: ASCII text holds no surrogate and no separator
            return line
        if type(data) is not EntryDict or data.line_separators is not False:
            line = _escape_separators_text(line)
        return line

    def _line(self, data: Any, newline: bool) -> bytes:
        if data_traits(data)[2] >= LONG_TEXT_CHARS:
            long_texts = _LongTexts(LONG_TEXT_CHARS, _json_escaped_chunks)
            line = long_texts.line(data, lambda skeleton: _utf8(self._text(skeleton, newline)))
            if line is not None:
                return line
        return _utf8(self._text(data, newline))

    def dumps_text(self, data: Any) -> str:
        if data_traits(data)[2] >= LONG_TEXT_CHARS:
            return self._line(data, newline=False).decode("utf-8")
        line = self._text(data, newline=False)
        if not line.isascii():
            _check_encodable(line)
        return line

    def dumps(self, data: Any) -> bytes:
        return self._line(data, newline=False)

    def dumps_line(self, data: Any) -> bytes:
        return self._line(data, newline=True)


def _c_chunk_encoder() -> Callable[[Any, int], Sequence[str]] | None:
    """The stdlib's C encoder, made once with the options above, or ``None`` if unavailable.

    ``JSONEncoder.encode`` builds this object again on every call (about 14% of
    serializing a small entry). Its constructor is internal, so it is checked
    against ``json.dumps`` on a probe and not used if anything differs.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it; other interpreters may not
        return None
    probe: dict[str, Any] = {"k\u00e9": [1, -2.5, 1e-05, None, True, '\u2014\n"\\', {}], "": []}
    try:
        chunks: Callable[[Any, int], Sequence[str]] = make(
            None, _unserializable, _json_escape, None, ":", ",", False, False, False
        )
        same = "".join(chunks(probe, 0)) == json.dumps(probe, ensure_ascii=False, separators=(",", ":"))
    except Exception:  # pragma: no cover - a future signature
        return None
    return chunks if same else None


def _unserializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _utf8(line: str) -> bytes:
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnencodableText(str(exc)) from None


def _json_escaped_chunks(text: str, chunk_chars: int = _CHUNK_CHARS) -> Iterator[bytes]:
    """``text`` as the inside of a JSON string (UTF-8, no quotes), a chunk at a time, by ``json``.

    The stdlib escaper is several times slower on text with wide characters (it builds
    its result four bytes per character) than on one-byte text. Escaping the UTF-8
    bytes seen as Latin-1 text gives the same bytes faster: only ASCII characters are
    ever escaped, and every byte of a multi-byte UTF-8 sequence is 0x80 or above.
    """
    for start in range(0, len(text), chunk_chars):
        chunk = text[start : start + chunk_chars]
        piece = _json_escape(_utf8(chunk).decode("latin-1")).encode("latin-1")
        if holds_line_separator(chunk):
            piece = _escape_separators_bytes(piece)
        yield piece[1:-1]


class OrjsonSerializer:
    """``orjson``: serializes straight to UTF-8 bytes, several times faster than ``json``."""

    name = "orjson"

    def __init__(self) -> None:
        import orjson

        self._orjson = orjson
        # orjson >= 3.10 inserts pre-serialized JSON (a Fragment) as is: the way to
        # write a divergent float the json way while orjson writes everything else.
        self._fragment: Callable[[bytes], Any] | None = getattr(orjson, "Fragment", None)
        self._reference = StdlibJsonSerializer()

    def _line(self, data: Any, option: int) -> bytes:
        if type(data) is EntryDict and data.line_separators is not None:  # what the builder noted
            floats, separators, longest = data.divergent_floats, data.line_separators, data.longest_text
        else:
            floats, separators, longest = data_traits(data)
        # Shorter strings are written by orjson in place: splicing costs a copy of the line,
        # and orjson's buffer for a shorter string is a few megabytes at most.
        if longest >= _HUGE_TEXT_CHARS:
            long_texts = _LongTexts(_HUGE_TEXT_CHARS, self._escaped_chunks)
            spliced = long_texts.line(data, lambda skeleton: self._line(skeleton, option))
            if spliced is not None:
                return spliced
        if floats:
            if self._fragment is None:
                return self._reference.dumps_line(data) if option else self._reference.dumps(data)
            data = _floats_as_fragments(data, self._fragment)
        line = self._dumps(data, option)
        return _escape_separators_bytes(line) if separators else line

    def _dumps(self, data: Any, option: int = 0) -> bytes:
        try:
            line: bytes = self._orjson.dumps(data, option=option)
        except self._orjson.JSONEncodeError as exc:
            if "surrogates" in str(exc):
                raise UnencodableText(str(exc)) from None
            raise
        return line

    def _escaped_chunks(self, text: str, chunk_chars: int = _CHUNK_CHARS) -> Iterator[bytes]:
        """``text`` as the inside of a JSON string, a chunk at a time (see :class:`_LongTexts`)."""
        for start in range(0, len(text), chunk_chars):
            chunk = text[start : start + chunk_chars]
            piece = self._dumps(chunk)
            if holds_line_separator(chunk):
                piece = _escape_separators_bytes(piece)
            # A copy without the quotes, not a view: orjson's result keeps the worst-case
            # buffer it reserved (several bytes per character) for as long as it lives.
            yield piece[1:-1]

    def dumps(self, data: Any) -> bytes:
        return self._line(data, 0)

    def dumps_line(self, data: Any) -> bytes:
        return self._line(data, self._orjson.OPT_APPEND_NEWLINE)

    def dumps_text(self, data: Any) -> str:
        return self._line(data, 0).decode("utf-8")


class _LongTexts:
    """Writes a line whose long strings are escaped separately and spliced in.

    Each string of at least ``minimum`` characters (ASCII strings: at least
    ``_HUGE_TEXT_CHARS``, since escaping them apart saves memory, not time) is swapped for a placeholder
    string, the rest of the data (the skeleton) is serialized as usual, and each
    placeholder's JSON text in the line is replaced by the escaped chunks of its
    string. Only the final line and one chunk's working memory exist besides the
    escaped pieces, where serializing the string in one piece costs several copies.
    The placeholder holds a random per-process token and NUL characters; if the
    skeleton's line does not hold each placeholder exactly once (data that mimics
    one), :meth:`line` returns ``None`` and the caller serializes the data whole.
    """

    _token = secrets.token_hex(8)

    def __init__(self, minimum: int, escaped_chunks: Callable[[str], Iterable[bytes | memoryview]]) -> None:
        self.minimum = minimum
        self.escaped_chunks = escaped_chunks
        self.texts: list[str] = []

    def _placeholder(self, value: str) -> str:
        if len(value) >= (_HUGE_TEXT_CHARS if value.isascii() else self.minimum):
            self.texts.append(value)
            return f"\x00wflogging-long-text:{self._token}:{len(self.texts)}\x00"
        return value

    def line(self, data: Any, serialize: Callable[[Any], bytes]) -> bytes | None:
        skeleton = _replace_leaves(data, str, self._placeholder)
        if not self.texts:
            return None
        line = serialize(skeleton)
        # Each placeholder's token must be in the line once: one count for all of them.
        if line.count(f"wflogging-long-text:{self._token}:".encode("ascii")) != len(self.texts):
            return None
        parts: list[bytes | memoryview] = []
        whole = memoryview(line)
        start = 0
        for number, text in enumerate(self.texts, start=1):
            literal = f'"\\u0000wflogging-long-text:{self._token}:{number}\\u0000"'.encode("ascii")
            found = line.find(literal, start)
            if found < 0:
                return None
            parts += (whole[start:found], b'"', *self.escaped_chunks(text), b'"')
            start = found + len(literal)
        parts.append(whole[start:])
        return b"".join(parts)


def _replace_leaves(data: Any, leaf: type, replace: Callable[[Any], Any], skip: Container[str] = ()) -> Any:
    """``data`` with each value ``v`` of type ``leaf`` (exactly) as ``replace(v)``.

    Only the containers on the way to a replaced value are copied; everything else
    is shared with ``data``. ``skip`` names top-level keys not to look into. Values
    of other types are passed over where they are found, without a call: entries
    with a tiny cost take this path on every line.
    """
    kind = type(data)
    if kind is leaf:
        return replace(data)
    if kind is dict or kind is EntryDict:
        copy: dict[Any, Any] | None = None
        for key, value in data.items():
            if key in skip:
                continue
            new = _replaced(value, leaf, replace)
            if new is not value:
                if copy is None:
                    copy = dict(data)
                copy[key] = new
        return data if copy is None else copy
    if kind is list or kind is tuple:
        items: list[Any] | None = None
        for index, value in enumerate(data):
            new = _replaced(value, leaf, replace)
            if new is not value:
                if items is None:
                    items = list(data)
                items[index] = new
        return data if items is None else items
    return data


def _replaced(value: Any, leaf: type, replace: Callable[[Any], Any]) -> Any:
    kind = type(value)
    if kind is leaf:
        return replace(value)
    if kind is dict or kind is list or kind is tuple or kind is EntryDict:
        return _replace_leaves(value, leaf, replace)
    return value


def _floats_as_fragments(data: Any, fragment: Callable[[bytes], Any]) -> Any:
    """``data`` with each divergent float as ``float.__repr__``'s text.

    In a built entry only ``timestamps``, ``cost_data`` and ``extensions`` can hold
    floats, so the trace and its prompts are not walked.
    """

    def as_fragment(value: float) -> Any:
        return fragment(float.__repr__(value).encode("ascii")) if spelled_differently(value) else value

    skip: Container[str] = ()
    if type(data) is EntryDict:
        if data.float_paths is not None:  # the builder said where: nothing else is looked at
            return _replaced_at(data, data.float_paths, as_fragment)
        skip = _FLOAT_FREE_ENTRY_FIELDS
    return _replace_leaves(data, float, as_fragment, skip)


def _replaced_at(
    data: dict[str, Any], paths: Sequence[tuple[Any, ...]], replace: Callable[[Any], Any]
) -> Any:
    """``data`` with the value at each path (keys and list indexes from the top) as ``replace(value)``.

    Only the containers on the way are copied (each once), so ``data`` stays as it was: it may be
    written by another handler, on another thread, at the same time.
    """
    top = dict(data)
    copies = {id(top)}
    for path in paths:
        container: Any = top
        for step in path[:-1]:
            child = container[step]
            if id(child) not in copies:
                child = container[step] = list(child) if type(child) is list else dict(child)
                copies.add(id(child))
            container = child
        container[path[-1]] = replace(container[path[-1]])
    return top


#: Fields of a built entry that hold no float by construction (ids, text, integers).
_FLOAT_FREE_ENTRY_FIELDS = frozenset(
    {
        "event_id",
        "workflow_run_id",
        "task_id",
        "task_description",
        "agent_name",
        "status",
        "llm_trace",
        "human_feedback",
    }
)


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
    except Exception as exc:  # a hostile __repr__ or __iter__: mark this value only, keep the rest
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
    # Children through representable(): each bad value is marked where it is, the rest kept.
    if isinstance(value, Mapping):
        return {
            str(representable(k, depth + 1, inner)): representable(v, depth + 1, inner)
            for k, v in list(value.items())
        }
    if isinstance(value, (list, tuple)):
        return [representable(item, depth + 1, inner) for item in value]
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
