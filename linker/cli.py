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

from linker import render, render_records
from linker.errors import ConfigError, ExitCode, LinkerError, environment_problem
from linker.render import err, escape, out
from linker.results import Progress

if TYPE_CHECKING:
    from linker.project import Project

app = typer.Typer(
    name="linker",
    help="Resolve every system's customer records to one account_id and publish a Parquet crosswalk.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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
        self._stage: str | None = None

    @contextlib.contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        self._stage = name
        self._live(f"… {name}")
        try:
            yield
        finally:
            self._stage = None
        if not self.quiet:
            err.print(f"[dim]✓ {name:<10} {time.perf_counter() - t0:7.2f} s[/dim]")

    def note(self, text: str) -> None:
        """On a terminal the stage's one live line says it; in a log, a plain line."""
        if self._stage is None or self.quiet:
            return
        if err.is_terminal:
            self._live(f"… {self._stage}: {text}")
        else:
            err.print(f"  {self._stage}: {text}", markup=False, highlight=False)

    def _live(self, line: str) -> None:
        if not self.quiet and err.is_terminal:
            width = max(err.width - 1, 10)
            err.print(
                f"{line[:width]:<{width}}", end="\r", style="dim", markup=False, highlight=False
            )

    def warn(self, message: str) -> None:
        if not self.quiet:
            err.print(f"[yellow]warning:[/yellow] {escape(message)}")


def _project(path: Path | None, quiet: bool = False) -> Project:
    from linker.project import Project  # DuckDB and Arrow load here, not for --help

    return Project(path or Path("."), progress=StderrProgress(quiet))


# Every --json object starts with this: raised when a key is renamed, removed or changes
# meaning (docs/cli.md, "JSON output"); adding a key keeps it.
JSON_SCHEMA_VERSION = 1


def _print_json(obj: Any) -> None:
    if isinstance(obj, dict):
        obj = {"schema_version": JSON_SCHEMA_VERSION, **obj}
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
    render.check_report(p, result, mapping)


@command()
def run(
    project: ProjectOpt = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish the crosswalk if the quality gates pass.")
    ] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Publish here instead of [publish] out.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Read the sources and say what changed since the last run; link and write nothing.",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Recompute even when nothing changed since the last run (its results stand).",
        ),
    ] = False,
    keep_frequencies: Annotated[
        bool,
        typer.Option(
            "--keep-frequencies",
            help="Score with the last run's term frequencies (as a run after a small change "
            "does) instead of computing them afresh: with --full, what such a run must equal.",
        ),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Ingest, normalize, apply the rules, resolve; print a summary per source."""
    p = _project(project, quiet)  # --json: stdout is the JSON; progress stays on stderr
    p.frozen_statistics = keep_frequencies
    if dry_run:
        if publish:
            raise ConfigError("--dry-run writes nothing: it cannot --publish", key="--dry-run")
        dry = p.dry_run()
        if json_:
            _print_json(dry)
        else:
            render.dry_run_report(dry)
        return
    res = p.run(do_publish=publish, publish_out=out_dir, full=full)
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
    render.train_report(res)


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
            render.print_queue(session.listing(), json_, csv_)
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
    render.review_summary(summary)


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
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Resolve every component again, not only the ones new decisions touch.",
        ),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Apply the reviewers' decisions to the last run and write the crosswalk atomically."""
    p = _project(project, quiet)  # --json: stdout is the JSON; progress stays on stderr
    res = p.publish(out_dir, force=force, full=full)
    _finish(p, res, json_, True)


def _finish(p: Project, res, json_: bool, wanted_publish: bool) -> None:
    if json_:
        _print_json({**res.report, "gates": res.gates, "published": res.manifest})
    else:
        render.run_report(p, res, wanted_publish)

    # A failed gate is exit 1 — unless the publish it would have stopped was forced and done.
    if res.gates_failed and not (wanted_publish and res.manifest):
        raise typer.Exit(ExitCode.QUALITY_GATE)


@command()
def status(project: ProjectOpt = None, json_: JsonOpt = False) -> None:
    """The last run, the reviewers' decisions and the last publication."""
    st = _project(project, True).status()
    if json_:
        _print_json(st)
        return
    render.status_report(st)


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
    render_records.explain_report(source, info)


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
    render_records.forget_report(rep)


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
    render_records.evaluate_report(res, wrong, errors)


# --- the one error handler --------------------------------------------------------------------


def main() -> None:
    """Entry point (the `linker` console script)."""
    app(prog_name="linker")


if __name__ == "__main__":  # pragma: no cover
    main()
