"""Ingest: formats, query sources, filters, nested fields, ids, and what stops vs. what is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linker import Project
from linker.errors import ConfigError, InputError

from .conftest import write_project

HEAD = """\
[project]
name = "i"
accounts_sor = "product"
"""


def project(tmp_path: Path, sources: str, files: dict[str, str | bytes]) -> Project:
    return Project(write_project(tmp_path / "p", HEAD + sources, files))


def records(p: Project, source: str, cols: str = "id") -> list[tuple]:
    con = duckdb.connect(str(p.state_db), read_only=True)
    try:
        return con.execute(
            f"SELECT {cols} FROM records WHERE source = ? ORDER BY id", [source]
        ).fetchall()
    finally:
        con.close()


PRODUCT_SRC = """
[sources.product]
entity = "accounts"
path = "product.csv"
id = "id"
[sources.product.fields]
name = "name"
"""


def test_query_source_names_an_earlier_source_and_reads_files_relative_to_the_project(tmp_path):
    sources = """
[sources.billing]
entity = "accounts"
path = "billing.csv"
id = "id"
[sources.billing.refs]
product = "account"

[sources.product]
entity = "accounts"
query = "select * from read_csv('data/all_products.csv', all_varchar = true) where id in (select account from billing)"
id = "id"
[sources.product.fields]
name = "name"
"""
    p = project(
        tmp_path,
        sources,
        {
            "billing.csv": "id,account\ncus_1,1\n",
            "data/all_products.csv": "id,name\n1,Acme\n2,Globex\n",
        },
    )
    p.run()
    assert records(p, "product") == [("1",)]  # only accounts that also exist in billing


def test_query_errors_name_the_key(tmp_path):
    sources = (
        '\n[sources.product]\nentity = "accounts"\nquery = "select * from nowhere"\nid = "id"\n'
    )
    with pytest.raises(ConfigError) as e:
        project(tmp_path, sources, {}).run()
    assert "sources.product.query" in str(e.value)


def test_filter_and_formats(tmp_path):
    sources = (
        PRODUCT_SRC.replace('id = "id"\n', 'id = "id"\nfilter = "status = \'active\'"\n')
        + """
[sources.support]
entity = "accounts"
path = "support.jsonl"
id = "id"
[sources.support.fields]
domain = "domains"
[sources.support.refs]
product = "external_id"

[sources.billing]
entity = "accounts"
path = "billing.json"
id = "id"
[sources.billing.fields]
country = "address.country"
[sources.billing.refs]
product = "metadata.account_id"

[sources.wh]
entity = "accounts"
path = "wh.parquet"
id = "id"

[sources.tsv]
entity = "accounts"
path = "t.tsv"
id = "Id"
"""
    )
    support = [
        {"id": 2101.0, "domains": ["www.acme.de", "acme.com"], "external_id": 1.0},
        {"id": 2102, "domains": None, "external_id": "2"},
    ]
    billing = [
        {"id": "cus_1", "address": {"country": "Deutschland"}, "metadata": {"account_id": "1"}},
        {"id": "cus_2", "address": {"country": None}, "metadata": {}},
    ]
    files = {
        "product.csv": '\ufeffid,name,status\n1,"Acme, Inc.\nSecond line",active\n2,Globex,deleted\n',
        "support.jsonl": "\n".join(json.dumps(x) for x in support) + "\n",
        "billing.json": json.dumps(billing),
        "t.tsv": "Id\tName\nA\tx\na\ty\n",
    }
    p = project(tmp_path, sources, files)
    pq.write_table(pa.table({"id": pa.array([12345.0, 7.0], pa.float64())}), p.root / "wh.parquet")
    p.run()
    assert records(p, "product", "id, name_raw") == [
        ("1", "Acme, Inc. Second line")
    ]  # BOM, quoted newline
    assert records(p, "support", "id, domain") == [
        ("2101", ["acme.com", "acme.de"]),
        ("2102", None),
    ]
    assert records(p, "billing", "id, country") == [("cus_1", "DE"), ("cus_2", None)]
    assert records(p, "wh") == [("12345",), ("7",)]  # DOUBLE ids read as integers
    assert records(p, "tsv") == [("A",), ("a",)]  # case kept: two ids
    assert p.explain("support", "2101.0")["account_id"] == "1"  # ids given as floats are normalized


def test_semicolon_delimiter_is_detected(tmp_path):
    p = project(tmp_path, PRODUCT_SRC, {"product.csv": "id;name\n1;Müller GmbH\n"})
    p.run()
    assert records(p, "product", "id, name") == [("1", "muller")]


def test_empty_and_header_only_files_are_empty_sources(tmp_path):
    sources = (
        PRODUCT_SRC + '\n[sources.crm]\nentity = "accounts"\npath = "crm.csv"\nid = "Id"\n'
        '[sources.crm.fields]\nname = "Name"\n\n[sources.sup]\nentity = "accounts"\npath = "s.jsonl"\nid = "id"\n'
    )
    p = project(
        tmp_path, sources, {"product.csv": "id,name\n1,Acme\n", "crm.csv": "", "s.jsonl": ""}
    )
    res = p.run()
    assert res.report["sources"]["crm"]["records"] == 0
    assert res.report["sources"]["sup"]["records"] == 0
    assert any("crm.csv: empty file" in w for w in res.warnings)
    # The system of record is another matter: empty, it would unlink everything.
    (tmp_path / "p" / "product.csv").write_text("id,name\n", "utf-8")
    with pytest.raises(InputError, match="a header but no rows.*system of record"):
        p.run()


def test_null_ids_are_skipped_with_their_rows_and_duplicates_in_other_sources_keep_the_first(
    tmp_path,
):
    sources = (
        PRODUCT_SRC + '\n[sources.crm]\nentity = "accounts"\npath = "crm.csv"\nid = "Id"\n'
        '[sources.crm.fields]\nname = "Name"\n'
    )
    p = project(
        tmp_path,
        sources,
        {
            "product.csv": "id,name\n1,Acme\n ,Nameless\n",
            "crm.csv": "Id,Name\nX,first\nX,second\n,none\n",
        },
    )
    res = p.run()
    assert any(
        "product.csv: 1 record(s) without an id" in w and "data rows 2" in w for w in res.warnings
    )
    assert any(
        "crm.csv: 1 id(s) appear more than once" in w and "'X' (rows 1, 2)" in w
        for w in res.warnings
    )
    assert records(p, "crm", "id, name_raw") == [("X", "first")]
    assert res.report["sources"]["crm"]["duplicate_ids"] == 1


@pytest.mark.parametrize(
    ("files", "needles"),
    [
        ({"product.csv": b"id,name\n1,M\xfcller\n"}, ["product.csv:2", "not UTF-8"]),
        (
            {"product.csv": "id,name\n1,a\n2,b,c\n"},
            ["product.csv:3", "row has 3 fields, the header has 2"],
        ),
        ({"product.csv": "id,name,name\n1,a,b\n"}, ["product.csv:1", "duplicate column names"]),
        ({"product.csv": "id,,x\n1,a,b\n"}, ["product.csv:1", "empty column name"]),
        ({"product.csv": "ID,name\n1,a\n"}, ["missing column 'id'", "did you mean 'ID'"]),
    ],
)
def test_unreadable_csv_stops_with_file_and_line(tmp_path, files, needles):
    with pytest.raises(InputError) as e:
        project(tmp_path, PRODUCT_SRC, files).run()
    for n in needles:
        assert n in str(e.value), str(e.value)


def test_torn_last_jsonl_line_stops_naming_the_line(tmp_path):
    sources = PRODUCT_SRC.replace('path = "product.csv"', 'path = "p.jsonl"')
    p = project(
        tmp_path,
        sources,
        {"p.jsonl": '{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n{"id": 3, "na'},
    )
    with pytest.raises(InputError) as e:
        p.run()
    assert "p.jsonl:3" in str(e.value) and "malformed JSON" in str(e.value)


def test_missing_nested_field_names_the_column(tmp_path):
    sources = PRODUCT_SRC.replace('path = "product.csv"', 'path = "p.json"').replace(
        'name = "name"', 'name = "meta.nmae"'
    )
    p = project(tmp_path, sources, {"p.json": json.dumps([{"id": 1, "meta": {"name": "a"}}])})
    with pytest.raises(InputError) as e:
        p.run()
    assert "'meta.nmae'" in str(e.value) and "sources.product.fields.name" in str(e.value)


def test_check_reads_everything_without_matching(tmp_path):
    p = project(tmp_path, PRODUCT_SRC, {"product.csv": "id,name\n1,a\n"})
    result = p.check()
    assert result["sources"]["product"]["records"] == 1
    assert not p.state_db.exists()


ORGS_SRC = """
[sources.support]
entity = "accounts"
path = "{path}"
id = "id"
{records}
[sources.support.fields]
name = "name"
[sources.support.refs]
product = "external_id"
"""
PAGE1 = {"organizations": [{"id": 1, "name": "Acme", "external_id": "34"},
                           {"id": 2, "name": "Globex", "external_id": None}],
         "next_page": "https://acme.zendesk.com/api/v2/organizations.json?page=2", "count": 3}  # fmt: skip
PAGE2 = {"organizations": [{"id": 3, "name": "Initech", "external_id": 36}], "next_page": None}


@pytest.mark.parametrize(
    ("path", "content", "ids"),
    [
        ("orgs.json", json.dumps(PAGE1), ["1", "2"]),  # one page of an API export
        ("orgs.jsonl", json.dumps(PAGE1) + "\n" + json.dumps(PAGE2) + "\n", ["1", "2", "3"]),
        ("orgs.json", json.dumps([PAGE1, PAGE2]), ["1", "2", "3"]),  # pages in an array
    ],
    ids=["object", "pages-per-line", "pages-in-array"],
)
def test_records_unwraps_an_api_exports_wrapper(tmp_path, path, content, ids):
    src = ORGS_SRC.format(path=path, records='records = "organizations"')
    product = "id,name\n34,Acme\n36,Initech\n"
    p = project(tmp_path, PRODUCT_SRC + src, {"product.csv": product, path: content})
    p.run()
    assert [r[0] for r in records(p, "support")] == ids
    assert not list((p.root / ".linker").glob("ingest-*"))  # the scratch copy is gone


def test_a_wrapped_export_without_records_says_how_to_read_it(tmp_path):
    src = ORGS_SRC.format(path="orgs.json", records="")
    p = project(tmp_path, PRODUCT_SRC + src, {"product.csv": "id,name\n34,A\n",
                                              "orgs.json": json.dumps(PAGE1)})  # fmt: skip
    with pytest.raises(InputError) as e:
        p.run()
    assert 'set records = "organizations" on sources.support' in e.value.hint


def test_records_names_a_key_that_is_not_there_or_a_csv(tmp_path):
    src = ORGS_SRC.format(path="orgs.json", records='records = "organisations"')
    p = project(tmp_path, PRODUCT_SRC + src, {"product.csv": "id,name\n34,A\n",
                                              "orgs.json": json.dumps(PAGE1)})  # fmt: skip
    with pytest.raises(InputError) as e:
        p.run()
    assert (
        e.value.key == "sources.support.records" and "did you mean 'organizations'" in e.value.hint
    )
    bad = PRODUCT_SRC.replace('id = "id"', 'id = "id"\nrecords = "rows"')
    with pytest.raises(ConfigError, match="records names the key"):
        project(tmp_path / "csv", bad, {"product.csv": "id,name\n34,A\n"}).config  # noqa: B018


def test_a_nested_path_reads_into_a_csv_column_holding_json_text(tmp_path):
    # A Stripe CSV export: metadata is a JSON string in one column.
    src = PRODUCT_SRC.replace('name = "name"', 'name = "name"\nvat = "metadata.vat_id"')
    csv_text = 'id,name,metadata\n34,Acme,"{""vat_id"": ""DE136695976""}"\n35,Globex,\n'
    p = project(tmp_path, src, {"product.csv": csv_text})
    p.run()
    assert records(p, "product", "id, vat") == [("34", "DE136695976"), ("35", None)]


SF_SRC = """
[sources.crm]
entity = "accounts"
path = "crm.csv"
id = "Id"
id_format = "salesforce"
[sources.crm.fields]
name = "Name"
[sources.crm.refs]
product = "ProductId"

[sources.crm_contacts]
entity = "contacts"
path = "contacts.csv"
id = "Id"
account = { source = "crm", column = "AccountId" }
[sources.crm_contacts.fields]
email = "Email"
"""


def test_salesforce_15_and_18_character_ids_of_one_record_are_one_id(tmp_path):
    # The API export has 18-character ids; a report's contacts name their account by the
    # 15-character id, one of them upper-cased by a spreadsheet (its suffix restores the case).
    crm = "Id,Name,ProductId\n001D000000IqhSLIAZ,Acme,34\n001D000000IqhSMIAZ,Globex,\n"
    contacts = (
        "Id,AccountId,Email\n"
        "003D000000AbcdeIAA,001D000000IqhSL,a@acme.de\n"
        "003D000000AbcdfIAA,001D000000IQHSLIAZ,b@acme.de\n"
    )
    p = project(tmp_path, PRODUCT_SRC + SF_SRC, {"product.csv": "id,name\n34,Acme\n",
                                                 "crm.csv": crm, "contacts.csv": contacts})  # fmt: skip
    p.run()
    assert [r[0] for r in records(p, "crm")] == ["001D000000IqhSLIAZ", "001D000000IqhSMIAZ"]
    assert [r[0] for r in records(p, "crm_contacts", "account_ref")] == ["001D000000IqhSLIAZ"] * 2
    con = duckdb.connect(str(p.state_db), read_only=True)
    try:
        got = con.execute(
            "SELECT account_id, account_via FROM contact_result ORDER BY id"
        ).fetchall()
    finally:
        con.close()
    assert got == [("34", "own_account"), ("34", "own_account")]
    # A person types the 15-character id: it names the same record.
    assert p.explain("crm", "001D000000IqhSL")["id"] == "001D000000IqhSLIAZ"


def test_an_unknown_id_format_is_a_config_error(tmp_path):
    src = PRODUCT_SRC.replace('id = "id"', 'id = "id"\nid_format = "salesfroce"')
    with pytest.raises(ConfigError, match="expected one of salesforce") as e:
        project(tmp_path, src, {"product.csv": "id,name\n34,A\n"}).config  # noqa: B018
    assert "did you mean 'salesforce'" in e.value.hint


def test_without_a_contacts_sor_a_contacts_own_account_link_still_links(tmp_path):
    # No [project] contacts_sor: every contact is a non-SOR contact (is_sor was NULL, and
    # every own-account link was dropped).
    src = PRODUCT_SRC + SF_SRC.replace('id_format = "salesforce"\n', "")
    p = project(tmp_path, src, {"product.csv": "id,name\n34,Acme\n",
                                "crm.csv": "Id,Name,ProductId\nA1,Acme,34\n",
                                "contacts.csv": "Id,AccountId,Email\nC1,A1,a@acme.de\n"})  # fmt: skip
    res = p.run()
    assert res.report["sources"]["crm_contacts"]["account_via"] == {"own_account": 1}


def test_a_misspelt_nested_field_suggests_the_nested_name(tmp_path):
    src = """
[sources.product]
entity = "accounts"
path = "p.json"
id = "id"
[sources.product.fields]
name = "name"
country = "address.countri"
"""
    doc = [{"id": 1, "name": "Acme", "address": {"country": "DE", "city": "Berlin"}}]
    p = project(tmp_path, src, {"p.json": json.dumps(doc)})
    with pytest.raises(InputError) as e:
        p.run()
    assert "did you mean 'address.country'?" in e.value.hint


def test_a_misspelt_key_inside_a_csv_column_of_json_text_is_suggested_too(tmp_path):
    src = PRODUCT_SRC.replace('name = "name"', 'name = "name"\nvat = "metadata.vat_ld"')
    csv_text = 'id,name,metadata\n34,Acme,"{""vat_id"": ""DE136695976""}"\n'
    with pytest.raises(InputError) as e:
        project(tmp_path, src, {"product.csv": csv_text}).run()
    assert "did you mean 'metadata.vat_id'?" in e.value.hint


def test_column_names_with_quotes_and_semicolons_are_names_not_sql(tmp_path):
    """Column names come from the data, not from a checked config key: every one goes
    through ident() (quoted), so a quote, a semicolon or a space in a header is a name, never
    SQL — read, mapped, used as a reference, published."""
    toml = """\
[project]
name = "q"
accounts_sor = "p"
[sources.p]
entity = "accounts"
path = "p.csv"
id = 'id"; DROP TABLE records; --'
[sources.p.fields]
name = 'Compa"ny; Name'
domain = "web site"
country = "ctry"
[sources.c]
entity = "accounts"
path = "c.csv"
id = "ID"
[sources.c.fields]
name = 'the "name"'
domain = "Site"
[sources.c.refs]
p = 'Ref"x'
"""
    files = {
        "p.csv": '"id""; DROP TABLE records; --","Compa""ny; Name",web site,ctry\n'
        "1,Acme GmbH,acme.de,DE\n2,Globex,globex.com,US\n",
        "c.csv": 'ID,"the ""name""",Site,"Ref""x"\nc1,ACME,acme.de,1\nc2,Globex Inc,,\n',
    }
    p = Project(write_project(tmp_path / "q", toml, files))
    res = p.run(do_publish=True)
    assert res.report["sources"]["c"]["linked"] == 1 and res.manifest is not None
    info = p.explain("c", "c1")
    assert info["account_id"] == "1" and info["rule"] == "ref"
    assert info["keys"]["name"] == "acme"
    crosswalk = pq.read_table(tmp_path / "q" / "crosswalk" / "accounts.parquet").to_pylist()
    assert {r["source_record_id"]: r["account_id"] for r in crosswalk if r["source"] == "c"} == {
        "c1": "1",
        "c2": None,
    }


def test_text_and_id_sql_of_a_text_column_equal_the_plain_regexes_on_every_kind_of_space():
    # text_sql and id_sql skip their regexes where they cannot change a value (speed: every
    # field of every record goes through them); the answer must be the regexes' own.
    import random

    from linker.ingest_sql import id_sql, text_sql

    rng = random.Random(7)
    alphabet = ["a", "B", "7", "0", ".", "-", "+", " ", "  ", "\t", "\n", "\r", "\f", "\v", "\xa0"]
    values = ["", " ", "12.0", " 12.00 ", "-3.", "x.0", "a  b", "\ta\tb ", "a\r\n b", "a\vb"]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(3000)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?) AS v", [values])
    plain_text = "nullif(trim(regexp_replace(v, '\\s+', ' ', 'g')), '')"
    plain_id = (
        "nullif(regexp_replace(regexp_replace(v, '^\\s+|\\s+$', '', 'g'), "
        "'^([+-]?[0-9]+)\\.0*$', '\\1'), '')"
    )
    got = con.execute(
        f"SELECT count(*) FILTER (WHERE {text_sql('v', 'VARCHAR')} IS DISTINCT FROM {plain_text}), "
        f"count(*) FILTER (WHERE {id_sql('v', 'VARCHAR')} IS DISTINCT FROM {plain_id}), "
        f"count(DISTINCT {plain_text}), count(DISTINCT {plain_id}) FROM t"
    ).fetchone()
    assert got[:2] == (0, 0)
    assert got[2] > 1000 and got[3] > 1000  # the values did vary
