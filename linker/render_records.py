"""What `linker explain`, `linker evaluate` and `linker forget` print: the reports about single
records (a chain of edges, a comparison's levels and weights, what was erased) and about
accuracy against a truth file. Console and escaping: linker/render.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from linker.render import Table, escape, out

if TYPE_CHECKING:
    from linker.results import EvaluateResult, ExplainResult, ForgetResult

EXPLAIN_LISTED = 50  # a SOR account's linked records printed by `linker explain`


def _edge(step: dict) -> str:
    trust = f" · {step['trust']}" if step.get("trust") else ""
    label = escape(f"[{step['rule'] or step['method']}{trust}]")
    return (
        f"{escape(':'.join(step['from']))} ─{label}→ {escape(':'.join(step['to']))}   "
        f"{escape(step['evidence'] or '')}"
    )


def _print_comparisons(comparisons: list[dict]) -> None:
    """One line per comparison: level, match weight, and both values, aligned."""
    width = max((len(c["comparison"]) for c in comparisons), default=0)
    lw = max((len(c["level"] or "") for c in comparisons), default=0)
    for c in comparisons:
        w = c["match_weight"]
        weight = "     " if w is None or c["level"] == "null" else f"{w:+5.1f}"
        tf = f" (term frequency {c['tf_weight']:+.1f})" if c.get("tf_weight") else ""
        vals = (
            f"{escape(str(c['open_value']))} | {escape(str(c['known_value']))}"
            if c["level"] != "null"
            else f"{escape(str(c['open_value'] or '–'))} | {escape(str(c['known_value'] or '–'))}"
        )
        out.print(
            f"      {escape(c['comparison']).ljust(width)}  {escape(c['level'] or '').ljust(lw)}"
            f"  {weight}{tf}   {vals}"
        )


def explain_report(source: str, info: ExplainResult) -> None:
    """`linker explain`: why a record has its account (or none)."""
    head = f"{escape(source)}:{escape(info['id'])}"
    if "user_id" in info:
        out.print(
            f"{head} → user_id {escape(info['user_id'] or '–')}, "
            f"account_id {escape(info['account_id'] or '–')} (via {info['account_via'] or '–'})"
            + (f", unresolved: {info['reason']}" if info["reason"] else "")
        )
        if oa := info.get("own_account"):
            rec = escape(":".join(oa["record"]))
            out.print(
                f"  own account link → {rec}: "
                + (
                    "not found"
                    if oa.get("missing")
                    else f"account {escape(oa['account_id'] or '–')} ({oa['method']}{', ' + oa['reason'] if oa['reason'] else ''})"
                )
            )
        if info["disagreement"]:
            out.print(
                "  [yellow]the rules disagree about this contact's account; the first in contacts_order won[/yellow]"
            )
    else:
        if info["method"] == "sor":
            out.print(
                f"{head} is a system-of-record account: account_id {escape(info['account_id'] or '')}"
            )
            n, dups = len(info["linked"]), sum(x["duplicate"] for x in info["linked"])
            out.print(
                f"  {n} record(s) of other systems linked to it"
                + (f" ({dups} of them duplicates in their system)" if dups else "")
                + f"; {info['contacts']} contact(s)"
            )
            for x in info["linked"][:EXPLAIN_LISTED]:
                how = x["rule"] or x["method"]
                dup = " [yellow](duplicate)[/yellow]" if x["duplicate"] else ""
                out.print(f"    {escape(':'.join(x['record']))} by {escape(how)}{dup}")
            if n > EXPLAIN_LISTED:
                out.print(f"    … and {n - EXPLAIN_LISTED} more (`--json` lists them all)")
            if c := info.get("conflict"):
                out.print(
                    "  [yellow]in a conflict[/yellow] with account(s) "
                    + ", ".join(escape(a) for a in c["accounts"] if a != info["account_id"])
                    + "; held back: "
                    + (", ".join(escape(":".join(r)) for r in c["held"]) or "none")
                    + " (`linker review`)"
                )
        elif info["account_id"]:
            what = (
                f"rule {escape(info['rule'])}"
                if info["rule"]
                else f"p={info['match_probability']:.4f}"
                if info["match_probability"] is not None
                else "a reviewer's match"
            )
            out.print(
                f"{head} → account_id {escape(info['account_id'])} ({info['method']}, {what})"
            )
        else:
            out.print(f"{head} → unresolved: {info['reason']}")
        for step in info["chain"]:
            if step.get("comparisons"):  # a scored edge: its breakdown says more than its text
                out.print(
                    f"  {_edge({**step, 'evidence': ''})}p={step['probability']:.4f}, "
                    "per comparison (level, match weight, this record | the other):"
                )
                _print_comparisons(step["comparisons"])
            else:
                prob = (
                    f" p={step['probability']:.4f}" if step.get("probability") is not None else ""
                )
                out.print(f"  {_edge(step)}{prob}")
        for cand in info.get("candidates", []):
            what = {
                "link": "linked",
                "review": "waits for review",
                "drop": "dropped",
            }.get(cand["decision"], cand["decision"])
            out.print(
                f"  {'runner-up' if cand['runner_up'] else 'best'} candidate: "
                f"{escape(':'.join(cand['record']))} (account {escape(cand['account_id'] or '–')}) "
                f"p={cand['probability']:.4f}, match weight {cand['match_weight']:+.1f}"
                + (f" — {what}: {escape(cand['why'])}" if cand.get("why") else f" — {what}")
            )
            _print_comparisons(cand["comparisons"])
        if info.get("in_dispute"):
            out.print(
                "  [yellow]in dispute[/yellow]: its own edges tie it to two accounts; it waits for "
                "a reviewer (the conflict's other records are linked by their own evidence)"
            )
        if info.get("conflict_chain"):
            out.print(
                f"  conflict: accounts {', '.join(map(escape, info['sor_ids']))} are joined by:"
            )
            for step in info["conflict_chain"]:
                out.print(f"    {_edge(step)}")
            out.print(
                "  cut the wrong edge with a no_match decision (decisions.jsonl / `linker review`)"
            )
        if info.get("component"):
            out.print(
                "  linked to records that reach no account: "
                + ", ".join(escape(":".join(r)) for r in info["component"])
            )
        for ref in info.get("refs", []):
            state = (
                "found"
                if ref["found"]
                else "[yellow]names no record there[/yellow] (deleted, filtered, or a typo?)"
            )
            out.print(
                f"  ref {escape(ref['column'])} = {escape(ref['value'])} → {escape(ref['target'])}: {state}"
            )
        if info.get("contradiction"):
            out.print(
                f"  [yellow]contradicts its account[/yellow]: {escape(info['contradiction'])}; "
                "a reviewer decides (a match with the account's record settles it)"
            )
        for sg in info.get("suggestions", []):
            out.print(
                f"  suggested by {escape(sg['rule'])} (suggestive: {escape(sg['key'] or '')}) "
                f"with {escape(':'.join(sg['other']))}, no edge: {escape(sg['why'])}"
            )
        for c in info.get("cut", []):
            out.print(
                f"  cut automatically: {escape(c['rule'])} edge with {escape(':'.join(c['other']))} "
                f"({escape(c['evidence'] or '')}) would have joined accounts "
                f"{', '.join(map(escape, c['accounts']))}"
            )
        for k in info.get("blocked_keys", []):
            out.print(
                f"  rule {escape(k['rule'])}: key {escape(k['key'])} made no edge: "
                + (
                    f"{k['sor_records']} accounts share it"
                    if k["reason"] == "ambiguous"
                    else f"{k['records']} records share it (more than [rules] max_key_records)"
                )
            )
        if info["reason"] == "no_match":
            out.print(
                "  no rule found an equal key; its keys: "
                + ", ".join(
                    f"{k}={escape(str(v))}" for k, v in info["keys"].items() if k != "account_ref"
                )
            )


def forget_report(rep: ForgetResult) -> None:
    """`linker forget`: what was (or would be) erased, and where it could not reach."""
    dry = rep["dry_run"]
    if dry:
        out.print("[yellow]dry run[/yellow]: nothing was changed; `linker forget` without "
                  "--dry-run would do this:")  # fmt: skip
    removed, cleared = ("would be removed", "would be cleared") if dry else ("removed", "cleared")
    if not rep["records"]:
        out.print(
            "no record matched: nothing to erase in the publications"
            + (
                f"; {rep['decisions_removed']} decision line(s) named the address"
                if rep["decisions_removed"]
                else ""
            )
        )
    else:
        out.print(
            f"{'would erase' if dry else 'erased'} {len(rep['records'])} record(s): "
            + ", ".join(escape(f"{s}:{i}") for s, i in rep["records"])
        )
    out.print(
        f"  decisions log: {rep['decisions_removed']} line(s) {removed}"
        + ("" if dry else " (file rewritten atomically)")
    )
    out.print(
        "  state database: "
        + (
            f"{cleared} (the next `linker run` rebuilds it)"
            if rep["state_cleared"]
            else "none to clear"
        )
    )
    for where, n in rep["publications"].items():
        out.print(f"  publication {escape(where)}: {n} row(s) {removed}")
    for where, why in rep["publications_not_reached"].items():
        out.print(
            f"  [yellow]publication {escape(where)} not reached[/yellow]: {escape(why)}; "
            "erase it there by hand if it still exists"
        )
    if unread := rep.get("sources_unread"):
        out.print(
            "[yellow]the sources could not be read[/yellow] (erased from the state and the "
            f"publications only; search them yourself): {escape(unread)}"
        )
    if rep["still_in_sources"]:
        out.print(
            "[yellow]still in the sources[/yellow] (erase there too, or the next run brings them back): "
            + ", ".join(escape(s) for s in rep["still_in_sources"])
        )


def evaluate_report(res: EvaluateResult, wrong: list[dict], errors: bool) -> None:
    """`linker evaluate`: precision and recall per source, per rule, the lift, the errors."""
    sections = cast("dict[str, Any]", res)  # read below section by section, by name
    for section, title in (
        ("accounts", "accounts → account_id"),
        ("contacts", "contacts → account_id"),
        ("contacts_user", "contacts → user_id"),
    ):
        if not sections[section]:
            continue
        t = Table(title=title, title_justify="left")
        for col in ("source", "predicted", "true", "correct", "precision", "recall", "F1"):
            t.add_column(col, justify="left" if col == "source" else "right")
        for name, s in sections[section].items():
            label = {"all": "all", "all_rules_only": "all (rules only)"}.get(name, name)
            t.add_row(
                label,
                str(s["predicted"]),
                str(s["true"]),
                str(s["correct"]),
                *(
                    f"{s[k]:.4f}" if s[k] is not None else "–"
                    for k in ("precision", "recall", "f1")
                ),
            )
        out.print(t)
    for section, title in (
        ("accounts_by_rule", "accounts → account_id, by method and rule"),
        ("contacts_by_rule", "contacts → account_id, by how the account was found"),
    ):
        if not sections.get(section):
            continue
        t = Table(title=title, title_justify="left")
        for col in ("source", "method / rule", "linked", "correct", "precision"):
            t.add_column(col, justify="left" if col in ("source", "method / rule") else "right")
        for r in sections[section]:
            prec = r["precision"]
            shown = f"{prec:.4f}" if prec is not None else "–"
            t.add_row(
                r["source"],
                escape(str(r["rule"])),
                str(r["predicted"]),
                str(r["correct"]),
                f"[red]{shown}[/red]" if prec is not None and prec < 0.99 else shown,
            )
        out.print(t)
    for section, title in (
        ("accounts", "accounts"),
        ("contacts", "contacts → account_id"),
        ("contacts_user", "contacts → user_id"),
    ):
        if not sections[section]:
            continue  # contacts → user_id: the truth has no user_id column
        a, b = sections[section]["all"], sections[section]["all_rules_only"]
        if a["recall"] is not None and b["recall"] is not None:
            out.print(
                f"lift over rules only, {title}: recall {a['recall'] - b['recall']:+.4f}, "
                f"precision {(a['precision'] or 0) - (b['precision'] or 0):+.4f} "
                f"({a['correct'] - b['correct']:+d} correct links)"
            )
    if res["unlabelled"]:
        out.print(
            f"{res['unlabelled']} record(s) have no row in the truth file and were not scored"
        )
    if errors:
        t = Table(title=f"account records the run got wrong: {len(wrong)}", title_justify="left")
        for col in ("source", "id", "what", "linked to", "truth", "method / rule", "reason"):
            t.add_column(col, overflow="fold")
        for e in wrong:
            t.add_row(
                escape(e["source"]), escape(e["id"]), e["kind"], escape(e["predicted"] or "–"),
                escape(e["true"] or "–"), escape(e["rule"] or e["method"]),
                escape(e["reason"] or ""),
            )  # fmt: skip
        out.print(t)
