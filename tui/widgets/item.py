"""What the current item is: a pair and its probability, or a conflict and its accounts."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from linker import Item
from tui.widgets.render import join, literal, span

STATE_TEXT = {
    "match": ("decided: match", "green"),
    "no_match": ("decided: no match", "red"),
    "settled": ("settled: its record was matched to another candidate", "yellow"),
    "cut": ("decided: an edge of this chain is cut", "green"),
}


def _rec(source: str, record_id: str) -> Text:
    return join(literal(source, "bold"), " ", literal(record_id))


class ItemTitle(Static):
    """Up to three lines: what is asked, the numbers behind it, why it is here."""

    def show(self, item: Item, state: str) -> None:
        if item.kind == "pair":
            line1 = join(
                span(" PAIR ", "bold reverse cyan"), "  ", _rec(item.left.source, item.left.id),
                "  →  account ", literal(item.account_id, "bold"), " (via ",
                _rec(item.right.source, item.right.id), ")",
            )  # fmt: skip
            line2 = span(f"p = {item.probability:.4f}", "bold") if item.probability else Text()
            if item.match_weight is not None:
                line2 = join(line2, f" · match weight {item.match_weight:+.1f}")
        else:
            line1 = join(
                span(" CONFLICT ", "bold reverse red"), "  accounts ",
                literal(item.account_id, "bold"),
                f" are joined by a chain of {len(item.chain)} edge(s)",
            )  # fmt: skip
            line2 = span(
                "✂ = proposed cut (records agree least) · ↑↓ then n"
                if item.proposed_cut is not None
                else "no clear wrong edge: choose one, ↑↓ then n",
                "italic",
            )
        line2 = join(line2, f" · waits on {item.impact} record(s)")
        lines = [line1, line2]
        if state in STATE_TEXT:
            text, style = STATE_TEXT[state]
            lines.append(span(text, f"bold {style}"))
        elif item.kind == "pair":
            lines.append(literal(item.why, "dim"))
        elif "still joined" in item.why:  # a cut made, another path left
            lines.append(literal(item.why.split(":")[0], "dim"))
        if item.kind == "conflict" and item.other_paths and state not in STATE_TEXT:
            via = "; ".join(
                " ".join(f"{s} {i}" for s, i in path) or "directly" for path in item.other_paths
            )
            lines.append(
                span(
                    f"+ {len(item.other_paths)} other path(s), each needs its own cut: via ",
                    "yellow",
                )
                + literal(via)
            )
        self.update(Text("\n").join(lines))
