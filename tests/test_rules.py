"""Each rule's SQL, in isolation: which pairs it links and which it must not; rule files as data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from linker import Project
from linker.errors import ConfigError
from linker.rules import builtin_rules_dir, load_rule_file

from .conftest import write_project

BASE = """\
[project]
name = "r"
accounts_sor = "product"
contacts_sor = "users"

[sources.product]
entity = "accounts"
path = "product.csv"
id = "id"
[sources.product.fields]
name = "name"
domain = "website"
country = "country"
vat = "vat"
registration_number = "reg"

[sources.users]
entity = "contacts"
path = "users.csv"
id = "id"
account = { source = "product", column = "account_id" }
[sources.users.fields]
email = "email"

[sources.other]
entity = "accounts"
path = "other.csv"
id = "id"
[sources.other.fields]
name = "name"
domain = "website"
country = "country"
vat = "vat"
registration_number = "reg"
email = "email"
[sources.other.refs]
product = "pid"
"""
PRODUCT = "id,name,website,country,vat,reg\n1,Acme GmbH,acme.de,DE,DE136695976,HRB 12345\n2,Globex Ltd,,GB,,\n"
USERS = "id,account_id,email\nu1,2,ceo.globex@gmail.com\n"
OTHER_HEADER = "id,name,website,country,vat,reg,email,pid\n"


def rules_project(
    root: Path, toml: str, other_rows: str, rule_files: dict | None = None
) -> Project:
    files = {"product.csv": PRODUCT, "users.csv": USERS, "other.csv": OTHER_HEADER + other_rows}
    files.update({f"rules/{name}": text for name, text in (rule_files or {}).items()})
    return Project(write_project(root, toml, files))


def run_one(tmp_path: Path, rule: str, other_rows: str) -> dict[str, tuple]:
    """Run with only `rule` enabled; return other-record id -> (account_id, rule)."""
    p = rules_project(tmp_path / rule, BASE + f'\n[rules]\norder = ["{rule}"]\n', other_rows)
    p.run()
    con = duckdb.connect(str(p.state_db), read_only=True)
    try:
        got = con.execute(
            "SELECT id, account_id, rule FROM account_result WHERE source = 'other'"
        ).fetchall()
    finally:
        con.close()
    return {i: (a, r) for i, a, r in got}


@pytest.mark.parametrize(
    ("rule", "rows", "expected"),
    [
        ("ref", "a,,,,,,,1.0\nb,,,,,,,3\n", {"a": ("1", "ref"), "b": (None, None)}),
        # VAT: same valid number however written; the record's country supplies a missing prefix;
        # an invalid number never links.
        (
            "vat",
            "a,,,,de 136.695.976,,,\nb,,,DE,136695976,,,\nc,,,,DE136695977,,,\n",
            {"a": ("1", "vat"), "b": ("1", "vat"), "c": (None, None)},
        ),
        # Registration: same number; a country mismatch (both known) does not link.
        (
            "registration",
            "a,,,DE,,HRB12345,,\nb,,,AT,,HRB 12345,,\n",
            {"a": ("1", "registration"), "b": (None, None)},
        ),
        ("registration", "c,,,,,hrb-12345,,\n", {"c": ("1", "registration")}),
        # A user's email: an account record whose email is a product user's belongs to that
        # user's account, even on free mail; a stranger's free mail links nothing.
        (
            "user_email",
            "a,,,,,,CEO.Globex@gmail.com ,\nb,,,,,,someone@gmail.com,\n",
            {"a": ("2", "user_email"), "b": (None, None)},
        ),
        # Domain (suggestive): website or a non-free email's domain, corroborated (here by the
        # name); the key alone, another country, or free mail never link.
        (
            "domain",
            "a,ACME,https://www.acme.de/x,,,,,\nb,,,,,,ap@acme.de,\nc,,,,,,x@gmail.com,\n"
            "d,Acme,acme.de,FR,,,,\n",
            {"a": ("1", "domain"), "b": (None, None), "c": (None, None), "d": (None, None)},
        ),
        # Name + country (suggestive): legal forms, case and "The" ignored, corroborated (here
        # by the domain); another country is another company; the name alone, or a
        # registration number that disagrees, does not link.
        (
            "name_country",
            "a,The ACME,www.acme.de,Germany,,,,\nb,Acme Ltd,acme.de,UK,,,,\n"
            "c,Globex Limited,,United Kingdom,,,,\ne,Acme AG,acme.de,DE,,HRB 99,,\n",
            {"a": ("1", "name_country"), "b": (None, None), "c": (None, None), "e": (None, None)},
        ),
    ],
)
def test_each_rule_links_what_it_should_and_nothing_else(tmp_path, rule, rows, expected):
    assert run_one(tmp_path, rule, rows) == expected


def test_rule_order_decides_which_rule_is_credited(tmp_path):
    rows = "a,Acme,acme.de,DE,DE136695976,,,1\n"
    assert run_one(tmp_path, "ref", rows)["a"] == ("1", "ref")
    order = '\n[rules]\norder = ["vat", "ref", "domain", "name_country"]\n'
    p = rules_project(tmp_path / "reordered", BASE + order, rows)
    p.run()
    assert p.explain("other", "a")["rule"] == "vat"


def test_project_rule_with_where_clause_and_custom_field(tmp_path):
    duns = (
        'name = "duns"\ndescription = "Same D-U-N-S number in the same country"\n'
        'entity = "accounts"\nequal = ["duns"]\nwhere = "l.country = r.country"\n'
    )
    toml = BASE.replace(
        'registration_number = "reg"\n', 'registration_number = "reg"\nduns = "reg"\n'
    )
    rows = "a,,,DE,,HRB 12345,,\nb,,,FR,,HRB 12345,,\n"
    p = rules_project(
        tmp_path / "custom", toml + '\n[rules]\norder = ["duns"]\n', rows, {"duns.toml": duns}
    )
    p.run()
    assert p.explain("other", "a")["rule"] == "duns"
    assert p.explain("other", "b")["account_id"] is None  # the where clause says no


def test_project_rule_replaces_a_builtin_of_the_same_name(tmp_path):
    # A stricter name_country: also the same domain.
    stricter = 'name = "name_country"\nentity = "accounts"\nequal = ["name", "country", "domain"]\n'
    toml = BASE + '\n[rules]\norder = ["name_country"]\n'
    rows = "a,Acme,acme.de,DE,,,,\nb,Acme,,DE,,,,\n"
    p = rules_project(tmp_path / "override", toml, rows, {"name_country.toml": stricter})
    p.run()
    assert p.explain("other", "a")["account_id"] == "1"
    assert p.explain("other", "b")["account_id"] is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('name = "x"\nentity = "accounts"\nequals = ["vat"]\n', "did you mean 'equal'"),
        ('name = "x"\nentity = "account"\nequal = ["vat"]\n', "expected 'accounts' or 'contacts'"),
        ('name = "x"\nentity = "accounts"\n', "needs at least one field"),
        (
            'name = "x"\nentity = "accounts"\nkind = "ref"\nequal = ["vat"]\n',
            "takes no `equal` fields",
        ),
        ('name = "x"\nentity = "contacts"\nkind = "ref"\n', "not a contacts rule kind"),
        ('name = "x"\nentity = "accounts"\nequal = ["vat"]\nmax_key_records = 1\n', "integer >= 2"),
        ('name = "x"\nentity = "accounts"\nequal = "vat"\n', "list of field names"),
        ("name = \n", "TOML syntax error"),
    ],
)
def test_bad_rule_files_are_config_errors_naming_file_and_key(tmp_path, text, needle):
    f = tmp_path / "x.toml"
    f.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as e:
        load_rule_file(f)
    assert needle in str(e.value) and "x.toml" in str(e.value)


def test_rule_naming_an_unknown_field_is_reported_at_run(tmp_path):
    bad = 'name = "bad"\nentity = "accounts"\nequal = ["vta"]\n'
    p = rules_project(
        tmp_path / "unknown", BASE + '\n[rules]\norder = ["bad"]\n', "", {"bad.toml": bad}
    )
    with pytest.raises(ConfigError) as e:
        p.run()
    assert "bad.toml" in str(e.value) and "did you mean 'vat'" in str(e.value)


def test_builtin_rules_are_all_valid_files():
    names = {load_rule_file(f).name for f in builtin_rules_dir().glob("*.toml")}
    assert names == {
        "ref",
        "vat",
        "registration",
        "user_email",
        "email",
        "domain",
        "name_country",
        "sor_user",
        "own_account",
        "email_domain",
        "user_name_in_account",
    }
