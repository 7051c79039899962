"""``wflogging report`` on one core and on all of them, beside DuckDB computing the same aggregates.

Generates the events file of ``report_scale.py`` (realistic entries: runs of 20
tasks over 5 agents and 3 models, 1-3 LLM calls with prompts of 0.3-6 KB,
failures, HIL pauses and answers), then runs, each in a fresh process:

* ``report --jobs 1``: ``python -m wflogging report --format json --jobs 1 FILE``;
* ``report --jobs N``: the same with the default (``N`` = the cores available);
* ``duckdb``: DuckDB (all its threads) reading the same file and computing the
  same aggregates: per run, per agent, per task and per model (events, failures,
  pauses, LLM calls, tokens, money and duration sums), overall median and p95,
  the five slowest tasks, failures with their reasons, and prompts sent in more
  than one run. Its JSON reader parses every line whole, as the report's floor does.

For each it prints wall time, CPU time (user + system, worker processes included)
and the peak RSS of the largest process of the tree (``ru_maxrss`` from
``os.wait4``: with ``--jobs N``, N workers and the parent each stay under it).
Each command runs ``--repeat`` times; the summary takes the least wall and CPU
time of each (on a shared machine noise only ever adds time) and the largest RSS, and
the median of each round's ratio to DuckDB's wall time (the commands of a round run
back to back, so the machine's drift mostly cancels out).

Usage::

    python benchmarks/report_vs_duckdb.py                   # a 256 MB file
    python benchmarks/report_vs_duckdb.py --size-mb 1024 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The generator and the timer of the scale benchmark (importable once its directory is on the path).
from report_scale import generate, measure

#: The aggregates of the report, in DuckDB. The events are read once into a table of the fields the
#: report uses (prompts as fingerprints), then grouped every way the report groups them.
DUCKDB_SCRIPT = r'''
import sys
import duckdb

path = sys.argv[1]
con = duckdb.connect()
# DuckDB 1.3 spells a lambda "lambda c: ...", and later versions refuse the older "c -> ...".
lambda_c = "lambda c:" if tuple(map(int, duckdb.__version__.split(".")[:2])) >= (1, 3) else "c ->"
read = """
    CREATE TEMP TABLE e AS
    SELECT workflow_run_id AS run, task_id AS task, agent_name AS agent, status,
           timestamps.start_time_utc AS start_time, timestamps.end_time_utc AS end_time,
           timestamps.duration_seconds AS seconds, cost_data.total_cost_usd AS usd,
           cost_data.tokens.input AS input_tokens, cost_data.tokens.output AS output_tokens,
           len(llm_trace) AS calls,
           list_transform(llm_trace, LAMBDA_C c.model_name) AS models,
           list_transform(llm_trace, LAMBDA_C hash(c.prompt)) AS prompts,
           map_entries(cost_data.models) AS by_model,
           extensions.error.type || ': ' || extensions.error.message AS reason,
           human_feedback.timestamp_utc AS answered
    FROM read_json(?, format = 'newline_delimited', columns = {
        workflow_run_id: 'VARCHAR', task_id: 'VARCHAR', agent_name: 'VARCHAR', status: 'VARCHAR',
        timestamps: 'STRUCT(start_time_utc VARCHAR, end_time_utc VARCHAR, duration_seconds DOUBLE)',
        cost_data: 'STRUCT(total_cost_usd DOUBLE, tokens STRUCT("input" BIGINT, "output" BIGINT),
                   models MAP(VARCHAR, STRUCT(cost_usd DOUBLE, input_tokens BIGINT, output_tokens BIGINT)))',
        llm_trace: 'STRUCT(model_name VARCHAR, prompt VARCHAR)[]',
        extensions: 'STRUCT(error STRUCT(type VARCHAR, message VARCHAR))',
        human_feedback: 'STRUCT(timestamp_utc VARCHAR)'
    })
"""
con.execute(read.replace("LAMBDA_C", lambda_c), [path])
totals = (
    "count(*), count(*) FILTER (status = 'Failed'), count(*) FILTER (status = 'HIL-Paused'), "
    "sum(calls), sum(input_tokens), sum(output_tokens), fsum(usd), fsum(seconds)"
)
queries = [
    f"SELECT {totals}, median(seconds), quantile_disc(seconds, 0.95), min(start_time), max(end_time) FROM e",
    f"SELECT run, {totals}, median(seconds), quantile_disc(seconds, 0.95), min(start_time), max(end_time) "
    "FROM e GROUP BY run",
    f"SELECT agent, {totals} FROM e GROUP BY agent",
    f"SELECT task, any_value(agent), {totals} FROM e GROUP BY task",
    "SELECT m.key, count(*), sum(m.value.input_tokens), sum(m.value.output_tokens), fsum(m.value.cost_usd) "
    "FROM (SELECT unnest(by_model) AS m FROM e) GROUP BY m.key",
    "SELECT model, count(*) FROM (SELECT unnest(models) AS model FROM e) GROUP BY model",
    "SELECT run, task, agent, status, seconds FROM e ORDER BY seconds DESC LIMIT 5",
    "SELECT run, task, agent, end_time, reason FROM e WHERE status = 'Failed'",
    "SELECT run, task, end_time, answered FROM e WHERE status = 'HIL-Paused' OR answered IS NOT NULL",
    "SELECT prompt, count(DISTINCT run) AS runs FROM (SELECT run, unnest(prompts) AS prompt FROM e) "
    "GROUP BY prompt HAVING count(DISTINCT run) > 1",
]
for query in queries:
    con.execute(query).fetchall()
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256, help="size of the generated file (default 256)")
    parser.add_argument("--file", type=Path, help="use this events file instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3)")
    args = parser.parse_args()
    path = args.file or Path(tempfile.gettempdir()) / f"wflogging-bench-{args.size_mb}mb.jsonl"
    if args.file is None and not path.exists():
        started = time.perf_counter()
        events = generate(path, args.size_mb * 1_000_000)
        print(f"generated {path} ({events:,} events) in {time.perf_counter() - started:.1f}s")
    size_mb = path.stat().st_size / 1e6
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"file: {size_mb:,.0f} MB; python {sys.version.split()[0]}; {cores} cores available; {_load()}")
    python = sys.executable
    report = [python, "-m", "wflogging", "report", "--format", "json"]
    runs = {
        "report --jobs 1": [*report, "--jobs", "1", str(path)],
        f"report --jobs {cores} (default)": [*report, str(path)],
        "duckdb": [python, "-c", DUCKDB_SCRIPT, str(path)],
    }
    with tempfile.TemporaryDirectory() as scratch:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = os.path.join(scratch, "pycache")  # as an installed package has one
        one_line = Path(scratch) / "one.jsonl"
        with path.open("rb") as source:
            one_line.write_bytes(source.readline())
        measure([*report, str(one_line)], env)  # warms the bytecode cache (untimed)
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, command in runs.items():
                wall, cpu, rss = measure(command, env)
                figures[name].append((wall, cpu, rss))
                print(f"{name:>24}: wall {wall:6.2f} s  cpu {cpu:6.2f} s  peak RSS {rss:7.1f} MB")
    print(f"\nleast of {args.repeat} (RSS: largest), {size_mb:,.0f} MB; {_load()}:")
    print("| command | wall s | CPU s | peak RSS MB | RSS MB per GB | wall / DuckDB's, same round |")
    print("|---|---:|---:|---:|---:|---|")
    duckdb = figures["duckdb"]
    for name, rounds in figures.items():
        wall = min(item[0] for item in rounds)
        cpu = min(item[1] for item in rounds)
        rss = max(item[2] for item in rounds)
        paired = "" if name == "duckdb" else _paired(rounds, duckdb)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {rss / (size_mb / 1000):.0f} | {paired} |")
    if args.file is None and not args.keep:
        path.unlink()


def _paired(rounds: list[tuple[float, float, float]], duckdb: list[tuple[float, float, float]]) -> str:
    """The median (and range) of the wall-time ratios to DuckDB's run in the same round.

    The machine's speed drifts from minute to minute; runs taken back to back share most of
    it, so their ratio moves less than either's least time.
    """
    ratios = sorted(mine[0] / theirs[0] for mine, theirs in zip(rounds, duckdb, strict=True))
    return f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def _load() -> str:
    """The load average: other work on the machine takes cores from the parallel runs."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
