"""`/`: the filter line at the bottom."""

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
