"""System presets: a source says which tool's export it is, and linker knows its columns."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from linker import Project
from linker.cli import app
from linker.config import ACCOUNT_FIELDS, CONTACT_FIELDS
from linker.errors import ConfigError
from linker.presets import presets
from linker.scaffold import export_columns, recognise

from .conftest import write_project

TOML = """\
[project]
name = "p"
accounts_sor = "product"

[sources.product]
entity = "accounts"
path = "product.csv"
id = "id"
[sources.product.fields]
name = "name"

[sources.support]
system = "zendesk.organization"
path = "organizations.json"

[sources.support_users]
system = "zendesk.user"
path = "users.json"

[sources.billing]
system = "stripe.customer"
path = "customers.json"
{billing_extra}
"""
ORGS = {"organizations": [{"id": 7, "name": "Acme", "domain_names": ["acme.de"],
                           "external_id": "34"}], "next_page": None, "count": 1}  # fmt: skip
USERS = {"users": [{"id": 70, "name": "Ana", "email": "ana@acme.de", "organization_id": 7}],
         "next_page": None}  # fmt: skip
CUSTOMERS = {"object": "list", "has_more": False, "data": [
    {"id": "cus_1", "name": "ACME GmbH", "email": "billing@acme.de",
     "address": {"country": "DE", "city": "Berlin", "line1": "Hauptstr. 1", "postal_code": "10115"},
     "metadata": {"account_id": "34"}}]}  # fmt: skip


def make(tmp_path, billing_extra: str = "") -> Project:
    files = {
        "product.csv": "id,name\n34,Acme\n35,Globex\n",
        "organizations.json": json.dumps(ORGS),
        "users.json": json.dumps(USERS),
        "customers.json": json.dumps(CUSTOMERS),
    }
    return Project(write_project(tmp_path / "p", TOML.format(billing_extra=billing_extra), files))


def test_every_builtin_preset_maps_canonical_fields_of_its_entity():
    found = presets()
    assert {"salesforce.account", "salesforce.contact", "zendesk.organization",
            "zendesk.user", "stripe.customer", "intercom.company"} <= set(found)  # fmt: skip
    for name, p in found.items():
        canonical = ACCOUNT_FIELDS if p["entity"] == "accounts" else CONTACT_FIELDS
        assert set(p["fields"]) <= set(canonical), name
        if "account_system" in p:
            assert p["account_system"] in found and p["entity"] == "contacts", name


def test_api_exports_link_with_nothing_but_system_and_path(tmp_path):
    p = make(tmp_path)
    res = p.run(do_publish=True)
    src = res.report["sources"]
    assert src["support"]["by_method"] == {"ref": 1}  # external_id = the product's id
    assert src["billing"]["by_method"] == {"ref": 1}  # metadata.account_id
    assert src["support_users"]["account_via"] == {"own_account": 1}  # organization_id
    # A standard column this export lacks (users without phones) is left empty, and said.
    assert any("zendesk.user preset maps fields.phone" in w for w in res.warnings)
    cfg = p.config
    assert cfg.sources["support"].records == "organizations"
    assert cfg.sources["support_users"].account.source == "support"
    assert cfg.sources["billing"].fields["postcode"] == "address.postal_code"


def test_the_sources_own_keys_win_over_the_preset(tmp_path):
    extra = '[sources.billing.fields]\nname = "email"\n[sources.billing.refs]\nproduct = "id"\n'
    cfg = make(tmp_path, extra).config
    billing = cfg.sources["billing"]
    assert billing.fields["name"] == "email" and billing.fields["email"] == "email"
    assert billing.refs == {"product": "id"}


def test_check_prints_the_mapping_it_resolved(tmp_path):
    p = make(tmp_path)
    r = CliRunner().invoke(app, ["check", "-p", str(p.root)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "support [zendesk.organization]: id id; records under 'organizations'" in text
    assert "ref to product: external_id" in text and "account: support.organization_id" in text
    r = CliRunner().invoke(app, ["check", "-p", str(p.root), "--json"])
    mapping = json.loads(r.stdout)["mapping"]
    assert mapping["billing"]["refs"] == {"product": "metadata.account_id"}


def test_an_unknown_system_is_a_config_error_with_a_suggestion(tmp_path):
    p = make(tmp_path)
    toml = p.root / "linker.toml"
    toml.write_text(toml.read_text().replace('"stripe.customer"', '"stripe.customers"'))
    with pytest.raises(ConfigError) as e:
        Project(p.root).config  # noqa: B018
    assert e.value.key == "sources.billing.system" and "stripe.customer" in e.value.hint


def test_a_column_the_source_names_itself_must_exist(tmp_path):
    from linker.errors import InputError

    p = make(tmp_path, '[sources.billing.fields]\nvat = "tax_id"\n')
    with pytest.raises(InputError, match="missing column 'tax_id'"):
        p.run()


# --- small exports in each tool's own layout, written by hand from the tools' documentation ---

SF_ACCOUNTS = (  # Data Loader / API names; 18-character ids; the product id in a custom field
    "Id,Name,Website,Phone,BillingStreet,BillingCity,BillingPostalCode,BillingCountry,"
    "Product_Account_Id__c\n"
    "001D000000IqhSLIAZ,Acme GmbH,www.acme.de,+49 30 1234567,Hauptstr. 1,Berlin,10115,Germany,34\n"
    "001D000000IqhSMIAZ,Globex Ltd,globex.co.uk,,,London,,United Kingdom,35\n"
)
SF_CONTACTS = (  # a report: AccountId in the 15-character form
    "Id,AccountId,FirstName,LastName,Email,Phone\n"
    "003D000000AbcdeIAA,001D000000IqhSL,Ana,Lopez,ana@acme.de,\n"
    "003D000000AbcdfIAA,001D000000IqhSM,Bob,Smith,bob@globex.co.uk,\n"
)
STRIPE_CSV = (  # a CSV whose metadata column holds JSON text
    "id,name,email,metadata\n"
    'cus_NffrFeUfNV2Hib,Acme GmbH,billing@acme.de,"{""account_id"": ""34""}"\n'
    'cus_NffrFeUfNV2Hic,Globex,ap@globex.co.uk,"{}"\n'
)
INTERCOM = {"type": "list", "data": [
    {"type": "company", "id": "531ee472cce572a6ec000006", "company_id": "35",
     "name": "Globex", "website": "https://globex.co.uk"}]}  # fmt: skip
FRESHDESK = [  # /api/v2/companies: the product id in a custom field
    {"id": 8, "name": "Acme GmbH", "domains": ["acme.de"], "custom_fields": {"account_id": "34"}}
]
HUBSPOT_CSV = (
    "Record ID,Company name,Company Domain Name,Phone Number,Country/Region,City,"
    "Street Address,Postal Code,Product Account ID\n"
    "9001,Globex Ltd,globex.co.uk,,United Kingdom,London,,,35\n"
)
TOOLS_TOML = """\
[project]
name = "tools"
accounts_sor = "product"
contacts_sor = "product_users"

[sources.product]
entity = "accounts"
path = "product.csv"
id = "id"
[sources.product.fields]
name = "name"
domain = "website"

[sources.product_users]
entity = "contacts"
path = "users.csv"
id = "id"
account = { source = "product", column = "account_id" }
[sources.product_users.fields]
email = "email"

[sources.salesforce]
system = "salesforce.account"
path = "sf_accounts.csv"
refs = { product = "Product_Account_Id__c" }

[sources.salesforce_contacts]
system = "salesforce.contact"
path = "sf_contacts.csv"

[sources.zendesk]
system = "zendesk.organization"
path = "organizations.json"

[sources.zendesk_users]
system = "zendesk.user"
path = "users.json"

[sources.stripe]
system = "stripe.customer"
path = "stripe_customers.csv"

[sources.intercom]
system = "intercom.company"
path = "intercom_companies.json"

[sources.freshdesk]
system = "freshdesk.company"
path = "freshdesk_companies.json"
refs = { product = "custom_fields.account_id" }

[sources.hubspot]
system = "hubspot.company"
path = "hubspot_companies.csv"
refs = { product = "Product Account ID" }
"""
TOOL_FILES = {
    "product.csv": "id,name,website\n34,Acme,acme.de\n35,Globex,globex.co.uk\n",
    "users.csv": "id,account_id,email\nu1,34,ana@acme.de\n",
    "sf_accounts.csv": SF_ACCOUNTS,
    "sf_contacts.csv": SF_CONTACTS,
    "organizations.json": json.dumps(ORGS),
    "users.json": json.dumps(USERS),
    "stripe_customers.csv": STRIPE_CSV,
    "intercom_companies.json": json.dumps(INTERCOM),
    "freshdesk_companies.json": json.dumps(FRESHDESK),
    "hubspot_companies.csv": HUBSPOT_CSV,
}


def test_every_tools_export_links_with_system_path_and_custom_refs_only(tmp_path):
    p = Project(write_project(tmp_path / "p", TOOLS_TOML, TOOL_FILES))
    p.run(do_publish=True)
    rows = pq.read_table(p.root / "crosswalk" / "accounts.parquet").to_pylist()
    got = {(r["source"], r["source_record_id"]): r["account_id"] for r in rows}
    assert got["salesforce", "001D000000IqhSLIAZ"] == "34"
    assert got["zendesk", "7"] == "34"  # external_id
    assert got["stripe", "cus_NffrFeUfNV2Hib"] == "34"  # metadata (JSON text in a CSV column)
    assert got["intercom", "531ee472cce572a6ec000006"] == "35"  # company_id
    assert got["freshdesk", "8"] == "34"  # a custom field the user named
    assert got["hubspot", "9001"] == "35"
    contacts = pq.read_table(p.root / "crosswalk" / "contacts.parquet").to_pylist()
    sf = [r for r in contacts if r["source"] == "salesforce_contacts"]
    # 15-character AccountIds against 18-character Account ids: own-account links hold
    assert sorted(r["account_id"] for r in sf) == ["34", "35"]
    assert {r["account_via"] for r in sf if r["account_id"] == "35"} == {"own_account"}


def test_init_from_the_exports_writes_a_config_check_accepts(tmp_path):
    data = tmp_path / "exports"
    data.mkdir()
    for name, text in TOOL_FILES.items():
        (data / name).write_text(text)
    files = [data / n for n in TOOL_FILES]
    args = ["init", str(tmp_path / "p")] + [x for f in files for x in ("--from", str(f))]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    text = (tmp_path / "p" / "linker.toml").read_text()
    for system in ("salesforce.account", "salesforce.contact", "zendesk.organization",
                   "zendesk.user", "stripe.customer", "intercom.company", "freshdesk.company",
                   "hubspot.company"):  # fmt: skip
        assert f'system = "{system}"' in text, system
    assert 'accounts_sor = "product"' in text  # the export no tool's preset fits
    r = CliRunner().invoke(app, ["check", "-p", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output


def test_the_docs_connecting_your_tools_example_is_a_valid_config(tmp_path):
    import re
    import tomllib

    from linker.config import parse_config

    from .conftest import REPO

    page = (REPO / "docs" / "connecting.md").read_text()
    section = page[page.index("# Connecting your tools") :]
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    cfg = parse_config(tomllib.loads(toml), tmp_path / "linker.toml")
    assert cfg.sources["crm_contacts"].account.source == "crm"
    assert cfg.sources["support"].refs == {"product": "external_id"}
    assert cfg.sources["crm"].id_format == "salesforce"


def test_init_from_quotes_what_it_writes(tmp_path):
    odd = tmp_path / 'my "odd" export.csv'  # a quote and spaces in a file name
    odd.write_text("id,Company name,e-mail\n1,Acme,ap@acme.de\n")
    r = CliRunner().invoke(app, ["init", str(tmp_path / "p"), "--from", str(odd)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["check", "-p", str(tmp_path / "p"), "--json"])
    assert r.exit_code == 0, r.output
    (name,) = json.loads(r.stdout)["mapping"]
    assert name == "my__odd__export"


MORE_EXPORTS = {
    "chargebee.customer": ("chargebee.json", json.dumps({"list": [{"customer": {
        "id": "16CQtCTrgrYwi9n2E", "company": "Acme GmbH", "email": "billing@acme.de",
        "cf_product_account_id": "34", "billing_address": {"country": "DE", "city": "Berlin"}}}],
        "next_offset": None}), 'refs = { product = "customer.cf_product_account_id" }'),
    "recurly.account": ("recurly.json", json.dumps({"object": "list", "has_more": False, "data": [
        {"id": "o1ha8hq5vyeg", "code": "34", "company": "Acme GmbH", "email": "ap@acme.de",
         "address": {"country": "DE", "city": "Berlin", "street1": "Hauptstr. 1"}}]}), ""),
    "xero.contact": ("xero.json", json.dumps({"Contacts": [
        {"ContactID": "bd2270c3-8706-4c11-9cfb-000b551c3f51", "AccountNumber": "34",
         "Name": "Acme GmbH", "EmailAddress": "ap@acme.de"}]}), ""),
    "zuora.account": ("zuora.csv",
        "Account.Id,Account.Name,Account.AccountNumber,BillToContact.WorkEmail,"
        "BillToContact.Country\n2c92c0f8,Acme GmbH,34,ap@acme.de,Germany\n",
        'refs = { product = "Account.AccountNumber" }'),
}  # fmt: skip


@pytest.mark.parametrize("system", sorted(MORE_EXPORTS))
def test_more_billing_tools_link_by_their_own_layout(tmp_path, system):
    name, content, extra = MORE_EXPORTS[system]
    toml = (
        '[project]\nname = "t"\naccounts_sor = "product"\n'
        '[sources.product]\nentity = "accounts"\npath = "product.csv"\nid = "id"\n'
        '[sources.product.fields]\nname = "name"\n'
        f'[sources.tool]\nsystem = "{system}"\npath = "{name}"\n{extra}\n'
    )
    files = {"product.csv": "id,name\n34,Acme\n35,Globex\n", name: content}
    p = Project(write_project(tmp_path / "p", toml, files))
    res = p.run()
    assert res.report["sources"]["tool"]["by_method"] == {"ref": 1}, system
    cols, key = export_columns(p.root / name)
    assert recognise(cols, key) == system  # `linker init --from` would name it so


def test_contacts_of_freshdesk_hubspot_and_intercom_link_to_their_company(tmp_path):
    toml = """\
[project]
name = "t"
accounts_sor = "product"
[sources.product]
entity = "accounts"
path = "product.csv"
id = "id"
[sources.product.fields]
name = "name"
[sources.freshdesk]
system = "freshdesk.company"
path = "fd_companies.json"
refs = { product = "custom_fields.account_id" }
[sources.freshdesk_contacts]
system = "freshdesk.contact"
path = "fd_contacts.json"
[sources.hubspot]
system = "hubspot.company"
path = "hs_companies.csv"
refs = { product = "Product Account ID" }
[sources.hubspot_contacts]
system = "hubspot.contact"
path = "hs_contacts.csv"
[sources.intercom_users]
system = "intercom.user"
path = "ic_contacts.json"
"""
    files = {
        "product.csv": "id,name\n34,Acme\n35,Globex\n",
        "fd_companies.json": json.dumps(FRESHDESK),
        "fd_contacts.json": json.dumps(
            [
                {
                    "id": 432,
                    "name": "Ana Lopez",
                    "email": "ana@acme.de",
                    "phone": None,
                    "company_id": 8,
                }
            ]
        ),  # fmt: skip
        "hs_companies.csv": HUBSPOT_CSV,
        "hs_contacts.csv": "Record ID,First Name,Last Name,Email,Phone Number,"
        "Associated Company ID\n51,Bob,Smith,bob@globex.co.uk,,9001\n",
        "ic_contacts.json": json.dumps(
            {
                "type": "list",
                "data": [
                    {
                        "type": "contact",
                        "id": "5ba682d23d7cf92bef87bfd4",
                        "email": "cy@globex.co.uk",
                        "name": "Cy",
                        "phone": None,
                    }
                ],
            }
        ),  # fmt: skip
    }
    p = Project(write_project(tmp_path / "p", toml, files))
    res = p.run(do_publish=True)
    src = res.report["sources"]
    assert src["freshdesk_contacts"]["account_via"] == {"own_account": 1}
    assert src["hubspot_contacts"]["account_via"] == {"own_account": 1}
    rows = pq.read_table(p.root / "crosswalk" / "contacts.parquet").to_pylist()
    got = {r["source"]: r["account_id"] for r in rows}
    assert got["freshdesk_contacts"] == "34" and got["hubspot_contacts"] == "35"
    assert p.config.sources["intercom_users"].records == "data"


def test_the_preset_merges_mark_is_not_a_users_key(tmp_path):
    import tomllib

    from linker.config import parse_config

    toml = (
        '[project]\nname = "x"\naccounts_sor = "p"\n[sources.p]\nentity = "accounts"\n'
        'path = "p.csv"\nid = "id"\n_optional = ["fields.name"]\n'
    )
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config(tomllib.loads(toml), tmp_path / "linker.toml")
