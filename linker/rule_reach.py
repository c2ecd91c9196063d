"""The account rules of a run after a change, for the records the change can reach only.

A record's rule edges, suggestions and key report rows depend on the records that share one
of its rule keys (the key's holders: their count, their SOR records, their anchors), on the
records a stored reference ties it to, and on a few statistics over the whole data: the SOR
records' names (`sor_names`), which accounts hold each domain (`sor_domains`,
`record_domains`), which account a SOR user's email names (`record_contacts`). So the rules of
the records the change reaches, `_reach(rid)`, are those of:

- the seeds: the account records whose row changed (added, changed, removed: row_hashes
  against the last run's), the account records of a contact whose row changed (the one it
  named before and the one it names now), and every account record holding a value whose
  statistic can have moved — the name of a changed SOR record, a domain of any changed record
  or of a changed SOR record's contacts, the email of a changed SOR user or of a user of a
  changed SOR record;
- closed under sharing a rule key (each equal rule's, a SOR user's lent ones included, as the
  rule computes them; the changed records' keys both as they were and as they are) and a
  stored reference. Every edge joins records sharing one, so the components, anchors and
  key statistics of a reached record are made of reached records only.

The rule stage then runs over the reached records alone (in a scratch database, with the
whole data's statistics), and every other record's edges, suggestions and key report rows are
the last run's, as they were. tests/test_incremental.py holds a run doing this to a run
computing every rule again, byte for byte, over random changes to every source.

This needs the last run's state, numbered as this run is (Ingestor._number), made by the same
linker from the same config and rules (the caller checks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb

from linker import rule_sql
from linker.config import Config
from linker.db import has_table, literal, scalar
from linker.rule_sql import key_columns, key_text

if TYPE_CHECKING:
    from linker.rules import Rule

# The last run's tables the rules read from or keep rows of.
NEEDS = ("records", "raw_refs", "row_hashes", "edges", "suggestions", "key_report")
# A change reaching more than this share of the account records computes every rule again:
# the scoped run's bookkeeping would cost more than it saves.
MAX_SHARE = 0.3
# Temp table (rid): the account records run_reached computed the rules of.
REACHED = "_rules_reach"
# Temp tables: the records whose row changed, as they are and as they were (changed_records;
# reach makes them, and they stay after run_reached for incremental.contact_reach).
CHANGED_NOW, CHANGED_BEFORE = "_changed_now", "_changed_before"


def link_case(config: Config, alias: str) -> str | None:
    """SQL naming the account source a contact record (`alias`) links to; None when no
    contact source links to accounts."""
    link_of = {s.name: s.account.source for s in config.sources_of("contacts") if s.account}
    if not link_of:
        return None
    cases = " ".join(f"WHEN {literal(c)} THEN {literal(a)}" for c, a in sorted(link_of.items()))
    return f"(CASE {alias}.source {cases} END)"


def _tokens(config: Config, rules: list[Rule], recs: str, refs: str, *, every: bool) -> str:
    """SQL selecting (rid, tok): each account record of `recs` with a hash of each rule key it
    holds (rule, key values) and of each stored reference it makes or is the target of.
    `every`: a record is the target of a reference whether any names it or not (the last
    run's records, which new references may name)."""
    parts = []
    for rule in rules:
        if rule.kind == "ref":
            continue
        keys, kcols, notnull = key_columns(rule.equal)
        tok = f"hash({literal(rule.name)}, {', '.join(kcols)})"
        parts.append(
            f"SELECT rid, {tok} AS tok FROM (SELECT rid, {keys} FROM {recs} "
            f"WHERE entity = 'accounts') WHERE {notnull}"
        )
        if rule.with_sor_contacts and config.contacts_sor is not None:
            user_keys, _, _ = key_columns(rule.equal, "u")
            parts.append(
                f"SELECT rid, {tok} FROM (SELECT acc.rid, {user_keys} FROM {recs} u "
                f"JOIN {recs} acc ON acc.source = {literal(config.users_account_source)} "
                f"AND acc.id = u.account_ref WHERE u.source = {literal(config.contacts_sor)}) "
                f"WHERE {notnull}"
            )
    if any(r.kind == "ref" for r in rules):
        parts.append(
            f"SELECT x.rid, hash('ref', x.target, x.value) FROM {refs} x "
            f"SEMI JOIN {recs} s ON s.rid = x.rid AND s.entity = 'accounts'"
        )
        target = "" if every else (f"SEMI JOIN {refs} x ON x.target = t.source AND x.value = t.id")
        parts.append(
            f"SELECT t.rid, hash('ref', t.source, t.id) FROM {recs} t {target} "
            "WHERE t.entity = 'accounts'"
        )
    return (
        " UNION ALL ".join(parts)
        if parts
        else "SELECT NULL::BIGINT AS rid, 0::UBIGINT AS tok WHERE false"
    )


def _key_texts(config: Config, rules: list[Rule], recs: str, scope: str) -> str:
    """SQL selecting (rule, key) as key_report writes them, for every equal rule's key a
    record of `scope` (SQL selecting rids) holds in `recs`, its lent ones included."""
    parts = []
    for rule in rules:
        if rule.kind == "ref":
            continue
        keys, kcols, notnull = key_columns(rule.equal)
        text = key_text(kcols)
        parts.append(
            f"SELECT {literal(rule.name)} AS rule, {text} AS key FROM (SELECT rid, {keys} "
            f"FROM {recs} WHERE entity = 'accounts' AND rid IN ({scope})) WHERE {notnull}"
        )
        if rule.with_sor_contacts and config.contacts_sor is not None:
            user_keys, _, _ = key_columns(rule.equal, "u")
            parts.append(
                f"SELECT {literal(rule.name)}, {text} FROM (SELECT acc.rid, {user_keys} "
                f"FROM {recs} u JOIN {recs} acc ON acc.source = "
                f"{literal(config.users_account_source)} AND acc.id = u.account_ref "
                f"WHERE u.source = {literal(config.contacts_sor)} AND acc.rid IN ({scope})) "
                f"WHERE {notnull}"
            )
    return " UNION ".join(parts) or "SELECT NULL AS rule, NULL AS key WHERE false"


def changed_records(con: duckdb.DuckDBPyConnection, prev: str) -> None:
    """Temp tables CHANGED_NOW and CHANGED_BEFORE: the records whose row changed (added,
    changed, removed: this run's row_hashes against the last run's, in the state attached as
    `prev`), as they are and as they were."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _dirty AS
        SELECT coalesce(n.source, o.source) AS source, coalesce(n.id, o.id) AS id
        FROM row_hashes n FULL JOIN {prev}.row_hashes o ON o.source = n.source AND o.id = n.id
        WHERE n.hash IS DISTINCT FROM o.hash
        """
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CHANGED_BEFORE} AS "
        f"FROM {prev}.records SEMI JOIN _dirty USING (source, id)"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CHANGED_NOW} AS "
        "FROM records SEMI JOIN _dirty USING (source, id)"
    )
    con.execute("DROP TABLE _dirty")


def _seeds(con: duckdb.DuckDBPyConnection, config: Config, prev: str) -> None:
    """Temp table `_seed(rid)` (see the module's docstring), from `records` and `row_hashes`
    (this run's) and the last run's state attached as `prev`."""
    changed_records(con, prev)
    both = f"(SELECT * FROM {CHANGED_NOW} UNION ALL BY NAME SELECT * FROM {CHANGED_BEFORE})"
    sor = literal(config.accounts_sor)
    parts = [f"SELECT rid FROM {both} WHERE entity = 'accounts'"]
    link = link_case(config, "c")
    if link is not None:
        # the account record a changed contact names now, and the one it named
        parts.append(
            f"SELECT a.rid FROM {CHANGED_NOW} c JOIN records a ON a.source = {link} "
            "AND a.id = c.account_ref "
            "WHERE c.entity = 'contacts'"
        )
        parts.append(
            f"SELECT a.rid FROM {CHANGED_BEFORE} c JOIN {prev}.records a ON a.source = {link} "
            "AND a.id = c.account_ref WHERE c.entity = 'contacts'"
        )
    # the names of changed SOR records: which names are a SOR record's (sor_names)
    parts.append(
        "SELECT rid FROM records WHERE entity = 'accounts' AND name IN "
        f"(SELECT name FROM {both} WHERE source = {sor} AND name IS NOT NULL)"
    )
    # the domains of changed records: which accounts hold a domain (sor_domains, record_domains)
    # -- and those of a changed SOR record's contacts, as they are and were: the SOR record
    # holds them too, under its country (rule_sql.record_domains' holders)
    dom = [f"SELECT unnest(domain) AS d FROM {both} WHERE domain IS NOT NULL"]
    if link is not None:
        dom += [
            f"SELECT unnest(c.domain) FROM {db}records c WHERE c.entity = 'contacts' "
            f"AND c.domain IS NOT NULL AND {link} = {sor} "
            f"AND c.account_ref IN (SELECT id FROM {both} WHERE source = {sor})"
            for db in ("", f"{prev}.")
        ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dom AS SELECT DISTINCT d FROM ("
        + " UNION ALL ".join(dom)
        + ") WHERE d IS NOT NULL"
    )
    parts.append(
        "SELECT DISTINCT rid FROM (SELECT rid, unnest(domain) AS d FROM records "
        "WHERE entity = 'accounts' AND domain IS NOT NULL) SEMI JOIN _dom USING (d)"
    )
    if link is not None:
        parts.append(
            "SELECT a.rid FROM (SELECT source, account_ref, unnest(domain) AS d FROM records "
            "WHERE entity = 'contacts' AND domain IS NOT NULL) c SEMI JOIN _dom USING (d) "
            f"JOIN records a ON a.source = {link} AND a.id = c.account_ref"
        )
        if config.contacts_sor is not None and config.users_account_source == config.accounts_sor:
            # which account a SOR user's email names: the users changed, and those of a
            # changed SOR record (record_contacts' `users`)
            users = literal(config.contacts_sor)
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE _mail AS
                SELECT email FROM {both} WHERE source = {users} AND email IS NOT NULL
                UNION SELECT u.email FROM records u
                SEMI JOIN (SELECT id FROM {both} WHERE source = {sor}) s ON s.id = u.account_ref
                WHERE u.source = {users} AND u.email IS NOT NULL
                UNION SELECT u.email FROM {prev}.records u
                SEMI JOIN (SELECT id FROM {both} WHERE source = {sor}) s ON s.id = u.account_ref
                WHERE u.source = {users} AND u.email IS NOT NULL
                """
            )
            parts.append(
                "SELECT a.rid FROM records c SEMI JOIN _mail USING (email) "
                f"JOIN records a ON a.source = {link} AND a.id = c.account_ref "
                "WHERE c.entity = 'contacts'"
            )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _seed AS SELECT DISTINCT rid FROM ("
        + " UNION ALL ".join(parts)
        + ") WHERE rid IS NOT NULL"
    )


def reach(
    con: duckdb.DuckDBPyConnection, config: Config, rules: list[Rule], prev: str
) -> tuple[int, int]:
    """Temp table `_reach(rid)`: the account records whose rules the change since the run
    whose state is attached as `prev` can change (the module's docstring). Returns how many,
    and the rounds it took."""
    _seeds(con, config, prev)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tok AS "
        + _tokens(config, rules, "records", "raw_refs", every=False)
    )
    # the seeds' keys as they were (a key they no longer hold still changes its holders')
    # (and the SOR users of those that were of the users' account source: their lent keys)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _was_rec AS FROM {prev}.records WHERE rid IN (
            SELECT rid FROM _seed
        ) OR (source = {literal(config.contacts_sor or "")} AND account_ref IN (
            SELECT id FROM {prev}.records SEMI JOIN _seed USING (rid)
            WHERE source = {literal(config.users_account_source)}
        ))
        """
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _was_ref AS FROM {prev}.raw_refs WHERE rid IN "
        "(SELECT rid FROM _seed)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _front_tok AS SELECT DISTINCT tok FROM ("
        + _tokens(config, rules, "_was_rec", "_was_ref", every=True)
        + ") SEMI JOIN _seed USING (rid)"
    )
    con.execute("DROP TABLE _was_rec")
    con.execute("DROP TABLE _was_ref")
    con.execute("CREATE OR REPLACE TEMP TABLE _reach AS FROM _seed")
    con.execute("CREATE OR REPLACE TEMP TABLE _front AS FROM _seed")
    con.execute("CREATE OR REPLACE TEMP TABLE _seen_tok AS FROM _front_tok")
    rounds = 0
    while True:
        rounds += 1
        # the keys the frontier holds that no earlier round followed, then their holders
        con.execute(
            "INSERT INTO _front_tok SELECT DISTINCT tok FROM _tok SEMI JOIN _front USING (rid) "
            "ANTI JOIN _seen_tok USING (tok)"
        )
        con.execute("INSERT INTO _seen_tok FROM _front_tok")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _front AS SELECT DISTINCT rid FROM _tok "
            "SEMI JOIN _front_tok USING (tok) ANTI JOIN _reach USING (rid)"
        )
        con.execute("DELETE FROM _front_tok")
        n = scalar(con, "SELECT count(*) FROM _front")
        if not n:
            break
        con.execute("INSERT INTO _reach FROM _front")
    for t in ("_tok", "_front", "_front_tok", "_seen_tok", "_dom"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    con.execute("DROP TABLE IF EXISTS _mail")
    return scalar(con, "SELECT count(*) FROM _reach"), rounds


def usable(con: duckdb.DuckDBPyConnection, prev: str) -> bool:
    """Whether the state attached as `prev` has what run_reached reads."""
    return all(has_table(con, t, prev) for t in NEEDS)


def run_reached(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    rules: list[Rule],
    prev: str,
    note: Callable[[str], None] = lambda text: None,
) -> dict | None:
    """The rule stage (rule_sql.run_account_rules' tables) by the rules of the records the
    change reaches (`reach`) and the last run's rows of every other record; None, having done
    nothing, when the change reaches more than MAX_SHARE of the account records."""
    n, rounds = reach(con, config, rules, prev)
    of = scalar(con, "SELECT count(*) FROM records WHERE entity = 'accounts'")
    note(f"the change reaches {n:,} of {of:,} account records ({rounds} rounds)")
    if n > MAX_SHARE * of:
        for t in ("_reach", CHANGED_NOW, CHANGED_BEFORE):
            con.execute(f"DROP TABLE {t}")
        return None
    reached = "(SELECT rid FROM _reach)"
    # What the rules read of the whole data, over the whole data.
    rule_sql.context_tables(con, config)
    con.execute("ATTACH ':memory:' AS _rules")
    try:
        con.execute("USE _rules")
        target = literal(config.users_account_source)
        users = literal(config.contacts_sor or "")
        con.execute(
            f"""
            CREATE TABLE records AS FROM memory.records r WHERE rid IN {reached}
            OR (source = {users} AND account_ref IN (
                SELECT id FROM memory.records WHERE source = {target} AND rid IN {reached}))
            """
        )
        con.execute(f"CREATE TABLE raw_refs AS FROM memory.raw_refs WHERE rid IN {reached}")
        for t in ("record_contacts", "record_domains"):
            con.execute(f"CREATE TABLE {t} AS FROM memory.{t} WHERE rid IN {reached}")
        con.execute("CREATE TABLE sor_domains AS FROM memory.sor_domains")
        con.execute(
            "CREATE TABLE sor_names AS FROM memory.sor_names WHERE name IN "
            "(SELECT name FROM records WHERE name IS NOT NULL)"
        )
        rule_sql.run_rules(con, config, rules, note)
        con.execute("USE memory")
        # every rule's tables: the last run's rows of the records out of reach, and these
        con.execute(rule_sql.EDGES_DDL)
        con.execute(
            f"INSERT INTO edges SELECT a, b, method, rule, rank, probability, evidence "
            f"FROM {prev}.edges WHERE method = 'rule' "
            f"AND a NOT IN {reached} AND b NOT IN {reached}"
        )
        con.execute("INSERT INTO edges FROM _rules.edges")
        con.execute(rule_sql.SUGGESTIONS_DDL)
        con.execute(
            f"INSERT INTO suggestions SELECT a, b, rule, evidence, why FROM {prev}.suggestions "
            f"WHERE a NOT IN {reached} AND b NOT IN {reached}"
        )
        con.execute("INSERT INTO suggestions FROM _rules.suggestions")
        con.execute(rule_sql.KEY_REPORT_DDL)
        # a key report row of a key a reached record holds (or held) is the reached run's
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _held AS "
            + _key_texts(config, rules, "records", "SELECT rid FROM _reach")
            + " UNION "
            + _key_texts(config, rules, f"{prev}.records", "SELECT rid FROM _reach")
        )
        names = [r.name for r in rules]
        con.execute(
            "INSERT INTO key_report SELECT rule, key, records, sor_records, reason "
            f"FROM {prev}.key_report k ANTI JOIN _held h USING (rule, key) "
            "WHERE rule IN (SELECT unnest(?))",
            [names],
        )
        con.execute("INSERT INTO key_report FROM _rules.key_report")
        con.execute("CREATE OR REPLACE TABLE rule_trust AS FROM _rules.rule_trust")
    finally:
        con.execute("USE memory")
        con.execute("DETACH _rules")
    con.execute("DROP TABLE IF EXISTS _held")
    # the reached records stay, for the first resolve (ProjectPipeline._resolve_reached)
    con.execute(f"DROP TABLE IF EXISTS {REACHED}")
    con.execute(f"ALTER TABLE _reach RENAME TO {REACHED}")
    return {"records": n, "of": of, "rounds": rounds}
