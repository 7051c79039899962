"""Sphinx extension: render wflogging's shipped JSON Schema into the docs at build time.

``{wflogging-schema}`` renders every field of the schema (path, type, whether it is
required, description and constraints) as a table, then the formats and the
cross-field rules; ``{wflogging-schema-json}`` shows the schema file itself. Both
read :func:`wflogging.load_json_schema` when the docs are built, so the schema page
cannot drift from the schema the package ships.

The walk over the schema (:func:`schema_rows`) is a pure function, separate from the
docutils node building, so it can be tested without Sphinx.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

import attrs
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.typing import ExtensionMetadata

import wflogging


@attrs.frozen
class SchemaRow:
    """One field of the schema as the docs show it."""

    path: str
    type: str
    required: bool
    description: str
    constraints: tuple[str, ...]


def resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with a local ``$ref`` merged in (the node's own keywords win)."""
    resolved = dict(node)
    reference = resolved.pop("$ref", None)
    if reference is None:
        return resolved
    prefix = "#/$defs/"
    if not reference.startswith(prefix):
        raise ValueError(f"unsupported $ref {reference!r}: only {prefix}<name> is rendered")
    target = dict(root["$defs"][reference[len(prefix) :]])
    target.pop("description", None)  # the format's own description is shown under Formats
    return {**target, **resolved}


def type_text(node: Mapping[str, Any]) -> str:
    """A short human-readable type: ``string (uuid)``, ``null or object``, ``array of object``."""
    if "enum" in node:
        return "string, one of " + ", ".join(json.dumps(value) for value in node["enum"])
    if "oneOf" in node:
        return " or ".join(type_text(option) for option in node["oneOf"])
    kind = node.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "format" in node:
        text += f" ({node['format']})"
    if kind == "array" and isinstance(node.get("items"), Mapping):
        text += " of " + type_text(node["items"])
    return text


def constraint_texts(node: Mapping[str, Any]) -> tuple[str, ...]:
    """The node's constraints in words (the ones the shipped schema uses)."""
    texts: list[str] = []
    if node.get("minLength") == 1:
        texts.append("must not be empty")
    elif "minLength" in node:
        texts.append(f"at least {node['minLength']} characters")
    if "minimum" in node:
        texts.append(f"minimum {node['minimum']}")
    if "maximum" in node:
        texts.append(f"maximum {node['maximum']:g}")
    if node.get("additionalProperties") is False:
        texts.append("no other keys")
    return tuple(texts)


def schema_rows(schema: Mapping[str, Any]) -> list[SchemaRow]:
    """Every field of ``schema``, depth first in the schema's order, with dotted paths."""
    return list(_object_rows(schema, schema, prefix=""))


def _object_rows(node: Mapping[str, Any], root: Mapping[str, Any], prefix: str) -> Iterator[SchemaRow]:
    required = set(node.get("required", ()))
    for name, raw in node.get("properties", {}).items():
        field = resolve(raw, root)
        path = prefix + name
        yield SchemaRow(
            path=path,
            type=type_text(field),
            required=name in required,
            description=field.get("description", ""),
            constraints=constraint_texts(field),
        )
        yield from _nested_rows(field, root, path)


def _nested_rows(field: Mapping[str, Any], root: Mapping[str, Any], path: str) -> Iterator[SchemaRow]:
    if "properties" in field:
        yield from _object_rows(field, root, path + ".")
    items = field.get("items")
    if isinstance(items, Mapping):
        yield from _object_rows(resolve(items, root), root, path + "[].")
    for option in field.get("oneOf", ()):
        yield from _object_rows(resolve(option, root), root, path + ".")


# --- docutils nodes -----------------------------------------------------------------------


def _paragraph(*children: nodes.Node) -> nodes.paragraph:
    paragraph = nodes.paragraph()
    paragraph.extend(children)
    return paragraph


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[nodes.Node]], widths: Sequence[int]
) -> nodes.table:
    table = nodes.table(classes=["wflogging-schema"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    group.extend(nodes.colspec(colwidth=width) for width in widths)
    head = nodes.thead()
    group += head
    head += _row([_paragraph(nodes.Text(header)) for header in headers])
    body = nodes.tbody()
    group += body
    body.extend(_row(cells) for cells in rows)
    return table


def _row(cells: Sequence[nodes.Node]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell
        row += entry
    return row


def _field_cells(row: SchemaRow) -> list[nodes.Node]:
    description = _paragraph(nodes.Text(row.description))
    if row.constraints:
        description += nodes.Text(" " if row.description else "")
        description += nodes.emphasis(text="(" + "; ".join(row.constraints) + ")")
    return [
        _paragraph(nodes.literal(text=row.path)),
        _paragraph(nodes.Text(row.type)),
        _paragraph(nodes.Text("yes" if row.required else "no")),
        description,
    ]


class SchemaDirective(SphinxDirective):
    """``{wflogging-schema}``: the shipped schema, field by field, then formats and cross-field rules."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        schema = wflogging.load_json_schema()
        fields = _table(
            ("Field", "Type", "Required", "Description"),
            [_field_cells(row) for row in schema_rows(schema)],
            (22, 22, 8, 48),
        )
        formats = _table(
            ("Format", "Description", "Pattern"),
            [
                [
                    _paragraph(nodes.literal(text=name)),
                    _paragraph(nodes.Text(definition.get("description", definition.get("format", "")))),
                    _paragraph(nodes.literal(text=definition.get("pattern", ""))),
                ]
                for name, definition in schema.get("$defs", {}).items()
            ],
            (10, 40, 50),
        )
        rules = nodes.bullet_list()
        for rule in schema.get("x-wflogging-cross-field-rules", ()):
            item = nodes.list_item()
            item += _paragraph(nodes.Text(rule))
            rules += item
        intro = _paragraph(
            nodes.Text(f"{schema['title']} ({schema['$id']}, JSON Schema "),
            nodes.literal(text=schema["$schema"].rsplit("/", 2)[-2]),
            nodes.Text("). " + schema.get("description", "")),
        )
        formats_intro = _paragraph(nodes.Text("Formats used above:"))
        rules_intro = _paragraph(
            nodes.Text("Rules across fields, which JSON Schema cannot state and the library enforces:")
        )
        return [intro, fields, formats_intro, formats, rules_intro, rules]


class SchemaJsonDirective(SphinxDirective):
    """``{wflogging-schema-json}``: the shipped schema file, verbatim, as a JSON code block."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        source = resources.files("wflogging").joinpath("task_event.schema.json")
        text = source.read_text(encoding="utf-8")
        block = nodes.literal_block(text, text, language="json")
        return [block]


def command_helps(parser: argparse.ArgumentParser, width: int = 88) -> list[tuple[str, str]]:
    """``(command line, --help text)`` for the parser and each of its subcommands, in order.

    The help is formatted at a fixed width so the page does not depend on the
    terminal the docs were built in.
    """
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        helps = [(parser.prog, parser.format_help())]
        for action in parser._actions:  # argparse has no public way to list subcommands
            if isinstance(action, argparse._SubParsersAction):
                helps += [(sub.prog, sub.format_help()) for sub in action.choices.values()]
        return helps
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


class CliDirective(SphinxDirective):
    """``{wflogging-cli} module:function``: the ``--help`` of a parser and of each subcommand."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        module_name, _, function_name = self.arguments[0].partition(":")
        parser = getattr(importlib.import_module(module_name), function_name)()
        result: list[nodes.Node] = []
        for prog, help_text in command_helps(parser):
            anchor = nodes.make_id(prog)
            rubric = nodes.rubric(text=prog, ids=[anchor])
            result += [rubric, nodes.literal_block(help_text, help_text, language="text")]
        return result


def setup(app: Sphinx) -> ExtensionMetadata:
    """Register the directives."""
    app.add_directive("wflogging-schema", SchemaDirective)
    app.add_directive("wflogging-cli", CliDirective)
    app.add_directive("wflogging-schema-json", SchemaJsonDirective)
    return {"version": wflogging.__version__, "parallel_read_safe": True, "parallel_write_safe": True}
