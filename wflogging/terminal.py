"""Logged text made safe to print on a terminal: every control character shown, none obeyed.

Prompts, completions, task descriptions and agent names come from models and users. Printed
as they are, an escape sequence in one of them clears the screen, retitles the window, writes
the clipboard (OSC 52), hides text or forges what the operator sees. :func:`visible` shows
each such character the way Python's ``repr`` does (``\\x1b``, ``\\r``, ``\\u202e``), so the
sequence becomes harmless text; only the newline is kept, as a line break.

Shown escaped: the C0 controls (tab included) and DEL, the C1 controls (U+0080-U+009F, which
some terminals obey as escapes), the bidirectional and line-direction marks and overrides
(U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069: "Trojan source"), U+2028/U+2029, and lone
surrogates (which a UTF-8 terminal cannot be sent at all).

Used by every CLI command that prints logged text for people, and by the library's one-line
stderr reports; JSON output (``--format json``, ``show --raw``) stays exact.
"""

from __future__ import annotations

import re
import sys

__all__ = ["say", "visible"]

_HIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _shown(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    if character in "\t\r":
        return repr(character)[1:-1]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character (all but ``\\n``) written out as a ``repr``-style escape."""
    if _HIDDEN.search(text) is None:  # the usual case: one scan, no copy
        return text
    return _HIDDEN.sub(_shown, text)


def say(line: str) -> None:
    """One line on stderr, escaped; never raises (a library's report must not break its caller)."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(visible(line) + "\n")
        stream.flush()
    except Exception:  # nowhere left to say it
        pass
