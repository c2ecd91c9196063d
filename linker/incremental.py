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

import duckdb

from linker.config import Config
from linker.db import has_table, literal, rows, scalar

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
