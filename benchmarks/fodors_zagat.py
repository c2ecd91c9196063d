"""Fodors-Zagat: real restaurant records, linker untuned against a textbook bare Splink.

The public Fodors-Zagat benchmark (see the data's README): Fodor's 533 restaurants, Zagat's
331, 112 Zagat records with a true Fodor's match. Nobody on this project wrote it. Run two ways,
scored by one function against `truth_accounts.csv` (precision = correct / predicted links,
recall = correct / true links, F1), Zagat's records only:

1. **linker, untuned**: a project that only maps the columns as a new user would — `fodors`
   the system of record, `zagat` a second accounts source, fields name, address, city, phone,
   and `[project] default_country = "US"` (there is no country column). No thresholds, no
   comparisons, no blocking, no rules configuration. `linker run` (which trains the model on
   its first run) and `linker evaluate --json` run as subprocesses of this interpreter's
   `linker`; the figures are checked against `linker evaluate`'s own. Records sent to review
   count as not linked. From the run's scoring decisions, without re-running: what a lower
   `accept` threshold (0.95, 0.90, 0.80; `review` stays 0.80) would have linked.
2. **bare Splink 5, textbook** (configuration fixed before looking at its results, not tuned
   after; it is the setup the data's README describes):
   - cleaning in DuckDB SQL: lower case, apostrophes and dots deleted, any other run of
     punctuation or spaces one space; phone as its digits; `name_first` the first name word;
   - `link_only`, fodors vs zagat; comparisons from `splink.comparison_library`: name
     `JaroWinklerAtThresholds([0.92, 0.80])` with term-frequency adjustments, address
     `JaroWinklerAtThresholds([0.9, 0.7])`, city `JaroWinklerAtThresholds([0.9])`, phone
     `ExactMatch`;
   - blocking: exact name; phone; city + first name word;
   - prior from deterministic rules (same phone; same name and city) at recall 0.8; u by
     random sampling (1e6 pairs, seed 42); m by EM blocked on name, then on phone (between
     them every comparison is estimated, as Splink's docs advise);
   - predict at match probability 0.9; each Zagat record takes its best Fodor's candidate
     (highest match weight, then the smallest Fodor's id), at most one.

    python benchmarks/fodors_zagat.py [--data DIR] [--out DIR] [--min-f1 0.97] [--diagnose]

Prints a table (linker vs bare Splink: precision, recall, F1, records in review, seconds)
and, as the last line, one JSON object with every figure. `--diagnose` lists linker's false
positives and false negatives grouped by cause, each with both records' raw values and
`linker explain --json` for the Zagat record. Exit status 1 when linker's F1 is below
--min-f1 or below the baseline's, 2 when the data directory is missing, 3 when a linker
command fails.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from kill_publish import linker_cmd  # this interpreter's `linker` (a script beside this one)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "fodors-zagat"
TARGET_F1 = 0.97
WHATIF_ACCEPT = (0.95, 0.90, 0.80)  # lower `accept` values worth a look
SPLINK_THRESHOLD = 0.9
SEED = 42
COLUMNS = ("name", "addr", "city", "phone", "type")

CONFIG = """\
[project]
name = "fodors-zagat"
accounts_sor = "fodors"
default_country = "US"

[sources.fodors]
entity = "accounts"
path = "data/fodors.csv"
id = "id"
[sources.fodors.fields]
name = "name"
address = "addr"
city = "city"
phone = "phone"

[sources.zagat]
entity = "accounts"
path = "data/zagat.csv"
id = "id"
[sources.zagat.fields]
name = "name"
address = "addr"
city = "city"
phone = "phone"
"""


class LinkerFailed(RuntimeError):
    """A linker command exited with a status other than 0 or 1."""


# --- data and the one scoring function --------------------------------------------------------


def read_records(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def read_truth(path: Path) -> dict[str, str | None]:
    """Zagat id -> the Fodor's id of its restaurant, or None."""
    with path.open(encoding="utf-8", newline="") as f:
        return {r["source_record_id"]: r["account_id"] or None for r in csv.DictReader(f)}


def score(predicted: dict[str, str | None], truth: dict[str, str | None]) -> dict:
    """Precision, recall and F1 of the Zagat records' links (None: not linked)."""
    links = {z: f for z, f in predicted.items() if f is not None}
    correct = sum(truth.get(z) == f for z, f in links.items())
    true = sum(f is not None for f in truth.values())
    p = correct / len(links) if links else 0.0
    r = correct / true if true else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "predicted": len(links),
        "true": true,
        "correct": correct,
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f1, 4),
    }


# --- linker -----------------------------------------------------------------------------------


def linker(*args: str) -> tuple[dict, float]:
    """Run a linker command with --json: its JSON output and wall seconds."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*linker_cmd(), *args, "--json"], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: a quality gate failed, the run completed
        raise LinkerFailed(
            f"linker {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    return json.loads(proc.stdout), seconds


def write_project(out: Path, data: Path) -> None:
    """The project as a new user writes it, and the truth in `linker evaluate`'s format."""
    (out / "data").mkdir(parents=True, exist_ok=True)
    for name in ("fodors", "zagat"):
        shutil.copyfile(data / "data" / f"{name}.csv", out / "data" / f"{name}.csv")
    (out / "linker.toml").write_text(CONFIG, encoding="utf-8")
    with (data / "truth_accounts.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with (out / "truth.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["source", "source_record_id", "account_id", "user_id"])
        for r in rows:
            w.writerow([r["source"], r["source_record_id"], r["account_id"], ""])
    # A fresh start: the model is trained on this run, as a new user's first run does.
    for stale in (out / "model.json", out / "model.html", out / "decisions.jsonl"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(out / ".linker", ignore_errors=True)


def state(out: Path):
    import duckdb

    return duckdb.connect(str(out / ".linker" / "state.duckdb"), read_only=True)


def zagat_results(out: Path) -> dict[str, dict]:
    """Zagat id -> linker's result for it (account_id, method, rule, probability, reason)."""
    con = state(out)
    try:
        rows = con.execute(
            "SELECT id, account_id, method, rule, match_probability, reason "
            "FROM account_result WHERE source = 'zagat'"
        ).fetchall()
    finally:
        con.close()
    keys = ("account_id", "method", "rule", "match_probability", "reason")
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def scoring_decisions(out: Path) -> dict[str, dict]:
    """Zagat id -> linker's decision about its best candidate (the `score_decision` row)."""
    con = state(out)
    try:
        rows = con.execute(
            """
            SELECT o.id, k.id, d.account_id, d.probability, d.decision, d.why, p.name_only
            FROM score_decision d
            JOIN records o ON o.rid = d.o JOIN records k ON k.rid = d.k
            JOIN score_pairs p ON p.o = d.o AND p.k = d.k
            WHERE o.source = 'zagat'
            """
        ).fetchall()
        scored = con.execute(
            "SELECT o.id, list(DISTINCT p.account_id) FROM score_pairs p "
            "JOIN records o ON o.rid = p.o WHERE o.source = 'zagat' GROUP BY o.id"
        ).fetchall()
    finally:
        con.close()
    keys = ("record", "account_id", "probability", "decision", "why", "name_only")
    out = {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}
    for z, accounts in scored:
        out[z]["scored_accounts"] = accounts
    return out


def unparsed_phones(out: Path) -> list[tuple[str, str]]:
    """Records without a phone after linker's normalization (every record here has one raw)."""
    con = state(out)
    try:
        rows = con.execute(
            "SELECT source, id FROM records WHERE entity = 'accounts' AND phone IS NULL "
            "ORDER BY source, CAST(id AS INTEGER)"
        ).fetchall()
    finally:
        con.close()
    return rows


def whatif(
    predicted: dict[str, str | None],
    decisions: dict[str, dict],
    truth: dict[str, str | None],
    review: float = 0.80,
) -> list[dict]:
    """What lower `accept` thresholds would have linked: a record held only by the review band
    (not by a close runner-up, not name-only) links to its best candidate's account."""
    out = []
    for accept in WHATIF_ACCEPT:
        pred = dict(predicted)
        added = 0
        for z, d in decisions.items():
            if (
                d["decision"] == "review"
                and d["why"] == "in the review band"
                and not d["name_only"]
                and d["probability"] >= max(accept, review)
            ):
                pred[z] = d["account_id"]
                added += 1
        out.append({"accept": accept, "added": added, **score(pred, truth)})
    return out


def run_linker(out: Path, data: Path, truth: dict[str, str | None]) -> dict:
    write_project(out, data)
    report, run_s = linker("run", "-p", str(out))
    evaluation, eval_s = linker("evaluate", "-p", str(out), "--truth", str(out / "truth.csv"))
    results = zagat_results(out)
    predicted = {z: r["account_id"] for z, r in results.items()}
    figures = score(predicted, truth)
    own = evaluation["accounts"]["zagat"]
    mismatch = {k: (figures[k], own[k]) for k in figures if figures[k] != own[k]}
    if mismatch:  # two scorers, one truth: they must agree
        print(f"fodors_zagat: warning: linker evaluate differs: {mismatch}", file=sys.stderr)
    zagat = report["sources"]["zagat"]
    decisions = scoring_decisions(out)
    phones = [f"{src} {rid}" for src, rid in unparsed_phones(out)]
    return {
        **figures,
        "by_method": zagat["by_method"],
        "unresolved": zagat["unresolved"],
        "pending_review": zagat["unresolved"].get("pending_review", 0),
        "review_items": report["pending_review"],
        "candidate_pairs": report["scoring"].get("blocked_pairs"),
        "duplicates": zagat["duplicates"],
        "phones_unparsed": phones,
        "rules_only": evaluation["accounts"]["all_rules_only"],
        "whatif_accept": whatif(predicted, decisions, truth),
        "run_s": round(run_s, 2),
        "run_stages_s": round(sum(report["timings"].values()), 2),
        "evaluate_s": round(eval_s, 2),
        "_results": results,
        "_decisions": decisions,
    }


# --- bare Splink ------------------------------------------------------------------------------

CLEAN = r"""
CREATE MACRO clean(x) AS nullif(trim(regexp_replace(regexp_replace(
    lower(x), '[''.]', '', 'g'), '[^a-z0-9]+', ' ', 'g')), '');
"""


def run_splink(data: Path, truth: dict[str, str | None]) -> dict:
    """The textbook bare-Splink setup of the module docstring; its links and figures."""
    t0 = time.perf_counter()
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    con.execute(CLEAN)
    for name in ("fodors", "zagat"):
        con.execute(
            f"""
            CREATE TABLE {name} AS
            SELECT id, '{name}' AS source, clean(name) AS name,
                   split_part(clean(name), ' ', 1) AS name_first,
                   clean(addr) AS addr, clean(city) AS city,
                   nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '') AS phone
            FROM read_csv(?, all_varchar = true)
            """,
            [str(data / "data" / f"{name}.csv")],
        )
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="id",
        comparisons=[
            cl.JaroWinklerAtThresholds("name", [0.92, 0.80]).configure(
                term_frequency_adjustments=True
            ),
            cl.JaroWinklerAtThresholds("addr", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("city", [0.9]),
            cl.ExactMatch("phone"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("name"),
            block_on("phone"),
            block_on("city", "name_first"),
        ],
        additional_columns_to_retain=["source"],
    )
    con.execute("SELECT 1").fetchall()  # DuckDB 2: no unread result when Splink takes over
    db = DuckDBAPI(connection=con)
    sdfs = [db.register(t, dataset_display_name=t) for t in ("fodors", "zagat")]
    model = Linker(sdfs, settings)
    logging.disable(logging.WARNING)  # Splink narrates every step (and warns max_pairs > all pairs)
    try:
        return _train_predict(con, model, block_on, t0, truth)
    finally:
        logging.disable(logging.NOTSET)


def _train_predict(con, model, block_on, t0: float, truth: dict[str, str | None]) -> dict:
    model.training.estimate_probability_two_random_records_match(
        [block_on("phone"), block_on("name", "city")], recall=0.8
    )
    model.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=SEED)
    model.training.estimate_parameters_using_expectation_maximisation(block_on("name"))
    model.training.estimate_parameters_using_expectation_maximisation(block_on("phone"))
    pred = model.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    best = con.execute(
        f"""
        WITH pairs AS (
            SELECT CASE WHEN source_l = 'zagat' THEN id_l ELSE id_r END AS zagat,
                   CASE WHEN source_l = 'zagat' THEN id_r ELSE id_l END AS fodors,
                   match_weight, match_probability
            FROM {pred.physical_name} WHERE source_l <> source_r
        )
        SELECT zagat, fodors, match_probability FROM pairs
        QUALIFY row_number() OVER (
            PARTITION BY zagat ORDER BY match_weight DESC, CAST(fodors AS INTEGER)) = 1
        """
    ).fetchall()
    seconds = time.perf_counter() - t0
    predicted = {z: f for z, f, _ in best}
    return {
        **score(predicted, truth),
        "seconds": round(seconds, 2),
        "_links": {z: (f, p) for z, f, p in best},
    }


# --- diagnosis --------------------------------------------------------------------------------


def _same(a: str | None, b: str | None, digits: bool = False) -> bool:
    def norm(v: str | None) -> str:
        v = (v or "").lower()
        return "".join(c for c in v if c.isdigit()) if digits else " ".join(v.split())

    return bool(norm(a)) and norm(a) == norm(b)


def cause_of(kind: str, z: str, res: dict, dec: dict | None, truth_f: str | None) -> str:
    """One line naming the linker behaviour behind a false positive or negative."""
    if kind == "fp" or res["account_id"] is not None:
        if truth_f is not None or kind == "fn":
            return "linked to the wrong restaurant (the right one exists)"
        if res["method"] == "rule":
            return f"{res['rule']} rule linked different restaurants (same name, same country)"
        return "scored link (p >= accept) to a restaurant Fodor's does not list"
    if res["reason"] == "pending_review" and dec is not None:
        if dec["why"] == "a runner-up for another account is close":
            return "sat in review: a runner-up for another account scored the same (margin)"
        if dec["why"] == "in the review band":
            return "sat in review: best candidate below accept 0.99"
        return f"sat in review: {dec['why']}"
    if dec is None:
        return "no candidate pair at all (blocking found none)"
    if truth_f not in dec.get("scored_accounts", []):
        return "the true restaurant was not a candidate (blocking)"
    if dec["decision"] == "drop":
        return "scored below the review threshold"
    return f"unresolved: {res['reason']}"


def explain_lines(out: Path, z: str) -> tuple[dict, list[str]]:
    """`linker explain --json` for a Zagat record, and a compact rendering of it."""
    ex, _ = linker("explain", "-p", str(out), "zagat", z)
    lines = [
        f"explain: {ex['method']}"
        + (f" ({ex['rule']})" if ex.get("rule") else "")
        + (f": {ex['reason']}" if ex.get("reason") else "")
        + (f" -> account {ex['account_id']}" if ex.get("account_id") else "")
    ]
    for edge in ex.get("chain", []):
        p = f" p={edge['probability']:.4f}" if edge.get("probability") is not None else ""
        lines.append(
            f"  {edge['from'][0]}:{edge['from'][1]} -[{edge['rule'] or edge['method']}{p}]-> "
            f"{edge['to'][0]}:{edge['to'][1]}  {edge.get('evidence') or ''}"
        )
        lines += _comparison_lines(edge.get("comparisons", []))
    for c in ex.get("candidates", []):
        role = "runner-up" if c.get("runner_up") else "best"
        why = f" ({c['why']})" if c.get("why") else ""
        lines.append(
            f"  {role} candidate {c['record'][0]}:{c['record'][1]} p={c['probability']:.4f} "
            f"weight {c['match_weight']:+.1f} -> {c['decision']}{why}"
        )
        lines += _comparison_lines(c["comparisons"])
    return ex, lines


def _comparison_lines(comps: list[dict]) -> list[str]:
    return [
        f"      {c['comparison']:<8} {c['level']:<26} {c['match_weight']:+6.1f}  "
        f"{c['open_value']} | {c['known_value']}"
        for c in comps
    ]


def diagnose(
    out: Path,
    lk: dict,
    truth: dict[str, str | None],
    fodors: dict[str, dict],
    zagat: dict[str, dict],
) -> tuple[dict[str, list[dict]], list[str]]:
    """linker's false positives and false negatives, grouped by cause, with the evidence."""
    results, decisions = lk["_results"], lk["_decisions"]
    dups = _duplicate_accounts(results)
    items = []
    for z in sorted(results, key=int):
        res, t = results[z], truth.get(z)
        pred = res["account_id"]
        if pred is not None and pred != t:
            items.append(("fp", z, pred))
        if t is not None and pred != t:
            items.append(("fn", z, t))
    groups: dict[str, list[dict]] = defaultdict(list)
    for kind, z, f in items:
        res, dec = results[z], decisions.get(z)
        cause = cause_of(kind, z, res, dec, truth.get(z))
        zr, fr = zagat[z], fodors.get(f, {})
        notes = []
        if _same(zr["phone"], fr.get("phone"), digits=True):
            notes.append("phone digits agree")
        else:
            notes.append("phone differs")
        notes.append("address agrees" if _same(zr["addr"], fr.get("addr")) else "address differs")
        notes.append("city agrees" if _same(zr["city"], fr.get("city")) else "city differs")
        others = [o for o in dups.get(res["account_id"], []) if o != z]
        if kind == "fp" and others:
            notes.append(f"account {res['account_id']} also holds zagat {', '.join(others)}")
        if kind == "fn" and dec is not None and dec["account_id"] != f:
            notes.append(f"best candidate was account {dec['account_id']}, not {f}")
        ex, lines = explain_lines(out, z)
        groups[cause].append(
            {
                "kind": kind,
                "zagat": z,
                "fodors": f,
                "zagat_raw": {c: zr[c] for c in COLUMNS},
                "fodors_raw": {c: fr.get(c) for c in COLUMNS},
                "notes": notes,
                "explain": ex,
                "explain_lines": lines,
            }
        )
    text = []
    for cause, group in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        kinds = sorted({g["kind"].upper() for g in group})
        text.append(f"{cause} — {len(group)} ({'/'.join(kinds)})")
        for g in group:
            label = "linked to" if g["kind"] == "fp" else "true match"
            text.append(f"  {g['kind'].upper()} zagat {g['zagat']} {label} fodors {g['fodors']}")
            text.append(f"    zagat  {g['zagat']:>4}: {_raw(g['zagat_raw'])}")
            text.append(f"    fodors {g['fodors']:>4}: {_raw(g['fodors_raw'])}")
            text.append(f"    {'; '.join(g['notes'])}")
            text += [f"    {line}" for line in g["explain_lines"]]
        text.append("")
    return groups, text


def _raw(r: dict) -> str:
    return " | ".join(f"{r[c]}" for c in COLUMNS)


def _duplicate_accounts(results: dict[str, dict]) -> dict[str, list[str]]:
    by_account: dict[str, list[str]] = defaultdict(list)
    for z, r in sorted(results.items(), key=lambda kv: int(kv[0])):
        if r["account_id"] is not None:
            by_account[r["account_id"]].append(z)
    return {a: zs for a, zs in by_account.items() if len(zs) > 1}


def baseline_errors(sp: dict, truth: dict[str, str | None]) -> list[str]:
    links = sp["_links"]
    out = []
    for z in sorted(set(links) | {z for z, f in truth.items() if f}, key=int):
        f, p = links.get(z, (None, None))
        if f is not None and f != truth.get(z):
            out.append(f"  FP zagat {z} -> fodors {f} (p={p:.4f}; truth {truth.get(z)})")
        if truth.get(z) is not None and f != truth.get(z):
            out.append(f"  FN zagat {z} (true fodors {truth[z]}; linked {f})")
    return out


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"the data (default {DEFAULT_DATA})"
    )
    ap.add_argument("--out", type=Path, help="project directory to write (default: a temp dir)")
    ap.add_argument("--min-f1", type=float, default=TARGET_F1, help="exit 1 below this F1")
    ap.add_argument("--diagnose", action="store_true", help="list linker's FPs and FNs by cause")
    args = ap.parse_args(argv)
    data = args.data.resolve()
    needed = [data / "data" / "fodors.csv", data / "data" / "zagat.csv"]
    needed.append(data / "truth_accounts.csv")
    missing = [p for p in needed if not p.is_file()]
    if missing:
        print(
            f"fodors_zagat: the Fodors-Zagat data is not at {data} "
            f"(missing {', '.join(str(p) for p in missing)}); pass --data DIR",
            file=sys.stderr,
        )
        return 2
    truth = read_truth(data / "truth_accounts.csv")
    fodors = read_records(data / "data" / "fodors.csv")
    zagat = read_records(data / "data" / "zagat.csv")

    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fodors-zagat-") as tmp:
        out = (args.out or Path(tmp)).resolve()
        try:
            lk = run_linker(out, data, truth)
            groups, diagnosis = (
                diagnose(out, lk, truth, fodors, zagat) if args.diagnose else ({}, [])
            )
        except LinkerFailed as e:
            print(f"fodors_zagat: {e}", file=sys.stderr)
            return 3
    sp = run_splink(data, truth)

    print(
        f"Fodors-Zagat: {len(fodors)} Fodor's records (system of record), {len(zagat)} Zagat, "
        f"{sum(f is not None for f in truth.values())} true links"
    )
    print(
        f"  linker: {lk['predicted']} Zagat records linked "
        f"({', '.join(f'{k} {v}' for k, v in sorted(lk['by_method'].items()))}), "
        f"unresolved {', '.join(f'{k} {v}' for k, v in sorted(lk['unresolved'].items()))}; "
        f"{lk['review_items']} review items; {lk['candidate_pairs']} candidate pairs; "
        f"{lk['duplicates']} Zagat records share an account with another"
    )
    print(f"  linker: records without a usable phone: {', '.join(lk['phones_unparsed']) or 'none'}")
    ro = lk["rules_only"]
    print(f"  linker, rules alone: P {ro['precision']:.4f} R {ro['recall']:.4f} F1 {ro['f1']:.4f}")
    print()
    rows = [
        ("", "linker (untuned)", "bare Splink"),
        ("precision", f"{lk['precision']:.4f}", f"{sp['precision']:.4f}"),
        ("recall", f"{lk['recall']:.4f}", f"{sp['recall']:.4f}"),
        ("F1", f"{lk['f1']:.4f}", f"{sp['f1']:.4f}"),
        (
            "linked / correct",
            f"{lk['predicted']} / {lk['correct']}",
            f"{sp['predicted']} / {sp['correct']}",
        ),
        ("in review", f"{lk['pending_review']}", "–"),
        ("seconds", f"{lk['run_s']:.2f}", f"{sp['seconds']:.2f}"),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    for a, b, c in rows:
        print(f"  {a:<{w0}}  {b:>{w1}}  {c:>11}")
    print(
        f"  (linker seconds: `linker run` wall, training included; its stages {lk['run_stages_s']:.2f} s."
        f" Splink: cleaning, training, predict, best links in-process)"
    )
    print()
    print("  linker with a lower accept threshold (review stays 0.80), from this run's decisions:")
    for w in lk["whatif_accept"]:
        print(
            f"    accept {w['accept']:.2f}: +{w['added']} linked -> P {w['precision']:.4f} "
            f"R {w['recall']:.4f} F1 {w['f1']:.4f}"
        )
    if args.diagnose:
        print()
        print("linker's false positives (FP) and false negatives (FN), by cause:")
        for line in diagnosis:
            print(f"  {line}" if line else "")
        print("bare Splink's errors:")
        for line in baseline_errors(sp, truth):
            print(f"  {line}")
        print()
    print(f"  wall time {time.perf_counter() - t_start:.2f} s")

    figures = {
        "dataset": "fodors-zagat",
        "fodors_records": len(fodors),
        "zagat_records": len(zagat),
        "true_links": sum(f is not None for f in truth.values()),
        "linker": {k: v for k, v in lk.items() if not k.startswith("_")},
        "splink": {k: v for k, v in sp.items() if not k.startswith("_")},
        "min_f1": args.min_f1,
    }
    if args.diagnose:
        figures["diagnosis"] = {
            cause: [f"{g['kind']}:{g['zagat']}" for g in group] for cause, group in groups.items()
        }
    print(json.dumps(figures))
    return 0 if lk["f1"] >= args.min_f1 and lk["f1"] >= sp["f1"] else 1


if __name__ == "__main__":
    sys.exit(main())
