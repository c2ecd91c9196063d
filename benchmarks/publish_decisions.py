"""A publish after review against the full run it follows, side by side in one invocation.

    python benchmarks/publish_decisions.py --project benchmarks/.data/acme-1000000-seed1-<v>
        [--decisions 1 10 100]

On a copy of the project (linker.toml and model.json copied if there, data/ linked):

1. `linker run --publish`, measured: the full run (with the project's model.json it does not
   train; without one it trains first, unmeasured, so the measured run reuses the model).
2. For each N in --decisions: N reviewers' decisions on queued pairs (the first N items,
   match and no_match in turn) appended to a fresh copy of that state, then `linker publish`
   (it resolves the components the decisions touch) and, on a twin copy, `linker publish
   --full` (everything again), both measured; their crosswalk files compared byte for byte.

Wall time and peak RSS as compare.py measures them (the process tree, /proc every 20 ms).
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import LINKER, copy_project, run_measured  # noqa: E402
from kill_publish import queue_pairs  # noqa: E402

FILES = ("accounts.parquet", "contacts.parquet", "accounts_wide.parquet", "changes.parquet")


def queued_pairs(project: Path, n: int) -> list[dict]:
    """Decisions on the first n queued pairs, match and no_match in turn."""
    return [
        {
            "left": left,
            "right": right,
            "decision": "match" if i % 2 == 0 else "no_match",
            "reviewer": "bench",
            "at": "2026-11-30T10:00:00Z",
            "note": "",
        }
        for i, (left, right) in enumerate(queue_pairs(project)[:n])
    ]


def measured_base(project: Path, work: Path) -> tuple[Path, dict]:
    """A copy of `project` in `work` (its model.json copied, or one trained, unmeasured) and
    its full run, `linker run --publish`, measured and printed."""
    base = copy_project(project, work / "base")
    if (project / "model.json").exists():
        shutil.copy(project / "model.json", base / "model.json")
    else:
        run_measured([str(LINKER), "train", "-p", str(base), "-q"])
    full_run = run_measured([str(LINKER), "run", "--publish", "-p", str(base), "-q"])
    print(
        f"full run (model reused): {full_run['seconds']:.1f} s, {full_run['peak_rss_mb']:,.0f} MB",
        flush=True,
    )
    return base, full_run


def print_result(full_run: dict, **measured: list) -> None:
    """The last line: the full run's figures and what was measured against it, as JSON."""
    print(
        json.dumps(
            {
                "full_run_s": round(full_run["seconds"], 2),
                "full_run_peak_rss_mb": round(full_run["peak_rss_mb"]),
                **measured,
            }
        )
    )


def same_files(a: Path, b: Path) -> bool:
    """Whether two projects' publications hold the same crosswalk files, byte for byte."""
    return all(
        (a / "crosswalk" / f).read_bytes() == (b / "crosswalk" / f).read_bytes() for f in FILES
    )


def side_by_side(
    command: list[str],
    copies: list[Path],
    full_run: dict,
    name: str,
    full_name: str,
    full_flags: tuple[str, ...] = ("--full",),
) -> tuple[dict, dict]:
    """`linker COMMAND… --json` on the first of two twin projects and the same with `--full`
    (`full_flags`) on the second, both measured, their crosswalk files compared: the figures of
    a row (keys `NAME_s`, `FULL_NAME_s`, … and the share of `full_run`), and the first one's
    report."""
    measured = []
    for project, extra in zip(copies, ([], list(full_flags)), strict=True):
        m = run_measured([str(LINKER), *command, "-p", str(project), "--json", *extra])
        measured.append((m, json.loads(m["stdout"])))
    (inc, rep), (full, _) = measured
    return {
        f"{name}_s": round(inc["seconds"], 2),
        f"{name}_peak_rss_mb": round(inc["peak_rss_mb"]),
        "share_of_full_run": round(inc["seconds"] / full_run["seconds"], 4),
        f"{full_name}_s": round(full["seconds"], 2),
        f"{full_name}_peak_rss_mb": round(full["peak_rss_mb"]),
        "identical": same_files(*copies),
        "stages": rep.get("timings"),
    }, rep


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--decisions", type=int, nargs="+", default=[1, 10, 100])
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="linker-publish-bench-"))
    try:
        base, full_run = measured_base(args.project, work)
        rows = []
        for n in args.decisions:
            copies = []
            for name in ("touched", "full"):
                dst = work / f"{name}-{n}"
                shutil.copytree(base, dst, symlinks=True)
                with open(dst / "decisions.jsonl", "a", encoding="utf-8") as fh:
                    fh.writelines(json.dumps(d) + "\n" for d in queued_pairs(base, n))
                copies.append(dst)
            figures, inc_rep = side_by_side(
                ["publish"], copies, full_run, "publish", "publish_full"
            )
            resolved = inc_rep.get("resolved", {})
            rows.append(
                {
                    "decisions": n,
                    "records_resolved_again": resolved.get("records"),
                    "account_records": resolved.get("of"),
                    "contacts_resolved_again": resolved.get("contacts"),
                    **figures,
                }
            )
            r = rows[-1]
            print(
                f"{n:>5} decisions: {r['records_resolved_again']:,} of {r['account_records']:,} "
                f"account records resolved again; publish {r['publish_s']} s "
                f"({100 * r['share_of_full_run']:.1f} % of the run), {r['publish_peak_rss_mb']:,} MB; "
                f"publish --full {r['publish_full_s']} s; identical: {r['identical']}",
                flush=True,
            )
            for c in copies:
                shutil.rmtree(c)
        print_result(full_run, publishes=rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
