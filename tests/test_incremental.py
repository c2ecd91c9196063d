"""`linker publish` after new decisions resolves only the components they touch
(linker/incremental.py): held, round after round of random decisions, to the answer of
resolving everything again (`publish --full`), byte for byte."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import duckdb
import pytest

from linker import incremental, ingest, normalize, publish, rule_reach
from linker.project import Project
from linker.project_pipeline import ProjectPipeline
from linker.scoring import scores

from .conftest import REPO, load_benchmark, load_datasets

FILES = ("accounts.parquet", "contacts.parquet", "accounts_wide.parquet", "changes.parquet")
# Tables that say when or how fast, not what: compared apart (the report) or not at all.
NOT_COMPARED = {"meta", "linker_state"}


@pytest.fixture(scope="module")
def acme_run(tmp_path_factory) -> Path:
    """The bundled example, run once with its model (the state every trial starts from)."""
    root = tmp_path_factory.mktemp("incremental") / "acme"
    shutil.copytree(
        REPO / "fixtures" / "acme", root, ignore=shutil.ignore_patterns(".linker", "crosswalk")
    )
    Project(root).run(do_publish=True)
    return root


def _records(state: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(state), read_only=True)
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        return {
            "queue": q("SELECT left_source, left_id, right_source, right_id FROM review_queue"),
            "linked": q(
                "SELECT source, id, account_id FROM account_result "
                "WHERE method NOT IN ('sor') AND account_id IS NOT NULL ORDER BY rid"
            ),
            "open": q(
                "SELECT source, id FROM account_result WHERE account_id IS NULL ORDER BY rid"
            ),
            "sor": q("SELECT source, id FROM account_result WHERE method = 'sor' ORDER BY rid"),
            "edges": q(
                "SELECT ra.source, ra.id, rb.source, rb.id FROM live_edges e "
                "JOIN records ra ON ra.rid = e.a JOIN records rb ON rb.rid = e.b ORDER BY ALL"
            ),
            # edges beside a cut: deciding one may undo the cut (the components were one)
            "near_cuts": q(
                "SELECT ra.source, ra.id, rb.source, rb.id FROM live_edges e "
                "JOIN records ra ON ra.rid = e.a JOIN records rb ON rb.rid = e.b "
                "JOIN account_result x ON x.rid = e.a WHERE x.comp IN (SELECT comp FROM "
                "account_result WHERE rid IN (SELECT unnest([a, b]) FROM glue_cuts)) ORDER BY ALL"
            ),
        }
    finally:
        con.close()


def _random_decisions(rng: random.Random, state: Path, past: list[dict], n: int) -> list[dict]:
    """n decisions of every kind a reviewer (or a hand edit) makes."""
    recs = _records(state)
    sor_source = recs["sor"][0][0]
    out: list[dict] = []
    for _ in range(n):
        kind = rng.choice(
            ["queue", "queue", "move", "cut_edge", "near_cut", "undo", "unknown", "open"]
        )
        if kind == "queue" and recs["queue"]:
            ls, li, rs, ri = rng.choice(recs["queue"])
            pair, value = ([ls, li], [rs, ri]), rng.choice(["match", "no_match"])
        elif kind == "move" and recs["linked"]:  # a linked record matched to another account
            s, i, acc = rng.choice(recs["linked"])
            other = rng.choice([x for x in recs["sor"] if x[1] != acc])
            pair, value = ([s, i], list(other)), "match"
        elif kind in ("cut_edge", "near_cut") and recs["edges"]:
            near = recs["near_cuts"] if kind == "near_cut" else []
            ls, li, rs, ri = rng.choice(near or recs["edges"])
            pair, value = ([ls, li], [rs, ri]), "no_match"
        elif kind == "undo" and past:
            d = rng.choice(past)
            pair, value = (d["left"], d["right"]), "undo"
        elif kind == "open" and recs["open"]:
            s, i = rng.choice(recs["open"])
            pair, value = ([s, i], list(rng.choice(recs["sor"]))), rng.choice(["match", "no_match"])
        else:  # a record that does not exist: ignored with a warning
            pair, value = (["crm", f"gone-{rng.random()}"], [sor_source, "1"]), "match"
        out.append(
            {
                "left": pair[0],
                "right": pair[1],
                "decision": value,
                "reviewer": "prop",
                "at": f"2026-11-30T09:{len(past) + len(out):02d}:00Z",
                "note": "",
            }
        )
    return out


def _append_decisions(roots: tuple[Path, ...], batch: list[dict]) -> None:
    """The decisions appended to each project's log, as a reviewer's would be."""
    for root in roots:
        with open(root / "decisions.jsonl", "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(d) + "\n" for d in batch)


def _returns(monkeypatch, module, name: str) -> list:
    """What module.name returns, call by call (the function itself still runs)."""
    seen: list = []
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a: seen.append(real(*a)) or seen[-1])
    return seen


def _table_differences(a: Path, b: Path) -> list[str]:
    """Every state table of `b` compared with `a`'s as a multiset of rows."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'b'"
        ).fetchall()
        out = []
        for schema, table in tables:
            if table in NOT_COMPARED:
                continue
            name = f"{schema}.{table}"
            n = con.execute(
                f"SELECT (SELECT count(*) FROM (FROM a.{name} EXCEPT ALL FROM b.{name})) + "
                f"(SELECT count(*) FROM (FROM b.{name} EXCEPT ALL FROM a.{name}))"
            ).fetchone()[0]
            if n:
                out.append(f"{name}: {n} rows differ")
        reports = [
            json.loads(
                con.execute(f"SELECT value FROM {db}.meta WHERE key = 'report'").fetchone()[0]
            )
            for db in ("a", "b")
        ]
        for key in reports[1]:
            if key not in ("timings", "resolved") and reports[0].get(key) != reports[1][key]:
                out.append(f"report[{key!r}] differs")
        return out
    finally:
        con.close()


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    """One item per time a run read its sources (Ingestor.load_all)."""
    from linker.ingest import Ingestor

    real = Ingestor.load_all
    calls: list[int] = []

    def counted(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(Ingestor, "load_all", counted)
    return calls


@pytest.fixture
def patched(monkeypatch) -> list[bool]:
    """Per changes.parquet made: whether it was patched from the rows resolved again
    (publish.Before) rather than made by reading the previous publication's files."""
    seen: list[bool] = []
    changes_table = publish.changes_table

    def spy(tables, previous, before=None):
        seen.append(before is not None)
        return changes_table(tables, previous, before)

    monkeypatch.setattr(publish, "changes_table", spy)
    return seen


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_publish_equals_full(
    acme_run: Path, tmp_path: Path, seed: int, patched: list[bool]
):
    # changes.parquet: the incremental publish compares only the rows it resolved again
    # (publish.Before); --full reads the previous publication's files. Both must agree.
    rng = random.Random(seed)
    inc, full = tmp_path / "inc", tmp_path / "full"
    for p in (inc, full):
        shutil.copytree(acme_run, p)
    past: list[dict] = []
    for round_ in range(5):
        batch = _random_decisions(
            rng, inc / ".linker" / "state.duckdb", past, rng.choice([1, 3, 12])
        )
        past += batch
        _append_decisions((inc, full), batch)
        res_inc = Project(inc).publish(force=True)
        res_full = Project(full).publish(force=True, full=True)
        assert patched[-2:] == [True, False]
        assert res_inc.report["resolved"]["scope"] == "touched"
        assert res_full.report["resolved"]["scope"] == "all"
        assert res_inc.run_id == res_full.run_id
        for f in FILES:
            a = (inc / "crosswalk" / f).read_bytes()
            b = (full / "crosswalk" / f).read_bytes()
            assert a == b, (seed, round_, f, batch)
        diffs = _table_differences(
            full / ".linker" / "state.duckdb", inc / ".linker" / "state.duckdb"
        )
        assert not diffs, (seed, round_, diffs, batch)


def test_scope_takes_in_the_components_a_cut_separated():
    """Components 1 and 10 were one until a glue cut (5-12); 20 is apart: a decision about
    record 2 must resolve 1 and 10 again (the cut may not be made now), not 20."""
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS st")
    con.execute(
        "CREATE TABLE st.account_result AS SELECT * FROM (VALUES (1, 1), (2, 1), (5, 1), "
        "(10, 10), (12, 10), (13, 10), (20, 20), (21, 20), (30, 30)) t(rid, comp)"
    )
    con.execute("CREATE TABLE st.glue_cuts AS SELECT 5 AS a, 12 AS b")
    assert incremental.scope_of(con, "st", [2]) == 6
    assert sorted(r[0] for r in con.execute("FROM _scope").fetchall()) == [1, 2, 5, 10, 12, 13]
    assert incremental.scope_of(con, "st", [21, 30]) == 3
    assert incremental.scope_of(con, "st", []) == 0


def test_a_run_with_nothing_changed_keeps_the_last_runs_results(tiny, monkeypatch):
    from typer.testing import CliRunner

    from linker import state
    from linker.cli import app

    p = Project(tiny)
    first = p.run(do_publish=True)
    assert first.report["resolved"] == {"scope": "all", "why": "no previous run", "by": "run"}
    db = tiny / ".linker" / "state.duckdb"
    before = db.read_bytes()
    published = sorted((tiny / "crosswalk").rglob("*"))
    again = p.run(do_publish=True)
    assert again.run_id == first.run_id
    # the publication there is this run's, whole: nothing written, none rotated into _history
    assert again.manifest == first.manifest and again.report["resolved"]["publication"] == "current"
    assert sorted((tiny / "crosswalk").rglob("*")) == published
    assert again.report["resolved"]["scope"] == "none"
    assert set(again.timings) <= {"ingest", "publish"}  # read, compared, nothing recomputed
    assert again.report["since_last_run"]["compared"]
    assert {k: v for k, v in again.report.items() if k not in ("timings", "since_last_run",
            "resolved")} == {k: v for k, v in first.report.items() if k not in (
            "timings", "since_last_run", "resolved")}  # fmt: skip
    assert db.read_bytes() == before
    text = CliRunner().invoke(app, ["run", "-p", str(tiny), "--publish"])
    assert text.exit_code == 0 and "nothing changed since run" in text.stdout
    assert "is already the publication in" in text.stdout
    (tiny / "crosswalk" / "accounts.parquet").write_bytes(b"damaged")  # not whole: published
    assert p.run(do_publish=True).report["resolved"].get("publication") is None
    assert len(list((tiny / "crosswalk" / "_history").iterdir())) == 1

    # --full, another linker (code or libraries), a new decision, a source: computed again,
    # and the summary says why
    def why() -> str:
        res = Project(tiny).run()  # a new command reads linker.toml again
        assert "rules" in res.timings or res.report["resolved"]["scope"] == "none"
        return res.report["resolved"]["why"]

    def normalized(fresh: int) -> str:
        return f"normalized only the records added or changed: {fresh} of {n} (the others as the last run did)"

    full = p.run(full=True)
    assert full.report["resolved"]["why"] == "asked (--full)"
    n = sum(v["records"] for v in full.report["sources"].values())
    monkeypatch.setattr(state, "engine_digest", lambda: "another linker")
    assert why() == "linker's code or libraries changed since the last run"
    assert why().startswith("nothing changed since run")
    decision = {"left": ["crm", "114"], "right": ["product", "37"], "decision": "match"}
    (tiny / "decisions.jsonl").write_text(json.dumps(decision) + "\n")
    # (the records, unchanged, are taken from the state as the last run normalized them)
    assert why() == "decisions were made or taken back; " + normalized(0)
    toml = tiny / "linker.toml"
    # what linker.toml says counts, not how: a comment, or another memory budget, changes no
    # answer (the same run id, results standing)
    toml.write_text(toml.read_text().replace("[project]\n", '[project]\nmemory_limit = "1GB"\n'))
    toml.write_text(toml.read_text() + "\n# a comment\n")
    assert why().startswith("nothing changed since run")
    crm = tiny / "data" / "crm.csv"
    crm.write_text(crm.read_text().replace("Nobody Ltd", "Nobody Limited"))
    toml.write_text(toml.read_text().replace('name = "tiny"', 'name = "tiny too"'))
    assert why() == "the sources changed (crm); linker.toml changed; " + normalized(1)
    text = CliRunner().invoke(app, ["run", "-p", str(tiny), "--full"])
    assert "computed in full: asked (--full)" in text.stdout


def _contacts(root: Path) -> dict[str, str | None]:
    import pyarrow.parquet as pq

    t = pq.read_table(root / "crosswalk" / "contacts.parquet").to_pylist()
    return {f"{r['source']}:{r['source_record_id']}": r["account_id"] for r in t}


def test_a_decision_reaches_the_contacts_of_a_domain_it_gives_an_account(tiny, tmp_path):
    """CRM 114 (nobody-ltd.co.uk) has no account, nor has contact c6 (no account link, an
    email on that domain). A reviewer matches 114 to product 35: the domain is now one account's,
    and c6 gets it by email_domain — reached only through the domain (resolved again, as a
    full re-resolve does)."""
    crm = tiny / "data" / "crm.csv"
    crm.write_text(crm.read_text().replace("nobody.example", "nobody-ltd.co.uk"))
    contacts = tiny / "data" / "crm_contacts.csv"
    contacts.write_text(contacts.read_text() + "c6,,y@nobody-ltd.co.uk,Y,Z\n")
    Project(tiny).run(do_publish=True)
    assert _contacts(tiny)["crm_contacts:c6"] is None
    twin = tmp_path / "twin"
    shutil.copytree(tiny, twin)
    decision = {"left": ["crm", "114"], "right": ["product", "35"], "decision": "match"}
    for p in (tiny, twin):
        (p / "decisions.jsonl").write_text(json.dumps(decision) + "\n")
    inc = Project(tiny).publish()
    Project(twin).publish(full=True)
    assert inc.report["resolved"]["scope"] == "touched"
    assert _contacts(tiny)["crm_contacts:c6"] == "35"
    for f in FILES:
        assert (tiny / "crosswalk" / f).read_bytes() == (twin / "crosswalk" / f).read_bytes(), f


def test_publish_takes_the_records_own_counts_from_the_run(acme_run: Path):
    """A publish's report takes what the records themselves are (invalid phones and VAT
    numbers, references naming nothing, account links) from the run's report: it must be
    what counting them again gives."""
    from linker import report

    project = Project(acme_run)
    con = duckdb.connect(str(acme_run / ".linker" / "state.duckdb"), read_only=True)
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        stats = json.loads(meta["run"])["stats"]
        counted = report.build_report(con, project.config, stats)
        taken = report.build_report(con, project.config, stats, json.loads(meta["report"]))
        older = json.loads(meta["report"])  # a report without some of them: all counted
        del older["sources"]["crm"]["dangling_refs"]
        assert report.build_report(con, project.config, stats, older) == counted
    finally:
        con.close()
    assert taken == counted
    assert json.dumps(taken) == json.dumps(counted)  # key order too
    assert any(e.get("dangling_refs") for e in counted["sources"].values())
    assert any(e.get("invalid_phones") for e in counted["sources"].values())


def test_changes_are_patched_only_from_the_publication_the_results_came_from(
    tiny, tmp_path, monkeypatch, patched
):
    """A publish after review makes changes.parquet from the rows it resolved again only when
    the publication in place holds the results it started from; after `linker forget`
    scrubbed it, or under another linker, it reads the previous files. The same file either
    way (the twin publishes with --full, which always reads them)."""
    from linker import state

    seen = patched
    Project(tiny).run(do_publish=True)
    twin = tmp_path / "twin"
    shutil.copytree(tiny, twin)

    def decide(n: int) -> list[bool]:
        decision = {"left": ["crm", "114"], "right": ["product", "35"],
                    "decision": "match" if n % 2 else "no_match"}  # fmt: skip
        for p in (tiny, twin):
            with open(p / "decisions.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(decision) + "\n")
        del seen[:]
        Project(tiny).publish()
        Project(twin).publish(full=True)
        for f in FILES:
            assert (tiny / "crosswalk" / f).read_bytes() == (twin / "crosswalk" / f).read_bytes()
        return seen[:]

    for p in (tiny, twin):  # scrubs the publication, deletes the state: run again
        Project(p).forget(source="crm", record_id="115")
        Project(p).run()
    # the same run id as the publication's (crm 115 is still in the sources), but the
    # publication lacks it: read, where crm 115 is `added`
    assert publish.read_manifest(tiny / "crosswalk")["run_id"] == Project(tiny).run().run_id
    assert decide(1) == [False, False]
    assert publish.read_manifest(tiny / "crosswalk")["changes"]["added"] == 1
    assert decide(2) == [True, False]
    assert publish.read_manifest(tiny / "crosswalk")["changes"]["account"] >= 1
    # nothing decided since: the publication holds these results, whole; nothing written
    history = sorted((tiny / "crosswalk" / "_history").iterdir())
    res = Project(tiny).publish()
    assert res.report["resolved"]["scope"] == "none"
    assert res.report["resolved"]["publication"] == "current" and res.manifest
    assert sorted((tiny / "crosswalk" / "_history").iterdir()) == history
    # not whole: written again, its changes from the results (none differs), not the files
    (tiny / "crosswalk" / "contacts.parquet").write_bytes(b"damaged")
    del seen[:]
    res = Project(tiny).publish()
    assert seen == [True] and set(res.manifest["changes"].values()) == {0}
    for f in FILES[:3]:
        assert (tiny / "crosswalk" / f).read_bytes() == (twin / "crosswalk" / f).read_bytes()
    monkeypatch.setattr(state, "engine_digest", lambda: "another linker")
    assert decide(4) == [False, False]


def test_a_run_whose_source_files_are_the_last_runs_reads_none_of_them(tiny, reads):
    """Files that are, byte for byte, those the last run read give its rows: a run with
    nothing else changed takes the run id from the state and reads no source. A file
    rewritten (other bytes, the same rows) is read, and nothing changed still; its hash is
    kept, so the run after that reads nothing again."""
    p = Project(tiny)
    first = p.run()
    read = p.dry_run()["since_last_run"]  # reads every source
    calls = reads
    calls.clear()
    again = Project(tiny).run()
    assert calls == [] and again.run_id == first.run_id
    assert again.report["resolved"]["scope"] == "none"
    assert again.report["since_last_run"] == read
    crm = tiny / "data" / "crm.csv"
    crm.write_text(crm.read_text() + "\n")  # other bytes, the same rows (a re-export)
    state_db = tiny / ".linker" / "state.duckdb"
    tables = _records(state_db)
    again = Project(tiny).run()
    assert calls == [1] and again.report["resolved"]["scope"] == "none"
    assert again.report["since_last_run"] == read
    # it kept the new file's hash, and nothing else: the next run over it reads nothing
    assert _records(state_db) == tables
    assert Project(tiny).run().run_id == first.run_id and calls == [1]
    # the same files, a new decision: read, and computed
    decision = {"left": ["crm", "114"], "right": ["product", "37"], "decision": "match"}
    (tiny / "decisions.jsonl").write_text(json.dumps(decision) + "\n")
    again = Project(tiny).run()
    assert calls == [1, 1]
    assert again.report["resolved"]["why"].startswith("decisions were made or taken back; ")
    assert Project(tiny).run(full=True).run_id == again.run_id  # (full: reads, computes)


@pytest.fixture(scope="module")
def traps(tmp_path_factory) -> Path:
    """A small data set with the traps of independently written data (benchmarks/datasets.py):
    its model trained once, kept for every run of it."""
    root = load_datasets().ensure(3000, seed=5, root=tmp_path_factory.mktemp("traps"))
    Project(root).run()
    return root


@pytest.mark.parametrize("case", ["acme-1", "acme-2", "traps"])
def test_a_runs_second_resolve_of_what_scoring_touched_equals_resolving_all(
    acme_run: Path, traps: Path, tmp_path: Path, monkeypatch, case: str
):
    """After scoring, a run resolves again only the components the scored pairs reach
    (`_resolve_scored`): the same publication and state, byte for byte, as resolving every
    component again — on the example with random decisions (matches of review pairs, moves,
    cuts), and on data with the traps (conflicts, glue cuts, shared keys)."""
    origin = traps if case == "traps" else acme_run
    inc, full = tmp_path / "inc", tmp_path / "full"
    for p in (inc, full):
        shutil.copytree(origin, p, ignore=shutil.ignore_patterns(".linker", "crosswalk"))
    if case != "traps":
        rng = random.Random(case)
        batch = _random_decisions(rng, acme_run / ".linker" / "state.duckdb", [], 15)
        _append_decisions((inc, full), batch)
    scopes = _returns(monkeypatch, incremental, "scope_of")
    res_inc = Project(inc).run(do_publish=True)
    with monkeypatch.context() as m:
        m.setattr(ProjectPipeline, "_resolve_scored", lambda self, con: self._resolve_accounts(con))
        res_full = Project(full).run(do_publish=True)
    n_accounts = sum(
        v["records"]
        for k, v in res_inc.report["sources"].items()
        if k in ("product", "crm", "support", "billing")
    )
    assert len(scopes) == 1 and 0 < scopes[0] < n_accounts  # the inc run took the short way
    assert res_inc.run_id == res_full.run_id
    for f in FILES:
        assert (inc / "crosswalk" / f).read_bytes() == (full / "crosswalk" / f).read_bytes(), f
    diffs = _table_differences(full / ".linker" / "state.duckdb", inc / ".linker" / "state.duckdb")
    assert not diffs, diffs


def test_a_reexport_seen_while_another_reader_holds_the_state_is_read_again_later(tiny, reads):
    """The one write of a run that computed nothing (a re-export's new sha256) is skipped when
    another reader holds the state: the run still stands on the last results, and the next
    run reads the file again (and then keeps its hash)."""
    first = Project(tiny).run()
    calls = reads
    calls.clear()
    crm = tiny / "data" / "crm.csv"
    crm.write_text(crm.read_text() + "\n")  # other bytes, the same rows
    reader = duckdb.connect(str(tiny / ".linker" / "state.duckdb"), read_only=True)
    try:
        held = Project(tiny).run()
    finally:
        reader.close()
    assert held.run_id == first.run_id and held.report["resolved"]["scope"] == "none"
    assert calls == [1]
    again = Project(tiny).run()  # its hash was not kept: read again, and kept now
    assert again.run_id == first.run_id and calls == [1, 1]
    assert Project(tiny).run().run_id == first.run_id and calls == [1, 1]


@pytest.mark.parametrize("case", ["acme-1", "acme-2", "traps"])
def test_a_run_normalizes_only_the_records_whose_row_changed(
    acme_run: Path, traps: Path, tmp_path: Path, monkeypatch, case: str
):
    """A run takes the normalized rows of the records whose mapped row is the last run's from
    its state (normalize._take_unchanged) and normalizes the others: after random edits,
    deletions and additions in every source (benchmarks/source_changes.py's) and random
    decisions (matches of queued pairs, records moved to other accounts, cuts, undos), the same
    publication and state as normalizing every record (`run --full`), byte for byte — but the
    value cache, which also keeps the values of the records the run did not normalize."""
    origin = traps if case == "traps" else acme_run
    changed = tmp_path / "data"
    load_benchmark("source_changes").change_data(origin, changed, 0.05, seed=len(case) + 7)
    state = origin / ".linker" / "state.duckdb"
    batch = _random_decisions(random.Random(case), state, [], 10)
    inc, full = tmp_path / "inc", tmp_path / "full"
    for p in (inc, full):
        shutil.copytree(origin, p, ignore=shutil.ignore_patterns("data"))
        shutil.copytree(changed, p / "data")
    _append_decisions((inc, full), batch)
    taken = _returns(monkeypatch, normalize, "_take_unchanged")
    res_inc = Project(inc).run(do_publish=True)
    n_taken = taken.copy()
    res_full = Project(full).run(do_publish=True, full=True)
    n_records = sum(v["records"] for v in res_inc.report["sources"].values())
    assert taken == n_taken and 0.8 * n_records < n_taken[0] < n_records  # --full took none
    assert res_inc.run_id == res_full.run_id
    for f in FILES:
        assert (inc / "crosswalk" / f).read_bytes() == (full / "crosswalk" / f).read_bytes(), f
    states = [p / ".linker" / "state.duckdb" for p in (full, inc)]
    assert [d for d in _table_differences(*states) if not d.startswith("main.key_cache:")] == []
    assert _not_cached(*states) == 0


def _numbers(root: Path) -> dict[tuple[str, str], int]:
    with duckdb.connect(str(root / ".linker" / "state.duckdb"), read_only=True) as con:
        return {
            (s, i): r for s, i, r in con.execute("SELECT source, id, rid FROM records").fetchall()
        }


def test_a_run_keeps_the_last_runs_record_numbers(acme_run: Path, tmp_path: Path):
    """A run numbers the records the last run had as it did, and new ones after the largest of
    those (Ingestor._number), so later runs can compare tables row by row; what it publishes
    is a run's from no state at all (numbered afresh), byte for byte. A run that trains
    numbers afresh: model.json does not depend on what ran before."""
    changed = tmp_path / "data"
    load_benchmark("source_changes").change_data(acme_run, changed, 0.05, seed=3)
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    shutil.copytree(acme_run, kept, ignore=shutil.ignore_patterns("data"))
    shutil.copytree(acme_run, fresh, ignore=shutil.ignore_patterns("data", ".linker", "crosswalk"))
    for p in (kept, fresh):
        shutil.copytree(changed, p / "data")
    before = _numbers(acme_run)
    Project(kept).run(do_publish=True)
    Project(fresh).run(do_publish=True)
    after, afresh = _numbers(kept), _numbers(fresh)
    assert set(after) == set(afresh)
    stayed = set(before) & set(after)
    new = set(after) - set(before)
    assert len(stayed) > 0.8 * len(after) and new and set(before) - set(after)  # all three kinds
    assert all(after[k] == before[k] for k in stayed)
    top = max(before.values())
    assert sorted(after[k] for k in new) == list(range(top + 1, top + 1 + len(new)))
    assert after != afresh  # (numbered otherwise indeed)
    for f in FILES:
        if f != "changes.parquet":  # (fresh has no previous publication to compare with)
            assert (kept / "crosswalk" / f).read_bytes() == (
                fresh / "crosswalk" / f
            ).read_bytes(), f
    (kept / "model.json").unlink()
    Project(kept).run()
    ranked = sorted(_numbers(kept).items(), key=lambda kv: kv[1])
    assert [r for _, r in ranked] == list(range(1, len(ranked) + 1))
    assert (kept / "model.json").read_bytes() == _trained(fresh, tmp_path)


def _trained(root: Path, tmp_path: Path) -> bytes:
    """model.json as a run with no state trains it on `root`'s data."""
    other = tmp_path / "trained"
    shutil.copytree(
        root, other, ignore=shutil.ignore_patterns(".linker", "crosswalk", "model.json")
    )
    Project(other).run()
    return (other / "model.json").read_bytes()


@pytest.mark.parametrize(
    "case, share, seed",
    [("acme", 0.003, 1), ("acme", 0.01, 2), ("acme", 0.02, 3), ("acme", 0.01, 4),
     ("traps", 0.005, 5), ("traps", 0.02, 6)],
)  # fmt: skip
def test_a_runs_rules_and_scores_for_what_a_change_reaches_equal_computing_everything(
    acme_run: Path, traps: Path, tmp_path: Path, monkeypatch, case: str, share: float, seed: int
):
    """After a small change to the sources (any column of some rows of every source set to
    another row's value or emptied — names, domains, VAT numbers, emails, references, account
    links —, rows deleted and added) and new decisions, a run computes the account rules of
    the records the change reaches only (rule_reach) and keeps the last run's for the others,
    and so do scoring, both resolves and the contacts: the same publication and state as
    computing everything (`run --full`), byte for byte."""
    origin = traps if case == "traps" else acme_run
    changed = tmp_path / "data"
    load_benchmark("source_changes").change_data(origin, changed, share, seed, any_column=True)
    batch = _random_decisions(random.Random(seed), origin / ".linker" / "state.duckdb", [], 5)
    inc, full = tmp_path / "inc", tmp_path / "full"
    for p in (inc, full):
        shutil.copytree(origin, p, ignore=shutil.ignore_patterns("data"))
        shutil.copytree(changed, p / "data")
    _append_decisions((inc, full), batch)
    scoped = _returns(monkeypatch, rule_reach, "run_reached")
    scored = _returns(monkeypatch, scores, "_scope")
    contacts = _returns(monkeypatch, incremental, "contact_reach")
    first: list[str] = []  # per call of _resolve_reached: which resolve
    real_first = ProjectPipeline._resolve_reached

    def resolve_reached(self, con, prev, *, second=False):
        real_first(self, con, prev, second=second)
        first.append("second" if second else "first")

    monkeypatch.setattr(ProjectPipeline, "_resolve_reached", resolve_reached)
    res_inc = Project(inc).run(do_publish=True)
    # both resolves took the short way too (the second when scoring did)
    assert first == (["first", "second"] if scored[0] is not None else ["first"])
    assert len(scoped) == 1 and scoped[0] is not None  # the inc run took the short way, once
    assert 0 < scoped[0]["records"] < 0.3 * scoped[0]["of"]
    assert len(scored) == 1  # and scored what the change reaches, unless that is too much
    n_contacts = res_inc.report["sources"]
    n_contacts = sum(e["records"] for e in n_contacts.values() if e["entity"] == "contacts")
    assert len(contacts) == 1 and 0 < contacts[0] < 0.5 * n_contacts  # the contacts too
    # and the review items, after the second resolve of what the change reaches
    assert ("the review items of the" in res_inc.report["resolved"]["why"]) == (
        scored[0] is not None
    )
    if share <= 0.01:
        assert scored[0] is not None and 0 < scored[0] <= 0.3 * res_inc.report["scoring"]["open"]
    twin = Project(full)
    # every record scored, with the last run's term frequencies when the inc run took them
    twin.frozen_statistics = scored[0] is not None
    res_full = twin.run(do_publish=True, full=True)
    assert res_inc.run_id == res_full.run_id
    for f in FILES:
        assert (inc / "crosswalk" / f).read_bytes() == (full / "crosswalk" / f).read_bytes(), f
    states = [p / ".linker" / "state.duckdb" for p in (full, inc)]
    assert [d for d in _table_differences(*states) if not d.startswith("main.key_cache:")] == []


def _not_cached(full: Path, inc: Path) -> int:
    """How many rows of `full`'s value cache (key_cache) `inc`'s lacks."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{full}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{inc}' AS b (READ_ONLY)")
        return con.execute(
            "SELECT count(*) FROM (FROM a.key_cache EXCEPT ALL FROM b.key_cache)"
        ).fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def ties(tmp_path_factory) -> Path:
    """Data with the traps, large enough to hold equals (50,000 account records, seed 5: two
    known records of one account scored alike against an open one, conflicts whose edges tie,
    equal chains to an account), its model trained once."""
    root = load_datasets().ensure(50_000, seed=5, root=tmp_path_factory.mktemp("ties"))
    Project(root).run()
    return root


@pytest.mark.parametrize("case", ["acme", "ties"])
def test_the_publication_does_not_depend_on_how_the_records_are_numbered(
    acme_run: Path, ties: Path, tmp_path: Path, monkeypatch, case: str
):
    """Ingest numbers the records (rid) in (source, id) order. Numbered backwards, with the
    same model, a run publishes the same bytes: every choice among equals (the order a
    conflict's edges are united in, the known record an open one is scored against, the chain
    kept between equal ones) goes by what a record is, not by its number — so a later run may
    keep the last run's numbers (incremental runs), and an engine may number in parallel."""
    origin = ties if case == "ties" else acme_run
    ahead, back = tmp_path / "ahead", tmp_path / "back"
    for p in (ahead, back):
        shutil.copytree(origin, p, ignore=shutil.ignore_patterns(".linker", "crosswalk"))
    Project(ahead).run(do_publish=True)
    monkeypatch.setattr(ingest, "RID_ORDER", "source_idx DESC, id DESC")
    Project(back).run(do_publish=True)
    numbers = []
    for p in (ahead, back):
        with duckdb.connect(str(p / ".linker" / "state.duckdb"), read_only=True) as con:
            numbers.append(
                con.execute("SELECT rid FROM records ORDER BY source_idx, id").fetchall()
            )
    assert numbers[0] == numbers[1][::-1]  # numbered backwards indeed
    for name in FILES:
        written = [(p / "crosswalk" / name).read_bytes() for p in (ahead, back)]
        assert written[0] == written[1], name


def test_run_full_keep_frequencies_is_what_a_run_after_a_change_equals(
    acme_run: Path, tmp_path: Path
):
    """Through the CLI: a run after a small change scores what the change reaches with the last
    run's term frequencies; `run --full --keep-frequencies` recomputes everything with them
    and publishes the same bytes; the summary says what was scored."""
    from typer.testing import CliRunner

    from linker.cli import app

    changed = tmp_path / "data"
    load_benchmark("source_changes").change_data(acme_run, changed, 0.005, 9, any_column=True)
    inc, full = tmp_path / "inc", tmp_path / "full"
    for p in (inc, full):
        shutil.copytree(acme_run, p, ignore=shutil.ignore_patterns("data"))
        shutil.copytree(changed, p / "data")
    runner = CliRunner()
    res = runner.invoke(app, ["run", "-p", str(inc), "--publish", "--json"])
    assert res.exit_code == 0, res.output
    why = json.loads(res.stdout)["resolved"]["why"]
    assert "scored only the open records the change reaches" in why
    res = runner.invoke(
        app, ["run", "-p", str(full), "--publish", "--full", "--keep-frequencies", "-q"]
    )
    assert res.exit_code == 0, res.output
    for f in FILES:
        assert (inc / "crosswalk" / f).read_bytes() == (full / "crosswalk" / f).read_bytes(), f
    # both kept the frequencies the run before them computed
    con = duckdb.connect()
    try:
        for name, p in (("s_base", acme_run), ("s_inc", inc), ("s_full", full)):
            con.execute(f"ATTACH '{p / '.linker' / 'state.duckdb'}' AS {name} (READ_ONLY)")
        tables = [
            f"{db}.score_tf_name"
            for (db,) in con.execute(
                "SELECT DISTINCT database_name FROM duckdb_tables() WHERE table_name = "
                "'score_tf_name' ORDER BY 1"
            ).fetchall()
        ]
        assert len(tables) == 3
        got = {tuple(con.execute(f"FROM {t} ORDER BY ALL").fetchall()) for t in tables}
        assert len(got) == 1 and len(next(iter(got))) > 0
    finally:
        con.close()


def test_a_review_item_shows_its_records_row_as_the_source_has_it_now(
    acme_run: Path, tmp_path: Path
):
    """A run after a change builds again the review items of the records it resolved again
    only, but an item also shows its records' whole rows, columns linker.toml does not map
    included: a change to one of those (a product account's `status`) rebuilds that item too
    (review_queue.add_raw_changes), as computing everything would show it."""
    con = duckdb.connect(str(acme_run / ".linker" / "state.duckdb"), read_only=True)
    try:
        shown, far = con.execute(
            "SELECT (SELECT min(right_id) FROM review_queue WHERE kind = 'pair' "
            "AND right_source = 'product'), (SELECT max(id) FROM account_result "
            "WHERE source = 'product' AND comp NOT IN (SELECT comp FROM review_queue))"
        ).fetchone()
    finally:
        con.close()
    assert shown is not None and far is not None
    inc, full = tmp_path / "inc", tmp_path / "full"
    for p in (inc, full):
        shutil.copytree(acme_run, p)
        path = p / "data" / "product_accounts.csv"
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            if r["id"] == shown:  # a column no field maps (the filter keeps both values)
                r["status"] = "trial" if r["status"] == "active" else "active"
            if r["id"] == far:  # and a change that makes the run compute
                r["company_name"] += " Holdings"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    res = Project(inc).run(do_publish=True)
    assert "the review items of the" in res.report["resolved"]["why"]  # the short way
    twin = Project(full)
    twin.frozen_statistics = True
    twin.run(do_publish=True, full=True)
    states = [p / ".linker" / "state.duckdb" for p in (full, inc)]
    assert [d for d in _table_differences(*states) if not d.startswith("main.key_cache:")] == []
    con = duckdb.connect(str(states[1]), read_only=True)
    try:
        raw = con.execute(
            "SELECT right_raw FROM review_queue WHERE right_id = ? AND kind = 'pair'", [shown]
        ).fetchall()
    finally:
        con.close()
    assert raw and all('"status":"active"' in r[0] or '"status":"trial"' in r[0] for r in raw)
