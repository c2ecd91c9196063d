"""The review session (linker.review): what the review app drives, tested without a screen."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from linker import ConfigError, Project, ReviewSession
from linker.cli import app
from linker.decisions import Decision, append, read_log

from .conftest import write_review_state


def clock():
    return datetime(2026, 11, 24, 9, 30, 0, tzinfo=UTC)


def session(project: Path, **kw) -> ReviewSession:
    return ReviewSession.open(
        Project(project), reviewer=kw.pop("reviewer", "ana"), clock=clock, **kw
    )


def lines(project: Path) -> list[dict]:
    path = project / "decisions.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_opens_the_queue_in_order_with_both_records_and_the_evidence(queued):
    s = session(queued)
    assert s.total == 5 and s.view_size == 5 and s.project_name == "tiny"
    conflict = s.item_at(0)
    assert conflict.kind == "conflict" and conflict.account_id == "34, 35"
    assert [e.rule for e in conflict.chain] == ["ref", "domain"] and conflict.proposed_cut == 1
    left, right = conflict.records()  # the proposed cut's two records
    assert (left.key, right.key) == (("crm", "110"), ("product", "35"))
    assert conflict.records(0)[0].key == ("product", "34")
    pair = s.item_at(1)
    assert pair.kind == "pair" and pair.probability == 0.93 and pair.impact == 3
    assert pair.left.raw["name"] == "Acme Inc." and pair.right.fields["country"] == "DE"
    rows = {r.field: r for r in pair.field_rows()}
    assert rows["domain"].agreement == "same"  # a shared list value
    assert rows["name"].agreement == "similar"  # differ, but the comparison weighs for
    assert rows["country"].agreement is None and rows["country"].right == "DE"
    assert [e.comparison for e in pair.evidence] == ["name", "domain", "country"]
    s.close()


def test_a_decision_is_one_fsynced_line_with_reviewer_and_utc_time(queued):
    s = session(queued)
    d = s.decide(2, "match")
    assert d.decision == "match"
    assert lines(queued) == [
        {"left": ["support", "2101"], "right": ["product", "34"], "decision": "match",
         "reviewer": "ana", "at": "2026-11-24T09:30:00Z", "note": ""}
    ]  # fmt: skip
    assert s.state(2) == "match" and s.progress().reviewed == 1 and s.progress().sitting == 1


def test_matching_one_candidate_settles_the_runner_up_and_undo_brings_it_back(queued):
    s = session(queued)
    s.decide(3, "match")  # billing cus_C -> account 38; item 4 is cus_C -> account 36
    assert s.state(3) == "match" and s.state(4) == "settled"
    assert s.progress().pending == 3
    assert s.next_pending(s.position(3)) == s.position(5)  # the settled runner-up is passed
    assert s.undo() == 3
    assert s.state(3) == "pending" and s.state(4) == "pending" and s.progress().sitting == 0
    assert [x["decision"] for x in lines(queued)] == ["match", "undo"]
    assert s.undo() is None  # earlier sittings are not undone from here


def test_a_conflict_with_no_proposed_cut_is_cut_only_on_a_chosen_edge(queued):
    from .conftest import REVIEW_ITEMS

    conflict = json.loads(json.dumps(REVIEW_ITEMS[0]))
    for step in conflict["chain"]:
        step["proposed_cut"] = False
    write_review_state(queued, [conflict, *REVIEW_ITEMS[1:]])
    s = session(queued)
    assert s.item(1).proposed_cut is None
    with pytest.raises(ConfigError, match="no edge is clearly the wrong one"):
        s.decide(1, "no_match")
    assert lines(queued) == []
    d = s.decide(1, "no_match", edge=0)
    assert (d.left, d.right) == (("product", "34"), ("crm", "110"))
    s.close()


def test_a_conflict_is_cut_on_the_chosen_edge(queued):
    s = session(queued)
    d = s.decide(1, "no_match", edge=0)  # not the proposed cut: the reviewer chose the ref
    assert (d.left, d.right) == (("product", "34"), ("crm", "110"))
    assert d.note == "cuts the conflict between accounts 34, 35"
    assert s.state(1) == "cut"


def test_next_pending_wraps_around_and_says_none_when_all_are_done(queued):
    s = session(queued)
    assert s.next_pending() == 0 and s.next_pending(4) == 0  # wraps
    assert s.next_pending(backwards=True) == 4 and s.next_pending(0, backwards=True) == 4
    s.decide(1, "no_match")
    for n in (2, 3, 5):
        s.decide(n, "no_match")
    assert s.next_pending() == 3  # only item 4 is left
    s.decide(4, "no_match")
    assert s.next_pending() is None and s.progress().pending == 0


def test_filter_by_source_and_by_words_in_fields_and_source_rows(queued):
    s = session(queued)
    assert s.set_filter("source:billing") == 2
    assert [s.item_at(i).number for i in range(2)] == [3, 4]
    assert s.set_filter("HOOLI labs") == 1 and s.item_at(0).number == 4  # every word, any case
    assert s.set_filter("[bold") == 1 and s.item_at(0).left.id == "666"  # literal text
    assert s.set_filter("source:crm acme") == 1  # the conflict (crm 110 "ACME")
    assert s.set_filter("kind:conflict") == 1 and s.set_filter("kind:pair source:crm") == 1
    with pytest.raises(ConfigError, match="no kind 'pairs'"):
        s.set_filter("kind:pairs")
    assert s.set_filter("") == 5 and s.filter_text == ""
    with pytest.raises(ConfigError, match="no accounts source named 'bilings'") as e:
        s.set_filter("source:bilings")
    assert "billing" in e.value.hint
    assert s.view_size == 5  # a bad filter changes nothing


def test_decisions_logged_since_the_run_count_when_a_sitting_opens(queued):
    append(
        queued / "decisions.jsonl",
        Decision(("billing", "cus_C"), ("product", "38"), "match", "bo", "2026-11-24T08:00:00Z"),
    )
    s = session(queued)
    assert s.state(3) == "match" and s.state(4) == "settled"
    p = s.progress()
    assert (p.reviewed, p.pending, p.sitting) == (2, 3, 0)


def test_open_errors_are_clear(tiny):
    with pytest.raises(ConfigError, match="no run yet"):
        session(tiny)
    write_review_state(tiny)
    with pytest.raises(ConfigError, match="no accounts source named 'suport'") as e:
        session(tiny, source="suport")
    assert "support" in e.value.hint
    with pytest.raises(ConfigError, match="review covers account records"):
        session(tiny, source="crm_contacts")


def test_an_open_session_does_not_hold_the_state_database(queued):
    s = session(queued)
    con = duckdb.connect(str(queued / ".linker" / "state.duckdb"))  # read-write, like publish
    con.execute("CREATE TABLE t AS SELECT 1")
    con.close()
    assert s.item_at(0).kind == "conflict"


def test_an_append_during_forget_lands_in_the_rewritten_log(queued):
    """forget rewrites decisions.jsonl under the log's lock; an append waiting meanwhile must
    not go to the replaced file (it would be lost)."""
    from linker.decisions import locked

    path = queued / "decisions.jsonl"
    append(path, Decision(("crm", "1"), ("product", "2"), "match", "x", "t"))
    s = session(queued)
    done = threading.Event()
    with locked(path):
        t = threading.Thread(target=lambda: (s.decide(2, "match"), done.set()))
        t.start()
        assert not done.wait(0.3)  # blocked by the rewrite
        tmp = path.with_name("rewritten")
        tmp.write_text("")
        tmp.replace(path)  # what forget does
    t.join(5)
    assert done.is_set()
    log, _ = read_log(path)
    assert [(d.left, d.decision) for d in log] == [(("support", "2101"), "match")]


def test_linker_review_cli_errors_exit_2_with_the_culprit(tiny):
    r = CliRunner().invoke(app, ["review", "-p", str(tiny)])
    assert r.exit_code == 2 and "no run yet" in r.output
    write_review_state(tiny)
    r = CliRunner().invoke(app, ["review", "-p", str(tiny), "--source", "suport"])
    assert r.exit_code == 2 and "--source" in r.output and "support" in r.output


def test_a_long_decisions_log_is_applied_at_open_the_same_way(queued):
    """Many decisions at open take the one-join path; the states must be the same."""
    path = queued / "decisions.jsonl"
    for i in range(100):  # decisions about records that are not in the queue
        append(path, Decision(("crm", f"x{i}"), ("product", "1"), "no_match", "bo", "t"))
    append(path, Decision(("billing", "cus_C"), ("product", "38"), "match", "bo", "t"))
    s = session(queued)
    assert s.state(3) == "match" and s.state(4) == "settled" and s.progress().reviewed == 2


def test_linker_review_without_a_terminal_exits_2(queued):
    r = CliRunner().invoke(app, ["review", "-p", str(queued)])  # CliRunner's stdout is no tty
    assert r.exit_code == 2 and "needs an interactive terminal" in r.output


def test_a_conflict_joined_by_two_paths_stays_open_until_the_accounts_are_separated(tmp_path):
    # c1 and c2 both hold account 34's id and are Globex (35) by name and website: two paths
    # join 34 and 35. Cutting one leaves the item open, showing the other; the log says so.
    from .test_resolve import make

    p = make(tmp_path, "c1,Globex,globex.co.uk,GB,,,34\nc2,Globex Ltd,globex.co.uk,GB,,,34\n")
    p.run()
    s = ReviewSession.open(p, reviewer="ana", clock=clock)
    conflicts = [s.item(n) for n in range(1, s.total + 1) if s.item(n).kind == "conflict"]
    assert len(conflicts) == 1
    it = conflicts[0]
    first = {e.pair for e in it.chain}
    d = s.decide(it.number, "no_match")  # the proposed cut
    assert d.note == "cuts one path between accounts 34, 35; another still joins them"
    assert s.state(it.number) == "pending"
    again = s.item(it.number)
    assert {e.pair for e in again.chain} != first and "still joined" in again.why
    assert d.pair not in {e.pair for e in again.chain}
    d2 = s.decide(it.number, "no_match", edge=again.proposed_cut or 0)
    assert d2.note == "cuts the conflict between accounts 34, 35"
    assert s.state(it.number) == "cut"
    s.close()
    p.run()  # the run agrees: no conflict left
    con = duckdb.connect(str(p.state_db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM comp_stat WHERE n_sor >= 2").fetchone() == (0,)
    finally:
        con.close()


def test_review_list_prints_the_queue_without_the_app(queued):
    s = session(queued)
    s.decide(2, "match")
    s.close()
    r = CliRunner().invoke(app, ["review", "-p", str(queued), "--list", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["item"] for x in rows] == [1, 2, 3, 4, 5]
    assert (
        rows[0]["kind"] == "conflict" and rows[0]["proposed_cut"] == "crm:110 -domain- product:35"
    )
    assert rows[1]["state"] == "match" and rows[1]["probability"] == 0.93
    r = CliRunner().invoke(
        app, ["review", "-p", str(queued), "--list", "--csv", "--source", "billing"]
    )
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("item,kind,state,left,right")
    assert {line.split(",")[0] for line in r.stdout.splitlines()[1:]} == {"3", "4"}
    r = CliRunner().invoke(app, ["review", "-p", str(queued), "--list"])
    assert r.exit_code == 0 and "5 item(s), 4 pending" in r.stdout
    r = CliRunner().invoke(app, ["review", "-p", str(queued), "--json"])
    assert r.exit_code == 2 and "--list" in r.stderr
