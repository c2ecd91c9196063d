"""The probabilistic stage: model training, save/load/reuse, decisions, review queue, explain.

One generated project (600 SOR accounts, seed 11) is trained once for the module; tests that
change it work on copies.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from linker import Project
from linker.cli import app
from linker.config import Comparison
from linker.scoring.scores import _create_score_tables, _decide

from .conftest import ACME_PLAN_DIGEST_BEFORE, NAME_LEVELS_ON_NAMES, REPO, write_tiny


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A generated project after its first run (which trained model.json)."""
    out = tmp_path_factory.mktemp("scoring") / "p"
    subprocess.run(
        [sys.executable, str(REPO / "fixtures" / "generate.py"), "--sor-accounts", "600",
         "--seed", "11", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    r = invoke("run", "-p", out, "--json")
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def acme(tmp_path_factory) -> Path:
    """The bundled example (2,000 accounts, its shipped model.json) after one run: it has
    review-band pairs waiting and conflicts."""
    p = copy_project(REPO / "fixtures" / "acme", tmp_path_factory.mktemp("acme") / "acme")
    r = invoke("run", "-p", p, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["scoring"]["trained_now"] is False
    return p


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".linker", "crosswalk"))
    return dst


def state(project: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(project / ".linker" / "state.duckdb"), read_only=True)


# --- the model file ---------------------------------------------------------------------------


def test_first_run_trains_and_saves_the_model_then_later_runs_reuse_it(trained, tmp_path):
    p = copy_project(trained, tmp_path / "p")
    (p / "model.json").unlink()
    r = invoke("run", "-p", p, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["scoring"]["trained_now"] is True
    assert any("no model.json yet" in w for w in rep["warnings"])
    model = json.loads((p / "model.json").read_text())
    assert model["linker"]["training"]["label_pairs"] >= 50  # m from the rules' ref links
    assert model["splink"]["comparisons"][0]["output_column_name"] == "name"
    before = (p / "model.json").read_bytes()
    r = invoke("run", "-p", p, "--json", "--full")  # recomputed, not the last run's results
    rep2 = json.loads(r.stdout)
    assert rep2["scoring"]["trained_now"] is False
    assert not any("model.json" in w for w in rep2["warnings"])
    assert (p / "model.json").read_bytes() == before  # reused, not rewritten
    assert rep2["run_id"] == rep["run_id"]  # same inputs, same model -> same run


def test_training_is_reproducible(trained, tmp_path):
    p = copy_project(trained, tmp_path / "p")
    r = invoke("train", "-p", p)
    assert r.exit_code == 0, r.output
    assert (p / "model.json").read_bytes() == (trained / "model.json").read_bytes()
    assert "model saved" in r.output and "model.html" in r.output


def test_training_does_not_depend_on_the_order_of_the_rows(trained, tmp_path):
    # Splink's inputs are views in no particular order: the model must come out the same
    # whatever order the sources' rows (and so every table built from them) are in.
    p = copy_project(trained, tmp_path / "p")
    rng = random.Random(5)
    for path in sorted((p / "data").iterdir()):
        if path.suffix == ".csv":
            with path.open(newline="") as f:
                head, *body = list(csv.reader(f))
            rng.shuffle(body)
            with path.open("w", newline="") as f:
                csv.writer(f).writerows([head, *body])
        elif path.suffix == ".jsonl":
            lines = path.read_text().splitlines()
            rng.shuffle(lines)
            path.write_text("\n".join(lines) + "\n")
        elif path.suffix == ".json":
            records = json.loads(path.read_text())
            rng.shuffle(records)
            path.write_text(json.dumps(records))
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
            order = list(range(table.num_rows))
            rng.shuffle(order)
            pq.write_table(table.take(order), path)
    r = invoke("train", "-p", p)
    assert r.exit_code == 0, r.output
    assert (p / "model.json").read_bytes() == (trained / "model.json").read_bytes()


def test_train_writes_a_self_contained_model_report(trained, tmp_path):
    from .test_cli import _documented_json_keys

    p = copy_project(trained, tmp_path / "p")
    r = invoke("train", "-p", p, "--json")
    assert r.exit_code == 0
    answer = json.loads(r.stdout)  # and its --json answer has the keys docs/cli.md lists
    assert answer["schema_version"] == 1 and _documented_json_keys()["train"] <= set(answer)
    html = (p / "model.html").read_text()
    assert html.count("vegaEmbed(") == 4  # weights, m/u, probability histogram, bands
    assert "<script src=" not in html  # libraries inlined: works offline
    assert "Match weight of each comparison level" in html and "Open records per decision" in html


def test_a_changed_config_warns_that_the_model_is_stale(trained, tmp_path):
    p = copy_project(trained, tmp_path / "p")
    toml = p / "linker.toml"
    toml.write_text(toml.read_text() + "\n[scoring]\naccept = 0.995\n")
    r = invoke("run", "-p", p, "--json")
    assert r.exit_code == 0, r.output
    assert not any("since model.json" in w for w in json.loads(r.stdout)["warnings"])  # a threshold
    toml.write_text(toml.read_text() + '[[scoring.comparisons]]\nfield = "city"\nkind = "exact"\n')
    r = invoke("run", "-p", p, "--json")
    assert r.exit_code == 0, r.output
    warnings = json.loads(r.stdout)["warnings"]
    assert any("since model.json was trained" in w and "linker train" in w for w in warnings)


def test_a_model_an_earlier_linker_wrote_scores_as_it_did_and_the_warning_says_why(acme, tmp_path):
    """A model.json trained before the name levels read each record's sorted words and numbers
    holds the levels written on the names: it is used, with its own SQL, and scores every pair
    as the same model spelled by this linker; the warning blames the linker, not the config."""
    p = copy_project(acme, tmp_path / "p")
    model = json.loads((p / "model.json").read_text())
    for lv in model["splink"]["comparisons"][0]["comparison_levels"]:
        lv["sql_condition"] = NAME_LEVELS_ON_NAMES.get(lv["label_for_charts"], lv["sql_condition"])
    model["linker"]["plan_digest"] = ACME_PLAN_DIGEST_BEFORE
    (p / "model.json").write_text(json.dumps(model, indent=1, sort_keys=True))
    r = invoke("run", "-p", p, "--json")
    assert r.exit_code == 0, r.output
    warnings = json.loads(r.stdout)["warnings"]
    assert any("another version of linker" in w and "linker train" in w for w in warnings)
    assert not any("changed its comparisons" in w for w in warnings)
    pairs = "SELECT o, k, probability, match_weight FROM score_pairs ORDER BY o, k"
    with state(acme) as now, state(p) as before:
        assert before.execute(pairs).fetchall() == now.execute(pairs).fetchall()
        assert len(now.execute(pairs).fetchall()) > 100


def test_a_members_comparison_in_a_project_without_users_compares_nothing(trained, tmp_path):
    """`members` configured by hand with no contacts SOR: no record has members (it crashed
    quoting the missing contacts SOR into SQL)."""
    p = copy_project(trained, tmp_path / "p")
    toml = p / "linker.toml"
    text = re.sub(r"(?m)^contacts_sor = .*$", "", toml.read_text())
    toml.write_text(text + '\n[[scoring.comparisons]]\nfield = "members"\nkind = "exact"\n')
    r = invoke("train", "-p", p)
    assert r.exit_code == 0, r.output
    r = invoke("run", "-p", p, "--json")
    assert r.exit_code == 0, r.output
    model = json.loads((p / "model.json").read_text())
    assert "members" in [c["output_column_name"] for c in model["splink"]["comparisons"]]


def test_a_broken_model_file_is_a_clear_error(trained, tmp_path):
    p = copy_project(trained, tmp_path / "p")
    (p / "model.json").write_text('{"splink": {}}')
    r = invoke("run", "-p", p)
    assert r.exit_code == 2
    assert "model.json" in r.stderr and "linker train" in r.stderr
    assert "Traceback" not in r.output


def test_too_little_data_skips_scoring_on_run_and_is_an_error_for_train(tmp_path):
    p = write_tiny(tmp_path / "tiny")
    r = invoke("run", "-p", p, "--json")
    assert r.exit_code == 0, r.output
    assert not (p / "model.json").exists()
    r = invoke("train", "-p", p)
    assert r.exit_code == 2
    assert "too little data to train" in r.stderr or "nothing to compare" in r.stderr


# --- decisions: thresholds, review band, runner-up, name only ---------------------------------

COMPS = [Comparison("name", "name", True), Comparison("domain", "exact")]


def decide(pairs: list[tuple], accept=0.99, review=0.80, margin=4.0) -> dict[int, tuple]:
    """Run the decision step on hand-made scored pairs (o, k, account, p, weight, and what
    alone agrees — None when more than the name or the location does)."""
    con = duckdb.connect()
    from linker.rule_sql import EDGES_DDL

    con.execute(EDGES_DDL)
    _create_score_tables(con, COMPS)
    con.executemany("INSERT INTO score_pairs VALUES (?, ?, ?, ?, ?, ?)", pairs)
    _decide(con, COMPS, accept, review, margin)
    out = {
        o: (decision, why)
        for o, decision, why in con.execute(
            "SELECT o, decision, why FROM score_decision"
        ).fetchall()
    }
    out["edges"] = sorted(con.execute("SELECT a, b, method FROM edges").fetchall())
    return out


def test_thresholds_and_the_review_band():
    d = decide(
        [
            (1, 101, "A", 0.995, 10.0, None),  # >= accept: linked
            (2, 102, "B", 0.90, 5.0, None),  # in [review, accept): review
            (3, 103, "C", 0.50, 0.0, None),  # below review: dropped
            (4, 104, "D", 0.80, 3.0, None),  # exactly review: review
            (5, 105, "E", 0.99, 9.0, None),  # exactly accept: linked
        ]
    )
    assert d[1] == ("link", None) and d[5] == ("link", None)
    assert d[2] == ("review", "in the review band") and d[4][0] == "review"
    assert d[3] == ("drop", "below the review threshold")
    assert d["edges"] == [
        (1, 101, "probabilistic"),
        (2, 102, "candidate"),
        (4, 104, "candidate"),
        (5, 105, "probabilistic"),
    ]


def test_a_close_runner_up_for_another_account_sends_the_record_to_review():
    d = decide(
        [
            (1, 101, "A", 0.9999, 14.0, None),
            (1, 201, "B", 0.999, 11.0, None),  # within 4 bits, above review: ambiguous
            (2, 102, "A", 0.9999, 14.0, None),
            (2, 202, "B", 0.95, 5.0, None),  # 9 bits behind: the best is clear
            (3, 103, "A", 0.9999, 14.0, None),
            (3, 203, "B", 0.5, 13.0, None),  # close in weight but below review: ignored
        ]
    )
    assert d[1] == ("review", "a runner-up for another account is close")
    assert d[2] == ("link", None) and d[3] == ("link", None)
    # Both of record 1's candidates wait for the reviewer.
    assert (1, 101, "candidate") in d["edges"] and (1, 201, "candidate") in d["edges"]


def test_two_records_of_the_same_account_are_not_runners_up():
    # score_pairs keeps one pair per account (the best record); a second account is needed.
    d = decide([(1, 101, "A", 0.9999, 14.0, None)])
    assert d[1] == ("link", None)


def test_a_match_on_the_name_alone_is_never_linked_automatically():
    d = decide([(1, 101, "A", 0.999, 12.0, "only the name agrees")])
    assert d[1] == ("review", "only the name agrees")
    assert d["edges"] == [(1, 101, "candidate")]


def test_a_match_on_the_location_alone_is_never_linked_automatically():
    # Two companies in one office building: same address, postcode and city, nothing else.
    d = decide([(1, 101, "A", 0.996, 8.0, "only the location agrees")])
    assert d[1] == ("review", "only the location agrees")


def test_margin_is_configurable():
    pairs = [(1, 101, "A", 0.9999, 14.0, None), (1, 201, "B", 0.999, 11.0, False)]
    assert decide(pairs, margin=2.0)[1] == ("link", None)
    assert decide(pairs, margin=4.0)[1][0] == "review"


# --- the run's results, the review queue, explain ----------------------------------------


def test_linked_records_carry_method_and_probability_and_pending_ones_a_reason(trained):
    con = state(trained)
    linked = con.execute(
        "SELECT count(*), min(match_probability) FROM account_result WHERE method = 'probabilistic'"
    ).fetchone()
    assert linked[0] > 0 and linked[1] >= 0.99
    bad = con.execute(
        "SELECT count(*) FROM account_result a JOIN score_decision d ON d.o = a.rid "
        "WHERE d.decision = 'review' AND a.account_id IS NULL AND a.reason <> 'pending_review'"
    ).fetchone()[0]
    assert bad == 0
    # Rule-linked records were not scored again.
    rescored = con.execute(
        "SELECT count(*) FROM score_decision d JOIN account_result_rules r ON r.rid = d.o "
        "WHERE r.account_id IS NOT NULL"
    ).fetchone()[0]
    assert rescored == 0


def test_the_review_queue_holds_pairs_with_their_evidence_and_conflicts_with_chains(acme):
    con = state(acme)
    q = con.execute(
        "SELECT kind, left_source, left_id, right_source, right_id, probability, why, "
        "left_fields, right_fields, evidence FROM review_queue ORDER BY item"
    ).fetchall()
    kinds = [r[0] for r in q]
    assert "conflict" in kinds and "pair" in kinds
    assert kinds == sorted(kinds, key=lambda k: k != "conflict")  # conflicts first
    pair = next(r for r in q if r[0] == "pair" and r[5] is not None)
    assert 0.50 <= pair[5] < 1.0
    evidence = json.loads(pair[9])
    assert {e["comparison"] for e in evidence} >= {"name"}
    assert all({"level", "match_weight", "open_value", "known_value"} <= e.keys() for e in evidence)
    assert "name_raw" in json.loads(pair[7]) and "name_raw" in json.loads(pair[8])
    conflict = next(r for r in q if r[0] == "conflict")
    chain = json.loads(conflict[9])
    assert len(chain) >= 1 and {"from", "to", "rule"} <= chain[0].keys()
    report_pending = json.loads(
        con.execute("SELECT value FROM meta WHERE key = 'report'").fetchone()[0]
    )["pending_review"]
    assert report_pending == kinds.count("pair")


def test_decisions_on_queued_pairs_are_honoured_by_publish(acme, tmp_path):
    p = copy_project(acme, tmp_path / "p")
    assert invoke("run", "-p", p).exit_code == 0
    con = state(p)
    pairs = con.execute(
        "SELECT left_source, left_id, right_source, right_id FROM review_queue "
        "WHERE kind = 'pair' AND probability IS NOT NULL ORDER BY item LIMIT 2"
    ).fetchall()
    con.close()
    assert len(pairs) == 2
    (ls, li, rs, ri), (ls2, li2, rs2, ri2) = pairs
    lines = [
        {"left": [ls, li], "right": [rs, ri], "decision": "match", "reviewer": "ana",
         "at": "2026-11-23T10:00:00Z", "note": ""},
        {"left": [ls2, li2], "right": [rs2, ri2], "decision": "no_match", "reviewer": "ana",
         "at": "2026-11-23T10:01:00Z", "note": ""},
    ]  # fmt: skip
    (p / "decisions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = invoke("publish", "-p", p, "--force")
    assert r.exit_code == 0, r.output
    con = state(p)
    (method, account, prob) = con.execute(
        "SELECT method, account_id, match_probability FROM account_result "
        "WHERE source = ? AND id = ?",
        [ls, li],
    ).fetchone()
    assert method == "review" and account is not None and prob is not None
    left = con.execute(
        "SELECT count(*) FROM review_queue WHERE (left_source, left_id, right_source, right_id) "
        "IN ((?, ?, ?, ?), (?, ?, ?, ?))",
        [ls, li, rs, ri, ls2, li2, rs2, ri2],
    ).fetchone()[0]
    assert left == 0


def test_explain_shows_the_score_breakdown_of_a_probabilistic_link(trained):
    con = state(trained)
    source, id_ = con.execute(
        "SELECT source, id FROM account_result WHERE method = 'probabilistic' ORDER BY rid LIMIT 1"
    ).fetchone()
    con.close()
    r = invoke("explain", "-p", trained, source, id_)
    assert r.exit_code == 0, r.output
    assert "(probabilistic, p=" in r.output
    assert "per comparison (level, match weight, this record | the other)" in r.output
    lines = [ln.split() for ln in r.output.splitlines() if ln.startswith("      name ")]
    assert lines and lines[0][1] in ("exact", "jaro-winkler", "shares")
    info = json.loads(invoke("explain", "-p", trained, source, id_, "--json").stdout)
    step = info["chain"][0]
    assert step["method"] == "probabilistic" and step["probability"] >= 0.99
    weights = {c["comparison"]: c["match_weight"] for c in step["comparisons"]}
    assert "name" in weights and any(w and w > 0 for w in weights.values())


def test_explain_of_an_unresolved_record_shows_its_best_candidate(acme):
    con = state(acme)
    source, id_ = con.execute(
        "SELECT source, id FROM account_result WHERE reason = 'pending_review' ORDER BY rid LIMIT 1"
    ).fetchone()
    con.close()
    r = invoke("explain", "-p", acme, source, id_)
    assert r.exit_code == 0, r.output
    assert "unresolved: pending_review" in r.output
    assert "best candidate:" in r.output and "waits for review" in r.output


# --- determinism and accuracy -----------------------------------------------------------


def test_two_runs_with_the_same_model_give_byte_identical_crosswalks(trained, tmp_path):
    digests = []
    for name in ("a", "b"):
        p = copy_project(trained, tmp_path / name)
        r = invoke("run", "-p", p, "--publish", "--out", tmp_path / f"out_{name}")
        assert r.exit_code in (0, 1), r.output
        assert (
            invoke("publish", "-p", p, "--force", "--out", tmp_path / f"out_{name}").exit_code == 0
        )
        digests.append(
            {
                f.name: hashlib.sha256(f.read_bytes()).hexdigest()
                for f in sorted((tmp_path / f"out_{name}").glob("*.parquet"))
            }
        )
    assert digests[0] == digests[1] and len(digests[0]) == 4  # changes.parquet too


def test_accuracy_and_lift_on_the_generated_project(trained):
    r = invoke("evaluate", "-p", trained, "--truth", trained / "truth.csv", "--json")
    res = json.loads(r.stdout)
    for section in ("accounts", "contacts"):
        a = res[section]["all"]
        assert a["precision"] >= 0.99 and a["recall"] >= 0.95, (section, a)
    lift = res["accounts"]["all"]["correct"] - res["accounts"]["all_rules_only"]["correct"]
    assert lift > 0
    assert (
        res["accounts"]["all"]["precision"]
        >= res["accounts"]["all_rules_only"]["precision"] - 0.002
    )
    text = invoke("evaluate", "-p", trained, "--truth", trained / "truth.csv").output
    assert "lift over rules only, accounts: recall +" in text


def test_a_failed_em_round_is_undone_and_reported(trained, tmp_path, monkeypatch):
    """Splink drops the blocked comparisons while an EM round runs; a round that fails (here a
    blocking rule that finds no pair) must not leave the model without them."""
    from linker.scoring import training

    monkeypatch.setattr(training, "MIN_LABELS", 10**9)  # force EM instead of labels
    p = copy_project(trained, tmp_path / "p")
    toml = p / "linker.toml"
    toml.write_text(
        toml.read_text()
        + "\n[[scoring.blocking]]\nreplace = true\n"
        + "sql = \"l.name = r.name AND l.name = 'no such name'\"\n"
        + '[[scoring.blocking]]\non = ["domain"]\n'
        + '[[scoring.blocking]]\non = ["name"]\n'
    )
    res = Project(p).train()
    rounds = res["training"]["em_rounds"]
    assert [r["ok"] for r in rounds] == [False, True, True]
    model = json.loads((p / "model.json").read_text())
    names = [c["output_column_name"] for c in model["splink"]["comparisons"]]
    assert names == [c["field"] for c in model["linker"]["comparisons"]]
    assert "name" in names
    r = invoke("run", "-p", p)
    assert r.exit_code in (0, 1), r.output


def test_training_by_em_writes_the_same_model_json_every_time(trained, tmp_path, monkeypatch):
    # m by EM sums probabilities in parallel (their last bits vary: three files in four
    # trainings of the example before m was rounded): the same data, the same bytes.
    from linker.scoring import training

    monkeypatch.setattr(training, "MIN_LABELS", 10**9)  # force EM instead of labels
    written = set()
    for i in range(3):
        p = copy_project(trained, tmp_path / f"p{i}")
        (p / "model.json").unlink()
        res = Project(p).train()
        assert res["training"]["m"].startswith("m by expectation maximisation")
        written.add((p / "model.json").read_bytes())
    assert len(written) == 1


def _kept_pairs(pred: str, ids: dict[int, str], org_records: str = "") -> duckdb.DuckDBPyConnection:
    """`_keep_pairs` and `_decide` over a prediction: `pred` the SQL VALUES of (open rid, known
    rid, known account, probability, weight, name weight, members weight); `ids` the known
    records' ids (all of source 1, the open ones of source 2); `org_records` the rids of
    organizations' records (SQL VALUES, or none)."""
    from linker.comparisons import MEMBERS
    from linker.rule_sql import EDGES_DDL
    from linker.scoring.scores import _keep_pairs

    comps = [Comparison("name", "exact"), Comparison(MEMBERS, "exact")]
    con = duckdb.connect()
    con.execute(EDGES_DDL)
    _create_score_tables(con, comps)
    if org_records:
        con.execute(f"CREATE TABLE record_domains AS SELECT * FROM (VALUES {org_records}) t(rid)")
    con.execute(
        f"""
        CREATE TABLE pred AS SELECT * FROM (VALUES {pred}
        ) t(unique_id_l, unique_id_r, account_id_r, match_probability, match_weight,
            mw_name, mw_members)
        """
    )
    con.execute("CREATE TABLE records (rid BIGINT, source_idx INTEGER, id VARCHAR)")
    con.executemany("INSERT INTO records VALUES (?, 1, ?)", list(ids.items()))
    con.execute(
        "INSERT INTO records SELECT DISTINCT unique_id_l, 2, unique_id_l::VARCHAR FROM pred"
    )
    con.execute(
        "CREATE TABLE pred2 AS SELECT 'open' AS source_dataset_l, unique_id_l, unique_id_r, "
        "NULL::VARCHAR AS account_id_l, account_id_r, match_probability, match_weight, "
        "'billing' AS source_l, 'product' AS source_r, mw_name, 1 AS gamma_name, "
        "mw_members, CASE WHEN mw_members > 0 THEN 1 ELSE 0 END AS gamma_members FROM pred"
    )
    # Splink's inputs, which the evidence reads the compared values from
    for side, col in (("open", "unique_id_l"), ("known", "unique_id_r")):
        con.execute(
            f"CREATE TABLE score_{side} AS SELECT DISTINCT {col} AS unique_id, 'x' AS name, "
            "[]::BIGINT[] AS members, account_id_r AS account_id FROM pred"
        )
    _keep_pairs(con, "pred2", comps)
    _decide(con, comps, 0.99, 0.5, 4.0)
    return con


def test_an_organizations_record_links_by_score_only_when_its_contacts_say_which_account():
    # Records 1 and 2 write from a domain two accounts hold (an organization's sites): 1 is
    # told apart by its contacts being the account's users, 2 only by the organization's name
    # and address; 3 is no organization's record.
    from linker.scoring.scores import ORG_RECORD

    con = _kept_pairs(
        "(1, 101, 'A', 0.9999, 14.0, 2.0, 5.0), (2, 102, 'A', 0.9999, 14.0, 12.0, 0.0), "
        "(3, 103, 'B', 0.9999, 14.0, 12.0, 0.0)",
        {101: "a", 102: "b", 103: "c"},
        org_records="(1), (2)",
    )
    got = dict(con.execute("SELECT o, coalesce(why, decision) FROM score_decision").fetchall())
    assert got == {1: "link", 2: ORG_RECORD, 3: "link"}


@pytest.mark.parametrize("first", [101, 102])
def test_of_two_known_records_of_one_account_scored_alike_the_first_by_id_is_kept(first):
    # Open record 1 scores the same against known records 101 and 102, both account A's: the
    # pair kept (and so the chain its link makes) is the one with the known record first by
    # source and id, whichever of the two has the lower number.
    other = 203 - first
    con = _kept_pairs(
        "(1, 101, 'A', 0.9999, 14.0, 14.0, 0.0), (1, 102, 'A', 0.9999, 14.0, 14.0, 0.0)",
        {first: "0017b00000AAAA", other: "0017b00000ZZZZ"},
    )
    assert con.execute("SELECT o, k, account_id FROM score_pairs").fetchall() == [(1, first, "A")]


def test_a_field_is_compared_by_default_when_two_account_sources_hold_it():
    # name: three sources; vat: two (one value each); phone: one source only; domain: none;
    # a contact's email is not an account source's
    from linker.scoring.inputs import _fields_present

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE records (source VARCHAR, entity VARCHAR, name VARCHAR, vat VARCHAR, "
        "phone VARCHAR, domain VARCHAR[], email VARCHAR)"
    )
    con.execute(
        "INSERT INTO records VALUES "
        "('a', 'accounts', 'x', 'DE1', '+491', NULL, NULL), ('a', 'accounts', 'y', NULL, NULL, NULL, NULL), "
        "('b', 'accounts', 'x', NULL, NULL, NULL, 'a@x.de'), ('b', 'accounts', 'z', 'DE2', NULL, NULL, NULL), "
        "('c', 'accounts', 'x', NULL, NULL, NULL, NULL), "
        "('u', 'contacts', NULL, NULL, '+492', NULL, 'b@x.de')"
    )

    class NoContacts:
        contacts_sor = None

    assert _fields_present(con, NoContacts(), []) == {"name", "vat"}  # type: ignore[arg-type]
