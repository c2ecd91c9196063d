"""What the command line prints on a terminal: every table and line of `linker`'s output.

`linker.cli` parses the command, calls `Project` and hands the result here (or prints it as
JSON). Values from the data are escaped with `escape` (rich markup and control characters); the
consoles are made on first use, so `linker --help` never loads rich."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from linker.display import visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable

    from linker.project import Project
    from linker.results import (
        CheckResult,
        DryRunResult,
        RunResult,
        SinceLastRun,
        StatusResult,
        TrainResult,
    )


def escape(text: str) -> str:
    """Data shown literally: rich markup escaped, control characters (ESC...) made visible."""
    from rich.markup import escape as escape_markup

    return escape_markup(visible(text))


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 140  # CI logs: wide enough for the summary tables
    return console


class _LazyConsole:
    """A rich Console made on first use: `linker --help` and a bad option never load rich."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = _console(self._stderr)
        return getattr(self._console, name)


def Table(*args: Any, **kwargs: Any) -> RichTable:  # noqa: N802 - stands in for rich's class
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


out = _LazyConsole(stderr=False)
err = _LazyConsole(stderr=True)

WIDE = 120  # from this many columns the summary is two tables; below, lines per source


def _print_sources_narrow(rep: dict) -> None:
    """The per-source summary as lines that wrap cleanly at 80 columns."""
    out.print(f"[bold]{escape(rep['project'])} · run {rep.get('run_id', '')}[/bold]")
    for name, s in rep["sources"].items():
        counts = [f"{s['records']} records", f"linked {_pct(s['linked'], s['records'])}"]
        if s["entity"] == "accounts":
            counts += [
                f"{label} {s[key]}"
                for key, label in (
                    ("conflicts", "in conflict"), ("duplicates", "dups"),
                    ("invalid_vats", "bad VAT"), ("invalid_phones", "bad phone"),
                )
                if s.get(key)
            ]  # fmt: skip
            how = ", ".join(f"{k} {v}" for k, v in s["by_method"].items())
        else:
            counts += [f"user_id {s['with_user']}"]
            if s.get("disagreements"):
                counts.append(f"disagree {s['disagreements']}")
            how = ", ".join(f"{k} {v}" for k, v in s["account_via"].items())
        out.print(f"[bold]{escape(name)}[/bold] ({s['entity']}): " + " · ".join(counts))
        if how:
            out.print(f"  {'by' if s['entity'] == 'accounts' else 'account via'}: {escape(how)}")
        unresolved = ", ".join(f"{k} {v}" for k, v in s["unresolved"].items())
        if unresolved:
            out.print(f"  unresolved: {escape(unresolved)}")


def _print_dangling(rep: dict) -> None:
    """References and contacts' account links that name no record: a deleted or filtered-out
    account, or ids written another way (Salesforce's 15 vs 18 characters, `34.0`)."""
    parts, loud = [], False
    for name, s in rep["sources"].items():
        for target, n in s.get("dangling_refs", {}).items():
            parts.append(f"{name} → {target}: {n} of {s.get('refs_total', {}).get(target, n)}")
        link = s.get("account_links")
        if link and link["dangling"]:
            parts.append(
                f"{name} → {link['target']} (account link): {link['dangling']} of {link['total']}"
            )
            loud = loud or link["dangling"] * 2 > link["total"]
    if parts:
        style = "yellow" if loud else "dim"
        out.print(
            f"[{style}]references that name no record[/{style}]: "
            + ", ".join(escape(p) for p in parts)
            + " (deleted or filtered-out records, or ids written another way; "
            "`linker explain SOURCE ID` on one of them)"
        )


def print_queue(items: list[dict], as_json: bool, as_csv: bool) -> None:
    """`linker review --list`: the queue as a table, JSON lines or CSV (on stdout)."""
    if as_json:
        for row in items:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    if as_csv:
        import csv

        w = csv.DictWriter(sys.stdout, fieldnames=list(items[0]) if items else ["item"])
        w.writeheader()
        w.writerows(items)
        return
    table = Table(box=None, pad_edge=False)
    for col in ("item", "kind", "state", "record", "candidate", "account", "p", "proposed cut"):
        table.add_column(col, overflow="fold")
    for r in items:
        table.add_row(
            str(r["item"]), r["kind"], r["state"], escape(r["left"]),
            escape(r["right"]), escape(r["account_id"] or ""),
            "" if r["probability"] is None else f"{r['probability']:.4f}",
            escape(r["proposed_cut"] or ("–" if r["kind"] == "pair" else "none")),
        )  # fmt: skip
    out.print(table)
    pending = sum(1 for r in items if r["state"] == "pending")
    out.print(f"{len(items)} item(s), {pending} pending")


def dry_run_report(dry: DryRunResult) -> None:
    """`linker run --dry-run`: what changed in the sources since the last run."""
    since = dry["since_last_run"]
    if since["compared"]:
        t = Table(title="since the last run", title_justify="left")
        for col in ("source", "added", "changed", "removed", "unchanged"):
            t.add_column(col, justify="left" if col == "source" else "right")
        for name, n in since["sources"].items():
            t.add_row(
                escape(name), *(str(n[k]) for k in ("added", "changed", "removed", "unchanged"))
            )
        out.print(t)
    else:
        out.print(since_last_run_text(since))
    for w in dry["warnings"]:
        out.print(f"[yellow]warning:[/yellow] {escape(w)}")
    out.print("dry run: nothing linked, nothing written")


def resolved_text(resolved: dict | None) -> str | None:
    """What a run or publish computed again, and why (report `resolved`)."""
    if not resolved:
        return None
    if resolved["scope"] == "none":
        return str(resolved["why"])
    if resolved["scope"] == "all":
        if resolved.get("by") == "run":
            return f"computed in full: {resolved['why']}"
        return f"every component resolved again: {resolved['why']}"
    contacts = resolved.get("contacts")
    return (
        f"resolved again: {resolved['records']:,} of {resolved['of']:,} account records (the "
        f"components of the {resolved['decided']:,} record(s) new decisions name), "
        f"{resolved['changed']:,} of them changed; "
        + ("every contact" if contacts is None else f"{contacts:,} contact(s)")
        + " resolved again"
    )


def since_last_run_text(since: SinceLastRun) -> str:
    """'since the last run: crm 1 added, 2 changed; billing 3 removed (…unchanged)'."""
    if not since["compared"]:
        return f"since the last run: not compared ({since['why']})"
    parts = []
    for name, n in since["sources"].items():
        moved = ", ".join(f"{n[k]} {k}" for k in ("added", "changed", "removed") if n[k])
        if moved:
            parts.append(f"{escape(name)} {moved}")
    same = sum(n["unchanged"] for n in since["sources"].values())
    return f"since the last run: {'; '.join(parts) or 'no record changed'} ({same} unchanged)"


def _print_summary(p: Project, rep: dict) -> None:
    acc = Table(
        title=f"{rep['project']} · run {rep.get('run_id', '')} · accounts", title_justify="left"
    )
    for col in (
        "source",
        "records",
        "linked",
        "by rule / method",
        "unresolved",
        "in conflict",
        "dups",
        "bad VAT",
        "bad phone",
    ):
        acc.add_column(
            col, justify="left" if col in ("source", "by rule / method", "unresolved") else "right"
        )
    con = Table(title="contacts", title_justify="left")
    for col in (
        "source",
        "records",
        "user_id",
        "account_id",
        "account via",
        "unresolved",
        "disagree",
    ):
        con.add_column(
            col, justify="left" if col in ("source", "account via", "unresolved") else "right"
        )
    for name, s in rep["sources"].items():
        unresolved = ", ".join(f"{k} {v}" for k, v in s["unresolved"].items()) or "–"
        if s["entity"] == "accounts":
            acc.add_row(
                name,
                _records(s),
                _pct(s["linked"], s["records"]),
                ", ".join(f"{k} {v}" for k, v in s["by_method"].items()) or "–",
                unresolved,
                str(s["conflicts"]),
                str(s["duplicates"]),
                str(s["invalid_vats"]),
                str(s.get("invalid_phones", 0)),
            )
        else:
            con.add_row(
                name,
                _records(s),
                str(s["with_user"]),
                _pct(s["linked"], s["records"]),
                ", ".join(f"{k} {v}" for k, v in s["account_via"].items()) or "–",
                unresolved,
                str(s["disagreements"]),
            )
    if out.width >= WIDE:
        out.print(acc)
        if con.row_count:
            out.print(con)
    else:  # a narrow terminal: a few lines per source instead of a table cut to pieces
        _print_sources_narrow(rep)
    since = rep.get("since_last_run")
    if since:
        out.print(since_last_run_text(since))
    resolved = resolved_text(rep.get("resolved"))
    if resolved:
        out.print(resolved)
    c = rep["conflicts"]
    held = sum(s.get("conflicts", 0) for s in rep["sources"].values() if s["entity"] == "accounts")
    if c["components"]:
        out.print(
            f"[yellow]{c['components']} conflict(s)[/yellow] (groups of records joining two or more "
            f"accounts); {held} account record(s) held back as `conflict` (in dispute, or "
            "contradicting their account). First ones:"
        )
        for item in c["detail"][:5]:
            chain = "  ".join(
                f"{escape(':'.join(s['from']))} ─{escape(s['rule'] or '')}─ {escape(':'.join(s['to']))}"
                for s in item["chain"]
            )
            out.print(f"  accounts {', '.join(map(escape, item['sor_ids']))}: {chain}")
        out.print("  see `linker explain SOURCE ID`; cut a wrong edge with a no_match decision")
    sc = rep.get("scoring") or {}
    if sc.get("enabled"):
        out.print(
            f"scoring: {sc['open']} open record(s) against {sc['known']} linked ones; "
            f"{sc['blocked_pairs']} candidate pairs scored; {sc['linked']} open record(s) linked "
            f"(p >= {p.config.scoring.accept}), {sc['review']} sent to review"
            + (" [yellow](model trained on this run)[/yellow]" if sc.get("trained_now") else "")
        )
        if any(sc.get("would_link", {}).values()):
            out.print(
                "  held back only by [scoring] accept: "
                + ", ".join(f"{n} would link at accept = {t}" for t, n in sc["would_link"].items())
                + " (measure before you lower it: `linker evaluate`)"
            )
    if rep.get("pending_review"):
        contra = c.get("contradicted", 0)
        out.print(
            f"review queue: {rep['pending_review']} pair(s) (the candidates of the records sent "
            "to review"
            + (f", and {contra} record(s) contradicting their account" if contra else "")
            + f") and {c['components']} conflict(s): `linker review` "
            "(or decisions.jsonl); `linker explain SOURCE ID` shows the evidence"
        )
    _print_dangling(rep)
    dups = {n: s["duplicates"] for n, s in rep["sources"].items() if s.get("duplicates")}
    if dups:
        out.print(
            "duplicates (records of one system on one account; the first is the leading one): "
            + ", ".join(f"{escape(n)} {d}" for n, d in dups.items())
            + ", e.g. "
            + "; ".join(
                f"account {escape(g['account_id'])}: "
                + ", ".join(escape(f"{g['source']}:{i}") for i in g["records"])
                for g in rep.get("duplicate_groups", [])[:3]
            )
            + " (`--json` lists more; `linker explain SOR_SOURCE ID` an account's records)"
        )
    if rep.get("keys_without_edges_total"):
        out.print(
            f"{rep['keys_without_edges_total']} key(s) made no edges (shared by several accounts, or by "
            "too many records), e.g. "
            + ", ".join(
                f"{escape(k['rule'])} {escape(k['key'])} ({k['records']} records, {k['sor_records']} accounts)"
                for k in rep["keys_without_edges"][:3]
            )
        )
    t = rep.get("timings", {})
    if t:
        out.print(
            "time: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in t.items())
            + f" · total {sum(t.values()):.2f} s"
        )


def _records(s: dict) -> str:
    """A source's record count; an empty source stands out (its rows leave the publication)."""
    return "[bold red]0 EMPTY[/bold red]" if s.get("empty") else str(s["records"])


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else "0"


def check_report(p: Project, result: CheckResult, mapping: dict) -> None:
    """`linker check`: the sources, what will link, what each source maps."""
    t = Table(title=f"{p.config.name}: sources", title_justify="left")
    for col in ("source", "entity", "rows", "records", "no id", "dup ids"):
        t.add_column(col, justify="right" if col not in ("source", "entity") else "left")
    for name, s in result["sources"].items():
        t.add_row(
            name,
            p.config.sources[name].entity,
            str(s["rows"]),
            str(s["records"]),
            str(len(s["null_ids"])),
            str(len(s["duplicate_ids"])),
        )
    out.print(t)
    f = Table(title="what will link: fields filled, a few normalized values", title_justify="left")
    for col in ("source", "field", "filled", "sample"):
        f.add_column(col, justify="right" if col == "filled" else "left", overflow="fold")
    for name, info in result["linking"].items():
        for field_name, v in info["fields"].items():
            f.add_row(
                escape(name), escape(field_name),
                "–" if v["filled"] is None else f"{v['filled']:.0%}",
                escape(", ".join(v["sample"])),
            )  # fmt: skip
        for target, r in info["refs"].items():
            f.add_row(
                escape(name), escape(f"ref → {target}"),
                f"{r['found'] / r['values']:.0%}" if r["values"] else "–",
                f"{r['found']} of {r['values']} values name a {escape(target)} record",
            )  # fmt: skip
        if info["account"]:
            a = info["account"]
            f.add_row(
                escape(name), escape(f"account → {a['target']}"),
                f"{a['found'] / a['values']:.0%}" if a["values"] else "–",
                f"{a['found']} of {a['values']} links name a {escape(a['target'])} record",
            )  # fmt: skip
    out.print(f)
    out.print("what each source maps (its own keys over its system preset's):")
    for name, m in mapping.items():
        parts = [f"id {m['id']}" + (f" ({m['id_format']} ids)" if m["id_format"] else "")]
        if m["records"]:
            parts.append(f"records under {m['records']!r}")
        parts.append(", ".join(f"{f} = {c}" for f, c in m["fields"].items()) or "no fields")
        parts += [f"ref to {t}: {c}" for t, c in m["refs"].items()]
        if m["account"]:
            parts.append(f"account: {m['account']['source']}.{m['account']['column']}")
        system = f" [{m['system']}]" if m["system"] else ""
        out.print(f"  {escape(name)}{escape(system)}: " + escape("; ".join(parts)))
    out.print("[green]ok[/green]: config, rules and sources are valid")


def train_report(res: TrainResult) -> None:
    """`linker train`: where the model went and what it learnt from."""
    t = res["training"]
    sc = res["scoring"]
    out.print(f"model saved: {escape(res['model'])}")
    out.print(f"model report (open it in a browser): {escape(res['report'])}")
    out.print(
        f"trained on {t['open_records']} open and {t['known_records']} linked account records: "
        f"u from {t['u_max_pairs']:,} random pairs; {escape(t['m'])} ({t['label_pairs']} label "
        f"pairs); prior {t['prior']:.3g} from {t['candidate_pairs']} candidate pairs"
    )
    out.print(
        f"with it, this data would give: {sc['linked']} linked, {sc['review']} to review, "
        f"{sc['blocked_pairs']} candidate pairs scored"
    )
    out.print("`linker run` uses the model from now on; commit model.json with the project")


def review_summary(summary: dict) -> None:
    """After a review sitting: the decisions made and what is left."""
    made = summary["decisions"]
    kinds = ", ".join(f"{n} {k}" for k, n in summary["by_decision"].items())
    pend = summary["progress"]["pending"]
    if made:
        out.print(f"{made} decision(s) this sitting ({kinds}), saved in {escape(summary['file'])}")
        out.print("`linker publish` applies them (or the next `linker run`)")
    else:
        out.print("no decisions this sitting")
    out.print(f"{pend} item(s) still pending")


def run_report(p: Project, res: RunResult, wanted_publish: bool) -> None:
    """`linker run` / `publish`: the summary, the quality gates, what was published."""
    _print_summary(p, res.report)
    for g in res.gates:
        mark = "[green]pass[/green]" if g["ok"] else "[red]FAIL[/red]"
        counts = f" ({g['counts']})" if g.get("counts") else ""
        out.print(f"quality gate {g['gate']}: {g['value']}{counts} (limit {g['limit']}) {mark}")
    if res.manifest and (res.report.get("resolved") or {}).get("publication") == "current":
        where = res.published_to or p.config.out_dir
        out.print(
            f"run {res.manifest['run_id']} is already the publication in {escape(str(where))}/: nothing written"
        )
    elif res.manifest:
        where = res.published_to or p.config.out_dir
        out.print(
            f"published run {res.manifest['run_id']} → {escape(str(where))}/ "
            f"({', '.join(f'{k}: {v}' for k, v in res.manifest['row_counts'].items())})"
        )
        changed = res.manifest.get("changes")
        if changed is not None:
            previous = res.manifest.get("previous_run_id")
            what = ", ".join(f"{v} {k}" for k, v in changed.items() if v) or "nothing"
            out.print(
                f"changes since run {previous}: {what} (changes.parquet)"
                if previous
                else f"first publication in {escape(str(where))}: every record is added in changes.parquet"
            )
    elif wanted_publish and res.gates_failed:
        out.print(
            "[red]not published[/red]: a quality gate failed (use `linker publish --force` to override)"
        )


def status_report(st: StatusResult) -> None:
    """`linker status`: the last run, the decisions, the last publication."""
    out.print(f"project {escape(st['project'])} at {escape(st['root'])}")
    lr = st["last_run"]
    if lr is None:
        out.print("last run: none yet (`linker run`)")
    else:
        changed = " [yellow](linker.toml changed since)[/yellow]" if lr["config_changed"] else ""
        out.print(
            f"last run: {lr['run_id']}{changed}: {lr['conflicts']} conflict(s) and "
            f"{lr['pending_review']} pair(s) queued for review"
        )
        for name, s in lr["sources"].items():
            out.print(f"  {name:<16} {s['linked']:>8} of {s['records']:>8} linked")
        rv = st["review"]
        if rv is not None:
            out.print(
                f"review queue: {rv['pending']} pending of {rv['items']} item(s), pairs and "
                f"conflicts ({rv['reviewed']} decided since the last run"
                + ("; `linker publish` applies them)" if rv["reviewed"] else ")")
                + ("; `linker review` to work on it" if rv["pending"] else "")
            )
    d = st["decisions"]
    out.print(
        f"decisions: {d['standing']} standing ({d['match']} match, {d['no_match']} no_match) "
        f"from {d['lines']} lines"
        + (
            ": " + ", ".join(f"{k} {v}" for k, v in d["by_reviewer"].items())
            if d["by_reviewer"]
            else ""
        )
    )
    m = st["last_publication"]
    out.print(
        "last publication: "
        + (
            f"run {m['run_id']} at {m['created_at']}, "
            + ", ".join(f"{k} {v}" for k, v in m["row_counts"].items())
            if m
            else "none"
        )
    )
