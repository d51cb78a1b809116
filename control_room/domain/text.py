"""Untrusted text (task fields, agent reports) made safe to show: the one place that decides
which characters may reach a terminal or a JSON reader raw.

Dangerous are C0 and C1 controls (a C1 CSI, U+009B, moves a terminal's cursor like ESC [),
the line and paragraph separators U+2028/U+2029 (line breaks to JavaScript and to some
readers of JSON lines) and the bidirectional controls U+202A-U+202E and U+2066-U+2069 (they
reorder what a reader sees, e.g. a file name that reads backwards). In JSON they are written
as \\uXXXX escapes, so the data is unchanged for a parser; on a terminal they are shown as
U+FFFD, so the reader sees that something was there.
"""

from __future__ import annotations

import json
from typing import Any

_C1 = range(0x80, 0xA0)
_SEPARATORS = (0x2028, 0x2029)
# Embeddings, overrides and isolates, and the marks (LRM, RLM, ALM) that also reorder text.
_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)

# json.dumps already escapes C0 (and DEL is harmless to parsers, but not to terminals).
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in (0x7F, *_C1, *_SEPARATORS, *_BIDI)}
_SHOWN_AS_REPLACEMENT = {
    c: "\ufffd" for c in (*range(0x20), 0x7F, *_C1, *_SEPARATORS, *_BIDI) if chr(c) not in "\n\t"
}


def printable(text: str) -> str:
    """Text for a terminal: every control, separator and bidi control (but newline and tab)
    shown as U+FFFD."""
    return text.translate(_SHOWN_AS_REPLACEMENT)


def one_line(text: str) -> str:
    """Text for a single terminal line: like `printable`, and newlines and tabs as spaces."""
    return printable(text.replace("\n", " ").replace("\t", " "))


def escape_json(encoded: str) -> str:
    """JSON text (from json.dumps with ensure_ascii=False) with the dangerous characters
    escaped; only valid on JSON text, where they can occur only inside strings."""
    return encoded.translate(_JSON_ESCAPES)


def json_text(data: Any, *, indent: int | None = None) -> str:
    """`data` as JSON, readable UTF-8, with nothing a terminal or a JSON-lines reader would
    take for a control or a line break."""
    return escape_json(json.dumps(data, ensure_ascii=False, indent=indent))
