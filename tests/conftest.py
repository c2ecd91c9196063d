"""Shared fixtures: a tiny hand-made project ("product 34 = CRM 110 = support 2101") and helpers."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]

TINY_TOML = """\
[project]
name = "tiny"
accounts_sor = "product"
contacts_sor = "product_users"

[sources.product]
entity = "accounts"
path = "data/product.csv"
id = "id"
filter = "status <> 'deleted'"
[sources.product.fields]
name = "company_name"
domain = "website"
country = "country"

[sources.product_users]
entity = "contacts"
path = "data/product_users.parquet"
id = "id"
account = { source = "product", column = "account_id" }
[sources.product_users.fields]
email = "email"
full_name = "name"

[sources.crm]
entity = "accounts"
path = "data/crm.csv"
id = "Id"
[sources.crm.fields]
name = "Name"
domain = "Website"
country = "BillingCountry"
vat = "VAT"
phone = "Phone"
[sources.crm.refs]
product = "Product_Id"
support = "Support_Id"

[sources.crm_contacts]
entity = "contacts"
path = "data/crm_contacts.csv"
id = "Id"
account = { source = "crm", column = "AccountId" }
[sources.crm_contacts.fields]
email = "Email"
first_name = "FirstName"
last_name = "LastName"

[sources.support]
entity = "accounts"
path = "data/support.jsonl"
id = "id"
[sources.support.fields]
name = "name"
domain = "domain_names"
[sources.support.refs]
product = "external_id"

[sources.billing]
entity = "accounts"
path = "data/billing.json"
id = "id"
[sources.billing.fields]
name = "name"
email = "email"
country = "address.country"
vat = "tax_id"
[sources.billing.refs]
product = "metadata.account_id"
"""

# product 34 = CRM 110 (ref) = support 2101 (ref from CRM and external_id)
# product 35 = CRM 111 (VAT only via billing) ; billing cus_B has VAT of 35 → chain crm 111 - billing - product? (no)
PRODUCT_CSV = """\
id,company_name,website,country,status
34,ACME Services GmbH,https://www.acme-services.de,DE,active
35,Globex Ltd,globex.co.uk,GB,active
36,Initech S.r.l.,initech.it,IT,active
37,Umbrella BV,umbrella.nl,NL,active
38,Hooli Inc.,,US,active
39,Deleted Corp,deleted.example,US,deleted
40,Vandelay Industries AG,vandelay.com,CH,active
41,Vandelay Industries Ltd,vandelay.com,GB,active
"""
CRM_CSV = """\
Id,Name,Website,BillingCountry,VAT,Phone,Product_Id,Support_Id
110,ACME,acme-services.de,Deutschland,,+49 30 1234567,34.0,2101
111,Globex Limited,,UK,GB980780684,,,
112,initech srl,http://initech.it/contact,Italia,,,,
113,Hooli,,USA,, , 38 ,
114,Nobody Ltd,nobody.example,UK,,,,
115,Acme Services,www.acme-services.de,DE,,,,
116,Vandelay,vandelay.com,Schweiz,,,,
117,Pendant Publishing,,US,,,39,
"""
CRM_CONTACTS_CSV = """\
Id,AccountId,Email,FirstName,LastName
c1,110, Jane.Doe@ACME-services.de ,Jane,Doe
c2,,bob@globex.co.uk,Bob,Smith
c3,114,x@nobody.example,X,Y
c4,,stranger@gmail.com,Some,One
c5,112,anna@initech.it,Anna,Rossi
"""
SUPPORT_JSONL = [
    {"id": 2101, "name": "Acme Inc.", "domain_names": ["acme-services.de"], "external_id": None},
    {
        "id": 2102,
        "name": "Umbrella",
        "domain_names": ["www.umbrella.nl", "umbrella-corp.com"],
        "external_id": 37.0,
    },
    {"id": 2103, "name": "Unknown Org", "domain_names": [], "external_id": None},
]
BILLING_JSON = [
    {
        "id": "cus_A",
        "name": "Globex Ltd",
        "email": "billing@globex.co.uk",
        "address": {"country": "GB"},
        "tax_id": "GB 980 7806 84",
        "metadata": {"account_id": "35"},
    },
    {
        "id": "cus_B",
        "name": "Jane Doe",
        "email": "jane.doe@acme-services.de",
        "address": {"country": "DE"},
        "tax_id": None,
        "metadata": {},
    },
    {
        "id": "cus_C",
        "name": "Hooli",
        "email": "ap@hooli.example",
        "address": {"country": "US"},
        "tax_id": "DE136695977",
        "metadata": {},
    },
]
USERS = {
    "id": [1, 2, 3, 4],
    "account_id": [34, 35, 36, 39],
    "email": [
        "jane.doe@acme-services.de",
        "ann@globex.co.uk",
        "luca@initech.it",
        "d@deleted.example",
    ],
    "name": ["Jane Doe", "Ann Lee", "Luca Bianchi", "Dee Leted"],
}


# The name comparison's levels as linker wrote them before they read each record's sorted
# words and numbers (model.json files trained then hold these), and that plan's digest.
NAME_LEVELS_ON_NAMES = {
    "same words, other order": "list_sort(string_split(\"name_l\", ' ')) = list_sort(string_split(\"name_r\", ' '))",
    "other numbers in the name": "len(regexp_extract_all(\"name_l\", '[0-9]+')) > 0 AND len(regexp_extract_all(\"name_r\", '[0-9]+')) > 0 AND list_sort(regexp_extract_all(\"name_l\", '[0-9]+')) <> list_sort(regexp_extract_all(\"name_r\", '[0-9]+'))",
    "one name's words all in the other": "list_has_all(string_split(\"name_l\", ' '), string_split(\"name_r\", ' ')) OR list_has_all(string_split(\"name_r\", ' '), string_split(\"name_l\", ' '))",
}  # fmt: skip
ACME_PLAN_DIGEST_BEFORE = "47bb53ab22b904f8"


def write_project(root: Path, toml: str, files: dict[str, str | bytes] | None = None) -> Path:
    """Write linker.toml and `files` (paths relative to root, text or bytes) into root."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in {"linker.toml": toml, **(files or {})}.items():
        write_file(root / name, content)
    return root


def write_file(path: Path, content: str | bytes) -> None:
    """Write text (UTF-8) or bytes, creating the parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8")


def write_tiny(root: Path, toml: str = TINY_TOML) -> Path:
    write_project(
        root,
        toml,
        {
            "data/product.csv": PRODUCT_CSV,
            "data/crm.csv": CRM_CSV,
            "data/crm_contacts.csv": CRM_CONTACTS_CSV,
            "data/support.jsonl": "\n".join(json.dumps(r) for r in SUPPORT_JSONL) + "\n",
            "data/billing.json": json.dumps(BILLING_JSON, indent=1),
        },
    )
    pq.write_table(pa.table(USERS), root / "data" / "product_users.parquet")
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A fresh copy of the tiny project."""
    return write_tiny(tmp_path / "tiny")


# --- a review queue made by hand (what `linker run` leaves for `linker review`) --------------


def _rec(source: str, rid: str, name: str, **fields) -> dict:
    return {"source": source, "id": rid, "fields": {"name": name.lower(), **fields},
            "raw": {"id": rid, "name": name, **fields}}  # fmt: skip


def _ev(comparison: str, level: str, weight: float, a=None, b=None) -> dict:
    return {"comparison": comparison, "level": level, "match_weight": weight,
            "open_value": a, "known_value": b}  # fmt: skip


P34, C110, P35 = (
    _rec("product", "34", "ACME Services GmbH", domain=["acme-services.de"], country="DE"),
    _rec("crm", "110", "ACME", domain=["acme-services.de"], country="DE", phone="+49301234567"),
    _rec("product", "35", "Globex Ltd", domain=["acme-services.de"], country="GB"),
)
S2101 = _rec("support", "2101", "Acme Inc.", domain=["acme-services.de"])
CUS_C, P38, P36 = (
    _rec("billing", "cus_C", "Hooli", country="US", email="ap@hooli.example"),
    _rec("product", "38", "Hooli Inc.", country="US"),
    _rec("product", "36", "Hooli Labs", country="US"),
)
MARKUP = _rec("crm", "666", "[bold red]Evil[/] Corp \x1b[31mred\x1b[0m", country="DE")
P37 = _rec("product", "37", "Evil Corp", country="DE")  # fmt: skip

# Queue order as linker builds it: conflicts first, then by impact, then probability.
REVIEW_ITEMS = [
    {"kind": "conflict", "left": C110, "right": P35, "account_id": "34, 35",
     "why": "accounts 34, 35 are joined by a chain of 2 edge(s); proposed cut: domain",
     "impact": 4,
     "chain": [{"from": ["product", "34"], "to": ["crm", "110"], "rule": "ref",
                "trust": "identifying", "evidence": "crm.Product_Id = 34", "proposed_cut": False},
               {"from": ["crm", "110"], "to": ["product", "35"], "rule": "domain",
                "trust": "suggestive", "evidence": "domain = acme-services.de",
                "proposed_cut": True}],
     "records": [P34, C110, P35]},
    {"kind": "pair", "left": S2101, "right": P34, "account_id": "34", "probability": 0.93,
     "match_weight": 3.7, "why": "in the review band", "impact": 3,
     "evidence": [_ev("name", "jaro-winkler >= 0.92", 4.2, "acme inc", "acme services gmbh"),
                  _ev("domain", "shares one", 13.1, "acme-services.de", "acme-services.de"),
                  _ev("country", "null", 0.0, None, "DE")]},
    {"kind": "pair", "left": CUS_C, "right": P38, "account_id": "38", "probability": 0.91,
     "match_weight": 3.3, "why": "a runner-up for another account is close", "impact": 2,
     "evidence": [_ev("name", "exact", 9.5, "hooli", "hooli"),
                  _ev("country", "exact", 1.2, "US", "US")]},
    {"kind": "pair", "left": CUS_C, "right": P36, "account_id": "36", "probability": 0.85,
     "match_weight": 2.5, "why": "runner-up", "impact": 2,
     "evidence": [_ev("name", "shares a distinctive word", 6.0, "hooli", "hooli labs"),
                  _ev("country", "exact", 1.2, "US", "US")]},
    {"kind": "pair", "left": MARKUP, "right": P37, "account_id": "37", "probability": 0.82,
     "match_weight": 2.2, "why": "in the review band", "impact": 1,
     "evidence": [_ev("name", "jaro-winkler >= 0.80", 3.0, MARKUP["fields"]["name"], "evil corp"),
                  _ev("country", "exact", 1.2, "DE", "DE")]},
]  # fmt: skip


def two_path_conflict() -> dict:
    """REVIEW_ITEMS' conflict with a second path: crm 111 also holds account 34's id and shares
    35's domain, so cutting one path leaves the other."""
    c111 = _rec("crm", "111", "ACME Services", domain=["acme-services.de"], country="DE")
    item = json.loads(json.dumps(REVIEW_ITEMS[0]))
    item["records"] = [P34, C110, P35, c111]
    step = {"trust": "identifying", "agreement": 1.0}
    item["comp_edges"] = {
        "sor": [["product", "34"], ["product", "35"]],
        "edges": [
            {**step, "from": ["product", "34"], "to": ["crm", "110"], "rule": "ref",
             "evidence": "crm.Product_Id = 34"},
            {**step, "from": ["crm", "110"], "to": ["product", "35"], "rule": "domain",
             "trust": "suggestive", "evidence": "domain = acme-services.de", "agreement": -3.0},
            {**step, "from": ["product", "34"], "to": ["crm", "111"], "rule": "ref",
             "evidence": "crm.Product_Id = 34"},
            {**step, "from": ["crm", "111"], "to": ["product", "35"], "rule": "domain",
             "trust": "suggestive", "evidence": "domain = acme-services.de", "agreement": -3.0},
        ],
    }  # fmt: skip
    return item


def write_review_state(root: Path, items: list[dict] = REVIEW_ITEMS) -> Path:
    """A state database whose only table is the review queue of `items`, as a run leaves it."""
    import duckdb

    from linker.review_queue import QUEUE_DDL
    from linker.state import write_meta

    state = root / ".linker" / "state.duckdb"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.unlink(missing_ok=True)
    con = duckdb.connect(str(state))
    con.execute(QUEUE_DDL)
    write_meta(con, "tests/conftest.py")  # versioned as a run's state is
    for n, it in enumerate(items, 1):
        left, right = it["left"], it["right"]
        evidence = it.get("chain") if it["kind"] == "conflict" else it.get("evidence")
        con.execute(
            "INSERT INTO review_queue VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?)",
            [n, it["kind"], 2 * n, 2 * n + 1, left["source"], left["id"], right["source"],
             right["id"], it["account_id"], it.get("probability"), it.get("match_weight"),
             it["why"], json.dumps(left["fields"]), json.dumps(right["fields"]),
             json.dumps(evidence), n, it["impact"], json.dumps(left["raw"]),
             json.dumps(right["raw"]),
             json.dumps(it["records"]) if it.get("records") else None,
             json.dumps(it["comp_edges"]) if it.get("comp_edges") else None],
        )  # fmt: skip
    con.close()
    return root


@pytest.fixture
def queued(tiny: Path) -> Path:
    """The tiny project with a hand-made review queue (a conflict, four pairs, one named in
    markup with escape sequences) and no decisions yet."""
    return write_review_state(tiny)


def load_datasets():
    """benchmarks/datasets.py (not a package) as a module: the benchmark data sets."""
    return load_benchmark("datasets")


def load_benchmark(name: str):
    """benchmarks/NAME.py (the scripts are not a package) as a module."""
    spec = importlib.util.spec_from_file_location(
        f"benchmark_{name}", REPO / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
