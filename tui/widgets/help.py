"""`?`: the keys, the marks and the order of the queue."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]Keys[/b]
  y    match: the same customer (the pair is linked, method review)
  n    no match: pair — they are not; conflict — cut the highlighted edge
  s    skip: leave it pending, go to the next pending item
  u    undo this sitting's last decision (an undo line) and go back to it
  c    a note for this item's decision (Enter keeps it, Esc drops it)
  /    filter: words in ids, fields, source rows; source:NAME, kind:pair
  ← →  browse the previous / next item, decided or not
  ↑ ↓  conflict: choose the edge to cut · pair: scroll the records
  ?    this help · q quit (every decision is already saved)

[b]Marks[/b]  = equal (lists: share a value) · ≈ alike by Splink · ≠ differ
Bars are match weights: green for, red against; a full bar is 16 bits.
A pair with a close runner-up shows both accounts; underlined yellow
values are where the two candidates differ. (dim) text is the raw value.

[b]Conflicts[/b]  ✂ marks the proposed cut: the edge whose records agree
clearly least. No ✂: no edge clearly is; choose one. If another path
still joins the accounts after a cut, the item stays and shows it.

[b]Order[/b]  conflicts first (their records in dispute are unpublished),
then the items most records wait on, then the most probable pair.

Each decision is appended to decisions.jsonl and fsynced at the key
press; the next `linker run` or `linker publish` applies it.
Close this help with Esc or ?."""


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape", "dismiss", "close"),
        Binding("q", "dismiss", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(HELP)  # our own text: the one place markup is parsed
