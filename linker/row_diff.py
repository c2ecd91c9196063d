"""What changed in the sources since the last run, before anything is linked.

Each record's mapped row (its id, the fields linker.toml maps, its account link and its
references, as ingest read them) gets a 64-bit hash (`row_hashes`, saved with the state). The
next run compares its hashes with the state's, per source: records added, changed, removed and
unchanged. `linker run --dry-run` stops there.

DuckDB's `hash()` is fast (0.3 s for 2.2M records, where an md5 of the row's text took 4 s) but
is only stable within one DuckDB version: the state notes the version, and a run under
another one says the comparison cannot be made rather than calling every row changed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from linker.db import attached, columns, has_table, ident, rows
from linker.results import SinceLastRun, SourceChanges

NOT_HASHED = ("rid", "source_idx", "source", "entity", "_row")


def hash_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Table `row_hashes(source, id, hash)` from `raw_records` and `raw_refs` (ingest's)."""
    fields = [c for c in columns(con, "raw_records") if c not in NOT_HASHED]
    packed = ", ".join(f"{ident(c)} := r.{ident(c)}" for c in fields)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE row_hashes AS
        SELECT r.source, r.id, hash(struct_pack({packed}, refs := x.refs)) AS hash
        FROM raw_records r
        LEFT JOIN (SELECT rid, list((target, column_name, value) ORDER BY target, column_name, value) AS refs
                   FROM raw_refs GROUP BY rid) x USING (rid)
        """
    )


def hash_version() -> str:
    """What the hashes depend on besides the rows: DuckDB's hash function."""
    return f"duckdb {duckdb.__version__}"


def since_last_run(
    con: duckdb.DuckDBPyConnection, state_db: Path, sources: list[str]
) -> SinceLastRun:
    """Per source, how many records were added, changed, removed and unchanged since the run
    that wrote `state_db`; `compared` false (and why) when there is nothing to compare with."""
    if not state_db.exists():
        return {"compared": False, "why": "no previous run", "sources": {}}
    with attached(con, state_db, "_prev") as failed:
        if failed:
            why = f"the previous state could not be read: {failed}"
            return {"compared": False, "why": why, "sources": {}}
        if not has_table(con, "row_hashes", "_prev"):
            return {"compared": False, "why": "the previous run kept no row hashes", "sources": {}}
        found = rows(con, "SELECT value FROM _prev.meta WHERE key = 'row_hash'")
        then = found[0][0] if found else "another version"
        if then != hash_version():
            why = f"the previous run hashed rows with {then}, this one with {hash_version()}"
            return {"compared": False, "why": why, "sources": {}}
        counts: dict[str, SourceChanges] = {
            s: {"added": a, "changed": c, "removed": r, "unchanged": u}
            for s, a, c, r, u in rows(
                con,
                """
                SELECT coalesce(n.source, o.source) AS source,
                       count(*) FILTER (WHERE o.id IS NULL),
                       count(*) FILTER (WHERE o.id IS NOT NULL AND n.id IS NOT NULL
                                        AND o.hash <> n.hash),
                       count(*) FILTER (WHERE n.id IS NULL),
                       count(*) FILTER (WHERE o.hash = n.hash)
                FROM row_hashes n FULL JOIN _prev.row_hashes o
                  ON o.source = n.source AND o.id = n.id
                GROUP BY ALL
                """,
            )
        }
        zero: SourceChanges = {"added": 0, "changed": 0, "removed": 0, "unchanged": 0}
        return {
            "compared": True,
            "why": None,
            "sources": {s: counts.get(s, zero) for s in sorted({*sources, *counts})},
        }
