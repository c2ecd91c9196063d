"""Normalization tables: VAT, phones, domains, countries, company name keys, emails, free mail, ids.

Each row is an input a user's source data really contains and the key linker must derive from
it; two spellings of one thing must give one key, and junk must give no key (None), never a
wrong one. VAT test numbers come from python-stdnum's own docstrings (stdnum/<cc>/vat.py,
fr/tva.py, it/iva.py, nl/btw.py, es/nif.py, at/uid.py, ch/vat.py, gr/vat.py).
"""

from __future__ import annotations

import duckdb
import pytest

from linker import normalize_keys
from linker.ingest_sql import id_sql
from linker.normalize import register
from linker.normalize_keys import phone_e164, registrable_domain, vat_canonical


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    register(c)
    yield c
    c.close()


def one(con: duckdb.DuckDBPyConnection, sql: str, *params):
    return con.execute(sql, list(params)).fetchone()[0]


# --- VAT ----------------------------------------------------------------------------------

VALID_VAT = [
    # (raw as written in a source, the record's country code, canonical VAT)
    # Germany
    ("DE136695976", None, "DE136695976"),
    ("DE 136 695 976", None, "DE136695976"),
    ("de136.695.976", None, "DE136695976"),
    ("DE-136-695-976", None, "DE136695976"),
    ("VAT: DE 136 695 976", None, "DE136695976"),
    ("USt-IdNr.: DE136695976", None, "DE136695976"),
    ("UST-ID DE136695976", None, "DE136695976"),
    ("  DE 136 695 976 ", "DE", "DE136695976"),
    ("136695976", "DE", "DE136695976"),
    ("136 695 976", "DE", "DE136695976"),
    ("DE136695976", "FR", "DE136695976"),  # the number's own prefix beats the record's country
    # United Kingdom
    ("GB 980 7806 84", None, "GB980780684"),
    ("gb980-7806-84", None, "GB980780684"),
    ("VAT GB 980 7806 84", None, "GB980780684"),
    ("980780684", "GB", "GB980780684"),
    ("980 7806 84", "GB", "GB980780684"),
    # France (old and new style)
    ("FR 40 303 265 045", None, "FR40303265045"),
    ("Fr40303265045", None, "FR40303265045"),
    ("TVA FR40303265045", None, "FR40303265045"),
    ("23334175221", "FR", "FR23334175221"),
    ("K7399859412", "FR", "FRK7399859412"),
    # Italy
    ("IT 00743110157", None, "IT00743110157"),
    ("IVA: IT00743110157", None, "IT00743110157"),
    ("00743110157", "IT", "IT00743110157"),
    # Netherlands (short form is padded to 9 digits + B + 2)
    ("NL004495445B01", None, "NL004495445B01"),
    ("NL4495445B01", None, "NL004495445B01"),
    ("nl 0044.95.445.b01", None, "NL004495445B01"),
    ("BTW NL004495445B01", None, "NL004495445B01"),
    ("004495445B01", "NL", "NL004495445B01"),
    ("NL002455799B11", None, "NL002455799B11"),
    # Spain
    ("ES B-58378431", None, "ESB58378431"),
    ("esb64717838", None, "ESB64717838"),
    ("NIF: ESB64717838", None, "ESB64717838"),
    ("B64717838", "ES", "ESB64717838"),
    ("54362315K", "ES", "ES54362315K"),
    ("X-5253868-R", "ES", "ESX5253868R"),
    # Austria
    ("AT U13585627", None, "ATU13585627"),
    ("atu 135 856 27", None, "ATU13585627"),
    ("U13585627", "AT", "ATU13585627"),
    # Belgium (9-digit old form gets its leading 0)
    ("BE 428759497", None, "BE0428759497"),
    ("BE0403019261", None, "BE0403019261"),
    ("be 0403.019.261", None, "BE0403019261"),
    ("0428.759.497", "BE", "BE0428759497"),
    # Switzerland: CHE + 9 digits, the language suffix is dropped
    ("CHE-107.787.577 MWST", None, "CHE107787577"),
    ("CHE-107.787.577 IVA", None, "CHE107787577"),
    ("CHE-107.787.577 TVA", None, "CHE107787577"),
    ("CHE-107.787.577", None, "CHE107787577"),
    ("che-116.281.710", None, "CHE116281710"),
    ("MWST CHE-116.281.710", None, "CHE116281710"),
    ("116.281.710", "CH", "CHE116281710"),
    ("E-107.787.577", "CH", "CHE107787577"),
    # Greece: the VAT prefix is EL, the record's country is GR
    ("EL 094259216", None, "EL094259216"),
    ("el094259216", None, "EL094259216"),
    ("094259216", "GR", "EL094259216"),
]


@pytest.mark.parametrize(("raw", "country", "expected"), VALID_VAT)
def test_valid_vat_numbers_get_one_canonical_form(raw, country, expected):
    assert vat_canonical(raw, country) == expected


INVALID_VAT = [
    # wrong check digit
    ("DE136695978", None),
    ("136695978", "DE"),
    ("GB802311781", None),
    ("802311781", "GB"),
    ("FR84323140391", None),
    ("IT00743110158", None),
    ("NL123456789B90", None),
    ("ESB64717839", None),
    ("ATU13585626", None),
    ("BE431150351", None),
    ("CHE-107.787.578 MWST", None),
    ("EL123456781", None),
    # no prefix and no record country: nothing says which country's rules apply
    ("136695976", None),
    ("00743110157", None),
    # no prefix, and the record's country is not the number's country (or has no VAT)
    ("136695976", "AT"),
    ("136695976", "US"),
    # junk
    ("", "DE"),
    (None, "DE"),
    ("n/a", "DE"),
    ("---", None),
    ("DE12", None),
]


@pytest.mark.parametrize(("raw", "country"), INVALID_VAT)
def test_invalid_vat_numbers_are_none(raw, country):
    assert vat_canonical(raw, country) is None


def test_greek_vat_with_gr_prefix_is_canonicalised_to_el():
    assert vat_canonical("GR 094259216", None) == vat_canonical("094259216", "GR")


@pytest.mark.parametrize("raw", ["VAT No. DE 136 695 976", "VAT no: DE136695976"])
def test_vat_number_word_prefix_is_ignored(raw):
    assert vat_canonical(raw, None) == "DE136695976"


@pytest.mark.parametrize("workers", [False, True], ids=["in-process", "worker-processes"])
def test_distinct_values_map_through_python_the_same_in_process_and_in_workers(
    monkeypatch, tmp_path, workers
):
    """The normalize stage's path for the Python-only keys: each distinct row once, nulls
    passed through, each row's own country; in worker processes when there are many (run
    from a directory holding a file named like a standard module, which they do not import)."""
    monkeypatch.setattr(normalize_keys, "PARALLEL_MIN", 0 if workers else 10**9)
    (tmp_path / "pathlib.py").write_text("raise RuntimeError('not the standard pathlib')\n")
    monkeypatch.chdir(tmp_path)
    c = duckdb.connect()
    c.execute(
        "CREATE TABLE v AS FROM (VALUES "
        "('DE 136 695 976', NULL), ('136695976', 'DE'), ('136695976', NULL), "
        "(NULL, 'DE'), ('094259216', 'GR'), ('DE136695978', 'DE'), "
        "('030 1234567', 'DE'), ('030 1234567', 'GB'), ('020 7946 0958', 'GB'), ('n/a', NULL)"
        ") t(raw, cc)"
    )
    normalize_keys._map_distinct(
        c,
        {
            "_vat": ("_vat_canonical", "SELECT raw, cc FROM v ORDER BY ALL"),
            "_phone": ("_phone_e164", "SELECT raw, cc FROM v ORDER BY ALL"),
        },
    )
    vat = dict(((r, cc), o) for r, cc, o in c.execute("SELECT * FROM _vat").fetchall())
    phone = dict(((r, cc), o) for r, cc, o in c.execute("SELECT * FROM _phone").fetchall())
    assert vat[("DE 136 695 976", None)] == vat[("136695976", "DE")] == "DE136695976"
    assert vat[("136695976", None)] is None and vat[(None, "DE")] is None
    assert vat[("094259216", "GR")] == "EL094259216" and vat[("DE136695978", "DE")] is None
    # 030 1234567 is a Berlin number in Germany, not a valid UK number.
    assert phone[("030 1234567", "DE")] == "+49301234567" and phone[("030 1234567", "GB")] is None
    assert phone[("020 7946 0958", "GB")] == "+442079460958" and phone[("n/a", None)] is None
    assert len(vat) == len(phone) == 10


# --- phones -------------------------------------------------------------------------------

VALID_PHONES = [
    # (raw, record country as default region, E.164)
    ("030 1234567", "DE", "+49301234567"),
    ("030/123 45 67", "DE", "+49301234567"),
    ("(030) 123-4567", "DE", "+49301234567"),
    ("0049 30 1234567", "DE", "+49301234567"),
    ("0049301234567", "GB", "+49301234567"),
    ("+49 30 1234567", None, "+49301234567"),
    ("+49 (0)30 1234567", None, "+49301234567"),
    ("+49 30 1234567 ext. 12", "DE", "+49301234567"),
    ("+49 1512 3456789", None, "+4915123456789"),
    ("+44 20 7946 0958", "DE", "+442079460958"),
    ("+44 20 7946 0958", None, "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("01 42 68 53 00", "FR", "+33142685300"),
    ("044 668 18 00", "CH", "+41446681800"),
    ("02 1234 5678", "IT", "+390212345678"),
    ("(650) 253-0000", "US", "+16502530000"),
    ("650.253.0000", "US", "+16502530000"),
    ("+1 650 253 0000", "DE", "+16502530000"),
]


@pytest.mark.parametrize(("raw", "country", "expected"), VALID_PHONES)
def test_phone_numbers_become_e164(raw, country, expected):
    assert phone_e164(raw, country) == expected


INVALID_PHONES = [
    ("123", "DE"),  # too short
    ("030 12", "DE"),  # too short
    ("0000000000", "DE"),  # not an assigned range
    ("030 1234567", None),  # national number, no region to read it in
    ("n/a", "DE"),  # no digits
    ("---", "DE"),
    ("", "DE"),
    (None, "DE"),
]


@pytest.mark.parametrize(("raw", "country"), INVALID_PHONES)
def test_invalid_phone_numbers_are_none(raw, country):
    assert phone_e164(raw, country) is None


# --- domains ------------------------------------------------------------------------------

HOSTS = [
    # (normalized host, registrable domain)
    ("acme.com", "acme.com"),
    ("www.acme.com", "acme.com"),
    ("shop.acme.co.uk", "acme.co.uk"),
    ("acme.com.au", "acme.com.au"),
    ("www.shop.acme.com.au", "acme.com.au"),
    ("acme.com.", "acme.com"),
    ("xn--mller-kva.de", "xn--mller-kva.de"),
    # no registrable domain
    ("localhost", None),
    ("acme", None),
    ("com", None),
    ("co.uk", None),
    ("acme..com", None),
    ("192.168.0.1", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("host", "expected"), HOSTS)
def test_registrable_domain_of_a_host(host, expected):
    assert registrable_domain(host) == expected


URLS = [
    # (raw website / email as written, registrable domain)
    ("https://www.acme.com/path?q=1", "acme.com"),
    ("http://WWW.Acme.COM:8080/x", "acme.com"),
    ("ACME.COM", "acme.com"),
    ("  acme.com  ", "acme.com"),
    ("acme.com.", "acme.com"),
    ("acme.com#frag", "acme.com"),
    ("https://acme.com?x=1", "acme.com"),
    ("http://user:pw@acme.com/", "acme.com"),
    ("www2.acme.de", "acme.de"),
    ("ftp://files.acme.de", "acme.de"),
    ("jane@shop.acme.co.uk", "acme.co.uk"),
    ("Jane.Doe@ACME.com", "acme.com"),
    ("shop.acme.co.uk", "acme.co.uk"),
    ("https://shop.acme.com.au/", "acme.com.au"),
    ("acme.com.au", "acme.com.au"),
    # garbage
    ("not a domain", None),
    ("n/a", None),
    ("???", None),
    ("www.acme", None),
    ("www.com", None),
    ("http://", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "expected"), URLS)
def test_registrable_domain_of_websites_and_emails_in_sql(con, raw, expected):
    assert domain_of(con, raw) == expected


def domain_of(con, raw: str | None) -> str | None:
    """What the normalize stage does to a website or email: norm_host in SQL, then the PSL."""
    return registrable_domain(one(con, "SELECT norm_host(?)", raw))


def test_unicode_domain_equals_its_punycode_spelling(con):
    assert domain_of(con, "https://www.müller.de/") == domain_of(con, "xn--mller-kva.de")
    assert domain_of(con, "https://www.müller.de/") is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [("acme.myshopify.com", "globex.myshopify.com"), ("acme.github.io", "globex.github.io")],
)
def test_sites_on_shared_hosting_suffixes_do_not_share_a_domain(a, b):
    assert registrable_domain(a) != registrable_domain(b)


# --- countries ----------------------------------------------------------------------------

COUNTRIES = [
    ("DE", "DE"),
    ("de", "DE"),
    ("DEU", "DE"),
    ("deu", "DE"),
    ("Germany", "DE"),
    ("GERMANY", "DE"),
    (" germany ", "DE"),
    ("Deutschland", "DE"),
    ("Italy", "IT"),
    ("ITA", "IT"),
    ("Italia", "IT"),
    ("Spain", "ES"),
    ("España", "ES"),
    ("ESPAÑA", "ES"),
    ("Espana", "ES"),
    ("Austria", "AT"),
    ("Österreich", "AT"),
    ("Osterreich", "AT"),
    ("Switzerland", "CH"),
    ("CHE", "CH"),
    ("Schweiz", "CH"),
    ("Suisse", "CH"),
    ("Svizzera", "CH"),
    ("Sweden", "SE"),
    ("Sverige", "SE"),
    ("Netherlands", "NL"),
    ("The Netherlands", "NL"),
    ("Nederland", "NL"),
    ("Holland", "NL"),
    ("Belgium", "BE"),
    ("Belgique", "BE"),
    ("België", "BE"),
    ("France", "FR"),
    ("Frankreich", "FR"),
    ("Polska", "PL"),
    ("Danmark", "DK"),
    ("Czech Republic", "CZ"),
    ("Česko", "CZ"),
    ("GB", "GB"),
    ("GBR", "GB"),
    ("UK", "GB"),
    ("U.K.", "GB"),
    ("United Kingdom", "GB"),
    ("Great Britain", "GB"),
    ("England", "GB"),
    ("US", "US"),
    ("USA", "US"),
    ("U.S.A.", "US"),
    ("United States", "US"),
    ("United States of America", "US"),
    ("México", "MX"),
    ("Mexico", "MX"),
]


@pytest.mark.parametrize(("raw", "code"), COUNTRIES)
def test_country_names_and_codes_map_to_iso_alpha2(con, raw, code):
    rows = con.execute("SELECT code FROM country_alias WHERE alias = norm_text(?)", [raw])
    assert rows.fetchall() == [(code,)]


@pytest.mark.parametrize("raw", ["Atlantis", "Narnia", "Planet Earth", "", "  ", "--"])
def test_unknown_country_has_no_row(con, raw):
    rows = con.execute("SELECT code FROM country_alias WHERE alias = norm_text(?)", [raw])
    assert rows.fetchall() == []


def test_every_country_alias_names_exactly_one_country(con):
    dupes = con.execute(
        "SELECT alias FROM country_alias GROUP BY alias HAVING count(DISTINCT code) > 1"
    ).fetchall()
    assert dupes == []


def test_turkey_english_name_is_known(con):
    assert one(con, "SELECT code FROM country_alias WHERE alias = norm_text(?)", "Turkey") == "TR"


# --- company name key ---------------------------------------------------------------------

NAME_KEYS = [
    # legal forms and "the" around one company
    ("Acme", "acme"),
    ("ACME", "acme"),
    ("The Acme", "acme"),
    ("The Acme Company", "acme"),
    ("  Acme   GmbH  ", "acme"),
    ("Acme GmbH", "acme"),
    ("ACME GMBH", "acme"),
    ("Acme Gmbh.", "acme"),
    ("Acme UG (haftungsbeschränkt)", "acme"),
    ("Acme UG (haftungsbeschraenkt)", "acme"),  # ä as "ae" in an ASCII export
    ("Acme UG (haftungsbeschr.)", "acme"),
    ("Acme UG", "acme"),
    ("Acme GmbH & Co. KG", "acme"),
    ("Acme GmbH & Co KG", "acme"),
    ("Acme AG", "acme"),
    ("Acme KG", "acme"),
    ("Acme Ltd", "acme"),
    ("Acme Ltd.", "acme"),
    ("Acme Limited", "acme"),
    ("ACME LIMITED", "acme"),
    ("Acme PLC", "acme"),
    ("Acme Pty Ltd", "acme"),
    ("Acme Pty. Ltd.", "acme"),
    ("Acme Inc.", "acme"),
    ("Acme, Inc.", "acme"),
    ("Acme LLC", "acme"),
    ("Acme L.L.C.", "acme"),
    ("Acme Corp", "acme"),
    ("Acme Corporation", "acme"),
    ("Acme S.A.", "acme"),
    ("Acme SA", "acme"),
    ("Acme SAS", "acme"),
    ("Acme S.A.S.", "acme"),
    ("Acme SpA", "acme"),
    ("Acme S.p.A.", "acme"),
    ("Acme S.r.l.", "acme"),
    ("Acme SRL", "acme"),
    ("Acme BV", "acme"),
    ("Acme B.V.", "acme"),
    ("Acme N.V.", "acme"),
    ("Acme A/S", "acme"),
    ("Acme AB", "acme"),
    ("Acme Ltd Ltd", "acme"),
    # accents, special letters, punctuation, & vs and
    ("Müller", "muller"),
    ("Müller GmbH", "muller"),
    ("MÜLLER GMBH", "muller"),
    ("Straße GmbH", "strasse"),
    ("Ørsted A/S", "orsted"),
    ("Société Générale S.A.", "societe generale"),
    ("L'Oréal S.A.", "loreal"),
    ("L’Oréal", "loreal"),
    ("Loreal SA", "loreal"),
    ("Acme-Services GmbH", "acme services"),
    ("Procter & Gamble", "procter and gamble"),
    ("Procter&Gamble", "procter and gamble"),
    ("Procter and Gamble Ltd", "procter and gamble"),
    ("Ben & Jerry's", "ben and jerrys"),
    # only "the" at the very start goes; words merely starting with it stay
    ("Theatre GmbH", "theatre"),
    # a name that is only a legal form or only "the" is kept, not emptied
    ("GmbH", "gmbh"),
    ("Ltd", "ltd"),
    ("Limited", "limited"),
    ("The", "the"),
    ("The GmbH", "gmbh"),
    ("GmbH GmbH", "gmbh"),
    # no name at all
    ("", None),
    ("   ", None),
    ("---", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "key"), NAME_KEYS)
def test_company_name_key(con, raw, key):
    assert one(con, "SELECT name_key(?)", raw) == key


def test_company_name_key_strips_what_the_capturing_form_of_its_regex_strips(con):
    # name_key finds the trailing run of legal forms without a capture group (speed); on
    # names made of words, legal forms and "the" in any order it keeps what the plain
    # '^(.+?)(?: (?:forms))+$' -> '\1' keeps.
    import random
    import re

    sql = one(
        con, "SELECT macro_definition FROM duckdb_functions() WHERE function_name = 'name_key'"
    )
    forms = re.search(r"'\(\?: \(\?:(.*)\)\)\+\$'", sql).group(1)
    rng = random.Random(3)
    words = ["acme", "the", "x", "co", "and", "1", *forms.replace("\\", "").split("|")[:60]]
    names = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 5))) for _ in range(4000)]
    con.execute("CREATE OR REPLACE TEMP TABLE _names AS SELECT unnest(?) AS n", [names])
    capturing = (
        "nullif(regexp_replace(regexp_replace(norm_text(n), '^the | the$', '', 'g'), "
        f"'^(.+?)(?: (?:{forms}))+$', '\\1'), '')"
    )
    differ, stripped = con.execute(
        f"SELECT count(*) FILTER (WHERE name_key(n) IS DISTINCT FROM {capturing}), "
        f"count(*) FILTER (WHERE name_key(n) <> norm_text(n)) FROM _names"
    ).fetchone()
    assert differ == 0
    assert stripped > 1000  # the names did end in legal forms


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme Services GmbH", "Acme GmbH"),
        ("Acme Holding AG", "Acme AG"),
        ("Acme Group Ltd", "Acme Ltd"),
        ("Müller GmbH", "Miller GmbH"),
        ("Acme International Inc.", "Acme Inc."),
    ],
)
def test_different_companies_keep_different_keys(con, a, b):
    ka, kb = one(con, "SELECT name_key(?)", a), one(con, "SELECT name_key(?)", b)
    assert ka and kb and ka != kb


def test_gmbh_und_co_kg_is_a_legal_form(con):
    assert one(con, "SELECT name_key(?)", "Acme GmbH und Co. KG") == "acme"


# --- emails and free mail -----------------------------------------------------------------

EMAILS = [
    ("Jane.Doe@ACME.com", "jane.doe@acme.com"),
    ("  jane@acme.com ", "jane@acme.com"),
    ("a+b@acme.de", "a+b@acme.de"),
    ("JANE@ACME.CO.UK", "jane@acme.co.uk"),
    # invalid
    ("jane@acme", None),
    ("janeacme.com", None),
    ("jane doe@acme.com", None),
    ("jane@acme .com", None),
    ("jane@@acme.com", None),
    ("@acme.com", None),
    ("jane@", None),
    ("jane@acme.", None),
    ("jane@acme.com, bob@acme.com", None),
    ("", None),
    ("   ", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "expected"), EMAILS)
def test_norm_email(con, raw, expected):
    assert one(con, "SELECT norm_email(?)", raw) == expected


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", 1),
        ("googlemail.com", 1),
        ("outlook.com", 1),
        ("hotmail.com", 1),
        ("yahoo.com", 1),
        ("yahoo.co.uk", 1),
        ("gmx.de", 1),
        ("web.de", 1),
        ("t-online.de", 1),
        ("acme.com", 0),
        ("acme-services.de", 0),
        ("google.com", 0),
    ],
)
def test_free_mail_domains(con, domain, free):
    assert one(con, "SELECT count(*) FROM free_mail WHERE domain = ?", domain) == free


# --- ids ----------------------------------------------------------------------------------


def id_of(con: duckdb.DuckDBPyConnection, duck_type: str, value):
    """The id text of `value` read from a column of `duck_type`, as ingest computes it."""
    sql = f"SELECT {id_sql('x', duck_type)} FROM (SELECT CAST(? AS {duck_type}) AS x)"
    return one(con, sql, value)


TEXT_IDS = [
    ("  12345.0 ", "12345"),
    ("12345", "12345"),
    ("12345.00", "12345"),
    ("-5.0", "-5"),
    ("12345.5", "12345.5"),  # not an integer: kept as written
    ("ABC", "ABC"),  # case is kept ...
    ("abc", "abc"),  # ... so ABC and abc are two ids
    (" cus_A\t", "cus_A"),
    ("00123", "00123"),  # leading zeros are part of a text id
    ("12 345", "12 345"),
    ("", None),
    ("   ", None),
    ("\t\n", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "expected"), TEXT_IDS)
def test_text_ids(con, raw, expected):
    assert id_of(con, "VARCHAR", raw) == expected


@pytest.mark.parametrize(
    ("duck_type", "raw", "expected"),
    [
        ("DOUBLE", 12345.0, "12345"),
        ("DOUBLE", -3.0, "-3"),
        ("DOUBLE", 0.0, "0"),
        ("DOUBLE", 1234567890123.0, "1234567890123"),
        ("DOUBLE", 12345.5, "12345.5"),
        ("DOUBLE", None, None),
        ("FLOAT", 42.0, "42"),
        ("DECIMAL(10,2)", "12345.00", "12345"),
        ("BIGINT", 12345, "12345"),
        ("BIGINT", -7, "-7"),
        ("BIGINT", 9007199254740993, "9007199254740993"),  # beyond exact double range
        ("BIGINT", None, None),
        ("INTEGER", 42, "42"),
    ],
)
def test_numeric_ids(con, duck_type, raw, expected):
    assert id_of(con, duck_type, raw) == expected


def test_one_id_written_as_text_float_and_integer_is_one_id(con):
    assert (
        id_of(con, "VARCHAR", " 34.0 ")
        == id_of(con, "DOUBLE", 34.0)
        == id_of(con, "BIGINT", 34)
        == "34"
    )


def test_nan_id_in_a_float_column_is_null(con):
    assert id_of(con, "DOUBLE", float("nan")) is None


def test_northern_ireland_xi_vat_is_the_gb_number():
    assert (
        vat_canonical("XI 980 7806 84", None) == vat_canonical("GB980780684", None) == "GB980780684"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mailto:Jane@Acme.com", "jane@acme.com"),
        ("Jane Doe <Jane@Acme.com>", "jane@acme.com"),
        ("<jane@acme.com>", "jane@acme.com"),
        ("\tjane@acme.com\t", "jane@acme.com"),
    ],
)
def test_email_wrappers_people_paste_are_removed(con, raw, expected):
    assert con.execute("SELECT norm_email(?)", [raw]).fetchone()[0] == expected


@pytest.mark.parametrize(("raw", "code"), [("Oesterreich", "AT"), ("Éire", "IE"), ("Turkey", "TR")])
def test_more_country_spellings(con, raw, code):
    got = con.execute("SELECT code FROM country_alias WHERE alias = norm_text(?)", [raw]).fetchall()
    assert got == [(code,)]


def test_shared_hosting_subdomains_are_separate_companies(con):
    got = (domain_of(con, "https://acme.myshopify.com/"), domain_of(con, "globex.myshopify.com"))
    assert got == ("acme.myshopify.com", "globex.myshopify.com")
