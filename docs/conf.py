"""Sphinx configuration for the wflogging documentation (Markdown pages through MyST)."""

from __future__ import annotations

import sys
from pathlib import Path

import wflogging

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "wflogging"
author = "wflogging contributors"
copyright = "wflogging contributors"
release = wflogging.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "wflogging_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "README.md"]

# MyST: ``:::`` fences for directives, ``{deflist}`` for field lists, and heading anchors so
# ``[text](page.md#heading)`` links are checked at build time (a broken anchor is a warning,
# and the build runs with -W).
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference: docstrings are Google style ("Args:", "Raises:").
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# -n (nitpicky) turns every unresolved cross-reference into a warning, which -W makes an
# error: that is how internal references are checked. The docs are built offline (no
# intersphinx), so references to the standard library and to third-party packages cannot
# resolve; they are listed here, by prefix, instead of being silenced wholesale.
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(logging|os|re|datetime|dt|decimal|uuid|enum|collections\.abc|typing|types|contextvars)\..*",
    ),
    (r"py:.*", r"pythonjsonlogger\..*"),
    (r"py:mod", r"logging(\..*)?"),
    (r"py:exc", r"(ValueError|TypeError|ImportError|OSError)( / (ValueError|TypeError))?"),
    (r"py:meth", r"handleError"),  # logging.Handler's, named without its class
    (r"py:class", r"(opentelemetry\..*|SpanExporter)"),
    # Private names that appear in public signatures and docstrings (not part of the public API).
    (r"py:class", r"_\w+"),
    (r"py:data", r"(MAX_DEPTH|SYSTEM_CLOCK|REDACTION_FAILED)"),  # unqualified in docstrings
    (r"py:class", r"wflogging\.serialize\.EntryDict"),
    # The handlers' shared base class: shown as a base in the reference, not itself public API.
    (r"py:class", r"wflogging\.handler\.TaskEventsOnlyHandler"),
]

# Link check: internal links are checked by the html build above (-n, MyST anchors);
# ``-b linkcheck`` is kept offline by ignoring every external URL.
linkcheck_ignore = [r"https?://.*"]

# Quotes in these pages are code-like (`"Success"` is the exact status string): keep them straight.
smartquotes = False

html_theme = "furo"
html_title = f"wflogging {release}"
html_static_path: list[str] = []
