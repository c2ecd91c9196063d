"""Compiling rules to SQL in DuckDB: the tables `edges`, `suggestions`, `rule_trust` and
`key_report`; a ref rule's and an equal rule's edges; what corroborates or contradicts a
suggestive pair (`CORROBORATE`, `CONTRADICT`); what contacts say of an account record
(`record_contacts`). The rule files and `Rule` are in rules.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb

from linker.config import Config
from linker.config_model import LIST_FIELDS
from linker.db import ident, literal, rows, scalar
from linker.errors import ConfigError
from linker.graph import components, extend_components

if TYPE_CHECKING:
    from linker.rules import Rule

EDGES_DDL = """
CREATE OR REPLACE TABLE edges (
    a BIGINT NOT NULL,          -- the two records, a < b
    b BIGINT NOT NULL,
    method VARCHAR NOT NULL,    -- rule | probabilistic | review
    rule VARCHAR,
    rank INTEGER NOT NULL,      -- the rule's place in [rules] order (lower is stronger)
    probability DOUBLE,
    evidence VARCHAR
)
"""
SUGGESTIONS_DDL = """
CREATE OR REPLACE TABLE suggestions (
    a BIGINT NOT NULL,          -- the two records, a < b
    b BIGINT NOT NULL,
    rule VARCHAR NOT NULL,      -- the suggestive rule whose key they share
    evidence VARCHAR,           -- the shared key
    why VARCHAR                 -- what kept it from being an edge
)
"""
RULE_TRUST_DDL = "CREATE OR REPLACE TABLE rule_trust (rule VARCHAR PRIMARY KEY, trust VARCHAR)"
KEY_REPORT_DDL = """
CREATE OR REPLACE TABLE key_report (
    rule VARCHAR, key VARCHAR, records BIGINT, sor_records BIGINT, reason VARCHAR
)
"""


# --- compiling account rules to edges --------------------------------------------------------


def run_account_rules(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    rules: list[Rule],
    note: Callable[[str], None] = lambda text: None,
) -> dict[str, int]:
    """Create `edges`, `suggestions`, `rule_trust` and `key_report`; return the number of
    edges each rule made."""
    context_tables(con, config)
    return run_rules(con, config, rules, note)


def context_tables(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """What the rules read of the whole data besides the records: `record_contacts`,
    `record_domains`, `sor_domains`, `sor_names`."""
    record_contacts(con, config)
    record_domains(con, config)


def run_rules(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    rules: list[Rule],
    note: Callable[[str], None] = lambda text: None,
) -> dict[str, int]:
    """run_account_rules after context_tables (rule_reach runs it on some records only)."""
    con.execute(EDGES_DDL)
    con.execute(SUGGESTIONS_DDL)
    con.execute(KEY_REPORT_DDL)
    con.execute(RULE_TRUST_DDL)
    for r in rules:
        con.execute("INSERT INTO rule_trust VALUES (?, ?)", [r.name, r.trust])
    made: dict[str, int] = {}
    seen = None  # the rank up to which `_pcomp` holds the edges' components
    for rank, rule in enumerate(rules):
        before = scalar(con, "SELECT count(*) FROM edges")
        note(f"rule {rule.name} ({rank + 1} of {len(rules)}), {before:,} edges so far")
        if rule.kind == "ref":
            _ref_edges(con, rule, rank)
        else:
            # The stronger rules' components, once: each rule's edges (its rank) are added.
            if seen is None:
                components(con, "edges", "_pcomp")
            else:
                extend_components(con, f"SELECT a, b FROM edges WHERE rank >= {seen}", "_pcomp")
            seen = rank
            _anchor_records(con, config)
            _equal_edges(con, config, rule, rank)
        made[rule.name] = scalar(con, "SELECT count(*) FROM edges") - before
    con.execute("DROP TABLE IF EXISTS _pcomp")
    return made


def _anchor_records(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Table `_anchor(rid, anchor)`: the SOR record each record is already tied to by the
    stronger rules' edges (null when none, or when its component holds two), from their
    components `_pcomp`."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _anchor AS
        SELECT rid, CASE WHEN count(sor_rid) OVER w = 1 THEN max(sor_rid) OVER w END AS anchor
        FROM (SELECT p.rid, p.comp, CASE WHEN r.source = {literal(config.accounts_sor)} THEN p.rid END AS sor_rid
              FROM _pcomp p JOIN records r USING (rid))
        WINDOW w AS (PARTITION BY comp)
        """
    )


def _insert_new_edges(
    con: duckdb.DuckDBPyConnection, select_sql: str, params: list | None = None
) -> None:
    """Insert candidate edges (a, b, ...) except pairs an earlier rule already linked."""
    con.execute(
        f"INSERT INTO edges SELECT c.* FROM ({select_sql}) c "
        "ANTI JOIN edges e ON e.a = c.a AND e.b = c.b",
        params or [],
    )


def _ref_edges(con: duckdb.DuckDBPyConnection, rule: Rule, rank: int) -> None:
    _insert_new_edges(
        con,
        f"""
        SELECT least(x.rid, t.rid) AS a, greatest(x.rid, t.rid) AS b, 'rule' AS method,
               ? AS rule, {rank} AS rank, NULL::DOUBLE AS probability,
               s.source || '.' || x.column_name || ' = ' || x.value AS evidence
        FROM raw_refs x
        JOIN records s ON s.rid = x.rid
        JOIN records t ON t.source = x.target AND t.id = x.value
        WHERE t.entity = 'accounts' AND s.entity = 'accounts' AND x.rid <> t.rid
        QUALIFY row_number() OVER (PARTITION BY least(x.rid, t.rid), greatest(x.rid, t.rid)
                                   ORDER BY evidence) = 1
        """,
        [rule.name],
    )


def key_columns(fields: tuple[str, ...], alias: str = "") -> tuple[str, list[str], str]:
    """SQL for an equal rule's keys: `expr AS k0, ...` (list fields unnested), the key column
    names, and the condition that every key is non-null."""
    prefix = f"{alias}." if alias else ""
    exprs = ", ".join(
        f"unnest({prefix}{ident(f)}) AS k{i}" if f in LIST_FIELDS else f"{prefix}{ident(f)} AS k{i}"
        for i, f in enumerate(fields)
    )
    kcols = [f"k{i}" for i in range(len(fields))]
    return exprs, kcols, " AND ".join(f"{k} IS NOT NULL" for k in kcols)


def key_text(kcols: list[str]) -> str:
    """SQL for a key as key_report spells it (`a / b`), from the key columns `kcols`."""
    return " || ' / ' || ".join(f"CAST({k} AS VARCHAR)" for k in kcols)


def _equal_edges(con: duckdb.DuckDBPyConnection, config: Config, rule: Rule, rank: int) -> None:
    keys, kcols, notnull = key_columns(rule.equal)
    is_sor = f"(source = {literal(config.accounts_sor)})"
    parts = [
        f"SELECT * FROM (SELECT rid, {is_sor} AS is_sor, false AS lent, {keys} FROM records "
        f"WHERE entity = 'accounts') WHERE {notnull}"
    ]
    if rule.with_sor_contacts and config.contacts_sor is not None:
        # A user's field value is a key of the user's account record.
        user_keys, _, _ = key_columns(rule.equal, "u")
        target = config.users_account_source
        parts.append(
            f"SELECT * FROM (SELECT acc.rid, {literal(target)} = {literal(config.accounts_sor)} AS is_sor, "
            f"true AS lent, {user_keys} FROM records u "
            f"JOIN records acc ON acc.source = {literal(target)} AND acc.id = u.account_ref "
            f"WHERE u.source = {literal(config.contacts_sor)}) WHERE {notnull}"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _keys AS SELECT DISTINCT * FROM ("
        + " UNION ALL ".join(parts)
        + ")"
    )
    limit = rule.max_key_records or config.rules.max_key_records
    # A key of one record makes no pair, and no key_report row unless the SOR users' domains
    # say two or more accounts hold it (the UPDATE below): its statistics are not counted.
    # (Most keys are one record's: the VAT number, name and country of a record alone.)
    held = [f"{k} IN (SELECT domain FROM sor_domains WHERE n >= 2)" for k, f in
            zip(kcols, rule.equal, strict=True) if f == "domain"]  # fmt: skip
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _kshared AS SELECT {', '.join(kcols)} FROM _keys "
        f"GROUP BY ALL HAVING {' OR '.join(['count(*) >= 2', *held])}"
    )
    keys_in = f"(FROM _keys SEMI JOIN _kshared USING ({', '.join(kcols)})) _keys"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _keystat AS SELECT {', '.join(kcols)}, count(DISTINCT rid) AS n, "
        f"count(DISTINCT rid) FILTER (WHERE is_sor) AS n_sor, count(DISTINCT a.anchor) AS n_anchor, "
        # the cities of an identifying key's records (see below); a suggestive rule checks
        # cities pair by pair instead
        + (
            f"0 AS n_city FROM {keys_in} LEFT JOIN _anchor a USING (rid) GROUP BY ALL"
            if rule.suggestive
            else "CASE WHEN bool_or(od.rid IS NOT NULL) THEN 2 ELSE count(DISTINCT rc.city) END AS n_city "
            f"FROM {keys_in} LEFT JOIN _anchor a USING (rid) LEFT JOIN records rc USING (rid) "
            "LEFT JOIN record_domains od USING (rid) GROUP BY ALL"
        )
    )
    for k, field in zip(kcols, rule.equal, strict=True):
        if field == "domain":
            # A domain the users of several SOR accounts write from (an organization's sites,
            # a group's companies) is held by each of them, though no SOR record's website
            # says so.
            con.execute(
                f"UPDATE _keystat SET n_sor = s.n FROM sor_domains s "
                f"WHERE s.domain = _keystat.{k} AND s.n > _keystat.n_sor"
            )
    # A key held by no SOR record, whose records stronger rules already tie to two different
    # accounts (two customers both called "Julien Fontaine" in France), cannot tell accounts
    # apart: like a key two SOR records share, it makes no edge.
    blocked = f"n_sor >= 2 OR n > {int(limit)} OR (n_sor = 0 AND n_anchor >= 2)"
    text = key_text(kcols)
    con.execute(
        f"INSERT INTO key_report SELECT ?, {text}, n, greatest(n_sor, n_anchor), "
        f"CASE WHEN n > {int(limit)} THEN 'too_many_records' ELSE 'ambiguous' END "
        f"FROM _keystat WHERE {blocked}",
        [rule.name],
    )
    on = " AND ".join(f"lk.{k} = rk.{k}" for k in kcols)
    good = " AND ".join(f"g.{k} = lk.{k}" for k in kcols)
    evidence = " || ', ' || ".join(
        f"{literal(f + ' = ')} || CAST(lk.k{i} AS VARCHAR)" for i, f in enumerate(rule.equal)
    )
    where = rule.and_where
    only = "AND (lk.lent OR rk.lent)" if rule.sor_contacts_only else ""
    # the pair's records, for a `where` that reads them (l, r); every key's rid is a record's
    sides = "JOIN records l ON l.rid = lk.rid JOIN records r ON r.rid = rk.rid" if where else ""

    def pairs(keys: str) -> str:
        return f"""
        SELECT lk.rid AS a, rk.rid AS b, 'rule' AS method, ? AS rule, {rank} AS rank,
               NULL::DOUBLE AS probability, min({evidence}) AS evidence
        FROM _keys lk
        JOIN _keystat g ON {good} AND NOT ({blocked}) AND ({keys})
        JOIN _keys rk ON {on} AND lk.rid < rk.rid
        {sides}
        WHERE true {where} {only}
        GROUP BY lk.rid, rk.rid
    """

    try:
        if rule.suggestive:
            _suggestive_edges(con, rule, pairs("true"), config.accounts_sor)
        else:
            # An identifying key whose records sit in several cities (a legal entity's VAT
            # number on the records of its sites, each an account of its own): within it, a
            # pair links as a suggestive one would — corroborated, no other city.
            _insert_new_edges(con, pairs("g.n_city <= 1"), [rule.name])
            _suggestive_edges(con, rule, pairs("g.n_city >= 2"), config.accounts_sor)
    except duckdb.Error as e:
        if rule.where:
            raise ConfigError(
                f"the rule's `where` failed: {str(e).splitlines()[0]}", file=rule.file, key="where"
            ) from None
        raise
    for t in ("_keys", "_kshared", "_keystat", "_anchor"):
        con.execute(f"DROP TABLE {t}")


# What corroborates a suggestive pair (label, SQL over l and r), and what contradicts it.
# A field the rule itself compares says nothing more. Country and city are too coarse to
# corroborate a name: two companies of one name share a country, often a city.
# A pair's domains and its contacts' less an organization's (`record_domains` has a row for
# the records that had one).
DOMAIN_SQL = {
    "ld": "coalesce(ld.domains, l.domain)",
    "rd": "coalesce(rd.domains, r.domain)",
    "lc": "coalesce(ld.contact_domains, lm.domains)",
    "rc": "coalesce(rd.contact_domains, rm.domains)",
}
CORROBORATE = (  # (the field it is about, what it says, SQL; {ld} etc.: DOMAIN_SQL)
    (
        "name",
        "name",
        # Jaro, not Jaro-Winkler: "byrne and martin solutions" and "... technologies" share a
        # long prefix (0.93 Jaro-Winkler) and are two companies of one group
        "l.name = r.name OR jaro_similarity(l.name, r.name) >= 0.9 "
        "OR list_has_all(string_split(l.name, ' '), string_split(r.name, ' ')) "
        "OR list_has_all(string_split(r.name, ' '), string_split(l.name, ' '))",
    ),
    # A domain several accounts hold (an organization's, whose sites are accounts of their
    # own) says nothing about which of them a record is: `record_domains` leaves it out.
    ("domain", "domain", "list_has_any({ld}, {rd})"),
    (  # the company domains of one record's contacts are the other's (or both records')
        "domain",
        "contacts' email domain",
        "list_has_any({lc}, {rd}) OR list_has_any({rc}, {ld}) OR list_has_any({lc}, {rc})",
    ),
    ("email", "email", "l.email = r.email"),
    ("phone", "phone", "l.phone = r.phone OR l.phone_tail = r.phone_tail"),
    (
        "address",
        "address",
        "l.address_number = r.address_number "
        "AND jaro_winkler_similarity(l.address_street, r.address_street) >= 0.88",
    ),
    ("postcode", "postcode", "l.postcode = r.postcode"),
    ("vat", "vat", "l.vat = r.vat"),
    (
        "registration_number",
        "registration number",
        "l.registration_number = r.registration_number",
    ),
    (
        "members",
        "contacts are the account's users",
        "list_contains(lm.accounts, r.rid) OR list_contains(rm.accounts, l.rid) "
        "OR list_has_any(lm.accounts, rm.accounts)",
    ),
)
IMPLIES = {"email": ("domain",)}
CONTRADICT = (  # (field, what it says, SQL)
    ("vat", "VAT numbers differ", "l.vat <> r.vat"),
    (
        "registration_number",
        "registration numbers differ",
        "l.registration_number <> r.registration_number",
    ),
    ("country", "countries differ", "l.country <> r.country"),
    # Another city is another site of an organization, or another company of one name.
    ("city", "cities differ", "jaro_similarity(l.city, r.city) < 0.9"),
    ("postcode", "postcodes differ", "l.postcode <> r.postcode"),
    (  # its people are another account's users: a group's other company, another site
        "members",
        "contacts are another account's users",
        # against the other record's account: itself when it is a SOR record, else the
        # account stronger rules already tied it to (its anchor), else its own contacts
        "NOT list_contains(lm.accounts, coalesce(CASE WHEN r.source = sor.name THEN r.rid END, "
        "ra.anchor)) OR NOT list_contains(rm.accounts, coalesce(CASE WHEN l.source = sor.name "
        "THEN l.rid END, la.anchor)) OR NOT list_has_any(lm.accounts, rm.accounts)",
    ),
)


TWO_ACCOUNTS_NAMES = "names are two accounts'"


def _suggestive_edges(con: duckdb.DuckDBPyConnection, rule: Rule, pairs_sql: str, sor: str) -> None:
    """A suggestive rule's pairs: an edge when corroborated and not contradicted, else a row
    of `suggestions` (the scoring stage weighs the pair)."""
    # A key says nothing more about what it implies: an email, its domain.
    said = {*rule.equal, *(f for k in rule.equal for f in IMPLIES.get(k, ()))}
    agree = ", ".join(
        f"CASE WHEN coalesce({cond.format(**DOMAIN_SQL)}, false) THEN {literal(label)} END"
        for field, label, cond in CORROBORATE
        if field not in said
    )
    against = ", ".join(
        f"CASE WHEN coalesce({cond}, false) THEN {literal(label)} END"
        for field, label, cond in CONTRADICT
        if field not in rule.equal
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _suggested AS
        SELECT c.*, nullif(concat_ws(', ', {agree}), '') AS agrees,
               nullif(concat_ws(', ', {against}), '') AS contradicts
        FROM ({pairs_sql}) c
        ANTI JOIN edges e ON e.a = c.a AND e.b = c.b
        JOIN records l ON l.rid = c.a
        JOIN records r ON r.rid = c.b
        LEFT JOIN record_contacts lm ON lm.rid = c.a
        LEFT JOIN record_contacts rm ON rm.rid = c.b
        LEFT JOIN record_domains ld ON ld.rid = c.a
        LEFT JOIN record_domains rd ON rd.rid = c.b
        LEFT JOIN _anchor la ON la.rid = c.a
        LEFT JOIN _anchor ra ON ra.rid = c.b
        CROSS JOIN (SELECT ? AS name) sor
        """,
        [rule.name, sor],
    )
    if "name" not in rule.equal:
        # Two names, each a different account's ("Hanse Akademie Campus Mitte" and "Hanse
        # Akademie", the main site, sharing a VAT number): checked only on the pairs that
        # would link, which are few.
        con.execute(
            f"""
            UPDATE _suggested s SET contradicts = {literal(TWO_ACCOUNTS_NAMES)}
            FROM records l, records r
            WHERE l.rid = s.a AND r.rid = s.b AND s.agrees IS NOT NULL AND s.contradicts IS NULL
              AND l.name <> r.name AND l.name IN (SELECT name FROM sor_names)
              AND r.name IN (SELECT name FROM sor_names)
            """
        )
    con.execute(
        "INSERT INTO edges SELECT a, b, method, rule, rank, probability, "
        "evidence || '; corroborated by ' || agrees FROM _suggested "
        "WHERE agrees IS NOT NULL AND contradicts IS NULL"
    )
    con.execute(
        "INSERT INTO suggestions SELECT a, b, rule, evidence, "
        "CASE WHEN contradicts IS NOT NULL THEN contradicts ELSE 'nothing else agrees' END "
        "FROM _suggested WHERE agrees IS NULL OR contradicts IS NOT NULL"
    )
    con.execute("DROP TABLE _suggested")


def record_contacts(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Table `record_contacts(rid, accounts, domains)`: per account record, what its contacts
    say of it — the SOR account records whose users they are (by an email only one account's
    users have), and their company email domains (never free mail)."""
    con.execute(
        "CREATE OR REPLACE TABLE record_contacts (rid BIGINT, accounts BIGINT[], domains VARCHAR[])"
    )
    links = {
        s.name: s.account.source for s in config.sources_of("contacts") if s.account is not None
    }
    if not links:
        return
    cases = " ".join(f"WHEN {literal(c)} THEN {literal(a)}" for c, a in sorted(links.items()))
    users = "SELECT NULL::VARCHAR AS email, NULL::BIGINT AS account WHERE false"
    if config.contacts_sor is not None and config.users_account_source == config.accounts_sor:
        users = f"""
            SELECT u.email, min(acc.rid) AS account FROM records u
            JOIN records acc ON acc.source = {literal(config.accounts_sor)} AND acc.id = u.account_ref
            WHERE u.source = {literal(config.contacts_sor)} AND u.email IS NOT NULL
            GROUP BY u.email HAVING count(DISTINCT acc.rid) = 1"""
    sor_users = literal(config.contacts_sor or "")
    con.execute(
        f"""
        INSERT INTO record_contacts
        WITH users AS ({users}),
        c AS (
            SELECT a.rid, c.source, c.email, c.domain FROM records c
            JOIN records a ON a.source = (CASE c.source {cases} END) AND a.id = c.account_ref
            WHERE c.entity = 'contacts' AND a.entity = 'accounts'
        )
        SELECT c.rid,
               nullif(list_sort(list_distinct(list(users.account)
                      FILTER (WHERE users.account IS NOT NULL AND c.source <> {sor_users}))), []),
               nullif(list_sort(list_distinct(flatten(list(c.domain)
                      FILTER (WHERE c.domain IS NOT NULL)))), [])
        FROM c LEFT JOIN users USING (email)
        GROUP BY c.rid
        """
    )


def record_domains(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Tables `sor_domains(domain, n)`: the company domains SOR account records hold, by their
    own field or their users' emails, with how many hold each; and `record_domains(rid,
    domains, contact_domains)`: for each account record with such a domain (and only those),
    its own domains and its contacts' less those two or more SOR records of its country hold
    (an organization's website, on which every site's people write: it says the record is the
    organization's, not which of its accounts); records without one have no row, their
    domains stand (`DOMAIN_SQL`). A group's companies in different countries
    sharing a website keep it: the country tells them apart."""
    sor = literal(config.accounts_sor)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _holders AS
        SELECT DISTINCT h.domain, h.rid, r.country FROM (
            SELECT rid, unnest(domain) AS domain FROM records WHERE source = {sor}
            UNION ALL
            SELECT c.rid, unnest(c.domains) FROM record_contacts c
            JOIN records r ON r.rid = c.rid WHERE r.source = {sor}
        ) h JOIN records r USING (rid)
        """
    )
    con.execute(
        f"CREATE OR REPLACE TABLE sor_names AS SELECT DISTINCT name FROM records "
        f"WHERE source = {sor} AND name IS NOT NULL"
    )
    con.execute(
        "CREATE OR REPLACE TABLE sor_domains AS "
        "SELECT domain, count(DISTINCT rid) AS n FROM _holders GROUP BY domain"
    )
    # Only domains two holders share can be shared within a country: small tables.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ht AS SELECT domain, count(*) AS n, "
        "count(*) FILTER (WHERE country IS NULL) AS n_null FROM _holders "
        "GROUP BY domain HAVING count(*) >= 2"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _hc AS SELECT domain, country, count(*) AS n "
        "FROM _holders SEMI JOIN _ht USING (domain) WHERE country IS NOT NULL GROUP BY ALL"
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE record_domains AS
        WITH d AS (
            SELECT rid, country, unnest(domain) AS d, false AS via FROM records
            WHERE entity = 'accounts' AND domain IS NOT NULL
            UNION ALL
            SELECT c.rid, r.country, unnest(c.domains), true FROM record_contacts c
            JOIN records r USING (rid)
        ),
        held AS (  -- whether two or more SOR records of the record's country hold the domain
            SELECT d.rid, d.d, d.via,
                   coalesce(CASE WHEN d.country IS NULL THEN ht.n
                                 ELSE coalesce(hc.n, 0) + ht.n_null END >= 2, false) AS shared
            FROM d LEFT JOIN _ht ht ON ht.domain = d.d
            LEFT JOIN _hc hc ON hc.domain = d.d AND hc.country = d.country
        )
        SELECT rid,
               coalesce(list_sort(list_distinct(list(d) FILTER (WHERE NOT via AND NOT shared))), [])
                   AS domains,
               coalesce(list_sort(list_distinct(list(d) FILTER (WHERE via AND NOT shared))), [])
                   AS contact_domains
        FROM held WHERE rid IN (SELECT rid FROM held WHERE shared) GROUP BY rid
        """
    )
    con.execute("DROP TABLE _ht")
    con.execute("DROP TABLE _hc")
    con.execute("DROP TABLE _holders")


def key_report(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[dict]:
    """The keys that made no edges (ambiguous or hub), most records first."""
    return [
        {"rule": r, "key": k, "records": n, "sor_records": s, "reason": why}
        for r, k, n, s, why in rows(
            con, f"SELECT * FROM key_report ORDER BY records DESC, rule, key LIMIT {int(limit)}"
        )
    ]
