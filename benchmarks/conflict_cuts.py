"""Are the review queue's proposed cuts right? Checked against the truth.

Reads the last run's review queue (PROJECT/.linker/state.duckdb, `review_queue` rows of kind
`conflict`: the chain of edges joining two accounts, one edge marked `proposed_cut`) and the
truth (PROJECT/truth.csv). An edge is *wrong* when its two records do not belong to the same
account in the truth (a system-of-record record belongs to its own id; a record the truth gives
no account belongs to none). A proposal is *right* when every edge it marks is wrong — cutting
it loses no true link — and *none* when the item marks no edge (linker says no edge is clearly
the wrong one). A chain with no wrong edge at all is a conflict the truth does not explain
(counted apart).

With `--apply` (on a scratch copy: it appends to the project's decisions.jsonl) it then
acts as a reviewer who accepts every proposal — one `no_match` per proposed cut — runs
`linker run` again and reports the conflicts left (and whether a cut's two accounts are still
joined) and the accounts' precision and recall before and after.

    python benchmarks/conflict_cuts.py PROJECT [--truth FILE] [--json] [--apply]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import duckdb


def check(project: Path, truth: Path | None = None) -> dict:
    truth = truth or project / "truth.csv"
    con = duckdb.connect()
    con.execute("ATTACH ? AS state (READ_ONLY)", [str(project / ".linker" / "state.duckdb")])
    con.execute(
        "CREATE TEMP TABLE truth AS SELECT source, source_record_id AS id, "
        "nullif(account_id, '') AS account FROM read_csv(?, all_varchar = true)",
        [str(truth)],
    )
    sor = con.execute("SELECT any_value(source) FROM state.account_result WHERE method = 'sor'")
    sor_source = sor.fetchone()[0]
    items = con.execute(
        "SELECT item, evidence FROM state.review_queue WHERE kind = 'conflict' ORDER BY item"
    ).fetchall()
    owner = {
        (s, i): a for s, i, a in con.execute("SELECT source, id, account FROM truth").fetchall()
    }

    def account_of(rec: list[str]) -> str | None:
        source, id_ = rec
        if source == sor_source:
            return id_
        return owner.get((source, id_))

    out = {"conflicts": len(items), "right": 0, "wrong": 0, "none": 0, "unexplained": 0}
    examples = []
    for item, evidence in items:
        steps = json.loads(evidence)
        wrong = [
            account_of(s["from"]) is None or account_of(s["from"]) != account_of(s["to"])
            for s in steps
        ]
        marked = [w for s, w in zip(steps, wrong, strict=True) if s.get("proposed_cut")]
        if not any(wrong):
            out["unexplained"] += 1
        elif not marked:
            out["none"] += 1
        elif all(marked):
            out["right"] += 1
        else:
            out["wrong"] += 1
            if len(examples) < 5:
                examples.append(
                    {
                        "item": item,
                        "chain": [
                            f"{':'.join(s['from'])} -{s['rule']}- {':'.join(s['to'])}"
                            + (" [proposed]" if s.get("proposed_cut") else "")
                            + (" [wrong]" if w else "")
                            for s, w in zip(steps, wrong, strict=True)
                        ],
                    }
                )
    explained = out["conflicts"] - out["unexplained"]
    out["right_share"] = round(out["right"] / explained, 4) if explained else None
    out["examples_wrong"] = examples
    return out


def _linker(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("linker")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, check=False)


def _accounts_score(project: Path, truth: Path) -> dict:
    r = _linker("evaluate", "-p", str(project), "--truth", str(truth), "--json")
    a = json.loads(r.stdout)["accounts"]["all"]
    return {"precision": a["precision"], "recall": a["recall"]}


def apply_proposals(project: Path, truth: Path | None = None) -> dict:
    """Accept every proposed cut, rerun, and say what is left."""
    from linker.decisions import Decision, append

    truth = truth or project / "truth.csv"
    con = duckdb.connect(str(project / ".linker" / "state.duckdb"), read_only=True)
    try:
        items = con.execute(
            "SELECT account_id, evidence FROM review_queue WHERE kind = 'conflict'"
        ).fetchall()
    finally:
        con.close()
    before = _accounts_score(project, truth)
    cuts = []
    for accounts, evidence in items:
        for step in json.loads(evidence):
            if step.get("proposed_cut"):
                cuts.append((tuple(step["from"]), tuple(step["to"]), accounts))
    for left, right, accounts in cuts:
        append(
            project / "decisions.jsonl",
            Decision(left, right, "no_match", "benchmark", "2026-11-29T00:00:00Z",
                     f"cuts the conflict between accounts {accounts}"),
        )  # fmt: skip
    _linker("run", "-p", str(project), "-q")
    after = _accounts_score(project, truth)
    con = duckdb.connect(str(project / ".linker" / "state.duckdb"), read_only=True)
    try:
        left = con.execute("SELECT account_id FROM review_queue WHERE kind = 'conflict'").fetchall()
    finally:
        con.close()
    settled = {a for _, _, a in cuts}
    still = sum(1 for (a,) in left if a in settled)
    return {
        "conflicts_before": len(items),
        "cuts_applied": len(cuts),
        "conflicts_after": len(left),
        "cut_but_still_joined": still,
        "before": before,
        "after": after,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("--truth", type=Path)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--apply", action="store_true", help="accept every proposal and rerun")
    args = ap.parse_args(argv)
    res = check(args.project, args.truth)
    if args.apply:
        res["applied"] = apply_proposals(args.project, args.truth)
    if args.json:
        print(json.dumps(res))
        return 0
    print(
        f"conflicts {res['conflicts']}: proposed cut right {res['right']}, wrong {res['wrong']}, "
        f"none proposed {res['none']}, unexplained by the truth {res['unexplained']}; "
        f"right share {res['right_share']}"
    )
    if "applied" in res:
        a = res["applied"]
        print(
            f"applied {a['cuts_applied']} proposed cut(s): conflicts {a['conflicts_before']} -> "
            f"{a['conflicts_after']} ({a['cut_but_still_joined']} of the cut ones still joined "
            f"by another path); accounts P/R {a['before']['precision']}/{a['before']['recall']}"
            f" -> {a['after']['precision']}/{a['after']['recall']}"
        )
    for ex in res["examples_wrong"]:
        print(f"  item {ex['item']}:")
        for step in ex["chain"]:
            print(f"    {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
