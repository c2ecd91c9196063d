"""The comparison plan (which fields are compared and blocked on, from config and data), the
input tables Splink scores (`score_open`, `score_known`), and the Splink linker over them."""

from __future__ import annotations

import math

import duckdb

from linker import splink_api
from linker.comparisons import (
    BLOCK_TOKEN_MAX,
    DEFAULT_KINDS,
    LOCATION,
    LOCATION_PARTS,
    MEMBERS,
    blocking_rules,
    input_columns,
    name_columns,
)
from linker.config import Comparison, Config
from linker.db import columns, ident, literal, rows, scalar
from linker.errors import ConfigError
from linker.scoring.model import NotEnoughData

# A token in more account names than this share (and than COMMON_TOKEN_MIN) is generic.
COMMON_TOKEN_SHARE = 0.002
COMMON_TOKEN_MIN = 20  # ...and in at least this many: small projects keep their rare words
# Fields that identify a company unless several accounts hold one value (_org_keys).
ORG_KEYS = ("vat", "registration_number", "phone")


# --- the plan: which comparisons and blocking rules, from config + data ---------------------


def plan(con: duckdb.DuckDBPyConnection, config: Config) -> tuple[list[Comparison], list[dict]]:
    """Comparisons and blocking rules for this project: configured ones over the defaults."""
    sc = config.scoring
    custom = _custom_fields(config)
    present = _fields_present(con, config, custom)
    comps: dict[str, Comparison] = {}
    configured = {c.field for c in sc.comparisons}
    if sc.defaults:
        located = [f for f in LOCATION_PARTS if f in present and f not in configured]
        for f, (kind, tf) in DEFAULT_KINDS.items():
            if f in present and f not in located:
                comps[f] = Comparison(f, kind, tf)
            elif located and f == located[0]:  # in the place of its first part
                comps[LOCATION] = Comparison(LOCATION, LOCATION)
        if MEMBERS in present:
            comps[MEMBERS] = Comparison(MEMBERS, "exact")
    for c in sc.comparisons:  # fields were checked against the sources by the config
        comps[c.field] = c
    if not comps:
        raise NotEnoughData(
            "nothing to compare: no field is present in two or more account sources",
            key="scoring.comparisons",
            hint="map a field (name, domain, ...) in two sources, or set [scoring] enabled = false",
        )
    return list(comps.values()), blocking_rules(comps, sc.blocking)


def _custom_fields(config: Config) -> list[str]:
    out: list[str] = []
    for s in config.sources_of("accounts"):
        out += [f for f in s.fields if f not in DEFAULT_KINDS and f not in out]
    from linker.config import ACCOUNT_FIELDS

    return [f for f in out if f not in ACCOUNT_FIELDS]


def _fields_present(con, config: Config, custom: list[str]) -> set[str]:
    """Fields with values in two or more account sources (compared by default)."""
    fields = [f for f in [*DEFAULT_KINDS, *custom] if f in _record_columns(con)]
    present: set[str] = set()
    if fields:
        # per source (one row each), how many of its account records hold each field: one pass
        # of plain counts, where a count(DISTINCT source) per field took 0.45 s at 1M
        per_source = rows(
            con,
            "SELECT "
            + ", ".join(f"count({ident(f)})" for f in fields)
            + " FROM records WHERE entity = 'accounts' GROUP BY source",
        )
        present = {f for i, f in enumerate(fields) if sum(1 for n in per_source if n[i]) >= 2}
    if _members_possible(config):
        present.add(MEMBERS)
    return present


def _record_columns(con) -> set[str]:
    return {r[0] for r in rows(con, "DESCRIBE records")}


def _members_possible(config: Config) -> bool:
    return config.contacts_sor is not None and any(
        s.account is not None and s.name != config.contacts_sor
        for s in config.sources_of("contacts")
    )


# --- the input tables: open and known records, with comparison columns --------------------


def prepare(con: duckdb.DuckDBPyConnection, config: Config, comps: list[Comparison]) -> dict:
    """`score_open` and `score_known` (Splink's two inputs) from the first resolve: views over
    `score_input`; dropped with drop_inputs.

    In no order: neither a pair's score nor training depends on where a record's row is
    (Splink samples u's pairs by a hash of the records' ids, and the label pairs are chosen
    by a hash of theirs). Sorted copies for training cost 4 s at 1M account records."""
    drop_inputs(con)  # (a training that stopped for too little data leaves its own)
    sor = literal(config.accounts_sor)
    cols = ["r.rid AS unique_id", "r.source", "ar.account_id"]
    have = _record_columns(con)
    for c in comps:
        f = c.field
        if f == MEMBERS:
            cols.append("m.accounts AS members")
            cols.append("coalesce(m.accounts, [ar.account_id]) AS members_block")
            continue
        if f == LOCATION:  # shown as one text; compared on its parts (input_columns)
            cols.append("nullif(concat_ws(', ', r.address, r.postcode, r.city), '') AS location")
            cols += [x for x in input_columns(c) if x not in cols]
            continue
        if f not in have:
            raise ConfigError(
                f"the model compares {f!r}, which no source maps any more",
                key="scoring.comparisons",
                hint="retrain with `linker train`",
            )
        if f == "domain":
            # A company's domains: its own (website, email) and its contacts' company email
            # domains (a support org's users at acme.de say it is acme.de's) — less the ones
            # the domain rule found shared by several accounts (a group's, an organization's
            # sites', a reseller's): they cannot tell accounts apart, here either.
            value = "sd.domains"
        elif f in ORG_KEYS:
            # an organization's number (one VAT number on its sites' records) tells its
            # accounts apart no better than a group's website: no evidence, like the domains
            _org_keys(con, f)
            org = f"r.{ident(f)} IN (SELECT v FROM _org_{f})"
            value = f"CASE WHEN {org} THEN NULL ELSE r.{ident(f)} END"
            if c.kind == "phone":
                cols.append(f"{value} AS {ident(f)}")
                cols.append(f"CASE WHEN {org} THEN NULL ELSE r.phone_tail END AS phone_tail")
                continue
        elif f in DEFAULT_KINDS or c.kind == "date":
            value = f"r.{ident(f)}"
        else:  # custom text: the same text key as names and cities
            value = f"norm_text(CAST(r.{ident(f)} AS VARCHAR))"
        cols.append(f"{value} AS {ident(f)}")
        if c.kind == "name":
            cols += [
                f"t_{f}.tokens AS {ident(f + '__tokens')}",
                f"t_{f}.block AS {ident(f + '__block')}",
                *name_columns(f, value),
            ]
        cols += [x for x in input_columns(c) if x not in cols]
    joins = []
    if any(c.kind in ("address", LOCATION) for c in comps):
        _address_blocks(con)
        joins.append("LEFT JOIN _address_blocks ab ON ab.rid = r.rid")
    if any(c.field == "domain" for c in comps):
        _score_domains(con)
        joins.append("LEFT JOIN _score_domains sd ON sd.rid = r.rid")
    for c in comps:
        if c.kind == "name":
            _name_tokens(con, c.field)
            joins.append(f"LEFT JOIN _tokens_{c.field} t_{c.field} ON t_{c.field}.rid = r.rid")
    if any(c.field == MEMBERS for c in comps):
        _members(con, config)
        joins.append("LEFT JOIN _members m ON m.rid = r.rid")
    # Not ordered (sorting these wide rows of token, domain and address key lists ran out of
    # the 2GB memory budget at 2M account records; nothing needs them in order: see above).
    con.execute(
        f"""
        CREATE OR REPLACE TABLE score_input AS
        SELECT CASE WHEN ar.account_id IS NULL THEN 'open' ELSE 'known' END AS source_dataset,
               {", ".join(cols)}
        FROM records r JOIN account_result ar USING (rid) {" ".join(joins)}

        WHERE r.entity = 'accounts'
          AND (ar.account_id IS NOT NULL
               OR (ar.reason IN ('no_match', 'no_account')
                   -- a component naming a SOR id the SOR lacks stays no_account
                   AND ar.comp NOT IN (SELECT a.comp FROM raw_refs x JOIN account_result a USING (rid)
                                       ANTI JOIN records t ON t.source = x.target AND t.id = x.value
                                       WHERE x.target = {sor})))
        """
    )
    _check_blocking_sql(con, config)
    for side in ("open", "known"):
        con.execute(
            f"CREATE OR REPLACE VIEW score_{side} AS "
            f"SELECT * FROM score_input WHERE source_dataset = '{side}'"
        )
    n_open, n_known = (scalar(con, f"SELECT count(*) FROM score_{s}") for s in ("open", "known"))
    # Pairs Splink could score at all (open x known of other sources): the prior's denominator.
    possible = scalar(
        con,
        "SELECT coalesce(sum(o.n * (k.total - coalesce(k2.n, 0))), 0) FROM "
        "(SELECT source, count(*) n FROM score_open GROUP BY source) o "
        "CROSS JOIN (SELECT count(*) total FROM score_known) k "
        "LEFT JOIN (SELECT source, count(*) n FROM score_known GROUP BY source) k2 USING (source)",
    )
    return {"open": n_open, "known": n_known, "possible_pairs": int(possible)}


def _address_blocks(con: duckdb.DuckDBPyConnection) -> None:
    """`_address_blocks(rid, keys)`: a record's (house number, street word) pairs held by at
    most BLOCK_TOKEN_MAX records — "3801 wabash" blocks, "12 street" (everywhere) does not."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ab AS
        SELECT DISTINCT rid, address_number || ' ' || w AS k FROM (
            SELECT rid, address_number, unnest(string_split(address_street, ' ')) AS w
            FROM records WHERE entity = 'accounts' AND address_number IS NOT NULL
        ) WHERE length(w) >= 3
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _address_blocks AS
        SELECT rid, list_sort(list(k)) AS keys FROM _ab
        WHERE k IN (SELECT k FROM _ab GROUP BY k HAVING count(*) <= {BLOCK_TOKEN_MAX})
        GROUP BY rid
        """
    )
    con.execute("DROP TABLE _ab")


def _score_domains(con: duckdb.DuckDBPyConnection) -> None:
    """`_score_domains(rid, domains)`: each account record's own and contacts' domains, less
    those the domain rule found shared by several accounts (set operations, not per-row lists)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _score_domains AS
        SELECT rid, list_sort(list_distinct(list(d))) AS domains FROM (
            SELECT rid, unnest(domain) AS d FROM records
            WHERE entity = 'accounts' AND domain IS NOT NULL
            UNION ALL
            SELECT rid, unnest(domains) FROM record_contacts WHERE domains IS NOT NULL
        ) x
        WHERE d NOT IN (SELECT key FROM key_report WHERE rule = 'domain')
        GROUP BY rid
        """
    )


def _org_keys(con: duckdb.DuckDBPyConnection, field: str) -> None:
    """`_org_<field>(v)`: the values of an identifying field that the first resolve found on
    the records of two or more accounts — an organization's VAT number on its sites' records,
    a switchboard's phone — so they say nothing about which of its accounts a record is."""
    f = ident(field)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _org_{field} AS SELECT r.{f} AS v FROM records r "
        f"JOIN account_result ar USING (rid) WHERE r.entity = 'accounts' AND r.{f} IS NOT NULL "
        f"AND ar.account_id IS NOT NULL GROUP BY r.{f} HAVING count(DISTINCT ar.account_id) >= 2"
    )


def _check_blocking_sql(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """A `[[scoring.blocking]] sql` that DuckDB cannot bind over two input records is the
    config's error (exit 2, naming the key), not Splink's crash."""
    for i, b in enumerate(config.scoring.blocking):
        if b.sql is None:
            continue
        try:
            con.execute(
                "SELECT count(*) FROM (SELECT * FROM score_input LIMIT 0) l, "
                f"(SELECT * FROM score_input LIMIT 0) r WHERE (\n{b.sql}\n)"
            ).fetchall()
        except duckdb.Error as e:
            cols = ", ".join(c for c in columns(con, "score_input") if c != "source_dataset")
            raise ConfigError(
                f"the blocking condition failed: {str(e).splitlines()[0]}",
                file=str(config.file),
                key=f"scoring.blocking[{i}].sql",
                hint=f"a condition over l.* and r.*, the two records; their columns: {cols}",
            ) from None


def _name_tokens(con, field: str) -> None:
    """Per record: its distinctive words (not generic like "global", "services") and the
    words rare enough to block on."""
    f = ident(field)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _tok AS SELECT DISTINCT rid, unnest(string_split({f}, ' ')) AS tok "
        f"FROM records WHERE entity = 'accounts' AND {f} IS NOT NULL"
    )
    n = scalar(con, "SELECT count(DISTINCT rid) FROM _tok") or 0
    common = max(COMMON_TOKEN_MIN, math.ceil(COMMON_TOKEN_SHARE * n))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _tokens_{field} AS
        WITH df AS (SELECT tok, count(*) AS df FROM _tok WHERE length(tok) >= 2 GROUP BY tok)
        SELECT rid,
               nullif(list_sort(list(tok) FILTER (WHERE df < {common})), []) AS tokens,
               nullif(list_sort(list(tok) FILTER (WHERE df <= {BLOCK_TOKEN_MAX})), []) AS block
        FROM _tok JOIN df USING (tok) GROUP BY rid
        """
    )
    con.execute("DROP TABLE _tok")


def _members(con, config: Config) -> None:
    """Per account record: the accounts whose users its contacts are (by unique email)."""
    links = {
        s.name: s.account.source
        for s in config.sources_of("contacts")
        if s.account is not None and s.name != config.contacts_sor
    }
    csor = config.contacts_sor
    if csor is None or not links:
        # No users, or no other contacts naming an account (a comparison configured by hand):
        # no record has members.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _members AS "
            "SELECT rid, [account_id] AS accounts FROM account_result WHERE false"
        )
        return
    cases = " ".join(f"WHEN {literal(c)} THEN {literal(a)}" for c, a in sorted(links.items()))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _members AS
        WITH users AS (
            SELECT u.email, min(ua.account_id) AS account_id FROM records u
            JOIN records acc ON acc.source = {literal(config.users_account_source)} AND acc.id = u.account_ref
            JOIN account_result ua ON ua.rid = acc.rid
            WHERE u.source = {literal(csor)} AND u.email IS NOT NULL
            GROUP BY u.email HAVING count(*) = 1 AND count(ua.account_id) = 1
        )
        SELECT a.rid, list_sort(list_distinct(list(users.account_id))) AS accounts
        FROM records c
        JOIN records a ON a.source = (CASE c.source {cases} END) AND a.id = c.account_ref
        JOIN users ON users.email = c.email
        WHERE c.entity = 'contacts' AND users.account_id IS NOT NULL
        GROUP BY a.rid
        """
    )


def drop_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """prepare's views and table."""
    for side in ("open", "known"):
        con.execute(f"DROP VIEW IF EXISTS score_{side}")
    con.execute("DROP TABLE IF EXISTS score_input")


# --- Splink on our connection --------------------------------------------------------------

# What scoring reads of Splink's prediction: ids, sources, accounts, levels and weights; not
# the compared values (both sides' of every column: scores._keep_pairs reads the kept pairs'
# values from Splink's inputs), which made the prediction table four times as wide.
PREDICTED = (
    "COLUMNS('^(match_weight|match_probability|gamma_.*|mw_.*"
    "|(unique_id|source_dataset|account_id|source)_[lr])$')"
)


def splink_linker(con: duckdb.DuckDBPyConnection, settings: dict):
    return splink_api.linker_for(con, settings, ("score_open", "score_known"))


quiet_splink = splink_api.quiet
_drop_splink_tables = splink_api.drop_splink_tables
