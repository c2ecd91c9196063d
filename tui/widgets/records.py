"""The two records side by side: canonical fields with agreement and match weights, then
each record's row as its source has it."""

from __future__ import annotations

from itertools import zip_longest

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from linker import Item
from tui.widgets.render import join, literal, span, weight_bar

# Agreement marks: equal (or a shared list value), alike by a comparison, different.
MARKS = {"same": ("=", "bold green"), "similar": ("≈", "bold yellow"), "differs": ("≠", "bold red")}


def comparison_table(item: Item, edge: int | None = None) -> Table:
    """One table: field | left | mark | right | evidence (a scored pair's level and weight)."""
    left, right = item.records(edge)
    evidence = {e.comparison: e for e in item.evidence}
    t = Table(expand=True, box=None, pad_edge=False, show_edge=False, header_style="bold")
    t.add_column("field", style="bold", no_wrap=True, min_width=8, max_width=20)
    t.add_column(literal(f"{left.source} {left.id}", "bold"), ratio=3, no_wrap=True)
    t.add_column("", width=1, no_wrap=True)
    t.add_column(literal(f"{right.source} {right.id}", "bold"), ratio=3, no_wrap=True)
    if item.kind == "pair":
        t.add_column("evidence", ratio=2, no_wrap=True, min_width=20)
    shown = set()
    for row in item.field_rows(edge):
        mark, style = MARKS.get(row.agreement, (" ", ""))
        cells = [literal(row.field), literal(row.left), span(mark, style), literal(row.right)]
        if item.kind == "pair":
            cells.append(_evidence_cell(evidence.get(row.field)))
            shown.add(row.field)
        t.add_row(*cells)
    for e in item.evidence:  # comparisons with no field row of their own (members, ...)
        if e.comparison not in shown and e.level != "null":
            t.add_row(
                literal(e.comparison), literal(e.left_value), Text(""), literal(e.right_value),
                _evidence_cell(e),
            )  # fmt: skip
    t.add_section()
    t.add_row(span("source row", "bold dim"), *[Text("")] * (len(t.columns) - 1))
    for (lk, lv), (rk, rv) in zip_longest(
        left.raw.items(), right.raw.items(), fillvalue=(None, None)
    ):
        cells = [Text(""), _raw_cell(lk, lv), Text(""), _raw_cell(rk, rv)]
        if item.kind == "pair":
            cells.append(Text(""))
        t.add_row(*cells)
    return t


def _evidence_cell(e) -> Text:
    if e is None:
        return Text("")
    if e.level == "null":
        return span("null", "dim")
    return join(weight_bar(e.match_weight), " ", literal(e.level, "dim"))


def _raw_cell(key: str | None, value: object) -> Text:
    if key is None:
        return Text("")
    return join(literal(key, "dim"), " ", literal(value))


class RecordsPane(VerticalScroll):
    """Scrolls the table when the terminal is short."""


class RecordComparison(Static):
    def show(self, item: Item, edge: int | None = None) -> None:
        self.update(comparison_table(item, edge))
