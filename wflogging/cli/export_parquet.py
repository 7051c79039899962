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
file per partition, named by a digest of its keys: exporting the same events
again writes nothing and leaves every file as it was. Each file is written
under a temporary name (starting with a dot, which readers skip), flushed to
disk and then renamed, so a reader or a crash never sees half a file; the
tables are written one after the other, and an export cut short is completed
by running it again. One export at a time per directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from wflogging.cli.inputs import InputError, Progress, check_inputs
from wflogging.cli.sql import expand_inputs, one_line, warn_unreadable
from wflogging.cli.tables import (
    TABLES,
    column_names,
    create_views,
    load_duckdb,
    stage_tables,
    staging_directory,
)

__all__ = ["NULL_PARTITION", "export_parquet"]

#: The partition of rows with no date, as Hive, Spark, DuckDB and pyarrow name it (and read it as NULL).
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"

#: The order of the rows in a file.
_ORDER = {
    "events": "start_time_utc, event_id",
    "llm_calls": "start_time_utc, event_id, call_sequence",
    "human_feedback": "start_time_utc, event_id",
}


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
        staged = stage_tables(files, scratch, Progress(), on_torn=each_torn)
        total_torn(staged.unreadable)
        if staged.skipped:
            sys.stderr.write(
                f"wflogging: warning: {staged.skipped} entries are not task events: not exported\n"
            )
        # A database file in the scratch directory, so DuckDB can spill what does not fit in memory.
        connection = duckdb.connect(os.path.join(scratch, "export.duckdb"))
        try:
            create_views(connection, staged)
            for table in TABLES:
                new, present = _export_table(connection, table, os.path.join(directory, table))
                written[table] = new
                print(f"{table}: wrote {new} rows ({present} already in {os.path.join(directory, table)})")
        except duckdb.Error as exc:
            raise InputError(f"{directory}: {one_line(str(exc))}") from None
        finally:
            connection.close()
    return written


def _check_target(directory: str) -> None:
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"{directory}: exists and is not a directory")
    os.makedirs(directory, exist_ok=True)


def _export_table(connection: Any, table: str, root: str) -> tuple[int, int]:
    """Write ``table``'s rows not yet under ``root``; returns (rows written, rows already there)."""
    columns = [name for name in column_names(table, parquet=True) if name != "date"]
    key = _key_expression(table, columns)
    staged = f"new_{table}"
    # The rows, unique by key (the first one read wins), with their partition.
    connection.execute(
        f"CREATE TABLE {staged} AS SELECT {', '.join(columns)}, date, {key} AS _key "
        f"FROM (SELECT *, row_number() OVER () AS _ordinal FROM {table}) "
        "QUALIFY row_number() OVER (PARTITION BY _key ORDER BY _ordinal) = 1"
    )
    written = present = 0
    dates = [
        row[0] for row in connection.execute(f"SELECT DISTINCT date FROM {staged} ORDER BY date").fetchall()
    ]
    for day in dates:
        partition = os.path.join(root, f"date={NULL_PARTITION if day is None else day.isoformat()}")
        where = "date IS NULL" if day is None else f"date = DATE '{day.isoformat()}'"
        existing = _parquet_files(partition)
        if existing:
            before = _count(connection, f"SELECT count(*) FROM {staged} WHERE {where}")
            connection.execute(
                f"DELETE FROM {staged} WHERE {where} AND _key IN "
                f"(SELECT {key} FROM read_parquet({_list(existing)}))"
            )
            after = _count(connection, f"SELECT count(*) FROM {staged} WHERE {where}")
            present += before - after
        rows = _count(connection, f"SELECT count(*) FROM {staged} WHERE {where}")
        if rows:
            _write_partition(connection, staged, columns, where=where, table=table, partition=partition)
            written += rows
    connection.execute(f"DROP TABLE {staged}")
    return written, present


def _write_partition(
    connection: Any, staged: str, columns: list[str], *, where: str, table: str, partition: str
) -> None:
    """One new file of the partition's new rows, named by their keys, written atomically."""
    digest = connection.execute(
        f"SELECT md5(string_agg(_key, '|' ORDER BY _key)) FROM {staged} WHERE {where}"
    )
    name = f"part-{digest.fetchone()[0][:20]}.parquet"
    os.makedirs(partition, exist_ok=True)
    final = os.path.join(partition, name)
    temporary = os.path.join(partition, f".{name}.{os.getpid()}.tmp")
    try:
        # DuckDB writes a column that holds no NULL as "required": each file would have its own schema,
        # which readers that merge files refuse. A CASE it cannot fold makes every column "optional".
        nullable = ", ".join(f"CASE WHEN random() >= 0 THEN {name} END AS {name}" for name in columns)
        connection.execute(
            f"COPY (SELECT {nullable} FROM {staged} WHERE {where} ORDER BY {_ORDER[table]}) "
            f"TO {_string(temporary)} (FORMAT parquet, COMPRESSION zstd)"
        )
        _sync(temporary)
        os.replace(temporary, final)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    _sync(partition)


def _key_expression(table: str, columns: list[str]) -> str:
    """A row's identity: its event id (and call number), else a digest of the whole row."""
    whole_row = f"md5(CAST(to_json(struct_pack({', '.join(f'{c} := {c}' for c in columns)})) AS VARCHAR))"
    if table == "llm_calls":
        return (
            "CASE WHEN event_id IS NOT NULL AND call_sequence IS NOT NULL "
            f"THEN event_id || '#' || call_sequence ELSE {whole_row} END"
        )
    return f"coalesce(event_id, {whole_row})"


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
