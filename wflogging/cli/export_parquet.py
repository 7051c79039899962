"""``wflogging export --parquet DIR``: the three tables as Parquet files, partitioned by UTC date.

Layout (hive style, which DuckDB, pyarrow, pandas, Spark and Trino read as a
partitioned table)::

    DIR/events/date=2026-03-01/part-<digest>.parquet
    DIR/llm_calls/date=2026-03-01/part-<digest>.parquet
    DIR/human_feedback/date=2026-03-01/part-<digest>.parquet

The columns are those of :data:`wflogging.cli.tables.COLUMNS` without ``source``
and ``line_number`` (where a line was read changes when a file is rotated), and
without ``date``, which the directory name holds. An entry whose timestamps are
not dates goes to ``date=__HIVE_DEFAULT_PARTITION__`` (read as a NULL date).

**Exporting again adds only what is new.** A row's key is its ``event_id`` (with
``call_sequence`` for ``llm_calls``; the whole row where those are missing). The
rows of an export are first made unique by key, then those whose key a
partition already holds are dropped, and what is left is written to one new
file per partition (more for a very large one: ``part-<digest>-1.parquet``, ...),
named by a digest of its keys: exporting the same events again writes nothing
and leaves every file as it was. The files are written in a directory beside
the tables whose name starts with a dot (which readers skip), flushed to disk
and then renamed into their partitions, so a reader or a crash never sees half
a file; the tables are written one after the other, and an export cut short is
completed by running it again, which also removes the scratch directories the
interrupted one left. One export at a time per directory.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from wflogging.cli.inputs import InputError, Progress, check_inputs, expand_inputs
from wflogging.cli.report_parallel import available_cores
from wflogging.cli.sql import one_line, warn_unreadable
from wflogging.cli.tables import (
    ORDINAL,
    TABLES,
    column_names,
    create_views,
    load_duckdb,
    read_staged,
    stage_tables,
    staging_directory,
)

__all__ = ["NULL_PARTITION", "export_parquet"]

#: The partition of rows with no date, as Hive, Spark, DuckDB and pyarrow name it (and read it as NULL).
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"

#: Rows per Parquet row group. DuckDB's default (122,880) holds that many rows in memory for every
#: partition being written, several hundred megabytes of prompts each for llm_calls.
_ROW_GROUP_ROWS = 8192

#: DuckDB's memory for an export (its default is most of the machine's): past it, it spills to its
#: database file in the scratch directory, so an export of any size runs in about this much.
_MEMORY_LIMIT = "384MB"


def export_parquet(paths: Sequence[str], directory: str) -> dict[str, int]:
    """Export the events of ``paths`` to ``directory``; returns the rows written per table.

    Prints one line per table (rows written, rows already there) on standard output.
    """
    duckdb = load_duckdb("wflogging export --parquet")
    files = expand_inputs(paths)
    check_inputs(files)
    _check_target(directory)
    each_torn, total_torn = warn_unreadable()
    written: dict[str, int] = {}
    with staging_directory() as scratch:
        staged = stage_tables(files, scratch, Progress(), on_torn=each_torn, jobs=available_cores())
        total_torn(staged.unreadable)
        if staged.skipped:
            sys.stderr.write(
                f"wflogging: warning: {staged.skipped} entries are not task events: not exported\n"
            )
        # A database file in the scratch directory, so DuckDB can spill what does not fit in memory.
        connection = duckdb.connect(os.path.join(scratch, "export.duckdb"))
        try:
            create_views(connection, staged)  # (the status ENUM; the rows are read with their order)
            connection.execute(f"SET memory_limit = '{_MEMORY_LIMIT}'")
            connection.execute(
                "SET preserve_insertion_order = false"
            )  # (the rows are ordered where it matters)
            for table in TABLES:
                staged_from = read_staged(staged, table)
                new, present = _export_table(connection, staged_from, table, os.path.join(directory, table))
                written[table] = new
                print(f"{table}: wrote {new} rows ({present} already in {os.path.join(directory, table)})")
        except duckdb.Error as exc:
            raise InputError(f"{directory}: {one_line(str(exc))}") from None
        finally:
            connection.close()
    return written


def _check_target(directory: str) -> None:
    """Make ``directory``, and remove what an export that was killed left there (its scratch directories)."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"{directory}: exists and is not a directory")
    os.makedirs(directory, exist_ok=True)
    for table in TABLES:  # (one export at a time per directory: no other export is using them)
        for stale in glob.glob(os.path.join(glob.escape(directory), f".{table}.export-*")):
            shutil.rmtree(stale, ignore_errors=True)


def _export_table(connection: Any, staged_from: str, table: str, root: str) -> tuple[int, int]:
    """Write ``table``'s rows not yet under ``root``; returns (rows written, rows already there).

    The rows are read once for their keys (a small table: place, date, key), the
    keys made unique, those already in their partition dropped (the existing files
    of the partitions touched are read once, for their keys only), and the rows
    left are read again and written with DuckDB's partitioned COPY, streaming: the
    prompts are never held in memory, whatever the number of rows or partitions.
    """
    columns = [name for name in column_names(table, parquet=True) if name != "date"]
    key = _key_expression(table, columns)
    keys = f"keys_{table}"
    connection.execute(f"CREATE TABLE {keys} AS SELECT {ORDINAL}, date, {key} AS _key FROM {staged_from}")
    # The first row read of each key (the same event in two input files is one row).
    connection.execute(
        f"DELETE FROM {keys} WHERE {ORDINAL} NOT IN (SELECT min({ORDINAL}) FROM {keys} GROUP BY _key)"
    )
    unique = _count(connection, f"SELECT count(*) FROM {keys}")
    dates = [row[0] for row in connection.execute(f"SELECT DISTINCT date FROM {keys}").fetchall()]
    existing = [path for day in dates for path in _parquet_files(_partition(root, day))]
    if existing:
        connection.execute(
            # (DuckDB computes a CASE branch only for the rows that take it: no file is read whole for the
            # digest of rows that have their ids.)
            f"DELETE FROM {keys} WHERE _key IN (SELECT {key} FROM read_parquet({_list(existing)}))"
        )
    written = _count(connection, f"SELECT count(*) FROM {keys}")
    if written:
        _write_partitions(connection, staged_from, keys, columns, root)
    connection.execute(f"DROP TABLE {keys}")
    return written, unique - written


def _write_partitions(connection: Any, staged_from: str, keys: str, columns: list[str], root: str) -> None:
    """The rows of ``keys`` as one file per partition, named by a digest of their keys, renamed into place."""
    digests = dict(
        connection.execute(
            f"SELECT date, md5(string_agg(_key, '|' ORDER BY _key)) FROM {keys} GROUP BY date"
        ).fetchall()
    )
    # Written beside the tables (the same file system, so a rename moves a file), under a dot name that
    # readers skip; every file is flushed before it is renamed, so no reader sees half of one.
    scratch = os.path.join(os.path.dirname(root), f".{os.path.basename(root)}.export-{os.getpid()}")
    try:
        # DuckDB writes a column that holds no NULL as "required": each file would have its own schema,
        # which readers that merge files refuse. A CASE it cannot fold makes every column "optional".
        nullable = ", ".join(f"CASE WHEN random() >= 0 THEN {name} END AS {name}" for name in columns)
        connection.execute(
            f"COPY (SELECT {nullable}, date FROM {staged_from} "
            f"WHERE {ORDINAL} IN (SELECT {ORDINAL} FROM {keys})) TO {_string(scratch)} "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {_ROW_GROUP_ROWS}, PARTITION_BY (date))"
        )
        for day, digest in sorted(digests.items(), key=lambda item: (item[0] is None, item[0])):
            written = _partition(scratch, day)
            partition = _partition(root, day)
            os.makedirs(partition, exist_ok=True)
            for number, name in enumerate(sorted(os.listdir(written))):
                source = os.path.join(written, name)
                _sync(source)
                suffix = f"-{number}" if number else ""
                os.replace(source, os.path.join(partition, f"part-{digest[:20]}{suffix}.parquet"))
            _sync(partition)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _partition(root: str, day: dt.date | None) -> str:
    return os.path.join(root, f"date={NULL_PARTITION if day is None else day.isoformat()}")


def _key_expression(table: str, columns: list[str]) -> str:
    """A row's identity: its event id (and call number), else a digest of the whole row."""
    return f"CASE WHEN {_ids_present(table)} THEN {_ids(table)} ELSE {_whole_row(columns)} END"


def _ids_present(table: str) -> str:
    return (
        "event_id IS NOT NULL AND call_sequence IS NOT NULL"
        if table == "llm_calls"
        else "event_id IS NOT NULL"
    )


def _ids(table: str) -> str:
    return "event_id || '#' || call_sequence" if table == "llm_calls" else "event_id"


def _whole_row(columns: list[str]) -> str:
    return f"md5(CAST(to_json(struct_pack({', '.join(f'{c} := {c}' for c in columns)})) AS VARCHAR))"


def _parquet_files(partition: str) -> list[str]:
    try:
        names = os.listdir(partition)
    except FileNotFoundError:
        return []
    return sorted(
        os.path.join(partition, name)
        for name in names
        if name.endswith(".parquet") and not name.startswith(".")
    )


def _count(connection: Any, query: str) -> int:
    row = connection.execute(query).fetchone()
    return int(row[0]) if row is not None else 0


def _list(paths: list[str]) -> str:
    return "[" + ", ".join(_string(path) for path in paths) + "]"


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sync(path: str) -> None:
    """Flush a file (or a directory's entries) to disk, so a rename is never of half-written data."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
