"""The DuckDB connection and the few helpers every stage shares.

Data values never become SQL text: statements are built only from identifiers (quoted here)
and the user's own config (filters, queries, rule `where` clauses); values travel as
parameters or stay inside DuckDB tables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb


def ident(name: str) -> str:
    """Quote an identifier (column, table) for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a config-provided string (a file path) as a SQL literal. Never used for data."""
    return "'" + text.replace("'", "''") + "'"


def one_expression(text: str) -> str:
    """`text` if it parses as exactly one SQL expression (a filter, a rule's `where`, a
    blocking condition), else ValueError with DuckDB's reason. Config SQL is code, but code
    of one shape: `x = 1); COPY ... TO ...; SELECT (1` is not a condition."""
    try:
        duckdb.SQLExpression(text)
    except duckdb.Error as e:
        raise ValueError(_first_line(e)) from None
    return text


def one_select(text: str) -> str:
    """`text` if it is exactly one SELECT statement (a `query` source), else ValueError."""
    con = duckdb.connect()
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as e:
        raise ValueError(_first_line(e)) from None
    finally:
        con.close()
    if len(statements) != 1:
        raise ValueError(f"expected one SELECT statement, found {len(statements)} statements")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise ValueError(f"expected a SELECT statement, found {statements[0].type.name}")
    return text


def _first_line(e: BaseException) -> str:
    return next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)


def connect(
    path: Path | None = None,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_dir: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never downloads or loads an extension by itself (a `query`
    naming https:// fails clearly instead of installing httpfs); `memory_limit` bounds DuckDB's
    memory ([engine] memory_limit), beyond which it spills to `temp_dir`."""
    con = duckdb.connect(
        str(path) if path else ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    # Row order of every result we rely on is forced by ORDER BY; this lets DuckDB stream.
    con.execute("SET preserve_insertion_order = true")
    if memory_limit:
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
    if temp_dir is not None:
        con.execute(f"SET temp_directory = {literal(str(temp_dir))}")
    return con


def lock_down(con: duckdb.DuckDBPyConnection, writable: Iterable[Path] = ()) -> None:
    """After the sources are read, SQL from the config (rules' `where`, blocking) runs with no
    file or network access, no ATTACH and no INSTALL but in `writable` (the state directory):
    DuckDB's own settings, locked so no statement can lift them."""
    dirs = ", ".join(literal(str(Path(d).resolve()) + "/") for d in writable)
    con.execute(f"SET allowed_directories = [{dirs}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def has_table(con: duckdb.DuckDBPyConnection, name: str, database: str | None = None) -> bool:
    """Whether the database (any attached one, or `database`) holds a table of this name (an
    older state may lack one)."""
    where = "" if database is None else " AND database_name = ?"
    params = [name] if database is None else [name, database]
    return bool(
        rows(con, f"SELECT 1 FROM duckdb_tables() WHERE table_name = ?{where} LIMIT 1", params)
    )


@contextlib.contextmanager
def attached(con: duckdb.DuckDBPyConnection, path: Path | None, alias: str) -> Iterator[str | None]:
    """`path` (a DuckDB file, typically the last run's state) attached read-only as `alias`
    for the block, which gets None; or why it could not be (none given, missing, held by
    another process, not a database), and nothing attached."""
    if path is None or not path.exists():
        yield "no such file"
        return
    try:
        con.execute(f"ATTACH {literal(str(path))} AS {ident(alias)} (READ_ONLY)")
    except duckdb.Error as e:
        yield str(e).splitlines()[0][:160]
        return
    try:
        yield None
    finally:
        con.execute(f"DETACH {ident(alias)}")


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple]:
    """Run a query and fetch all rows (drains the result so the connection stays free)."""
    return con.execute(sql, params or []).fetchall()


def arrow(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None):
    """Run a query and return a fully materialized pyarrow Table."""
    return con.sql(sql, params=params or None).to_arrow_table()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    r = con.execute(sql, params or []).fetchone()
    return None if r is None else r[0]


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, data: list[tuple]) -> None:
    """Insert Python rows into an existing table in one statement, a list parameter per
    column unnested side by side (executemany costs about a millisecond a row; pyarrow's
    conversion of Python lists imports pandas, 0.2 s that a `linker publish` felt)."""
    if not data:
        return
    cols = columns(con, table)
    values = [list(col) for col in zip(*data, strict=True)]
    if len(values) != len(cols):
        raise ValueError(f"{table} has {len(cols)} columns, the rows {len(values)}")
    unnested = ", ".join(f"unnest(${i + 1}::{t}[])" for i, t in enumerate(cols.values()))
    con.execute(f"INSERT INTO {table} SELECT {unnested}", values)


def columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type name of a table, in table order."""
    return {r[0]: r[1] for r in rows(con, f"DESCRIBE {table}")}
