"""``wflogging report --jobs N``: read by several processes, the same report as one process, byte for byte."""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wflogging
from tests.conftest import EventLog
from tests.test_cli_report import _entries
from tests.test_cli_support import write_workflow
from wflogging.cli.report import ReportBuilder, ReportFilter
from wflogging.cli.report_parallel import (
    FIRST_CHUNK_EXTRA,
    MIN_CHUNK_BYTES,
    PARALLEL_FROM_BYTES,
    plan_chunks,
    read_parallel,
)
from wflogging.reader import EventLine, TornLine

ROOT = Path(__file__).resolve().parent.parent


def one_process(paths: list[str], **options: Any) -> tuple[dict[str, Any], list[TornLine]]:
    builder = ReportBuilder(**options)
    torn: list[TornLine] = []
    builder.read(paths, on_torn=torn.append)
    return builder.result(), torn


def in_parallel(
    paths: list[str], *, jobs: int = 2, chunk_bytes: int, **options: Any
) -> tuple[dict[str, Any], list[TornLine]]:
    builder = ReportBuilder(**options)
    torn: list[TornLine] = []
    read_parallel(builder, paths, jobs, on_torn=torn.append, chunk_bytes=chunk_bytes)
    return builder.result(), torn


def as_text(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)


def many_runs(event_log: EventLog, directory: Path, *, runs: int) -> list[str]:
    """A workflow over several files: the oldest gzipped, a torn line in the middle one."""
    write_workflow(event_log, runs=runs, tasks=14, seed=5)
    lines = event_log.path.read_bytes().splitlines(keepends=True)
    directory.mkdir()
    third = len(lines) // 3
    oldest, middle, live = directory / "a.jsonl.gz", directory / "b.jsonl", directory / "c.jsonl"
    oldest.write_bytes(gzip.compress(b"".join(lines[:third])))
    middle.write_bytes(
        b"".join(lines[third : 2 * third - 4]) + b'{"cut": \n' + b"".join(lines[2 * third - 4 : 2 * third])
    )
    live.write_bytes(b"".join(lines[2 * third :]) + b'{"last line, no newline"')
    return [str(oldest), str(middle), str(live)]


@pytest.mark.parametrize("runs", [3, 30])  # every run detailed; more runs than the report details
@pytest.mark.parametrize("chunk_bytes", [1, 1500, 7000])
def test_the_same_report_whatever_the_chunks(
    event_log: EventLog, tmp_path: Path, runs: int, chunk_bytes: int
) -> None:
    """Runs, medians, p95, the slowest, failures and pauses in order, repeated prompts: all identical."""
    paths = many_runs(event_log, tmp_path / "logs", runs=runs)
    assert len(plan_chunks(paths, 2, chunk_bytes=chunk_bytes)) > 3, "the plain files are cut into ranges"
    expected, expected_torn = one_process(paths)
    got, got_torn = in_parallel(paths, chunk_bytes=chunk_bytes)
    assert as_text(got) == as_text(expected)
    # The same torn lines, with their line numbers and offsets in the whole file.
    assert got_torn == expected_torn
    assert [item.source for item in got_torn] == [paths[1], paths[2]]
    assert expected["runs_detailed"] is (runs <= 20)
    assert expected["where_to_improve"]["repeated_prompts"], "prompts repeat across runs"


def test_filters_are_applied_in_every_process(event_log: EventLog, tmp_path: Path) -> None:
    paths = many_runs(event_log, tmp_path / "logs", runs=6)
    first_run = json.loads(Path(paths[2]).read_text(encoding="utf-8").splitlines()[0])["workflow_run_id"]
    for report_filter in (
        ReportFilter(run=first_run[:8]),
        ReportFilter(since="2026-03-01T09:30:00.000000Z", until="2026-03-01T10:10:00.000000Z"),
    ):
        expected, _ = one_process(paths, report_filter=report_filter)
        got, _ = in_parallel(paths, chunk_bytes=3000, report_filter=report_filter)
        assert as_text(got) == as_text(expected)
        assert expected["entries_filtered_out"] > 0


def test_a_full_prompt_memory_reads_again_in_one_process(event_log: EventLog, tmp_path: Path) -> None:
    """Past prompt_memory distinct prompts in a chunk, merging could differ: the report is read again."""
    paths = many_runs(event_log, tmp_path / "logs", runs=8)
    expected, _ = one_process(paths, prompt_memory=5)
    got, _ = in_parallel(paths, chunk_bytes=3000, prompt_memory=5)
    assert as_text(got) == as_text(expected)
    assert expected["where_to_improve"]["prompts_tracked"] == 5


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.lists(_entries(), min_size=1, max_size=30),
    chunk_bytes=st.integers(1, 3000),
    jobs=st.integers(2, 3),
)
def test_any_entries_any_cut(entries: list[dict[str, Any]], chunk_bytes: int, jobs: int) -> None:
    """Entries in any shape (the fast path and the general one), cut anywhere: the same report, and
    the same findings."""
    from wflogging.cli.improve import findings

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "events.jsonl"
        path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
        files = [str(path)]
        alone = ReportBuilder(detailed_runs=2)
        alone.read(files)
        parallel = ReportBuilder(detailed_runs=2)
        read_parallel(parallel, files, jobs, chunk_bytes=chunk_bytes)
    expected, got = alone.result(), parallel.result()
    assert as_text(got) == as_text(expected)
    assert findings(parallel, got["overall"], files) == findings(alone, expected["overall"], files)


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("report_scale", ROOT / "benchmarks" / "report_scale.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_output_is_byte_identical_across_jobs(tmp_path: Path) -> None:
    """On a file big enough to be read in parallel: the same bytes on stdout and stderr for every --jobs."""
    big = tmp_path / "big.jsonl"
    _generator().generate(big, PARALLEL_FROM_BYTES + (2 << 20))
    with big.open("ab") as out:
        out.write(b'{"torn": \n')
    small = tmp_path / "small.jsonl.gz"
    small.write_bytes(gzip.compress(big.read_bytes()[:300_000].rsplit(b"\n", 1)[0] + b"\n"))
    outputs = {}
    for jobs in ("1", "2", "3"):
        for output_format in ("json", "table"):
            command = ["report", "--jobs", jobs, "--format", output_format, str(small), str(big)]
            done = subprocess.run(
                [sys.executable, "-m", "wflogging", *command],
                capture_output=True,
                timeout=300,
                check=True,
            )
            outputs[jobs, output_format] = (done.stdout, done.stderr)
    for output_format in ("json", "table"):
        assert outputs["2", output_format] == outputs["1", output_format]
        assert outputs["3", output_format] == outputs["1", output_format]
    report = json.loads(outputs["1", "json"][0])
    assert report["unreadable_lines"] == 1
    assert report["overall"]["events"] > 3000
    assert b"skipped a torn line" in outputs["1", "json"][1]


@pytest.mark.parametrize("jobs", [2, 3])
def test_default_chunks_cover_the_file_at_line_starts(tmp_path: Path, jobs: int) -> None:
    """Cut for N processes: every byte in one range, each range from a line start, this process's the
    larger (it has no result to send back)."""
    lines = [b'{"line": %d, "pad": "%s"}\n' % (number, b"x" * (number % 997)) for number in range(120_000)]
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"".join(lines))
    size = big.stat().st_size
    assert size > jobs * MIN_CHUNK_BYTES
    line_starts = set(itertools.accumulate((len(line) for line in lines), initial=0))
    chunks = plan_chunks([str(big)], jobs)
    assert len(chunks) == jobs
    assert [chunk.start for chunk in chunks] == [0, *(chunk.end for chunk in chunks[:-1])]
    assert chunks[-1].end == size
    assert all(chunk.start in line_starts for chunk in chunks)
    first, *others = [chunk.end - chunk.start for chunk in chunks if chunk.end is not None]
    for other in others[:-1]:  # (the last range takes what is left)
        assert first == pytest.approx(other * (1 + FIRST_CHUNK_EXTRA), rel=0.01)


def test_a_partial_report_arrives_whole(event_log: EventLog, tmp_path: Path) -> None:
    """What a worker sends back (its builder, pickled): every slot of every section and tally, for
    runs with their breakdowns and runs without."""
    from wflogging.cli.report_aggregate import Section

    paths = many_runs(event_log, tmp_path / "logs", runs=6)
    for detailed_runs in (2, 100):  # more runs than the report details: the runs keep their totals only
        builder = ReportBuilder(detailed_runs=detailed_runs)
        builder.read(paths)
        assert builder.runs_detailed is (detailed_runs == 100)
        arrived = pickle.loads(pickle.dumps(builder, protocol=pickle.HIGHEST_PROTOCOL))
        for mine, theirs in zip(
            [builder.overall, *builder.runs.values()], [arrived.overall, *arrived.runs.values()], strict=True
        ):
            assert type(theirs) is Section
            assert _slots(theirs) == _slots(mine)
        assert as_text(arrived.result()) == as_text(builder.result())


def _slots(section: Any) -> dict[str, Any]:
    """Every slot's value, the tallies' as theirs (a slot left unset fails here)."""

    def of(instance: Any) -> dict[str, Any]:
        return {name: getattr(instance, name) for name in type(instance).__slots__}

    values = of(section)
    values["total"] = of(section.total)
    values["models"] = {name: of(tally) for name, tally in section.models.items()}
    if section.cells is not None:
        values["cells"] = {key: of(tally) for key, tally in section.cells.items()}
    return values


def test_jobs_must_be_a_positive_number(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "wflogging", "report", "--jobs", "0", str(events)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--jobs: expected a whole number >= 1, got '0'" in done.stderr


def test_the_findings_are_the_same_whatever_the_chunks(event_log: EventLog, tmp_path: Path) -> None:
    """ "Where to improve" (kept by the report in its one pass) is the same from several processes."""
    from wflogging.cli.improve import findings

    paths = many_runs(event_log, tmp_path / "logs", runs=6)
    builder = ReportBuilder()
    builder.read(paths)
    expected = findings(builder, builder.result()["overall"], paths)
    assert expected, "the workflow has findings to compare"
    for chunk_bytes in (1, 1500, 7000):
        parallel = ReportBuilder()
        read_parallel(parallel, paths, 3, chunk_bytes=chunk_bytes)
        assert as_text(parallel.result()) == as_text(builder.result())
        assert findings(parallel, parallel.result()["overall"], paths) == expected


def test_findings_are_the_same_read_or_added(event_log: EventLog, tmp_path: Path) -> None:
    """The inlined hot loop keeps for the findings what the general way keeps (events and prompt keys)."""
    from wflogging.cli.improve import findings
    from wflogging.demo import run_demo

    demo = tmp_path / "demo.jsonl"  # record_task's shape: what the hot loop counts itself
    for _ in range(4):
        run_demo(demo)
    paths = [*many_runs(event_log, tmp_path / "logs", runs=6), str(demo)]
    read = ReportBuilder()
    read.read(paths)
    added = ReportBuilder()
    added.add_all(
        item.entry for path in paths for item in wflogging.read_events(path) if isinstance(item, EventLine)
    )
    found = [findings(builder, builder.result()["overall"], paths) for builder in (read, added)]
    assert found[0]
    assert found[0] == found[1]
