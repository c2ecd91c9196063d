"""Where a run's false links come from: by source, method and rule, and by trap.

Reads the state of the last ``linker run`` (PROJECT/.linker/state.duckdb, table
``account_result``: one row per account record with its account_id, method and rule) and
``contact_result``, joined with the truth (``--truth``, default PROJECT/truth.csv) and, for a
data set of benchmarks/datasets.py, PROJECT/kinds.csv (what each account record is and how its
company got its name). A false link is a record given an account id that is not its true one:
``wrong account`` when it has a true account, ``no account`` when it has none (a non-customer,
or a record of a deleted account).

    python benchmarks/false_links.py PROJECT [--truth FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

import duckdb


def _table(con: duckdb.DuckDBPyConnection, sql: str, params=()) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def false_links(project: Path, truth: Path | None = None) -> dict:
    """The false links of the project's last run, counted several ways (lists of rows)."""
    truth = truth or project / "truth.csv"
    con = duckdb.connect()
    con.execute("ATTACH ? AS state (READ_ONLY)", [str(project / ".linker" / "state.duckdb")])
    con.execute(
        "CREATE TEMP TABLE truth AS SELECT source, source_record_id AS id, "
        "coalesce(account_id, '') AS account, coalesce(user_id, '') AS user_id "
        "FROM read_csv(?, all_varchar = true)",
        [str(truth)],
    )
    kinds = project / "kinds.csv"
    if kinds.exists():
        con.execute(
            "CREATE TEMP TABLE kinds AS SELECT source, source_record_id AS id, record, company "
            "FROM read_csv(?, all_varchar = true)",
            [str(kinds)],
        )
    else:
        con.execute(
            "CREATE TEMP TABLE kinds (source VARCHAR, id VARCHAR, record VARCHAR, company VARCHAR)"
        )
    con.execute(
        """
        CREATE TEMP TABLE links AS
        SELECT r.source, r.id, r.account_id, r.method, coalesce(r.rule, '') AS rule,
               t.account AS true_account,
               CASE WHEN t.account = r.account_id THEN 'right'
                    WHEN t.account = '' THEN 'no account' ELSE 'wrong account' END AS verdict,
               coalesce(k.record, '') AS record, coalesce(k.company, '') AS company
        FROM state.account_result r
        JOIN truth t ON t.source = r.source AND t.id = r.id
        LEFT JOIN kinds k ON k.source = r.source AND k.id = r.id
        WHERE r.account_id IS NOT NULL AND r.method <> 'sor'
        """
    )
    by_source = _table(
        con,
        "SELECT source, count(*) AS linked, count(*) FILTER (verdict <> 'right') AS false, "
        "round(1 - count(*) FILTER (verdict <> 'right') / count(*), 4) AS precision "
        "FROM links GROUP BY ALL ORDER BY source",
    )
    by_rule = _table(
        con,
        "SELECT source, method, rule, count(*) AS linked, "
        "count(*) FILTER (verdict = 'wrong account') AS wrong_account, "
        "count(*) FILTER (verdict = 'no account') AS no_account, "
        "round(count(*) FILTER (verdict <> 'right') / count(*), 4) AS false_share "
        "FROM links GROUP BY ALL ORDER BY source, method, rule",
    )
    by_trap = _table(
        con,
        "SELECT source, rule, record, company, verdict, count(*) AS n FROM links "
        "WHERE verdict <> 'right' GROUP BY ALL ORDER BY n DESC, source, rule, record, company",
    )
    project_cfg = tomllib.loads((project / "linker.toml").read_text("utf-8"))["project"]
    contacts = _table(
        con,
        """
        SELECT c.source, coalesce(c.account_via, '') AS account_via, count(*) AS linked,
               count(*) FILTER (t.account <> c.account_id AND t.account <> '') AS wrong_account,
               count(*) FILTER (t.account = '') AS no_account
        FROM state.contact_result c JOIN truth t ON t.source = c.source AND t.id = c.id
        WHERE c.account_id IS NOT NULL AND c.source IS DISTINCT FROM ?
        GROUP BY ALL ORDER BY c.source, account_via
        """,
        [project_cfg.get("contacts_sor")],
    )
    return {"by_source": by_source, "by_rule": by_rule, "by_trap": by_trap, "contacts": contacts}


def _print(title: str, rows: list[dict], limit: int | None = None) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (none)")
        return
    columns = list(rows[0])
    shown = rows[:limit] if limit else rows
    widths = [max(len(c), *(len(str(r[c])) for r in shown)) for c in columns]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in shown:
        print("  " + "  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))
    if limit and len(rows) > limit:
        print(f"  ... {len(rows) - limit} more")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--truth", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = false_links(args.project, args.truth)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    _print("accounts, per source (non-SOR records given an account id)", result["by_source"])
    _print("accounts, per source, method and rule", result["by_rule"])
    _print("false account links, per rule and trap (kinds.csv)", result["by_trap"], limit=40)
    _print("contacts given an account id, per account_via", result["contacts"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
