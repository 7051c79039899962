"""``wflogging report --jobs N``: the report's reading spread over processes, then merged.

The inputs are cut into *chunks* in their order: a gzip file (or a pipe) is one
chunk, and a plain file is cut at newlines into byte ranges of about
``chunk_bytes`` (the first, which this process reads, a little larger: a worker
still has its result to send when it is done). Each chunk is read by a process (this one reads the
first) into a :class:`~wflogging.cli.report.ReportBuilder` of its own, exactly as the one-process
report reads it, and the partial builders are merged in the chunks' order
(:func:`merge_builder`), so the report is the one-process report, byte for byte:

* counts and token totals add up; money and durations are exact sums in integer
  units, which do not depend on the order of the additions;
* every duration is kept (medians and p95 need all of them, not the chunks'
  medians), failures and human-in-the-loop events keep their order, and "the
  slowest" ties are broken by the event's position in the whole input (a chunk's
  positions are offset by the events of the chunks before it);
* an (agent, task) group keeps the description of its first event, and a run
  split over chunks is put together again; run sections drop their breakdowns
  when the merged report covers more runs than the report details;
* prompts that repeat across runs: each chunk remembers the runs of its prompts
  and their calls' money, and the runs a prompt was sent in are joined in order. A report
  remembers at most ``prompt_memory`` distinct prompts; when a chunk after the first held that
  many, or one left a prompt out, merging could miss a prompt the one-process report counts, so
  the inputs are then read again in one process (slower, never different);
* the findings' figures ("Where to improve") are the report's own aggregates: each
  event's task, agent, failure and money are kept beside its duration, and retries are
  counted per event, so they merge as the rest does.

Worker processes are forked where that is safe (no other thread runs), else spawned.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import io
import itertools
import math
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import attrs

from wflogging.cli.inputs import BATCH_BYTES, LineBatch, Progress, read_line_batches
from wflogging.cli.report import ReportBuilder, ReportFilter
from wflogging.cli.report_aggregate import Section, Tally
from wflogging.cli.report_findings import merge_retries, renumbered_cells
from wflogging.lines import DEFAULT_MAX_LINE_BYTES
from wflogging.reader import TornLine

if TYPE_CHECKING:
    import concurrent.futures

__all__ = [
    "Chunk",
    "LineCounter",
    "LineNumbers",
    "available_cores",
    "cycle_collection_paused",
    "in_processes",
    "merge_builder",
    "parallel_chunks",
    "plan_chunks",
    "range_batches",
    "read_parallel",
    "renumbered",
]

_Options = TypeVar("_Options")
_Result = TypeVar("_Result")

#: A plain file is cut into ranges of at least this many bytes (smaller ones cost more than they save).
MIN_CHUNK_BYTES = 16 << 20

#: Chunks per process. One: each partial report costs a pickle and a merge, and on a machine shared
#: with other work, more chunks did not even out the processes' progress enough to pay for them.
CHUNKS_PER_JOB = 1

#: How much more of the input this process reads than each worker, as a share of a worker's: a worker's
#: result must still be pickled, sent and unpickled (about a tenth of its reading time on a 1 GB
#: report), so with equal chunks this process would wait for it idle.
FIRST_CHUNK_EXTRA = 0.12

#: Below this many bytes in all, the report is read in one process (starting others costs more).
PARALLEL_FROM_BYTES = 32 << 20

#: Torn lines shown one by one (as ``wflogging report`` shows them); the rest are only counted.
_TORN_SHOWN = 3

_GZIP_MAGIC = b"\x1f\x8b"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


class Chunk(NamedTuple):
    """A part of the inputs read by one worker: a whole file, or the byte range [start, end) of one."""

    path: str
    start: int = 0
    end: int | None = None  # None: the whole file (gzip, or not a regular file)
    #: The number of this chunk among those of its file (a range's line numbers count from its start).
    part: int = 0


class ChunkResult(NamedTuple):
    """What a worker sends back: its builder, the first torn lines it met, and the lines it read."""

    builder: ReportBuilder
    torn: list[TornLine]
    lines: int


def plan_chunks(paths: Sequence[str], jobs: int, *, chunk_bytes: int | None = None) -> list[Chunk]:
    """The inputs cut into chunks, in order: plain files at newlines, the others whole."""
    plain_sizes = {path: _plain_size(path) for path in paths}
    total = sum(size for size in plain_sizes.values() if size is not None)
    if chunk_bytes is not None:
        first_bytes = chunk_bytes
    else:
        # This process's chunk is the larger by what a worker's result costs to send (see FIRST_CHUNK_EXTRA).
        share = total / (jobs * CHUNKS_PER_JOB + FIRST_CHUNK_EXTRA)
        chunk_bytes = max(MIN_CHUNK_BYTES, math.ceil(share))
        first_bytes = max(MIN_CHUNK_BYTES, math.ceil(share * (1 + FIRST_CHUNK_EXTRA)))
    chunks: list[Chunk] = []
    for path in paths:
        size = plain_sizes[path]
        if size is None:
            chunks.append(Chunk(path))
            continue
        starts = _line_starts(path, size, chunk_bytes, first_bytes if not chunks else chunk_bytes)
        ends = [*starts[1:], size]
        chunks += [
            Chunk(path, start, end, part) for part, (start, end) in enumerate(zip(starts, ends, strict=True))
        ]
    return chunks


def _plain_size(path: str) -> int | None:
    """The size of a regular file that is not gzip; ``None`` for gzip, a pipe or a device."""
    with open(path, "rb", buffering=0) as raw:
        if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode) or raw.read(2) == _GZIP_MAGIC:
            return None
        return os.fstat(raw.fileno()).st_size


def _line_starts(path: str, size: int, chunk_bytes: int, first_bytes: int) -> list[int]:
    """Where each range starts: 0, then the first line starting at or after first_bytes and each step
    of chunk_bytes after it."""
    starts = [0]
    with open(path, "rb") as stream:
        target = first_bytes
        while target < size:
            start = _after_newline(stream, target - 1)  # the line that byte target - 1 is in ends there
            if start >= size:
                break
            if start > starts[-1]:
                starts.append(start)
            target = max(start, target) + chunk_bytes
    return starts


def _after_newline(stream: io.BufferedReader, position: int) -> int:
    """The offset just past the first newline at or after ``position`` (the file's size if none).

    Read a block at a time, never a whole line: the line may be longer than the memory the
    report is allowed (a torn line of gigabytes is read past, as the reader does).
    """
    stream.seek(position)
    while True:
        block = stream.read(1 << 16)
        if not block:
            return stream.tell()
        newline = block.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(block)


def read_parallel(
    builder: ReportBuilder,
    paths: Sequence[str],
    jobs: int,
    progress: Progress | None = None,
    *,
    on_torn: Callable[[TornLine], None] | None = None,
    chunk_bytes: int | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> None:
    """:meth:`ReportBuilder.read` over ``jobs`` processes, into ``builder`` (a fresh one).

    Reads in this process when there is one chunk, when the input is small (unless
    ``chunk_bytes`` is given), or when it includes standard input or a pipe. ``on_torn`` is
    called for the first torn lines, in the order of the inputs, as the one-process
    reading calls it for them.
    """
    chunks = parallel_chunks(paths, jobs, chunk_bytes=chunk_bytes)
    if not chunks:
        builder.read(paths, progress, on_torn=on_torn, max_line_bytes=max_line_bytes)
        return
    options = _BuilderOptions.of(builder, max_line_bytes=max_line_bytes)
    first_torn: list[TornLine] = []
    saturated = False
    lines = LineNumbers()
    for index, (chunk, result) in enumerate(in_processes(_read_chunk, chunks, jobs, options, progress)):
        first_torn += renumbered(result.torn, lines.advance(chunk, result.lines))
        part = result.builder
        if (index and len(part._prompts) >= part._prompt_memory) or part.prompts_left_out:
            saturated = True  # a chunk may have left out a prompt that one process counts
        if not saturated:
            merge_builder(builder, part)
    if saturated:  # see the module docstring: read again, in one process
        builder.__init__(builder.filter, **options.keywords())  # type: ignore[misc]
        builder.read(paths, progress, on_torn=on_torn, max_line_bytes=max_line_bytes)
        return
    _replay_torn(builder, first_torn, on_torn)


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector off while the report is read, merged and written (workers included).

    The report holds millions of objects (per-run sections, durations, feedback) and makes no
    reference cycles, yet the collector would walk all of them again and again as they pile up:
    on a 1 GB file that was a tenth of the report's time (``benchmarks/report_vs_duckdb.py``).
    Reference counting still frees everything as usual; forked workers inherit the pause.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def prompt_fingerprints_agree_across_processes() -> bool:
    """Whether a worker fingerprints a prompt as this process does (the repeated prompts are merged).

    xxh3 (the ``fast`` extra) always does; the fallback, ``hash()``, is salted per interpreter,
    so it agrees only in forked workers.
    """
    from wflogging.cli import report_decode

    return report_decode._xxh3 is not None or _start_method() == "fork"


def parallel_chunks(paths: Sequence[str], jobs: int, *, chunk_bytes: int | None = None) -> list[Chunk]:
    """The chunks to read ``paths`` in, or none when they are better read in one process.

    One process reads: standard input and pipes (they can be read only once, in
    order), ``jobs`` of 1, inputs under :data:`PARALLEL_FROM_BYTES` (unless
    ``chunk_bytes`` is given), and inputs that make a single chunk.
    """
    regular = all(path != "-" and stat.S_ISREG(os.stat(path).st_mode) for path in paths)
    if not regular or jobs <= 1:
        return []
    if not prompt_fingerprints_agree_across_processes():
        return []
    if chunk_bytes is None and sum(os.stat(path).st_size for path in paths) < PARALLEL_FROM_BYTES:
        return []
    chunks = plan_chunks(paths, jobs, chunk_bytes=chunk_bytes)
    return chunks if len(chunks) > 1 else []


def in_processes(
    work: Callable[[int, Chunk, _Options], _Result],
    chunks: list[Chunk],
    jobs: int,
    options: _Options,
    progress: Progress | None = None,
) -> Iterator[tuple[Chunk, _Result]]:
    """``work(index, chunk, options)`` for every chunk, in up to ``jobs`` processes; the results in order.

    This process does the first chunk while the workers do the others (rather
    than wait idle); ``work`` and ``options`` must be picklable where workers are spawned.
    """
    done_bytes, total_bytes = 0, sum(os.stat(path).st_size for path in {chunk.path for chunk in chunks})
    with _executor(min(jobs, len(chunks)) - 1) as executor:
        count = len(chunks)
        others = executor.map(work, range(1, count), chunks[1:], [options] * (count - 1))
        results = itertools.chain([work(0, chunks[0], options)], others)
        for chunk, result in zip(chunks, results, strict=True):
            done_bytes += (chunk.end - chunk.start) if chunk.end is not None else os.stat(chunk.path).st_size
            if progress is not None:
                progress.update(f"{len({chunk.path for chunk in chunks})} file(s)", done_bytes, total_bytes)
            yield chunk, result
    if progress is not None:
        progress.finish()


class LineNumbers:
    """Line numbers in the whole file, for chunks read in ranges (whose numbers count from their start)."""

    def __init__(self) -> None:
        self._read: dict[str, int] = {}  # lines in the chunks of a file seen so far

    def advance(self, chunk: Chunk, lines: int) -> int:
        """What to add to the line numbers of ``chunk`` (which holds ``lines``); call in chunk order."""
        before = self._read.get(chunk.path, 0) if chunk.part else 0
        self._read[chunk.path] = before + lines
        return before


def renumbered(torn: list[TornLine], base: int) -> list[TornLine]:
    """Torn lines of a chunk with their line numbers in the whole file (``base``: from LineNumbers)."""
    return [attrs.evolve(item, line_number=item.line_number + base) for item in torn] if base else torn


def _replay_torn(
    builder: ReportBuilder, first_torn: list[TornLine], on_torn: Callable[[TornLine], None] | None
) -> None:
    """Call ``on_torn`` for the first torn lines with the count as the one-process reading has it then."""
    total = builder.unreadable
    builder.unreadable = 0
    for item in first_torn[:_TORN_SHOWN]:
        builder.unreadable += 1
        if on_torn is not None:
            on_torn(item)
    builder.unreadable = total


@attrs.frozen
class _BuilderOptions:
    """How a worker makes its builder: as the caller's."""

    report_filter: ReportFilter
    prompt_memory: int
    detailed_runs: int
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    @classmethod
    def of(cls, builder: ReportBuilder, *, max_line_bytes: int) -> _BuilderOptions:
        return cls(builder.filter, builder._prompt_memory, builder._detailed_runs, max_line_bytes)

    def keywords(self) -> dict[str, int]:
        return {"prompt_memory": self.prompt_memory, "detailed_runs": self.detailed_runs}

    def builder(self) -> ReportBuilder:
        return ReportBuilder(
            self.report_filter, prompt_memory=self.prompt_memory, detailed_runs=self.detailed_runs
        )


def _executor(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    import concurrent.futures  # (imported here: a report of a small input never needs them)
    import multiprocessing

    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context(_start_method())
    )


def _start_method() -> str:
    """``fork`` where that is safe, else ``spawn``."""
    import multiprocessing

    # fork starts a worker in about a millisecond, but forking a process that runs other threads can
    # deadlock the child (Python 3.12 warns): spawn then.
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


# --- in a worker -------------------------------------------------------------------------------------


def _read_chunk(_index: int, chunk: Chunk, options: _BuilderOptions) -> ChunkResult:
    """Read one chunk into a builder of its own (this runs in a worker process)."""
    with cycle_collection_paused():  # (a spawned worker does not inherit the pause)
        return _read_chunk_now(chunk, options)


def _read_chunk_now(chunk: Chunk, options: _BuilderOptions) -> ChunkResult:
    builder = options.builder()
    torn: list[TornLine] = []

    def keep_torn(item: TornLine) -> None:
        if len(torn) < _TORN_SHOWN:
            torn.append(item)

    limit = options.max_line_bytes
    lines = LineCounter(
        read_line_batches([chunk.path], None, limit) if chunk.end is None else range_batches(chunk, limit)
    )
    builder.read_items(lines, on_torn=keep_torn)
    builder._fold()  # the floats still pending, as exact sums: a third less to send back
    return ChunkResult(builder, torn, lines.count)


class LineCounter:
    """Items passed through, counting the lines they hold."""

    def __init__(self, items: Iterator[LineBatch | TornLine]) -> None:
        self._items = items
        self.count = 0

    def __iter__(self) -> Iterator[LineBatch | TornLine]:
        for item in self._items:
            self.count += len(item.lines) if isinstance(item, LineBatch) else 1
            yield item


def range_batches(
    chunk: Chunk, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[LineBatch | TornLine]:
    """The lines of a byte range of a plain file, as :func:`~wflogging.cli.inputs.read_line_batches` reads
    a whole one: line numbers count from the range's first line, offsets from the start of the file."""
    from wflogging.cli.inputs import _file_batches  # the plain-file reader, given a range instead of a file

    assert chunk.end is not None
    with open(chunk.path, "rb", buffering=0) as raw:
        raw.seek(chunk.start)
        ranged = _Range(raw, chunk.end - chunk.start)
        for item in _file_batches(ranged, chunk.path, None, max_line_bytes):  # type: ignore[arg-type]
            if isinstance(item, TornLine):
                yield attrs.evolve(item, offset=item.offset + chunk.start)
            else:
                yield item._replace(offset=item.offset + chunk.start)


class _Range:
    """A raw file that ends ``length`` bytes after its current position (``readinto`` is all it offers)."""

    def __init__(self, raw: io.FileIO, length: int) -> None:
        self._raw = raw
        self._left = length

    def readinto(self, buffer: memoryview) -> int:
        if self._left <= 0:
            return 0
        with buffer[: min(len(buffer), self._left, BATCH_BYTES * 4)] as window:
            got = self._raw.readinto(window) or 0
        self._left -= got
        return got


# --- merging -----------------------------------------------------------------------------------------


def merge_builder(into: ReportBuilder, part: ReportBuilder) -> None:
    """Add ``part`` (the builder of the next chunk of the input) to ``into`` (that of the chunks before).

    ``part`` is taken over, not copied: do not use it afterwards.
    """
    offset = into._count
    into._count += part._count
    into.skipped += part.skipped
    into.filtered_out += part.filtered_out
    into.unreadable += part.unreadable
    renumber = into.cells.renumbering(part.cells)
    _merge_section(into.overall, part.overall, offset, renumber)
    for run_id, section in part.runs.items():
        mine = into.runs.get(run_id)
        if mine is None:
            _offset_slowest(section, offset)
            if not into.runs_detailed:
                section.drop_detail()
            if renumber is not None:
                section.cell_of = renumbered_cells(section.cell_of, renumber)
            into.runs[run_id] = section
        else:
            _merge_section(mine, section, offset, renumber)
    too_many = into.filter.run is None and len(into.runs) > into._detailed_runs
    if into.runs_detailed and (too_many or not part.runs_detailed):
        into.runs_detailed = False
        for section in into.runs.values():
            section.drop_detail()
    _merge_prompts(into, part)
    merge_retries(into.retries, part.retries)


def _offset_slowest(section: Section, offset: int) -> None:
    """Make the positions in ``section``'s slowest tasks (kept as -position) those in the whole input."""
    section.slowest = [(item[0], item[1] - offset, *item[2:]) for item in section.slowest]
    heapq.heapify(section.slowest)


def _merge_section(into: Section, part: Section, offset: int, renumber: list[int] | None) -> None:
    for status, count in part.other_statuses.items():
        into.other_statuses[status] = into.other_statuses.get(status, 0) + count
    into.durations.extend(part.durations)
    into.extend_cells(part, renumber)  # in step with the durations
    if part.first_start is not None and (into.first_start is None or part.first_start < into.first_start):
        into.first_start = part.first_start
    if part.last_end is not None and (into.last_end is None or part.last_end > into.last_end):
        into.last_end = part.last_end
    if into.cells is None or part.cells is None:
        into.drop_detail()
        part.drop_detail()
        into.total.merge(part.total)
        return
    into.total.merge(part.total)
    _merge_tallies(into.cells, part.cells)
    _merge_tallies(into.models, part.models)
    _offset_slowest(part, offset)
    into.slowest = heapq.nlargest(5, [*into.slowest, *part.slowest])
    heapq.heapify(into.slowest)
    into.failures += part.failures
    into.hil += part.hil


def _merge_tallies(into: dict[Any, Tally], part: dict[Any, Tally]) -> None:
    """Add each group's tally; a group keeps the label (task description) of its first event."""
    for key, tally in part.items():
        mine = into.get(key)
        if mine is None:
            into[key] = tally
        else:
            label = mine.label
            mine.merge(tally)
            mine.label = label


def _merge_prompts(into: ReportBuilder, part: ReportBuilder) -> None:
    """Join each prompt's runs and calls: the chunk's follow those of the chunks before, in order."""
    prompts = into._prompts
    for key, seen_here in part._prompts.items():
        seen = prompts.get(key)
        if seen is not None:
            seen.merge(seen_here)
        elif len(prompts) < into._prompt_memory:
            prompts[key] = seen_here
        else:
            into.prompts_left_out = True
    into.prompts_left_out = into.prompts_left_out or part.prompts_left_out
