"""The `linker` command line: thin commands over `Project`, one error handler, exit codes.

Exit codes: 0 success, 1 a quality gate failed (the run completed), 2 usage/configuration
error (or the project is busy, or the machine refused a write), 3 input data error,
4 internal error (a bug: the traceback goes to a private crash log in .linker/, never to the
terminal), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from linker.display import visible
from linker.errors import ConfigError, ExitCode, LinkerError, environment_problem
from linker.results import Progress

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable

    from linker.project import Project

app = typer.Typer(
    name="linker",
    help="Resolve every system's customer records to one account_id and publish a Parquet crosswalk.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


EXPLAIN_LISTED = 50  # a SOR account's linked records printed by `linker explain`


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

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "-p",
        "--project",
        envvar="LINKER_PROJECT",
        show_default=False,
        help="Project directory (default: the current one; env LINKER_PROJECT).",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of tables (for CI).")
]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="No progress or warnings on stderr.")]


class StderrProgress(Progress):
    """Stage progress and warnings on stderr, so stdout stays clean for --json."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    @contextlib.contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        if not self.quiet and err.is_terminal:
            err.print(f"[dim]… {name}[/dim]", end="\r")
        yield
        if not self.quiet:
            err.print(f"[dim]✓ {name:<10} {time.perf_counter() - t0:7.2f} s[/dim]")

    def warn(self, message: str) -> None:
        if not self.quiet:
            err.print(f"[yellow]warning:[/yellow] {escape(message)}")


def _project(path: Path | None, quiet: bool = False) -> Project:
    from linker.project import Project  # DuckDB and Arrow load here, not for --help

    return Project(path or Path("."), progress=StderrProgress(quiet))


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _show_version(value: bool) -> None:
    if value:
        from linker import __version__

        out.print(f"linker {__version__}")
        raise typer.Exit()


@app.callback(
    epilog="Exit codes: 0 ok · 1 a quality gate failed · 2 usage or configuration error "
    "(or the project is busy, or the machine refused a write: read-only, disk full) · "
    "3 input data error · 4 internal error (a bug) · 130 interrupted (Ctrl-C)."
)
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Resolve every system's customer records to one account_id and publish a Parquet crosswalk."""


def handle_errors(fn):
    """The one error handler: known errors -> message + exit code; Ctrl-C -> 130; the machine
    refusing (disk full, read-only) -> 2; a bug -> crash log, exit 4."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LinkerError as e:
            _print_error(e)
            raise typer.Exit(int(e.exit_code)) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            _interrupted()
        except Exception as e:
            if _is_interrupt(e):
                _interrupted()
            env = environment_problem(e)
            if env is not None:
                _print_error(env)
                raise typer.Exit(int(env.exit_code)) from None
            # A bug: keep the terminal clean, keep the details (in the project, private).
            log = _crash_log(kwargs.get("project"), traceback.format_exc())
            first = next((ln for ln in str(e).splitlines() if ln.strip()), "")
            err.print(
                f"[red]internal error:[/red] {escape(type(e).__name__)}: {escape(first)}\n"
                f"  this is a bug in linker; the traceback is in {escape(str(log))}"
            )
            raise typer.Exit(int(ExitCode.INTERNAL)) from None

    return wrapper


def _is_interrupt(e: Exception) -> bool:
    """Ctrl-C that reached DuckDB mid-query: it stops the query and raises its own error
    (InterruptException, or a bare RuntimeError from a statement run inside a macro or UDF)."""
    import duckdb  # loaded already by whatever raised e

    return isinstance(e, duckdb.InterruptException) or (
        isinstance(e, RuntimeError) and str(e).strip() == "Query interrupted"
    )


def _interrupted() -> NoReturn:
    err.print(
        "[red]interrupted[/red]: stopped before finishing; the last publication and "
        "decisions.jsonl are as they were (a publish or a decision is all or nothing)"
    )
    raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def _print_error(e: LinkerError) -> None:
    lines = e.lines()
    err.print(f"[red]error:[/red] {escape(lines[0])}")
    for line in lines[1:]:
        err.print(escape(line))


def _crash_log(project: Path | None, text: str) -> Path:
    """A new private file (created exclusively, mode 0600, never through a symlink) holding the
    traceback: in the project's .linker/ when there is a project, else a fresh temporary file."""
    base = Path(project) if project is not None else Path(".")
    if base.is_file():
        base = base.parent
    data = text.encode("utf-8", "replace")
    if (base / "linker.toml").is_file():
        try:
            state = base / ".linker"
            state.mkdir(exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            path = state / f"crash-{stamp}-{os.getpid()}.log"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(path, flags, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return path
        except OSError:
            pass  # a read-only project: the temporary file below
    import tempfile

    fd, name = tempfile.mkstemp(prefix="linker-crash-", suffix=".log")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def command(*args, **kwargs):
    """app.command, with the one error handler around the function."""

    def register(fn):
        return app.command(*args, **kwargs)(handle_errors(fn))

    return register


# --- commands -------------------------------------------------------------------------------


@command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")],
    example: Annotated[
        str | None, typer.Option(help="Copy a complete example project: 'acme'.")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Write into a directory that already has a linker.toml.")
    ] = False,
    from_: Annotated[
        list[Path] | None,
        typer.Option(
            "--from",
            help="Export files to write the config from (repeat --from): each recognised as a "
            "system preset (Zendesk, Salesforce, Stripe, …) or mapped by its column names.",
        ),
    ] = None,
) -> None:
    """Create a project: a commented linker.toml, or a complete runnable example."""
    from linker.scaffold import init_from, init_project

    if from_:
        if example:
            raise ConfigError("--from or --example, not both")
        cfg, found = init_from(directory, list(from_), force=force)
        out.print(f"wrote {escape(str(cfg))}:")
        for line in found:
            out.print(f"  {escape(line)}")
        out.print(
            f"next: read it (add your custom reference fields), then "
            f"`linker check -p {escape(str(directory))}`"
        )
        return
    created = init_project(directory, example=example, force=force)
    out.print(f"created {escape(str(directory))}/ ({len(created)} files)")
    out.print(
        f"next: linker run -p {escape(str(directory))} --publish"
        if example
        else f"next: edit {escape(str(directory / 'linker.toml'))}, then `linker check -p {escape(str(directory))}`"
    )


@command()
def check(
    project: ProjectOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when there is any warning.")
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Validate the config, the rules and every source (read, mapped, normalized) without
    matching, and show what will link: fields filled, references that name a record."""
    p = _project(project, quiet)
    result = p.check()
    if strict and result["warnings"]:
        if json_:
            _print_json({"ok": False, **result})
        else:
            for w in result["warnings"]:
                err.print(f"[yellow]warning:[/yellow] {escape(w)}")
            err.print(f"[red]--strict[/red]: {len(result['warnings'])} warning(s)")
        raise typer.Exit(int(ExitCode.QUALITY_GATE))
    from linker.presets import resolved_mapping

    mapping = {n: resolved_mapping(src) for n, src in p.config.sources.items()}
    if json_:
        _print_json({"ok": True, **result, "mapping": mapping})
        return
    for w in result["warnings"]:
        p.progress.warn(w)
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


@command()
def run(
    project: ProjectOpt = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish the crosswalk if the quality gates pass.")
    ] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Publish here instead of [publish] out.")
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Ingest, normalize, apply the rules, resolve; print a summary per source."""
    p = _project(project, quiet)  # --json: stdout is the JSON; progress stays on stderr
    res = p.run(do_publish=publish, publish_out=out_dir)
    _finish(p, res, json_, publish)


@command()
def train(
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """(Re)train the Splink model on the project's data; write model.json and model.html."""
    p = _project(project, quiet)  # --json: stdout is the JSON; progress stays on stderr
    res = p.train()
    if json_:
        _print_json(res)
        return
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


@command()
def review(
    project: ProjectOpt = None,
    reviewer: Annotated[
        str | None,
        typer.Option(help="Who decides (default: env LINKER_REVIEWER, else your login name)."),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Start with the items that have a record of this source.")
    ] = None,
    list_: Annotated[
        bool,
        typer.Option(
            "--list",
            help="Print the queue (kind, state, records, candidates, proposed cut); "
            "no app, no decisions.",
        ),
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="With --list: JSON lines.")] = False,
    csv_: Annotated[
        bool, typer.Option("--csv", help="With --list: CSV, for a spreadsheet.")
    ] = False,
) -> None:
    """Review pending pairs and conflicts in the terminal; decisions go to decisions.jsonl."""
    from linker.review import ReviewSession

    p = _project(project, True)
    if (json_ or csv_) and not list_:
        raise ConfigError("--json and --csv go with --list", hint="linker review --list --csv")
    if json_ and csv_:
        raise ConfigError("--json or --csv, not both")
    session = ReviewSession.open(p, reviewer=reviewer, source=source)
    if list_:
        try:
            _print_queue(session.listing(), json_, csv_)
        finally:
            session.close()
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        session.close()
        raise ConfigError(
            "linker review needs an interactive terminal (stdin and stdout are not one)",
            hint="run it in a terminal; a script can append decisions to decisions.jsonl",
        )
    for w in session.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(w)}")
    try:
        summary = _app("review")(session)
    finally:
        session.close()
    made = summary["decisions"]
    kinds = ", ".join(f"{n} {k}" for k, n in summary["by_decision"].items())
    pend = summary["progress"]["pending"]
    if made:
        out.print(f"{made} decision(s) this sitting ({kinds}), saved in {escape(summary['file'])}")
        out.print("`linker publish` applies them (or the next `linker run`)")
    else:
        out.print("no decisions this sitting")
    out.print(f"{pend} item(s) still pending")


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


def _print_queue(items: list[dict], as_json: bool, as_csv: bool) -> None:
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


def _app(name: str):
    """An app registered under the `linker.apps` entry point (the review app in tui/)."""
    from importlib.metadata import entry_points

    found = entry_points(group="linker.apps", name=name)
    if not found:
        raise ConfigError(
            f"the {name} app is not installed",
            hint="reinstall linker (`pip install -e .` or `make setup`) so its entry points "
            "are registered",
        )
    return next(iter(found)).load()


@command("publish")
def publish_cmd(
    project: ProjectOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Publish here instead of [publish] out.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Publish even when a quality gate fails.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Apply the reviewers' decisions to the last run and write the crosswalk atomically."""
    p = _project(project, quiet)  # --json: stdout is the JSON; progress stays on stderr
    res = p.publish(out_dir, force=force)
    _finish(p, res, json_, True)


def _finish(p: Project, res, json_: bool, wanted_publish: bool) -> None:
    if json_:
        _print_json({**res.report, "gates": res.gates, "published": res.manifest})
    else:
        _print_summary(p, res.report)
        for g in res.gates:
            mark = "[green]pass[/green]" if g["ok"] else "[red]FAIL[/red]"
            counts = f" ({g['counts']})" if g.get("counts") else ""
            out.print(f"quality gate {g['gate']}: {g['value']}{counts} (limit {g['limit']}) {mark}")
        if res.manifest:
            where = res.published_to or p.config.out_dir
            out.print(
                f"published run {res.manifest['run_id']} → {escape(str(where))}/ "
                f"({', '.join(f'{k}: {v}' for k, v in res.manifest['row_counts'].items())})"
            )
        elif wanted_publish and res.gates_failed:
            out.print(
                "[red]not published[/red]: a quality gate failed (use `linker publish --force` to override)"
            )
    # A failed gate is exit 1 — unless the publish it would have stopped was forced and done.
    if res.gates_failed and not (wanted_publish and res.manifest):
        raise typer.Exit(ExitCode.QUALITY_GATE)


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


def _records(s: dict) -> str:
    """A source's record count; an empty source stands out (its rows leave the publication)."""
    return "[bold red]0 EMPTY[/bold red]" if s.get("empty") else str(s["records"])


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else "0"


@command()
def status(project: ProjectOpt = None, json_: JsonOpt = False) -> None:
    """The last run, the reviewers' decisions and the last publication."""
    st = _project(project, True).status()
    if json_:
        _print_json(st)
        return
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


@command()
def explain(
    source: Annotated[str, typer.Argument(help="Source name from linker.toml.")],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The record's id in that source.")],
    project: ProjectOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Why this record has this account: the chain of edges to the SOR record, or why none."""
    info = _project(project, True).explain(source, record_id)
    if json_:
        _print_json(info)
        return
    head = f"{escape(source)}:{escape(info['id'])}"
    if "user_id" in info:
        out.print(
            f"{head} → user_id {escape(info['user_id'] or '–')}, "
            f"account_id {escape(info['account_id'] or '–')} (via {info['account_via'] or '–'})"
            + (f", unresolved: {info['reason']}" if info["reason"] else "")
        )
        if info.get("own_account"):
            oa = info["own_account"]
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
                f"{head} is a system-of-record account: account_id {escape(info['account_id'])}"
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
            if info.get("conflict"):
                c = info["conflict"]
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


@command()
def forget(
    email: Annotated[
        str | None, typer.Option("--email", help="Erase every record with this email.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Erase one record: its source ...")
    ] = None,
    record_id: Annotated[str | None, typer.Option("--id", help="... and its id.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be erased; change nothing.")
    ] = False,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Erase a person or record (GDPR): decisions log, state database, current and kept publications."""
    rep = _project(project, True).forget(
        email=email, source=source, record_id=record_id, dry_run=dry_run
    )
    if json_:
        _print_json(rep)
        return
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
    if rep.get("sources_unread"):
        out.print(
            "[yellow]the sources could not be read[/yellow] (erased from the state and the "
            f"publications only; search them yourself): {escape(rep['sources_unread'])}"
        )
    if rep["still_in_sources"]:
        out.print(
            "[yellow]still in the sources[/yellow] (erase there too, or the next run brings them back): "
            + ", ".join(escape(s) for s in rep["still_in_sources"])
        )


@command()
def evaluate(
    truth: Annotated[
        Path,
        typer.Option("--truth", help="CSV: source, source_record_id, account_id[, user_id]."),
    ],
    errors: Annotated[
        bool,
        typer.Option(
            "--errors", help="Also list the account records linked wrongly and the ones missed."
        ),
    ] = False,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Precision, recall and F1 of the last run against labelled truth."""
    res = _project(project, True).evaluate(truth)
    wrong = res.pop("errors")
    if errors:
        res["errors"] = wrong
    if json_:
        _print_json(res)
        return
    for section, title in (
        ("accounts", "accounts → account_id"),
        ("contacts", "contacts → account_id"),
        ("contacts_user", "contacts → user_id"),
    ):
        if not res[section]:
            continue
        t = Table(title=title, title_justify="left")
        for col in ("source", "predicted", "true", "correct", "precision", "recall", "F1"):
            t.add_column(col, justify="left" if col == "source" else "right")
        for name, s in res[section].items():
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
        if not res.get(section):
            continue
        t = Table(title=title, title_justify="left")
        for col in ("source", "method / rule", "linked", "correct", "precision"):
            t.add_column(col, justify="left" if col in ("source", "method / rule") else "right")
        for r in res[section]:
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
        if not res[section]:
            continue  # contacts → user_id: the truth has no user_id column
        a, b = res[section]["all"], res[section]["all_rules_only"]
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


# --- the one error handler --------------------------------------------------------------------


def main() -> None:
    """Entry point (the `linker` console script)."""
    app(prog_name="linker")


if __name__ == "__main__":  # pragma: no cover
    main()
