"""Opt-in secret redaction and per-field size caps for log entries, before anything touches disk.

Both are pure: they take an entry (or any JSON-safe data) and return a new one,
never changing what they were given, so the formatter and the rejects writer
can call them wherever they hold the data.

:class:`Redactor` replaces credential shapes with ``[REDACTED:<rule>]`` and
records how many it replaced per rule under ``extensions.redactions`` (counts
only, never the matched text). It fails closed: if a rule or the user's hook
raises or returns something other than text, the whole string is replaced by
``[REDACTION FAILED]`` and counted under ``redaction_failed``.

:class:`FieldSizeCap` truncates long prompt and completion text on a code point
boundary, appends a marker with the original length and SHA-256, and records
them under ``extensions.truncated``. It is off unless configured: the SOP
promises the full prompt.

Use them in that order (redact, then cap): a secret cut in half by the cap
would no longer match its rule, and the recorded SHA-256 is then a digest of
the redacted text, not of text holding secrets.

Every pattern is safe on large hostile input: each rule is skipped unless one of
its keywords occurs in the text, each regex either starts with a literal or
anchors its start with a negative look-behind (so a long run is entered once,
not at every position), and repetitions that can fail late are bounded.
Matching time is linear in the text's length.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, NamedTuple

import attrs

__all__ = [
    "DEFAULT_CAPPED_FIELDS",
    "DEFAULT_RULES",
    "REDACTION_FAILED",
    "FieldSizeCap",
    "Redacted",
    "RedactionHook",
    "Redactor",
    "Rule",
]

#: What a string becomes when a rule or the hook failed on it.
REDACTION_FAILED = "[REDACTION FAILED]"
#: Count names used by wflogging itself; rules may not take them.
FAILED_COUNT = "redaction_failed"
HOOK_COUNT = "hook"
#: The ``extensions`` keys the two classes write.
REDACTIONS_KEY = "redactions"
TRUNCATED_KEY = "truncated"

#: ``hook(field_path, text) -> text``: the user's own redaction, run after the rules.
RedactionHook = Callable[[str, str], str]

_RULE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SECRET_GROUP = "secret"
# Data nested deeper than this cannot come from wflogging (cost_data stops at 64
# levels); anything deeper is masked rather than walked with unbounded recursion.
_MAX_DEPTH = 100


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    return pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)


def _keywords(keywords: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keyword.lower() for keyword in keywords))  # compared lowercased


def _check_name(instance: Rule, attribute: attrs.Attribute[str], name: str) -> None:
    if not _RULE_NAME.fullmatch(name) or name in (FAILED_COUNT, HOOK_COUNT):
        raise ValueError(
            f"rule name {name!r} must be 1-64 of [A-Za-z0-9_.-] and not {FAILED_COUNT!r} or {HOOK_COUNT!r}"
        )


@attrs.frozen
class Rule:
    """A named pattern for one credential shape.

    Args:
        name: the count name in ``extensions.redactions`` and the marker's suffix.
        pattern: a regex (text or compiled). If it has a group named ``secret``,
            only that group is replaced, so context such as ``"Bearer "`` or the
            URL's host stays readable; otherwise the whole match is.
        keywords: the rule runs only on text containing one of these substrings,
            in any case (``"password"`` covers ``PassWord`` and ``PGPASSWORD``).
            A cheap ``in`` test on the text lowercased once for all rules, that
            skips the regex on almost all text. Empty: always run.

    The replacement text never matches a default rule again, so redacting twice
    gives the same result as once. Subclasses may override :meth:`redact` for
    shapes a regex cannot check (a checksum, say).
    """

    name: str = attrs.field(validator=_check_name)
    pattern: re.Pattern[str] = attrs.field(converter=_compile)
    keywords: tuple[str, ...] = attrs.field(default=(), converter=_keywords)

    @property
    def marker(self) -> str:
        """The text each match is replaced by, ``[REDACTED:<name>]``."""
        return f"[REDACTED:{self.name}]"

    def redact(self, text: str) -> tuple[str, int]:
        """``text`` with every match replaced by :attr:`marker`, and the number replaced."""
        return self.redact_lowered(text, text.lower() if self.keywords else text)

    def redact_lowered(self, text: str, lowered: str) -> tuple[str, int]:
        """:meth:`redact`, given ``text.lower()`` (which :class:`Redactor` makes once for all rules)."""
        if self.keywords:
            for keyword in self.keywords:  # a loop, not any(<generator>): half the cost per rule
                if keyword in lowered:
                    break
            else:
                return text, 0
        if _SECRET_GROUP in self.pattern.groupindex:
            return self.pattern.subn(self._replace_secret_group, text)
        return self.pattern.subn(self.marker.replace("\\", "\\\\"), text)

    def _replace_secret_group(self, match: re.Match[str]) -> str:
        start, end = match.span(_SECRET_GROUP)
        if start < 0:  # the group is optional and did not take part: replace the whole match
            return self.marker
        whole_start, whole_end = match.span()
        text = match.string
        return text[whole_start:start] + self.marker + text[end:whole_end]


# --- the default rules --------------------------------------------------------------------
# Character classes of secrets exclude "[" and "]", so a marker is never taken for a secret.
# Look-behinds like (?<![A-Za-z0-9_-]) make a rule start only where a token starts: on a run
# of 10**7 token characters the regex is then tried at one position, not at every one.

_TOKEN_START = r"(?<![A-Za-z0-9_-])"
_TOKEN_END = r"(?![A-Za-z0-9_-])"

DEFAULT_RULES: tuple[Rule, ...] = (
    # Multi-line PEM block. The body is "anything but five dashes" (unrolled, so each
    # dash is one iteration), which stops at the END line or at the next BEGIN: two
    # BEGIN lines never scan the same text. An unterminated block is redacted to the
    # next "-----" or the end of the text.
    Rule(
        "private_key",
        r"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"[^-]*(?:-(?!----)[^-]*)*"
        r"(?:-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
        keywords=("PRIVATE KEY",),
    ),
    Rule(
        "aws_access_key",
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])",
        keywords=("AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    Rule(
        "aws_secret_key",
        r"(?i:aws_?secret_?access_?key|aws_?secret_?key)\\?[\"']?\s{0,8}[:=]\s{0,8}\\?[\"']?"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        keywords=("secret",),
    ),
    Rule("anthropic_api_key", _TOKEN_START + r"sk-ant-[A-Za-z0-9_-]{20,}", keywords=("sk-ant-",)),
    # OpenAI: sk-proj-, sk-svcacct-, sk-admin- and classic sk- keys. At least one digit
    # within the first 64 characters keeps hyphenated words ("sk-learn-compatible-...") out.
    Rule(
        "openai_api_key",
        _TOKEN_START + r"sk-(?=[A-Za-z_-]{0,64}[0-9])[A-Za-z0-9_-]{20,}",
        keywords=("sk-",),
    ),
    Rule(
        "stripe_api_key",
        _TOKEN_START + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        keywords=("_live_", "_test_"),
    ),
    Rule(
        "github_token",
        _TOKEN_START + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        keywords=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    Rule("slack_token", _TOKEN_START + r"xox[abposr]-[A-Za-z0-9-]{10,}", keywords=("xox",)),
    Rule(
        "slack_webhook",
        r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}",
        keywords=("hooks.slack.com",),
    ),
    Rule("google_api_key", _TOKEN_START + r"AIza[A-Za-z0-9_-]{35}" + _TOKEN_END, keywords=("AIza",)),
    # Header and payload are base64url JSON objects, so both start with "eyJ" ('{"').
    Rule(
        "jwt",
        _TOKEN_START + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
        keywords=("eyJ",),
    ),
    # A bearer credential needs a digit in its first 64 characters and 16 characters at
    # least, so prose such as "bearer instruments" or "the bearer 2024edition bonds" is left alone.
    Rule(
        "bearer_token",
        r"(?<![A-Za-z0-9])(?i:bearer)\s{1,8}"
        r"(?P<secret>(?=[A-Za-z._~+/-]{0,64}[0-9])[A-Za-z0-9._~+/-]{16,}=*)",
        keywords=("bearer",),
    ),
    Rule(
        "basic_auth",
        r"(?i:authorization)\\?[\"']?\s{0,8}[:=]\s{0,8}\\?[\"']?(?i:basic)\s{1,8}"
        r"(?P<secret>[A-Za-z0-9+/]{6,}={0,2})",
        keywords=("authorization",),
    ),
    # Other Authorization schemes: "Token ..." (Django REST framework, GitHub), "ApiKey ...";
    # a digit in the first 64 characters, as for bearer tokens, keeps prose out.
    Rule(
        "authorization_token",
        r"(?i:authorization)\\?[\"']?\s{0,8}[:=]\s{0,8}\\?[\"']?(?i:token|api-?key|key)\s{1,8}"
        r"(?P<secret>(?=[A-Za-z._~+/-]{0,64}[0-9])[^\s\"'\\\[\],;]{8,})",
        keywords=("authorization",),
    ),
    # A Cookie or Set-Cookie header: every name=value pair's value (session ids, CSRF tokens).
    # The pairs' shape (name=value; ...) keeps prose ("Cookie: a sweet biscuit") out.
    Rule(
        "cookie",
        r"(?<![A-Za-z0-9-])(?i:set-cookie|cookie)\\?[\"']?\s{0,8}:\s{0,8}"
        r"(?P<secret>[A-Za-z0-9_.!#$%&'*+^`|~-]{1,128}=[^\s;\"\\\[\]]{1,4096}"
        r"(?:;\s{0,8}[A-Za-z0-9_.!#$%&'*+^`|~-]{1,128}(?:=[^\s;\"\\\[\]]{0,4096})?){0,64})",
        keywords=("cookie",),
    ),
    # scheme://user:password@host: starts at the literal "://" (fast search). Neither part
    # may hold "/", so an attempt ends at the next "://" and no text is scanned twice.
    Rule(
        "url_credentials",
        r"://(?P<secret>[^\s/?#@:\[\]\"'<>]+:[^\s/?#@\[\]\"'<>]+)@",
        keywords=("://",),
    ),
    # key = value assignments of secrets in config dumps, env files and JSON. The key may carry
    # a prefix (PGPASSWORD, MYSQL_PWD... DB_PASSWORD). With "=" or a quoted key (JSON, YAML)
    # any value of 6+ characters is taken; after a bare "key: " the value must hold a digit or
    # a symbol, so prose ("The secret: patience") is left alone.
    Rule(
        "secret_assignment",
        r"(?<![A-Za-z0-9_])[A-Za-z0-9_]{0,32}?(?i:password|passwd|secret|api[_-]?key|access[_-]?token"
        r"|auth[_-]?token|refresh[_-]?token|client[_-]?secret|private[_-]?key)"
        r"(?:\\?[\"']?\s{0,8}=\s{0,8}\\?[\"']?|\\?[\"']\s{0,8}:\s{0,8}\\?[\"']?"
        r"|\s{0,8}:\s{0,8}(?=[A-Za-z]{0,64}[^A-Za-z\s\"'\\\[\],;.!?:()]))"
        r"(?P<secret>[^\s\"'\\\[\],;]{6,})",
        keywords=("passw", "secret", "key", "token"),
    ),
    # PWD= in a connection string (ODBC, ADO.NET, JDBC): after ";" only, so a shell's
    # PWD=/home/alice is left alone.
    Rule(
        "connection_string_password",
        r"(?<=;)\s{0,8}(?i:pwd)\s{0,8}=\s{0,8}(?P<secret>[^;\s\"'\\\[\]]{1,})",
        keywords=("pwd",),
    ),
    # After url_credentials, so user:password@host is one redaction, not an e-mail. ASCII
    # addresses only; the top-level domain may be punycode (xn--...).
    # Not before ":" and a non-space: that is git's and scp's user@host:path, not an address
    # (and never a shorter domain of such a host: the domain must end where the match does).
    Rule(
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}"
        r"(?:xn--[A-Za-z0-9-]{1,59}|[A-Za-z]{2,24})(?![A-Za-z0-9-])(?!\.[A-Za-z0-9-])(?!:\S)",
        keywords=("@",),
    ),
)  # fmt: skip


class Redacted(NamedTuple):
    """Redacted data and the number of redactions per rule name (empty: nothing matched)."""

    value: Any
    counts: dict[str, int]


class Redactor:
    """Replaces credential shapes in log entries and in any JSON-safe data.

    Args:
        rules: the rules to apply, in order; ``None`` means :data:`DEFAULT_RULES`.
            Pass ``()`` to rely on ``extra_rules`` and ``hook`` alone.
        extra_rules: rules applied after ``rules`` (your own shapes).
        hook: ``hook(field_path, text) -> text``, applied after the rules to every
            string redacted. Paths look like ``llm_trace[0].prompt`` or
            ``cost_data.notes[2]``. Changes it makes are counted under ``hook``.
            Dictionary keys get the rules but not the hook.

    A rule or hook that raises, or a hook that returns anything but ``str``,
    masks the string it was working on as :data:`REDACTION_FAILED` and counts
    ``redaction_failed``: a failure never lets text through in clear.
    """

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        *,
        extra_rules: Iterable[Rule] = (),
        hook: RedactionHook | None = None,
    ) -> None:
        self.rules: tuple[Rule, ...] = (*(DEFAULT_RULES if rules is None else rules), *extra_rules)
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(duplicates)}")
        self.hook = hook
        #: Every count name this redactor can write.
        self.count_names = frozenset((*names, HOOK_COUNT, FAILED_COUNT))

    def __repr__(self) -> str:
        return f"Redactor(rules={[rule.name for rule in self.rules]!r}, hook={self.hook!r})"

    # --- strings --------------------------------------------------------------------------

    def redact_text(self, text: str, path: str = "") -> Redacted:
        """``text`` with secrets replaced, and the counts. Never raises (fails closed)."""
        counts: dict[str, int] = {}
        return Redacted(self._text(text, path, counts, use_hook=True), counts)

    def _text(self, text: str, path: str, counts: dict[str, int], *, use_hook: bool) -> str:
        found: dict[str, int] = {}
        try:
            result = text
            lowered = text.lower()  # once for every rule's keyword test, again only after a change
            for rule in self.rules:
                if type(rule).redact is Rule.redact:
                    result, number = rule.redact_lowered(result, lowered)
                else:  # a subclass's own redact(text), as documented before ``lowered`` existed
                    result, number = rule.redact(result)
                if number:
                    found[rule.name] = number
                    lowered = result.lower()
            if use_hook and self.hook is not None:
                hooked = self.hook(path, result)
                if type(hooked) is not str:
                    raise TypeError(f"redaction hook returned {type(hooked).__name__}, not str")
                if hooked != result:
                    found[HOOK_COUNT] = 1
                    result = hooked
        except Exception:  # fail closed: whatever went wrong, this text is not written in clear
            _count(counts, FAILED_COUNT, 1)
            return REDACTION_FAILED
        for name, number in found.items():
            _count(counts, name, number)
        return result

    def _required_text(self, text: str, path: str, counts: dict[str, int]) -> str:
        # Fields the schema requires non-empty: a hook that blanks one leaves a marker.
        result = self._text(text, path, counts, use_hook=True)
        return result or f"[REDACTED:{HOOK_COUNT}]"

    # --- any JSON-safe data ---------------------------------------------------------------

    def redact_data(self, data: Any, path: str = "") -> Redacted:
        """A copy of JSON-safe ``data`` with every string value and key redacted, and the counts.

        For the rejects file and any other place holding arbitrary data. Dict keys
        that redact to the same text get ``#2``, ``#3``... appended, so no value is
        lost. Never raises: data nested deeper than 100 levels is masked.
        """
        counts: dict[str, int] = {}
        return Redacted(self._data(data, path, counts, 0), counts)

    def _data(self, data: Any, path: str, counts: dict[str, int], depth: int) -> Any:
        if isinstance(data, str):
            return self._text(data, path, counts, use_hook=True)
        if isinstance(data, Mapping):
            if depth >= _MAX_DEPTH:
                _count(counts, FAILED_COUNT, 1)
                return REDACTION_FAILED
            return self._mapping(data, path, counts, depth)
        if isinstance(data, (list, tuple)):
            if depth >= _MAX_DEPTH:
                _count(counts, FAILED_COUNT, 1)
                return REDACTION_FAILED
            return [
                self._data(item, f"{path}[{index}]", counts, depth + 1) for index, item in enumerate(data)
            ]
        return data

    def _mapping(
        self, data: Mapping[Any, Any], path: str, counts: dict[str, int], depth: int
    ) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            name = self._text(key, f"{child} (key)", counts, use_hook=False) if isinstance(key, str) else key
            if name in result:
                name = _unique_key(name, result)
            result[name] = self._data(value, child, counts, depth + 1)
        return result

    # --- log entries ----------------------------------------------------------------------

    def apply(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``entry`` with secrets redacted and their counts in ``extensions.redactions``.

        Redacted: ``task_id``, ``task_description``, ``agent_name``, every string
        (and key) in ``cost_data`` and ``extensions``, each ``llm_trace`` call's
        ``model_name``, ``prompt`` and ``completion``, and ``human_feedback``'s
        ``type`` and ``content``. Left alone: the identifiers, timestamps, status
        and ``call_sequence`` wflogging generates or validates to a fixed format.
        ``extensions.redactions`` is added only when something was redacted (or
        failed); counts already there from an earlier pass are added to. A
        schema-valid entry stays schema-valid. Never raises.
        """
        counts: dict[str, int] = {}
        result = dict(entry)
        for name in ("task_id", "task_description", "agent_name"):
            value = result.get(name)
            if isinstance(value, str):
                result[name] = self._required_text(value, name, counts)
        if isinstance(result.get("cost_data"), Mapping):
            result["cost_data"] = self._data(result["cost_data"], "cost_data", counts, 1)
        trace = result.get("llm_trace")
        if isinstance(trace, (list, tuple)):
            result["llm_trace"] = [self._call(call, index, counts) for index, call in enumerate(trace)]
        feedback = result.get("human_feedback")
        if isinstance(feedback, Mapping):
            result["human_feedback"] = self._feedback(feedback, counts)
        extensions = result.get("extensions")
        previous: Any = None
        if isinstance(extensions, Mapping):
            previous = extensions.get(REDACTIONS_KEY)
            rest = {key: value for key, value in extensions.items() if key != REDACTIONS_KEY}
            result["extensions"] = self._data(rest, "extensions", counts, 1)
        totals = self._merge_counts(previous, counts)
        if totals:
            result["extensions"] = {**result.get("extensions", {}), REDACTIONS_KEY: totals}
        return result

    def _call(self, call: Any, index: int, counts: dict[str, int]) -> Any:
        if not isinstance(call, Mapping):
            return call
        path = f"llm_trace[{index}]"
        result = dict(call)
        if isinstance(result.get("model_name"), str):
            result["model_name"] = self._required_text(result["model_name"], f"{path}.model_name", counts)
        for name in ("prompt", "completion"):
            if isinstance(result.get(name), str):
                result[name] = self._text(result[name], f"{path}.{name}", counts, use_hook=True)
        return result

    def _feedback(self, feedback: Mapping[str, Any], counts: dict[str, int]) -> dict[str, Any]:
        result = dict(feedback)
        if isinstance(result.get("type"), str):
            result["type"] = self._required_text(result["type"], "human_feedback.type", counts)
        if isinstance(result.get("content"), str):
            result["content"] = self._text(result["content"], "human_feedback.content", counts, use_hook=True)
        return result

    def _merge_counts(self, previous: Any, counts: dict[str, int]) -> dict[str, int]:
        # Only counts under names this redactor writes survive: anything else under the
        # reserved key was not scanned, so keeping it could keep text in clear.
        totals: dict[str, int] = {}
        if isinstance(previous, Mapping):
            for name, number in previous.items():
                if name in self.count_names and type(number) is int and number > 0:
                    totals[name] = number
        for name, number in counts.items():
            totals[name] = totals.get(name, 0) + number
        return dict(sorted(totals.items()))


def _count(counts: dict[str, int], name: str, number: int) -> None:
    counts[name] = counts.get(name, 0) + number


def _unique_key(name: Any, taken: Mapping[Any, Any]) -> str:
    suffix = 2
    while f"{name}#{suffix}" in taken:
        suffix += 1
    return f"{name}#{suffix}"


# --- size caps ----------------------------------------------------------------------------

#: The fields :class:`FieldSizeCap` caps unless told otherwise.
DEFAULT_CAPPED_FIELDS = ("llm_trace.prompt", "llm_trace.completion")
#: Every field it can cap.
CAPPABLE_FIELDS = frozenset((*DEFAULT_CAPPED_FIELDS, "task_description", "human_feedback.content"))
#: The smallest cap: the marker alone takes up to about 140 characters.
MIN_CAP = 256


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FieldSizeCap:
    """Truncates long text fields to a maximum size, with an explicit marker.

    Args:
        max_chars: the most code points a capped field may hold, marker included.
        max_bytes: the most UTF-8 bytes it may hold, marker included (what line
            length limits of log shippers count; CJK text takes 3 bytes a
            character, emoji 4).
        fields: which fields to cap: any of ``llm_trace.prompt``,
            ``llm_trace.completion`` (the default), ``task_description``,
            ``human_feedback.content``.
        digest: record the SHA-256 of the original's UTF-8 bytes (lone
            surrogates encoded as ``surrogatepass`` does).

    A capped field keeps its start, cut on a code point boundary (a surrogate
    pair is never split), then a marker such as ``...[TRUNCATED: original 50000000
    chars, 50000000 bytes, sha256 9f86...]``. ``extensions.truncated`` gets one
    item per capped field, keyed by its path: ``{"original_chars": ...,
    "original_bytes": ..., "sha256": ...}``. Text within the cap is untouched,
    so capping twice equals capping once.
    """

    def __init__(
        self,
        max_chars: int | None = None,
        *,
        max_bytes: int | None = None,
        fields: Collection[str] = DEFAULT_CAPPED_FIELDS,
        digest: bool = True,
    ) -> None:
        if max_chars is None and max_bytes is None:
            raise ValueError("give max_chars, max_bytes or both")
        for name, limit in (("max_chars", max_chars), ("max_bytes", max_bytes)):
            if limit is not None and (type(limit) is not int or limit < MIN_CAP):
                raise ValueError(f"{name} must be an integer >= {MIN_CAP}, got {limit!r}")
        unknown = sorted(set(fields) - CAPPABLE_FIELDS)
        if unknown:
            raise ValueError(
                f"cannot cap {', '.join(unknown)}; choose from {', '.join(sorted(CAPPABLE_FIELDS))}"
            )
        self.max_chars = max_chars
        self.max_bytes = max_bytes
        self.fields = frozenset(fields)
        self.digest = digest

    def __repr__(self) -> str:
        fields = sorted(self.fields)
        return f"FieldSizeCap(max_chars={self.max_chars!r}, max_bytes={self.max_bytes!r}, fields={fields!r})"

    def cap_text(self, text: str) -> tuple[str, dict[str, Any] | None]:
        """``text`` within the cap, and what was recorded about the original (``None``: not capped)."""
        if self._fits(text):
            return text, None
        encoded = text.encode("utf-8", "surrogatepass")
        original: dict[str, Any] = {"original_chars": len(text), "original_bytes": len(encoded)}
        if self.digest:
            original["sha256"] = _digest(encoded)
        marker = _truncation_marker(original)
        keep = len(text)
        if self.max_chars is not None:
            keep = min(keep, self.max_chars - len(marker))
        if self.max_bytes is not None:
            keep = min(keep, _chars_within(encoded, self.max_bytes - len(marker.encode("utf-8"))))
        if keep and "\ud800" <= text[keep - 1] <= "\udbff":  # the high half of a surrogate pair
            keep -= 1
        return text[:keep] + marker, original

    def _fits(self, text: str) -> bool:
        if self.max_chars is not None and len(text) > self.max_chars:
            return False
        if self.max_bytes is None or len(text) * 4 <= self.max_bytes:
            return True  # at most 4 bytes a code point: short text fits without being encoded
        return len(text) <= self.max_bytes and len(text.encode("utf-8", "surrogatepass")) <= self.max_bytes

    def apply(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``entry`` with the configured fields capped and ``extensions.truncated`` filled.

        ``extensions.truncated`` is added only when a field was capped; records
        already there (from an earlier pass) are kept.
        """
        result = dict(entry)
        truncated: dict[str, Any] = {}

        def capped(value: Any, path: str) -> Any:
            if not isinstance(value, str):
                return value
            text, original = self.cap_text(value)
            if original is not None:
                truncated[path] = original
            return text

        if "task_description" in self.fields:
            result["task_description"] = capped(result.get("task_description"), "task_description")
        call_fields = [name for name in ("prompt", "completion") if f"llm_trace.{name}" in self.fields]
        trace = result.get("llm_trace")
        if call_fields and isinstance(trace, (list, tuple)):
            calls: list[Any] = []
            for index, call in enumerate(trace):
                if not isinstance(call, Mapping):
                    calls.append(call)
                    continue
                copy = dict(call)
                for name in call_fields:
                    copy[name] = capped(copy.get(name), f"llm_trace[{index}].{name}")
                calls.append(copy)
            result["llm_trace"] = calls
        feedback = result.get("human_feedback")
        if "human_feedback.content" in self.fields and isinstance(feedback, Mapping):
            result["human_feedback"] = {
                **feedback,
                "content": capped(feedback.get("content"), "human_feedback.content"),
            }
        if truncated:
            extensions = dict(result.get("extensions") or {})
            earlier = extensions.get(TRUNCATED_KEY)
            # An earlier record describes the real original; a later pass only saw its cut.
            merged = {**truncated, **earlier} if isinstance(earlier, Mapping) else truncated
            extensions[TRUNCATED_KEY] = merged
            result["extensions"] = extensions
        return result


def _truncation_marker(original: Mapping[str, Any]) -> str:
    digest = f", sha256 {original['sha256']}" if "sha256" in original else ""
    return (
        f"...[TRUNCATED: original {original['original_chars']} chars, "
        f"{original['original_bytes']} bytes{digest}]"
    )


def _chars_within(encoded: bytes, budget: int) -> int:
    """How many code points of the UTF-8 ``encoded`` fit whole in ``budget`` bytes."""
    end = max(0, min(budget, len(encoded)))
    while end < len(encoded) and end > 0 and (encoded[end] & 0xC0) == 0x80:
        end -= 1  # never cut inside a multi-byte sequence: back up to its lead byte
    return len(encoded[:end].decode("utf-8", "surrogatepass"))
