"""A run after a small change to the sources, against the full run, side by side (issue 17).

    python benchmarks/source_changes.py --project benchmarks/.data/acme-1000000-seed1-<v>
        [--shares 0.001 0.01] [--seed 1]

On a copy of the project (linker.toml and model.json copied, data/ linked; without a
model.json one is trained first, unmeasured):

1. `linker run --publish`, measured: the full run.
2. For each share: a copy of data/ with that share of every source's records changed (change_data
   below: half edited — an account record's name, a contact's email; with `--any-column`
   any column of the row —, a quarter deleted, a quarter added as copies of other records
   under new ids), then on a copy of the full run's project `linker run --publish` (what a
   daily sync does) and on a twin `linker run --full --keep-frequencies --publish`
   (everything, with the same term frequencies), both measured; their crosswalk files
   (accounts, contacts, wide, changes) compared byte for byte.

Issue 17 asks the first to take ≤ 10 % of the full run at a 0.1 % change and ≤ 25 % at 1 %,
with the same bytes. Wall time and peak RSS as compare.py measures them. Prints a table, then
one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from publish_decisions import measured_base, print_result, side_by_side  # noqa: E402

# --- changing the sources, format by format -----------------------------------------------------


def _read(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    if path.suffix == ".json":
        return json.loads(path.read_text("utf-8"))
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    raise SystemExit(f"{path}: no reader for this file type here")


def _write(path: Path, rows: list[dict], like: Path) -> None:
    if path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    elif path.suffix == ".json":
        path.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n", "utf-8")
    else:
        schema = pq.read_schema(like)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def _new_id(old, k: int, taken: set):
    new = (
        (max(x for x in taken if isinstance(x, int)) + k) if isinstance(old, int) else f"{old}n{k}"
    )
    taken.add(new)
    return new


def change_data(
    project: Path, out: Path, share: float, seed: int, any_column: bool = False
) -> dict[str, dict]:
    """data/ of `project` copied to `out` with `share` of each source's records changed; what
    was changed, per source. `any_column`: an edit sets one column of the row (any but the id:
    a name, domain, VAT number, email, reference, account link, the filter's status...) to
    another row's value of it (a key shared anew, a record moved to another account), or
    empties it one time in five."""
    config = tomllib.loads((project / "linker.toml").read_text("utf-8"))
    rng = random.Random(seed)
    shutil.copytree((project / "data").resolve(), out)
    done = {}
    for name, src in config["sources"].items():
        path = out / Path(src["path"]).relative_to("data")
        rows, key = _read(path), src["id"]
        field = src["fields"].get("name" if src["entity"] == "accounts" else "email")
        n = max(4, round(len(rows) * share))
        picked = rng.sample(range(len(rows)), n)
        edit, drop, copy = picked[: n // 2], set(picked[n // 2 : 3 * n // 4]), picked[3 * n // 4 :]
        for i in edit:
            if any_column:
                col = rng.choice(sorted(c for c in rows[i] if c != key))
                other = rows[rng.randrange(len(rows))].get(col)
                rows[i][col] = other if rng.random() < 0.8 else None
                continue
            value = rows[i].get(field)
            rows[i][field] = (
                (f"{value} Group" if src["entity"] == "accounts" else f"x{value}")
                if value
                else "Changed Name"
            )
        taken = {r[key] for r in rows}
        added = []
        for k, i in enumerate(copy, 1):
            new = dict(rows[i])  # (before its edit: picked apart from the edited ones)
            new[key] = _new_id(new[key], k, taken)
            added.append(new)
        kept = [r for i, r in enumerate(rows) if i not in drop] + added
        tmp = path.with_suffix(".tmp" + path.suffix)
        _write(tmp, kept, path)
        tmp.replace(path)
        done[name] = {"edited": len(edit), "deleted": len(drop), "added": len(added)}
    return done


# --- the benchmark --------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--shares", type=float, nargs="+", default=[0.001, 0.01])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--any-column", action="store_true", help="an edit sets any column, not the name/email"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="linker-changes-bench-"))
    try:
        base, full_run = measured_base(args.project, work)
        rows = []
        for share in args.shares:
            data = work / f"data-{share}"
            changed = change_data(base, data, share, args.seed, any_column=args.any_column)
            copies = []
            for name in ("run", "full"):
                dst = work / f"{name}-{share}"
                shutil.copytree(base, dst, symlinks=True, ignore=shutil.ignore_patterns("data"))
                (dst / "data").symlink_to(data)
                copies.append(dst)
            # the twin recomputes everything with the same (frozen) term frequencies: what
            # the run must equal, byte for byte
            figures, inc_rep = side_by_side(
                ["run", "--publish"],
                copies,
                full_run,
                "run",
                "full",
                ("--full", "--keep-frequencies"),
            )
            resolved = inc_rep.get("resolved", {})
            rows.append({"share": share, "changed": changed, **figures, "resolved": resolved})
            r = rows[-1]
            n = sum(sum(c.values()) for c in changed.values())
            print(
                f"{100 * share:g} % changed ({n:,} records): run {r['run_s']} s "
                f"({100 * r['share_of_full_run']:.1f} % of the full run), "
                f"{r['run_peak_rss_mb']:,} MB, computed: {resolved.get('scope')}; "
                f"run --full {r['full_s']} s; identical: {r['identical']}",
                flush=True,
            )
            for c in (*copies, data):
                shutil.rmtree(c)
        print_result(full_run, runs=rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
