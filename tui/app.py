"""`linker review`: the Textual app over a `linker.ReviewSession`.

One item on screen at a time, read from the session (which reads its in-memory copy of the
queue): opening and moving never build a widget per queue item. Decisions are written by the
session the moment a key is pressed; filtering runs in a worker thread.
"""

from __future__ import annotations

from collections import Counter

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, OptionList, Static

from linker import ConfigError, Item, LinkerError, ReviewSession, visible
from tui.widgets.chain import ChainList
from tui.widgets.filter import FilterBar, NoteBar
from tui.widgets.help import HelpScreen
from tui.widgets.item import ItemTitle
from tui.widgets.records import RecordComparison, RecordsPane
from tui.widgets.status import StatusBar


class ReviewApp(App[dict]):
    """Review pairs and conflicts; returns a summary of the sitting's decisions."""

    CSS_PATH = "review.tcss"
    TITLE = "linker review"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("y", "decide('match')", "match"),
        Binding("n", "decide('no_match')", "no match"),
        Binding("s", "skip", "skip"),
        Binding("u", "undo", "undo"),
        # Priority: they act when the key arrives, before keys typed after them are routed
        # (typed into the filter they are just characters; see _typing).
        Binding("slash", "filter", "filter", key_display="/", priority=True),
        Binding("question_mark", "help", "help", key_display="?", priority=True),
        Binding("c", "note", "note", priority=True),
        Binding("q", "quit_review", "quit"),
        Binding("left", "browse(-1)", "previous", show=False),
        Binding("right", "browse(1)", "next", show=False),
    ]

    def __init__(self, session: ReviewSession) -> None:
        super().__init__()
        self.session = session
        self.pos: int | None = None  # position in the session's (filtered) view
        self.current: Item | None = None
        self.edge: int | None = None  # a conflict's chosen edge
        self.filtering = False
        self.note = ""  # the reviewer's note for the next decision on the current item

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Vertical(id="main"):
            yield ItemTitle(id="title")
            yield ChainList(id="chain")
            with RecordsPane(id="records-pane"):
                yield RecordComparison(id="records")
        yield Static(id="message")
        yield FilterBar(
            placeholder="filter: words, source:NAME — Enter applies, Esc cancels", disabled=True
        )
        yield NoteBar(
            placeholder="note for this item's decision — Enter keeps it, Esc drops it",
            disabled=True,
        )
        yield Footer()

    def on_mount(self) -> None:
        self.go(self.session.next_pending())

    # --- showing ---------------------------------------------------------------------------

    def go(self, pos: int | None) -> None:
        """Show the item at view position `pos` (None: nothing pending in the view)."""
        self.pos = pos
        before = self.current.number if self.current is not None else None
        self.current = None if pos is None else self.session.item_at(pos)
        if self.current is None or self.current.number != before:
            self.note = ""  # a note belongs to the item it was written on
        # a conflict's proposed cut; none chosen when linker proposes none (then `n` asks)
        self.edge = self.current.proposed_cut if self.current else None
        self.refresh_item()

    def refresh_item(self) -> None:
        item = self.current
        main, message = self.query_one("#main"), self.query_one("#message", Static)
        main.display = item is not None
        message.display = item is None
        self.refresh_status()
        if item is None:
            message.update(self._nothing_left())
            self.set_focus(None)
            return
        self.query_one(ItemTitle).show(item, self.session.state(item.number))
        chain = self.query_one(ChainList)
        chain.display = item.kind == "conflict"
        if item.kind == "conflict":
            chain.show(item, self.edge)
            chain.focus()
        else:
            self.query_one(RecordsPane).focus()
        self.query_one(RecordComparison).show(item, self.edge)
        self.query_one(RecordsPane).scroll_home(animate=False)

    def refresh_status(self) -> None:
        self.query_one(StatusBar).show(
            self.session.project_name,
            self.session.reviewer,
            self.current.number if self.current else None,
            self.session.progress(),
            self.session.filter_text,
        )

    def _nothing_left(self) -> str:
        s = self.session
        if s.total == 0:
            return "Nothing to review: the last run queued no pairs and no conflicts.\n\nq quits."
        if s.filter_text and s.view_size == 0:
            return "No item matches the filter.\n\n/ changes it (an empty filter shows all)."
        p = s.progress()
        where = "in this view " if s.filter_text else ""
        return (
            f"Nothing left to review {where}({p.reviewed} of {p.total} reviewed, "
            f"{p.sitting} in this sitting).\n\n"
            "Your decisions are in decisions.jsonl; `linker publish` applies them.\n"
            "u undoes the last one · / changes the filter · q quits."
        )

    @on(OptionList.OptionHighlighted, "#chain")
    def _edge_chosen(self, event: OptionList.OptionHighlighted) -> None:
        if self.current is not None and event.option_index != self.edge:
            self.edge = event.option_index
            self.query_one(RecordComparison).show(self.current, self.edge)

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a filter is being applied the view is changing under us.
        return not (self.filtering and action in ("decide", "skip", "undo", "browse", "filter"))

    def action_decide(self, decision: str) -> None:
        item = self.current
        if item is None:
            self.bell()
            return
        if item.kind == "conflict" and decision == "match":
            self.notify(
                "A conflict is settled by cutting the wrong edge: choose it with ↑↓, press n. "
                "(Two system-of-record accounts that are one company are fixed in that system.)",
                title="conflict",
                severity="warning",
            )
            return
        if item.kind == "conflict" and self.edge is None:
            self.notify(
                "No edge is clearly the wrong one, so none is chosen for you: "
                "choose the edge to cut with ↑↓, then press n.",
                title="conflict",
                severity="warning",
            )
            return
        try:
            self.session.decide(
                item.number,
                decision,
                edge=self.edge if item.kind == "conflict" else None,
                note=self.note,
            )
        except LinkerError as e:  # nothing was written: say why, stay on the item
            self._not_saved(e)
            return
        if item.kind == "conflict" and self.session.state(item.number) == "pending":
            # the cut left another path joining the accounts: stay, showing that path
            self.notify(
                f"Cut. Accounts {item.account_id} are still joined by another path: "
                "it is shown now.",
                title="conflict",
            )
            self.go(self.pos)
            return
        self.go(self.session.next_pending(self.pos))

    def _not_saved(self, e: LinkerError) -> None:
        """A decision the session refused to write: say why, in the app (data shown literally)."""
        self.notify(
            "\n".join(visible(line) for line in e.lines()),
            title="not saved",
            severity="error",
            timeout=30,
            markup=False,
        )

    def action_skip(self) -> None:
        if self.pos is None:
            self.bell()
            return
        nxt = self.session.next_pending(self.pos)
        if nxt == self.pos:
            self.notify("This is the only pending item left.")
        self.go(nxt)

    def action_undo(self) -> None:
        last = self.session.sitting[-1] if self.session.sitting else None
        try:
            number = self.session.undo()
        except LinkerError as e:
            self._not_saved(e)
            return
        if number is None:
            self.notify("Nothing to undo in this sitting.")
            self.refresh_status()
            return
        pos = self.session.position(number)
        if pos is None:  # the filter hides it: show everything again
            self.session.set_filter("")
            pos = self.session.position(number)
            self.notify("Undone; the filter was cleared to show the item.")
        self.go(pos)
        item = self.current
        if item is not None and item.kind == "conflict" and last is not None:
            # back on the edge that was cut, not on the proposal
            at = next((i for i, e in enumerate(item.chain) if e.pair == last.pair), None)
            if at is not None and at != self.edge:
                self.edge = at
                self.refresh_item()

    def action_browse(self, step: int) -> None:
        s = self.session
        if s.view_size == 0:
            self.bell()
            return
        base = self.pos if self.pos is not None else (-1 if step > 0 else s.view_size)
        self.go((base + step) % s.view_size)

    def _typing(self, char: str) -> bool:
        """True (and `char` typed) when the filter or the note line has the keys."""
        bar = self.focused
        if not isinstance(bar, FilterBar | NoteBar):
            return False
        bar.insert_text_at_cursor(char)
        return True

    def action_filter(self) -> None:
        if self._typing("/") or isinstance(self.screen, HelpScreen):
            return
        bar = self.query_one(FilterBar)
        bar.value = self.session.filter_text
        bar.display, bar.disabled = True, False
        # Now, not later (widget.focus() waits a turn): keys typed right after "/" arrive in
        # the same read and must reach the filter, never act as y/n decisions.
        self.set_focus(bar)

    def action_note(self) -> None:
        if self._typing("c") or self.current is None or isinstance(self.screen, HelpScreen):
            return
        bar = self.query_one(NoteBar)
        bar.value = self.note
        bar.display, bar.disabled = True, False
        self.set_focus(bar)  # now: keys typed right after "c" are the note, not decisions

    @on(NoteBar.Submitted, "NoteBar")
    def _note_submitted(self, event: NoteBar.Submitted) -> None:
        self._close_bar(NoteBar)
        self.note = event.value.strip()
        if self.note:
            self.notify(f"Note kept for this item's decision: {visible(self.note)}", markup=False)

    @on(NoteBar.Cancelled)
    def _note_cancelled(self) -> None:
        self._close_bar(NoteBar)

    def _close_bar(self, kind) -> None:
        bar = self.query_one(kind)
        bar.display, bar.disabled = False, True  # a hidden input must not take the keys
        self.refresh_item()

    def action_help(self) -> None:
        if self._typing("?"):
            return
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen())

    def action_quit_review(self) -> None:
        self.exit(summarize(self.session))

    # --- the filter ------------------------------------------------------------------------

    @on(FilterBar.Submitted, "FilterBar")
    def _filter_submitted(self, event: FilterBar.Submitted) -> None:
        self._close_filter()
        self.filtering = True
        self.query_one(ItemTitle).update("filtering…")
        self.apply_filter(event.value)

    @on(FilterBar.Cancelled)
    def _filter_cancelled(self) -> None:
        self._close_filter()

    def _close_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.display, bar.disabled = False, True  # a hidden input must not take the keys

    @work(thread=True, exclusive=True, group="filter")
    def apply_filter(self, text: str) -> None:
        try:
            self.session.set_filter(text)
            error = None
        except ConfigError as e:
            error = e.message + (f" ({e.hint})" if e.hint else "")
        self.call_from_thread(self._filtered, error)

    def _filtered(self, error: str | None) -> None:
        self.filtering = False
        if error:
            self.notify(error, title="filter", severity="error")
        self.go(self.session.next_pending())


def summarize(session: ReviewSession) -> dict:
    """What the sitting did: its decisions by kind, where they are, where the queue stands."""
    made = session.sitting
    return {
        "decisions": len(made),
        "by_decision": dict(sorted(Counter(d.decision for d in made).items())),
        "file": str(session.decisions_file),
        "progress": session.progress().__dict__,
    }


def run(session: ReviewSession) -> dict:
    """Run the app on an open session (what `linker review` calls); the sitting's summary."""
    ReviewApp(session).run()
    return summarize(session)
