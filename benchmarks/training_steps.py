"""Where a first run's training goes: Splink's steps and linker's, timed in one process.

    python benchmarks/training_steps.py --project DIR     # a project (linker.toml, data/)
    python benchmarks/training_steps.py --accounts 100000  # or a data set of benchmarks/datasets.py

On a copy of the project without its model.json or state (the project itself is not touched),
`linker run --full` in this process, so that it trains; printed: the run's stage times, then
each training step (building Splink's inputs, u by random sampling, m from label pairs, the
prior's prediction over every candidate pair, the prior's EM) and the slowest SQL statements
Splink ran, and as the last line one JSON object of the steps. Alternate two checkouts with
PYTHONPATH to compare code in one sitting: whole runs on a 2-core machine vary by ±10 %, the
steps much less.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _timed(owner, name: str, out: list, label: str | None = None) -> None:
    """Replace `owner.name` by a wrapper that appends (label, seconds) to `out`."""
    fn = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            out.append((label or name, time.perf_counter() - t0))

    setattr(owner, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--statements", type=int, default=6, help="slowest Splink statements shown")
    args = ap.parse_args()
    if args.project is None:
        sys.path.insert(0, str(HERE))
        import datasets

        args.project = datasets.ensure(args.accounts, args.seed)

    from splink.internals.duckdb.database_api import DuckDBAPI
    from splink.internals.linker_components.inference import LinkerInference
    from splink.internals.linker_components.training import LinkerTraining

    import linker.scoring.training as training
    from linker import Project

    steps: list[tuple[str, float]] = []
    statements: list[tuple[str, float]] = []
    _timed(training, "prepare", steps, "build Splink's inputs")
    _timed(LinkerTraining, "estimate_u_using_random_sampling", steps, "u by random sampling")
    _timed(LinkerTraining, "estimate_m_from_pairwise_labels", steps, "m from label pairs")
    _timed(LinkerInference, "predict", steps, "prediction (the prior's)")
    _timed(training, "_prior_by_em", steps, "the prior's EM")
    run_sql = DuckDBAPI._execute_sql_against_backend

    def sql_timed(self, final_sql, *a, **kw):
        t0 = time.perf_counter()
        try:
            return run_sql(self, final_sql, *a, **kw)
        finally:
            statements.append((re.sub(r"\s+", " ", final_sql)[:110], time.perf_counter() - t0))

    DuckDBAPI._execute_sql_against_backend = sql_timed  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "p"
        shutil.copytree(
            args.project, copy, ignore=shutil.ignore_patterns(".linker", "crosswalk", "model.json")
        )
        t0 = time.perf_counter()
        result = Project(copy).run(full=True)
        total = time.perf_counter() - t0
    print(f"run {total:.1f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()))
    for label, s in steps:
        print(f"  {label:32s} {s:7.2f} s")
    print("slowest Splink statements:")
    for sql, s in sorted(statements, key=lambda x: -x[1])[: args.statements]:
        print(f"  {s:7.2f} s  {sql}")
    print(json.dumps({"run_s": round(total, 2), "steps": [[k, round(v, 2)] for k, v in steps]}))


if __name__ == "__main__":
    main()
