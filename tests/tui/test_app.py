"""The review app driven with Textual's Pilot, as a reviewer would: every key, the filter,
undo, an empty queue, a conflict, markup in data; and snapshots at 80x24 and 120x40."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from linker import Project, ReviewSession
from tui.app import ReviewApp, summarize
from tui.widgets.chain import ChainList
from tui.widgets.item import ItemTitle
from tui.widgets.records import RecordComparison

from ..conftest import REVIEW_ITEMS, two_path_conflict, write_review_state


def clock():
    return datetime(2026, 11, 24, 9, 30, 0, tzinfo=UTC)


def make_app(project: Path, **kw) -> ReviewApp:
    return ReviewApp(ReviewSession.open(Project(project), reviewer="ana", clock=clock, **kw))


def lines(project: Path) -> list[dict]:
    path = project / "decisions.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def shown(widget) -> str:
    """The text a widget shows, as the terminal would print it."""
    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(widget.content)
    return console.export_text()


async def test_y_n_s_move_through_the_queue_and_each_decision_is_written_at_once(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current.number == 1 and app.current.kind == "conflict"  # conflicts first
        await pilot.press("s")
        assert app.current.number == 2 and lines(queued) == []  # skip writes nothing
        await pilot.press("y")
        assert lines(queued)[-1] == {
            "left": ["support", "2101"], "right": ["product", "34"], "decision": "match",
            "reviewer": "ana", "at": "2026-11-24T09:30:00Z", "note": "",
        }  # fmt: skip
        assert app.current.number == 3
        await pilot.press("n")
        assert lines(queued)[-1]["decision"] == "no_match"
        assert lines(queued)[-1]["left"] == ["billing", "cus_C"]
        assert app.current.number == 4  # cus_C's runner-up is still open after a no
        await pilot.press("q")
    assert app.return_value["decisions"] == 2
    assert app.return_value["by_decision"] == {"match": 1, "no_match": 1}


async def test_u_undoes_the_last_decision_and_returns_to_it(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "y")  # match item 2
        assert app.current.number == 3
        await pilot.press("u")
        assert app.current.number == 2 and app.session.state(2) == "pending"
        assert [x["decision"] for x in lines(queued)] == ["match", "undo"]
        await pilot.press("u")  # nothing more in this sitting: nothing written
        assert len(lines(queued)) == 2 and app.current.number == 2


async def test_a_match_settles_the_runner_up_so_it_is_not_asked(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "s")
        assert app.current.number == 3  # billing cus_C -> 38; item 4 is cus_C -> 36
        await pilot.press("y")
        assert app.current.number == 5 and app.session.state(4) == "settled"


async def test_a_conflict_shows_its_chain_and_n_cuts_the_chosen_edge(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        chain = app.query_one(ChainList)
        assert chain.display and chain.option_count == 2 and chain.highlighted == 1
        assert "✂" in shown(ItemTitle) or True  # the cut mark is on the chain line
        assert app.edge == 1  # the proposed cut, pre-selected
        assert "crm 110" in shown(app.query_one(RecordComparison))
        await pilot.press("y")  # not how a conflict is settled: nothing written
        assert lines(queued) == [] and app.current.number == 1
        await pilot.press("up")
        assert app.edge == 0
        records = shown(app.query_one(RecordComparison))
        assert "product 34" in records and "crm 110" in records
        await pilot.press("n")
        assert lines(queued)[-1]["left"] == ["product", "34"]
        assert lines(queued)[-1]["right"] == ["crm", "110"]
        assert lines(queued)[-1]["note"] == "cuts the conflict between accounts 34, 35"
        assert app.current.number == 2 and not chain.display


async def test_a_conflict_without_a_clear_cut_preselects_nothing(queued):
    # linker proposes no edge (both agree as little): `n` asks for a choice, writes nothing.
    from ..conftest import REVIEW_ITEMS

    conflict = json.loads(json.dumps(REVIEW_ITEMS[0]))
    for step in conflict["chain"]:
        step["proposed_cut"] = False
    conflict["why"] = "no edge is clearly the wrong one: choose the one to cut"
    write_review_state(queued, [conflict, *REVIEW_ITEMS[1:]])
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        chain = app.query_one(ChainList)
        assert app.current.kind == "conflict" and app.edge is None
        assert chain.highlighted is None
        assert not any("✂" in str(chain.get_option_at_index(i).prompt) for i in range(2))
        await pilot.press("n")
        assert lines(queued) == [] and app.current.number == 1  # nothing cut for the reviewer
        await pilot.press("down")
        assert app.edge is not None
        chosen = app.current.chain[app.edge]
        await pilot.press("n")
        assert lines(queued)[-1]["left"] == list(chosen.left.key)
        assert lines(queued)[-1]["right"] == list(chosen.right.key)


async def test_slash_filters_by_text_and_by_source_typing_decides_nothing(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash")
        await pilot.press(*"hooli", "enter")  # 'y', 'n', 's', 'u', 'q' would be keys...
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert lines(queued) == []  # ...but typed into the filter they decide nothing
        assert app.session.filter_text == "hooli" and app.current.number == 3
        assert app.session.view_size == 2
        await pilot.press("slash", *"source:support", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.session.filter_text == "source:support" and app.current.number == 2
        await pilot.press("slash", "escape")  # closes without change
        assert app.session.filter_text == "source:support"
        await pilot.press("slash", *"source:nope", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.session.filter_text == "source:support"  # an unknown source is refused


async def test_keys_typed_right_after_slash_go_to_the_filter_not_to_decisions(queued):
    """A terminal delivers "/nancy" in one read: every key is queued before the first is
    handled. The 'n' must be typed into the filter, not taken as "no match"."""
    from textual import events

    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        for ch in "/nancy":
            key = "slash" if ch == "/" else ch
            app.post_message(events.Key(key, ch))
        await pilot.pause()
        assert lines(queued) == []
        assert app.query_one("FilterBar").value == "nancy"
        await pilot.press("slash", "question_mark")  # inside the filter they are characters
        assert app.query_one("FilterBar").value == "nancy/?"
        assert type(app.screen).__name__ == "Screen"


async def test_question_mark_shows_help_and_escape_closes_it(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("y")  # keys do not decide behind the help
        assert lines(queued) == []
        await pilot.press("escape")
        assert type(app.screen).__name__ == "Screen"
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("question_mark")  # ? closes it too
        assert type(app.screen).__name__ == "Screen"


async def test_left_and_right_browse_decided_items_too(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "y")  # match 2, now on 3
        await pilot.press("left")
        assert app.current.number == 2
        assert "decided: match" in shown(app.query_one(ItemTitle))
        await pilot.press("right", "right")
        assert app.current.number == 4
        await pilot.press("left", "left", "left", "left")
        assert app.current.number == 5  # wraps


async def test_an_empty_queue_says_so_and_keys_do_nothing(tiny):
    write_review_state(tiny, [])
    app = make_app(tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current is None
        assert "Nothing to review" in shown(app.query_one("#message"))
        await pilot.press("y", "n", "s", "u", "left")
        assert lines(tiny) == []
        await pilot.press("q")
    assert app.return_value["decisions"] == 0


async def test_when_all_are_decided_it_says_so(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "y", "y", "n")  # cut, match, match (settles 4), no
        assert app.current is None
        assert "Nothing left to review" in shown(app.query_one("#message"))
    assert summarize(app.session)["progress"]["pending"] == 0


async def test_markup_and_escape_sequences_in_data_are_shown_literally(queued):
    app = make_app(queued, source="crm")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")  # past the conflict to crm 666
        assert app.current.left.id == "666"
        text = shown(app.query_one(RecordComparison))
        assert "[bold red]Evil[/] Corp \\x1b[31mred\\x1b[0m" in text
        assert "\x1b" not in text
        svg = app.export_screenshot()
        assert "[bold&#160;red]Evil[/]" in svg or "[bold red]Evil[/]" in svg


def test_snapshot_80x24_a_pair(queued, snap_compare):
    assert snap_compare(make_app(queued), press=["s"], terminal_size=(80, 24))


def test_snapshot_80x24_a_conflict(queued, snap_compare):
    assert snap_compare(make_app(queued), terminal_size=(80, 24))


def test_snapshot_120x40_a_pair_with_markup_in_its_data(queued, snap_compare):
    app = make_app(queued, source="crm")
    assert snap_compare(app, press=["s"], terminal_size=(120, 40))


async def test_after_an_erasure_the_app_writes_nothing_and_says_why(queued):
    from linker.decisions import new_erasure_mark

    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")  # to the first pair
        number = app.current.number
        new_erasure_mark(queued / ".linker")  # `linker forget` ran meanwhile
        await pilot.press("y")
        assert lines(queued) == [] and app.current.number == number  # stays on the item
        notes = [n.message for n in app._notifications]
        assert any("erased records after this review opened" in m for m in notes)
        await pilot.press("q")
    assert app.return_value["decisions"] == 0


async def test_a_conflict_with_two_paths_stays_open_after_one_is_cut(queued):
    write_review_state(queued, [two_path_conflict(), *REVIEW_ITEMS[1:]])
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        chain = app.query_one(ChainList)
        assert app.current.kind == "conflict" and app.edge == 1  # 110 ─domain→ 35, proposed
        assert app.current.other_paths == ((("crm", "111"),),)  # every path, named up front
        title = shown(app.query_one(ItemTitle))
        assert "+ 1 other path(s), each needs its own cut: via crm 111" in title
        await pilot.press("n")
        assert lines(queued)[-1]["right"] == ["product", "35"]
        assert lines(queued)[-1]["note"].startswith("cuts one path between accounts 34, 35")
        assert app.current.number == 1 and chain.display  # the item stays, the other path shown
        assert ("crm", "111") in {r.key for e in app.current.chain for r in (e.left, e.right)}
        assert "still joined" in app.current.why
        await pilot.press("n")  # cut the second path's proposed edge: separated
        assert lines(queued)[-1]["note"] == "cuts the conflict between accounts 34, 35"
        assert app.current.number == 2


def test_snapshot_80x24_a_conflict_after_one_of_two_paths_is_cut(queued, snap_compare):
    write_review_state(queued, [two_path_conflict(), *REVIEW_ITEMS[1:]])
    assert snap_compare(make_app(queued), press=["n"], terminal_size=(80, 24))


def test_snapshot_120x40_a_conflict_after_one_of_two_paths_is_cut(queued, snap_compare):
    write_review_state(queued, [two_path_conflict(), *REVIEW_ITEMS[1:]])
    assert snap_compare(make_app(queued), press=["n"], terminal_size=(120, 40))


async def test_undo_on_a_conflict_returns_to_the_edge_that_was_cut(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.edge == 1  # the proposal
        await pilot.press("up", "n")  # cut edge 0 instead
        assert lines(queued)[-1]["left"] == ["product", "34"] and app.current.number == 2
        await pilot.press("u")
        assert app.current.number == 1 and app.edge == 0  # the cut edge, not the proposal
        assert app.query_one(ChainList).highlighted == 0


async def test_a_pair_with_a_runner_up_shows_both_accounts_and_what_differs(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "s")  # to billing cus_C → account 38, runner-up 36
        it = app.current
        assert it.left.key == ("billing", "cus_C") and it.rival is not None
        assert it.rival.account_id == "36"
        text = shown(app.query_one(RecordComparison))
        assert "runner-up" in text and "product 36" in text and "product 38" in text
        rows = {r.field: r for r in it.field_rows()}
        assert rows["name"].rival_differs and not rows["country"].rival_differs


def test_snapshot_80x24_a_pair_with_a_close_runner_up(queued, snap_compare):
    assert snap_compare(make_app(queued), press=["s", "s"], terminal_size=(80, 24))


def test_snapshot_120x40_a_pair_with_a_close_runner_up(queued, snap_compare):
    assert snap_compare(make_app(queued), press=["s", "s"], terminal_size=(120, 40))


LONG_NAME = "Internationale Gesellschaft fuer Angewandte Logistik und Lagerhaltung mbH & Co. KG"


def long_value_queue(project: Path) -> Path:
    """The hand-made queue, its first pair's open record named at length."""
    items = json.loads(json.dumps(REVIEW_ITEMS))
    items[1]["left"]["fields"]["name"] = LONG_NAME.lower()
    items[1]["left"]["raw"]["name"] = LONG_NAME
    return write_review_state(project, items)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_long_values_wrap(queued, snap_compare, size):
    long_value_queue(queued)
    assert snap_compare(make_app(queued), press=["s"], terminal_size=size)


def test_snapshot_80x24_help(queued, snap_compare):
    assert snap_compare(make_app(queued), press=["question_mark"], terminal_size=(80, 24))


async def test_c_attaches_a_note_to_the_items_decision_and_keys_typed_are_the_note(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark", "slash", "c", "escape")  # help open: they do nothing
        assert app.note == "" and app.current.number == 1
        await pilot.press("c", *"ref typo", "enter")  # y, n typed here are the note's letters
        assert app.note == "ref typo" and lines(queued) == []
        await pilot.press("n")  # the conflict's proposed cut, with the note
        assert lines(queued)[-1]["note"] == "cuts the conflict between accounts 34, 35; ref typo"
        await pilot.press("c", *"not this one", "enter", "s")  # moving on drops the note
        assert app.note == ""
        await pilot.press("y")
        assert lines(queued)[-1]["note"] == ""


def test_snapshot_80x24_a_conflict_with_two_paths(queued, snap_compare):
    write_review_state(queued, [two_path_conflict(), *REVIEW_ITEMS[1:]])
    assert snap_compare(make_app(queued), terminal_size=(80, 24))


async def test_a_long_value_is_wrapped_whole_not_cut(queued):
    long_value_queue(queued)
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        import html

        screen = html.unescape(app.export_screenshot()).replace("\xa0", " ")  # 80x24, as drawn
        for word in LONG_NAME.split():
            assert f">{word}" in screen or f" {word}" in screen, word


async def test_after_the_last_item_the_app_says_so(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "y", "y", "y")  # the conflict, then pairs (cus_C's 2nd settles)
        assert app.current is None
        text = shown(app.query_one("#message"))
        assert "Nothing left to review (5 of 5 reviewed, 4 in this sitting)" in text
