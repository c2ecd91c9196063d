"""Resolve edge cases on small purpose-built projects: chains, conflicts, duplicates, hubs,
decisions (match / no_match / undo / torn line / unknown records), contacts precedence."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from linker import Project
from linker.decisions import Decision, append

from .conftest import write_project

TWO_SOURCES = """\
[project]
name = "t"
accounts_sor = "product"

[sources.product]
entity = "accounts"
path = "product.csv"
id = "id"
[sources.product.fields]
name = "name"
domain = "website"
country = "country"
vat = "vat"

[sources.crm]
entity = "accounts"
path = "crm.csv"
id = "Id"
[sources.crm.fields]
name = "Name"
domain = "Website"
country = "Country"
vat = "VAT"
email = "Email"
[sources.crm.refs]
product = "ProductId"
"""

PRODUCT = """\
id,name,website,country,vat
34,Acme GmbH,acme.de,DE,DE136695976
35,Globex Ltd,globex.co.uk,GB,GB980780684
36,Initech SpA,initech.it,IT,
"""
CRM_HEADER = "Id,Name,Website,Country,VAT,Email,ProductId\n"
# A project's own name_country that trusts name + country alone (identifying), as a user may
# write it: for tests about other things than trust.
NAME_ALONE_LINKS = {
    "rules/name_country.toml": 'name = "name_country"\nentity = "accounts"\n'
    'equal = ["name", "country"]\ntrust = "identifying"\n'
}


def make(
    tmp_path: Path,
    crm_rows: str,
    *,
    extra: str = "",
    product: str = PRODUCT,
    rules: dict[str, str] | None = None,
) -> Project:
    files = {"product.csv": product, "crm.csv": CRM_HEADER + crm_rows, **(rules or {})}
    return Project(write_project(tmp_path / "p", TWO_SOURCES + extra, files))


def accounts(project: Project) -> dict[tuple[str, str], dict]:
    project.publish()
    table = pq.read_table(project.config.out_dir / "accounts.parquet").to_pylist()
    return {(r["source"], r["source_record_id"]): r for r in table}


def decide(project: Project, left, right, decision: str, reviewer: str = "ana") -> None:
    append(
        project.decisions_file,
        Decision(tuple(left), tuple(right), decision, reviewer, "2026-11-23T10:00:00Z"),
    )


def test_rule_links_and_methods(tmp_path):
    # c2: name + country, corroborated by its email's domain; c4: the name alone suggests 35
    # but links nothing by itself (a suggestive key).
    rows = (
        "c1,ACME,,Germany,,,34.0\nc2,Globex Limited,,UK,,ap@globex.co.uk,\nc3,Other,,DE,,,\n"
        "c4,Globex Limited,,UK,,,\n"
    )
    p = make(tmp_path, rows, extra='\n[rules]\norder = ["ref", "name_country"]\n')
    p.run()
    got = accounts(p)
    assert got["crm", "c1"]["account_id"] == "34" and got["crm", "c1"]["rule"] == "ref"
    assert got["crm", "c2"]["account_id"] == "35" and got["crm", "c2"]["rule"] == "name_country"
    assert got["crm", "c4"]["account_id"] is None
    assert got["crm", "c3"] == {
        **got["crm", "c3"],
        "account_id": None,
        "method": "unresolved",
        "reason": "no_match",
    }
    assert got["product", "34"]["method"] == "sor" and got["product", "34"]["account_id"] == "34"


def test_conflict_publishes_nothing_linked_and_names_the_chain(tmp_path):
    # c1 holds product 34's id but carries product 35's VAT: one component, two accounts.
    p = make(tmp_path, "c1,Acme,,DE,GB 980 7806 84,,34\n")
    res = p.run()
    got = accounts(p)
    assert got["crm", "c1"]["account_id"] is None and got["crm", "c1"]["reason"] == "conflict"
    assert got["product", "34"]["method"] == "sor" and got["product", "35"]["method"] == "sor"
    assert res.report["conflicts"]["components"] == 1
    detail = res.report["conflicts"]["detail"][0]
    assert detail["sor_ids"] == ["34", "35"]
    assert [s["rule"] for s in detail["chain"]] == ["ref", "vat"]
    info = p.explain("crm", "c1")
    assert info["reason"] == "conflict" and info["sor_ids"] == ["34", "35"]


def test_no_match_decision_cuts_a_conflict(tmp_path):
    p = make(tmp_path, "c1,Acme,,DE,GB 980 7806 84,,34\n")
    p.run()
    decide(p, ["crm", "c1"], ["product", "35"], "no_match")
    got = accounts(p)  # publish re-applies decisions without re-running
    # Cut from 35, c1 still carries 35's VAT number: it contradicts 34 until a reviewer says so.
    assert got["crm", "c1"]["account_id"] is None and got["crm", "c1"]["reason"] == "conflict"
    decide(p, ["crm", "c1"], ["product", "34"], "match")
    got = accounts(p)
    assert got["crm", "c1"]["account_id"] == "34" and got["crm", "c1"]["method"] == "review"


def test_match_decision_links_with_method_review_and_undo_takes_it_back(tmp_path):
    p = make(tmp_path, "c9,Totally Different Name,,FR,,,\n")
    p.run()
    decide(p, ["crm", "c9"], ["product", "36"], "match")
    got = accounts(p)
    assert got["crm", "c9"]["account_id"] == "36" and got["crm", "c9"]["method"] == "review"
    decide(p, ["crm", "c9"], ["product", "36"], "undo")
    assert accounts(p)["crm", "c9"]["account_id"] is None


def test_torn_last_decision_line_warns_and_goes_on(tmp_path):
    p = make(tmp_path, "c9,Other,,FR,,,\n")
    decide(p, ["crm", "c9"], ["product", "36"], "match")
    with open(p.decisions_file, "a") as fh:
        fh.write('{"left": ["crm", "c9"], "right": ["prod')  # a crash mid-write
    res = p.run()
    assert any("torn last line" in w for w in res.warnings)
    assert accounts(p)["crm", "c9"]["method"] == "review"
    # A new decision after the torn line is still read (the torn line gets its own line).
    decide(p, ["crm", "c9"], ["product", "36"], "no_match")
    assert accounts(p)["crm", "c9"]["account_id"] is None


def test_decision_about_unknown_record_warns_and_is_ignored(tmp_path):
    p = make(tmp_path, "c1,ACME,,DE,,,34\n")
    decide(p, ["crm", "gone"], ["product", "34"], "match")
    res = p.run()
    assert any("crm:gone" in w and "no longer exists" in w for w in res.warnings)
    assert accounts(p)["crm", "c1"]["account_id"] == "34"


def test_duplicates_reported_and_merge_lists_the_leading_record(tmp_path):
    rows = "c1,Acme,acme.de,DE,,,34\nc2,ACME GmbH,www.acme.de,DE,,,\n"
    p = make(tmp_path, rows)
    res = p.run()
    assert res.report["sources"]["crm"]["duplicates"] == 2
    got = accounts(p)
    assert got["crm", "c1"]["account_id"] == got["crm", "c2"]["account_id"] == "34"
    wide = pq.read_table(p.config.out_dir / "accounts_wide.parquet").to_pylist()
    assert {r["account_id"]: r["crm_ids"] for r in wide}["34"] == ["c1", "c2"]

    p2 = make(tmp_path / "merge", rows, extra='\n[duplicates]\npolicy = "merge"\n')
    p2.run()
    p2.publish()
    wide = pq.read_table(p2.config.out_dir / "accounts_wide.parquet").to_pylist()
    # c1 is leading: it holds the product id (a ref beats a domain).
    assert {r["account_id"]: r["crm_ids"] for r in wide}["34"] == ["c1"]


def test_component_without_sor_record_is_no_account(tmp_path):
    p = make(tmp_path, "c1,Nobody,nobody.io,US,,,\nc2,Nobody Inc,nobody.io,US,,,\n")
    p.run()
    got = accounts(p)
    assert got["crm", "c1"]["reason"] == got["crm", "c2"]["reason"] == "no_account"


def test_ref_to_a_missing_account_is_no_account(tmp_path):
    p = make(tmp_path, "c1,Gone Corp,,US,,,99\n")
    res = p.run()
    assert accounts(p)["crm", "c1"]["reason"] == "no_account"
    assert res.report["sources"]["crm"]["dangling_refs"] == {"product": 1}


def test_hub_key_makes_no_edges_and_is_reported(tmp_path):
    rows = "".join(f"h{i},Client {i},,DE,,billing@reseller.io,\n" for i in range(30))
    # The reseller's address also belongs to one product account via its domain ... the
    # 30 records sharing one email must not be glued together.
    p = make(tmp_path, rows, extra='\n[rules]\norder = ["ref", "user_email", "email", "domain"]\n')
    res = p.run()
    blocked = {(k["rule"], k["key"]): k for k in res.report["keys_without_edges"]}
    assert blocked["email", "billing@reseller.io"]["reason"] == "too_many_records"
    assert blocked["domain", "reseller.io"]["records"] == 30
    got = accounts(p)
    assert all(got["crm", f"h{i}"]["reason"] == "no_match" for i in range(30))


def test_key_shared_by_two_accounts_is_ambiguous(tmp_path):
    product = PRODUCT + "40,Vandelay AG,vandelay.com,CH,\n41,Vandelay Ltd,vandelay.com,GB,\n"
    p = make(tmp_path, "c1,Vandelay,vandelay.com,US,,,\n", product=product)
    res = p.run()
    blocked = {(k["rule"], k["key"]): k for k in res.report["keys_without_edges"]}
    assert blocked["domain", "vandelay.com"] == {
        **blocked["domain", "vandelay.com"],
        "reason": "ambiguous",
        "sor_records": 2,
    }
    assert accounts(p)["crm", "c1"]["account_id"] is None


def test_ref_works_from_the_sor_side_too(tmp_path):
    toml = TWO_SOURCES.replace(
        'vat = "vat"\n', 'vat = "vat"\n[sources.product.refs]\ncrm = "crm_id"\n', 1
    )
    files = {
        "product.csv": "id,name,website,country,vat,crm_id\n34,Acme,,DE,,0017b00000AbC\n",
        "crm.csv": CRM_HEADER + "0017b00000AbC,Whatever,,DE,,,\n0017b00000abc,Other,,DE,,,\n",
    }
    p = Project(write_project(tmp_path / "p", toml, files))
    p.run()
    got = accounts(p)
    assert got["crm", "0017b00000AbC"]["account_id"] == "34"
    assert got["crm", "0017b00000abc"]["account_id"] is None  # ids are case-sensitive


def test_chain_through_a_non_sor_record(tiny):
    p = Project(tiny)
    p.run()
    info = p.explain("support", "2101")
    assert info["account_id"] == "34" and info["rule"] == "ref"
    assert [(s["from"], s["to"], s["rule"]) for s in info["chain"]] == [
        (["support", "2101"], ["crm", "110"], "ref"),
        (["crm", "110"], ["product", "34"], "ref"),
    ]


def test_contacts_precedence_and_reasons(tiny):
    p = Project(tiny)
    res = p.run()
    p.publish()
    rows = {
        (r["source"], r["source_record_id"]): r
        for r in pq.read_table(p.config.out_dir / "contacts.parquet").to_pylist()
    }
    c1 = rows["crm_contacts", "c1"]  # a product user's email (with case/space noise)
    assert (c1["user_id"], c1["account_id"], c1["account_via"]) == ("1", "34", "sor_user")
    c2 = rows["crm_contacts", "c2"]  # null AccountId: falls to the company email domain
    assert (c2["user_id"], c2["account_id"], c2["account_via"]) == (None, "35", "email_domain")
    c3 = rows["crm_contacts", "c3"]  # own account is unresolved
    assert c3["account_id"] is None and c3["reason"] == "no_match"
    c4 = rows["crm_contacts", "c4"]  # free-mail stranger
    assert c4["account_id"] is None and c4["user_id"] is None and c4["reason"] == "no_match"
    c5 = rows["crm_contacts", "c5"]
    assert (c5["account_id"], c5["account_via"]) == ("36", "own_account")
    u4 = rows["product_users", "4"]  # a product user of a deleted (filtered) account
    assert u4["user_id"] == "4" and u4["account_id"] is None and u4["reason"] == "no_account"
    assert res.report["sources"]["crm_contacts"]["with_user"] == 1


def test_contact_disagreement_is_counted(tiny):
    # c5 is Anna at initech (own account 112 -> 36); make her email a Globex user's address.
    # (Luca, an initech user, is a contact of 112 too: 112's people are not all Globex's.)
    users = tiny / "data" / "crm_contacts.csv"
    text = users.read_text().replace("anna@initech.it", "ann@globex.co.uk")
    users.write_text(text + "c6,112,luca@initech.it,Luca,Bianchi\n")
    p = Project(tiny)
    res = p.run()
    assert res.report["sources"]["crm_contacts"]["disagreements"] == 1
    info = p.explain("crm_contacts", "c5")
    assert info["account_id"] == "35" and info["account_via"] == "sor_user" and info["disagreement"]


@pytest.mark.parametrize("policy", ["report", "merge"])
def test_state_is_rebuilt_from_scratch_each_run(tmp_path, policy):
    p = make(tmp_path, "c1,ACME,,DE,,,34\n", extra=f'\n[duplicates]\npolicy = "{policy}"\n')
    p.run()
    (p.root / "crm.csv").write_text(CRM_HEADER + "c1,Globex,,GB,,,35\n", "utf-8")
    p.run()
    assert accounts(p)["crm", "c1"]["account_id"] == "35"
    status = p.status()
    assert status["last_run"]["sources"]["crm"] == {"records": 1, "linked": 1}
    assert json.loads(json.dumps(status))  # serialisable for --json


def test_values_never_become_sql(tmp_path):
    evil = "x'); drop table records; --"
    product = PRODUCT + f'37,"{evil}",,FR,\n38,"[bold red]x[/] \x1b[31mred\x1b[0m",,FR,\n'
    rows = f'e1,"{evil} SAS",,France,,,\ne2,"[bold red]x[/] \x1b[31mred\x1b[0m",,FR,,,\n'
    p = make(tmp_path, rows, product=product, rules=NAME_ALONE_LINKS)
    p.run()
    got = accounts(p)
    assert got["crm", "e1"]["account_id"] == "37" and got["crm", "e1"]["rule"] == "name_country"
    assert got["crm", "e2"]["account_id"] == "38"


def test_publish_warns_when_the_config_changed_since_the_run(tmp_path):
    p = make(tmp_path, "c1,ACME,,DE,,,34\n")
    p.run()
    toml = p.root / "linker.toml"
    toml.write_text(toml.read_text() + "\n[publish]\nkeep = 3\n")
    res = Project(p.root).publish()
    assert any("changed since the last run" in w for w in res.warnings)


def test_key_shared_only_by_records_already_tied_to_different_accounts_makes_no_edge(tmp_path):
    # Two customers both named after the same person, each holding its own account's id: the
    # name says nothing about identity here, so it must not glue accounts 34 and 35 together.
    product = PRODUCT + "37,Fontaine Conseil,,FR,\n38,Fontaine Bâtiment,,FR,\n"
    rows = "b1,Julien Fontaine,,FR,,,37\nb2,Julien Fontaine,,France,,,38\n"
    p = make(tmp_path, rows, product=product, rules=NAME_ALONE_LINKS)
    res = p.run()
    got = accounts(p)
    assert (got["crm", "b1"]["account_id"], got["crm", "b2"]["account_id"]) == ("37", "38")
    assert res.report["conflicts"]["components"] == 0
    blocked = {(k["rule"], k["key"]): k for k in res.report["keys_without_edges"]}
    assert blocked["name_country", "julien fontaine / FR"]["reason"] == "ambiguous"
    assert blocked["name_country", "julien fontaine / FR"]["sor_records"] == 2  # accounts it spans


def test_key_held_by_a_sor_record_still_surfaces_a_contradiction(tmp_path):
    # c1 holds account 34's id but is, by its name and domain, account 35: a conflict.
    p = make(tmp_path, "c1,Globex,globex.co.uk,GB,,,34\n")
    res = p.run()
    assert accounts(p)["crm", "c1"]["reason"] == "conflict"
    assert res.report["conflicts"]["components"] == 1


def test_a_conflict_holds_only_the_records_in_dispute(tmp_path):
    # c1's reference says 34, its website and name say 35: in dispute. c2 (reference 34) and c3
    # (reference 35) are in the same component only through c1: their own evidence is
    # undisputed, so they are linked; c1 waits for a reviewer, as the whole component did.
    p = make(tmp_path, "c1,Globex,globex.co.uk,GB,,,34\nc2,Acme,,DE,,,34\nc3,Globex,,GB,,,35\n")
    res = p.run()
    got = accounts(p)
    assert got["crm", "c1"]["account_id"] is None and got["crm", "c1"]["reason"] == "conflict"
    assert (got["crm", "c2"]["account_id"], got["crm", "c2"]["rule"]) == ("34", "ref")
    assert (got["crm", "c3"]["account_id"], got["crm", "c3"]["rule"]) == ("35", "ref")
    assert res.report["conflicts"]["components"] == 1  # still one conflict, one review item
    con = duckdb.connect(str(p.state_db), read_only=True)
    try:
        kinds = con.execute("SELECT kind, count(*) FROM review_queue GROUP BY ALL").fetchall()
    finally:
        con.close()
    assert ("conflict", 1) in kinds
    assert p.explain("crm", "c1")["in_dispute"] and not p.explain("crm", "c2")["in_dispute"]
    decide(p, ["crm", "c1"], ["product", "34"], "no_match")  # the reviewer: the reference is wrong
    p.run()
    got = accounts(p)
    assert [got["crm", c]["account_id"] for c in ("c1", "c2", "c3")] == ["35", "34", "35"]


def test_the_proposed_cut_is_the_edge_whose_records_agree_least(tmp_path):
    # c1 holds account 34's id (Acme GmbH, DE) but is Globex (GB) by name and website: the
    # reference is the wrong edge — the strongest rule, yet its records agree on nothing.
    p = make(tmp_path, "c1,Globex,globex.co.uk,GB,,,34\n")
    p.run()
    con = duckdb.connect(str(p.state_db), read_only=True)
    try:
        why, chain = con.execute(
            "SELECT why, evidence FROM review_queue WHERE kind = 'conflict'"
        ).fetchone()
    finally:
        con.close()
    proposed = [s for s in json.loads(chain) if s["proposed_cut"]]
    assert [s["rule"] for s in proposed] == ["ref"] and "agree clearly least" in why
    assert all(
        s["agreement"] > proposed[0]["agreement"] for s in json.loads(chain) if s != proposed[0]
    )


def test_propose_cut_names_no_edge_on_a_tie():
    from linker.review_queue import propose_cut

    assert propose_cut([2.0, -1.5, 1.0]) == 1
    assert propose_cut([1.0, 1.0]) is None
    assert propose_cut([2.0, 1.0]) is None  # less, but not clearly: the reviewer chooses


def test_a_record_reached_only_through_a_disputed_one_waits_with_it(tmp_path):
    # c4 shares c1's VAT number and nothing else: its account is whatever c1's is.
    p = make(
        tmp_path,
        "c1,Globex,globex.co.uk,GB,GB980780684,,34\nc4,Zeta,,GB,GB980780684,,\n",
        product=PRODUCT.replace("GB980780684", ""),
    )
    p.run()
    got = accounts(p)
    assert got["crm", "c1"]["reason"] == got["crm", "c4"]["reason"] == "conflict"


def test_a_stored_reference_to_a_company_in_another_country_waits_for_a_reviewer(tmp_path):
    # c1 holds account 34's id (Acme, DE) but is in GB: the reference may be a typo for another
    # customer's. Not published as linked; queued as a pair with account 34's record.
    p = make(tmp_path, "c1,Whatever,,GB,,,34\n")
    res = p.run()
    got = accounts(p)
    assert got["crm", "c1"]["account_id"] is None and got["crm", "c1"]["reason"] == "conflict"
    assert res.report["conflicts"]["contradicted"] == 1
    con = duckdb.connect(str(p.state_db), read_only=True)
    try:
        item = con.execute(
            "SELECT kind, left_id, right_id, why FROM review_queue WHERE left_id = 'c1'"
        ).fetchone()
    finally:
        con.close()
    assert item[:3] == ("pair", "c1", "34") and "country GB is not the account's (DE)" in item[3]
    decide(p, ["crm", "c1"], ["product", "34"], "match")  # the reviewer: it is 34
    assert accounts(p)["crm", "c1"]["account_id"] == "34"


def test_explain_on_an_account_lists_its_records_duplicates_and_conflict(tmp_path):
    # c1, c2 both hold 34's id (a duplicate in the CRM); c3 holds 34's id but is Globex (35).
    p = make(tmp_path, "c1,Acme,,DE,,,34\nc2,ACME GmbH,,DE,,,34\nc3,Globex,globex.co.uk,GB,,,34\n")
    res = p.run()
    info = p.explain("product", "34")
    got = {tuple(x["record"]): x for x in info["linked"]}
    assert set(got) == {("crm", "c1"), ("crm", "c2")}
    assert sorted(x["duplicate"] for x in got.values()) == [False, True]  # one leads
    assert info["conflict"] == {"accounts": ["34", "35"], "held": [["crm", "c3"]]}
    assert res.report["duplicate_groups"] == [
        {"account_id": "34", "source": "crm", "records": ["c1", "c2"]}
    ]
    from typer.testing import CliRunner

    from linker.cli import app

    r = CliRunner().invoke(app, ["explain", "-p", str(p.root), "product", "34"])
    assert r.exit_code == 0 and "2 record(s) of other systems linked to it" in r.stdout
    assert "(duplicate)" in r.stdout and "in a conflict with account(s) 35" in r.stdout
