"""The two records side by side: canonical fields with agreement and match weights, then
each record's row as its source has it."""

from __future__ import annotations

from itertools import zip_longest

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from linker import Item
from tui.widgets.render import join, literal, span, weight_bar, wrapping

# Agreement marks: equal (or a shared list value), alike by a comparison, different.
MARKS = {"same": ("=", "bold green"), "similar": ("≈", "bold yellow"), "differs": ("≠", "bold red")}


# The style of a value where a pair's candidate and its runner-up differ: what tells them apart.
DIFFERS = "bold yellow underline"


def comparison_table(item: Item, edge: int | None = None, width: int = 80) -> Table:
    """One table: field | left | mark | right [| runner-up] [| evidence: a scored pair's level
    and weight]. Values wrap (nothing a reviewer needs is cut); a raw spelling that says more
    than the normalized value (the legal form) is shown beside it."""
    left, right = item.records(edge)
    rival = item.rival
    evidence = {e.comparison: e for e in item.evidence}
    with_evidence = item.kind == "pair" and (rival is None or width >= 110)
    t = Table(expand=True, box=None, pad_edge=False, show_edge=False, header_style="bold")
    t.add_column("field", style="bold", no_wrap=True, min_width=8, max_width=20)
    t.add_column(wrapping(literal(f"{left.source} {left.id}", "bold")), ratio=3, overflow="fold")
    t.add_column("", width=1, no_wrap=True)
    t.add_column(_account_header(right, item), ratio=3, overflow="fold")
    if rival is not None:
        t.add_column(_account_header(rival.right, rival, "runner-up "), ratio=3, overflow="fold")
    if with_evidence:
        t.add_column("evidence", ratio=2, overflow="fold", min_width=14)
    shown = set()
    for row in item.field_rows(edge):
        mark, style = MARKS.get(row.agreement, (" ", ""))
        hi = DIFFERS if row.rival_differs else ""
        cells = [
            literal(row.field), _value(row.left, row.left_raw), span(mark, style),
            _value(row.right, row.right_raw, hi),
        ]  # fmt: skip
        if rival is not None:
            cells.append(_value(row.rival, row.rival_raw, hi))
        if with_evidence:
            cells.append(_evidence_cell(evidence.get(row.field)))
        shown.add(row.field)
        t.add_row(*cells)
    for e in item.evidence:  # comparisons with no field row of their own (members, ...)
        if e.comparison not in shown and e.level != "null":
            cells = [literal(e.comparison), literal(e.left_value), Text(""), literal(e.right_value)]
            cells += [Text("")] * (rival is not None) + [_evidence_cell(e)] * with_evidence
            t.add_row(*cells)
    t.add_section()
    t.add_row(span("source row", "bold dim"), *[Text("")] * (len(t.columns) - 1))
    raws = [left.raw.items(), right.raw.items()] + ([rival.right.raw.items()] if rival else [])
    for kv in zip_longest(*raws, fillvalue=(None, None)):
        cells = [Text(""), _raw_cell(*kv[0]), Text(""), _raw_cell(*kv[1])]
        if rival is not None:
            cells.append(_raw_cell(*kv[2]))
        if with_evidence:
            cells.append(Text(""))
        t.add_row(*cells)
    return t


def _account_header(rec, item: Item, prefix: str = "") -> Text:
    """A candidate column's header: the record, and for a pair its account and probability."""
    head = join(literal(prefix), literal(f"{rec.source} {rec.id}", "bold"))
    if item.kind == "pair" and item.account_id is not None:
        head = join(head, " · account ", literal(item.account_id, "bold"))
        if item.probability is not None:
            head = join(head, f" p={item.probability:.2f}")
    return wrapping(head)


def _value(value: str | None, raw: str | None, style: str = "") -> Text:
    """A normalized value, its raw spelling beside it when that says more."""
    text = literal(value, style)
    return wrapping(join(text, " ", literal(f"({raw})", "dim")) if raw else text)


def _evidence_cell(e) -> Text:
    if e is None:
        return Text("")
    if e.level == "null":
        return span("null", "dim")
    return wrapping(join(weight_bar(e.match_weight), " ", literal(e.level, "dim")))


def _raw_cell(key: str | None, value: object) -> Text:
    if key is None:
        return Text("")
    return wrapping(join(literal(key, "dim"), " ", literal(value)))


class RecordsPane(VerticalScroll):
    """Scrolls the table when the terminal is short."""


class RecordComparison(Static):
    def show(self, item: Item, edge: int | None = None) -> None:
        width = self.app.size.width if self.is_attached else 80
        self.update(comparison_table(item, edge, width))
