"""``wflogging export --parquet``: a partitioned Parquet set DuckDB and pyarrow read without wflogging."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EventLog
from tests.test_cli_sql import report, rotated_set
from tests.test_cli_support import run_cli
from tests.test_report_parallel import _generator
from wflogging.cli.tables import COLUMNS

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

# Read back in a child process where wflogging cannot be imported: the files stand on their own.
READ_BACK = """
import json, os, sys
sys.modules["wflogging"] = None
import duckdb
import pyarrow.parquet as pq

root = sys.argv[1]
con = duckdb.connect()


def one(query, name):
    if not os.path.isdir(f"{root}/{name}"):
        return None  # no row was written to this table
    scan = f"read_parquet('{root}/{name}/*/*.parquet', hive_partitioning = true)"
    return con.execute(query.format(scan)).fetchone()


events = one(
    "SELECT count(*), sum(cost_usd), sum(input_tokens), sum(output_tokens), sum(duration_seconds), "
    "count(DISTINCT event_id), count(*) FILTER (status = 'Failed'), "
    "bool_and(date = CAST(start_time_utc AT TIME ZONE 'UTC' AS DATE)) FROM {}",
    "events",
)
calls = one("SELECT count(*), count(DISTINCT (event_id, call_sequence)) FROM {}", "llm_calls") or (0, 0)
feedback = one("SELECT count(*) FROM {}", "human_feedback") or (0,)
scan = f"read_parquet('{root}/events/*/*.parquet', hive_partitioning = true)"
types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {scan})").fetchall())
arrow = pq.read_table(f"{root}/events", partitioning="hive")
arrow_calls = pq.read_table(f"{root}/llm_calls", partitioning="hive").num_rows if calls[0] else 0
answer = dict(zip(
    ["events", "usd", "input_tokens", "output_tokens", "seconds", "distinct_events", "failed", "dates_match"],
    events,
))
answer.update(calls=calls[0], distinct_calls=calls[1], feedback=feedback[0], types=types)
answer.update(
    arrow_events=arrow.num_rows,
    arrow_usd=sum(value for value in arrow.column("cost_usd").to_pylist() if value is not None),
    arrow_calls=arrow_calls,
    arrow_dates=sorted(set(map(str, arrow.column("date").to_pylist()))),
)
print(json.dumps(answer))
"""


def read_back(root: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(root)], capture_output=True, text=True, timeout=120, check=True
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def export(capsys: pytest.CaptureFixture[str], root: Path, files: list[str]) -> str:
    result = run_cli(capsys, "export", "--parquet", str(root), *files)
    assert result.code == 0, result.err
    return result.out


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: its bytes and modification time."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def two_days(event_log: EventLog, directory: Path) -> list[str]:
    """The rotated set, plus a file of the same tasks a day later (new event ids): two partitions."""
    files = rotated_set(event_log, directory)
    later = directory / "later.jsonl"
    with later.open("w", encoding="utf-8") as out:
        for line in Path(files[2]).read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            entry["event_id"] = str(uuid.uuid4())
            stamps = entry["timestamps"]
            for key in ("start_time_utc", "end_time_utc"):
                stamps[key] = _plus_a_day(stamps[key])
            if entry["human_feedback"] is not None:
                entry["human_feedback"]["timestamp_utc"] = _plus_a_day(
                    entry["human_feedback"]["timestamp_utc"]
                )
            out.write(json.dumps(entry) + "\n")
    return [*files, str(later)]


def _plus_a_day(stamp: str) -> str:
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) + dt.timedelta(days=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_read_back_by_duckdb_and_pyarrow_with_the_reports_numbers(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = two_days(event_log, tmp_path / "logs")
    expected = report(capsys, files)["overall"]
    printed = export(capsys, tmp_path / "warehouse", files)
    got = read_back(tmp_path / "warehouse")
    assert got["events"] == got["distinct_events"] == got["arrow_events"] == expected["events"]
    assert math.isclose(got["usd"], expected["cost"]["total_usd"], rel_tol=1e-12)
    assert math.isclose(got["arrow_usd"], expected["cost"]["total_usd"], rel_tol=1e-12)
    assert (got["input_tokens"], got["output_tokens"]) == (
        expected["cost"]["input_tokens"],
        expected["cost"]["output_tokens"],
    )
    assert math.isclose(got["seconds"], expected["duration"]["total_seconds"], rel_tol=1e-12)
    assert got["failed"] == expected["by_status"]["Failed"]
    assert got["calls"] == got["distinct_calls"] == got["arrow_calls"] == expected["cost"]["llm_calls"]
    answered = [item for item in expected["human_feedback"] if item["answer"] is not None]
    assert got["feedback"] == len(answered) > 0
    # Partitioned by the UTC date of the start, hive style; timestamps typed, money a double.
    assert got["dates_match"] is True
    assert got["arrow_dates"] == ["2026-03-01", "2026-03-02"]
    assert got["types"]["start_time_utc"] == "TIMESTAMP WITH TIME ZONE"
    assert (got["types"]["cost_usd"], got["types"]["input_tokens"]) == ("DOUBLE", "BIGINT")
    assert got["types"]["date"] == "DATE"
    assert sorted(path.name for path in (tmp_path / "warehouse" / "events").iterdir()) == [
        "date=2026-03-01",
        "date=2026-03-02",
    ]
    assert printed.splitlines()[0] == (
        f"events: wrote {expected['events']} rows (0 already in {tmp_path / 'warehouse' / 'events'})"
    )


def test_exporting_again_changes_nothing(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = two_days(event_log, tmp_path / "logs")
    root = tmp_path / "warehouse"
    export(capsys, root, files)
    before = snapshot(root)
    assert before, "the first export wrote files"
    assert not [name for name in before if os.path.basename(name).startswith(".")], (
        "no temporary file is left"
    )
    printed = export(capsys, root, files)
    assert snapshot(root) == before
    assert [line.split(" (")[0] for line in printed.splitlines()] == [
        "events: wrote 0 rows",
        "llm_calls: wrote 0 rows",
        "human_feedback: wrote 0 rows",
    ]
    # The same events under other names (the live file rotated and compressed): still nothing new.
    renamed = tmp_path / "events.jsonl.3"
    renamed.write_bytes(Path(files[2]).read_bytes())
    export(capsys, root, [str(renamed)])
    assert snapshot(root) == before


def test_a_later_export_adds_only_the_new_events(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = two_days(event_log, tmp_path / "logs")
    root = tmp_path / "warehouse"
    expected = report(capsys, files)["overall"]
    export(capsys, root, files[:2])  # the oldest files first, as a nightly export would see them
    first = snapshot(root)
    export(capsys, root, files)  # then everything: only what is new is written
    after = snapshot(root)
    assert all(after[name] == content for name, content in first.items()), (
        "earlier files are left as they were"
    )
    assert len(after) > len(first)
    got = read_back(root)
    assert got["events"] == got["distinct_events"] == expected["events"]
    assert got["calls"] == got["distinct_calls"] == expected["cost"]["llm_calls"]


def test_every_file_has_the_documented_schema(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same columns, types and nullability in every file, whatever rows it holds (readers merge them)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    files = two_days(event_log, tmp_path / "logs")
    root = tmp_path / "warehouse"
    export(capsys, root, files)
    for table in ("events", "llm_calls", "human_feedback"):
        schemas = [pq.read_schema(path) for path in sorted((root / table).rglob("*.parquet"))]
        schema = schemas[0]
        assert len(schemas) == 2, "one file per day"
        assert all(other.equals(schema) for other in schemas), table
        assert all(field.nullable for field in schema), table
        assert schema.names == [
            name for name in COLUMNS[table] if name not in ("date", "source", "line_number")
        ]
    described = pq.read_schema(next((root / "events").rglob("*.parquet")))
    assert str(described.field("start_time_utc").type) == "timestamp[us, tz=UTC]"
    assert (str(described.field("cost_usd").type), str(described.field("input_tokens").type)) == (
        "double",
        "int64",
    )


def test_an_entry_without_a_date_is_in_the_null_partition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    entry: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "workflow_run_id": str(uuid.uuid4()),
        "task_id": "1.1",
        "task_description": "t",
        "agent_name": "/dev",
        "timestamps": {"start_time_utc": "yesterday", "end_time_utc": None, "duration_seconds": 1.5},
        "status": "Success",
        "cost_data": {},
        "llm_trace": [],
        "human_feedback": None,
    }
    dated = {
        **entry,
        "event_id": str(uuid.uuid4()),
        "timestamps": {
            "start_time_utc": "2026-03-01T10:00:00Z",
            "end_time_utc": None,
            "duration_seconds": 1.5,
        },
    }
    events.write_text(json.dumps(entry) + "\n" + json.dumps(dated) + "\n", encoding="utf-8")
    root = tmp_path / "warehouse"
    export(capsys, root, [str(events)])
    assert sorted(path.name for path in (root / "events").iterdir()) == [
        "date=2026-03-01",
        "date=__HIVE_DEFAULT_PARTITION__",
    ]
    got = read_back(root)
    assert (got["events"], got["arrow_dates"]) == (2, ["2026-03-01", "None"])
    export(capsys, root, [str(events)])
    assert read_back(root)["events"] == 2


def test_the_target_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"task_id": "1"}\n', encoding="utf-8")
    target = tmp_path / "a-file"
    target.write_text("", encoding="utf-8")
    result = run_cli(capsys, "export", "--parquet", str(target), str(events))
    assert (result.code, result.err) == (2, f"wflogging: error: {target}: exists and is not a directory\n")


def _over_many_days(path: Path) -> None:
    """The benchmark's realistic events (a few MB), each run moved to its own day: many partitions."""
    _generator().generate(path, 24 << 20)
    lines = path.read_text(encoding="utf-8").splitlines()
    days: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            entry = json.loads(line)
            shift = days.setdefault(entry["workflow_run_id"], len(days) % 40)
            stamps = entry["timestamps"]
            for key in ("start_time_utc", "end_time_utc"):
                stamps[key] = _plus_days(stamps[key], shift)
            if entry["human_feedback"] is not None:
                entry["human_feedback"]["timestamp_utc"] = _plus_days(
                    entry["human_feedback"]["timestamp_utc"], shift
                )
            out.write(json.dumps(entry) + "\n")


def _plus_days(stamp: str, days: int) -> str:
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) + dt.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_an_export_killed_midway_shows_only_whole_files_and_is_completed_by_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL once the first partition is in place: every visible file is whole Parquet, and running the
    export again completes it, with no row twice and no scratch directory left."""
    import duckdb

    events = tmp_path / "events.jsonl"
    _over_many_days(events)
    root = tmp_path / "warehouse"
    child = subprocess.Popen(
        [sys.executable, "-m", "wflogging", "export", "--parquet", str(root), str(events)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while child.poll() is None and not any((root / "events").glob("date=*/*.parquet")):
            os.sched_yield()  # (waiting for the first file to be renamed into place)
    finally:
        child.kill()
        child.wait()
    visible = sorted(root.glob("*/date=*/*.parquet"))
    assert visible, "the export was killed after its first file"
    connection = duckdb.connect()
    for path in visible:  # each one whole: DuckDB reads it to the end
        assert connection.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0] > 0
    expected = report(capsys, [str(events)])["overall"]
    export(capsys, root, [str(events)])
    assert not list(root.glob(".*")), "the killed export's scratch directory is removed"
    got = read_back(root)
    assert got["events"] == got["distinct_events"] == expected["events"]
    assert got["calls"] == got["distinct_calls"] == expected["cost"]["llm_calls"]
    assert len(got["arrow_dates"]) == 40
