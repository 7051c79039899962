"""Redaction of secrets and size caps on entries (issue 4, point 7), through the public API.

Secret samples are assembled at run time from pieces, so secret scanners run over
this repository do not flag the test file itself.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import string
from typing import Any

import jsonschema
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import valid_fields
from wflogging.redaction import REDACTION_FAILED

# --- samples ----------------------------------------------------------------------------

_B64URL = string.ascii_letters + string.digits + "-_"


def _jwt(payload: str = '{"sub":"1234567890","name":"Jo"}') -> str:
    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    return ".".join(
        (part('{"alg":"HS256","typ":"JWT"}'), part(payload), "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV")
    )


_PEM = (
    "-----BEGIN RSA PRIV" + "ATE KEY-----\n"
    "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n"
    "aFDrBz9vFqU4yFq8R5Mx0Kj4cXg1Yx5qzJ9Zc2EwQvQ0p7YpV0tq3ZL9bF8cZ2Kq\n"
    "-----END RSA PRIV" + "ATE KEY-----"
)

#: rule name -> (text as it appears in a prompt, the secret that must not survive)
TRUE_POSITIVES: dict[str, tuple[str, str]] = {
    "private_key": (f"Use this key:\n{_PEM}\nthanks", _PEM.split("\n")[1]),
    "aws_access_key": ("export AWS_ACCESS_KEY_ID=AK" + "IAIOSFODNN7EXAMPLE", "AK" + "IAIOSFODNN7EXAMPLE"),
    "aws_secret_key": (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    "anthropic_api_key": (
        "key sk-" + "ant-api03-" + "Zx9_Qw8-Er7Ty6" * 6 + "AA in the env",
        "sk-" + "ant-api03-" + "Zx9_Qw8-Er7Ty6" * 6 + "AA",
    ),
    "openai_api_key": ("OPENAI_API_KEY=sk-" + "proj-" + "a1B2c3D4e5" * 5, "sk-" + "proj-" + "a1B2c3D4e5" * 5),
    "stripe_api_key": (
        "stripe sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "sk_" + "live_4eC39HqLyjWDarjtT1zdp7dc",
    ),
    "github_token": ("git push https://x:gh" + "p_" + "A1b2C3d4E5" * 4 + "@github.com", "A1b2C3d4E5" * 4),
    "slack_token": (
        "SLACK_BOT=xo" + "xb-" + "2468013579-1357924680-AbCdEfGhIjKl",
        "2468013579-1357924680-AbCdEfGhIjKl",
    ),
    "slack_webhook": (
        "post to https://hooks.slack.com/services/T0000AAAA/B0000BBBB/XXXXXXXXXXXXXXXXXXXXXXXX",
        "T0000AAAA/B0000BBBB/XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    "google_api_key": (
        "maps key AI" + "zaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    ),
    "jwt": (f"the session cookie is {_jwt()}; expires soon", _jwt().split(".")[1]),
    "bearer_token": (
        'curl -H "Authorization: Bearer 0a1b2c3d4e5f6a7b8c9d"',
        "0a1b2c3d4e5f6a7b8c9d",
    ),
    "basic_auth": ("Authorization: Basic dXNlcjpzM2NyM3RwYXNz", "dXNlcjpzM2NyM3RwYXNz"),
    "url_credentials": ("DATABASE_URL=postgres://admin:Sup3r.Secret@db.internal:5432/app", "Sup3r.Secret"),
    "secret_assignment": ('config: {"password": "hunter2-correct-horse"}', "hunter2-correct-horse"),
    "email": ("Contact jane.doe+billing@example.co.uk for access", "jane.doe+billing@example.co.uk"),
    "authorization_token": (
        "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bb",
        "9944b09199c62bcf9418ad8",
    ),
    "cookie": ("Cookie: sessionid=38afes7a8x2k; theme=dark", "38afes7a8x2k"),
    "connection_string_password": ("Server=db;Uid=sa;PWD=Str0ng!pass;", "Str0ng!pass"),
}

_PNG_BASE64 = base64.b64encode(hashlib.sha512(b"image").digest() * 300).decode()

#: Text that looks a little like a secret but is not one: it must pass through unchanged.
FALSE_POSITIVES = [
    "event 6f1c1b7e-4f5a-4d8e-9a4b-3c2d1e0f9a8b in run 0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a",
    "sha256 " + hashlib.sha256(b"artifact").hexdigest(),
    "git commit " + hashlib.sha1(b"x").hexdigest(),
    f"data:image/png;base64,{_PNG_BASE64}",
    "The quick brown fox jumps over the lazy dog; bearer instruments are paper.",
    "pip install sk-learn-compatible-estimator and scikit-learn",
    "npm i @types/node lodash@4.17.21 left-pad@1.3.0",
    "Use the password field; the key: value store; a token: string",
    "AKIA is a prefix; so is ASIA",
    "see https://example.com/path?query=1#frag and ftp://mirror.example.org/pub",
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "decorators like @property and @staticmethod",
    "日本語のテキスト 😀 emoji and Ünïcödé",
]


def _entry(prompt: str = "Plan it", **overrides: Any) -> dict[str, Any]:
    fields = valid_fields(**overrides)
    fields["llm_trace"] = [{"model_name": "claude-sonnet-4", "prompt": prompt, "completion": "Done"}]
    return wflogging.build_entry(fields, "3f2c1a5e-8d7b-4c6a-9e5f-1a2b3c4d5e6f")


def _spellings(secret: str) -> list[str]:
    """Every way the secret's text could show up in a JSON line."""
    return [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
    ]


def _assert_not_leaked(secret: str, data: Any) -> None:
    for line in (json.dumps(data), json.dumps(data, ensure_ascii=False)):
        for spelling in _spellings(secret):
            assert spelling not in line


# --- rules: true and false positives ------------------------------------------------------


@pytest.mark.parametrize("rule", sorted(TRUE_POSITIVES))
def test_each_default_rule_redacts_its_sample(rule: str) -> None:
    """Each default rule's secret leaves no trace in the entry, and the rule is counted by name."""
    text, secret = TRUE_POSITIVES[rule]
    redacted = wflogging.Redactor().apply(_entry(prompt=text))
    _assert_not_leaked(secret, redacted)
    assert f"[REDACTED:{rule}]" in redacted["llm_trace"][0]["prompt"]
    assert redacted["extensions"]["redactions"].get(rule, 0) >= 1


def test_default_rules_cover_every_sample() -> None:
    """Every default rule has a true-positive sample here (a new rule needs one)."""
    assert {rule.name for rule in wflogging.DEFAULT_RULES} == set(TRUE_POSITIVES)


@pytest.mark.parametrize("text", FALSE_POSITIVES)
def test_lookalikes_pass_through_untouched(text: str) -> None:
    """UUIDs, digests, base64 images and ordinary words are not redacted, and nothing is recorded."""
    entry = _entry(prompt=text)
    assert wflogging.Redactor().apply(entry) == entry


def test_bearer_header_keeps_its_context() -> None:
    """Only the credential is replaced: the header name and scheme stay readable."""
    text, _ = TRUE_POSITIVES["bearer_token"]
    result = wflogging.Redactor().redact_text(text)
    assert result.value == 'curl -H "Authorization: Bearer [REDACTED:bearer_token]"'
    assert result.counts == {"bearer_token": 1}


def test_url_keeps_scheme_and_host() -> None:
    """URL credentials are replaced, the scheme, host and path stay."""
    text, _ = TRUE_POSITIVES["url_credentials"]
    assert wflogging.Redactor().redact_text(text).value == (
        "DATABASE_URL=postgres://[REDACTED:url_credentials]@db.internal:5432/app"
    )


def test_counts_are_per_match() -> None:
    """Three addresses in one prompt and one in the description count as four."""
    entry = _entry(
        prompt="a@example.com, b@example.com and c@example.org", task_description="ask d@example.net"
    )
    assert wflogging.Redactor().apply(entry)["extensions"]["redactions"] == {"email": 4}


def test_unterminated_private_key_is_still_redacted() -> None:
    """A key block cut off before its END line (a truncated paste) is redacted to the end."""
    body = _PEM.split("\n")[1]
    text = _PEM.rsplit("\n", 1)[0]  # no END line
    assert body not in wflogging.Redactor().redact_text(text).value


# --- where redaction applies --------------------------------------------------------------


def test_every_free_text_field_is_redacted(schema_validator: jsonschema.protocols.Validator) -> None:
    """Secrets in description, trace, feedback, cost_data (keys too) and extensions are all replaced."""
    mail = "ops@example.com"
    entry = _entry(
        prompt=f"p {mail}",
        task_description=f"d {mail}",
        status="HIL-Paused",
        human_feedback={
            "type": "HIL-Approval",
            "content": f"c {mail}",
            "timestamp_utc": "2026-03-01T10:00:01Z",
        },
        cost_data={"billing": {"contact": mail, "notes": [f"n {mail}"]}, mail: 1},
        extensions={"log": {"message": f"m {mail}"}},
    )
    entry["llm_trace"][0]["completion"] = f"sent to {mail}"
    redacted = wflogging.Redactor().apply(entry)
    _assert_not_leaked(mail, redacted)
    assert redacted["extensions"]["redactions"] == {"email": 8}
    schema_validator.validate(redacted)


def test_generated_fields_are_left_alone() -> None:
    """Identifiers, timestamps, status and call_sequence are never handed to rules or hook."""
    seen: list[str] = []

    def hook(path: str, text: str) -> str:
        seen.append(path)
        return text

    wflogging.Redactor(hook=hook).apply(_entry())
    assert not {p for p in seen if p.startswith(("event_id", "workflow_run_id", "timestamps", "status"))}
    assert "llm_trace[0].prompt" in seen
    assert "llm_trace[0].completion" in seen


def test_entry_is_not_mutated() -> None:
    """apply returns a new entry; the caller's dicts and lists are unchanged."""
    text, _ = TRUE_POSITIVES["aws_access_key"]
    entry = _entry(prompt=text, cost_data={"deep": {"key": text}}, extensions={"log": {"message": text}})
    before = copy.deepcopy(entry)
    wflogging.Redactor().apply(entry)
    assert entry == before


def test_nothing_matched_adds_no_key() -> None:
    """An entry without secrets gets no extensions at all."""
    assert "extensions" not in wflogging.Redactor().apply(_entry())


def test_output_validates_against_schema_with_every_secret(
    schema_validator: jsonschema.protocols.Validator,
) -> None:
    """An entry whose prompt holds every sample secret stays schema-valid after redaction."""
    prompt = "\n".join(text for text, _ in TRUE_POSITIVES.values())
    redacted = wflogging.Redactor().apply(_entry(prompt=prompt, task_id="t@example.com"))
    schema_validator.validate(redacted)
    for _, secret in TRUE_POSITIVES.values():
        _assert_not_leaked(secret, redacted)


# --- user rules and the hook --------------------------------------------------------------


def test_user_rule_and_hook() -> None:
    """A user rule and a hook both redact; the hook is counted under "hook"."""
    employee = wflogging.Rule("employee_id", r"\bEMP-[0-9]{6}\b", keywords=("EMP-",))

    def hook(path: str, text: str) -> str:
        return text.replace("Project Falcon", "[codename]")

    redactor = wflogging.Redactor(extra_rules=[employee], hook=hook)
    redacted = redactor.apply(_entry(prompt="EMP-123456 works on Project Falcon"))
    assert redacted["llm_trace"][0]["prompt"] == "[REDACTED:employee_id] works on [codename]"
    assert redacted["extensions"]["redactions"] == {"employee_id": 1, "hook": 1}


def test_user_rules_only() -> None:
    """rules=() turns the defaults off, leaving only the user's rules."""
    redactor = wflogging.Redactor((), extra_rules=[wflogging.Rule("word", "secret")])
    assert redactor.redact_text("secret bob@example.com").value == "[REDACTED:word] bob@example.com"


@pytest.mark.parametrize(
    "hook",
    [
        pytest.param(lambda path, text: 1 / 0, id="raises"),
        pytest.param(lambda path, text: None, id="returns-None"),
        pytest.param(lambda path, text: text.encode(), id="returns-bytes"),
    ],
)
def test_failing_hook_masks_the_field(hook: Any, schema_validator: jsonschema.protocols.Validator) -> None:
    """A hook that raises or returns a non-str masks each field fail-closed; the event stays writable."""
    text, secret = TRUE_POSITIVES["jwt"]
    redacted = wflogging.Redactor(rules=(), hook=hook).apply(_entry(prompt=text))
    assert redacted["llm_trace"][0]["prompt"] == REDACTION_FAILED
    assert redacted["task_description"] == REDACTION_FAILED
    assert redacted["extensions"]["redactions"]["redaction_failed"] >= 2
    _assert_not_leaked(secret, redacted)
    schema_validator.validate(redacted)


class _BrokenRule(wflogging.Rule):
    """A code rule with a bug that only shows on some text."""

    def redact(self, text: str) -> tuple[str, int]:
        if "trigger" in text:
            raise RuntimeError("rule bug")
        return super().redact(text)


def test_failing_rule_masks_only_that_field() -> None:
    """A rule raising on one field masks that field; other fields are still redacted normally."""
    broken = _BrokenRule("broken", r"never-matches-\d{99}")
    redactor = wflogging.Redactor(extra_rules=[broken])
    redacted = redactor.apply(_entry(prompt="trigger with a@example.com", task_description="x b@example.com"))
    assert redacted["llm_trace"][0]["prompt"] == REDACTION_FAILED
    assert redacted["task_description"] == "x [REDACTED:email]"
    assert redacted["extensions"]["redactions"] == {"email": 1, "redaction_failed": 1}


def test_hook_blanking_a_required_field_keeps_it_non_empty(
    schema_validator: jsonschema.protocols.Validator,
) -> None:
    """A hook returning "" for a field the schema requires non-empty leaves a marker instead."""
    redacted = wflogging.Redactor(hook=lambda path, text: "").apply(_entry())
    assert redacted["task_description"]
    assert redacted["llm_trace"][0]["prompt"] == ""
    schema_validator.validate(redacted)


@pytest.mark.parametrize("name", ["hook", "redaction_failed", "has space", ""])
def test_reserved_or_bad_rule_names_are_refused(name: str) -> None:
    """Rule names that would clash with wflogging's counts or be unreadable are refused."""
    with pytest.raises(ValueError, match="rule name"):
        wflogging.Rule(name, "x")


def test_duplicate_rule_names_are_refused() -> None:
    """Two rules with one name would make the counts ambiguous."""
    with pytest.raises(ValueError, match="email"):
        wflogging.Redactor(extra_rules=[wflogging.Rule("email", "x")])


# --- rejects path: any JSON-safe data -------------------------------------------------------


def test_redact_data_covers_keys_values_and_nesting() -> None:
    """redact_data replaces secrets in nested values and keys, keeping colliding keys apart."""
    key_a, key_b = "a@example.com", "b@example.com"
    data = {
        "reasons": [{"path": "llm_trace[0]", "problem": f"unknown field {key_a!r}"}],
        "event": {key_a: 1, key_b: 2, "nested": [[{"deeper": TRUE_POSITIVES["slack_token"][0]}]], "n": 3.5},
    }
    result = wflogging.Redactor().redact_data(data)
    _assert_not_leaked(key_a, result.value)
    _assert_not_leaked(key_b, result.value)
    _assert_not_leaked(TRUE_POSITIVES["slack_token"][1], result.value)
    assert result.value["event"] == {
        "[REDACTED:email]": 1,
        "[REDACTED:email]#2": 2,
        "nested": [[{"deeper": "SLACK_BOT=[REDACTED:slack_token]"}]],
        "n": 3.5,
    }
    assert result.counts == {"email": 3, "slack_token": 1}


def test_redact_data_masks_absurd_nesting() -> None:
    """Data nested beyond any entry's depth is masked, not walked (no RecursionError)."""
    data: Any = "a@example.com"
    for _ in range(5000):
        data = [data]
    result = wflogging.Redactor().redact_data(data)
    assert "a@example.com" not in json.dumps(result.value)
    assert result.counts == {"redaction_failed": 1}


# --- hostile sizes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * 10**6, id="one-letter-run"),
        pytest.param(base64.b64encode(hashlib.sha256(b"s").digest() * 40000).decode(), id="base64-run"),
        pytest.param("sk-" * 300000, id="sk-prefixes"),
        pytest.param("a@" * 500000, id="at-signs"),
        pytest.param("a@b." * 250000, id="email-near-misses"),
        pytest.param("-----BEGIN PRIV" + "ATE KEY-----\n" * 50000, id="pem-headers-without-end"),
        pytest.param(("://a:" + "b" * 50) * 20000, id="url-without-host"),
        pytest.param("Bearer abcdefgh " * 60000, id="bearer-words"),
        pytest.param("password=abc " * 80000, id="short-assignments"),
        pytest.param("eyJ" + "a" * 10**6, id="jwt-header-only"),
    ],
)
def test_adversarial_megabytes_finish(text: str) -> None:
    """Megabytes of near-misses are processed (a backtracking pattern would hang here)."""
    result = wflogging.Redactor().redact_text(text)
    assert isinstance(result.value, str)
    assert "redaction_failed" not in result.counts


# --- properties ----------------------------------------------------------------------------

# Text that cannot hold any documented credential shape: no "@", ":", "=", "-", "_"
# (addresses, assignments, URLs, key prefixes, PEM lines) and none of the uppercase or
# word prefixes the remaining shapes need.
_SHAPE_FREE = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="@:=-_"), max_size=300
).filter(lambda text: not re.search(r"AKIA|ASIA|ABIA|ACCA|AIza|eyJ|(?i:bearer)", text))


@given(text=_SHAPE_FREE, digest=st.binary(min_size=32, max_size=32), event=st.uuids())
def test_text_without_secrets_is_unchanged(text: str, digest: bytes, event: Any) -> None:
    """Arbitrary text (any script, emoji, controls) mixed with UUIDs and hex digests passes through."""
    prompt = f"{text} {event} {digest.hex()} {text}"
    entry = _entry(prompt=prompt)
    assert wflogging.Redactor().apply(entry) == entry


def _secrets() -> st.SearchStrategy[str]:
    def chars(alphabet: str, size: int) -> st.SearchStrategy[str]:
        return st.text(alphabet=alphabet, min_size=size, max_size=size)

    upper32 = string.ascii_uppercase + "234567"
    alnum = string.ascii_letters + string.digits
    return st.one_of(
        st.builds(lambda s: "AK" + "IA" + s, chars(upper32, 16)),
        st.builds(lambda s: "gh" + "p_" + s, chars(alnum, 36)),
        st.builds(lambda s: "github" + "_pat_" + s, chars(alnum + "_", 82)),
        st.builds(lambda s: "sk-" + "ant-api03-" + s + "AA", chars(_B64URL, 93)),
        st.builds(lambda s, d: "sk-" + "proj-" + d + s, chars(_B64URL, 100), chars(string.digits, 1)),
        st.builds(lambda a, b: f"xo{'xb'}-{a}-{b}", chars(string.digits, 12), chars(alnum, 24)),
        st.builds(_jwt, st.text(alphabet=alnum, min_size=1, max_size=40).map(lambda v: f'{{"sub":"{v}"}}')),
        st.builds(
            lambda user, host: f"{user}@{host}.example.com",
            st.text(alphabet=string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=30),
            st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=20),
        ),
    )


@settings(max_examples=200)
@given(
    before=_SHAPE_FREE,
    after=_SHAPE_FREE,
    secret=_secrets(),
    separator=st.sampled_from([" ", "\n", "\t", "(", '"', "'", ", ", "<", "> "]),
    field=st.sampled_from(["prompt", "completion", "task_description", "cost_data", "extensions"]),
)
def test_inserted_secrets_never_leak(
    before: str, after: str, secret: str, separator: str, field: str
) -> None:
    """A random credential of a documented shape, anywhere in free text, never reaches the output."""
    assume(not secret.startswith(".") and ".." not in secret.split("@", maxsplit=1)[0])
    text = f"{before}{separator}{secret}{separator}{after}"
    entry = _entry()
    if field in ("prompt", "completion"):
        entry["llm_trace"][0][field] = text
    elif field == "task_description":
        entry[field] = text
    else:
        entry[field] = {"nested": [{"value": text}]}
    redacted = wflogging.Redactor().apply(entry)
    _assert_not_leaked(secret, redacted)
    assert sum(redacted["extensions"]["redactions"].values()) >= 1


@pytest.mark.parametrize("rule", sorted(TRUE_POSITIVES))
def test_redacting_a_sample_twice_changes_nothing(rule: str) -> None:
    """A marker is never taken for a secret: the second pass finds nothing."""
    once = wflogging.Redactor().redact_text(TRUE_POSITIVES[rule][0])
    assert wflogging.Redactor().redact_text(once.value) == (once.value, {})


@given(text=st.text(max_size=400) | _secrets().map(lambda s: f"x {s} y"))
def test_redaction_is_idempotent(text: str) -> None:
    """Redacting the result again changes nothing and counts nothing more."""
    redactor = wflogging.Redactor()
    once = redactor.apply(_entry(prompt=text))
    assert redactor.apply(once) == once
    assert redactor.redact_text(redactor.redact_text(text).value).counts == {}


@given(text=st.text(max_size=400))
def test_text_changes_only_with_a_count(text: str) -> None:
    """Redaction never changes text silently: any change comes with a count."""
    result = wflogging.Redactor().redact_text(text)
    assert result.value == text or result.counts


# --- size cap -------------------------------------------------------------------------------

_MARKER = re.compile(r"\.\.\.\[TRUNCATED: original (\d+) chars, (\d+) bytes, sha256 ([0-9a-f]{64})\]$")


_ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=300)
# Long runs of 2-, 3- and 4-byte characters, so that cuts land inside multi-byte sequences.
_LONG_TEXT = st.builds(
    lambda head, char, count, tail: head + char * count + tail,
    _ANY_TEXT,
    st.sampled_from(["a", "é", "語", "😀"]),
    st.integers(min_value=0, max_value=800),
    _ANY_TEXT,
)


@given(
    text=_LONG_TEXT,
    limit=st.integers(min_value=256, max_value=1500),
    unit=st.sampled_from(["max_chars", "max_bytes"]),
)
def test_size_cap_keeps_valid_text_and_records_the_original(text: str, limit: int, unit: str) -> None:
    """A capped field is within the limit, valid UTF-8, a prefix of the original plus a marker."""
    cap = wflogging.FieldSizeCap(limit) if unit == "max_chars" else wflogging.FieldSizeCap(max_bytes=limit)
    capped = cap.apply(_entry(prompt=text))
    prompt = capped["llm_trace"][0]["prompt"]
    size = len(prompt) if unit == "max_chars" else len(prompt.encode("utf-8"))  # raises on a split pair
    original_size = len(text) if unit == "max_chars" else len(text.encode("utf-8"))
    if original_size <= limit:
        assert prompt == text
        assert "extensions" not in capped
        return
    assert size <= limit
    marker = _MARKER.search(prompt)
    assert marker is not None
    assert text.startswith(prompt[: marker.start()])
    encoded = text.encode("utf-8")
    assert (int(marker[1]), int(marker[2]), marker[3]) == (
        len(text),
        len(encoded),
        hashlib.sha256(encoded).hexdigest(),
    )
    assert capped["extensions"]["truncated"] == {
        "llm_trace[0].prompt": {
            "original_chars": len(text),
            "original_bytes": len(encoded),
            "sha256": hashlib.sha256(encoded).hexdigest(),
        }
    }
    assert cap.apply(capped) == capped


def test_size_cap_never_splits_a_surrogate_pair() -> None:
    """Text holding UTF-16 surrogate pairs (as decoded from some JSON) is never cut between halves."""
    pair = "\ud83d\ude00"
    for offset in range(4):
        text = "a" * offset + pair * 400
        prompt, original = wflogging.FieldSizeCap(max_chars=300).cap_text(text)
        assert original is not None
        head = prompt[: prompt.index("...[TRUNCATED")]
        assert not ("\ud800" <= head[-1] <= "\udbff")


@pytest.mark.parametrize("limit", range(400, 407))
def test_size_cap_cuts_on_code_points_by_bytes(limit: int) -> None:
    """With a byte limit, 3- and 4-byte characters are kept whole wherever the limit falls."""
    text = "語😀" * 500
    prompt, original = wflogging.FieldSizeCap(max_bytes=limit).cap_text(text)
    assert original == {
        "original_chars": 1000,
        "original_bytes": 3500,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    assert len(prompt.encode("utf-8")) <= limit
    assert text.startswith(prompt[: prompt.index("...[TRUNCATED")])


def test_size_cap_default_fields_and_optional_digest(
    schema_validator: jsonschema.protocols.Validator,
) -> None:
    """By default only prompt and completion are capped; digest=False leaves out the SHA-256."""
    long = "x" * 1000
    entry = _entry(prompt=long, task_description=long)
    entry["llm_trace"][0]["completion"] = long
    capped = wflogging.FieldSizeCap(max_chars=300, digest=False).apply(entry)
    assert capped["task_description"] == long
    assert set(capped["extensions"]["truncated"]) == {"llm_trace[0].prompt", "llm_trace[0].completion"}
    assert capped["extensions"]["truncated"]["llm_trace[0].prompt"] == {
        "original_chars": 1000,
        "original_bytes": 1000,
    }
    assert "sha256" not in capped["llm_trace"][0]["prompt"]
    schema_validator.validate(capped)


def test_size_cap_optional_fields(schema_validator: jsonschema.protocols.Validator) -> None:
    """task_description and human_feedback.content can be capped too, keeping the entry valid."""
    long = "y" * 1000
    entry = _entry(
        task_description=long,
        status="HIL-Paused",
        human_feedback={"type": "HIL-Approval", "content": long, "timestamp_utc": "2026-03-01T10:00:01Z"},
    )
    cap = wflogging.FieldSizeCap(max_chars=300, fields=["task_description", "human_feedback.content"])
    capped = cap.apply(entry)
    assert set(capped["extensions"]["truncated"]) == {"task_description", "human_feedback.content"}
    assert len(capped["human_feedback"]["content"]) <= 300
    schema_validator.validate(capped)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"max_chars": 10}, {"max_bytes": 255}, {"max_chars": 300, "fields": ["cost_data"]}],
)
def test_size_cap_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    """No limit, a limit too small for the marker, or an unknown field is refused at construction."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        wflogging.FieldSizeCap(**kwargs)


def test_redact_then_cap_then_redact_is_stable(schema_validator: jsonschema.protocols.Validator) -> None:
    """The documented pipeline (redact, then cap) is stable when run again, and never leaks."""
    text, secret = TRUE_POSITIVES["private_key"]
    redactor, cap = wflogging.Redactor(), wflogging.FieldSizeCap(max_chars=300)
    once = cap.apply(redactor.apply(_entry(prompt=text + " filler" * 200)))
    assert cap.apply(redactor.apply(once)) == once
    _assert_not_leaked(secret, once)
    assert set(once["extensions"]) == {"redactions", "truncated"}
    schema_validator.validate(once)
