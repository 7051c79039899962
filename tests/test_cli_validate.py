"""``wflogging validate`` and the command's manners: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EventLog
from tests.test_cli_support import events_in, log_task, run_cli, run_cli_process


def test_valid_file_exits_zero(event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str) -> None:
    """A file the handler wrote validates cleanly: exit 0 and a summary line."""
    log_task(event_log)
    log_task(event_log, task_id="1.2")
    result = run_cli(capsys, "validate", str(event_log.path))
    assert (result.code, result.out) == (0, "2 lines: 2 valid, 0 invalid, 0 torn: all valid\n")


def test_bad_lines_name_line_event_and_reasons(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """An invalid line is reported with its line number, event id and every reason; torn lines by offset."""
    log_task(event_log)
    log_task(event_log, task_id="1.2")
    entries = events_in(event_log.path)
    entries[1]["status"] = "Done"
    entries[1]["agent_name"] = ""
    body = "".join(json.dumps(entry) + "\n" for entry in entries).encode()
    event_log.path.write_bytes(body + b'{"event_id": "x')
    result = run_cli(capsys, "validate", "--format", "json", str(event_log.path))
    assert result.code == 1
    findings = [json.loads(line) for line in result.out.splitlines()]
    invalid, torn, summary = findings
    assert (invalid["line"], invalid["event_id"], invalid["kind"]) == (2, entries[1]["event_id"], "invalid")
    assert {reason["path"] for reason in invalid["reasons"]} == {"status", "agent_name"}
    assert (torn["kind"], torn["line"], torn["offset"], torn["length"]) == ("torn", 3, len(body), 15)
    assert summary == {"summary": {"lines": 3, "valid": 1, "invalid": 1, "torn": 1}}
    text = run_cli(capsys, "validate", str(event_log.path))
    assert f":2: event {entries[1]['event_id']} is invalid:" in text.out
    assert f":3: torn line at byte {len(body)} (15 bytes)" in text.out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "is empty"),
        (b"hello world\nthis is not json\n", "is not JSON Lines"),
        (b'[{"a": 1}]\n', "holds a JSON array"),
        (b"\x00\x01\x02binary", "binary file"),
    ],
)
def test_unreadable_inputs_get_one_clear_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    """Missing, empty, non-JSON and binary files: one line on stderr, exit 2, no traceback (real process)."""
    path = tmp_path / "events.jsonl"
    if content is not None:
        path.write_bytes(content)
    for command in ("validate", "report", "show --event x", "timeline -o out.html"):
        name, *options = command.split()
        result = run_cli_process(name, *options, str(path))
        assert result.code == 2, (command, result)
        assert result.err.count("\n") == 1, result.err
        assert message in result.err
        assert "Traceback" not in result.err


def test_a_directory_is_refused_with_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Naming a directory says so and suggests the files inside it."""
    result = run_cli(capsys, "report", str(tmp_path))
    assert result.code == 2
    hint = f"name the event files inside it, e.g. {tmp_path}/*.jsonl"
    assert result.err == f"wflogging: error: {tmp_path}: is a directory ({hint})\n"


def test_empty_standard_input_is_an_error() -> None:
    """Standard input with nothing on it is refused like an empty file."""
    result = run_cli_process("validate", "-", stdin=b"")
    assert (result.code, result.err) == (2, "wflogging: error: standard input: is empty (no events)\n")


def test_no_progress_bar_when_stderr_is_not_a_terminal(event_log: EventLog, run_id: str) -> None:
    """Progress output goes to a terminal only: a redirected stderr stays empty on success."""
    log_task(event_log)
    result = run_cli_process("validate", str(event_log.path))
    assert (result.code, result.err) == (0, "")


def test_parser_is_importable_for_the_docs() -> None:
    """build_parser() describes every subcommand (the CLI reference is generated from it)."""
    from wflogging.__main__ import build_parser

    parser = build_parser()
    help_text = parser.format_help()
    for command in ("validate", "report", "show", "timeline", "demo"):
        assert command in help_text


def test_version_names_the_installed_distribution() -> None:
    """`wflogging --version` prints the installed version and exits 0."""
    from importlib.metadata import version

    result = run_cli_process("--version")
    assert (result.code, result.out.strip()) == (0, f"wflogging {version('wflogging')}")
