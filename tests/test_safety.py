"""Safety: linker never destroys what it did not write, never corrupts an id, and calls a user's
mistake a user's mistake. One test (or more) per finding of the safety review, numbered as
there; each asserts the exit code, the message naming the culprit, no traceback, and that the
project, the publication and decisions.jsonl are byte-identical where the command stopped.
(Reading, JSON ids and empty exports are in test_safety_reading.py.)"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from linker import Project, ReviewSession
from linker.cli import app
from linker.errors import ReviewOvertaken

from .conftest import REPO, write_file, write_tiny

runner = CliRunner()
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def decision(left, right, value="match", **extra) -> str:
    d = {
        "left": left,
        "right": right,
        "decision": value,
        "reviewer": "t",
        "at": "2026-11-23T10:00:00Z",
    }
    return json.dumps({**d, **extra}) + "\n"


def tree(root: Path) -> dict[str, str]:
    """Every file under root but linker's scratch directory .linker/, by content hash."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] == ".linker" or p.is_dir():
            continue
        out[str(rel)] = "symlink:" + os.readlink(p) if p.is_symlink() else _sha(p)
    return out


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def cli(*args: str):
    return runner.invoke(app, list(args))


def clean(r) -> None:
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    root = write_tiny(tmp_path_factory.mktemp("pristine") / "tiny")
    write_file(root / "decisions.jsonl", decision(["crm", "114"], ["product", "37"], "no_match"))
    r = cli("run", "-p", str(root), "--publish")
    assert r.exit_code == 0, r.output
    return root


@pytest.fixture
def project(published, tmp_path) -> Path:
    root = tmp_path / "tiny"
    shutil.copytree(published, root, symlinks=True)
    return root


def stops(r, code: int, *needles: str) -> None:
    assert r.exit_code == code, r.output
    clean(r)
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


# --- 1. publish never deletes what it did not write -------------------------------------------


@pytest.mark.parametrize(
    ("target", "needle"),
    [(".", "it holds"), ("data", "product.csv"), ("rules_dir_with_a_file", "notes.md")],
    ids=["project-dir", "sources-dir", "foreign-dir"],
)
def test_publish_refuses_a_directory_it_did_not_write(project, target, needle):
    write_file(project / "rules_dir_with_a_file" / "notes.md", "mine\n")
    before = tree(project)
    for args in (["publish"], ["run", "--publish"]):
        r = cli(*args, "-p", str(project), "--out", str(project / target))
        stops(r, 2, "refusing to publish", needle)
        assert tree(project) == before


def test_config_out_pointing_at_the_project_is_refused_before_the_run(project):
    toml = project / "linker.toml"
    toml.write_text(toml.read_text() + '\n[publish]\nout = "."\n')
    before = tree(project)
    r = cli("run", "-p", str(project), "--publish")
    stops(r, 2, "refusing to publish", "it holds")
    assert "✓ ingest" not in r.stderr  # refused up front, not after the work
    assert tree(project) == before


def test_publish_into_a_home_directory_with_files_is_refused(project, tmp_path):
    home = tmp_path / "somedir"
    write_file(home / "thesis.tex", "years of work\n")
    r = cli("publish", "-p", str(project), "--out", str(home))
    stops(r, 2, "files linker did not write", "thesis.tex")
    assert (home / "thesis.tex").read_text() == "years of work\n"
    assert sorted(os.listdir(home)) == ["thesis.tex"]


def test_a_readme_kept_in_the_crosswalk_is_never_deleted(project):
    out = project / "crosswalk"
    write_file(out / "README.md", "what these files are\n")
    before = tree(project)
    r = cli("publish", "-p", str(project))
    stops(r, 2, "README.md", "linker never removes a file it did not write")
    assert tree(project) == before


def test_a_foreign_file_inside_history_is_refused_too(project):
    hist = project / "crosswalk" / "_history"
    write_file(hist / "keep-me.txt", "x")
    r = cli("publish", "-p", str(project))
    stops(r, 2, "_history/keep-me.txt")
    assert (hist / "keep-me.txt").exists()


def test_out_naming_a_file_is_refused_and_the_file_stays_a_file(project):
    notes = project / "notes.txt"
    notes.write_text("notes\n")
    r = cli("publish", "-p", str(project), "--out", str(notes))
    stops(r, 2, "is a file, not a directory")
    assert notes.is_file() and notes.read_text() == "notes\n"


def test_a_mount_point_is_refused_with_the_way_to_publish_there(project, tmp_path, monkeypatch):
    vol = tmp_path / "volume"
    vol.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == vol or real(p))
    r = cli("publish", "-p", str(project), "--out", str(vol))
    stops(r, 2, "mount point", f"--out {vol / 'crosswalk'}")
    assert os.listdir(vol) == [] and not list(tmp_path.glob(".volume.staging-*"))


def test_publish_out_elsewhere_is_reported_where_it_went(project, tmp_path):
    target = tmp_path / "elsewhere" / "xwalk"
    r = cli("publish", "-p", str(project), "--out", str(target))
    assert r.exit_code == 0, r.output
    assert f"→ {target}/" in r.stdout
    assert (target / "manifest.json").exists()


def test_publish_keeps_the_modes_of_what_it_replaces(project):
    out = project / "crosswalk"
    os.chmod(out, 0o700)
    os.chmod(out / "accounts.parquet", 0o600)
    r = cli("publish", "-p", str(project))
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "accounts.parquet").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("err", "needle"),
    [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only"), (errno.EACCES, "permission")],
)
def test_a_full_disk_or_read_only_out_is_exit_2_and_leaves_nothing_behind(
    project, monkeypatch, err, needle
):
    before = tree(project)

    def refuse(table, path):
        raise OSError(err, os.strerror(err), str(path))

    monkeypatch.setattr("linker.publish.write_parquet", refuse)
    r = cli("publish", "-p", str(project), "--full")  # (nothing decided: else nothing written)
    stops(r, 2, needle)
    assert tree(project) == before
    assert not list(project.glob(".crosswalk.staging-*"))


def test_duckdb_out_of_its_memory_budget_is_exit_2_naming_memory_limit_not_a_bug(
    project, monkeypatch
):
    import duckdb

    before = tree(project)

    def starved(*args, **kwargs):
        raise duckdb.OutOfMemoryException(
            "Out of Memory Error: could not allocate block of size 256.0 KiB (1.8 GiB/1.8 GiB used)"
        )

    monkeypatch.setattr("linker.scoring.score", starved)
    r = cli("run", "-p", str(project), "--publish", "--full")  # the last run's inputs
    stops(r, 2, "memory budget", "memory_limit")
    assert "bug" not in r.output and not list((project / ".linker").glob("crash-*"))
    assert tree(project) == before  # the last state and publication stand


# --- 2. forget matches whole addresses ---------------------------------------------------------


@pytest.mark.parametrize("value", [" ", "e", "@", "ana@", "@acme.com", "a b@c.de"])
def test_forget_refuses_what_is_not_one_whole_address(project, value):
    before = tree(project)
    r = cli("forget", "-p", str(project), "--email", value)
    stops(r, 2, "not an email address", "--email")
    assert tree(project) == before


def test_forget_ana_leaves_hana_alone_and_says_what_it_did(project):
    log = project / "decisions.jsonl"
    log.write_text(
        decision(["crm", "110"], ["product", "34"], note="asked ana@acme.com")
        + decision(["crm", "111"], ["product", "35"], note="asked hana@acme.com")
        + decision(["crm", "112"], ["product", "36"], reviewer="Ana@Acme.com")
    )
    r = cli("forget", "-p", str(project), "--email", "ana@acme.com")
    assert r.exit_code == 0, r.output
    clean(r)
    kept = log.read_text().splitlines()
    assert len(kept) == 1 and "hana@acme.com" in kept[0]
    assert "no record matched" in r.stdout and "2 decision line(s) named the address" in r.stdout


# --- 4. erasure reaches every copy, or says which it could not ------------------------------


def test_forget_follows_a_symlinked_log(project, tmp_path):
    real = tmp_path / "shared" / "decisions.jsonl"
    write_file(real, decision(["billing", "cus_B"], ["product", "34"]))
    (project / "decisions.jsonl").unlink()
    (project / "decisions.jsonl").symlink_to(real)
    r = cli("forget", "-p", str(project), "--email", "jane.doe@acme-services.de")
    assert r.exit_code == 0, r.output
    assert (project / "decisions.jsonl").is_symlink()
    assert real.read_text() == ""


def test_forget_cleans_publications_made_elsewhere_and_names_the_ones_it_cannot_reach(
    project, tmp_path
):
    a, b = tmp_path / "pub-a", tmp_path / "pub-b"
    for target in (a, b):
        assert cli("publish", "-p", str(project), "--out", str(target)).exit_code == 0
    shutil.rmtree(b)
    r = cli("forget", "-p", str(project), "--email", "jane.doe@acme-services.de", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["publications"][str(a)] >= 2
    assert str(b) in rep["publications_not_reached"]
    rows = pq.read_table(a / "contacts.parquet").to_pylist()
    assert not any(x["source_record_id"] == "c1" for x in rows)
    human = cli("forget", "-p", str(project), "--source", "crm", "--id", "114")
    assert f"publication {b} not reached" in human.stdout


def test_a_review_sitting_cannot_write_back_an_erased_record(project):
    p = Project(project)
    assert cli("run", "-p", str(project)).exit_code == 0
    log = project / "decisions.jsonl"
    before = log.read_bytes()
    from .conftest import write_review_state

    write_review_state(project)
    session = ReviewSession.open(p, reviewer="ana")
    try:
        assert cli("forget", "-p", str(project), "--source", "crm", "--id", "110").exit_code == 0
        with pytest.raises(ReviewOvertaken, match="erased records after this review opened"):
            session.decide(1, "no_match")
    finally:
        session.close()
    assert b'"110"' not in log.read_bytes() and log.read_bytes() == before


def test_a_damaged_history_entry_stops_forget_before_anything_changes(project):
    assert cli("publish", "-p", str(project), "--full").exit_code == 0  # one entry in _history/
    entry = next((project / "crosswalk" / "_history").iterdir())
    (entry / "contacts.parquet").write_bytes(b"PAR1 not parquet at all")
    before = tree(project)
    r = cli("forget", "-p", str(project), "--email", "jane.doe@acme-services.de")
    stops(r, 3, str(entry), "nothing was erased yet")
    assert tree(project) == before


# --- 6. one run id, one set of bytes -----------------------------------------------------------


def test_one_run_id_means_one_set_of_bytes_whichever_command_publishes(project):
    out = project / "crosswalk"

    def published() -> tuple[str, dict[str, str]]:
        m = json.loads((out / "manifest.json").read_text())
        # the crosswalk's bytes (changes.parquet depends on the publication before)
        return m["run_id"], {f: _sha(out / f) for f in m["files"] if f != "changes.parquet"}

    assert cli("run", "-p", str(project), "--publish").exit_code == 0
    first = published()
    with open(project / "decisions.jsonl", "a") as fh:
        fh.write(decision(["crm", "116"], ["product", "40"]))
    assert cli("publish", "-p", str(project)).exit_code == 0
    after_publish = published()
    assert cli("run", "-p", str(project), "--publish").exit_code == 0
    after_run = published()
    assert cli("publish", "-p", str(project)).exit_code == 0
    again = published()
    ids = [first[0], after_publish[0], after_run[0], again[0]]
    assert len({first[0], after_publish[0], after_run[0]}) == 3, ids
    assert again == after_run  # no decision since the run: the run's id and bytes
    by_id: dict[str, dict] = {}
    for run_id, files in (first, after_publish, after_run, again):
        assert by_id.setdefault(run_id, files) == files


# --- 7. crash logs are private ------------------------------------------------------------------


def test_a_crash_log_is_private_and_in_the_project(project, monkeypatch):
    def boom(self, **kw):
        raise RuntimeError("something linker did not expect")

    monkeypatch.setattr(Project, "run", boom)
    r = cli("run", "-p", str(project))
    assert r.exit_code == 4 and "this is a bug in linker" in r.stderr
    logs = list((project / ".linker").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in r.stderr.replace("\n", "")
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600
    assert "something linker did not expect" in logs[0].read_text()


@pytest.mark.parametrize(
    "raised",
    [
        lambda: __import__("duckdb").InterruptException("INTERRUPT Error: Interrupted!"),
        lambda: RuntimeError("Query interrupted"),  # what a statement inside a macro raises
    ],
    ids=["InterruptException", "RuntimeError"],
)
def test_ctrl_c_caught_by_duckdb_mid_query_is_130_not_a_bug(project, monkeypatch, raised):
    def interrupted(self, **kw):
        raise raised()

    monkeypatch.setattr(Project, "run", interrupted)
    r = cli("run", "-p", str(project))
    assert r.exit_code == 130 and "interrupted" in r.stderr, r.output
    assert not list((project / ".linker").glob("crash-*.log"))


# --- 8. config SQL is code of one shape, and runs fenced -----------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "filter = \"status <> 'deleted'\"",
            "filter = \"status <> 'x'); COPY (SELECT 1) TO 'pwned.csv'; SELECT (1\"",
            "sources.product.filter",
        ),
        (
            'path = "data/crm.csv"',
            "query = \"SELECT * FROM read_csv('data/crm.csv'); ATTACH 'pwned.duckdb' AS x\"",
            "sources.crm.query",
        ),
        ('path = "data/crm.csv"', 'query = "INSTALL httpfs"', "sources.crm.query"),
    ],
    ids=["filter-with-copy", "query-with-attach", "query-install"],
)
def test_config_sql_is_one_expression_or_one_select(project, old, new, key):
    toml = project / "linker.toml"
    toml.write_text(toml.read_text().replace(old, new, 1))
    before = tree(project)
    for cmd in ("check", "run"):
        r = cli(cmd, "-p", str(project))
        stops(r, 2, key)
    assert tree(project) == before
    assert not list(project.rglob("pwned*"))


def test_rule_sql_cannot_reach_files_after_the_sources_are_read(project):
    write_file(
        project / "rules" / "peek.toml",
        'name = "peek"\nentity = "accounts"\nequal = ["name"]\n'
        "where = \"(SELECT count(*) FROM read_text('/etc/hostname')) > 0\"\n",
    )
    toml = project / "linker.toml"
    toml.write_text(toml.read_text() + '\n[rules]\norder = ["ref", "peek"]\n')
    before = tree(project)
    r = cli("run", "-p", str(project), "--publish")
    stops(r, 2, "peek.toml", "where", "disabled by configuration")
    assert tree(project) == before


def test_a_rule_where_with_two_statements_is_refused(project):
    write_file(
        project / "rules" / "two.toml",
        'name = "two"\nentity = "accounts"\nequal = ["name"]\n'
        "where = \"true); COPY (SELECT 1) TO 'pwned.csv'; SELECT (1\"\n",
    )
    r = cli("check", "-p", str(project))
    stops(r, 2, "two.toml", "key where", "one SQL condition")


def test_the_readme_says_config_is_code():
    text = (REPO / "README.md").read_text()
    assert "linker.toml and rules/ are code" in text


# --- 9. ordinary causes get ordinary exit codes ---------------------------------------------


def test_ctrl_c_is_130_interrupted_and_the_publication_survives(tmp_path):
    root = tmp_path / "acme"
    shutil.copytree(REPO / "fixtures" / "acme", root, ignore=shutil.ignore_patterns(".linker"))
    shutil.rmtree(root / "crosswalk", ignore_errors=True)
    linker = Path(sys.executable).with_name("linker")
    assert subprocess.run([linker, "run", "-p", root, "--publish", "-q"]).returncode == 0
    before = tree(root / "crosswalk")
    proc = subprocess.Popen(
        [linker, "run", "-p", root, "--publish"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen = ""
    for line in proc.stderr:  # interrupt mid-run: after ingest, before the end
        seen += line
        if "ingest" in line:
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
            break
    rest = proc.stderr.read()
    assert proc.wait(60) == 130, seen + rest
    assert "interrupted" in rest and "Traceback" not in rest
    assert tree(root / "crosswalk") == before


def test_a_decisions_log_that_is_a_directory_is_an_input_error(project):
    (project / "decisions.jsonl").unlink()
    (project / "decisions.jsonl").mkdir()
    r = cli("run", "-p", str(project), "--publish")
    stops(r, 3, "decisions.jsonl", "is a directory")


@pytest.mark.skipif(ROOT, reason="root reads a mode-000 file anyway")
def test_an_unreadable_decisions_log_is_an_input_error(project):
    os.chmod(project / "decisions.jsonl", 0)
    try:
        r = cli("run", "-p", str(project))
        stops(r, 3, "decisions.jsonl", "cannot read")
    finally:
        os.chmod(project / "decisions.jsonl", 0o644)


def test_invalid_blocking_sql_is_a_config_error_naming_the_key(project):
    toml = project / "linker.toml"
    toml.write_text(toml.read_text() + '\n[[scoring.blocking]]\nsql = "l.nmae = r.name"\n')
    before = tree(project)
    r = cli("run", "-p", str(project), "--publish")
    stops(r, 2, "scoring.blocking[0].sql", "nmae")
    assert tree(project) == before


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_bad_lock_timeout_is_a_config_error(project, monkeypatch, value):
    monkeypatch.setenv("LINKER_LOCK_TIMEOUT", value)
    r = cli("run", "-p", str(project))
    stops(r, 2, "LINKER_LOCK_TIMEOUT", repr(value))


def test_names_that_differ_only_in_case_are_config_errors(project):
    toml = project / "linker.toml"
    text = toml.read_text()
    toml.write_text(text.replace('name = "Name"\n', 'name = "Name"\nName = "Website"\n', 1))
    stops(cli("check", "-p", str(project)), 2, "sources.crm.fields.Name", "letter case")
    toml.write_text(
        text + '\n[sources.Product]\nentity = "accounts"\npath = "data/crm.csv"\nid = "Id"\n'
    )
    stops(cli("check", "-p", str(project)), 2, "sources.Product", "letter case")


# --- 11. decisions.jsonl is read strictly where it can be wrong ------------------------------


@pytest.mark.parametrize(
    ("content", "line", "needle"),
    [
        (
            "<<<<<<< HEAD\n" + decision(["crm", "110"], ["product", "34"]) + "=======\n"
            + decision(["crm", "110"], ["product", "35"]) + ">>>>>>> theirs\n",
            1,
            "merge conflict",
        ),
        (decision(["crm", "110"], ["product", "34"], reviewer=5), 1, '"reviewer" must be a string'),
        (decision(["crm", "110"], ["product", "34"], note=["x"]), 1, '"note" must be a string'),
        (
            decision(["crm", "114"], ["product", "37"]) + decision(["crm", "110"], ["crm", "110"]),
            2,
            "name the same record",
        ),
    ],
    ids=["conflict-markers", "reviewer-int", "note-list", "left-is-right"],
)  # fmt: skip
def test_a_decisions_log_that_is_wrong_stops_naming_the_line(project, content, line, needle):
    (project / "decisions.jsonl").write_text(content)
    before = tree(project)
    r = cli("run", "-p", str(project), "--publish")
    stops(r, 3, f"decisions.jsonl:{line}", needle)
    assert tree(project) == before


def test_an_id_with_a_newline_cannot_forge_a_line_of_output(project):
    forged = "999\nwarning: all decisions were applied"
    (project / "decisions.jsonl").write_text(decision(["crm", forged], ["product", "34"]))
    r = cli("run", "-p", str(project))
    assert r.exit_code == 0, r.output
    assert "999\\x0awarning: all decisions were applied" in r.stderr
    assert not any(ln.startswith("warning: all decisions") for ln in r.stderr.splitlines())


# --- 12. the terminal shows data as data; modes are kept -----------------------------------


def test_bidi_controls_and_markup_in_ids_are_shown_literally_by_explain(project):
    users = project / "data" / "product_users.parquet"
    t = pq.read_table(users).to_pylist()
    for row in t:
        row["id"] = str(row["id"])
    t[0]["id"] = "[bold]1[/bold]\u202egpj.exe"
    pq.write_table(pa.Table.from_pylist(t), users)
    (project / "crosswalk").rename(project / "old-crosswalk")
    assert cli("run", "-p", str(project)).exit_code == 0
    r = cli("explain", "-p", str(project), "crm_contacts", "c1")
    assert r.exit_code == 0, r.output
    assert "[bold]1[/bold]\\u202egpj.exe" in r.stdout and "\u202e" not in r.stdout


def test_the_review_app_shows_bidi_controls_escaped():
    from tui.widgets.render import literal

    assert literal("Acme\u202eLtd\u2066").plain == "Acme\\u202eLtd\\u2066"


def test_forget_keeps_the_logs_mode(project):
    log = project / "decisions.jsonl"
    log.write_text(decision(["billing", "cus_B"], ["product", "34"]))
    os.chmod(log, 0o600)
    r = cli("forget", "-p", str(project), "--email", "jane.doe@acme-services.de")
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and log.read_text() == ""


def test_forget_still_erases_when_a_system_of_record_export_is_empty(project):
    (project / "data" / "product.csv").write_text("id,company_name,website,country,status\n")
    r = cli("forget", "-p", str(project), "--source", "crm_contacts", "--id", "c1")
    assert r.exit_code == 0, r.output
    assert "the sources could not be read" in r.stdout and "product.csv" in r.stdout
    rows = pq.read_table(project / "crosswalk" / "contacts.parquet").to_pylist()
    assert not any(x["source_record_id"] == "c1" for x in rows)


def test_forget_stops_before_anything_changes_when_a_publication_holds_foreign_files(project):
    write_file(project / "crosswalk" / "README.md", "ours\n")
    (project / "decisions.jsonl").write_text(decision(["billing", "cus_B"], ["product", "34"]))
    before = tree(project)
    r = cli("forget", "-p", str(project), "--email", "jane.doe@acme-services.de")
    stops(r, 2, "README.md")
    assert tree(project) == before
