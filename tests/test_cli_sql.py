"""``wflogging sql``: real DuckDB queries over rotated, gzipped, several files, agreeing with the report."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EventLog
from tests.test_cli_report import _entries
from tests.test_cli_support import Result, run_cli, run_cli_process, write_workflow
from wflogging.reader import TornLine

pytest.importorskip("duckdb")


def rotated_set(event_log: EventLog, directory: Path) -> list[str]:
    """A workflow's events split as a rotating handler leaves them: ``.2.gz`` (oldest), ``.1``, the live file.

    A torn line (a write cut short, then the next write) and an entry that is not a task
    event are in the middle file, as they would be in real logs.
    """
    write_workflow(event_log, runs=5, tasks=14, seed=3)
    lines = event_log.path.read_bytes().splitlines(keepends=True)
    third = len(lines) // 3
    directory.mkdir()
    oldest, middle, live = (
        directory / "events.jsonl.2.gz",
        directory / "events.jsonl.1",
        directory / "events.jsonl",
    )
    oldest.write_bytes(gzip.compress(b"".join(lines[:third])))
    middle.write_bytes(
        b"".join(lines[third : 2 * third]) + b'{"event_id": "cut sho\n' + b'{"note": "not a task event"}\n'
    )
    live.write_bytes(b"".join(lines[2 * third :]))
    return [str(oldest), str(middle), str(live)]


def sql(capsys: pytest.CaptureFixture[str], query: str, files: list[str], *options: str) -> Result:
    return run_cli(capsys, "sql", query, *files, *options)


def rows(capsys: pytest.CaptureFixture[str], query: str, files: list[str]) -> list[dict[str, Any]]:
    result = sql(capsys, query, files, "--format", "json")
    assert result.code == 0, result.err
    answer: list[dict[str, Any]] = json.loads(result.out)
    return answer


def report(capsys: pytest.CaptureFixture[str], files: list[str]) -> dict[str, Any]:
    result = run_cli(capsys, "report", "--format", "json", *files)
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def test_counts_and_sums_agree_with_the_report(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = rotated_set(event_log, tmp_path / "logs")
    expected = report(capsys, files)["overall"]
    (totals,) = rows(
        capsys,
        """
        SELECT count(*) AS events, sum(cost_usd) AS usd, count(cost_usd) AS with_cost,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               sum(llm_calls) AS calls, sum(duration_seconds) AS seconds,
               median(duration_seconds) AS median, min(start_time_utc) AS first_start,
               max(end_time_utc) AS last_end
        FROM events
        """,
        files,
    )
    assert totals["events"] == expected["events"] == 5 * 14 + expected["by_status"]["HIL-Paused"]
    assert totals["with_cost"] == expected["cost"]["events_with_cost"]
    assert math.isclose(totals["usd"], expected["cost"]["total_usd"], rel_tol=1e-12)
    assert totals["input_tokens"] == expected["cost"]["input_tokens"]
    assert totals["output_tokens"] == expected["cost"]["output_tokens"]
    assert totals["calls"] == expected["cost"]["llm_calls"]
    assert math.isclose(totals["seconds"], expected["duration"]["total_seconds"], rel_tol=1e-12)
    assert totals["median"] == expected["duration"]["median_seconds"]
    assert (totals["first_start"], totals["last_end"]) == (
        expected["start_time_utc"],
        expected["end_time_utc"],
    )
    by_status = rows(capsys, "SELECT status, count(*) AS n FROM events GROUP BY status", files)
    assert {row["status"]: row["n"] for row in by_status} == {
        status: count for status, count in expected["by_status"].items() if count
    }
    by_agent = rows(
        capsys,
        "SELECT agent_name, count(*) AS events, count(*) FILTER (status = 'Failed') AS failed, "
        "coalesce(sum(cost_usd), 0) AS cost_usd FROM events GROUP BY agent_name",
        files,
    )
    assert {row["agent_name"]: (row["events"], row["failed"]) for row in by_agent} == {
        row["agent_name"]: (row["events"], row["failed"]) for row in expected["by_agent"]
    }
    costs = {row["agent_name"]: row["cost_usd"] for row in expected["by_agent"]}
    for row in by_agent:
        assert math.isclose(row["cost_usd"], costs[row["agent_name"]], rel_tol=1e-12)


def test_one_row_per_llm_call_and_per_answer(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = rotated_set(event_log, tmp_path / "logs")
    expected = report(capsys, files)["overall"]
    (calls,) = rows(capsys, "SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM llm_calls", files)
    assert calls["n"] == expected["cost"]["llm_calls"]
    by_model = rows(capsys, "SELECT model_name, count(*) AS n FROM llm_calls GROUP BY model_name", files)
    assert {row["model_name"]: row["n"] for row in by_model} == {
        row["model_name"]: row["llm_calls"] for row in expected["by_model"] if row["llm_calls"]
    }
    # Each call carries its event's keys: joined back, every call finds its event.
    (joined,) = rows(
        capsys,
        "SELECT count(*) AS n FROM llm_calls c JOIN events e USING (event_id, workflow_run_id, task_id)",
        files,
    )
    assert joined["n"] == calls["n"]
    answers = rows(capsys, "SELECT task_id, content, timestamp_utc FROM human_feedback ORDER BY 3", files)
    reported = sorted(
        (item["task_id"], item["answer"], item["answered_at"])
        for item in expected["human_feedback"]
        if item["answer"] is not None
    )
    assert sorted((a["task_id"], a["content"], a["timestamp_utc"]) for a in answers) == reported
    assert answers, "the workflow has answered pauses"


def test_columns_are_typed(event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = rotated_set(event_log, tmp_path / "logs")
    described = rows(capsys, "SELECT column_name, column_type FROM (DESCRIBE events)", files)
    types = {row["column_name"]: row["column_type"] for row in described}
    assert types["start_time_utc"] == types["end_time_utc"] == "TIMESTAMP WITH TIME ZONE"
    assert types["duration_seconds"] == types["cost_usd"] == "DOUBLE"
    assert types["input_tokens"] == types["output_tokens"] == "BIGINT"
    assert types["status"] == "ENUM('Success', 'Failed', 'HIL-Paused')"
    assert types["cost_data"] == "JSON"
    # The JSON column answers JSON paths; the time columns answer date arithmetic.
    (row,) = rows(
        capsys,
        "SELECT max(cost_data->>'$.llm_calls')::INT AS most_calls, "
        "max(date_diff('second', start_time_utc, end_time_utc)) <= max(duration_seconds) + 1 AS consistent "
        "FROM events",
        files,
    )
    assert row == {"most_calls": 3, "consistent": True}


def test_unreadable_lines_are_counted_not_fatal(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = rotated_set(event_log, tmp_path / "logs")
    result = sql(capsys, "SELECT count(*) AS n FROM events", files, "--format", "csv")
    assert result.code == 0
    torn_line = len(Path(files[1]).read_bytes().splitlines()) - 1
    reported = run_cli(capsys, "report", "--format", "json", *files)
    assert json.loads(reported.out)["unreadable_lines"] == 1
    # The same warning as the report's, word for word, then the entry that is not a task event.
    assert result.err.splitlines() == [
        *reported.err.splitlines(),
        (
            "wflogging: warning: 1 entries are not task events (no string status or task_id, "
            "or no timestamps object): left out of the tables"
        ),
    ]
    assert f"{files[1]}:{torn_line}: skipped a torn line" in result.err


def test_output_formats(event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = rotated_set(event_log, tmp_path / "logs")
    query = (
        "SELECT agent_name, count(*) AS tasks, min(start_time_utc) AS first_start, "
        "any_value(cost_data) FILTER (cost_data->>'$.total_cost_usd' IS NOT NULL) AS a_cost "
        "FROM events GROUP BY agent_name ORDER BY agent_name"
    )
    as_json = rows(capsys, query, files)
    assert [row["agent_name"] for row in as_json] == [
        "/dev:implement-pro",
        "/plan:analyst",
        "/qa:test-runner",
    ]
    assert all(row["first_start"].endswith("Z") and type(row["a_cost"]) is dict for row in as_json)
    as_csv = list(csv.DictReader(io.StringIO(sql(capsys, query, files, "--format", "csv").out)))
    assert [(row["agent_name"], int(row["tasks"]), row["first_start"]) for row in as_csv] == [
        (row["agent_name"], row["tasks"], row["first_start"]) for row in as_json
    ]
    assert [json.loads(row["a_cost"]) for row in as_csv] == [row["a_cost"] for row in as_json]
    table = sql(capsys, query, files).out.splitlines()
    assert table[0].split() == ["agent_name", "tasks", "first_start", "a_cost"]
    assert set(table[1]) == {"-", " "}
    assert table[2].startswith("/dev:implement-pro ")
    assert table[-1] == "(3 rows)"


def test_bad_sql_is_one_line_and_exit_2(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = rotated_set(event_log, tmp_path / "logs")
    for query, words in [
        ("SELEC count(*) FROM events", "syntax error"),
        ("SELECT nope FROM events", "nope"),
        ("SELECT * FROM missing_table", "missing_table"),
        ("SELECT CAST(task_description AS INTEGER) FROM events", "Conversion Error"),  # while rows are made
    ]:
        result = sql(capsys, query, files)
        assert result.code == 2
        assert result.out == ""
        (line,) = result.err.splitlines()[-1:]
        assert line.startswith("wflogging: error: ")
        assert words in line
        assert len([text for text in result.err.splitlines() if "error" in text]) == 1


def test_quoted_glob_reads_every_matching_file(
    event_log: EventLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = rotated_set(event_log, tmp_path / "logs")
    (by_name,) = rows(capsys, "SELECT count(*) AS n FROM events", files)
    (by_glob,) = rows(capsys, "SELECT count(*) AS n FROM events", [str(tmp_path / "logs" / "events.jsonl*")])
    assert by_glob == by_name
    missing = sql(capsys, "SELECT 1", [str(tmp_path / "nowhere" / "*.jsonl")])
    assert missing.code == 2
    assert missing.err == f"wflogging: error: {tmp_path / 'nowhere' / '*.jsonl'}: no file matches\n"


def test_without_duckdb_it_says_how_to_install_it(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"task_id": "1"}\n', encoding="utf-8")
    hide_duckdb = (
        "import sys; sys.modules['duckdb'] = None\n"
        "from wflogging.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    for args in (
        ["sql", "SELECT 1", str(events)],
        ["export", "--parquet", str(tmp_path / "out"), str(events)],
    ):
        done = subprocess.run(
            [sys.executable, "-c", hide_duckdb, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert done.stdout == ""
        command = "wflogging export --parquet" if args[0] == "export" else "wflogging sql"
        assert done.stderr == f"wflogging: error: {command} needs DuckDB: pip install 'wflogging[sql]'\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(_entries(), min_size=1, max_size=12))
def test_any_cost_data_sums_as_the_report_reads_it(
    entries: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Aliased, missing and mistyped fields: SQL reads cost, tokens and durations as the report does."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "events.jsonl"
        path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
        expected = report(capsys, [str(path)])
        (row,) = rows(
            capsys,
            "SELECT count(*) AS events, coalesce(sum(cost_usd), 0) AS usd, count(cost_usd) AS with_cost, "
            "coalesce(sum(input_tokens), 0) AS inp, coalesce(sum(output_tokens), 0) AS out, "
            "coalesce(sum(llm_calls), 0) AS calls, coalesce(sum(duration_seconds), 0) AS seconds, "
            "(SELECT count(*) FROM llm_calls) AS call_rows FROM events",
            [str(path)],
        )
    overall = expected["overall"]
    assert row["events"] == overall["events"]
    assert expected["entries_skipped"] + row["events"] == len(entries)
    assert math.isclose(row["usd"], overall["cost"]["total_usd"], rel_tol=1e-9, abs_tol=1e-12)
    assert row["with_cost"] == overall["cost"]["events_with_cost"]
    assert (row["inp"], row["out"]) == (overall["cost"]["input_tokens"], overall["cost"]["output_tokens"])
    assert row["calls"] == row["call_rows"] == overall["cost"]["llm_calls"]
    assert math.isclose(row["seconds"], overall["duration"]["total_seconds"], rel_tol=1e-9, abs_tol=1e-12)


def test_a_prompt_larger_than_duckdbs_default_row_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB reads a JSON row of at most 16 MB unless told: the tables tell it the longest row staged."""
    prompt = "x" * (20 << 20)
    entry = {
        "event_id": "e",
        "workflow_run_id": "r",
        "task_id": "1.1",
        "task_description": "d",
        "agent_name": "/dev",
        "timestamps": {
            "start_time_utc": "2026-03-01T10:00:00.000000Z",
            "end_time_utc": "2026-03-01T10:00:01.000000Z",
            "duration_seconds": 1.0,
        },
        "status": "Success",
        "cost_data": {},
        "llm_trace": [{"call_sequence": 1, "model_name": "m", "prompt": prompt, "completion": "ok"}],
        "human_feedback": None,
    }
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    assert rows(capsys, "SELECT length(prompt) AS n FROM llm_calls", [str(path)]) == [{"n": len(prompt)}]


def test_standard_input_and_files_together(event_log: EventLog, tmp_path: Path) -> None:
    files = rotated_set(event_log, tmp_path / "logs")
    query = "SELECT count(*) AS n, count(DISTINCT source) AS sources FROM events"
    done = run_cli_process("sql", "--format", "json", query, files[0], "-", stdin=Path(files[2]).read_bytes())
    assert done.code == 0, done.err
    together = json.loads(done.out)
    apart = json.loads(run_cli_process("sql", "--format", "json", query, files[0], files[2]).out)
    assert together == apart == [{"n": together[0]["n"], "sources": 2}]


@pytest.mark.parametrize("chunk_bytes", [1, 4000])
def test_tables_read_in_parallel_are_the_same(event_log: EventLog, tmp_path: Path, chunk_bytes: int) -> None:
    """Staged by several processes, by file and byte range: the same rows, line numbers and torn lines."""
    import duckdb

    from wflogging.cli.tables import TABLES, create_views, stage_tables

    files = rotated_set(event_log, tmp_path / "logs")

    def tables(jobs: int) -> tuple[list[Any], list[TornLine]]:
        torn: list[TornLine] = []
        directory = tmp_path / f"staged-{jobs}"
        directory.mkdir()
        staged = stage_tables(files, str(directory), on_torn=torn.append, jobs=jobs, chunk_bytes=chunk_bytes)
        assert (staged.parts > 3) is (jobs > 1)
        connection = duckdb.connect()
        create_views(connection, staged)
        contents = [connection.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in TABLES]
        return contents, torn

    assert tables(2) == tables(1)
