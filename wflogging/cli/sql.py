"""``wflogging sql``: a DuckDB query over event files, on the typed tables of :mod:`wflogging.cli.tables`.

The query sees three views, ``events``, ``llm_calls`` and ``human_feedback``,
over every file named. The answer is printed as an aligned table, CSV or JSON
(an array of objects, JSON columns nested as JSON). DuckDB's own error for a
query it refuses becomes one line on standard error and exit status 2.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from wflogging.cli.inputs import InputError, Progress, check_inputs, expand_inputs
from wflogging.cli.report_parallel import available_cores
from wflogging.cli.tables import create_views, load_duckdb, stage_tables, staging_directory
from wflogging.reader import TornLine
from wflogging.terminal import visible

__all__ = ["FORMATS", "expand_inputs", "run_sql", "warn_unreadable"]

FORMATS = ("table", "csv", "json")

#: Rows fetched from DuckDB at a time (the CSV and JSON outputs stream).
_FETCH_ROWS = 2048

#: Torn lines reported one by one before the rest are only counted (as ``wflogging report`` does).
_TORN_SHOWN = 3


def warn_unreadable(stream: TextIO | None = None) -> tuple[Callable[[TornLine], None], Callable[[int], None]]:
    """A callback for each torn line (the first three are shown), and one for the total at the end."""
    out = stream if stream is not None else sys.stderr
    seen = 0

    def each(item: TornLine) -> None:
        nonlocal seen
        seen += 1
        if seen <= _TORN_SHOWN:
            out.write(
                visible(
                    f"wflogging: warning: {item.source}:{item.line_number}: skipped a torn line at byte "
                    f"{item.offset}: {item.reason}"
                )
                + "\n"
            )

    def total(count: int) -> None:
        if count > _TORN_SHOWN:
            out.write(
                f"wflogging: warning: {count} unreadable lines in all (run wflogging validate for the list)\n"
            )

    return each, total


def run_sql(query: str, paths: Sequence[str], output_format: str, out: TextIO | None = None) -> None:
    """Run ``query`` over the events of ``paths`` and write its answer to ``out`` (standard output).

    Raises :class:`InputError` (one line, exit status 2) when DuckDB is missing,
    an input cannot be read, or DuckDB refuses the query.
    """
    duckdb = load_duckdb("wflogging sql")
    files = expand_inputs(paths)
    check_inputs(files)
    each_torn, total_torn = warn_unreadable()
    with staging_directory() as directory:
        staged = stage_tables(files, directory, Progress(), on_torn=each_torn, jobs=available_cores())
        total_torn(staged.unreadable)
        if staged.skipped:
            sys.stderr.write(
                f"wflogging: warning: {staged.skipped} entries are not task events (no string status or "
                "task_id, or no timestamps object): left out of the tables\n"
            )
        connection = duckdb.connect()
        try:
            create_views(connection, staged)
            try:
                result = connection.execute(query)
            except duckdb.Error as exc:
                raise InputError(one_line(str(exc))) from None
            if result.description is None:
                return
            columns = [column[0] for column in result.description]
            json_columns = {index for index, column in enumerate(result.description) if _is_json(column[1])}
            try:  # (DuckDB computes rows as they are fetched: an error can come here too)
                rows = _fetch(result)
                write_answer(
                    columns, json_columns, rows, output_format, out if out is not None else sys.stdout
                )
            except duckdb.Error as exc:
                raise InputError(one_line(str(exc))) from None
        finally:
            connection.close()


def one_line(message: str) -> str:
    """DuckDB's multi-line message (the query, a caret under the error) on one line."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _is_json(type_code: object) -> bool:
    return str(type_code).upper() == "JSON"


def _fetch(result: Any) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = result.fetchmany(_FETCH_ROWS)
        if not rows:
            return
        yield from rows


def write_answer(
    columns: list[str],
    json_columns: set[int],
    rows: Iterator[tuple[Any, ...]],
    output_format: str,
    out: TextIO,
) -> None:
    """The rows as an aligned ``table``, ``csv`` (a header, then a row per line) or ``json``."""
    if output_format == "csv":
        _write_csv(columns, rows, out)
    elif output_format == "json":
        _write_json(columns, json_columns, rows, out)
    else:
        _write_table(columns, rows, out)


def _write_csv(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if value is None else _text(value) for value in row])


def _write_json(
    columns: list[str], json_columns: set[int], rows: Iterator[tuple[Any, ...]], out: TextIO
) -> None:
    """A JSON array of objects, one per line, written as the rows come."""
    out.write("[")
    for count, row in enumerate(rows):
        item = {
            name: (json.loads(value) if index in json_columns and value is not None else _plain(value))
            for index, (name, value) in enumerate(zip(columns, row, strict=True))
        }
        out.write(("," if count else "") + "\n  " + json.dumps(item, ensure_ascii=False))
    out.write("\n]\n")


def _write_table(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> None:
    """Columns padded to their widest value; numbers aligned right, NULL shown as ``NULL``."""
    values = list(rows)
    # Cells hold logged text (prompts, completions): escaped for the terminal, as every table we print.
    texts = [["NULL" if value is None else visible(_text(value)) for value in row] for row in values]
    numeric = [
        any(value is not None for value in column)
        and all(value is None or _is_number(value) for value in column)
        for column in zip(*values, strict=True)
    ] or [False] * len(columns)
    widths = [max([len(name), *(len(row[index]) for row in texts)]) for index, name in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        )
        return "  ".join(padded).rstrip() + "\n"

    out.write(line(columns))
    out.write("  ".join("-" * width for width in widths) + "\n")
    for row in texts:
        out.write(line(row))
    out.write(f"({len(texts)} row{'' if len(texts) == 1 else 's'})\n")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def _text(value: object) -> str:
    """A value as CSV and the table show it: timestamps as wflogging writes them, nested values as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_plain(value), ensure_ascii=False)
    plain = _plain(value)
    return plain if isinstance(plain, str) else json.dumps(plain)


def _plain(value: object) -> Any:
    """A value DuckDB returned, as JSON data."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dt.datetime):
        return _moment(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _moment(value: dt.datetime) -> str:
    """A TIMESTAMPTZ as wflogging writes timestamps (UTC, ``Z``); a TIMESTAMP without zone as ISO 8601."""
    if value.tzinfo is None:
        return value.isoformat()
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
