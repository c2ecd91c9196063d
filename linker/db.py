"""The DuckDB connection and the few helpers every stage shares.

Data values never become SQL text: statements are built only from identifiers (quoted here)
and the user's own config (filters, queries, rule `where` clauses); values travel as
parameters or stay inside DuckDB tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa


def ident(name: str) -> str:
    """Quote an identifier (column, table) for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a config-provided string (a file path) as a SQL literal. Never used for data."""
    return "'" + text.replace("'", "''") + "'"


def connect(path: Path | None = None, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path) if path else ":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    # Row order of every result we rely on is forced by ORDER BY; this lets DuckDB stream.
    con.execute("SET preserve_insertion_order = true")
    return con


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
    """Insert Python rows into an existing table in one statement (through Arrow):
    executemany costs about a millisecond a row."""
    if not data:
        return
    cols = columns(con, table)
    arrays = {f"c{i}": pa.array(list(col)) for i, col in enumerate(zip(*data, strict=True))}
    if len(arrays) != len(cols):
        raise ValueError(f"{table} has {len(cols)} columns, the rows {len(arrays)}")
    con.register("_insert_rows", pa.table(arrays))
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _insert_rows")
    finally:
        con.unregister("_insert_rows")


def columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type name of a table, in table order."""
    return {r[0]: r[1] for r in rows(con, f"DESCRIBE {table}")}
