"""Connected components over an edge table, in DuckDB: hooking and pointer jumping (the
Shiloach-Vishkin scheme), so a long chain takes about log of its length in rounds — each round
one statement, which on a distributed engine is one job."""

from __future__ import annotations

import duckdb

from linker.db import scalar


def by_records(ra: str, rb: str) -> str:
    """ORDER BY terms that place an edge by its two records' (source_idx, id) — what a record
    is — not by their rids (a numbering; `ra`, `rb`: aliases of the two `records` rows). A
    choice among equals made in this order is the same however the records are numbered (a
    run that keeps the last run's numbering, an engine that numbers in parallel). With
    ingest's numbering, in (source_idx, id) order, it is the order of (a, b)."""
    ka, kb = (f"row({r}.source_idx, {r}.id)" for r in (ra, rb))
    return f"least({ka}, {kb}), greatest({ka}, {kb})"


def components(
    con: duckdb.DuckDBPyConnection, edges: str = "live_edges", out: str = "component"
) -> int:
    """Table `out(rid, comp)` for the records of `edges(a, b, ...)`; comp is the smallest rid of
    the component. Returns the number of rounds: one statement each (and a count), about log
    of the longest chain — 11 for a shuffled chain of 5,000 records.

    Each record's label is a record of its component. A round, in one statement: every record
    takes the smallest label among its neighbours', and so does the record its label names
    (hooking a whole tree of labels at once, not one record per round); then each record takes
    its new label's label (one pointer jump: the depth of the label trees halves). Labels only
    decrease and stay inside the component; when a round changes none, every record's label is
    its neighbours' and its label's own, so one label per component: its smallest rid."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _nb AS SELECT a AS v, b AS u FROM {edges} "
        f"UNION ALL SELECT b, a FROM {edges}"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {out} AS SELECT v AS rid, min(least(v, u)) AS comp FROM _nb GROUP BY v"
    )
    rounds = 0
    while True:
        rounds += 1
        con.execute(
            f"""
            CREATE OR REPLACE TABLE _next AS
            WITH seen AS (
                SELECT c.rid, c.comp, min(nc.comp) AS m FROM {out} c
                JOIN _nb n ON n.v = c.rid JOIN {out} nc ON nc.rid = n.u GROUP BY c.rid, c.comp
            ), hook AS (
                SELECT comp AS rid, min(m) AS m FROM seen WHERE m < comp GROUP BY comp
            ), hooked AS (
                SELECT s.rid, least(s.comp, s.m, coalesce(h.m, s.comp)) AS comp
                FROM seen s LEFT JOIN hook h USING (rid)
            )
            SELECT n.rid, p.comp FROM hooked n JOIN hooked p ON p.rid = n.comp
            """
        )
        changed = scalar(
            con, f"SELECT count(*) FROM _next n JOIN {out} c USING (rid) WHERE n.comp <> c.comp"
        )
        con.execute(f"DROP TABLE {out}")
        con.execute(f"ALTER TABLE _next RENAME TO {out}")
        if not changed:
            break
    con.execute("DROP TABLE _nb")
    return rounds


def extend_components(con: duckdb.DuckDBPyConnection, new_edges: str, out: str) -> None:
    """`out(rid, comp)`, made by `components` over some edges, updated for `new_edges` (SQL
    selecting a, b) added to them: the new edges between labels are a small graph whose
    components merge labels (a record new to `out` is its own label first). Same table as
    `components` over all the edges, at the cost of the new ones."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS SELECT a, b FROM ({new_edges})")
    con.execute(
        f"INSERT INTO {out} SELECT DISTINCT v, v FROM "
        "(SELECT a AS v FROM _new UNION ALL SELECT b FROM _new) "
        f"ANTI JOIN {out} o ON o.rid = v"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _new_labels AS
        SELECT DISTINCT la.comp AS a, lb.comp AS b FROM _new n
        JOIN {out} la ON la.rid = n.a JOIN {out} lb ON lb.rid = n.b WHERE la.comp <> lb.comp
        """
    )
    components(con, "_new_labels", "_merged")
    con.execute(
        f"UPDATE {out} SET comp = m.comp FROM _merged m WHERE {out}.comp = m.rid AND m.comp <> m.rid"
    )
    for t in ("_new", "_new_labels", "_merged"):
        con.execute(f"DROP TABLE {t}")


def split_components(
    con: duckdb.DuckDBPyConnection,
    rids: list[int],
    edges: str = "live_edges",
    out: str = "component",
) -> None:
    """`out(rid, comp)` updated after edges between `rids` were removed from `edges`: the
    components that held one of them are computed again from their remaining edges (a record
    left with none leaves `out`, as in `components`); the others stay as they are."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _split AS SELECT DISTINCT comp FROM {out} "
        "WHERE rid IN (SELECT unnest(?))",
        [rids],
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _split_edges AS SELECT e.a, e.b FROM {edges} e "
        f"JOIN {out} c ON c.rid = e.a SEMI JOIN _split s ON s.comp = c.comp"
    )
    components(con, "_split_edges", "_split_out")
    con.execute(f"DELETE FROM {out} WHERE comp IN (SELECT comp FROM _split)")
    con.execute(f"INSERT INTO {out} SELECT rid, comp FROM _split_out")
    for t in ("_split", "_split_edges", "_split_out"):
        con.execute(f"DROP TABLE {t}")
