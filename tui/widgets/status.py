"""The top line: project, reviewer, where the sitting stands."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from linker import ReviewProgress
from tui.widgets.render import join, literal


class StatusBar(Static):
    """`acme · ana          item 3/37 · reviewed 5 · pending 32 · this sitting 2`."""

    def show(
        self, project: str, reviewer: str, number: int | None, p: ReviewProgress, filter_text: str
    ) -> None:
        left = join(literal(project, "bold"), " · ", literal(reviewer))
        right = Text(
            (f"item {number}/{p.total} · " if number else "")
            + f"reviewed {p.reviewed} · pending {p.pending} · this sitting {p.sitting}"
        )
        grid = Table.grid(expand=True, padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(justify="right")
        grid.add_row(left, right)
        if filter_text:
            view = join("filter ", literal(filter_text, "bold"))
            grid.add_row(view, Text(f"{p.view} shown, {p.view_pending} pending"))
        self.update(grid)
