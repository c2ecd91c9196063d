"""System presets: a source says which tool's export it is, and linker knows its columns."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from linker import Project
from linker.cli import app
from linker.config import ACCOUNT_FIELDS, CONTACT_FIELDS
from linker.errors import ConfigError
from linker.presets import presets

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
