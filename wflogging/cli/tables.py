"""The events as three typed tables (``events``, ``llm_calls``, ``human_feedback``), for DuckDB.

``wflogging sql`` queries them and ``wflogging export --parquet`` writes them.
The lines are read by our own reader (:func:`~wflogging.cli.inputs.read_line_batches`:
plain, rotated and gzipped files, standard input), so a line that cannot be
read is counted and reported as ``wflogging report`` reports it, never fatal,
and each entry is read with the report's own rules (:func:`wflogging.cli.report.read_cost`
for money and tokens), so a sum in SQL is the sum in the report. The rows are
staged as JSON Lines in a temporary directory, one file per table, and DuckDB
reads them with a declared schema (:data:`COLUMNS`): nothing is inferred, so
every file gives the same types.

Rules, where an entry is not in the SOP's shape (a conformant entry is read as it is):

* an entry is a task event, and gives rows, when its ``status`` and ``task_id`` are
  strings and ``timestamps`` an object (as in the report; others are counted as skipped);
* ``duration_seconds`` is the number stated, or 0 when it is missing or negative;
  ``agent_name`` is ``(no agent)`` and ``workflow_run_id`` ``(no run id)`` when
  missing, as the report counts them; a timestamp that is not a date is NULL;
* ``cost_usd``, ``input_tokens``, ``output_tokens`` and ``unpriced_calls`` are what
  the report reads from the free-form ``cost_data`` (see :mod:`wflogging.cli.report`);
  ``cost_usd`` is NULL when the event states no money;
* ``date`` is the UTC date of the start (of the end when the start is not a date).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import attrs

from wflogging import schema
from wflogging.cli.inputs import DECODE_ERRORS, InputError, LineBatch, Progress, read_line_batches, torn_line

# The report's own reading of an entry, so that SQL and the report count the same things.
from wflogging.cli.report_decode import _read_event, any_entry, decode_object
from wflogging.cli.report_parallel import (
    Chunk,
    LineCounter,
    LineNumbers,
    in_processes,
    parallel_chunks,
    range_batches,
    renumbered,
)
from wflogging.reader import TornLine

if TYPE_CHECKING:
    import duckdb

__all__ = ["COLUMNS", "TABLES", "StagedTables", "load_duckdb", "stage_tables"]

#: The tables, in the order they are described.
TABLES = ("events", "llm_calls", "human_feedback")

#: The name of the ENUM type of ``status`` (the SOP's three values, then any other value found).
STATUS_TYPE = "task_status"

#: Each table's columns and their DuckDB types. ``source`` and ``line_number`` say where a row's
#: entry was read (``wflogging sql`` only: a Parquet export leaves them out, see PARQUET_EXCLUDED).
COLUMNS: dict[str, dict[str, str]] = {
    "events": {
        "event_id": "VARCHAR",
        "workflow_run_id": "VARCHAR",
        "task_id": "VARCHAR",
        "task_description": "VARCHAR",
        "agent_name": "VARCHAR",
        "status": STATUS_TYPE,
        "start_time_utc": "TIMESTAMPTZ",
        "end_time_utc": "TIMESTAMPTZ",
        "duration_seconds": "DOUBLE",
        "cost_usd": "DOUBLE",
        "input_tokens": "BIGINT",
        "output_tokens": "BIGINT",
        "unpriced_calls": "BIGINT",
        "llm_calls": "BIGINT",
        "error": "VARCHAR",
        "cost_data": "JSON",
        "human_feedback": "JSON",
        "extensions": "JSON",
        "date": "DATE",
        "source": "VARCHAR",
        "line_number": "BIGINT",
    },
    "llm_calls": {
        "event_id": "VARCHAR",
        "workflow_run_id": "VARCHAR",
        "task_id": "VARCHAR",
        "agent_name": "VARCHAR",
        "status": STATUS_TYPE,
        "start_time_utc": "TIMESTAMPTZ",
        "call_sequence": "BIGINT",
        "model_name": "VARCHAR",
        "prompt": "VARCHAR",
        "completion": "VARCHAR",
        "date": "DATE",
        "source": "VARCHAR",
        "line_number": "BIGINT",
    },
    "human_feedback": {
        "event_id": "VARCHAR",
        "workflow_run_id": "VARCHAR",
        "task_id": "VARCHAR",
        "agent_name": "VARCHAR",
        "status": STATUS_TYPE,
        "start_time_utc": "TIMESTAMPTZ",
        "end_time_utc": "TIMESTAMPTZ",
        "feedback_type": "VARCHAR",
        "content": "VARCHAR",
        "timestamp_utc": "TIMESTAMPTZ",
        "feedback": "JSON",
        "date": "DATE",
        "source": "VARCHAR",
        "line_number": "BIGINT",
    },
}

#: The staged rows' place in the order they were read (the first of two rows with one key wins an export).
ORDINAL = "_ordinal"

#: Columns a Parquet export leaves out: where a line was read changes when a file is rotated or
#: compressed, and the same event must be the same row whatever file it was exported from.
PARQUET_EXCLUDED = ("source", "line_number")

#: DuckDB's own default for the largest JSON object it reads.
_JSON_OBJECT_LIMIT = 16 * 1024 * 1024

_SOP_STATUSES = tuple(member.value for member in schema.Status)
_BIGINT_RANGE = range(-(1 << 63), 1 << 63)


@attrs.define
class StagedTables:
    """The rows of the three tables, staged as JSON Lines files in ``directory``, and what was read."""

    directory: str
    rows: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(TABLES, 0))
    #: Every status found, for the ENUM (the SOP's three first).
    statuses: set[str] = attrs.Factory(set)
    #: Lines that are not a JSON object (torn, not JSON, not UTF-8), as the report counts them.
    unreadable: int = 0
    #: Entries that are not task events (no string status or task id, or no timestamps object).
    skipped: int = 0
    #: The longest staged row of each table, in bytes (DuckDB's JSON reader must be told).
    longest: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(TABLES, 0))
    #: The staged parts: a file per table for each part of the input (one per process that read it).
    parts: int = 1
    #: What to add to the line numbers of the parts read from the middle of a file (part -> lines before).
    line_bases: dict[int, int] = attrs.Factory(dict)

    def path(self, table: str, part: int = 0) -> str:
        return os.path.join(self.directory, f"{table}-{part}.jsonl")

    def paths(self, table: str) -> list[str]:
        return [self.path(table, part) for part in range(self.parts)]

    def add(self, other: StagedTables) -> None:
        """Count the rows and findings of ``other`` (another part) too."""
        for table in TABLES:
            self.rows[table] += other.rows[table]
            self.longest[table] = max(self.longest[table], other.longest[table])
        self.statuses |= other.statuses
        self.unreadable += other.unreadable
        self.skipped += other.skipped

    def status_values(self) -> list[str]:
        return [*_SOP_STATUSES, *sorted(self.statuses - set(_SOP_STATUSES))]


def stage_tables(
    paths: Sequence[str],
    directory: str,
    progress: Progress | None = None,
    *,
    on_torn: Callable[[TornLine], None] | None = None,
    jobs: int = 1,
    chunk_bytes: int | None = None,
) -> StagedTables:
    """Read every line of ``paths`` and write the rows of the three tables to files in ``directory``.

    With ``jobs`` above 1, a large input is read by several processes, by file and
    by byte range, as ``wflogging report`` reads it (:mod:`wflogging.cli.report_parallel`):
    each writes a part, and ``on_torn`` is called for the first torn lines only.
    """
    chunks = parallel_chunks(paths, jobs, chunk_bytes=chunk_bytes)
    if not chunks:
        staged = StagedTables(directory)
        _stage_part(staged, read_line_batches(paths, progress), 0, on_torn)
        return staged
    staged = StagedTables(directory, parts=len(chunks))
    numbers = LineNumbers()
    first_torn: list[TornLine] = []
    work = in_processes(_stage_chunk, chunks, jobs, directory, progress)
    for part, (chunk, (found, torn, lines)) in enumerate(work):
        staged.add(found)
        base = numbers.advance(chunk, lines)
        if base:
            staged.line_bases[part] = base
        first_torn += renumbered(torn, base)
    if on_torn is not None:
        for item in first_torn[:_TORN_KEPT]:
            on_torn(item)
    return staged


#: Torn lines a part reports one by one (the commands show three, then a total).
_TORN_KEPT = 3


def _stage_chunk(part: int, chunk: Chunk, directory: str) -> tuple[StagedTables, list[TornLine], int]:
    """Stage one chunk of the input as part ``part`` (in a worker process, or the first part in this one).

    Returns what it found, its first torn lines and the number of lines it read.
    """
    staged = StagedTables(directory)
    torn: list[TornLine] = []

    def keep(item: TornLine) -> None:
        if len(torn) < _TORN_KEPT:
            torn.append(item)

    items = LineCounter(read_line_batches([chunk.path]) if chunk.end is None else range_batches(chunk))
    _stage_part(staged, items, part, keep)
    return staged, torn, items.count


def _stage_part(
    staged: StagedTables,
    items: Iterable[LineBatch | TornLine],
    part: int,
    on_torn: Callable[[TornLine], None] | None,
) -> None:
    """Stage the rows of ``items`` in the files of part ``part``."""
    decode = decode_object
    dumps = _row_dumper()
    files = {table: open(staged.path(table, part), "wb") for table in TABLES}  # noqa: SIM115 - closed below
    try:
        # A row's ordinal is its place in the reading order: its part's, then its own in the part.
        writers = {table: _RowWriter(stream, dumps, part << _PART_SHIFT) for table, stream in files.items()}
        for item in items:
            if isinstance(item, TornLine):
                _count_torn(staged, item, on_torn)
                continue
            for index, line in enumerate(item.lines):
                try:
                    entry = decode(line)
                except DECODE_ERRORS as exc:
                    _count_torn(staged, torn_line(item, index, exc), on_torn)
                    continue
                _stage_entry(staged, writers, entry, item, index)
        for table, writer in writers.items():
            writer.flush()
            staged.longest[table] = writer.longest
    finally:
        for stream in files.values():
            stream.close()


#: Ordinals of part p start at p << _PART_SHIFT (a part holds fewer than 2**40 rows).
_PART_SHIFT = 40


def _count_torn(
    staged: StagedTables, item: TornLine | None, on_torn: Callable[[TornLine], None] | None
) -> None:
    if item is None:  # a blank line
        return
    staged.unreadable += 1
    if on_torn is not None:
        on_torn(item)


def _stage_entry(
    staged: StagedTables, writers: dict[str, _RowWriter], entry: dict[str, Any], batch: LineBatch, index: int
) -> None:
    rows = entry_rows(entry, batch.source, batch.first_line + index)
    if rows is None:
        staged.skipped += 1
        return
    event, calls, feedback = rows
    staged.statuses.add(event["status"])
    _write_row(staged, writers, "events", event)
    for call in calls:
        _write_row(staged, writers, "llm_calls", call)
    if feedback is not None:
        _write_row(staged, writers, "human_feedback", feedback)


def _write_row(staged: StagedTables, writers: dict[str, _RowWriter], table: str, row: dict[str, Any]) -> None:
    writers[table].write(row)
    staged.rows[table] += 1


def entry_rows(
    entry: dict[str, Any], source: str, line_number: int
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None] | None:
    """The entry's row of ``events``, its rows of ``llm_calls`` and of ``human_feedback``.

    ``None`` when the entry is not a task event (see the module docstring).
    """
    facts = _read_event(any_entry(entry))
    if facts is None:
        return None
    cost = facts.cost
    event_id = entry.get("event_id")
    keys: dict[str, Any] = {
        "event_id": event_id if type(event_id) is str else None,
        "workflow_run_id": facts.run_id,
        "task_id": facts.task_id,
        "agent_name": facts.agent,
        "status": facts.status,
        "start_time_utc": facts.start,
    }
    day = (facts.start or facts.end or "")[:10] or None
    where = {"date": day, "source": source, "line_number": line_number}
    event = {
        **keys,
        "task_description": _string(entry.get("task_description")),
        "end_time_utc": facts.end,
        "duration_seconds": facts.duration,
        "cost_usd": _double(cost.usd),
        "input_tokens": _bigint(cost.input_tokens),
        "output_tokens": _bigint(cost.output_tokens),
        "unpriced_calls": _bigint(cost.unpriced_calls),
        "llm_calls": len(facts.models),
        "error": facts.error,
        "cost_data": entry.get("cost_data"),
        "human_feedback": entry.get("human_feedback"),
        "extensions": entry.get("extensions"),
        **where,
    }
    calls = [
        {
            **keys,
            "call_sequence": _bigint(call.get("call_sequence")),
            "model_name": _string(call.get("model_name")),
            "prompt": _string(call.get("prompt")),
            "completion": _string(call.get("completion")),
            **where,
        }
        for call in _calls(entry.get("llm_trace"))
    ]
    feedback = facts.feedback
    feedback_row = None
    if feedback is not None:
        answered = feedback.get("timestamp_utc")
        feedback_row = {
            **keys,
            "end_time_utc": facts.end,
            "feedback_type": _string(feedback.get("type")),
            "content": _string(feedback.get("content")),
            "timestamp_utc": _instant(answered),
            "feedback": feedback,
            **where,
        }
    return event, calls, feedback_row


def _calls(trace: object) -> Iterable[dict[str, Any]]:
    """The calls the report counts: the objects of ``llm_trace``."""
    if type(trace) is not list:
        return ()
    return [call for call in trace if type(call) is dict]


def _string(value: object) -> str | None:
    return value if type(value) is str else None


def _bigint(value: object) -> int | None:
    """An integer DuckDB's BIGINT holds (an integral float counts, as the report counts tokens)."""
    if type(value) is float and value.is_integer():
        value = int(value)
    return value if type(value) is int and value in _BIGINT_RANGE else None


def _double(value: float | int | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond any double
        return None


def _instant(value: object) -> str | None:
    """A timestamp in wflogging's canonical form (UTC, ``Z``), or ``None`` when it is not one."""
    if type(value) is not str:
        return None
    try:
        return schema.format_instant(schema.instant(value, "timestamp"))
    except ValueError:
        return None


class _RowWriter:
    """Rows as JSON Lines into a file, a few hundred kilobytes per write."""

    def __init__(
        self, stream: IO[bytes], dumps: Callable[[dict[str, Any]], bytes], first_ordinal: int
    ) -> None:
        self._stream = stream
        self._dumps = dumps
        self._ordinal = first_ordinal
        self._pending: list[bytes] = []
        self._size = 0
        self.longest = 0  # the longest row written, in bytes

    def write(self, row: dict[str, Any]) -> None:
        row[ORDINAL] = self._ordinal  # the row's place in the reading order (not a column of the views)
        self._ordinal += 1
        line = self._dumps(row)
        self.longest = max(self.longest, len(line))
        self._pending.append(line)
        self._size += len(line)
        if self._size > 1 << 18:
            self.flush()

    def flush(self) -> None:
        self._stream.write(b"".join(self._pending))
        self._pending.clear()
        self._size = 0


def _row_dumper() -> Callable[[dict[str, Any]], bytes]:
    """One row as a line of JSON: orjson where it can, else the stdlib (big integers, lone surrogates)."""

    def stdlib(row: dict[str, Any]) -> bytes:
        # ASCII escapes keep a lone surrogate (which json.loads lets through) valid JSON text.
        return json.dumps(row, separators=(",", ":")).encode("ascii") + b"\n"

    try:
        import orjson
    except ImportError:
        return stdlib
    option = orjson.OPT_APPEND_NEWLINE

    def dumps(row: dict[str, Any]) -> bytes:
        try:
            return orjson.dumps(row, option=option)
        except TypeError:
            return stdlib(row)

    return dumps


# --- DuckDB ----------------------------------------------------------------------------------------


def load_duckdb(command: str) -> Any:
    """The ``duckdb`` module, or :class:`InputError` saying how to install it."""
    try:
        import duckdb
    except ImportError:
        raise InputError(f"{command} needs DuckDB: pip install 'wflogging[sql]'") from None
    return duckdb


def create_views(connection: duckdb.DuckDBPyConnection, staged: StagedTables) -> None:
    """The three tables as views over the staged files, in a connection set to UTC."""
    connection.execute("SET TimeZone = 'UTC'")
    values = ", ".join(_sql_string(value) for value in staged.status_values())
    connection.execute(f"CREATE TYPE {STATUS_TYPE} AS ENUM ({values})")
    for table in TABLES:
        connection.execute(
            f"CREATE VIEW {table} AS SELECT * EXCLUDE ({ORDINAL}){_line_numbers(staged)} "
            f"FROM {read_staged(staged, table)}"
        )


def _line_numbers(staged: StagedTables) -> str:
    """A REPLACE clause giving the parts read from the middle of a file their whole-file line numbers."""
    if not staged.line_bases:
        return ""
    cases = " ".join(f"WHEN {part} THEN {base}" for part, base in sorted(staged.line_bases.items()))
    return f" REPLACE (line_number + CASE {ORDINAL} >> {_PART_SHIFT} {cases} ELSE 0 END AS line_number)"


def read_staged(staged: StagedTables, table: str) -> str:
    """The ``read_json(...)`` table function that reads ``table``'s staged rows with their types."""
    kinds = {**COLUMNS[table], ORDINAL: "BIGINT"}
    columns = ", ".join(f"{name}: {_sql_string(kind)}" for name, kind in kinds.items())
    # DuckDB's default limit is 16 MB per row; a longer one (a huge prompt) raises it for that table only,
    # as the reader's buffers grow with it.
    largest = max(_JSON_OBJECT_LIMIT, staged.longest[table] + 1)
    return (
        f"read_json([{', '.join(map(_sql_string, staged.paths(table)))}], format = 'newline_delimited', "
        f"columns = {{{columns}}}, maximum_object_size = {largest})"
    )


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def staging_directory() -> tempfile.TemporaryDirectory[str]:
    """A private temporary directory for the staged rows (``TMPDIR`` chooses where)."""
    return tempfile.TemporaryDirectory(prefix="wflogging-tables-")


def column_names(table: str, *, parquet: bool = False) -> Iterator[str]:
    """The columns of ``table`` (those a Parquet export writes, with ``parquet``)."""
    for name in COLUMNS[table]:
        if not (parquet and name in PARQUET_EXCLUDED):
            yield name
