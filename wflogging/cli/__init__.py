"""The ``wflogging`` command: validate, report, show and timeline over event files, and a demo.

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

from wflogging.cli.inputs import InputError, Progress, check_inputs, read_inputs
from wflogging.lines import DEFAULT_MAX_LINE_BYTES
from wflogging.reader import EventLine, TornLine
from wflogging.terminal import visible

if TYPE_CHECKING:
    from wflogging.cli.report import ReportBuilder

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

_FILES_HELP = "event files (.jsonl, rotated, .gz); - for standard input"


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
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


def _error(message: str) -> None:
    sys.stderr.write(f"wflogging: error: {visible(message)}\n")


def _items(files: Sequence[str], max_line_bytes: int) -> Iterator[EventLine | TornLine]:
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
    from wflogging.cli.report import ReportBuilder, ReportFilter, parse_moment

    try:
        since = None if args.since is None else parse_moment(args.since)
        until = None if args.until is None else parse_moment(args.until)
    except ValueError as exc:
        raise InputError(f"--since/--until: {exc}") from None
    builder = ReportBuilder(ReportFilter(run=args.run, since=since, until=until))
    check_inputs(args.files)

    def warn_torn(item: TornLine) -> None:
        if builder.unreadable <= 3:
            _warn_torn(item)

    # builder.read parses only the fields the report needs (several times faster than whole entries).
    builder.read(args.files, Progress(), on_torn=warn_torn, max_line_bytes=args.max_line_bytes)
    torn = builder.unreadable
    if torn > 3:
        _warn(f"{torn} unreadable lines in all (run wflogging validate for the list)")
    _print_report(builder, args.format)
    return EXIT_OK


def _warn(message: str) -> None:
    sys.stderr.write(f"wflogging: warning: {visible(message)}\n")


def _warn_torn(item: TornLine) -> None:
    _warn(f"{item.source}:{item.line_number}: skipped a torn line at byte {item.offset}: {item.reason}")


def _print_report(builder: ReportBuilder, output_format: str) -> None:
    head, runs, tail = builder.parts()
    if output_format == "json":
        _write_json_report(head, runs, tail)
        return
    from wflogging.cli.report_text import RUN_ROWS, report_document

    # Only the latest runs are listed in a table for people; --format json has them all.
    run_count = len(builder.runs)
    latest = list(collections.deque(runs, maxlen=RUN_ROWS))
    document = report_document({**head, "runs": latest, "run_count": run_count, **tail})
    sys.stdout.write(visible(document.as_markdown() if output_format == "markdown" else document.as_text()))


def _write_json_report(head: dict[str, Any], runs: Iterator[dict[str, Any]], tail: dict[str, Any]) -> None:
    """One JSON document, written a run at a time (the list of runs can be long)."""
    dumps = _json_dumps()
    out = sys.stdout
    out.write("{\n")
    for key, value in head.items():
        out.write(f"  {dumps(key)}: {_nested(dumps(value))},\n")
    out.write('  "runs": [')
    for index, run in enumerate(runs):
        out.write(("," if index else "") + "\n    " + _nested(dumps(run), "    "))
    out.write("\n  ],\n")
    out.write(",\n".join(f"  {dumps(key)}: {_nested(dumps(value))}" for key, value in tail.items()))
    out.write("\n}\n")


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


def _otlp_exporters(endpoint: str | None) -> list[logging.Handler]:
    if endpoint is None:
        return []
    try:
        from wflogging.otel import OTelTaskEventHandler
    except ImportError:
        raise InputError("--otlp-endpoint needs the otel extra: pip install 'wflogging[otel]'") from None
    return [OTelTaskEventHandler(endpoint, capture_content=True)]


def _demo(args: argparse.Namespace) -> int:
    from wflogging.cli.report import ReportBuilder, ReportFilter
    from wflogging.demo import run_demo

    exporters = _otlp_exporters(args.otlp_endpoint)
    try:
        run_id = run_demo(args.output, also_to=exporters)
    finally:
        for exporter in exporters:
            exporter.close()  # sends what is still queued
    print(f"wrote run {run_id} to {args.output}\n")
    if exporters:
        print(f"exported run {run_id} as trace {run_id.replace('-', '')} to {args.otlp_endpoint}\n")
    builder = ReportBuilder(ReportFilter(run=run_id))
    check_inputs([args.output])
    builder.read([args.output], Progress())
    _print_report(builder, "table")
    print(
        f"Next: wflogging show --run {run_id[:8]} --task <TASK_ID> {args.output}\n"
        f"      wflogging timeline --run {run_id[:8]} -o timeline.html {args.output}"
    )
    return EXIT_OK
