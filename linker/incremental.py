"""Re-resolve only what new decisions touch (`linker publish` after review).

A decision is about two account records; what it can change is bounded by the components
they were in. Every step of account resolution (the components, the glue and contradiction
cuts, the settling of conflicts, the chains, the duplicates) looks at one component at a
time, so the records of the touched components (`scope`) are resolved again, in memory, from
their own edges and decisions, and their rows replace the old ones in the state; every other
component's rows stay as they are. The components are the ones before any cut: two
components a glue cut separated are one for this (the cut may no longer be made).

What the touched records' new results reach beyond them is followed the same way: the
contacts whose own account record, or one of whose email domains, is on a record whose
result changed (contacts.resolve_contacts with `only`), and the review items of the scope's
records (review_queue.build_review_queue with `scope`). A property test holds this to a full
re-resolve's answer, byte for byte (tests/test_incremental.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from linker import contacts, rule_reach
from linker.config import Config
from linker.db import has_table, literal, rows, scalar
from linker.rule_sql import key_columns, key_text

if TYPE_CHECKING:
    from linker.rules import Rule

# The tables account resolution writes, with the column that places a row in the scope.
ACCOUNT_TABLES = (
    ("live_edges", "a"),
    ("glue_cuts", "a"),
    ("contradicted", "rid"),
    ("held", "rid"),
    ("tree", "rid"),
    ("comp_stat", "comp"),
    ("account_result", "rid"),
    ("duplicates", "rid"),
)
# What account resolution reads, besides the scope's records.
_READS = ("rule_trust",)


def changed_decision_ends(con: duckdb.DuckDBPyConnection, old: str, new: str) -> list[int]:
    """The records of every decision pair added, removed or changed between tables `old` and
    `new` (both `decision_pairs`-shaped)."""
    return [
        r[0]
        for r in rows(
            con,
            f"""
            WITH d AS ((FROM {new} EXCEPT FROM {old}) UNION ALL (FROM {old} EXCEPT FROM {new}))
            SELECT DISTINCT x FROM (SELECT a AS x FROM d UNION ALL SELECT b FROM d) ORDER BY x
            """,
        )
    ]


def scope_of(con: duckdb.DuckDBPyConnection, state: str, ends: list[int]) -> int:
    """Temp table `_scope(rid)`: the account records of the components (before cuts) that
    hold one of `ends`, in the state attached as `state`; returns how many."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _scope AS SELECT rid FROM {state}.account_result "
        f"WHERE comp IN (SELECT comp FROM {state}.account_result WHERE rid IN (SELECT unnest(?)))",
        [ends],
    )
    n = scalar(con, "SELECT count(*) FROM _scope")
    while True:  # a cut edge leaving the scope: the component on its other end was one with it
        con.execute(
            f"""
            INSERT INTO _scope
            SELECT rid FROM {state}.account_result WHERE comp IN (
                SELECT comp FROM {state}.account_result WHERE rid IN (
                    SELECT unnest([a, b]) FROM {state}.glue_cuts
                    WHERE a IN (SELECT rid FROM _scope) OR b IN (SELECT rid FROM _scope)
                )
            ) AND rid NOT IN (SELECT rid FROM _scope)
            """
        )
        grown = scalar(con, "SELECT count(*) FROM _scope")
        if grown == n:
            return n
        n = grown


def load_scope(con: duckdb.DuckDBPyConnection, state: str, sor: str) -> None:
    """The tables account resolution reads, restricted to `_scope`, copied from the state
    into `con`'s default (in-memory) database: the scope's records and the SOR records their
    stored references name (a reference to an account the SOR lacks says `no_account`), every
    edge and raw reference of a scope record, and `rule_trust`. `decision_pairs` (the new
    decisions) must already be there; it is cut to the scope's pairs."""
    scope = "(SELECT rid FROM _scope)"
    con.execute(
        f"CREATE OR REPLACE TABLE raw_refs AS SELECT * FROM {state}.raw_refs WHERE rid IN {scope}"
    )
    # One semi join on the rids wanted (an OR of two IN tests scanned all records: 0.5 s at 1M).
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS SELECT * FROM {state}.records r SEMI JOIN (
            SELECT rid FROM _scope
            UNION ALL
            SELECT s.rid FROM {state}.records s
            SEMI JOIN (SELECT value FROM raw_refs WHERE target = ?) x ON x.value = s.id
            WHERE s.source = ?
        ) w ON w.rid = r.rid
        """,
        [sor, sor],
    )
    con.execute(
        f"CREATE OR REPLACE TABLE edges AS SELECT * FROM {state}.edges "
        f"WHERE a IN {scope} OR b IN {scope}"
    )
    con.execute(f"DELETE FROM decision_pairs WHERE a NOT IN {scope} AND b NOT IN {scope}")
    for t in _READS:
        con.execute(f"CREATE OR REPLACE TABLE {t} AS FROM {state}.{t}")


def splice(con: duckdb.DuckDBPyConnection, scratch: str) -> None:
    """In the current database (the state, in the caller's transaction): each of
    ACCOUNT_TABLES' rows of the scope replaced by the ones resolved in `scratch`."""
    scope = "(SELECT rid FROM _scope)"
    for table, col in ACCOUNT_TABLES:
        con.execute(f"DELETE FROM {table} WHERE {col} IN {scope}")
        con.execute(f"INSERT INTO {table} FROM {scratch}.{table} WHERE {col} IN {scope}")


def take_rest(con: duckdb.DuckDBPyConnection, state: str, scratch: str) -> None:
    """In the current database: each of ACCOUNT_TABLES made of the rows of the state
    attached as `state` out of the scope and the ones resolved in `scratch` for it."""
    scope = "(SELECT rid FROM _scope)"
    for table, col in ACCOUNT_TABLES:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS FROM {state}.{table} WHERE {col} NOT IN {scope}"
        )
        con.execute(f"INSERT INTO {table} FROM {scratch}.{table}")


def usable(con: duckdb.DuckDBPyConnection, state: str) -> bool:
    """Whether the state attached as `state` holds every table take_rest reads."""
    return all(has_table(con, t, state) for t, _ in ACCOUNT_TABLES) and has_table(
        con, "decision_pairs", state
    )


def changed_results(con: duckdb.DuckDBPyConnection, state: str, scratch: str) -> int:
    """Temp table `_changed(rid)`: the scope's account records whose account or reason the
    new resolution (in `scratch`) changes against the state's; returns how many."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _changed AS SELECT n.rid FROM {scratch}.account_result n
        JOIN {state}.account_result o USING (rid)
        WHERE n.rid IN (SELECT rid FROM _scope)
          AND (n.account_id IS DISTINCT FROM o.account_id OR n.reason IS DISTINCT FROM o.reason)
        """
    )
    return scalar(con, "SELECT count(*) FROM _changed")


def contact_scope(con: duckdb.DuckDBPyConnection, config: Config) -> str | None:
    """SQL selecting the contacts an account record's changed result (`_changed`) can move, in
    the current database: those whose own account link names one, and those sharing an email
    domain with one (which account a domain belongs to may change). None when every contact
    must be resolved again: the SOR users link to a source whose results can change."""
    if config.contacts_sor is not None and config.users_account_source != config.accounts_sor:
        return None
    link_of = {s.name: s.account.source for s in config.sources_of("contacts") if s.account}
    cases = " ".join(
        f"WHEN {literal(src)} THEN {literal(target)}" for src, target in sorted(link_of.items())
    )
    linked = (
        f"SELECT c.rid FROM records c JOIN records a ON a.source = (CASE c.source {cases} END) "
        "AND a.id = c.account_ref WHERE c.entity = 'contacts' "
        "AND a.rid IN (SELECT rid FROM _changed) UNION "
        if link_of
        else ""
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _contact_scope AS
        {linked}
        SELECT DISTINCT rid FROM (
            SELECT rid, unnest(domain) AS d FROM records WHERE entity = 'contacts'
        ) WHERE d IN (SELECT unnest(domain) FROM records WHERE rid IN (SELECT rid FROM _changed))
        """
    )
    return "SELECT rid FROM _contact_scope"


def contact_reach(
    con: duckdb.DuckDBPyConnection, config: Config, rules: list[Rule], prev: str
) -> int | None:
    """Temp table `_contact_scope(rid)`: after a change to the sources, the contact records
    whose result the change can move (every other contact's result is the last run's, in the
    state attached as `prev`); returns how many, or None when every contact must be resolved
    again (as contact_scope: the SOR users link to a source whose results can change).

    A contact's result is made of its own row, the account result of the record its own link
    names, which accounts hold each of its email domains (domain_account: the account records'
    domains and results, the SOR users' domains and their accounts'), the SOR users sharing a
    key of a user rule with it (their rows and their accounts) and, for an in_account rule, the
    users of the account it resolved to. So the scope is, of the contacts there now:

    - those whose row changed or is new (row_hashes against the last run's);
    - those whose own link names an account record whose row or result (account_id, reason)
      changed, that is new or that went (`_acc_moved`, as they are and as they were);
    - those holding an email domain of such a record, or of a SOR user whose row changed or
      whose account record is such a record (`_users_moved`, as they are and were);
    - those sharing a user rule's key with such a SOR user;
    - with an in_account rule, those whose account in the last run is one such a user was or
      is in (a contact whose account changed since is in the scope by one of the above).

    And the user rules' key_report rows (`_user_key_reports`).

    This needs the last run's state, numbered as this run is, from the same config and rules
    (the caller checks), and this run's records, row_hashes and final account_result.
    tests/test_incremental.py holds it to resolving every contact, byte for byte."""
    if config.contacts_sor is not None and config.users_account_source != config.accounts_sor:
        return None
    csor, target = literal(config.contacts_sor or ""), literal(config.users_account_source)
    now, before = rule_reach.CHANGED_NOW, rule_reach.CHANGED_BEFORE
    if not (has_table(con, now, "temp") and has_table(con, before, "temp")):
        rule_reach.changed_records(con, prev)
    # the account records whose result changed, that are new or that went
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _moved AS
        SELECT coalesce(n.rid, o.rid) AS rid
        FROM account_result n FULL JOIN {prev}.account_result o ON o.rid = n.rid
        WHERE n.rid IS NULL OR o.rid IS NULL OR n.account_id IS DISTINCT FROM o.account_id
           OR n.reason IS DISTINCT FROM o.reason
        """
    )
    # ... and those whose row changed: as they are and as they were
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _acc_moved AS
        SELECT source, id, domain FROM records SEMI JOIN _moved USING (rid)
        UNION ALL SELECT source, id, domain FROM {prev}.records SEMI JOIN _moved USING (rid)
        UNION ALL SELECT source, id, domain FROM {now} WHERE entity = 'accounts'
        UNION ALL SELECT source, id, domain FROM {before} WHERE entity = 'accounts'
        """
    )
    parts = [f"SELECT rid FROM {now} WHERE entity = 'contacts'"]
    link = rule_reach.link_case(config, "c")
    if link is not None:
        parts.append(
            f"SELECT c.rid FROM records c SEMI JOIN _acc_moved a ON a.source = {link} "
            "AND a.id = c.account_ref WHERE c.entity = 'contacts'"
        )
    domains = ["SELECT unnest(domain) AS d FROM _acc_moved"]
    users = config.contacts_sor is not None
    if users:
        # the SOR users whose row changed, or whose account record is one of those above, as
        # they are and as they were, with the account they are in
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _users_moved AS
            WITH acc AS (SELECT id FROM _acc_moved WHERE source = {target})
            SELECT * FROM {now} WHERE source = {csor}
            UNION ALL SELECT * FROM records WHERE source = {csor} AND account_ref IN (FROM acc)
            UNION ALL SELECT * FROM {before} WHERE source = {csor}
            UNION ALL SELECT * FROM {prev}.records WHERE source = {csor} AND account_ref IN (FROM acc)
            """
        )
        for col, db in (("account_now", ""), ("account_before", f"{prev}.")):
            con.execute(f"ALTER TABLE _users_moved ADD COLUMN {col} VARCHAR")
            con.execute(
                f"""
                UPDATE _users_moved u SET {col} = a.account_id
                FROM {db}records acc JOIN {db}account_result a USING (rid)
                WHERE acc.source = {target} AND acc.id = u.account_ref
                """
            )
        domains.append("SELECT unnest(domain) FROM _users_moved")
    if any(r.kind == "email_domain" for r in rules):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _dom AS SELECT DISTINCT d FROM ("
            + " UNION ALL ".join(domains)
            + ") WHERE d IS NOT NULL"
        )
        parts.append(
            "SELECT rid FROM (SELECT rid, unnest(domain) AS d FROM records "
            "WHERE entity = 'contacts' AND domain IS NOT NULL) SEMI JOIN _dom USING (d)"
        )
    for rule in rules if users else []:
        if rule.kind in ("own_account", "email_domain"):
            continue
        if rule.kind == "in_account":
            parts.append(
                f"SELECT rid FROM {prev}.contact_result WHERE account_id IN "
                "(SELECT unnest([account_now, account_before]) FROM _users_moved)"
            )
            continue
        keys, kcols, notnull = key_columns(rule.equal)
        on = " AND ".join(f"x.{k} = m.{k}" for k in kcols)
        parts.append(
            f"SELECT DISTINCT x.rid FROM (SELECT * FROM (SELECT rid, {keys} FROM records "
            f"WHERE entity = 'contacts') WHERE {notnull}) x "
            f"SEMI JOIN (SELECT * FROM (SELECT {keys} FROM _users_moved) WHERE {notnull}) m "
            f"ON {on}"
        )
    if users:
        _user_key_reports(con, config, rules, prev)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _contact_scope AS SELECT DISTINCT rid FROM ("
        + " UNION ALL ".join(parts)
        + ") WHERE rid IN (SELECT rid FROM records WHERE entity = 'contacts')"
    )
    for t in ("_moved", "_acc_moved", "_users_moved", "_dom"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return scalar(con, "SELECT count(*) FROM _contact_scope")


def _user_key_reports(
    con: duckdb.DuckDBPyConnection, config: Config, rules: list[Rule], prev: str
) -> None:
    """The user rules' key_report rows (contacts.user_key_report): the last run's, but those
    of a key a SOR user whose row changed holds or held (`_users_moved`), counted again."""
    sor = literal(config.contacts_sor or "")
    for rule in rules:
        if rule.kind in ("own_account", "email_domain", "in_account"):
            continue
        keys, kcols, notnull = key_columns(rule.equal)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _held AS SELECT DISTINCT * FROM "
            f"(SELECT {keys} FROM _users_moved) WHERE {notnull}"
        )
        con.execute(
            f"INSERT INTO key_report FROM {prev}.key_report WHERE rule = ? "
            f"AND key NOT IN (SELECT {key_text(kcols)} FROM _held)",
            [rule.name],
        )
        on = " AND ".join(f"u.{k} = h.{k}" for k in kcols)
        contacts.user_key_report(
            con,
            rule,
            f"SELECT DISTINCT * FROM (SELECT rid, {keys} FROM records WHERE entity = 'contacts' "
            f"AND source = {sor}) u WHERE {notnull} AND EXISTS (FROM _held h WHERE {on})",
        )
        con.execute("DROP TABLE _held")


def take_contacts(con: duckdb.DuckDBPyConnection, prev: str, resolved: str) -> None:
    """Table `contact_result`: the last run's rows (state attached as `prev`) of the contacts
    there now and out of `_contact_scope`, and `resolved`'s (the scope's, resolved again)."""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE contact_result AS FROM {prev}.contact_result
        WHERE rid NOT IN (SELECT rid FROM _contact_scope)
          AND rid IN (SELECT rid FROM records WHERE entity = 'contacts')
        """
    )
    con.execute(f"INSERT INTO contact_result FROM {resolved}")
