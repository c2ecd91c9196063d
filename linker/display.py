"""Data shown literally: what the CLI and the review app print of record values.

A company may be called `[bold red]x[/]`, carry an ESC byte, a newline or a Unicode
bidirectional control (U+202E turns `gpj.exe` into `exe.jpg` on screen); on screen it must read
exactly so, never style the terminal, move its cursor, start a line of its own or reorder the
characters around it. Control characters become visible `\\xNN` (`\\uNNNN` above U+00FF);
markup is the renderer's business (the CLI escapes it, the review app renders plain Text).
"""

from __future__ import annotations

import re

# C0 and C1 controls (newline and tab included: one value, one line), and the invisible
# characters that reorder text: LRM/RLM/ALM, the embeddings and overrides U+202A-E and the
# isolates U+2066-9.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: object) -> str:
    """`text` as a string with control characters (ESC, BEL, newline, bidi ...) shown as
    `\\xNN` / `\\uNNNN`."""
    return _CONTROL.sub(_escape_one, str(text))


def _escape_one(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
