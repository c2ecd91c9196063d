"""A conflict's chain of edges; the highlighted edge is the one `n` cuts."""

from __future__ import annotations

from textual.widgets import OptionList
from textual.widgets.option_list import Option

from linker import Item
from tui.widgets.render import join, literal, span


class ChainList(OptionList):
    """One line per edge: `✂ product 1779 ─name_country→ crm 0017b…  name = …`."""

    def show(self, item: Item, selected: int | None) -> None:
        self.clear_options()
        for i, e in enumerate(item.chain):
            line = join(
                span("✂ " if e.proposed_cut else "  ", "bold red"),
                literal(f"{e.left.source} {e.left.id}", "bold"), " ─", literal(e.rule, "cyan"),
                span(f" ({e.trust})" if e.trust == "suggestive" else "", "yellow"),
                "→ ", literal(f"{e.right.source} {e.right.id}", "bold"), "  ",
                literal(e.evidence, "dim"),
            )  # fmt: skip
            self.add_option(Option(line, id=str(i)))
        self.highlighted = selected
