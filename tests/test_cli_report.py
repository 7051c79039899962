"""``wflogging report``: numbers that reconcile exactly with the events, in every format."""

from __future__ import annotations

import gc
import json
import math
import os
import random
import statistics
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import EventLog
from tests.test_cli_support import events_in, log_task, run_cli, run_cli_process, write_workflow
from wflogging.cli.report import ReportBuilder, ReportFilter
from wflogging.cli.report_aggregate import Tally
from wflogging.reader import TornLine


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    result = run_cli(capsys, "report", "--format", "json", *args)
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def _nearest_rank_p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def _expected_section(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's numbers recomputed straight from the events, with the documented definitions."""
    durations = [e["timestamps"]["duration_seconds"] for e in events]
    costs = [e["cost_data"]["total_cost_usd"] for e in events if "total_cost_usd" in e["cost_data"]]
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_agent[event["agent_name"]].append(event)
        by_task[event["task_id"]].append(event)

    def group(members: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "events": len(members),
            "failed": sum(e["status"] == "Failed" for e in members),
            "paused": sum(e["status"] == "HIL-Paused" for e in members),
            "llm_calls": sum(len(e["llm_trace"]) for e in members),
            "cost_usd": math.fsum(e["cost_data"].get("total_cost_usd", 0.0) for e in members),
            "duration_seconds": math.fsum(e["timestamps"]["duration_seconds"] for e in members),
            "input_tokens": sum(e["cost_data"].get("tokens", {}).get("input", 0) for e in members),
        }

    statuses = Counter(e["status"] for e in events)
    return {
        "events": len(events),
        "by_status": {name: statuses.get(name, 0) for name in ("Success", "Failed", "HIL-Paused")},
        "total_seconds": math.fsum(durations),
        "median_seconds": statistics.median(durations),
        "p95_seconds": _nearest_rank_p95(durations),
        "total_usd": math.fsum(costs),
        "events_with_cost": len(costs),
        "llm_calls": sum(len(e["llm_trace"]) for e in events),
        "by_agent": {name: group(members) for name, members in by_agent.items()},
        "by_task": {name: group(members) for name, members in by_task.items()},
        "failures": sorted(
            (e["task_id"], f"RuntimeError: {e['extensions']['error']['message']}")
            for e in events
            if e["status"] == "Failed"
        ),
    }


def _actual_section(section: dict[str, Any]) -> dict[str, Any]:
    def groups(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
        fields = ("events", "failed", "paused", "llm_calls", "cost_usd", "duration_seconds", "input_tokens")
        return {row[key]: {name: row[name] for name in fields} for row in rows}

    return {
        "events": section["events"],
        "by_status": section["by_status"],
        "total_seconds": section["duration"]["total_seconds"],
        "median_seconds": section["duration"]["median_seconds"],
        "p95_seconds": section["duration"]["p95_seconds"],
        "total_usd": section["cost"]["total_usd"],
        "events_with_cost": section["cost"]["events_with_cost"],
        "llm_calls": section["cost"]["llm_calls"],
        "by_agent": groups(section["by_agent"], "agent_name"),
        "by_task": groups(section["by_task"], "task_id"),
        "failures": sorted((item["task_id"], item["reason"]) for item in section["failures"]),
    }


def test_numbers_reconcile_exactly_with_the_events(
    event_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every total, median, p95 and breakdown equals its independent recomputation, overall and per run."""
    run_ids = write_workflow(event_log, runs=3, tasks=16)
    events = events_in(event_log.path)
    data = _report(capsys, str(event_log.path))
    assert _actual_section(data["overall"]) == _expected_section(events)
    assert [run["workflow_run_id"] for run in data["runs"]] == run_ids
    for run in data["runs"]:
        mine = [e for e in events if e["workflow_run_id"] == run["workflow_run_id"]]
        assert _actual_section(run) == _expected_section(mine)


def test_the_report_leaves_the_cycle_collector_as_it_found_it(
    event_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report pauses Python's cycle collector while it reads; a program that runs it in-process
    gets the collector back as it was."""
    write_workflow(event_log, runs=2, tasks=4)
    assert gc.isenabled()
    _report(capsys, str(event_log.path))
    assert gc.isenabled()
    gc.disable()
    try:
        _report(capsys, str(event_log.path))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cost_by_model_adds_up_to_the_total(event_log: EventLog, capsys: pytest.CaptureFixture[str]) -> None:
    """The by-model rows (breakdowns, single-model events, the rest) sum to the total cost and tokens."""
    write_workflow(event_log, runs=2, tasks=20, seed=5)
    overall = _report(capsys, str(event_log.path))["overall"]
    rows = overall["by_model"]
    assert math.isclose(
        math.fsum(row["cost_usd"] for row in rows), overall["cost"]["total_usd"], rel_tol=1e-12
    )
    assert sum(row["input_tokens"] for row in rows) == overall["cost"]["input_tokens"]
    assert sum(row["llm_calls"] for row in rows) == overall["cost"]["llm_calls"]


def test_human_waits_are_paired_with_their_pauses(
    event_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each HIL pause shows the human's answer and the time from the pause's end to the answer."""
    write_workflow(event_log, runs=2, tasks=16, seed=3)
    events = events_in(event_log.path)
    expected = []
    for pause in (e for e in events if e["status"] == "HIL-Paused"):
        answer = next(
            e
            for e in events
            if e["human_feedback"]
            and (e["workflow_run_id"], e["task_id"]) == (pause["workflow_run_id"], pause["task_id"])
            and e["timestamps"]["start_time_utc"] >= pause["timestamps"]["end_time_utc"]
        )
        # The helper answers exactly at the resumed task's start: a whole number of minutes after the pause.
        waited = answer["human_feedback"]["timestamp_utc"]
        expected.append((pause["task_id"], answer["human_feedback"]["content"], waited))
    items = _report(capsys, str(event_log.path))["overall"]["human_feedback"]
    assert sorted((i["task_id"], i["answer"], i["answered_at"]) for i in items) == sorted(expected)
    assert all(i["wait_seconds"] % 60 == 0 and i["wait_seconds"] >= 60 for i in items)


def _minute(minutes: int) -> str:
    return f"2026-03-01T10:{minutes:02d}:00.000000Z"


@settings(max_examples=80, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["r1", "r2"]),
            st.sampled_from(["1.1", "1.2"]),
            st.booleans(),  # a pause, else an answer
            st.integers(min_value=0, max_value=20),  # start
            st.integers(min_value=0, max_value=20),  # length
        ),
        max_size=30,
    )
)
def test_pauses_get_the_first_free_answer_after_them(events: list[tuple[str, str, bool, int, int]]) -> None:
    """As the report's definitions say: pauses in order of their end each take the first answer (in order of
    start) of their run and task that starts at or after they end and is not taken; the rest stand alone."""
    entries = []
    for number, (run_id, task_id, paused, start, length) in enumerate(events):
        entry = _recorder_entry(run_id, task_id, ["p"])
        entry["status"] = "HIL-Paused" if paused else "Success"
        entry["timestamps"] = {
            "start_time_utc": _minute(start),
            "end_time_utc": _minute(start + length),
            "duration_seconds": length * 60.0,
        }
        if not paused:
            entry["human_feedback"] = {
                "type": "HIL-Approval",
                "content": f"answer {number}",
                "timestamp_utc": _minute(start),
            }
        entries.append(entry)
    pauses = sorted(
        (e for e in entries if e["status"] == "HIL-Paused"),
        key=lambda e: (e["timestamps"]["end_time_utc"], e["task_id"]),
    )
    answers = sorted(
        (e for e in entries if e["human_feedback"]),
        key=lambda e: (e["timestamps"]["start_time_utc"], e["task_id"]),
    )
    taken: set[int] = set()
    expected = []
    for pause in pauses:
        found = next(
            (
                index
                for index, answer in enumerate(answers)
                if index not in taken
                and (answer["workflow_run_id"], answer["task_id"])
                == (pause["workflow_run_id"], pause["task_id"])
                and answer["timestamps"]["start_time_utc"] >= pause["timestamps"]["end_time_utc"]
            ),
            None,
        )
        if found is not None:
            taken.add(found)
        content = None if found is None else answers[found]["human_feedback"]["content"]
        expected.append((pause["workflow_run_id"], pause["task_id"], True, content))
    expected += [
        (a["workflow_run_id"], a["task_id"], False, a["human_feedback"]["content"])
        for index, a in enumerate(answers)
        if index not in taken
    ]
    builder = ReportBuilder()
    builder.add_all(entries)
    items = builder.result()["overall"]["human_feedback"]
    assert [(i["workflow_run_id"], i["task_id"], i["paused"], i["answer"]) for i in items] == expected


def test_run_and_time_filters(event_log: EventLog, capsys: pytest.CaptureFixture[str]) -> None:
    """--run keeps one run (by id prefix); --since/--until keep tasks started in [since, until)."""
    run_ids = write_workflow(event_log, runs=3, tasks=6)
    events = events_in(event_log.path)
    only = _report(capsys, "--run", run_ids[1][:8], str(event_log.path))
    assert [run["workflow_run_id"] for run in only["runs"]] == [run_ids[1]]
    assert only["overall"]["events"] == sum(e["workflow_run_id"] == run_ids[1] for e in events)
    starts = sorted(e["timestamps"]["start_time_utc"] for e in events)
    since, until = starts[3], starts[9]
    window = _report(capsys, "--since", since, "--until", until, str(event_log.path))
    assert window["overall"]["events"] == sum(since <= s < until for s in starts) == 6


def test_table_answers_the_questions_on_one_screen(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """The table names the most expensive agent, the failed task and its reason, and the human waits."""
    log_task(event_log, agent_name="/cheap", task_id="1", cost_data={"total_cost_usd": 0.01})
    log_task(event_log, agent_name="/pricey", task_id="2", cost_data={"total_cost_usd": 2.5})
    log_task(event_log, agent_name="/qa", task_id="3", status="Failed", error="UnicodeEncodeError in export")
    result = run_cli(capsys, "report", str(event_log.path))
    assert result.code == 0
    improve = result.out.split("Where to improve")[1]
    assert "Most expensive agents: /pricey $2.50 (100%)" in improve
    assert "UnicodeEncodeError in export" in result.out.split("Failures")[1]
    markdown = run_cli(capsys, "report", "--format", "markdown", str(event_log.path)).out
    assert "## Where to improve" in markdown
    assert "| /pricey |" in markdown


def test_repeated_prompts_across_runs_are_pointed_out(
    event_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task that sends the same prompt in several runs is listed under where to improve."""
    import wflogging

    for _ in range(3):
        with wflogging.workflow_run():
            log_task(
                event_log, task_id="7.1", llm_trace=[{"model_name": "m", "prompt": "same", "completion": "x"}]
            )
    improve = _report(capsys, str(event_log.path))["where_to_improve"]
    assert improve["repeated_prompts"] == [
        {"task_id": "7.1", "agent_name": "/dev:implement-pro", "runs": 3, "prompts": 1}
    ]


def test_torn_lines_are_counted_and_warned_not_fatal(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """A torn tail is skipped with a warning on stderr; the report of the whole events still comes."""
    log_task(event_log)
    with event_log.path.open("ab") as stream:
        stream.write(b'{"event_id": "torn')
    result = run_cli(capsys, "report", "--format", "json", str(event_log.path))
    assert result.code == 0
    assert json.loads(result.out)["unreadable_lines"] == 1
    assert "torn line at byte" in result.err


def test_reads_gzip_and_stdin_together(event_log: EventLog, tmp_path: Path, run_id: str) -> None:
    """Several sources at once: a gzipped rotated file and standard input, in a real process."""
    import gzip

    log_task(event_log, task_id="a")
    rotated = tmp_path / "events.jsonl.1.gz"
    rotated.write_bytes(gzip.compress(event_log.path.read_bytes()))
    result = run_cli_process(
        "report", "--format", "json", str(rotated), "-", stdin=event_log.path.read_bytes()
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["overall"]["events"] == 2


def test_demo_ends_with_the_report_of_its_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`wflogging demo` writes real events and prints the report of exactly that run."""
    path = tmp_path / "demo.jsonl"
    result = run_cli(capsys, "demo", "-o", str(path))
    assert result.code == 0
    run_id = result.out.split("wrote run ", 1)[1].split()[0]
    assert f"Run {run_id}" in result.out
    assert "Where to improve" in result.out
    assert len(events_in(path)) == int(result.out.split(" task events in 1 run")[0].rsplit("\n", 1)[1])


# --- the fast reader gives the same report as whole-line parsing --------------------------------


_NUMBERS = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.none(),
    st.text(max_size=3),
)
_STAMPS = st.one_of(
    st.just("2026-03-01T10:00:00.000000Z"),
    st.just("2026-03-01T10:00:07.250000Z"),
    st.just("2026-03-01T11:00:00+01:00"),
    st.just("2026-03-01T10:00:0x.000000Z"),  # the canonical form's length and Z, but not a date
    st.just("not a time"),
    st.none(),
)


@st.composite
def _entries(draw: st.DrawFn) -> dict[str, Any]:
    """An entry in the recorder's shape, with any of its fields dropped, aliased or of a wrong type."""
    models = draw(st.lists(st.sampled_from(["m1", "m2", "m3"]), max_size=3))
    parts = {
        name: {
            "calls": 1,
            "input_tokens": draw(st.integers(0, 5000)),
            "output_tokens": draw(st.integers(0, 900)),
            "cost_usd": draw(st.floats(min_value=0, max_value=1, allow_nan=False)),
        }
        for name in models
    }
    cost: dict[str, Any] = {
        "llm_calls": len(models),
        "tokens": {
            "input": sum(p["input_tokens"] for p in parts.values()),
            "output": draw(st.integers(0, 99)),
        },
        "models": parts,
        "total_cost_usd": math.fsum(p["cost_usd"] for p in parts.values())
        + draw(st.sampled_from([0.0, 1e-9])),
    }
    entry: dict[str, Any] = {
        "event_id": "e",
        "workflow_run_id": draw(st.sampled_from(["run-a", "run-b", "run-c"])),
        "task_id": draw(st.sampled_from(["1.1", "1.2", "2.1"])),
        "task_description": draw(st.text(max_size=5)),
        "agent_name": draw(st.sampled_from(["/plan", "/dev", ""])),
        "timestamps": {
            "start_time_utc": draw(_STAMPS),
            "end_time_utc": draw(_STAMPS),
            "duration_seconds": draw(st.floats(min_value=-1, max_value=1e5, allow_nan=False)),
        },
        "status": draw(st.sampled_from(["Success", "Failed", "HIL-Paused", "Odd"])),
        "cost_data": cost,
        "llm_trace": [
            {
                "call_sequence": n,
                "model_name": name,
                "prompt": draw(st.sampled_from(["", "p", "q", "é\n", None, 7])),
                "completion": draw(st.text(max_size=5)),
            }
            for n, name in enumerate(models, start=1)
        ],
        "human_feedback": draw(
            st.sampled_from(
                [
                    None,
                    {"type": "HIL-Approval", "content": "ok", "timestamp_utc": "2026-03-01T10:05:00.000000Z"},
                ]
            )
        ),
        "extensions": draw(st.sampled_from([None, {"error": {"type": "E", "message": "m"}}])),
    }
    # Bend the shape: a dropped field, an alias, a wrong type.
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(["entry", "cost", "tokens", "timestamps", "call"]))
        where = {
            "entry": entry,
            "cost": cost,
            "tokens": cost.get("tokens"),
            "timestamps": entry.get("timestamps"),
            "call": entry["llm_trace"][0]
            if type(entry.get("llm_trace")) is list and entry["llm_trace"]
            else None,
        }[target]
        if type(where) is not dict:
            continue
        key = draw(st.sampled_from([*sorted(where), "cost_usd", "input_tokens", "by_model", "prompt_tokens"]))
        if draw(st.booleans()):
            where.pop(key, None)
        else:
            where[key] = draw(_NUMBERS)
    return entry


def _report_with(path: Path, **options: Any) -> dict[str, Any]:
    builder = ReportBuilder(**options)
    builder.read([str(path)])
    return builder.result()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(_entries(), max_size=25))
def test_reading_lines_gives_the_same_report_as_whole_entries(
    entries: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Reading lines (the recorder's shape counted in the hot loop, others the general way) gives the
    report of the same entries parsed whole and added one by one."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    reference = ReportBuilder(detailed_runs=2)
    reference.add_all(json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line)
    assert _report_with(path, detailed_runs=2) == reference.result()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.lists(_entries(), max_size=25),
    run=st.sampled_from([None, "run-a", "RUN-B", "run-"]),
    since=st.sampled_from([None, "2026-03-01T10:00:00.000000Z", "2026-03-01T10:00:05.000000Z"]),
    until=st.sampled_from([None, "2026-03-01T10:00:07.250000Z", "2026-03-01T12:00:00.000000Z"]),
)
def test_a_filtered_report_is_the_same_read_or_added(
    entries: list[dict[str, Any]], run: str | None, since: str | None, until: str | None, tmp_path: Path
) -> None:
    """--run and --since/--until select the same events in the hot loop as the general way."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    chosen = ReportFilter(run=run, since=since, until=until)
    reference = ReportBuilder(chosen, detailed_runs=2)
    reference.add_all(json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line)
    assert _report_with(path, report_filter=chosen, detailed_runs=2) == reference.result()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(_entries(), max_size=25))
def test_findings_are_the_same_read_or_added(entries: list[dict[str, Any]], tmp_path: Path) -> None:
    """The findings' figures the hot loop keeps (cells, retries, prompts and their money) are those the
    general way keeps for the same entries."""
    from wflogging.cli.improve import findings

    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    read = ReportBuilder(detailed_runs=2)
    read.read([str(path)])
    added = ReportBuilder(detailed_runs=2)
    added.add_all(json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line)
    files = [str(path)]
    assert findings(read, read.result()["overall"], files) == findings(
        added, added.result()["overall"], files
    )


def test_a_line_nested_too_deeply_is_torn_not_fatal(tmp_path: Path) -> None:
    """JSON nested deeper than the decoder goes is one unreadable line, as read_events has it."""
    good = json.dumps(_recorder_entry("run-a", "1", ["p"]))
    # Deeper than any decoder goes on any supported Python (3.13's msgspec goes past 5,000).
    deep = '{"extensions": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = tmp_path / "events.jsonl"
    path.write_text(f"{good}\n{deep}\n{good}\n", encoding="utf-8")
    torn: list[TornLine] = []
    builder = ReportBuilder()
    builder.read([str(path)], on_torn=torn.append)
    expected = [item for item in wflogging.read_events(path) if isinstance(item, TornLine)]
    assert (
        [(t.line_number, t.offset) for t in torn]
        == [(t.line_number, t.offset) for t in expected]
        == [(2, len(good) + 1)]
    )
    assert builder.result()["overall"]["events"] == 2


def test_recorder_events_report_the_same_read_or_added(event_log: EventLog) -> None:
    """On real recorder output (many runs, so run sections drop their detail), reading lines and adding
    the parsed entries agree."""
    write_workflow(event_log, runs=4, tasks=16, seed=11)
    reference = ReportBuilder(detailed_runs=2)
    reference.add_all(events_in(event_log.path))
    assert _report_with(event_log.path, detailed_runs=2) == reference.result()


def test_report_and_reader_agree_on_torn_lines(tmp_path: Path) -> None:
    """The report skips exactly the lines read_events calls torn, at the same places, for the same reasons."""
    good = json.dumps({"workflow_run_id": "r", "task_id": "1", "status": "Success", "timestamps": {}})
    bad_utf8 = good[:-1].encode() + b', "llm_trace": [{"model_name": "m", "completion": "\xff"}]}'
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"\n".join([good.encode(), bad_utf8, b"[1, 2]", b"   ", b'{"a": tru', good.encode(), b'{"cut": "sh'])
    )
    torn: list[TornLine] = []
    builder = ReportBuilder()
    builder.read([str(path)], on_torn=torn.append)
    expected = [item for item in wflogging.read_events(path) if isinstance(item, TornLine)]
    # The decoder's own words may differ ("not valid JSON (...)"); the kind of fault may not.
    assert [(t.line_number, t.offset, t.length, t.reason.split(" (")[0]) for t in torn] == [
        (t.line_number, t.offset, t.length, t.reason.split(" (")[0]) for t in expected
    ]
    assert builder.unreadable == len(expected) == 4
    assert builder.result()["overall"]["events"] + builder.skipped == 2


@pytest.mark.parametrize("depth", [1_000, 1_030, 1_500, 3_000])
def test_report_and_reader_agree_on_deep_lines(tmp_path: Path, depth: int) -> None:
    """Nested past orjson's 1,024 levels but within what msgspec reads on Python 3.12+: whichever way
    this interpreter goes, the report and read_events go the same way (both read it or both skip it)."""
    good = json.dumps(_recorder_entry("run-a", "1", ["p"]))
    deep = '{"extensions": ' + "[" * depth + "]" * depth + "}"
    path = tmp_path / "events.jsonl"
    path.write_text(f"{good}\n{deep}\n{good}\n", encoding="utf-8")
    torn: list[TornLine] = []
    builder = ReportBuilder()
    builder.read([str(path)], on_torn=torn.append)
    items = list(wflogging.read_events(path))
    expected = [item for item in items if isinstance(item, TornLine)]
    assert [(t.line_number, t.offset) for t in torn] == [(t.line_number, t.offset) for t in expected]
    assert builder.result()["overall"]["events"] + builder.skipped == len(items) - len(expected)


def test_a_number_past_64_bits_is_read_exactly(tmp_path: Path) -> None:
    """read_events reads 2**70 as that integer (whatever JSON library is installed), so the schema's
    integer range check sees it, as the report's reader does."""
    entry = _recorder_entry("run-a", "1", ["p"])
    entry["cost_data"]["huge"] = 2**70
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    (line,) = wflogging.read_events(path)
    assert isinstance(line, wflogging.EventLine)
    assert line.entry["cost_data"]["huge"] == 2**70
    assert type(line.entry["cost_data"]["huge"]) is int
    assert "cost_data.huge" in [problem.path for problem in wflogging.entry_problems(line.entry)]


def test_lines_across_the_read_buffer_are_read_whole(tmp_path: Path) -> None:
    """A file of several read buffers: lines cut by the buffer's end, one longer than the buffer, text in
    any script, and faults placed right after a buffer's end are read as read_events reads them."""
    rng = random.Random(5)
    buffer = 1 << 20  # wflogging.cli.inputs.BATCH_BYTES: the lines below straddle its multiples
    lines: list[bytes] = []
    size = 0
    # An entry whose completion (which the msgspec reader skips) is not UTF-8, a line cut short, JSON that
    # is not an object, and a blank line (which is not torn).
    not_utf8 = json.dumps(_recorder_entry("run-0", "1", ["p"], completion="\u00ff"), ensure_ascii=False)
    faults = [not_utf8.encode().replace("\u00ff".encode(), b"\xff"), b'{"cut": "sh', b"[1, 2]", b""]
    next_fault_after = buffer
    task = 0
    while faults or size < 3 * buffer:
        if faults and size >= next_fault_after:  # the first line that starts after a buffer's end
            line = faults.pop(0)
            next_fault_after = (size // buffer + 1) * buffer
        else:
            task += 1
            text = "".join(rng.choice("a\u00e9\u4e2d\U0001f600 ") for _ in range(rng.randint(1, 4000)))
            if task == 7:
                text = "x" * (buffer + 12_345)  # one line longer than the read buffer
            entry = _recorder_entry(f"run-{task % 3}", f"{task % 5}", [text], completion=text[::-1])
            line = json.dumps(entry, ensure_ascii=task % 2 == 0).encode()
            if task == 3:
                line += b"\r"  # a CRLF line ending
        lines.append(line)
        size += len(line) + 1
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b'\n{"no": "final newline"}')
    torn: list[TornLine] = []
    builder = ReportBuilder()
    builder.read([str(path)], on_torn=torn.append)
    expected = [item for item in wflogging.read_events(path) if isinstance(item, TornLine)]
    assert [(t.line_number, t.offset, t.length, t.reason.split(" (")[0], t.head) for t in torn] == [
        (t.line_number, t.offset, t.length, t.reason.split(" (")[0], t.head) for t in expected
    ]
    assert builder.unreadable == len(expected) == 4  # the three faults and the unfinished last line
    reference = ReportBuilder()
    reference.add_all(item.entry for item in wflogging.read_events(path) if not isinstance(item, TornLine))
    assert builder.result() == {**reference.result(), "unreadable_lines": 4}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_read_like_the_file(event_log: EventLog, tmp_path: Path) -> None:
    """A path that is a pipe (as ``<(zcat events.gz)`` gives) cannot be read into the reused buffer, which
    needs a regular file; it is read through a buffered stream, with the same report."""
    write_workflow(event_log, runs=2, tasks=6)
    pipe = tmp_path / "events.pipe"
    os.mkfifo(pipe)

    def feed() -> None:
        with pipe.open("wb") as stream:
            stream.write(event_log.path.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    from_pipe = _report_with(pipe)
    writer.join()
    assert from_pipe == _report_with(event_log.path)
    assert from_pipe["overall"]["events"] == len(events_in(event_log.path))


def _recorder_entry(
    run_id: str, task_id: str, prompts: list[str], completion: str = "done"
) -> dict[str, Any]:
    """An entry in the shape wflogging.record_task writes (the fast reader's short way)."""
    parts = {"m1": {"calls": len(prompts), "input_tokens": 7, "output_tokens": 3, "cost_usd": 0.25}}
    return {
        "event_id": "e",
        "workflow_run_id": run_id,
        "task_id": task_id,
        "task_description": f"task {task_id}",
        "agent_name": "/dev",
        "timestamps": {
            "start_time_utc": "2026-03-01T10:00:00.000000Z",
            "end_time_utc": "2026-03-01T10:00:02.500000Z",
            "duration_seconds": 2.5,
        },
        "status": "Success",
        "cost_data": {
            "llm_calls": len(prompts),
            "tokens": {"input": 7, "output": 3, "cached": 0},
            "models": parts,
            "total_cost_usd": 0.25,
        },
        "llm_trace": [
            {"call_sequence": n, "model_name": "m1", "prompt": prompt, "completion": completion}
            for n, prompt in enumerate(prompts, start=1)
        ],
        "human_feedback": None,
    }


_PROMPT_TEXTS = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)


@pytest.mark.parametrize("ensure_ascii", [False, True])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sent=st.lists(
        st.tuples(
            st.sampled_from(["run-a", "run-b", "run-c"]), st.sampled_from(["1.1", "2.1"]), _PROMPT_TEXTS
        ),
        min_size=1,
        max_size=12,
    )
)
def test_repeated_prompts_are_found_by_their_text(
    ensure_ascii: bool, sent: list[tuple[str, str, str]], tmp_path: Path
) -> None:
    """A prompt sent in several runs is found whatever its characters and escapes."""
    path = tmp_path / "events.jsonl"
    lines = [
        json.dumps(_recorder_entry(run, task, [text]), ensure_ascii=ensure_ascii) for run, task, text in sent
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    runs_by_text: dict[str, set[str]] = defaultdict(set)
    first_task: dict[str, str] = {}
    for run, task, text in sent:
        runs_by_text[text].add(run)
        first_task.setdefault(text, task)
    repeated = {text: len(runs) for text, runs in runs_by_text.items() if len(runs) > 1}
    rows = _report_with(path)["where_to_improve"]["repeated_prompts"]
    # One row per task (all events have one agent): how many prompts repeat, and in up to how many runs.
    assert {row["task_id"]: (row["prompts"], row["runs"]) for row in rows} == {
        task: (
            sum(first_task[text] == task for text in repeated),
            max(runs for text, runs in repeated.items() if first_task[text] == task),
        )
        for task in {first_task[text] for text in repeated}
    }


def test_prompt_fingerprints_do_not_need_xxhash(tmp_path: Path) -> None:
    """Without xxhash installed (hash() takes its place) the report (repeated prompts too) is the same."""
    path = tmp_path / "events.jsonl"
    texts = ["plain", 'café\n\t"quoted"', "emoji 🙂 / slash", "\u0001 control"]
    entries = [
        _recorder_entry(f"run-{n % 3}", f"{n % 2}.1", [texts[n % 4], f"unique {n}"]) for n in range(24)
    ]
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    code = (
        "import json, sys; sys.modules['xxhash'] = None\n"
        "from wflogging.cli.report import ReportBuilder\n"
        "builder = ReportBuilder(); builder.read([sys.argv[1]]); print(json.dumps(builder.result()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, timeout=120, check=True
    )
    without = json.loads(done.stdout)
    assert without == json.loads(json.dumps(_report_with(path)))
    assert without["where_to_improve"]["repeated_prompts"]


def test_runs_spanning_read_batches_are_counted_exactly(tmp_path: Path) -> None:
    """Interleaved runs over several megabytes (many read batches), some entries in other shapes: exact."""
    rng = random.Random(3)
    path = tmp_path / "events.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        for n in range(400):
            entry = _recorder_entry(
                f"run-{rng.randrange(30)}",
                f"{rng.randrange(4)}.1",
                [f"prompt {rng.randrange(40)}"],
                "x" * 9000,
            )
            entry["timestamps"]["duration_seconds"] = rng.uniform(0, 100)
            entry["cost_data"]["total_cost_usd"] = rng.uniform(0, 1)
            entry["status"] = rng.choice(["Success", "Failed", "HIL-Paused", "Odd"])
            if n % 7 == 0:  # an alias: read the general way
                entry["cost_data"]["cost_usd"] = entry["cost_data"].pop("total_cost_usd")
            stream.write(json.dumps(entry) + "\n")
    assert path.stat().st_size > 3_000_000
    reference = ReportBuilder()
    reference.add_all(events_in(path))
    assert _report_with(path) == reference.result()


def test_exact_sums_survive_folding() -> None:
    """Pending floats folded into exact units give the correctly rounded sum (math.fsum), in any order."""
    values = [0.1] * 1000 + [1e16, -1e16, 2.5e-300, 3.0]
    tally = Tally()
    for value in values:
        tally.count_plain("Success", 0, 0, 0, value, abs(value), 0)
        if len(tally.cost_floats) == 7:
            tally.fold()
    assert tally.as_dict()["cost_usd"] == math.fsum(values)
    assert tally.as_dict()["duration_seconds"] == math.fsum(abs(v) for v in values)


def test_table_hides_an_unattributed_remainder_too_small_to_print(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """A per-model breakdown that misses the event total only by float rounding adds no table row."""
    total = 0.1 + 0.2  # 0.30000000000000004: the breakdown's 0.3 leaves ~5e-17 unattributed
    cost = {
        "total_cost_usd": total,
        "models": {"m": {"cost_usd": 0.3, "input_tokens": 3, "output_tokens": 1}},
    }
    log_task(event_log, cost_data=cost)
    table = run_cli(capsys, "report", str(event_log.path))
    assert table.code == 0
    assert "(unattributed)" not in table.out
    document = run_cli(capsys, "report", "--format", "json", str(event_log.path))
    models = {row["model_name"]: row for row in json.loads(document.out)["overall"]["by_model"]}
    assert models["(unattributed)"]["cost_usd"] == pytest.approx(total - 0.3, abs=1e-15)
