"""The ``wflogging`` command: validate, report, show, timeline, sql and export over event files, and a demo.

Every subcommand reads the files named on the command line (``-`` for standard
input; plain, rotated or gzipped JSON Lines). Exit status: 0 on success, 1 when
``validate`` finds an invalid or torn line (or ``show`` finds no event), 2 for
a usage error or an input that cannot be read (one line on standard error,
never a traceback).
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from wflogging import reader
from wflogging.cli.inputs import InputError, Progress, check_inputs, expand_inputs, read_inputs
from wflogging.lines import DEFAULT_MAX_LINE_BYTES
from wflogging.reader import GZIP_RATIO_LIMIT, EventLine, TornLine
from wflogging.terminal import visible

if TYPE_CHECKING:
    from wflogging.cli.report import ReportBuilder, ReportFilter
    from wflogging.cli.reprice import Repricing
    from wflogging.otel import OTelTaskEventHandler
    from wflogging.pricing import PriceTable

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

_FILES_HELP = "event files (.jsonl, rotated, .gz; a quoted glob is expanded); - for standard input"


class _VersionAction(argparse.Action):
    """``--version``, reading the installed version only when asked (``importlib.metadata`` costs ~30 ms)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from wflogging import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``wflogging`` (also used to generate its reference documentation)."""
    parser = argparse.ArgumentParser(
        prog="wflogging",
        description="Check, summarise and inspect wflogging task event files.",
        epilog="Exit status: 0 success, 1 findings (invalid lines, no matching event), 2 error.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check every line against the schema",
        description="Check every line against the schema; report each invalid line (line number, "
        "event id, reasons) and each torn line (byte offset). Exit 0 when all lines are valid, 1 otherwise.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help=_FILES_HELP)
    validate.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    _add_line_limit(validate)
    validate.set_defaults(handler=_validate)

    report = commands.add_parser(
        "report",
        help="tasks, durations, cost, failures and human waits, per run and overall",
        description="Summarise runs: tasks by status, durations (total, median, p95, slowest), cost and "
        "tokens by agent, model and task, LLM calls, failures with reasons, human-in-the-loop pauses "
        "with answers and waits, and where to improve.",
    )
    report.add_argument("files", nargs="+", metavar="FILE", help=_FILES_HELP)
    report.add_argument("--run", metavar="ID", help="only this workflow run (a unique id prefix is enough)")
    report.add_argument(
        "--since", metavar="TIME", help="only tasks started at or after TIME (ISO 8601; UTC if no offset)"
    )
    report.add_argument("--until", metavar="TIME", help="only tasks started before TIME")
    report.add_argument(
        "--format", choices=("table", "markdown", "json"), default="table", help="output format"
    )
    report.add_argument(
        "--prices",
        metavar="PRICES",
        help="also re-price the stored usage with this price table (.json/.toml, as load_prices reads)",
    )
    report.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="processes that read the files, by file and by byte range (default: the cores available; "
        "1 reads in this process); the report is the same whatever N",
    )
    _add_line_limit(report)
    report.set_defaults(handler=_report)

    show = commands.add_parser(
        "show",
        help="one event in full: fields, then each prompt and completion",
        description="Show one event for debugging: its fields, then each LLM call's prompt and "
        "completion, wrapped, with call numbers and models. Select with --event, or --run and --task.",
    )
    show.add_argument("files", nargs="+", metavar="FILE", help=_FILES_HELP)
    show.add_argument("--event", metavar="ID", help="the event id (a prefix is enough)")
    show.add_argument("--run", metavar="ID", help="only this run (an id prefix is enough), with --task")
    show.add_argument("--task", metavar="TASK_ID", help="the task id, e.g. 1.2 (every event of it is shown)")
    show.add_argument("--raw", action="store_true", help="print the stored JSON lines exactly")
    show.add_argument("--width", type=int, default=None, help="wrap width (default: the terminal's, max 100)")
    _add_line_limit(show)
    show.set_defaults(handler=_show)

    timeline = commands.add_parser(
        "timeline",
        help="a self-contained HTML Gantt chart of one run",
        description="Write one run as an HTML page that works offline: tasks by agent over time, "
        "coloured by status, with human waits marked and details on hover or click.",
    )
    timeline.add_argument("files", nargs="+", metavar="FILE", help=_FILES_HELP)
    timeline.add_argument("--run", metavar="ID", help="the run (needed when the files hold several)")
    timeline.add_argument("-o", "--output", metavar="OUT.html", required=True, help="the page to write")
    _add_line_limit(timeline)
    timeline.set_defaults(handler=_timeline)

    sql = commands.add_parser(
        "sql",
        help="query event files with SQL (DuckDB; needs the sql extra)",
        description="Run a DuckDB query over the events of every file named. The query sees three views: "
        "events (one row per entry), llm_calls (one row per LLM call) and human_feedback (one row per "
        "answer), with typed columns (docs: Querying events with SQL). Needs pip install 'wflogging[sql]'.",
    )
    sql.add_argument("query", metavar="QUERY", help='the SQL query, e.g. "SELECT count(*) FROM events"')
    sql.add_argument("files", nargs="+", metavar="FILE", help=_FILES_HELP)
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")
    sql.set_defaults(handler=_sql)

    _add_diff(commands)
    _add_export(commands)
    _add_recover(commands)

    demo = commands.add_parser(
        "demo",
        help="run a small simulated workflow that writes real events, then report on it",
    )
    demo.add_argument(
        "-o",
        "--output",
        default="wflogging-demo.jsonl",
        help="events file to append to (default: %(default)s)",
    )
    demo.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="also export the run as a trace over OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces "
        "(needs the otel extra)",
    )
    demo.set_defaults(handler=_demo)
    return parser


def _add_diff(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    diff = commands.add_parser(
        "diff",
        help="what changed between two runs: cost, tokens, calls, duration, status, prompts",
        usage="wflogging diff [options] BASE NEW FILE...\n"
        "       wflogging diff --baseline-runs N [options] NEW FILE...",
        description="Compare run NEW with run BASE (workflow_run_id prefixes), or with --baseline-runs N "
        "with the median of the N runs that started before NEW: per task and per agent, cost, input and "
        "output tokens, LLM calls, duration and status; tasks newly failing, fixed, added and removed; "
        "prompts changed (by fingerprint). Exit 1, naming what exceeded, when a limit given is exceeded.",
    )
    diff.add_argument(
        "operands", nargs="+", metavar="BASE NEW FILE", help="run id prefixes, then " + _FILES_HELP
    )
    diff.add_argument(
        "--baseline-runs", type=int, metavar="N", help="compare NEW with the median of N runs before it"
    )
    diff.add_argument(
        "--format", choices=("table", "markdown", "json"), default="table", help="output format"
    )
    diff.add_argument(
        "--max-cost-increase", type=float, metavar="PCT", help="exit 1 if cost rose more than PCT %%"
    )
    diff.add_argument(
        "--max-duration-increase", type=float, metavar="PCT", help="exit 1 if duration rose more than PCT %%"
    )
    diff.add_argument("--fail-on-new-failure", action="store_true", help="exit 1 if a task newly fails")
    diff.set_defaults(handler=_diff)


def _add_export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``export``: one subcommand, exactly one target option per call."""
    export = commands.add_parser(
        "export",
        help="send events to another tool: an OpenTelemetry backend, an eval set or Parquet files",
        description="Export the events of FILE... to one target. --otlp-endpoint URL: as OpenTelemetry "
        "spans over OTLP/HTTP (a trace per run, a span per task and per LLM call; needs the otel "
        "extra); exporting a file again creates no duplicate spans, standard OTEL_* variables apply, "
        "exit 0 when the backend accepted every span, 2 otherwise. --evals OUT: the prompt -> "
        "completion pairs of failed or human-rejected tasks (every task with --all) as chat-messages "
        "JSONL. --parquet DIR: the events, llm_calls and human_feedback tables as date-partitioned "
        "Parquet files for a warehouse.",
    )
    export.add_argument("files", nargs="+", metavar="FILE", help=_FILES_HELP)
    export_target = export.add_mutually_exclusive_group(required=True)
    export_target.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="send spans to this OTLP/HTTP traces URL, e.g. http://127.0.0.1:6006/v1/traces",
    )
    export_target.add_argument(
        "--evals",
        metavar="OUT",
        help="write an eval set as JSONL ({messages, metadata} per LLM call); - for stdout",
    )
    export_target.add_argument(
        "--parquet",
        metavar="DIR",
        help="write the tables events, llm_calls and human_feedback as Parquet under DIR, partitioned by "
        "UTC date (DIR/events/date=YYYY-MM-DD/...); exporting the same events again adds nothing "
        "(needs the sql extra)",
    )
    from wflogging.cli.export_otlp import add_otlp_options

    add_otlp_options(export)
    evals = export.add_argument_group("eval set (--evals)")
    evals.add_argument("--all", action="store_true", help="every task, not only failed or rejected ones")
    evals.add_argument("--run", metavar="ID", help="only this run (an id prefix is enough)")
    evals.add_argument("--agent", metavar="NAME", help="only this agent")
    evals.add_argument(
        "--since", metavar="TIME", help="only tasks started at or after TIME (ISO 8601; UTC if no offset)"
    )
    evals.add_argument(
        "--rejected-pattern",
        metavar="REGEX",
        help="what marks a human's answer as a rejection (case-insensitive; default: reject, denied, "
        "declined...)",
    )
    export.set_defaults(handler=_export)


def _add_recover(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    recover = commands.add_parser(
        "recover",
        help="log a Failed event for each task whose process died inside record_task",
        description="Read the open-task journal beside EVENTS_FILE (<EVENTS_FILE>.open/) and append one "
        "Failed event, with the calls it recorded, for each task whose process is gone. Tasks still "
        "running are left alone; running it again writes nothing new.",
    )
    recover.add_argument("events_file", metavar="EVENTS_FILE", help="the events file the tasks log to")
    recover.add_argument("--journal", metavar="DIR", help="the journal directory, if not the default")
    recover.set_defaults(handler=_recover)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    if getattr(args, "max_gzip_ratio", None) is not None:
        reader.GZIP_RATIO_LIMIT = args.max_gzip_ratio  # read as each gzip input is opened
    try:
        return handler(args)
    except InputError as exc:
        _error(str(exc))
    except KeyboardInterrupt:
        _error("interrupted")
    except BrokenPipeError:
        # The reader of our output went away (| head): exit quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        _error(f"{name}{exc.strerror or exc}")
    return EXIT_ERROR


def _add_line_limit(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--max-line-bytes",
        type=int,
        default=DEFAULT_MAX_LINE_BYTES,
        metavar="N",
        help="skip (and count as torn) any line longer than N bytes, so memory stays bounded "
        "(default: %(default)s, 64 MiB)",
    )
    command.add_argument(
        "--max-gzip-ratio",
        type=_positive_int,
        default=GZIP_RATIO_LIMIT,
        metavar="R",
        help="stop reading a gzip input that expands more than R times its compressed size past "
        "the first 64 MiB, so time stays bounded (default: %(default)s; event logs compress ~5-25:1)",
    )


def _error(message: str) -> None:
    sys.stderr.write(f"wflogging: error: {visible(message)}\n")


def _items(
    files: Sequence[str], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[EventLine | TornLine]:
    files = expand_inputs(files)
    check_inputs(files)
    return read_inputs(files, Progress(), max_line_bytes)


def _validate(args: argparse.Namespace) -> int:
    from wflogging.cli.validate import write_findings

    totals = write_findings(
        _items(args.files, args.max_line_bytes), sys.stdout, as_json=args.format == "json"
    )
    if not totals["lines"]:
        raise InputError("no lines to validate (the input holds only blank lines)")
    return EXIT_FINDINGS if totals["invalid"] or totals["torn"] else EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from wflogging.cli.report import ReportFilter, parse_moment
    from wflogging.cli.report_parallel import cycle_collection_paused

    try:
        since = None if args.since is None else parse_moment(args.since)
        until = None if args.until is None else parse_moment(args.until)
    except ValueError as exc:
        raise InputError(f"--since/--until: {exc}") from None
    prices = None if args.prices is None else _load_prices(args.prices)
    report_filter = ReportFilter(run=args.run, since=since, until=until)
    args.files = expand_inputs(args.files)
    check_inputs(args.files)
    with cycle_collection_paused():
        # The report is made and freed while the collector sleeps: the first allocation after it
        # wakes would make it walk every object a report holds (0.03 s on a 1 GB input) for nothing.
        _make_report(args, report_filter, prices)
    return EXIT_OK


def _make_report(args: argparse.Namespace, report_filter: ReportFilter, prices: PriceTable | None) -> None:
    from wflogging.cli.report import ReportBuilder
    from wflogging.cli.report_parallel import available_cores, read_parallel

    builder = ReportBuilder(report_filter)

    def warn_torn(item: TornLine) -> None:
        if builder.unreadable <= 3:
            _warn_torn(item)

    # builder.read parses only the fields the report needs (several times faster than whole entries).
    jobs = 1 if args.jobs == 1 else args.jobs or available_cores()
    read_parallel(
        builder, args.files, jobs, Progress(), on_torn=warn_torn, max_line_bytes=args.max_line_bytes
    )
    torn = builder.unreadable
    if torn > 3:
        _warn(f"{torn} unreadable lines in all (run wflogging validate for the list)")
    repriced = None
    if prices is not None:
        from wflogging.cli.reprice import reprice, selected_entries

        since, until = report_filter.since, report_filter.until
        repriced = reprice(selected_entries(read_inputs(args.files), args.run, since, until), prices)
    _print_report(builder, args.format, repriced, args.files)


def _load_prices(path: str) -> PriceTable:
    from wflogging.pricing import load_prices

    try:
        return load_prices(path)
    except (ValueError, TypeError, ImportError) as exc:
        raise InputError(f"--prices: {exc}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _warn(message: str) -> None:
    sys.stderr.write(f"wflogging: warning: {visible(message)}\n")


def _warn_torn(item: TornLine) -> None:
    _warn(f"{item.source}:{item.line_number}: skipped a torn line at byte {item.offset}: {item.reason}")


def _print_report(
    builder: ReportBuilder,
    output_format: str,
    repriced: Repricing | None = None,
    files: Sequence[str] | None = None,
) -> None:
    head, runs, tail = builder.parts()
    if files is not None:  # the findings, with commands over these files
        from wflogging.cli.improve import findings

        tail["where_to_improve"]["findings"] = findings(builder, tail["overall"], files)
    if output_format == "json":
        _write_json_report(head, runs, tail if repriced is None else {**tail, "repriced": repriced.as_json()})
        return
    from wflogging.cli.report_text import RUN_ROWS, report_document

    # Only the latest runs are listed in a table for people; --format json has them all.
    run_count = len(builder.runs)
    latest = list(collections.deque(runs, maxlen=RUN_ROWS))
    document = report_document({**head, "runs": latest, "run_count": run_count, **tail})
    sys.stdout.write(visible(document.as_markdown() if output_format == "markdown" else document.as_text()))
    if repriced is not None:
        from wflogging.cli.reprice import reprice_section

        sys.stdout.write("\n" + visible(reprice_section(repriced, markdown=output_format == "markdown")))


def _write_json_report(head: dict[str, Any], runs: Iterator[dict[str, Any]], tail: dict[str, Any]) -> None:
    """One JSON document, written a run at a time (the list of runs can be long)."""
    dumps = _json_dumps()
    out = sys.stdout
    out.write("{\n")
    for key, value in head.items():
        out.write(f"  {dumps(key)}: {_nested(dumps(value))},\n")
    out.write('  "runs": [')
    # Written a megabyte at a time: a write per run is a system call per run where standard output
    # is unbuffered (python -u, PYTHONUNBUFFERED), thousands of them for a long report.
    pending: list[str] = []
    pending_chars = 0
    for index, run in enumerate(runs):
        text = ("," if index else "") + "\n    " + _nested(dumps(run), "    ")
        pending.append(text)
        pending_chars += len(text)
        if pending_chars >= _WRITE_CHARS:
            out.write("".join(pending))
            pending.clear()
            pending_chars = 0
    out.write("".join(pending))
    out.write("\n  ],\n")
    out.write(",\n".join(f"  {dumps(key)}: {_nested(dumps(value))}" for key, value in tail.items()))
    out.write("\n}\n")


#: How much of a JSON report is gathered before it is written.
_WRITE_CHARS = 1 << 20


def _nested(text: str, indent: str = "  ") -> str:
    return text.replace("\n", "\n" + indent)


def _json_dumps() -> Callable[[Any], str]:
    """Indented JSON text, with orjson when it is installed (much faster on big reports)."""
    try:
        import orjson
    except ImportError:
        return lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    option = orjson.OPT_INDENT_2

    def dumps(value: Any) -> str:
        return orjson.dumps(value, option=option).decode("utf-8")

    return dumps


def _show(args: argparse.Namespace) -> int:
    from wflogging.cli.show import describe_event, matching_events

    if (args.event is None) == (args.run is None and args.task is None):
        raise InputError("show needs --event ID, or --task TASK_ID (with --run ID to pick one run)")
    if args.event is None and args.task is None:
        raise InputError("show --run ID needs --task TASK_ID")
    width = args.width or min(shutil.get_terminal_size((100, 24)).columns, 100)
    found = 0
    for item in matching_events(
        _items(args.files, args.max_line_bytes), event_id=args.event, run=args.run, task=args.task
    ):
        if args.raw:
            sys.stdout.buffer.write(item.raw + b"\n")
            sys.stdout.flush()
        else:
            sys.stdout.write(("\n" if found else "") + visible(describe_event(item, width)))
        found += 1
        if args.event is not None:
            break  # event ids are unique: stop reading
    if not found:
        what = f"event {args.event}" if args.event else f"task {args.task} in run {args.run}"
        sys.stderr.write(f"wflogging: no {visible(what)} in the given files\n")
        return EXIT_FINDINGS
    return EXIT_OK


def _timeline(args: argparse.Namespace) -> int:
    from wflogging.cli.timeline import collect_run, write_timeline

    run_id, entries = collect_run(_items(args.files, args.max_line_bytes), args.run)
    write_timeline(entries, run_id, args.output)
    print(visible(f"wrote the timeline of run {run_id} ({len(entries)} events) to {args.output}"))
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from wflogging.cli.diff import (
        baseline_before,
        collect_runs,
        diff_runs,
        exceeded_limits,
        find_run,
        render_diff,
    )

    run_count = 1 if args.baseline_runs is not None else 2
    if args.baseline_runs is not None and args.baseline_runs < 1:
        raise InputError("--baseline-runs: N must be at least 1")
    if len(args.operands) <= run_count:
        raise InputError("diff needs BASE NEW FILE... (or --baseline-runs N NEW FILE...)")
    ids, files = args.operands[:run_count], args.operands[run_count:]
    runs = collect_runs(_items(files))
    new = find_run(runs, ids[-1], "NEW")
    base = (
        baseline_before(runs, new, args.baseline_runs) if run_count == 1 else [find_run(runs, ids[0], "BASE")]
    )
    found = diff_runs(runs, new, base)
    exceeded = exceeded_limits(
        found,
        max_cost_increase=args.max_cost_increase,
        max_duration_increase=args.max_duration_increase,
        fail_on_new_failure=args.fail_on_new_failure,
    )
    if args.format == "json":
        sys.stdout.write(_json_dumps()(found.as_json(exceeded)) + "\n")
    else:
        sys.stdout.write(visible(render_diff(found, exceeded, markdown=args.format == "markdown")))
    if exceeded:
        _error_line = "; ".join(exceeded)
        sys.stderr.write(f"wflogging: diff: limits exceeded: {visible(_error_line)}\n")
        return EXIT_FINDINGS
    return EXIT_OK


def _sql(args: argparse.Namespace) -> int:
    from wflogging.cli.sql import run_sql

    run_sql(args.query, args.files, args.format)
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    if args.parquet is not None:
        from wflogging.cli.export_parquet import export_parquet

        export_parquet(args.files, args.parquet)  # expands quoted globs itself
        return EXIT_OK
    args.files = expand_inputs(args.files)
    if args.otlp_endpoint is not None:
        return _export_otlp(args)
    from wflogging.cli.export_evals import export_evals

    return export_evals(args, _items(args.files))


def _export_otlp(args: argparse.Namespace) -> int:
    from wflogging.cli.export_otlp import export_files, write_summary

    try:
        import wflogging.otel  # noqa: F401 - checks for the extra before reading any file
    except ImportError:
        raise InputError(
            "export --otlp-endpoint needs the otel extra: pip install 'wflogging[otel]'"
        ) from None
    summary = export_files(args.files, args.otlp_endpoint, args, progress=Progress())
    if summary.problem is not None:
        _error(f"{summary.problem}; {summary.spans_accepted} of {summary.spans_sent} spans accepted")
        return EXIT_ERROR
    write_summary(summary, args.otlp_endpoint, sys.stdout)
    return EXIT_OK


def _recover(args: argparse.Namespace) -> int:
    from wflogging.cli.recover import run_recover

    run_recover(args.events_file, args.journal, sys.stdout)
    return EXIT_OK


def _otlp_exporters(endpoint: str | None) -> list[OTelTaskEventHandler]:
    if endpoint is None:
        return []
    try:
        from wflogging.otel import OTelTaskEventHandler
    except ImportError:
        raise InputError("--otlp-endpoint needs the otel extra: pip install 'wflogging[otel]'") from None
    # The SDK logs each failed batch itself; the demo says it once, with the URL and the cause.
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    return [OTelTaskEventHandler(endpoint, capture_content=True, announce_failures=False)]


class _FailureLines(logging.Handler):
    """Keeps the message of each failure record (its traceback stays out of the demo's output)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _demo(args: argparse.Namespace) -> int:
    from wflogging.cli.report import ReportBuilder, ReportFilter
    from wflogging.demo import run_demo

    exporters = _otlp_exporters(args.otlp_endpoint)
    # Why a task failed is not in its event (the SOP has no field for it): record_task logs it
    # on <logger>.failures, which the demo shows as an orchestrator's console would.
    reasons = _FailureLines()
    failures = logging.getLogger("wflogging.demo.orchestrator.failures")
    failures.addHandler(reasons)
    try:
        run_id = run_demo(args.output, also_to=exporters)
    finally:
        failures.removeHandler(reasons)
        for exporter in exporters:
            exporter.close()  # sends what is still queued
    print(f"wrote run {run_id} to {args.output}")
    for line in reasons.lines:
        print(f"  {failures.name}: {visible(line)}")
    print()
    export_failed = False
    for exporter in exporters:
        delivery = exporter.delivery
        if delivery.problem is None and delivery.accepted:
            print(
                f"exported run {run_id} as trace {run_id.replace('-', '')} to {args.otlp_endpoint}: "
                f"{delivery.accepted} spans accepted\n"
            )
        else:
            export_failed = True
            _error(f"{delivery.problem or 'nothing was exported'}; the events file has the whole run")
    builder = ReportBuilder(ReportFilter(run=run_id))
    check_inputs([args.output])
    builder.read([args.output], Progress())
    _print_report(builder, "table", files=[args.output])
    print(
        f"Next: wflogging show --run {run_id[:8]} --task <TASK_ID> {args.output}\n"
        f"      wflogging timeline --run {run_id[:8]} -o timeline.html {args.output}"
    )
    return EXIT_ERROR if export_failed else EXIT_OK
