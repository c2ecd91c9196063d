"""Reading sources safely, through the CLI, on a copy of the tiny project that already has a
publication and a decisions log.

- JSON ids, refs and text are plain text whatever the mix of types in the file; a BOM is read;
  keys that differ only by case stop with their names;
- an empty or id-less system of record stops the run (exit 3) and changes nothing, since it
  would unlink everything; another empty source is a warning, and flagged `empty`;
- what common readers accept is read: mixed CRLF/LF, long headers, quoted line breaks in header
  names; header names differing only by case, named pipes and unreadable files stop at once
  with a message naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from linker.cli import app

from .conftest import BILLING_JSON, SUPPORT_JSONL, write_tiny

runner = CliRunner()

DECISION = {
    "left": ["crm", "114"],
    "right": ["product", "37"],
    "decision": "no_match",
    "reviewer": "t",
    "at": "2026-11-23T10:00:00Z",
    "note": "",
}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    root = write_tiny(tmp_path_factory.mktemp("pristine") / "tiny")
    r = runner.invoke(app, ["run", "-p", str(root), "--publish"])
    assert r.exit_code == 0, r.output
    (root / "decisions.jsonl").write_text(json.dumps(DECISION) + "\n", "utf-8")
    return root


@pytest.fixture
def root(published, tmp_path) -> Path:
    dst = tmp_path / "tiny"
    shutil.copytree(published, dst)
    return dst


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of everything a stopped run must leave alone: the publication (and its history),
    the decisions log, linker.toml, the data files and the state database."""
    files = [
        *(root / "crosswalk").rglob("*"),
        *(root / "data").rglob("*"),
        root / "decisions.jsonl",
        root / "linker.toml",
        root / ".linker" / "state.duckdb",
    ]
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(files)
        if p.is_file() and os.access(p, os.R_OK)
    }


def run(root: Path, *args: str):
    r = runner.invoke(app, ["run", "-p", str(root), "--publish", *args])
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    return r


def stops(root: Path, *needles: str, code: int = 3) -> str:
    """Run; assert it stopped with `code`, named every needle, and changed nothing."""
    before = snapshot(root)
    r = run(root)
    assert r.exit_code == code, r.output
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr)
    assert snapshot(root) == before
    return r.stderr


def reads(root: Path, *args: str):
    r = run(root, *args)
    assert r.exit_code == 0, r.output
    return r


def published_rows(root: Path, source: str) -> dict[str, tuple]:
    """source_record_id -> (account_id, method, rule) of one source in the publication."""
    rows = pq.read_table(root / "crosswalk" / "accounts.parquet").to_pylist()
    return {
        r["source_record_id"]: (r["account_id"], r["method"], r["rule"])
        for r in rows
        if r["source"] == source
    }


def state(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / ".linker" / "state.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), "utf-8")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")


# --- A. JSON: ids, refs and text are plain text, whatever the mix of types -----------------------


def test_json_array_with_numeric_ids_among_string_ids_keeps_every_id_plain(root):
    billing = [dict(r) for r in BILLING_JSON]
    billing += [
        {"id": 501, "name": "Initech", "metadata": {"account_id": 36}, "address": {"country": 7}},
        {"id": 502.0, "name": "Umbrella", "metadata": {"account_id": " 37.0 "}, "address": None},
        {"id": " 503 ", "name": True, "metadata": {"account_id": None}, "address": {}},
        {"id": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "name": "Hooli", "metadata": {}},
    ]
    (root / "data" / "billing.json").write_text(json.dumps(billing, indent=1), "utf-8")
    reads(root)
    rows = published_rows(root, "billing")
    uuid = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"  # not a UUID value, lower-cased
    assert set(rows) == {"cus_A", "cus_B", "cus_C", "501", "502", "503", uuid}
    assert rows["cus_A"] == ("35", "rule", "ref")  # metadata.account_id "35" (a string)
    assert rows["501"] == ("36", "rule", "ref")  # 36 (a number)
    assert rows["502"] == ("37", "rule", "ref")  # " 37.0 " (padded float text)
    texts = dict(state(root, "SELECT id, name_raw FROM records WHERE source = 'billing'"))
    assert texts["503"] == "true" and texts["cus_A"] == "Globex Ltd"


def test_jsonl_with_mixed_int_and_string_ids_and_refs_links_them(root):
    support = [dict(r) for r in SUPPORT_JSONL]
    support[0].update(id=2101, external_id="34")  # the same ref as a string ...
    support[1].update(id="2102", external_id=37)  # ... and as a number
    support[2].update(id=2103.0, external_id=" 36.0 ", name=3000, domain_names="initech.it")
    write_jsonl(root / "data" / "support.jsonl", support)
    reads(root)
    rows = published_rows(root, "support")
    assert rows == {
        "2101": ("34", "rule", "ref"),
        "2102": ("37", "rule", "ref"),
        "2103": ("36", "rule", "ref"),
    }
    texts = state(root, "SELECT id, name_raw, domain FROM records WHERE source = 'support'")
    assert ("2103", "3000", ["initech.it"]) in texts
    assert ("2102", "Umbrella", ["umbrella-corp.com", "umbrella.nl"]) in texts


def test_nested_field_whose_parent_is_an_object_in_some_rows_and_text_in_others(root):
    billing = [dict(r) for r in BILLING_JSON]
    billing[1]["metadata"] = "none"  # metadata: an object here, a string there
    billing[2]["metadata"] = {"account_id": 38, "plan": {"tier": "gold"}}
    (root / "data" / "billing.json").write_text(json.dumps(billing), "utf-8")
    reads(root)
    rows = published_rows(root, "billing")
    assert rows["cus_A"] == ("35", "rule", "ref")
    assert rows["cus_C"] == ("38", "rule", "ref")


def test_a_misspelt_nested_field_is_still_a_missing_column(root):
    billing = [dict(r) for r in BILLING_JSON]
    billing[1]["metadata"] = "none"
    (root / "data" / "billing.json").write_text(json.dumps(billing), "utf-8")
    edit(root / "linker.toml", 'product = "metadata.account_id"', 'product = "metadata.acount_id"')
    stops(root, "billing.json", "missing column 'metadata.acount_id'")


def test_json_keys_differing_only_by_case_are_named(root):
    billing = [dict(r) for r in BILLING_JSON]
    billing[2]["Name"] = "Hooli Holdings"
    (root / "data" / "billing.json").write_text(json.dumps(billing), "utf-8")
    stops(root, "billing.json", "differ only by case: 'Name' and 'name'")


@pytest.mark.parametrize("name", ["billing.json", "support.jsonl"])
def test_utf8_bom_on_json_reads(root, name):
    path = root / "data" / name
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    reads(root)
    assert published_rows(root, "billing")["cus_A"] == ("35", "rule", "ref")
    assert published_rows(root, "support")["2102"] == ("37", "rule", "ref")


# --- B. an empty system of record stops the run; other empty sources are reported ----------------


def test_empty_parquet_users_system_of_record_stops(root):
    (root / "data" / "product_users.parquet").write_bytes(b"")
    err = stops(root, "product_users.parquet", "empty file", "system of record")
    assert "unlink everything" in err and "user_id" in err


def test_header_only_accounts_system_of_record_stops(root):
    (root / "data" / "product.csv").write_text("id,company_name,website,country,status\n")
    stops(root, "product.csv", "a header but no rows", "would unlink everything")


def test_empty_json_array_accounts_system_of_record_stops(root):
    edit(root / "linker.toml", 'path = "data/product.csv"', 'path = "data/product.json"')
    (root / "data" / "product.json").write_text("[\n]\n", "utf-8")
    stops(root, "product.json", "empty JSON array", "would unlink everything")


def test_filter_that_leaves_no_system_of_record_records_stops(root):
    edit(root / "linker.toml", "status <> 'deleted'", "status = 'archived'")
    stops(
        root,
        "product.csv",
        "sources.product.filter",
        "the filter \"status = 'archived'\" leaves no records (of 8 rows)",
        "would unlink everything",
    )


def test_system_of_record_without_a_single_id_stops(root):
    lines = (root / "data" / "product.csv").read_text("utf-8").splitlines()
    blank = [lines[0]] + ["," + ln.split(",", 1)[1] for ln in lines[1:]]
    (root / "data" / "product.csv").write_text("\n".join(blank) + "\n", "utf-8")
    stops(root, "product.csv", "none of its 7 rows has an id", "column 'id'", "unlink everything")


def test_other_empty_sources_are_a_warning_and_flagged_empty(root):
    (root / "data" / "crm.csv").write_text(
        "Id,Name,Website,BillingCountry,VAT,Phone,Product_Id,Support_Id\n"
    )
    (root / "data" / "billing.json").write_text("[]", "utf-8")
    r = reads(root)
    assert "crm.csv: a header but no rows; source 'crm' has no records" in r.stderr
    assert "billing.json: an empty JSON array (no records); source 'billing'" in r.stderr
    r = run(root, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert any("crm.csv: a header but no rows" in w for w in out["warnings"])
    sources = out["sources"]
    assert sources["crm"]["empty"] and sources["billing"]["empty"]
    assert not sources["product"]["empty"] and not sources["support"]["empty"]
    assert published_rows(root, "crm") == {}


# --- C. what common readers accept is read; what cannot be read stops at once --------------------


def test_csv_with_mixed_crlf_and_lf_line_endings_reads(root):
    crm = root / "data" / "crm.csv"
    crm.write_bytes(crm.read_bytes().replace(b"\n", b"\r\n") + b"118,Late Ltd,,IT,,,36,\n")
    reads(root)
    rows = published_rows(root, "crm")
    assert rows["118"] == ("36", "rule", "ref") and rows["110"] == ("34", "rule", "ref")
    assert not list((root / ".linker").glob("ingest-*"))  # the LF copy is gone


def test_a_ragged_row_in_a_mixed_line_ending_csv_still_names_its_line(root):
    crm = root / "data" / "crm.csv"
    crm.write_bytes(crm.read_bytes().replace(b"\n", b"\r\n") + b"118,Short\n")
    stops(root, "crm.csv:10", "row has 2 fields, the header has 8")
    assert not list((root / ".linker").glob("ingest-*"))


def test_csv_header_longer_than_64_kib_reads(root):
    crm = root / "data" / "crm.csv"
    lines = crm.read_text("utf-8").splitlines()
    wide = ["Notes_" + "n" * 70_000, "Extra"]  # the header line alone is over 64 KiB
    lines = [lines[0] + "," + ",".join(wide)] + [ln + "," * len(wide) for ln in lines[1:]]
    crm.write_text("\n".join(lines) + "\n", "utf-8")
    reads(root)
    assert set(published_rows(root, "crm")) == {str(i) for i in range(110, 118)}


@pytest.mark.parametrize(
    ("eol", "inside"),
    [(b"\n", b"\n"), (b"\r\n", b"\r\n"), (b"\n", b"\r\n"), (b"\r\n", b"\n")],
    ids=["lf", "crlf", "crlf-in-lf-file", "lf-in-crlf-file"],
)
def test_quoted_line_break_in_a_header_name_reads_as_a_space(root, eol, inside):
    crm = root / "data" / "crm.csv"
    data = crm.read_bytes().replace(b"\n", eol)
    crm.write_bytes(data.replace(b",BillingCountry,", b',"Billing' + inside + b'Country",'))
    edit(root / "linker.toml", 'country = "BillingCountry"', 'country = "Billing Country"')
    reads(root)
    countries = dict(state(root, "SELECT id, country FROM records WHERE source = 'crm'"))
    assert countries["110"] == "DE" and countries["111"] == "GB" and countries["116"] == "CH"


def test_header_names_differing_only_by_case_are_named(root):
    edit(root / "data" / "crm.csv", "Id,Name,Website,", "Id,Name,name,")
    stops(root, "crm.csv:1", "differ only by case: 'Name' and 'name'")


def test_named_pipe_is_refused_at_once(root):
    fifo = root / "data" / "crm.csv"
    fifo.unlink()
    os.mkfifo(fifo)

    def unblock() -> None:  # were linker to open the pipe, this makes it fail, not hang
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    guard = threading.Timer(10, unblock)
    guard.start()
    try:
        stops(root, "crm.csv", "not a regular file")
    finally:
        guard.cancel()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; see the next test")
def test_unreadable_file_is_an_input_error(root):
    crm = root / "data" / "crm.csv"
    crm.chmod(0)
    try:
        stops(root, "crm.csv", "cannot read: permission denied")
    finally:
        crm.chmod(0o644)


@pytest.mark.skipif(os.geteuid() != 0, reason="the test above covers a non-root user")
def test_unreadable_file_is_an_input_error_for_a_user_without_permission(published):
    """As root a chmod 000 file is readable, so this runs linker as `nobody` (effective ids,
    restored after) on a project nobody owns: the kernel really refuses the read."""
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        root = base / "tiny"
        shutil.copytree(published, root)
        for p in [root, *root.rglob("*")]:
            os.chown(p, 65534, 65534)
        (root / "data" / "crm.csv").chmod(0)
        before = snapshot(root)
        os.setegid(65534)
        os.seteuid(65534)
        try:
            r = runner.invoke(app, ["run", "-p", str(root), "--publish"])
        finally:
            os.seteuid(0)
            os.setegid(0)
        assert r.exit_code == 3, r.output
        assert "crm.csv" in r.stderr and "cannot read: permission denied" in r.stderr
        assert "Traceback" not in r.output and "internal error" not in r.output
        assert snapshot(root) == before
    finally:
        shutil.rmtree(base, ignore_errors=True)
