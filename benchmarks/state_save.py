"""The state save against `COPY FROM DATABASE`, in one process, on a run's own state.

    python benchmarks/state_save.py --project DIR [--rounds 3]

Loads DIR's `.linker/state.duckdb` (run `linker run -p DIR` first) into an in-memory database,
as a run holds its tables before saving them, then alternately writes it with DuckDB's
`COPY FROM DATABASE memory TO ...` (the save until 2026-11-30) and with `linker.state.save`
(schema first, then the tables' rows on several connections), each into a fresh file in a
temporary directory. Prints each round's seconds and the files' sizes, then checks that the two
files hold the same tables, macros and rows in the same order. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from linker import state  # noqa: E402
from linker.db import literal  # noqa: E402


def _copy(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(f"ATTACH {literal(str(path))} AS new_state")
    con.execute("COPY FROM DATABASE memory TO new_state")
    con.execute("DETACH new_state")


TABLES = "SELECT schema_name, table_name, sql FROM duckdb_tables() ORDER BY ALL"
MACROS = (
    "SELECT schema_name, function_name, macro_definition FROM duckdb_functions() "
    "WHERE function_type = 'macro' AND NOT internal ORDER BY ALL"
)


def same_files(a: Path, b: Path) -> int:
    """Assert two database files hold the same tables (with their constraints), macros and
    rows in the same order; the number of tables."""
    ca, cb = duckdb.connect(str(a), read_only=True), duckdb.connect(str(b), read_only=True)
    try:
        tables = ca.execute(TABLES).fetchall()
        assert tables == cb.execute(TABLES).fetchall(), "the tables' definitions differ"
        assert ca.execute(MACROS).fetchall() == cb.execute(MACROS).fetchall(), "macros differ"
        for schema, table, _ in tables:
            sql = f'FROM "{schema}"."{table}"'
            assert ca.sql(sql).to_arrow_table().equals(cb.sql(sql).to_arrow_table()), table
        return len(tables)
    finally:
        ca.close()
        cb.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    src = args.project / ".linker" / "state.duckdb"
    if not src.exists():
        sys.exit(f"{src}: no state; run `linker run -p {args.project}` first")
    con = duckdb.connect()
    con.execute(f"ATTACH {literal(str(src))} AS st (READ_ONLY)")
    con.execute("COPY FROM DATABASE st TO memory")
    con.execute("DETACH st")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]  # type: ignore[index]
    out: dict = {"state": str(src), "threads": threads, "copy_s": [], "save_s": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            files = {}
            for how, fn in (("copy", _copy), ("save", state.save)):
                path = Path(tmp) / f"{how}{i}.duckdb"
                t0 = time.perf_counter()
                fn(con, path)
                out[f"{how}_s"].append(round(time.perf_counter() - t0, 2))
                files[how] = path
            print(
                f"round {i + 1}: COPY FROM DATABASE {out['copy_s'][-1]:.2f} s "
                f"({files['copy'].stat().st_size / 2**20:.0f} MB), state.save "
                f"{out['save_s'][-1]:.2f} s ({files['save'].stat().st_size / 2**20:.0f} MB)",
                flush=True,
            )
        out["tables_identical"] = same_files(files["copy"], files["save"])
    print(f"the same {out['tables_identical']} tables, rows in the same order")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
