"""The documentation cannot drift from the code: every example runs, and the site builds clean.

Each page's fenced blocks run in order, in a fresh temporary directory, in a fresh
Python process (so one page's logging configuration cannot leak into another's):

- ```` ```python ```` blocks run in one namespace per page, like cells of a notebook;
- ```` ```sh ```` blocks run with ``bash -euo pipefail`` (``python`` is this interpreter);
- a block preceded by the MyST comment ``% test: file=NAME`` is written to ``NAME``
  instead (a JSON or YAML configuration the next blocks load);
- ``% test: skip`` leaves a block out (needs a network, say; keep these rare);
- ``% test: requires=MODULE[,MODULE]`` skips the page when a module is not installed;
- ``% test: requires-python=3.12`` leaves a block out on older Pythons (the page
  then runs its other blocks);
- a page whose examples log a bad event on purpose says so with ``% test: rejects``
  above that block; on any other page a reject fails the test;
- every ```` ```json ```` block must parse, and ``% test: entry`` before one makes it
  an example entry that must validate against the shipped schema;
- ```` ```text ```` blocks (output, trees) are shown, not run;
- a ```` ```text ```` or ```` ```json ```` block marked ``% test: output`` must equal
  what the block before it printed (stdout), so output shown on a page cannot
  drift either (use it where the output is deterministic).

Afterwards every ``*.jsonl`` events file the page wrote must hold only schema-valid
entries. Any other fence language is refused, so an example cannot dodge the test
by being spelt ```` ```py ````.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

import wflogging

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# The README is the first page users read: its examples are held to the same test.
PAGES = [
    ROOT / "README.md",
    *sorted(path for path in DOCS.rglob("*.md") if "_build" not in path.relative_to(DOCS).parts),
]

RUN_LANGUAGES = frozenset({"python", "sh"})
SHOWN_LANGUAGES = frozenset({"text", "json", "yaml", "toml"})

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
# MyST comment (docs pages) or HTML comment (the README, rendered by GitHub).
_MARKER = re.compile(r"^(?:%\s*test:\s*(?P<words>.*)|<!--\s*test:\s*(?P<html_words>.*?)\s*-->)$")


@attrs.frozen
class Block:
    """A fenced code block of a docs page."""

    page: Path
    line: int  # 1-based line of the first line of code
    language: str
    code: str
    markers: tuple[str, ...]

    def marker_value(self, name: str) -> str | None:
        for marker in self.markers:
            key, _, value = marker.partition("=")
            if key == name:
                return value
        return None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a MyST page (directives such as ```` ```{toctree} ```` excluded)."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        if not info.startswith("{"):
            blocks.append(
                Block(
                    page=page,
                    line=index + 2,
                    language=info.split()[0] if info else "",
                    code="\n".join(lines[index + 1 : end]) + "\n",
                    markers=_markers_above(lines, index),
                )
            )
        index = end + 1
    return blocks


def _markers_above(lines: list[str], fence_index: int) -> tuple[str, ...]:
    """The ``% test: ...`` words on the comment line right above a fence."""
    if fence_index == 0:
        return ()
    match = _MARKER.match(lines[fence_index - 1].strip())
    if match is None:
        return ()
    return tuple((match["words"] or match["html_words"]).split())


ALL_BLOCKS = [block for page in PAGES for block in parse_blocks(page)]

# The runner executes one page's blocks in a fresh interpreter. Python blocks are
# compiled with the page's path and padded to their line, so a traceback points at
# the Markdown line that failed.
_RUNNER = r"""
import contextlib, io, json, subprocess, sys
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
printed = None
for block in blocks:
    where = f"{block['path']}:{block['line']}"
    if block["action"] == "file":
        with open(block["file"], "w", encoding="utf-8") as handle:
            handle.write(block["code"])
    elif block["action"] == "output":
        if printed is None or printed.rstrip() != block["code"].rstrip():
            sys.exit(f"{where}: the block above printed\n{printed}\nbut the page shows\n{block['code']}")
    elif block["action"] == "python":
        code = compile("\n" * (block["line"] - 1) + block["code"], block["path"], "exec")
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                exec(code, namespace)
            finally:
                printed = out.getvalue()
                sys.__stdout__.write(printed)
    else:
        command = ["bash", "-euo", "pipefail", "-c", block["code"]]
        result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        printed = result.stdout
        sys.stdout.write(printed)
        if result.returncode:
            sys.exit(f"{where}: sh block exited with {result.returncode}")
"""


def _runnable(block: Block) -> dict[str, Any] | None:
    if "skip" in block.markers:
        return None
    minimum = block.marker_value("requires-python")
    if minimum and sys.version_info < tuple(int(part) for part in minimum.split(".")):
        return None
    file_name = block.marker_value("file")
    base: dict[str, Any] = {"path": str(block.page), "line": block.line, "code": block.code}
    if file_name is not None:
        return {**base, "action": "file", "file": file_name}
    if "output" in block.markers:
        return {**base, "action": "output"}
    if block.language in RUN_LANGUAGES:
        return {**base, "action": block.language}
    return None


def _page_env(directory: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WFLOGGING_")}
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env["HOME"] = str(directory)
    return env


def _events_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*.jsonl") if not path.name.endswith(".rejects.jsonl"))


RUNNABLE_PAGES = [page for page in PAGES if any(_runnable(b) for b in ALL_BLOCKS if b.page == page)]


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE_PAGES])
def test_page_examples_run(
    page: Path, tmp_path: Path, schema_validator: jsonschema.protocols.Validator
) -> None:
    """Every example on the page runs in order in a fresh directory, and the events it writes validate."""
    blocks = [block for block in ALL_BLOCKS if block.page == page]
    for block in blocks:
        for module in (block.marker_value("requires") or "").split(","):
            if module and importlib.util.find_spec(module) is None:
                pytest.skip(f"{block.where} needs {module}, which is not installed")
    script = tmp_path / "blocks.json"
    runnable = [step for step in map(_runnable, blocks) if step is not None]
    script.write_text(json.dumps(runnable), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(script)],
        cwd=work,
        env=_page_env(work),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"examples of {page.name} failed:\n{result.stdout}\n{result.stderr}"
    if not any("rejects" in block.markers for block in blocks):
        assert "wflogging: rejected" not in result.stderr, f"unexpected reject:\n{result.stderr}"
    invalid = [
        f"{events.name}:{number}: {error.message}"
        for events in _events_files(work)
        for number, line in enumerate(events.read_text(encoding="utf-8").splitlines(), start=1)
        for error in schema_validator.iter_errors(json.loads(line))
    ]
    assert invalid == [], f"{page.name} wrote entries that break the schema"


def test_every_code_block_is_run_written_or_plainly_shown() -> None:
    """No fenced block escapes the example test by an unknown or misspelt language."""
    unknown = [
        f"{block.where}: ```{block.language}"
        for block in ALL_BLOCKS
        if block.language not in RUN_LANGUAGES | SHOWN_LANGUAGES and "skip" not in block.markers
    ]
    assert unknown == [], "fence with python, sh, json, yaml, toml or text (or mark it % test: skip)"


def test_file_markers_name_a_file_and_skips_are_rare() -> None:
    """Config blocks written for the examples name a file, and skipped blocks stay the exception."""
    unnamed = [block.where for block in ALL_BLOCKS if block.marker_value("file") == ""]
    assert unnamed == []
    skipped = [block for block in ALL_BLOCKS if "skip" in block.markers]
    assert len(skipped) <= max(3, len(ALL_BLOCKS) // 20), [block.where for block in skipped]


def test_output_markers_are_on_text_blocks() -> None:
    """``% test: output`` marks shown output (```` ```text ```` or JSON), which is compared, never run."""
    outputs = [block for block in ALL_BLOCKS if "output" in block.markers]
    assert [block.where for block in outputs if block.language not in ("text", "json")] == []


@pytest.mark.parametrize(
    "block",
    [block for block in ALL_BLOCKS if block.language in ("yaml", "toml") and "skip" not in block.markers],
    ids=lambda block: block.where,
)
def test_yaml_and_toml_blocks_parse(block: Block) -> None:
    """A configuration shown on a page (a shipper's, a price table) is at least well-formed."""
    if block.language == "yaml":
        yaml = pytest.importorskip("yaml")
        assert list(yaml.safe_load_all(block.code)), f"{block.where}: empty YAML"
    else:
        toml = pytest.importorskip("tomllib")
        assert toml.loads(block.code), f"{block.where}: empty TOML"


@pytest.mark.parametrize(
    "block",
    [block for block in ALL_BLOCKS if block.language == "json" and "skip" not in block.markers],
    ids=lambda block: block.where,
)
def test_json_blocks_parse(block: Block, schema_validator: jsonschema.protocols.Validator) -> None:
    """A JSON block is JSON (one document, or one per line); one marked ``entry`` is a valid entry."""
    try:
        documents = [json.loads(block.code)]
    except json.JSONDecodeError:
        documents = [json.loads(line) for line in block.code.splitlines() if line.strip()]
    if "entry" in block.markers:
        for document in documents:
            schema_validator.validate(document)


def test_api_reference_covers_every_public_name() -> None:
    """Every name in ``wflogging.__all__`` has an entry in the API reference."""
    reference = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    # ``wflogging.NAME`` only: ``wflogging.otel.NAME`` (and ``automodule``) document submodules.
    pattern = r"^\.\. (?!automodule::)(?:auto)?\w+:: wflogging\.(\w+)(?![.\w])"
    documented = set(re.findall(pattern, reference, flags=re.MULTILINE))
    public = set(wflogging.__all__) - {"__version__"}
    assert sorted(public - documented) == [], "add these names to docs/reference/api.md"
    assert sorted(documented - public) == [], "the API reference documents names that are not public"


def test_docs_build_cleanly_with_warnings_as_errors(tmp_path: Path) -> None:
    """``sphinx-build -W -n`` succeeds, and the schema page shows every field the shipped schema has."""
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    pytest.importorskip("furo")
    output = tmp_path / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "-n",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = _visible_text((output / "concepts" / "schema.html").read_text(encoding="utf-8"))
    for description in _descriptions(wflogging.load_json_schema()):
        assert description in page, f"schema page lacks {description!r}"


def _descriptions(node: object) -> list[str]:
    """Every ``description`` string anywhere in a JSON Schema."""
    if isinstance(node, dict):
        found = [node["description"]] if isinstance(node.get("description"), str) else []
        return found + [text for value in node.values() for text in _descriptions(value)]
    if isinstance(node, list):
        return [text for value in node for text in _descriptions(value)]
    return []


def _visible_text(page: str) -> str:
    """An HTML page's text: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


_CITED_TEST = re.compile(r"`(test_\w+\.py)::(test_\w+)(?:\[[^\]]*\])?`")


def test_guarantees_page_cites_only_tests_that_exist() -> None:
    """Every `file::test` the Guarantees page names as proof is a test function in that file."""
    page = (DOCS / "guarantees.md").read_text(encoding="utf-8")
    cited = set(_CITED_TEST.findall(page))
    assert len(cited) >= 20, "the page should cite the tests that prove it"
    tests_dir = ROOT / "tests"
    missing = [
        f"{file}::{name}"
        for file, name in sorted(cited)
        if not (tests_dir / file).exists()
        or not re.search(rf"^(?:async )?def {name}\(", (tests_dir / file).read_text(encoding="utf-8"), re.M)
    ]
    assert missing == []
