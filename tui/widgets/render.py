"""Rich Text for the screen. Record values are always literal (never parsed as markup) with
control characters made visible; styles go on spans, so joined pieces keep their own."""

from __future__ import annotations

from rich.text import Text

from linker import visible

# A match weight of this many bits fills a bar.
BAR_FULL = 16.0
_EIGHTHS = " ▏▎▍▌▋▊▉"


def literal(value: object, style: str = "") -> Text:
    """A data value exactly as it is: `[bold]x[/]` shows those characters, ESC shows as \\x1b."""
    if value is None:
        return span("–", "dim")
    return span(visible(value), style)


def span(text: str, style: str = "") -> Text:
    """Our own text in one style that stays on these characters when joined to others."""
    t = Text(text, no_wrap=True, overflow="ellipsis")
    if style:
        t.stylize(style)
    return t


def join(*parts: Text | str) -> Text:
    """Pieces side by side (plain strings are ours, unstyled)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for p in parts:
        out.append_text(p if isinstance(p, Text) else Text(p))
    return out


def wrapping(t: Text) -> Text:
    """The same text, allowed to wrap onto more lines (a long value is folded, never cut)."""
    t.no_wrap, t.overflow = False, "fold"
    return t


def weight_bar(weight: float | None, width: int = 5) -> Text:
    """A small bar for a match weight: green for evidence for a match, red against."""
    if weight is None:
        return Text("")
    cells = min(abs(weight) / BAR_FULL, 1.0) * width
    full, part = int(cells), int((cells - int(cells)) * 8)
    bar = "█" * full + (_EIGHTHS[part] if part and full < width else "")
    style = "green" if weight > 0 else "red" if weight < 0 else "dim"
    return span(f"{weight:+5.1f} {bar.ljust(width)}", style)
