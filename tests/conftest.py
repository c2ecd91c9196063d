"""Shared fixtures: a tiny hand-made project ("product 34 = CRM 110 = support 2101") and helpers."""

from __future__ import annotations

import json
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
