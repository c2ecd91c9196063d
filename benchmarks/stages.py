"""Two stages of linker against their floor, in one process: normalize and the rules.

    python benchmarks/stages.py --accounts 450000      # about 1M records (accounts + contacts)

On a data set of benchmarks/datasets.py, in one DuckDB connection:

- **normalize**: seconds for all records, and per million records (target: 1M in 10 s);
- **rules**: linker's account rules (`rules.run_account_rules`: ref, VAT, registration,
  email, domain, name + country, with hub and ambiguous keys removed and components per rule)
  against the floor DuckDB sets for the same work: for each rule, one bare hash self-join of
  the records on its key (`a.key = b.key AND a.rid < b.rid`, pairs counted), and the ref
  join. The ratio says how close the rule stage is to DuckDB's hash-join speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=450_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    import datasets

    from linker import Project, normalize, rules
    from linker.db import connect, scalar
    from linker.ingest import Ingestor

    project = Project(datasets.ensure(args.accounts, args.seed))
    cfg = project.config
    con = connect()
    t0 = time.perf_counter()
    Ingestor(con, cfg).load_all()
    t_ingest = time.perf_counter() - t0
    n = scalar(con, "SELECT count(*) FROM raw_records")
    t0 = time.perf_counter()
    normalize.normalize(con, [])
    t_norm = time.perf_counter() - t0

    # The floor: one hash self-join per rule key, pairs counted (no hubs, no components).
    acc_rules, _ = rules.ordered_rules(cfg, normalize.canonical_fields([]))
    t0 = time.perf_counter()
    pairs = 0
    for r in acc_rules:
        if r.kind == "ref":
            pairs += scalar(
                con,
                "SELECT count(*) FROM raw_refs x JOIN records t "
                "ON t.source = x.target AND t.id = x.value",
            )
            continue
        keys = ", ".join(
            f"unnest({f}) AS k{i}" if f == "domain" else f"{f} AS k{i}"
            for i, f in enumerate(r.equal)
        )
        on = " AND ".join(f"a.k{i} = b.k{i}" for i in range(len(r.equal)))
        notnull = " AND ".join(f"{f} IS NOT NULL" for f in r.equal)
        pairs += scalar(
            con,
            f"WITH k AS (SELECT rid, {keys} FROM records WHERE entity = 'accounts' AND {notnull}) "
            f"SELECT count(*) FROM k a JOIN k b ON {on} AND a.rid < b.rid",
        )
    t_floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    rules.run_account_rules(con, cfg, acc_rules)
    t_rules = time.perf_counter() - t0
    edges = scalar(con, "SELECT count(*) FROM edges")

    print(f"{n:,} records ({args.accounts:,} account records), {len(acc_rules)} account rules")
    print(f"ingest      {t_ingest:6.2f} s")
    print(f"normalize   {t_norm:6.2f} s   = {t_norm / n * 1e6:.2f} s per million records")
    print(f"rules floor {t_floor:6.2f} s   bare hash self-joins on each rule key ({pairs:,} pairs)")
    print(f"rules       {t_rules:6.2f} s   linker's rule stage ({edges:,} edges)")
    print(f"ratio rules / floor: {t_rules / t_floor:.2f}")


if __name__ == "__main__":
    main()
