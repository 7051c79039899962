"""Readers' memory is bounded by the line limit, not the input; blank lines cost nothing.

Peak RSS is measured on real child processes (``os.wait4`` gives the child's own rusage).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging
import wflogging.reader
from tests.conftest import valid_fields
from wflogging.cli.inputs import LineBatch, read_line_batches

_RUN = "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f"


def _event_line(task_id: str, prompt: str = "p") -> bytes:
    fields = valid_fields(task_id=task_id, workflow_run_id=_RUN, event_id=None)
    fields.pop("event_id")
    fields["llm_trace"][0]["prompt"] = prompt
    entry = dict(wflogging.build_entry(fields))
    return json.dumps(entry).encode() + b"\n"


# The child reports its own peak from /proc (VmHWM belongs to the memory of the program exec'd):
# the parent's rusage would count the parent's memory too, shared until the child's exec.
_MEASURED_CLI = """
import sys
from wflogging.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
with open("/proc/self/status") as status:
    peak = next(line for line in status if line.startswith("VmHWM:")).split()[1]
sys.stderr.write(f"VmHWM {peak}\\n")
sys.exit(code)
"""


def _peak_rss_mb(*args: str) -> tuple[float, int, str]:
    """Run the wflogging CLI with ``args`` in a child; its peak RSS in MB, exit code and stdout."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED_CLI, *args], capture_output=True, text=True, check=False, timeout=300
    )
    peak = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("VmHWM ")]
    assert peak, done.stderr
    return int(peak[0]) / 1024, done.returncode, done.stdout


def test_a_line_past_the_limit_is_counted_as_torn_and_the_rest_read(tmp_path: Path) -> None:
    """validate, report and read_events skip a line past --max-line-bytes, and read every other."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(_event_line("1") + _event_line("2", "x" * 5_000) + _event_line("3"))
    items = list(wflogging.read_events(path, max_line_bytes=2_000))
    assert [type(item).__name__ for item in items] == ["EventLine", "TornLine", "EventLine"]
    torn = items[1]
    assert isinstance(torn, wflogging.TornLine)
    assert torn.line_number == 2
    assert torn.offset == len(_event_line("1"))
    assert "longer than the line limit" in torn.reason
    assert torn.head.startswith(b'{"event_id"')
    _, code, out = _peak_rss_mb("validate", "--max-line-bytes", "2000", str(path))
    assert code == 1
    assert "3 lines: 2 valid, 0 invalid, 1 torn" in out
    _, code, out = _peak_rss_mb("report", "--format", "json", "--max-line-bytes", "2000", str(path))
    assert code == 0
    assert json.loads(out)["unreadable_lines"] == 1


pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc")


def test_memory_follows_the_line_limit_not_the_line(tmp_path: Path) -> None:
    """A 16 MB and a 64 MB line under a 1 MiB limit: the same peak RSS for validate and report."""
    peaks: dict[str, list[float]] = {"validate": [], "report": []}
    for megabytes in (16, 64):
        path = tmp_path / f"line{megabytes}.jsonl"
        path.write_bytes(_event_line("1") + _event_line("2", "y" * megabytes * 1_000_000) + _event_line("3"))
        for command, found in peaks.items():
            found.append(_peak_rss_mb(command, "--max-line-bytes", str(1 << 20), str(path))[0])
    for command, (small, large) in peaks.items():
        assert large < 80, f"{command}: {large:.0f} MB on a 64 MB line"
        assert large - small < 10, f"{command}: {small:.0f} MB -> {large:.0f} MB"


def test_blank_lines_cost_no_memory(tmp_path: Path) -> None:
    """5 MB of blank lines (plain) and 50 MB of them (gzip): validate and report stay small."""
    plain = tmp_path / "blank.jsonl"
    plain.write_bytes(_event_line("1") + b"\n" * 5_000_000 + b" \n" * 100_000 + _event_line("2"))
    packed = tmp_path / "blank.jsonl.gz"
    with gzip.open(packed, "wb") as packing:
        packing.write(_event_line("1"))
        for _ in range(50):
            packing.write(b"\n" * 1_000_000)
        packing.write(_event_line("2"))
    for path in (plain, packed):
        for command in ("validate", "report"):
            peak, code, out = _peak_rss_mb(command, str(path))
            assert code == 0, out
            assert peak < 60, f"{command} {path.name}: {peak:.0f} MB"
        assert [item.line_number for item in wflogging.read_events(path)] == [
            1,
            5_100_002 if path == plain else 50_000_002,
        ]


_PIECES: st.SearchStrategy[list[tuple[str, int | str]]] = st.lists(
    st.one_of(
        st.integers(min_value=1, max_value=3).map(lambda n: ("event", n)),
        st.integers(min_value=1, max_value=5_000).map(lambda n: ("blank", n)),
        st.sampled_from([("blank", " \t\r"), ("torn", "not json"), ("long", "z")]),
    ),
    max_size=20,
)


def _file_of(pieces: list[tuple[str, int | str]]) -> bytes:
    data = b""
    for kind, value in pieces:
        if kind == "event":
            data += b"".join(_event_line(str(index)) for index in range(int(value)))
        elif kind == "blank":
            data += b"\n" * value if isinstance(value, int) else value.encode() + b"\n"
        elif kind == "torn":
            data += b"not json\n"
        else:
            data += b"z" * 3_000 + b"\n"  # past the 2,000-byte limit the test reads with
    return data


def _non_blank_lines(data: bytes) -> list[tuple[int, int]]:
    """(line number, offset) of every non-blank line, by a plain split."""
    found, offset = [], 0
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):
        if line.strip():
            found.append((number, offset))
        offset += len(line) + 1
    return found


def _batched_lines(path: Path) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for item in read_line_batches([str(path)], max_line_bytes=2_000):
        if not isinstance(item, LineBatch):
            found.append((item.line_number, item.offset))
            continue
        at = item.offset
        for index, line in enumerate(item.lines):
            if bytes(line).strip():
                found.append((item.first_line + index, at))
            at += len(line)
    return found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=_PIECES, gzipped=st.booleans())
def test_line_numbers_and_offsets_survive_skipped_blank_runs(
    pieces: list[tuple[str, int | str]], gzipped: bool
) -> None:
    """Every reader gives each non-blank line the number and offset a plain split gives it."""
    data = _file_of(pieces)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ("events.jsonl.gz" if gzipped else "events.jsonl")
        path.write_bytes(gzip.compress(data) if gzipped else data)
        seen = [(item.line_number, item.offset) for item in wflogging.read_events(path, max_line_bytes=2_000)]
        assert seen == _non_blank_lines(data)
        assert _batched_lines(path) == _non_blank_lines(data)


@pytest.mark.parametrize("after", [1, 2, 500])
def test_the_lines_after_a_skipped_long_line_are_all_read(tmp_path: Path, after: int) -> None:
    """A line past the limit and past the read buffer, then short lines up to the end: every one counted."""
    path = tmp_path / "events.jsonl"
    tail = b"".join(_event_line(str(number)) for number in range(3, 3 + after))
    path.write_bytes(_event_line("1") + _event_line("2", "z" * 3_000_000) + tail)
    for jobs in ("1", "2"):
        _, code, out = _peak_rss_mb(
            "report", "--jobs", jobs, "--format", "json", "--max-line-bytes", str(1 << 20), str(path)
        )
        assert code == 0
        report = json.loads(out)
        assert (report["unreadable_lines"], report["overall"]["events"]) == (1, 1 + after)


def test_a_gzip_bomb_stops_at_the_ratio_limit(tmp_path: Path) -> None:
    """160 MiB of blank lines in ~160 KB of gzip: one clear line and exit 2, in bounded time and memory."""
    bomb = tmp_path / "events.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as out:
        for _ in range(160):
            out.write(b"\n" * (1 << 20))
    for command in ("validate", "report"):
        done = subprocess.run(
            [sys.executable, "-m", "wflogging", command, str(bomb)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"wflogging: error: {bomb}: gzip data expands more than 256:1")
    with pytest.raises(wflogging.reader.GzipExpansionError):
        list(wflogging.read_events(bomb))


def test_an_ordinary_gzip_of_repeated_events_is_read_whole(tmp_path: Path) -> None:
    """Exact duplicate events (about 85:1) stay under the ratio limit, past the free first 64 MiB."""
    events = b"".join(_event_line(str(number % 7)) for number in range(200_000))
    assert len(events) > wflogging.reader.GZIP_FREE_BYTES
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(events, compresslevel=9))
    assert len(events) / packed.stat().st_size < wflogging.reader.GZIP_RATIO_LIMIT
    assert sum(1 for _ in wflogging.read_events(packed)) == 200_000
