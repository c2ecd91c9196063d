"""The state file a run writes (linker.state.save: the schema in one statement, the tables'
rows on several connections at once) holds what `COPY FROM DATABASE` would: the same tables
with their constraints, the same macros, the same rows in the same order."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from linker import state
from linker.db import connect
from linker.project import Project

from .conftest import load_benchmark, write_tiny

# the benchmark's check: the same tables (with constraints), macros and rows in the same order
same_files = load_benchmark("state_save").same_files


def _both(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> tuple[Path, Path]:
    copied, saved = tmp_path / "copied.duckdb", tmp_path / "saved.duckdb"
    con.execute(f"ATTACH '{copied}' AS c")
    con.execute("COPY FROM DATABASE memory TO c")
    con.execute("DETACH c")
    state.save(con, saved)
    return copied, saved


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_saved_state_is_what_copy_from_database_writes(tmp_path, threads):
    con = connect(threads=threads)
    con.execute("CREATE MACRO twice(x) AS x || x")
    con.execute("CREATE SCHEMA src")
    # larger than a row group (122,880 rows), with lists, NULLs and a constraint
    con.execute("CREATE TABLE big (rid BIGINT NOT NULL, name VARCHAR, tags VARCHAR[], p DOUBLE)")
    con.execute(
        "INSERT INTO big SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE twice(i::VARCHAR) END, "
        "[i::VARCHAR, (i % 13)::VARCHAR], i / 3 FROM range(300000) t(i) ORDER BY hash(i)"
    )
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('a', '1'), ('b', NULL)")
    con.execute("CREATE TABLE src.crm AS SELECT i AS _row, 'n' || i AS name FROM range(5000) t(i)")
    con.execute("CREATE TABLE empty (x INTEGER)")
    con.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS y")  # a run's own: not saved
    copied, saved = _both(con, tmp_path)
    assert same_files(copied, saved) == 4
    check = duckdb.connect(str(saved))
    assert check.execute("SELECT twice('ab')").fetchone() == ("abab",)
    with pytest.raises(duckdb.ConstraintException):  # the key came along
        check.execute("INSERT INTO meta VALUES ('a', '2')")


def test_a_runs_state_saved_is_what_copy_from_database_writes(tmp_path):
    root = write_tiny(tmp_path / "p")
    Project(root).run()
    # the run's own save kept what later commands rely on: macros and constraints
    written = duckdb.connect(str(root / ".linker" / "state.duckdb"), read_only=True)
    assert written.execute("SELECT norm_text('Ça  Va!')").fetchone() == ("ca va",)
    ddl = dict(written.execute("SELECT table_name, sql FROM duckdb_tables()").fetchall())
    assert "PRIMARY KEY" in ddl["meta"] and "NOT NULL" in ddl["edges"]
    written.close()
    con = connect()
    con.execute(f"ATTACH '{root / '.linker' / 'state.duckdb'}' AS st (READ_ONLY)")
    con.execute("COPY FROM DATABASE st TO memory")
    con.execute("DETACH st")
    copied, saved = _both(con, tmp_path)
    assert same_files(copied, saved) >= 20


def test_a_state_that_cannot_be_written_says_so_and_leaves_the_database_usable(tmp_path):
    con = connect()
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    with pytest.raises(duckdb.Error):
        state.save(con, tmp_path / "no such directory" / "state.duckdb")
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
    state.save(con, tmp_path / "state.duckdb")  # and a later save works
    assert duckdb.connect(str(tmp_path / "state.duckdb")).execute("FROM t").fetchall() == [(1,)]
