"""Plain-text and Markdown tables, hand-written so the command needs no dependencies."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = ["Document", "Table", "money", "seconds", "short_id"]


@attrs.frozen
class Table:
    """Rows of cells under a header; ``numeric`` columns are right-aligned."""

    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    numeric: frozenset[int] = frozenset()


@attrs.define
class Document:
    """A report as headings, paragraphs and tables, rendered as terminal text or Markdown."""

    blocks: list[tuple[str, object]] = attrs.field(factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append((f"h{level}", text))

    def line(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()
    ) -> None:
        self.blocks.append(("table", Table(tuple(headers), [tuple(row) for row in rows], frozenset(numeric))))

    def as_text(self) -> str:
        out: list[str] = []
        for kind, value in self.blocks:
            if kind == "table":
                assert isinstance(value, Table)
                out += _text_table(value)
            elif kind.startswith("h"):
                text = str(value)
                if out and out[-1] != "":
                    out.append("")
                out += [text, ("=" if kind == "h1" else "-") * len(text)]
            else:
                out.append(str(value))
        return "\n".join(out).rstrip() + "\n"

    def as_markdown(self) -> str:
        out: list[str] = []
        for kind, value in self.blocks:
            if kind == "table":
                assert isinstance(value, Table)
                out += [*_markdown_table(value), ""]
            elif kind.startswith("h"):
                out += ["#" * int(kind[1:]) + " " + _md_escape(str(value)), ""]
            else:
                out += [_md_escape(str(value)), ""]
        return "\n".join(out).rstrip() + "\n"


def _clean(cell: str) -> str:
    """One line per cell: tables must not break on a newline inside a value."""
    return " ".join(cell.split()) if ("\n" in cell or "\r" in cell or "\t" in cell) else cell


def _text_table(table: Table) -> list[str]:
    rows = [[_clean(cell) for cell in row] for row in table.rows]
    widths = [len(header) for header in table.headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def fmt(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if index in table.numeric else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [fmt(table.headers), fmt(["-" * width for width in widths]), *(fmt(row) for row in rows), ""]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_table(table: Table) -> list[str]:
    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md_escape(_clean(cell)) for cell in cells) + " |"

    rule = ["---:" if index in table.numeric else "---" for index in range(len(table.headers))]
    return [fmt(table.headers), "|" + "|".join(rule) + "|", *(fmt(row) for row in table.rows)]


def money(value: float | None) -> str:
    """US dollars, with enough digits for cents and for fractions of a cent."""
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.6f}"


def seconds(value: float | None) -> str:
    """A duration for people: 850ms, 12.5s, 3m 05s, 2h 10m."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.1f}s"
    if value < 3600:
        minutes, rest = divmod(round(value), 60)
        return f"{minutes}m {rest:02d}s"
    hours, rest = divmod(round(value), 3600)
    return f"{hours}h {rest // 60:02d}m"


def short_id(run_id: str) -> str:
    """The first 8 characters of a run id (what ``--run`` accepts as a prefix)."""
    return run_id[:8]
