"""The state database's version: what `linker run` writes in `.linker/state.duckdb` beside its
tables, and what every later command checks before reading them.

A command reading a state that an older (or newer) linker wrote would find tables and columns
that are not what it expects and fail in the middle of its work; it stops at the door instead,
with the one thing to do: run again (the sources, decisions and publications are untouched —
the state is only the last run's working tables)."""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from importlib import metadata
from pathlib import Path

import duckdb

from linker.db import has_table, ident, literal, rows, scalar
from linker.errors import ConfigError

# Raise when a table or column the commands read changes meaning or shape; say why here.
# 1: the first versioned state (2026-11-30).
STATE_VERSION = 1
META_TABLE = "linker_state"
# Tables a run builds and reads itself that no later command reads: not saved with the state
# (what contacts say of each account record, the organizations' domains and the SOR's names
# the rules check pairs against, the pairs training labels). 1M trap data: 1.5M rows.
RUN_ONLY_TABLES = ("record_contacts", "sor_domains", "sor_names", "record_domains", "score_labels")


def write_meta(con: duckdb.DuckDBPyConnection, written_by: str) -> None:
    """The version table, in the (in-memory) database about to be saved as the state."""
    con.execute(
        f"CREATE OR REPLACE TABLE {META_TABLE} AS SELECT ?::INTEGER AS state_version, "
        "?::VARCHAR AS written_by, now()::VARCHAR AS written_at",
        [STATE_VERSION, written_by],
    )


def save(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Write the working (in-memory) database to a new database file at `path`: its schema
    (tables with their constraints, macros) in one statement, then its tables' rows on as
    many connections at once as DuckDB has threads, the largest tables first.

    The same file as `COPY FROM DATABASE memory TO ...` (which does both steps, a table at a
    time), in less time: DuckDB compresses a table under 122,880 rows (one row group) on one
    thread, and most of a small project's tables are that small (100k account records: 2.6 s
    on one core, 1.9 s on two; BENCHMARKS.md)."""
    con.execute(f"ATTACH {literal(str(path))} AS new_state")
    try:
        con.execute("COPY FROM DATABASE memory TO new_state (SCHEMA)")
        tables = rows(
            con,
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = 'memory' AND NOT temporary "
            "ORDER BY estimated_size * column_count DESC, schema_name, table_name",
        )
        workers = max(1, min(int(scalar(con, "SELECT current_setting('threads')")), len(tables)))
        # each worker takes the next table when it is done with one: the largest ones first
        queue = [f"{ident(s)}.{ident(t)}" for s, t in tables]
        lock = threading.Lock()
        errors: list[BaseException] = []
        cursors = [con.cursor() for _ in range(workers)]

        def work(cur: duckdb.DuckDBPyConnection) -> None:
            while not errors:
                with lock:
                    if not queue:
                        return
                    table = queue.pop(0)
                try:
                    cur.execute(f"INSERT INTO new_state.{table} SELECT * FROM memory.{table}")
                except BaseException as e:  # noqa: BLE001 - raised again in the caller
                    errors.append(e)

        threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in cursors]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        except BaseException:  # interrupted while waiting: stop the writers before leaving
            for c in cursors:
                c.interrupt()
            for t in threads:
                t.join()
            raise
        finally:
            for c in cursors:
                c.close()
        if errors:
            raise errors[0]
    finally:
        con.execute("DETACH new_state")


def check(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Stop with a clear message unless the state open on `con` is of this linker's version."""
    found = None
    if has_table(con, META_TABLE):
        found = rows(con, f"SELECT max(state_version) FROM {META_TABLE}")[0][0]
    if found == STATE_VERSION:
        return
    who = "an older linker" if found is None or found < STATE_VERSION else "a newer linker"
    raise ConfigError(
        f"the state was written by {who} (state version {found or 'none'}; this linker reads "
        f"version {STATE_VERSION})",
        file=str(path),
        hint="run `linker run` again to rebuild it (sources, decisions and publications are "
        "not touched)",
    )


@functools.cache
def engine_digest() -> str:
    """What a run's answer depends on besides its inputs (which the run id hashes): linker's
    own code and the versions of the libraries it runs on. A run reuses the last one's results
    only when this is the same (an upgrade, or a code change in a checkout, recomputes)."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    try:
        wanted = [r for r in metadata.requires("linker") or [] if "extra ==" not in r]
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        wanted = []
    for req in sorted(wanted):
        name = re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0]
        try:
            h.update(f"{name}={metadata.version(name)};".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name}=?;".encode())
    return h.hexdigest()[:16]
