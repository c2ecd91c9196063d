"""`linker forget`: a person or a record leaves every copy linker keeps."""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from linker import Project
from linker.cli import app
from linker.decisions import read_log

runner = CliRunner()
JANE = "jane.doe@acme-services.de"  # product user 1, crm contact c1 (noisy case), billing cus_B


def line(left, right, decision="match", note=""):
    return (
        json.dumps(
            {
                "left": left,
                "right": right,
                "decision": decision,
                "reviewer": "ana",
                "at": "2026-11-23T10:00:00Z",
                "note": note,
            }
        )
        + "\n"
    )


def all_rows(directory):
    names = ("accounts.parquet", "contacts.parquet", "accounts_wide.parquet", "changes.parquet")
    return {name: pq.read_table(directory / name).to_pylist() for name in names}


def mentions(rows, records) -> bool:
    text = json.dumps(rows)
    return any(f'"source": "{s}", "source_record_id": "{i}"' in text for s, i in records)


def test_forget_by_email_reaches_every_copy(tiny):
    (tiny / "decisions.jsonl").write_text(
        line(["billing", "cus_B"], ["product", "34"])
        + line(["crm", "114"], ["product", "37"], note="not Jane")
        + line(["crm", "116"], ["product", "40"], "no_match", note=f"asked {JANE.upper()}")
    )
    p = Project(tiny)
    p.run(do_publish=True)
    (tiny / "decisions.jsonl").open("a").write(line(["crm", "116"], ["product", "41"]))
    p.publish()  # a second publication: the first goes to _history/
    r = runner.invoke(
        app, ["forget", "--email", " Jane.Doe@ACME-services.de ", "-p", str(tiny), "--json"]
    )
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    gone = {("product_users", "1"), ("crm_contacts", "c1"), ("billing", "cus_B")}
    assert {tuple(x) for x in rep["records"]} == gone
    assert rep["decisions_removed"] == 2  # the pair with cus_B, and the note naming her
    kept, _ = read_log(tiny / "decisions.jsonl")
    assert [(d.left, d.right) for d in kept] == [
        (("crm", "114"), ("product", "37")),
        (("crm", "116"), ("product", "41")),
    ]
    assert rep["state_cleared"] and not (tiny / ".linker" / "state.duckdb").exists()
    out = tiny / "crosswalk"
    dirs = [out, *sorted((out / "_history").iterdir())]
    assert len(dirs) == 2 and all(rep["publications"][str(d)] >= 3 for d in dirs)
    for d in dirs:
        rows = all_rows(d)
        assert not mentions(rows, gone)
        assert all(r["user_id"] != "1" for r in rows["contacts.parquet"])
        assert all(
            "1" not in (r["user_id_before"], r["user_id_after"]) for r in rows["changes.parquet"]
        )
        assert all("cus_B" not in r["billing_ids"] for r in rows["accounts_wide.parquet"])
        manifest = json.loads((d / "manifest.json").read_text())
        for name, f in manifest["files"].items():
            assert hashlib.sha256((d / name).read_bytes()).hexdigest() == f["sha256"]
        assert manifest["erasures"] == 1
    # The sources still hold her: said plainly, since the next run would bring her back.
    assert any("product_users.parquet" in s for s in rep["still_in_sources"])
    r = runner.invoke(app, ["forget", "--email", JANE, "-p", str(tiny)])
    assert r.exit_code == 0 and "still in the sources" in r.stdout


def test_forget_one_record_by_source_and_id(tiny):
    p = Project(tiny)
    p.run(do_publish=True)
    rep = p.forget(source="crm", record_id=" 113.0 ")
    assert rep["records"] == [["crm", "113"]]
    rows = all_rows(tiny / "crosswalk")
    assert not mentions(rows, {("crm", "113")})
    assert len(rows["accounts.parquet"]) == 20
    assert all("113" not in r["crm_ids"] for r in rows["accounts_wide.parquet"])


def test_forget_needs_exactly_one_target(tiny):
    assert runner.invoke(app, ["forget", "-p", str(tiny)]).exit_code == 2
    r = runner.invoke(
        app, ["forget", "--email", JANE, "--source", "crm", "--id", "1", "-p", str(tiny)]
    )
    assert r.exit_code == 2 and "either --email" in r.stderr
    r = runner.invoke(app, ["forget", "--source", "crmm", "--id", "1", "-p", str(tiny)])
    assert r.exit_code == 2 and "did you mean 'crm'" in r.stderr


def test_forget_an_unknown_address_changes_nothing(tiny):
    p = Project(tiny)
    p.run(do_publish=True)
    before = (tiny / "crosswalk" / "manifest.json").read_bytes()
    rep = p.forget(email="nobody@nowhere.example")
    assert rep["records"] == [] and rep["publications"] == {}
    assert (tiny / "crosswalk" / "manifest.json").read_bytes() == before
    assert rep["state_cleared"] is False and (tiny / ".linker" / "state.duckdb").exists()


def test_forget_dry_run_says_what_would_go_and_changes_nothing(tiny):
    (tiny / "decisions.jsonl").write_text(line(["billing", "cus_B"], ["product", "34"]))
    p = Project(tiny)
    p.run(do_publish=True)

    def files():
        return {
            str(f.relative_to(tiny)): f.read_bytes()
            for f in sorted(tiny.rglob("*"))
            if f.is_file() and ".erasures" not in str(f)
        }

    before = files()
    r = runner.invoke(app, ["forget", "--email", JANE, "--dry-run", "-p", str(tiny), "--json"])
    assert r.exit_code == 0, r.output
    dry = json.loads(r.stdout)
    assert dry["dry_run"] and files() == before  # nothing written, the state kept
    r = runner.invoke(app, ["forget", "--email", JANE, "--dry-run", "-p", str(tiny)])
    assert "dry run" in r.stdout and "would erase 3 record(s)" in r.stdout
    assert "1 line(s) would be removed" in r.stdout
    real = json.loads(
        runner.invoke(app, ["forget", "--email", JANE, "-p", str(tiny), "--json"]).stdout
    )
    for k in ("records", "decisions_removed", "state_cleared", "publications"):
        assert dry[k] == real[k], k  # the dry run said exactly what the erasure did
