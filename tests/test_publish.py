"""The publish contract: schemas, manifest, history, atomic replacement, byte-identical output."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from linker import Project
from linker.publish import CROSSWALK, FILES, recover

ACCOUNTS = {
    "account_id": pa.string(),
    "source": pa.string(),
    "source_record_id": pa.string(),
    "method": pa.string(),
    "rule": pa.string(),
    "match_probability": pa.float64(),
    "reason": pa.string(),
    "run_id": pa.string(),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_schemas_match_the_contract(tiny):
    p = Project(tiny)
    p.run(do_publish=True)
    out = tiny / "crosswalk"
    acc = pq.read_table(out / "accounts.parquet")
    assert {f.name: f.type for f in acc.schema} == ACCOUNTS
    con = pq.read_table(out / "contacts.parquet")
    assert con.schema.names == [
        "user_id",
        "account_id",
        "source",
        "source_record_id",
        "method",
        "rule",
        "match_probability",
        "reason",
        "account_via",
        "run_id",
    ]
    wide = pq.read_table(out / "accounts_wide.parquet")
    assert wide.schema.names == ["account_id", "crm_ids", "support_ids", "billing_ids"]
    assert wide.schema.field("crm_ids").type == pa.list_(pa.string())
    # Columns that are never null say so in the schema; the others may be null.
    never = {"source", "source_record_id", "method", "run_id"}
    for table in (acc, con):
        assert {f.name for f in table.schema if not f.nullable} == never
    assert not any(f.nullable for f in wide.schema)
    # A different reader than the writer sees the same thing.
    df = pl.read_parquet(out / "accounts.parquet")
    assert df.height == acc.num_rows == 21
    assert set(df["method"].unique()) <= {"sor", "rule", "probabilistic", "review", "unresolved"}
    unresolved = df.filter(pl.col("method") == "unresolved")
    assert unresolved["account_id"].null_count() == unresolved.height
    assert set(unresolved["reason"]) <= {
        "no_match",
        "no_account",
        "conflict",
        "pending_review",
        "invalid",
    }
    assert df.filter(pl.col("method") == "sor")["source"].unique().to_list() == ["product"]
    # accounts_wide: "account_id 34 = crm 110 = support 2101"
    row = (
        pl.read_parquet(out / "accounts_wide.parquet")
        .filter(pl.col("account_id") == "34")
        .row(0, named=True)
    )
    assert "110" in row["crm_ids"] and row["support_ids"] == ["2101"]


def test_manifest_hashes_and_counts(tiny):
    p = Project(tiny)
    res = p.run(do_publish=True)
    out = tiny / "crosswalk"
    m = json.loads((out / "manifest.json").read_text())
    assert (
        m["schema_version"] == 1
        and m["run_id"] == res.run_id
        and m["config_hash"] == p.config.digest
    )
    assert m["created_at"].endswith("Z")
    for name in FILES:
        assert m["files"][name]["sha256"] == sha(out / name)
        assert m["row_counts"][name] == pq.read_metadata(out / name).num_rows
    assert {r for r in pq.read_table(out / "accounts.parquet")["run_id"].to_pylist()} == {
        res.run_id
    }


def test_identical_inputs_give_byte_identical_files(tiny):
    p = Project(tiny)
    p.run(do_publish=True)
    first = {f: sha(tiny / "crosswalk" / f) for f in CROSSWALK}
    p.run(do_publish=True, full=True)  # computed again (not the last run's results kept)
    assert {f: sha(tiny / "crosswalk" / f) for f in CROSSWALK} == first
    # nothing changed since the previous publication: an empty changes.parquet
    assert pq.read_metadata(tiny / "crosswalk" / "changes.parquet").num_rows == 0
    empty = sha(tiny / "crosswalk" / "changes.parquet")
    # The same rows in another order: the same run id, the same bytes.
    rng = random.Random(3)
    for name in ("product.csv", "crm.csv", "crm_contacts.csv"):
        path = tiny / "data" / name
        head, *body = path.read_text().splitlines()
        rng.shuffle(body)
        path.write_text("\n".join([head, *body]) + "\n")
    sup = tiny / "data" / "support.jsonl"
    sup.write_text("\n".join(reversed(sup.read_text().splitlines())) + "\n")
    p.run(do_publish=True, full=True)
    assert {f: sha(tiny / "crosswalk" / f) for f in CROSSWALK} == first
    assert sha(tiny / "crosswalk" / "changes.parquet") == empty


def test_shuffled_rows_give_identical_rows(tiny):
    p = Project(tiny)
    p.run(do_publish=True)
    before = {f: pq.read_table(tiny / "crosswalk" / f) for f in CROSSWALK}
    crm = tiny / "data" / "crm.csv"
    head, *body = crm.read_text().splitlines()
    crm.write_text("\n".join([head, *reversed(body)]) + "\n")
    p.run(do_publish=True, full=True)
    for f in CROSSWALK:
        after = pq.read_table(tiny / "crosswalk" / f)
        cols = [c for c in after.schema.names if c != "run_id"]
        assert after.select(cols).equals(before[f].select(cols)), f


def test_history_keeps_previous_publications(tiny):
    toml = tiny / "linker.toml"
    toml.write_text(toml.read_text() + "\n[publish]\nkeep = 2\n")
    p = Project(tiny)
    p.run(do_publish=True)
    first = json.loads((tiny / "crosswalk" / "manifest.json").read_text())
    for i in range(3):
        (tiny / "decisions.jsonl").write_text(
            json.dumps(
                {
                    "left": ["crm", "114"],
                    "right": ["product", "37"],
                    "decision": "match",
                    "reviewer": f"r{i}",
                    "at": "2026-11-23T10:00:00Z",
                }
            )
            + "\n"
        )
        p.publish()
    hist = sorted((tiny / "crosswalk" / "_history").iterdir())
    assert [h.name[:6] for h in hist] == ["000002", "000003"]  # keep = 2: the newest two
    for h in hist:
        m = json.loads((h / "manifest.json").read_text())
        for name in FILES:
            assert m["files"][name]["sha256"] == sha(h / name)
    assert first["run_id"] not in [h.name.split("-")[-1] for h in hist]  # the oldest was dropped
    leftovers = [x.name for x in tiny.iterdir() if x.name.startswith(".crosswalk")]
    assert leftovers == []


def test_publish_to_another_directory(tiny, tmp_path):
    p = Project(tiny)
    p.run()
    out = tmp_path / "warehouse" / "xwalk"
    res = p.publish(out)
    assert (
        res.manifest and (out / "accounts.parquet").exists() and not (tiny / "crosswalk").exists()
    )


def test_recover_puts_back_a_publication_left_aside(tmp_path):
    out = tmp_path / "crosswalk"
    aside = tmp_path / ".crosswalk.previous"
    aside.mkdir()
    (aside / "manifest.json").write_text("{}")
    staging = tmp_path / ".crosswalk.staging-123"
    staging.mkdir()
    recover(out)
    assert (out / "manifest.json").exists() and not aside.exists() and not staging.exists()
    assert os.listdir(tmp_path) == ["crosswalk"]


def test_run_id_changes_when_a_value_changes(tiny):
    p = Project(tiny)
    first = p.run().run_id
    crm = tiny / "data" / "crm.csv"
    crm.write_text(crm.read_text().replace("Nobody Ltd", "Nobody Limited"))
    assert p.run().run_id != first


# --- changes.parquet: what changed since the previous publication -------------------------------


def _apply(previous: pa.Table, changes: pa.Table, entity: str) -> pa.Table:
    """What a warehouse does with changes.parquet: delete the removed rows, upsert the rest."""
    rows = {(r["source"], r["source_record_id"]): r for r in previous.to_pylist()}
    for c in changes.to_pylist():
        if c["entity"] != entity:
            continue
        key = (c["source"], c["source_record_id"])
        if c["change"] == "removed":
            del rows[key]
            continue
        row = {"source": key[0], "source_record_id": key[1]}
        for col in ("account_id", "user_id", "method", "rule", "match_probability", "reason"):
            if col in previous.schema.names:
                row[col] = c[f"{col}_after"]
        rows[key] = {**rows.get(key, {}), **row}
    return pa.Table.from_pylist([rows[k] for k in sorted(rows)])


def test_changes_say_what_changed_since_the_previous_publication(tiny):
    p = Project(tiny)
    first = p.run(do_publish=True)
    out = tiny / "crosswalk"
    m1 = json.loads((out / "manifest.json").read_text())
    changes = pq.read_table(out / "changes.parquet")
    # the first publication: every record added
    accounts = pq.read_table(out / "accounts.parquet")
    contacts = pq.read_table(out / "contacts.parquet")
    assert changes.num_rows == accounts.num_rows + contacts.num_rows
    assert set(changes["change"].to_pylist()) == {"added"}
    assert m1["previous_run_id"] is None and m1["changes"]["added"] == changes.num_rows
    before = {"accounts": accounts, "contacts": contacts}

    # crm 111 (Globex, linked by its VAT number) now holds Initech's id; 114 goes; 118 comes
    crm = tiny / "data" / "crm.csv"
    text = crm.read_text().replace(
        "111,Globex Limited,,UK,GB980780684,,,", "111,Globex Limited,,UK,GB980780684,,36,"
    )
    text = text.replace("114,Nobody Ltd,nobody.example,UK,,,,\n", "")
    crm.write_text(text + "118,Umbrella,umbrella.nl,NL,,,,\n")
    second = p.run(do_publish=True)
    m2 = json.loads((out / "manifest.json").read_text())
    assert m2["previous_run_id"] == first.run_id != second.run_id
    changes = pq.read_table(out / "changes.parquet")
    got = {(r["entity"], r["source"], r["source_record_id"]): r for r in changes.to_pylist()}
    assert got[("accounts", "crm", "114")]["change"] == "removed"
    assert got[("accounts", "crm", "114")]["account_id_after"] is None
    assert got[("accounts", "crm", "118")]["change"] == "added"
    assert got[("accounts", "crm", "118")]["account_id_after"] == "37"
    moved = got[("accounts", "crm", "111")]  # its VAT number says 35, its reference 36
    assert (moved["change"], moved["account_id_before"], moved["account_id_after"]) == (
        "account",
        "35",
        None,
    )
    assert (moved["rule_before"], moved["reason_after"]) == ("vat", "conflict")
    assert sum(m2["changes"].values()) == changes.num_rows
    # unchanged records are not listed, and applying the changes gives the new crosswalk
    assert ("accounts", "product", "34") not in got
    for entity in ("accounts", "contacts"):
        new = pq.read_table(out / f"{entity}.parquet").drop_columns(["run_id"])
        applied = _apply(before[entity].drop_columns(["run_id"]), changes, entity)
        assert applied.select(new.schema.names).to_pylist() == new.to_pylist(), entity
    # read back with another reader than the one that wrote it
    import duckdb as _duckdb

    kinds = _duckdb.sql(
        f"SELECT change, count(*) FROM read_parquet('{out / 'changes.parquet'}') GROUP BY 1"
    ).fetchall()
    assert dict(kinds) == {k: v for k, v in m2["changes"].items() if v}
