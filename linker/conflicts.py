"""Conflicts: components that reach two or more accounts. The suggestive edges that alone
join two accounts are cut (`cut_glue`), and those of records that contradict the account they
reach (`cut_contradictions`, table `contradicted`); in what conflicts remain, only the records
in dispute are held back (`_settle`, a union-find that never joins two accounts).
"""

from __future__ import annotations

import duckdb

from linker.config import Config
from linker.db import insert_rows, literal, rows, scalar
from linker.graph import by_records, components, split_components


def cut_glue(con: duckdb.DuckDBPyConnection, config: Config) -> int:
    """Cut the suggestive edges that alone join two accounts; return how many were cut.

    A suggestive key (a website shared by an organization's sites, a director's mailbox) may
    join two records that other evidence ties to two different accounts. In a conflict
    component, the edges other than suggestive ones between two non-SOR records are united
    first; if that already joins two accounts, the conflict is real and stays for review.
    Otherwise each such suggestive edge is added back, strongest first, unless it would join
    two accounts: those are cut (table `glue_cuts`, reported) and the components recomputed.
    A suggestive edge to a SOR record itself names that account directly: never cut here.
    """
    sor = literal(config.accounts_sor)
    con.execute(
        "CREATE OR REPLACE TABLE glue_cuts (a BIGINT, b BIGINT, rule VARCHAR, evidence VARCHAR, "
        "accounts VARCHAR[])"
    )
    con.execute("CREATE TABLE IF NOT EXISTS rule_trust (rule VARCHAR PRIMARY KEY, trust VARCHAR)")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _cc AS {_conflict_comps(sor)}
        """
    )
    if not scalar(con, "SELECT count(*) FROM _cc"):
        con.execute("DROP TABLE _cc")
        return 0
    edges = rows(
        con,
        f"""
        SELECT c.comp, e.a, e.b, e.rule, e.evidence, e.rank,
               (t.trust = 'suggestive' AND ra.source <> {sor} AND rb.source <> {sor}) AS glue,
               ra.source = {sor}, rb.source = {sor}, ra.id, rb.id
        FROM live_edges e
        JOIN component c ON c.rid = e.a JOIN _cc USING (comp)
        JOIN records ra ON ra.rid = e.a JOIN records rb ON rb.rid = e.b
        LEFT JOIN rule_trust t ON t.rule = e.rule AND e.method = 'rule'
        ORDER BY c.comp, glue, e.rank, {by_records("ra", "rb")}
        """,
    )
    con.execute("DROP TABLE _cc")
    cuts: list[tuple] = []
    by_comp: dict[int, list[tuple]] = {}
    for row in edges:
        by_comp.setdefault(row[0], []).append(row)
    for comp_edges in by_comp.values():
        cuts += _glue_of(comp_edges)
    if not cuts:
        return 0
    _cut(con, cuts)
    return len(cuts)


def _cut(con: duckdb.DuckDBPyConnection, cuts: list[tuple]) -> None:
    """Record cut edges in `glue_cuts`, drop them from the live edges, recompute the
    components they were in."""
    insert_rows(con, "glue_cuts", cuts)
    con.execute(
        "DELETE FROM live_edges e WHERE EXISTS (SELECT 1 FROM glue_cuts g "
        "WHERE g.a = e.a AND g.b = e.b)"
    )
    split_components(con, sorted({rid for c in cuts for rid in c[:2]}))


# A record that contradicts the account its component reaches: the same checks as a
# suggestive pair's, of record r against the account's SOR record s (field, how it is named).
_ACCOUNT_CHECKS = (
    ("country", "country"),
    ("vat", "VAT number"),
    ("registration_number", "registration number"),
)


def _contradicting(sor: str, select: str, comps: str = "component") -> str:
    """SQL selecting `select` over each non-SOR record `r` whose component (in table `comps`)
    reaches one account (SOR record `s`, rid `acc.sor_rid`) that it contradicts."""
    differs = " OR ".join(f"r.{f} <> s.{f}" for f, _ in _ACCOUNT_CHECKS)
    return f"""
        WITH acc AS (
            SELECT c.comp, min(c.rid) AS sor_rid FROM {comps} c JOIN records r USING (rid)
            WHERE r.source = {sor} GROUP BY c.comp HAVING count(*) = 1
        )
        SELECT {select} FROM {comps} c JOIN acc USING (comp)
        JOIN records r ON r.rid = c.rid JOIN records s ON s.rid = acc.sor_rid
        WHERE r.source <> {sor} AND coalesce({differs}, false)
    """


def cut_contradictions(con: duckdb.DuckDBPyConnection, config: Config) -> int:
    """Cut the suggestive edges of records that contradict the account they reach.

    A suggestive edge is checked against the two records it joins; through a chain it may
    still hand a record to an account whose country, VAT or registration number is not its
    own (a lookalike in another country sharing a website with an org that has no country).
    Such a record's suggestive edges are cut (table `glue_cuts`, why 'contradicts account'),
    up to three rounds; what a stored reference, a VAT number or a score says stays."""
    sor = literal(config.accounts_sor)
    total = 0
    for _ in range(3):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _contra AS "
            + _contradicting(sor, "r.rid, s.id AS account")
        )
        cut = rows(
            con,
            """
            SELECT DISTINCT e.a, e.b, e.rule, e.evidence, [x.account]
            FROM live_edges e JOIN rule_trust t ON t.rule = e.rule AND t.trust = 'suggestive'
            JOIN _contra x ON x.rid IN (e.a, e.b)
            WHERE e.method = 'rule'
            ORDER BY ALL
            """,
        )
        con.execute("DROP TABLE _contra")
        if not cut:
            break
        _cut(con, cut)
        total += len(cut)
    _contradicted(con, config)
    return total


def _contradicted(
    con: duckdb.DuckDBPyConnection, config: Config, comps: str = "component", *, add: bool = False
) -> None:
    """Table `contradicted(rid, sor_rid, why)`: records that still contradict the account they
    reach (through a stored reference, a VAT number, a score): not published as linked — a
    reviewer decides (a `match` with the account's record settles it). `add`: insert the
    ones of `comps` into the table instead of replacing it."""
    sor = literal(config.accounts_sor)
    checks = " ".join(
        f"CASE WHEN coalesce(r.{f} <> s.{f}, false) THEN "
        f"'its {label} ' || r.{f} || ' is not the account''s (' || s.{f} || '); ' ELSE '' END ||"
        for f, label in _ACCOUNT_CHECKS
    )
    select = f"r.rid, acc.sor_rid, rtrim({checks} '', '; ') AS why"
    con.execute(
        f"""
        {"INSERT INTO contradicted" if add else "CREATE OR REPLACE TABLE contradicted AS"}
        {_contradicting(sor, select, comps)}
          -- a reviewer's match about the record and its account settles it
          AND NOT EXISTS (SELECT 1 FROM decision_pairs d WHERE d.decision = 'match'
                          AND d.a = least(r.rid, acc.sor_rid) AND d.b = greatest(r.rid, acc.sor_rid))
        """
    )


def _conflict_comps(sor: str) -> str:
    """SQL: the components holding two or more SOR records (`sor`: the quoted source name)."""
    return (
        f"SELECT c.comp FROM component c JOIN records r USING (rid) WHERE r.source = {sor} "
        "GROUP BY c.comp HAVING count(*) >= 2"
    )


class _Accounts:
    """Union-find over a conflict component's records that never joins two accounts."""

    def __init__(self, sor_ids: dict[int, str]) -> None:
        self.parent: dict[int, int] = {}
        self.account: dict[int, str | None] = dict(sor_ids)  # root -> its account

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, x: int, y: int) -> bool:
        """Join the sets of x and y; False (and nothing joined) when both hold an account."""
        rx, ry = self.find(x), self.find(y)
        if rx == ry:
            return True
        ax, ay = self.account.get(rx), self.account.get(ry)
        if ax is not None and ay is not None and ax != ay:
            return False
        self.parent[ry] = rx
        self.account[rx] = ax if ax is not None else ay
        return True


def _glue_of(comp_edges: list[tuple]) -> list[tuple]:
    """The suggestive edges of one conflict component that alone join two accounts (a small
    union-find over the component's edges; conflicts are few)."""
    sets = _Accounts(
        {
            node: node_id
            for _, a, b, _, _, _, _, a_sor, b_sor, a_id, b_id in comp_edges
            for node, is_sor, node_id in ((a, a_sor, a_id), (b, b_sor, b_id))
            if is_sor
        }
    )
    glue = [e for e in comp_edges if e[6]]
    for e in comp_edges:
        if not e[6] and not sets.union(e[1], e[2]):
            return []  # the conflict is not the glue's doing: a reviewer decides
    cuts = []
    for _, a, b, rule, evidence, _, _, _, _, _, _ in glue:
        ra, rb = sets.find(a), sets.find(b)
        accounts = sorted(x for x in (sets.account.get(ra), sets.account.get(rb)) if x is not None)
        if not sets.union(a, b):
            cuts.append((a, b, rule, evidence, accounts))
    return cuts


def _settle(con: duckdb.DuckDBPyConnection, config: Config) -> int:
    """A conflict holds only the records in dispute: tables `held(rid)` and `settled(rid, comp)`.

    In each conflict component the edges are united strongest first — reviewers' matches,
    identifying rules (in [rules] order), accepted scores (most probable first), suggestive
    rules — never joining two accounts. An edge that would is refused, and its non-SOR ends
    are *held*: in dispute, published as unresolved (`conflict`), its component's review item
    unchanged (a record a reviewer matched is not held: the reviewer decided it). `settled` is
    the components without the held records' edges: every other record of the conflict gets
    the one account its own evidence reaches, as in any component, or stays `conflict` when
    it reaches none without a held record. Only conflict components are recomputed (`settled`
    covers their records; every other record's settled component is its component); the
    edges kept are view `_kept_edges` (live edges less the held records'); `_conflicts` lists
    the conflict components.
    """
    sor = literal(config.accounts_sor)
    con.execute("CREATE OR REPLACE TABLE held (rid BIGINT)")
    con.execute("CREATE TABLE IF NOT EXISTS rule_trust (rule VARCHAR PRIMARY KEY, trust VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _conflicts AS {_conflict_comps(sor)}")
    edges = rows(
        con,
        f"""
        SELECT c.comp, e.a, e.b, e.method = 'review',
               CASE WHEN ra.source = {sor} THEN ra.id END, CASE WHEN rb.source = {sor} THEN rb.id END
        FROM live_edges e JOIN component c ON c.rid = e.a JOIN _conflicts USING (comp)
        JOIN records ra ON ra.rid = e.a JOIN records rb ON rb.rid = e.b
        LEFT JOIN rule_trust t ON t.rule = e.rule AND e.method = 'rule'
        ORDER BY c.comp,
                 CASE WHEN e.method = 'review' THEN 0
                      WHEN e.method = 'rule' AND t.trust = 'suggestive' THEN 3
                      WHEN e.method = 'rule' THEN 1 ELSE 2 END,
                 e.rank, e.probability DESC NULLS LAST, {by_records("ra", "rb")}
        """,
    )
    by_comp: dict[int, list[tuple]] = {}
    for row in edges:
        by_comp.setdefault(row[0], []).append(row[1:])
    held: set[int] = set()
    for comp_edges in by_comp.values():
        sor_ids = {n: i for a, b, _, ia, ib in comp_edges for n, i in ((a, ia), (b, ib)) if i}
        reviewed = {n for a, b, rv, _, _ in comp_edges if rv for n in (a, b)}
        sets = _Accounts(sor_ids)
        for a, b, _, _, _ in comp_edges:
            if not sets.union(a, b):
                held.update(n for n in (a, b) if n not in sor_ids and n not in reviewed)
    if held:
        insert_rows(con, "held", [(r,) for r in sorted(held)])
    con.execute(
        # Two anti joins: `h.rid IN (e.a, e.b)` in one subquery is a join on an OR, which
        # DuckDB runs as a nested loop (2.4 s at 660k edges and 3k held, not 0.1 s).
        "CREATE OR REPLACE TEMP VIEW _kept_edges AS SELECT e.* FROM live_edges e "
        "ANTI JOIN held ha ON ha.rid = e.a ANTI JOIN held hb ON hb.rid = e.b"
    )
    # Components of the conflicts' kept edges (min rids: never one of another component's ids).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _settled_edges AS SELECT k.* FROM _kept_edges k "
        "JOIN component c ON c.rid = k.a JOIN _conflicts USING (comp)"
    )
    components(con, "_settled_edges", "settled")
    return len(held)
