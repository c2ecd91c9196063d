"""Connected components over an edge table, in DuckDB (label propagation + pointer jumping)."""

from __future__ import annotations

import duckdb

from linker.db import scalar


def components(
    con: duckdb.DuckDBPyConnection, edges: str = "live_edges", out: str = "component"
) -> int:
    """Table `out(rid, comp)` for the records of `edges(a, b, ...)`; comp is the smallest rid of
    the component. Returns the number of rounds (about log of the longest chain)."""
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
            f"CREATE OR REPLACE TABLE _next AS SELECT c.rid, least(c.comp, min(nc.comp)) AS comp "
            f"FROM {out} c JOIN _nb n ON n.v = c.rid JOIN {out} nc ON nc.rid = n.u GROUP BY c.rid, c.comp"
        )
        # Pointer jumping: a label is itself a member; take its label too.
        con.execute(
            "CREATE OR REPLACE TABLE _next AS SELECT n.rid, least(n.comp, p.comp) AS comp "
            "FROM _next n JOIN _next p ON p.rid = n.comp"
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
