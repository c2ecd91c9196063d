"""The benchmark data sets (benchmarks/datasets.py): the exact size asked for, one truth row per
record, phone and VAT numbers as valid as the example's, the same bytes from the same
arguments, a cache that never serves a half-written data set — and the traps of data written
independently, each at about its rate, with the truth right for every kind of record."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import tomllib

import duckdb
import phonenumbers
import pytest

from linker.normalize import register
from linker.normalize_keys import phone_e164

from .conftest import REPO, load_datasets

datasets = load_datasets()
ACCOUNT_SOURCES = ("product", "crm", "support", "billing")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return datasets.ensure(3000, seed=3, root=tmp_path_factory.mktemp("datasets"))


def test_size_mix_and_truth(project):
    counts = datasets.records(project)
    assert sum(counts[s] for s in ACCOUNT_SOURCES) == 3000
    assert 0.39 < counts["product"] / 3000 < 0.41
    contacts = counts["product_users"] + counts["crm_contacts"] + counts["support_users"]
    assert 1.0 < contacts / 3000 < 1.4
    # Reads every file back the way a consumer would; truth has one row per record.
    report = datasets.acme.check(project)
    vats = re.search(r"VATs ([\d,]+) valid / ([\d,]+) invalid", report)
    valid, invalid = (int(n.replace(",", "")) for n in vats.groups())
    assert invalid / (valid + invalid) < 0.04  # only the planted typos (~2 %)
    assert (project / "linker.toml").read_text() == datasets.linker_toml(3000)


def test_mapping_is_the_examples_plus_the_address_columns(project):
    example = tomllib.loads(datasets.ACME_TOML.read_text())
    ours = tomllib.loads((project / "linker.toml").read_text())
    added = {
        "product": {"address": "street", "postcode": "postal_code", "city": "city"},
        "crm": {"address": "BillingStreet", "postcode": "BillingPostalCode"},
        "billing": {
            "city": "address.city",
            "address": "address.line1",
            "postcode": "address.postal_code",
        },
    }
    for name, source in example["sources"].items():
        expected = {**source, "fields": {**source["fields"], **added.get(name, {})}}
        assert ours["sources"][name] == expected, name
    assert ours.keys() == example.keys() and ours["sources"].keys() == example["sources"].keys()
    assert {k: v for k, v in ours.items() if k != "sources"} == {
        k: v for k, v in example.items() if k != "sources"
    }


def test_conflict_gate_grows_with_the_data():
    assert "\nmax_conflicts = 72  # the example's 50, grown" in datasets.linker_toml(10_000)
    assert "\nmax_conflicts = 7224  # " in datasets.linker_toml(1_000_000)


def test_same_arguments_same_bytes(project, tmp_path):
    again = datasets.ensure(3000, seed=3, root=tmp_path)
    files = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        assert (project / f).read_bytes() == (again / f).read_bytes(), f


def test_cached_unless_forced_and_never_half_written(tmp_path, monkeypatch):
    first = datasets.ensure(1000, root=tmp_path)
    (first / "model.json").write_text("{}")  # what a linker run leaves behind
    # A killed generation's staging directory is neither served nor in the way.
    dead = tmp_path / f".tmp-acme-1000-seed2-{datasets.VERSION}-999999999"
    (dead / "data").mkdir(parents=True)

    def no_generation(*args):
        raise AssertionError("generated again")

    monkeypatch.setattr(datasets, "generate", no_generation)
    assert datasets.ensure(1000, root=tmp_path) == first
    assert (first / "model.json").exists()
    monkeypatch.undo()
    second = datasets.ensure(1000, seed=2, root=tmp_path)
    assert second.name == f"acme-1000-seed2-{datasets.VERSION}"
    assert not dead.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])
    assert datasets.main(["--accounts", "1000", "--out", str(tmp_path), "--force"]) == 0
    assert not (first / "model.json").exists()


def test_phone_numbers_are_valid_and_written_as_phonenumbers_writes_them():
    rng, phones = random.Random(1), datasets.Phones()
    fmt = phonenumbers.PhoneNumberFormat
    for cc, cities in datasets.acme.CITIES.items():
        for city in [*cities, None]:
            for mobile in (False, True):
                for _ in range(20):
                    code, nsn = phones.number(rng, cc, city, mobile)
                    number = phonenumbers.parse(f"+{code}{nsn}")
                    assert phonenumbers.is_valid_number(number), (cc, nsn)
                    assert phones._formats(code, nsn) == (
                        phonenumbers.format_number(number, fmt.INTERNATIONAL),
                        phonenumbers.format_number(number, fmt.NATIONAL),
                    )


def test_vat_numbers_are_valid_in_every_spelling():
    rng, world = random.Random(1), datasets.World(1, 1000)
    for cc in datasets.acme.VAT_MODULES:
        for _ in range(300):
            vat = world.new_vat(rng, cc)
            assert datasets.acme.vat_is_valid(cc, vat), vat
            spelled = datasets.messy_vat(rng, cc, vat)
            assert datasets.acme.vat_is_valid(cc, spelled), (vat, spelled)


def test_runs_from_any_directory(tmp_path):
    # Imports the example's generator by path, so the working directory does not matter.
    r = subprocess.run(
        [sys.executable, REPO / "benchmarks" / "datasets.py", "--accounts", "1000", "--out", "."],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "1,000 account records" in r.stdout


# --------------------------------------------------------------------------- the traps

TRAPS_ACCOUNTS = 20_000  # 8,000 SOR accounts: enough records for each trap's rate, ~1 s


def load(project) -> duckdb.DuckDBPyConnection:
    """The data set's account records as plain tables, with linker's own name key (name_key),
    country codes (country_alias) and host cleaning (norm_host)."""
    con = duckdb.connect()
    register(con)
    data = project / "data"

    def csv(path):
        return f"read_csv('{path}', all_varchar=true)"

    con.execute(
        f"CREATE TABLE truth AS SELECT source, source_record_id AS id, "
        f"coalesce(account_id, '') AS account, coalesce(user_id, '') AS user_id "
        f"FROM {csv(project / 'truth.csv')}"
    )
    con.execute(
        f"CREATE TABLE kinds AS SELECT source, source_record_id AS id, record, company "
        f"FROM {csv(project / 'kinds.csv')}"
    )
    con.execute(
        f"CREATE TABLE sor AS SELECT p.*, name_key(company_name) AS name_k, k.company AS trait "
        f"FROM {csv(data / 'product_accounts.csv')} p "
        f"JOIN kinds k ON k.source = 'product' AND k.id = p.id WHERE status <> 'deleted'"
    )
    con.execute(
        f"CREATE TABLE crm AS SELECT c.*, name_key(c.Name) AS name_k, a.code AS cc, "
        f"t.account, k.record, k.company FROM {csv(data / 'crm_accounts.csv')} c "
        "LEFT JOIN country_alias a ON a.alias = norm_text(c.BillingCountry) "
        "JOIN truth t ON t.source = 'crm' AND t.id = c.Id "
        "JOIN kinds k ON k.source = 'crm' AND k.id = c.Id"
    )
    con.execute(
        f"CREATE TABLE support AS SELECT s.*, t.account, k.record, k.company "
        f"FROM read_json('{data / 'support_organizations.jsonl'}') s "
        "JOIN truth t ON t.source = 'support' AND t.id = s.id::VARCHAR "
        "JOIN kinds k ON k.source = 'support' AND k.id = s.id::VARCHAR"
    )
    con.execute(
        f"CREATE TABLE billing AS SELECT b.*, t.account, k.record, k.company "
        f"FROM read_json('{data / 'billing_customers.json'}') b "
        "JOIN truth t ON t.source = 'billing' AND t.id = b.id "
        "JOIN kinds k ON k.source = 'billing' AND k.id = b.id"
    )
    con.execute(
        f"CREATE TABLE users AS SELECT * FROM read_parquet('{data / 'product_users.parquet'}')"
    )
    con.execute(
        f"CREATE TABLE deleted AS SELECT id FROM {csv(data / 'product_accounts.csv')} "
        "WHERE status = 'deleted'"
    )
    con.execute(
        "CREATE TABLE sor_names AS SELECT name_k, country, count(*) AS n FROM sor GROUP BY ALL"
    )
    return con


@pytest.fixture(scope="module")
def traps(tmp_path_factory):
    project = datasets.ensure(TRAPS_ACCOUNTS, seed=5, root=tmp_path_factory.mktemp("traps"))
    return project, load(project)


def one(con, sql: str):
    return con.execute(sql).fetchone()


def test_kinds_and_truth_agree_with_every_record(traps):
    project, con = traps
    datasets.acme.check(project)  # one truth row per record of every file
    n_accounts, n_kinds = one(
        con,
        "SELECT (SELECT count(*) FROM truth WHERE source IN ('product', 'crm', 'support', "
        "'billing')), (SELECT count(*) FROM kinds)",
    )
    assert n_accounts == n_kinds
    # Non-customers have no account; a customer's record has its company's account.
    for table in ("crm", "support", "billing"):
        wrong = one(
            con,
            f"SELECT count(*) FROM {table} WHERE record IN ('prospect', 'lookalike', 'other', "
            "'reseller', 'person') AND account <> ''",
        )[0]
        assert wrong == 0, table
    # Stored references name the true account (billing, support: always; CRM: but for the
    # planted wrong references), also for the sites of multi-site organizations; the records
    # of deleted accounts have none.
    assert one(
        con,
        "SELECT count(*) FROM billing WHERE metadata.account_id IS NOT NULL "
        "AND metadata.account_id <> account AND metadata.account_id NOT IN (SELECT id FROM deleted)",
    ) == (0,)
    assert one(
        con,
        "SELECT count(*) FROM support WHERE external_id IS NOT NULL AND "
        "CAST(CAST(external_id AS DOUBLE) AS BIGINT)::VARCHAR NOT IN (SELECT id FROM deleted "
        "UNION ALL SELECT account)",
    ) == (0,)
    wrong_refs, refs = one(
        con,
        "SELECT count(CASE WHEN record = 'wrong_ref' THEN 1 END), count(*) FROM crm "
        "WHERE trim(Product_Account_Id__c) <> '' AND account <> '' AND "
        "CAST(CAST(trim(Product_Account_Id__c) AS DOUBLE) AS BIGINT)::VARCHAR <> account",
    )
    assert wrong_refs == refs and refs > 10
    # Every record of a site belongs to a site's account (its own: the references above).
    assert one(
        con,
        "SELECT count(*) FROM crm c WHERE company = 'site' AND account <> '' AND "
        "account NOT IN (SELECT id FROM sor WHERE trait = 'site')",
    ) == (0,)


def test_common_names_collide_like_a_company_register(traps):
    _, con = traps
    n, shared = one(
        con,
        "SELECT count(*), count(CASE WHEN n > 1 THEN 1 END) FROM sor JOIN sor_names "
        "USING (name_k, country)",
    )
    # ~2 % at 8,000 SOR accounts; it grows with the data (~4 % at 100k, ~8 % at 400k).
    assert 0.01 < shared / n < 0.04, shared / n
    # Unrelated companies, not sites: named from common words, each with its own website.
    common, same_site = one(
        con,
        "SELECT count(DISTINCT a.id), count(CASE WHEN norm_host(a.website) = "
        "norm_host(b.website) THEN 1 END) FROM sor a JOIN sor b ON a.name_k = b.name_k AND "
        "a.country = b.country AND a.id <> b.id WHERE a.trait = 'common' AND b.trait = 'common'",
    )
    assert common > 15 and same_site == 0
    names = one(con, "SELECT count(*) FROM sor WHERE trait = 'common'")[0]
    assert 0.25 < names / n < 0.35  # a realistic share named from common words ("Apex ...")


def test_prospects_named_like_a_customer(traps):
    _, con = traps
    prospects, like_one = one(
        con,
        "SELECT count(*), count(CASE WHEN s.n = 1 THEN 1 END) FROM crm c LEFT JOIN sor_names s "
        "ON s.name_k = c.name_k AND s.country = c.cc WHERE c.record = 'prospect'",
    )
    # Their name is exactly one customer's in their country (name_country would link them).
    assert 0.04 < like_one / prospects < 0.12, like_one / prospects
    # ...yet they are other companies: no account, another website and city.
    same = one(
        con,
        "SELECT count(*) FROM crm c JOIN sor s ON s.name_k = c.name_k AND s.country = c.cc "
        "WHERE c.record = 'prospect' AND c.company = 'namesake' AND (c.account <> '' OR "
        "norm_host(c.Website) = norm_host(s.website) OR c.BillingCity = s.city)",
    )
    assert same == (0,)


def test_sites_of_an_organization_share_its_website_and_directors_email(traps):
    _, con = traps
    n, sites, with_website = one(
        con,
        "SELECT count(*), count(CASE WHEN trait = 'site' THEN 1 END), "
        "count(CASE WHEN trait = 'site' AND website <> '' THEN 1 END) FROM sor",
    )
    assert 0.04 < sites / n < 0.06 and with_website == 0
    # Records of different site accounts in the other systems share one website domain...
    con.execute(
        "CREATE TEMP TABLE site_domains AS "
        "SELECT norm_host(Website) AS host, account FROM crm WHERE company = 'site' AND "
        "Website <> '' UNION ALL SELECT norm_host(unnest(domain_names)), account FROM support "
        "WHERE company = 'site'"
    )
    orgs = one(
        con,
        "SELECT count(*) FROM (SELECT host FROM site_domains WHERE account <> '' "
        "GROUP BY host HAVING count(DISTINCT account) > 1)",
    )[0]
    assert orgs > 20, orgs
    # ...and billing records of different sites one director's (or accounts mailbox) email,
    # sometimes a product user's of one site only.
    shared_emails, of_a_user = one(
        con,
        "SELECT count(*), count(u.email) FROM (SELECT email FROM billing WHERE company = 'site' "
        "AND account <> '' GROUP BY email HAVING count(DISTINCT account) > 1) e "
        "LEFT JOIN (SELECT DISTINCT email FROM users) u USING (email)",
    )
    assert shared_emails > 5 and 0 < of_a_user < shared_emails
    # Site names: the organization's plus a qualifier, or the same name in several cities.
    same_name = one(
        con,
        "SELECT count(*) FROM sor JOIN sor_names USING (name_k, country) "
        "WHERE trait = 'site' AND n > 1",
    )[0]
    assert 0.2 < same_name / sites < 0.6


def test_phones_in_local_formats(traps):
    _, con = traps
    rows = con.execute("SELECT Phone, cc FROM crm WHERE Phone <> '' AND cc IS NOT NULL").fetchall()
    invalid = [raw for raw, cc in rows if phone_e164(raw, cc) is None]
    # Local numbers without an area code cannot be placed (~5 % of company phones).
    assert 0.04 < len(invalid) / len(rows) < 0.12, len(invalid) / len(rows)
    assert any(re.fullmatch(r"\d{3}-\d{4}", raw) for raw in invalid)  # US '246-1501'
    phones = [raw for raw, _ in rows]
    assert any(re.fullmatch(r"\d{3}/\d{3}-\d{4}", p) for p in phones)  # '310/246-1501'
    assert any(re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", p) for p in phones)  # '(310) 246-1501'


def test_addresses_with_their_noise(traps):
    _, con = traps
    sor, crm, billing = one(
        con,
        "SELECT (SELECT avg((street IS NOT NULL)::INT) FROM sor), "
        "(SELECT avg((BillingStreet IS NOT NULL)::INT) FROM crm), "
        "(SELECT avg((address.line1 IS NOT NULL)::INT) FROM billing)",
    )
    assert 0.35 < sor < 0.45 and 0.6 < crm < 0.75 and 0.55 < billing < 0.7
    streets = [
        r[0]
        for r in con.execute("SELECT BillingStreet FROM crm WHERE BillingStreet <> ''").fetchall()
    ]
    assert any(re.search(r"\d+ \w+ St\.?$", s) for s in streets)  # 'Street' abbreviated
    assert any(re.search(r"str\.? \d+", s) for s in streets)  # 'straße' abbreviated
    no_number = sum(not re.search(r"\d", s) for s in streets) / len(streets)
    assert 0.02 < no_number < 0.10
    # Neighbours: different accounts on one street of one city, at other house numbers.
    neighbours = one(
        con,
        "SELECT count(*) FROM (SELECT regexp_replace(street, '[0-9]+', '') AS s, city, "
        "count(DISTINCT street) AS numbers, count(*) AS n FROM sor WHERE street <> '' "
        "GROUP BY ALL HAVING n > 1 AND numbers > 1)",
    )[0]
    assert neighbours > 50
    postcodes = one(con, "SELECT avg((BillingPostalCode IS NOT NULL)::INT) FROM crm")[0]
    assert 0.55 < postcodes < 0.7


def test_an_account_source_without_a_country(traps):
    project, con = traps
    config = tomllib.loads((project / "linker.toml").read_text())
    accounts = {n: s for n, s in config["sources"].items() if s["entity"] == "accounts"}
    no_country = [n for n, s in accounts.items() if "country" not in s["fields"]]
    assert no_country == ["support"]
    columns = {c[0] for c in con.execute("DESCRIBE support").fetchall()}
    assert not {"country", "address"} & columns


def test_the_examples_traps_are_kept(traps):
    _, con = traps
    # Groups: one website domain held by accounts in several countries.
    groups = one(
        con,
        "SELECT count(*) FROM (SELECT norm_host(website) FROM sor WHERE website <> '' "
        "GROUP BY 1 HAVING count(DISTINCT country) > 1)",
    )[0]
    assert groups > 30
    # A reseller's mailbox pays for more customers than max_key_records (25).
    hub = one(con, "SELECT max(n) FROM (SELECT count(*) AS n FROM billing GROUP BY email)")[0]
    assert hub > 25
    # Wrong references (~0.5 % of CRM records) and billing records named after a person.
    wrong, persons = one(
        con,
        "SELECT (SELECT count(*) FROM crm WHERE record = 'wrong_ref'), "
        "(SELECT count(*) FROM billing b JOIN users u ON u.name = b.name)",
    )
    assert wrong > 10 and persons > 50


@pytest.mark.slow
def test_at_100k_sor_accounts_unrelated_companies_share_their_name(tmp_path):
    con = load(datasets.ensure(250_000, seed=1, root=tmp_path))
    n, shared = one(
        con,
        "SELECT count(*), count(CASE WHEN n > 1 THEN 1 END) FROM sor JOIN sor_names "
        "USING (name_k, country)",
    )
    assert 0.03 < shared / n < 0.06, shared / n
    # Names that three or more unrelated companies of one country hold.
    crowded = one(
        con,
        "SELECT count(*) FROM (SELECT name_k, country FROM sor WHERE trait = 'common' "
        "GROUP BY ALL HAVING count(*) >= 3)",
    )[0]
    assert crowded > 50, crowded
    prospects, like_one = one(
        con,
        "SELECT count(*), count(CASE WHEN s.n = 1 THEN 1 END) FROM crm c LEFT JOIN sor_names s "
        "ON s.name_k = c.name_k AND s.country = c.cc WHERE c.record = 'prospect'",
    )
    assert 0.05 < like_one / prospects < 0.10, like_one / prospects
