"""`?`: the keys, the marks and the order of the queue."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]Keys[/b]
  y        match: these records are the same customer (the pair is linked, method review)
  n        no match: pair — they are not; conflict — cut the highlighted edge
  s        skip: leave it pending, go to the next pending item
  u        undo this sitting's last decision (an undo line is appended) and go back to it
  /        filter: words to find in ids, fields, source rows; source:NAME, kind:pair|conflict
  ← →      browse the previous / next item, decided or not
  ↑ ↓      conflict: choose the edge to cut · pair: scroll the records
  ?        this help         q  quit (every decision is already saved)

[b]Marks[/b]   = equal (lists: share a value)   ≈ alike by Splink's comparison   ≠ differ
Bars are Splink's match weights: green for a match, red against; a full bar is 16 bits.

[b]Order[/b]   conflicts first (they keep every record of their component unpublished),
then the items most records wait on, then the most probable pair first.

Each decision is appended to decisions.jsonl and fsynced when you press the key; the next
`linker run` or `linker publish` applies it. Close this help with Esc or ?."""


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape", "dismiss", "close"),
        Binding("q", "dismiss", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(HELP)  # our own text: the one place markup is parsed
