"""linker against bare Splink on the same data: time, peak memory and F1.

    python benchmarks/compare.py --accounts 100000 [--seed 1]
    python benchmarks/compare.py --project DIR          # an existing project (linker.toml, data/, truth.csv)

On one data set (benchmarks/datasets.py: N account records over four systems, the system of
record 40 % of them, about 1.2 contacts per account record, ground truth), in one invocation:

1. `linker run --publish` as a subprocess on a fresh copy of the project (no model.json, no
   state): it trains its model on this first run, as the baseline does — this cold run is the
   comparison. Then once more, `--full`, with the model.json it saved: a scheduled job's
   full run (without `--full` a run over the same files stops at "nothing changed", in
   about 1 % of the time, which is not what this measures).
2. bare Splink (benchmarks/splink_baseline.py, its docstring says how it is configured and
   why) as a subprocess on the same account records.
3. F1 of both against truth.csv with one function: a link is a non-SOR account record with an
   account id; precision = correct / predicted links, recall = correct / true links (linker
   evaluate's definition for accounts). linker's answer is read from its published
   accounts.parquet with pyarrow.

Wall time and peak RSS are measured the same way for both: the process and all its
descendants, RSS summed per sample of /proc every 20 ms, the largest sum kept.

Prints a table, then as its last line one JSON object with the keys
accounts, records, linker_s, linker_peak_rss_mb, splink_s, splink_peak_rss_mb, linker_f1, splink_f1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
LINKER = Path(sys.executable).parent / "linker"
SPLINK_THRESHOLDS = (0.5, 0.9, 0.95, 0.99, 0.999)


# --- measuring a process tree -------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(x) for x in (task / "children").read_text().split()]
    return out


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run `cmd`; wall seconds, peak RSS (MB) of its process tree, stdout, stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or os.environ.copy()
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            tree, i = [proc.pid], 0
            while i < len(tree):
                tree += _children(tree[i])
                i += 1
            peak = max(peak, sum(_rss_kb(p) for p in tree))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):  # linker: 1 is a failed quality gate, not a crash
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr.decode()[-3000:]}")
    return {
        "seconds": seconds,
        "peak_rss_mb": peak / 1024,
        "stdout": stdout.decode(),
        "stderr": stderr.decode(),
        "returncode": proc.returncode,
    }


# --- scoring -----------------------------------------------------------------------------------


def scores(pred: pa.Table, truth: pa.Table, sor: str, accounts: list[str]) -> dict:
    """Precision, recall, F1 of (source, source_record_id, account_id) against the truth,
    over the non-SOR account records; ids compared as linker normalizes them."""
    from linker.ingest_sql import id_sql

    con = duckdb.connect()
    con.register("pred_in", pred)
    con.register("truth_in", truth)
    norm = {c: id_sql(c, "VARCHAR") for c in ("source_record_id", "account_id")}
    sources = [s for s in accounts if s != sor]
    for name in ("pred", "truth"):
        con.execute(
            f"CREATE TABLE {name} AS SELECT source, {norm['source_record_id']} AS id, "
            f"{norm['account_id']} AS account_id FROM {name}_in WHERE source IN (SELECT unnest(?))",
            [sources],
        )
    predicted, true, correct = con.execute(
        """
        SELECT count(*) FILTER (WHERE p.account_id IS NOT NULL),
               count(*) FILTER (WHERE t.account_id IS NOT NULL),
               count(*) FILTER (WHERE p.account_id IS NOT NULL AND p.account_id = t.account_id)
        FROM truth t LEFT JOIN pred p USING (source, id)
        """
    ).fetchone()
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted": predicted,
        "true": true,
        "correct": correct,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def splink_at(pairs: pa.Table, accounts: pa.Table, sor: str, threshold: float) -> pa.Table:
    """Splink's answer at another threshold: components of its pairs >= threshold, the same
    one-SOR-record rule (for the table only; the JSON uses the script's own clustering)."""
    from linker.graph import components

    con = duckdb.connect()
    con.register("pairs", pairs)
    con.register("accounts", accounts)
    con.execute(
        "CREATE TABLE ids AS SELECT row_number() OVER () AS rid, source, source_record_id, "
        "source || ':' || source_record_id AS uid FROM accounts"
    )
    con.execute(
        "CREATE TABLE e AS SELECT a.rid AS a, b.rid AS b FROM pairs p JOIN ids a ON a.uid = "
        "p.unique_id_l JOIN ids b ON b.uid = p.unique_id_r WHERE p.match_probability >= ?",
        [threshold],
    )
    components(con, "e", "comp")
    return con.sql(
        f"""
        WITH c AS (SELECT rid, coalesce(c.comp, rid) AS comp FROM ids LEFT JOIN comp c USING (rid)),
        s AS (SELECT c.comp, count(*) FILTER (WHERE i.source = '{sor}') AS n,
                     min(i.source_record_id) FILTER (WHERE i.source = '{sor}') AS sor_id
              FROM c JOIN ids i USING (rid) GROUP BY c.comp)
        SELECT i.source, i.source_record_id, CASE WHEN s.n = 1 THEN s.sor_id END AS account_id
        FROM ids i JOIN c USING (rid) JOIN s USING (comp)
        """
    ).to_arrow_table()


STAGES = ("ingest", "normalize", "rules", "first_resolve", "train", "scoring", "resolve",
          "contacts", "review_queue", "save_state", "publish")  # fmt: skip


def _stage_order(name: str) -> int:
    return STAGES.index(name) if name in STAGES else len(STAGES)


# --- the comparison ----------------------------------------------------------------------------


def copy_project(src: Path, dst: Path) -> Path:
    """linker.toml and truth.csv copied, data/ linked (the inputs are read, never written)."""
    dst.mkdir(parents=True)
    for name in ("linker.toml", "truth.csv"):
        shutil.copy(src / name, dst / name)
    (dst / "data").symlink_to((src / "data").resolve())
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, help="account records in the data set")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--project", type=Path, help="use this project instead of a generated one")
    args = ap.parse_args()
    if args.project is None and args.accounts is None:
        ap.error("give --accounts N or --project DIR")
    if args.project is not None:
        source = args.project.resolve()
    else:
        sys.path.insert(0, str(HERE))
        import datasets

        t = time.perf_counter()
        source = datasets.ensure(args.accounts, args.seed)
        print(f"data set: {source} ({time.perf_counter() - t:.1f} s)", file=sys.stderr)

    import tomllib

    cfg = tomllib.loads((source / "linker.toml").read_text("utf-8"))
    sor = cfg["project"]["accounts_sor"]
    account_sources = [n for n, s in cfg["sources"].items() if s.get("entity") == "accounts"]
    truth = pacsv.read_csv(
        source / "truth.csv",
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(
            ("source", "source_record_id", "account_id", "user_id"), pa.string())),
    )  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="linker-compare-") as tmp:
        work = copy_project(source, Path(tmp) / "project")
        cmd = [str(LINKER), "run", "-p", str(work), "--publish", "--json", "-q"]
        cold = run_measured(cmd)
        warm = run_measured([*cmd, "--full"])
        report = json.loads(warm["stdout"])
        cold_report = json.loads(cold["stdout"])
        linker_pred = pq.read_table(work / "crosswalk" / "accounts.parquet")
        splink_out = Path(tmp) / "splink"
        base = run_measured(
            [sys.executable, str(HERE / "splink_baseline.py"), str(work), str(splink_out)]
        )
        splink_pred = pq.read_table(splink_out / "accounts.parquet")
        pairs = pq.read_table(splink_out / "pairs.parquet")

    lk = scores(linker_pred, truth, sor, account_sources)
    sp = scores(splink_pred, truth, sor, account_sources)
    n_accounts = sum(v["records"] for k, v in report["sources"].items() if k in account_sources)
    n_records = sum(v["records"] for v in report["sources"].values())

    rows = [
        ("linker, first run (trains)", cold, lk),
        ("linker, model reused", warm, lk),
        ("bare Splink (trains)", base, sp),
    ]
    print(f"{n_accounts:,} account records, {n_records:,} records in all (seed {args.seed})")
    print(f"{'':30} {'wall s':>8} {'peak RSS MB':>12} {'precision':>10} {'recall':>8} {'F1':>8}")
    for label, run, s in rows:
        print(
            f"{label:30} {run['seconds']:8.1f} {run['peak_rss_mb']:12.0f} "
            f"{s['precision']:10.4f} {s['recall']:8.4f} {s['f1']:8.4f}"
        )
    print(
        f"linker is {base['seconds'] / cold['seconds']:.2f}x faster than bare Splink "
        f"(first run; {base['seconds'] / warm['seconds']:.2f}x with the model reused); "
        f"F1 {lk['f1'] - sp['f1']:+.4f}"
    )
    for label, rep in (("first run", cold_report), ("model reused", report)):
        t = rep["timings"]
        stages = ", ".join(f"{k} {t[k]:.1f}" for k in sorted(t, key=_stage_order))
        print(f"linker stages, {label} (s): {stages}")
    print("bare Splink at other thresholds (components of its pairs, same one-SOR rule):")
    for th in SPLINK_THRESHOLDS:
        s = scores(splink_at(pairs, splink_pred, sor, th), truth, sor, account_sources)
        print(
            f"  p >= {th:<6} precision {s['precision']:.4f} recall {s['recall']:.4f} F1 {s['f1']:.4f}"
        )
    print(
        json.dumps(
            {
                "accounts": n_accounts,
                "records": n_records,
                "linker_s": round(cold["seconds"], 2),
                "linker_peak_rss_mb": round(cold["peak_rss_mb"]),
                "splink_s": round(base["seconds"], 2),
                "splink_peak_rss_mb": round(base["peak_rss_mb"]),
                "linker_f1": round(lk["f1"], 4),
                "splink_f1": round(sp["f1"], 4),
            }
        )
    )


if __name__ == "__main__":
    main()
