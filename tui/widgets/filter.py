"""`/`: the filter line at the bottom; `c`: the note line."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """Enter applies the filter (empty: show everything), Esc closes it unchanged."""

    BINDINGS = [Binding("escape", "cancel", "cancel", show=False)]

    class Cancelled(Message):
        pass

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())


class NoteBar(Input):
    """`c`: a note for the next decision on this item; Enter keeps it, Esc drops it."""

    BINDINGS = [Binding("escape", "cancel", "cancel", show=False)]

    class Cancelled(Message):
        pass

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())
