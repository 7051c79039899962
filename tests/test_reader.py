"""The reader API: whole events out, torn lines reported (not raised) with their byte offsets."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

import wflogging
from tests.conftest import EventLog, valid_fields


def _write_events(event_log: EventLog, count: int) -> list[dict[str, object]]:
    for number in range(count):
        event_log.logger.info("done", extra=valid_fields(task_id=f"1.{number + 1}"))
    return event_log.entries()


def test_reads_every_event_the_handler_wrote(event_log: EventLog, run_id: str) -> None:
    """Every line the handler wrote comes back as an EventLine with the same entry, in order."""
    written = _write_events(event_log, 3)
    items = list(wflogging.read_events(event_log.path))
    assert [item.entry for item in items if isinstance(item, wflogging.EventLine)] == written
    assert [item.line_number for item in items] == [1, 2, 3]
    assert all(item.problems() == [] for item in items if isinstance(item, wflogging.EventLine))


def test_torn_tail_is_reported_with_offset_not_raised(event_log: EventLog, run_id: str) -> None:
    """A last line cut short (no final newline) is a TornLine with its byte offset and length."""
    _write_events(event_log, 2)
    whole = event_log.path.read_bytes()
    torn = b'{"event_id": "cut sh'
    event_log.path.write_bytes(whole + torn)
    items = list(wflogging.read_events(event_log.path))
    assert [type(item).__name__ for item in items] == ["EventLine", "EventLine", "TornLine"]
    tail = items[-1]
    assert isinstance(tail, wflogging.TornLine)
    assert (tail.offset, tail.length, tail.line_number) == (len(whole), len(torn), 3)
    assert "no final newline" in tail.reason


def test_garbage_in_the_middle_is_reported_and_reading_goes_on(tmp_path: Path) -> None:
    """Non-JSON, invalid UTF-8 and non-object lines are reported; the events after them still come."""
    lines = [b'{"a": 1}', b"not json", b"\xff\xfe{}", b"[1, 2]", b"", b'{"b": 2}']
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = list(wflogging.read_events(path))
    events = [item.entry for item in items if isinstance(item, wflogging.EventLine)]
    torn = [item for item in items if isinstance(item, wflogging.TornLine)]
    assert events == [{"a": 1}, {"b": 2}]
    assert [item.line_number for item in torn] == [2, 3, 4]
    assert [item.offset for item in torn] == [9, 18, 23]
    assert [item.reason.split(" (")[0] for item in torn] == [
        "not valid JSON",
        "not valid UTF-8",
        "JSON list, not an object",
    ]


def test_reads_gzip_by_content_whatever_the_name(event_log: EventLog, tmp_path: Path, run_id: str) -> None:
    """A rotated, gzipped file is read by its content (magic bytes), not by its name."""
    written = _write_events(event_log, 2)
    rotated = tmp_path / "events.jsonl.1"
    rotated.write_bytes(gzip.compress(event_log.path.read_bytes()))
    items = list(wflogging.read_events(rotated))
    assert [item.entry for item in items if isinstance(item, wflogging.EventLine)] == written
    assert len(items) == len(written)


def test_truncated_gzip_is_reported_not_raised(tmp_path: Path) -> None:
    """A .gz file cut short ends with a TornLine saying so, instead of an exception."""
    data = gzip.compress(b"".join(json.dumps({"n": n, "pad": "x" * n}).encode() + b"\n" for n in range(3000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    items = list(wflogging.read_events(path))
    assert isinstance(items[-1], wflogging.TornLine)
    assert "truncated" in items[-1].reason


def test_reads_a_binary_file_object_and_leaves_it_open(tmp_path: Path) -> None:
    """A file object passed in is read from its position and not closed."""
    stream = io.BytesIO(b'{"a": 1}\r\n{"b": 2}\n')
    items = list(wflogging.read_events(stream, name="memory"))
    assert [item.entry for item in items if isinstance(item, wflogging.EventLine)] == [{"a": 1}, {"b": 2}]
    assert {item.source for item in items} == {"memory"}
    assert not stream.closed


def test_reads_standard_input(event_log: EventLog, run_id: str) -> None:
    """The source "-" is standard input (in a real child process)."""
    written = _write_events(event_log, 2)
    script = "import wflogging, json; print(json.dumps([i.entry for i in wflogging.read_events('-')]))"
    result = subprocess.run(
        [sys.executable, "-c", script], input=event_log.path.read_bytes(), capture_output=True, check=True
    )
    assert json.loads(result.stdout) == written


def test_problems_lists_every_bad_field(event_log: EventLog, run_id: str) -> None:
    """EventLine.problems() names each broken field of an entry, using the library's rules."""
    entry = _write_events(event_log, 1)[0]
    entry.update(status="Done", task_id="", extra_key=1)
    del entry["cost_data"]
    problems = wflogging.entry_problems(entry)
    assert {problem.path for problem in problems} == {"status", "task_id", "extra_key", "cost_data"}


def test_problems_catch_cross_field_rules(event_log: EventLog, run_id: str) -> None:
    """An entry whose end comes before its start is invalid even though each field is well formed."""
    entry = _write_events(event_log, 1)[0]
    timestamps = entry["timestamps"]
    assert isinstance(timestamps, dict)
    timestamps["start_time_utc"], timestamps["end_time_utc"] = (
        timestamps["end_time_utc"],
        "2020-01-01T00:00:00Z",
    )
    assert [problem.path for problem in wflogging.entry_problems(entry)] == ["timestamps"]


@given(st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=8), st.booleans())
def test_every_non_blank_line_is_accounted_for(lines: list[bytes], final_newline: bool) -> None:
    """Any bytes at all: each non-blank line is an event or a torn line; offsets point at its bytes."""
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    assume(not data.startswith(b"\x1f\x8b"))  # the gzip magic: read as compressed data instead
    items = list(wflogging.read_events(io.BytesIO(data)))
    physical = data.split(b"\n")
    for item in items:
        line = physical[item.line_number - 1]
        if item.line_number < len(physical):  # a CRLF ending counts as the line break, not the line
            line = line.removesuffix(b"\r")
        size = item.length if isinstance(item, wflogging.TornLine) else len(item.raw)
        assert data[item.offset : item.offset + size] == line
    non_blank = [n for n, line in enumerate(physical, start=1) if line.strip()]
    assert [item.line_number for item in items] == non_blank
