"""Data shown literally: what the CLI and the review app print of record values.

A company may be called `[bold red]x[/]` or carry an ESC byte; on screen it must read exactly
so, never style the terminal or move its cursor. Control characters become visible `\\xNN`;
markup is the renderer's business (the CLI escapes it, the review app renders plain Text).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: object) -> str:
    """`text` as a string with control characters (ESC, BEL, ...) shown as `\\xNN`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
