"""The facade: `Project(path).run()`, `.publish()`, `.explain()`, ... — what the CLI calls.

State. A run builds `.linker/state.duckdb` (records, edges, results, report) in a temporary
file and renames it into place when complete, so a crash mid-run leaves the previous state
or none; everything in `.linker/` can be rebuilt from sources + config + model + decisions.
One command at a time holds `.linker/lock` (others wait a few seconds, then exit 2).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from linker import __version__, normalize, publish, report, resolve, rules, scoring, state
from linker import decisions as decisions_log
from linker.config import Config, load_config
from linker.db import connect, literal, lock_down, scalar
from linker.errors import ConfigError, ProjectBusy, did_you_mean
from linker.graph import components
from linker.ingest import Ingestor
from linker.results import Progress, RunResult
from linker.review_queue import build_review_queue

STATE_DIR = ".linker"
STATE_DB = "state.duckdb"
MODEL_FILE = "model.json"
MODEL_REPORT = "model.html"
PUBLICATIONS = "publications.json"  # in .linker/: every OUT this project published into


def lock_timeout() -> float:
    """Seconds a command waits for the project's lock: env LINKER_LOCK_TIMEOUT, default 5."""
    raw = os.environ.get("LINKER_LOCK_TIMEOUT", "5")
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not (0 <= wait < float("inf")):
        raise ConfigError(
            f"expected a number of seconds >= 0, got {raw!r}",
            key="environment variable LINKER_LOCK_TIMEOUT",
            hint="e.g. LINKER_LOCK_TIMEOUT=30, or unset it for the default (5)",
        )
    return wait


def _phone_warnings(con, cfg: Config) -> list[str]:
    """Phones that did not validate stay comparable by their digits, but say how many (and
    whether a default country would help)."""
    bad, no_country = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE country IS NULL) FROM records WHERE phone_invalid"
    ).fetchone()
    if not bad:
        return []
    hint = (
        f"; {no_country} of them on records without a country: set [project] default_country"
        if no_country and cfg.default_country is None
        else ""
    )
    return [
        f"{bad} phone number(s) did not validate in their record's country; they are compared "
        f"by their digits (last 7 digits too){hint}"
    ]


class _Timer:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        with self.progress.stage(name):
            yield
        self.timings[name] = round(time.perf_counter() - t0, 3)


class Project:
    def __init__(self, path: Path | str = ".", progress: Progress | None = None) -> None:
        self.path = Path(path)
        self.progress = progress or Progress()
        self._config: Config | None = None

    # --- paths and config ------------------------------------------------------------------

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.path)
        return self._config

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def state_db(self) -> Path:
        return self.state_dir / STATE_DB

    @property
    def decisions_file(self) -> Path:
        return self.root / decisions_log.DECISIONS_FILE

    @property
    def model_file(self) -> Path:
        return self.root / MODEL_FILE

    # --- one writer at a time ------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[None]:
        self.state_dir.mkdir(exist_ok=True)
        path = self.state_dir / "lock"
        fh = open(path, "a+")  # noqa: SIM115 - held for the whole command, closed below
        wait = lock_timeout()
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another linker command"
                    fh.close()
                    raise ProjectBusy(
                        f"the project is busy: {holder} is working on it",
                        file=str(path),
                        hint=f"wait for it to finish (waited {wait:g} s), then retry",
                    ) from None
                time.sleep(0.1)
        fh.seek(0)
        fh.truncate()
        fh.write(f"`linker {command}` (pid {os.getpid()})")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    # --- commands ------------------------------------------------------------------------------

    def check(self) -> dict:
        """Validate config, rules and sources (read and mapped) without matching."""
        cfg = self.config
        con = connect()
        try:
            rules.ordered_rules(cfg, self._fields())
            ing = Ingestor(con, cfg)
            ing.load_all()
            lock_down(con, [self.state_dir])
            normalize.normalize(con, self._custom_fields(), cfg.default_country)
            linking, link_warnings = report.what_will_link(con, cfg)
            return {
                "sources": report.stats_dict(ing.stats),
                "linking": linking,
                "warnings": [*cfg.warnings, *ing.warnings, *link_warnings],
            }
        finally:
            con.close()

    def run(self, *, publish_out: Path | None = None, do_publish: bool = False) -> RunResult:
        """Ingest, normalize, rules, scoring, resolve, contacts; optionally publish (if gates pass)."""
        cfg = self.config
        acc_rules, contact_rules = rules.ordered_rules(cfg, self._fields())
        if do_publish:  # refuse a wrong OUT now, not after the whole run
            publish.check_out(publish_out or cfg.out_dir, self.protected_paths())
        with self.lock("run"):
            timer = _Timer(self.progress)
            tmp = self.state_dir / (STATE_DB + ".tmp")
            for p in (tmp, Path(str(tmp) + ".wal")):
                p.unlink(missing_ok=True)
            # The run works in memory (a file-backed database compresses and writes every
            # intermediate table: twice the time at 1M records) and saves the state once.
            con = connect()
            try:
                stats, warnings = self._match(con, acc_rules, timer)
                scored: dict = {"enabled": False}
                if cfg.scoring.enabled:
                    scored = self._score(con, timer, warnings)
                rep = self._resolve_and_record(
                    con,
                    stats,
                    scored,
                    contact_rules,
                    timer,
                    warnings,
                    cfg.digest,
                    self._run_id(stats),
                )
                with timer("save_state"):
                    state.write_meta(con, f"linker {__version__}")
                    con.execute(f"ATTACH {literal(str(tmp))} AS new_state")
                    con.execute("COPY FROM DATABASE memory TO new_state")
                    con.execute("DETACH new_state")
            finally:
                con.close()
            # The new state replaces the old one only when complete.
            os.replace(tmp, self.state_db)
            Path(str(self.state_db) + ".wal").unlink(missing_ok=True)
            return self._conclude(rep, timer, publish=do_publish, out=publish_out)

    def train(self) -> dict:
        """(Re)train the Splink model on the project's data; write model.json and model.html.

        Runs ingest, normalize, rules and a first resolve in memory (the state is left alone),
        then trains on the records the rules left open. The next `linker run` uses the model.
        """
        from linker.model_report import write_model_report

        cfg = self.config
        acc_rules, _ = rules.ordered_rules(cfg, self._fields())
        with self.lock("train"):
            timer = _Timer(self.progress)
            con = connect()
            try:
                _, warnings = self._match(con, acc_rules, timer)
                self._apply_decisions(con)
                self._resolve_accounts(con)
                with timer("train"):
                    model = scoring.train(con, cfg, self.model_file)
                with timer("score"):
                    scored = scoring.score(con, cfg, model)
                with timer("report"):
                    write_model_report(con, model, scored, cfg, self.root / MODEL_REPORT)
            finally:
                con.close()
        for w in warnings:
            self.progress.warn(w)
        return {
            "model": str(self.model_file),
            "report": str(self.root / MODEL_REPORT),
            "training": model.meta["training"],
            "scoring": scored,
            "timings": timer.timings,
            "warnings": warnings,
        }

    def publish(self, out: Path | None = None, *, force: bool = False) -> RunResult:
        """Re-apply the decisions to the last run's edges and write the crosswalk."""
        _, contact_rules = rules.ordered_rules(self.config, self._fields())
        publish.check_out(out or self.config.out_dir, self.protected_paths())
        with self.lock("publish"):
            timer = _Timer(self.progress)
            con = self._open_state(read_only=False)
            try:
                lock_down(con)  # the contact rules' `where` run below
                last = json.loads(scalar(con, "SELECT value FROM meta WHERE key = 'run'"))
                stats, scored = last["stats"], last.get("scoring", {"enabled": False})
                last_report = json.loads(scalar(con, "SELECT value FROM meta WHERE key = 'report'"))
                run_hash = last_report["config_hash"]
                # Same decisions as the run: the run's id and, byte for byte, its crosswalk.
                # Decisions made since: another answer (a run would also re-score the records
                # they open), so another id.
                run_id = last_report["run_id"]
                now = self._decisions_digest()
                if last.get("decisions") != now:
                    run_id = hashlib.sha256(f"{run_id}:publish:{now}".encode()).hexdigest()[:16]
                stale = []
                if run_hash != self.config.digest:
                    stale.append(
                        f"{self.config.file} changed since the last run; the crosswalk reflects "
                        "the last run's config (run `linker run` to apply the change)"
                    )
                if last.get("decisions") == now:
                    # Nothing decided since the run: its results are the answer, as stored.
                    rep = {**last_report, "warnings": stale, "timings": timer.timings}
                else:
                    rep = self._resolve_and_record(
                        con, stats, scored, contact_rules, timer, stale, run_hash, run_id
                    )
            finally:
                con.close()
            return self._conclude(rep, timer, publish=True, out=out, force=force)

    def status(self) -> dict:
        """The last run, the decisions log and the last publication, without re-running."""
        out: dict = {"project": self.config.name, "root": str(self.root)}
        if self.state_db.exists():
            con = self._open_state(read_only=True)
            try:
                rep = json.loads(scalar(con, "SELECT value FROM meta WHERE key = 'report'"))
            finally:
                con.close()
            out["last_run"] = {
                "run_id": rep.get("run_id"),
                "conflicts": rep["conflicts"]["components"],
                "pending_review": rep.get("pending_review", 0),
                "config_changed": rep.get("config_hash") != self.config.digest,
                "sources": {
                    k: {"records": v["records"], "linked": v["linked"]}
                    for k, v in rep["sources"].items()
                },
            }
            out["review"] = self._review_progress()
        else:
            out["last_run"] = None
            out["review"] = None
        log, warnings = decisions_log.read_log(self.decisions_file)
        standing = decisions_log.current(log)
        by_reviewer: dict[str, int] = {}
        for d in standing.values():
            by_reviewer[d.reviewer or "(unknown)"] = (
                by_reviewer.get(d.reviewer or "(unknown)", 0) + 1
            )
        out["decisions"] = {
            "lines": len(log),
            "standing": len(standing),
            "match": sum(d.decision == "match" for d in standing.values()),
            "no_match": sum(d.decision == "no_match" for d in standing.values()),
            "by_reviewer": dict(sorted(by_reviewer.items())),
        }
        out["last_publication"] = publish.read_manifest(self.config.out_dir)
        out["warnings"] = warnings
        return out

    def _review_progress(self) -> dict:
        """The review queue now: the last run's items less those decided since."""
        from linker.review import ReviewSession

        with self.state_access() as path:
            session = ReviewSession(path, self.decisions_file, reviewer="status")
        try:
            p = session.progress()
        finally:
            session.close()
        return {"items": p.total, "reviewed": p.reviewed, "pending": p.pending}

    def explain(self, source: str, record_id: str) -> dict:
        """Why a record has its account (or none): the chain of edges to the SOR record."""
        from linker.explain import explain_record

        if source not in self.config.sources:
            raise ConfigError(
                f"no source named {source!r}",
                key="SOURCE",
                hint=did_you_mean(source, self.config.sources),
            )
        con = self._open_state(read_only=True)
        try:
            return explain_record(con, self.config, source, record_id)
        finally:
            con.close()

    def forget(
        self,
        *,
        email: str | None = None,
        source: str | None = None,
        record_id: str | None = None,
        dry_run: bool = False,
    ) -> dict:
        """Erase a person (email) or a record from decisions, state and publications
        (`dry_run`: say what would be erased, write nothing)."""
        from linker.forget import forget

        with self.lock("forget"):
            return forget(
                self.config,
                self.state_dir,
                self.decisions_file,
                email=email,
                source=source,
                record_id=record_id,
                publications=self.publication_targets(),
                dry_run=dry_run,
            ).to_dict()

    def evaluate(self, truth: Path) -> dict:
        from linker.evaluate import evaluate

        _, contact_rules = rules.ordered_rules(self.config, self._fields())
        con = self._open_state(read_only=True)
        try:
            return evaluate(con, self.config, truth, self.state_db, contact_rules)
        finally:
            con.close()

    # --- internals -------------------------------------------------------------------------

    def _fields(self) -> list[str]:
        return normalize.canonical_fields(self._custom_fields())

    def _custom_fields(self) -> list[str]:
        from linker.config import ACCOUNT_FIELDS, CONTACT_FIELDS

        canon = set(ACCOUNT_FIELDS) | set(CONTACT_FIELDS)
        out: list[str] = []
        for s in self.config.sources.values():
            out += [f for f in s.fields if f not in canon and f not in out]
        return out

    def _match(self, con, acc_rules, timer: _Timer) -> tuple[dict, list[str]]:
        """Ingest, normalize and the account rules: the deterministic part of a run."""
        cfg = self.config
        ing = Ingestor(con, cfg)
        with timer("ingest"):
            ing.load_all()
        # From here on, SQL from the config (rules, blocking) cannot reach files or the network.
        lock_down(con, [self.state_dir])
        with timer("normalize"):
            normalize.normalize(con, self._custom_fields(), cfg.default_country)
        with timer("rules"):
            rules.run_account_rules(con, cfg, acc_rules)
        return report.stats_dict(ing.stats), [
            *cfg.warnings,
            *ing.warnings,
            *_phone_warnings(con, cfg),
        ]

    def _score(self, con, timer: _Timer, warnings: list[str]) -> dict:
        """A first resolve says which records are open; Splink scores them (training first
        when there is no model.json). The first resolve's account results are kept as the
        rules-only baseline `linker evaluate` measures the lift against."""
        cfg = self.config
        with timer("first_resolve"):
            self._apply_decisions(con)
            self._resolve_accounts(con)
            # The contacts' rules-only resolution is computed by `linker evaluate` when asked.
            con.execute("CREATE OR REPLACE TABLE account_result_rules AS FROM account_result")
        trained = False
        if self.model_file.exists():
            model = scoring.load_model(self.model_file)
            if scoring.is_stale(con, cfg, model):
                warnings.append(
                    f"{cfg.file.name} changed its comparisons, blocking or fields since "
                    f"{MODEL_FILE} was trained; the old model is used: run `linker train` "
                    "to retrain"
                )
        elif not scalar(
            con, "SELECT count(*) FROM account_result WHERE reason IN ('no_match', 'no_account')"
        ):
            return {"enabled": False, "skipped": "every account record is linked"}
        else:
            try:
                with timer("train"):
                    model = scoring.train(con, cfg, self.model_file)
            except scoring.NotEnoughData as e:
                if "are linked" not in e.message:  # nothing to compare: nothing to score
                    warnings.append(f"scoring skipped: {e.message}; {e.hint}")
                    return {"enabled": False, "skipped": e.message}
                # A small project still gets its candidates, for a reviewer to decide.
                model = scoring.default_model(con, cfg, self.model_file)
                warnings.append(
                    f"{e.message}: scored with Splink's default parameters instead; nothing "
                    "is linked by score, the best candidate of each open record waits for "
                    "review (`linker review`, `linker explain`)"
                )
            else:
                warnings.append(
                    f"no {MODEL_FILE} yet: trained one on this run's data and saved it "
                    f"({self.model_file}); commit it so later runs reuse it"
                )
                trained = True
        with timer("scoring"):
            out = scoring.score(con, cfg, model)
        return {"enabled": True, "trained_now": trained, **out}

    def _apply_decisions(self, con) -> list[str]:
        log, dec_warnings = decisions_log.read_log(self.decisions_file)
        return [*dec_warnings, *resolve.load_decisions(con, decisions_log.current(log))]

    def _resolve_accounts(self, con) -> None:
        resolve.build_live_edges(con)
        components(con)
        resolve.cut_glue(con, self.config)
        resolve.cut_contradictions(con, self.config)
        resolve.assign_accounts(con, self.config)

    def _resolve_and_record(
        self,
        con,
        stats: dict,
        scored: dict,
        contact_rules,
        timer: _Timer,
        warnings: list[str],
        config_hash: str,
        run_id: str,
    ) -> dict:
        """Apply the decisions log, resolve accounts and contacts, build and save the report."""
        cfg = self.config
        with timer("resolve"):
            warnings = [*warnings, *self._apply_decisions(con)]
            self._resolve_accounts(con)
        with timer("contacts"):
            con.execute(
                "DELETE FROM key_report WHERE rule IN (SELECT unnest(?))",
                [[r.name for r in contact_rules]],
            )
            resolve.resolve_contacts(con, cfg, contact_rules)
        with timer("review_queue"):
            pending = build_review_queue(con, cfg, self._custom_fields())
        rep = report.build_report(con, cfg, stats)
        rep.update(
            run_id=run_id,
            config_hash=config_hash,
            timings=timer.timings,
            warnings=warnings,
            pending_review=pending,
            scoring=scored,
        )
        con.execute("CREATE OR REPLACE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        run_meta = {"stats": stats, "scoring": scored, "decisions": self._decisions_digest()}
        con.execute(
            "INSERT INTO meta VALUES ('run', ?), ('report', ?)",
            [json.dumps(run_meta), json.dumps(rep, sort_keys=True)],
        )
        return rep

    def _conclude(
        self, rep: dict, timer: _Timer, *, publish: bool, out: Path | None, force: bool = False
    ) -> RunResult:
        """Warnings, quality gates, and the publication when asked and allowed."""
        for w in rep["warnings"]:
            self.progress.warn(w)
        gates = report.quality_gates(rep, self.config)
        res = RunResult(rep["run_id"], rep, gates, timer.timings, rep["warnings"])
        if publish and (not res.gates_failed or force):
            with timer("publish"):
                res.manifest, res.published_to = self._publish_from_state(out, res.run_id)
        return res

    def _open_state(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        with self.state_access():
            return duckdb.connect(str(self.state_db), read_only=read_only)

    @contextlib.contextmanager
    def state_access(self) -> Iterator[Path]:
        """Open the state database inside this block: a missing state says "run first", a
        state another command holds says "busy" (exit 2), not an internal error."""
        if not self.state_db.exists():
            raise ConfigError(
                "no run yet: there is no state to read",
                file=str(self.state_db),
                hint="run `linker run` first",
            )
        try:
            con = duckdb.connect(str(self.state_db), read_only=True)
            try:
                state.check(con, self.state_db)
            finally:
                con.close()
            yield self.state_db
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise
            raise ProjectBusy(
                "the state database is in use by another linker command",
                file=str(self.state_db),
                hint="retry when it has finished",
            ) from None

    def publication_targets(self) -> list[Path]:
        """Every directory this project has published into (the default first), as recorded."""
        found = [self.config.out_dir.resolve()]
        try:
            recorded = json.loads((self.state_dir / PUBLICATIONS).read_text("utf-8"))
        except (OSError, ValueError):
            recorded = []
        for p in recorded if isinstance(recorded, list) else []:
            if isinstance(p, str) and Path(p) not in found:
                found.append(Path(p))
        return found

    def _record_publication(self, target: Path) -> None:
        """Remember where this project published, so `linker forget` can reach it later."""
        targets = [str(p) for p in self.publication_targets()[1:]]
        if str(target) not in targets and target != self.config.out_dir.resolve():
            targets.append(str(target))
        path = self.state_dir / PUBLICATIONS
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(targets), indent=1) + "\n", "utf-8")
        os.replace(tmp, path)

    def protected_paths(self) -> list[Path]:
        """What a publication must never replace: the project and every source file."""
        cfg = self.config
        return [cfg.root, *(s.path for s in cfg.sources.values() if s.path is not None)]

    def _publish_from_state(self, out: Path | None, run_id: str) -> tuple[dict, Path]:
        cfg = self.config
        # run() and publish() refused a wrong OUT before working; publish.publish checks again
        # as it writes.
        target = (Path(out) if out is not None else cfg.out_dir).expanduser().resolve()
        con = self._open_state(read_only=True)
        try:
            tables = publish.crosswalk_tables(
                con,
                run_id,
                cfg.accounts_sor,
                [s.name for s in cfg.sources_of("accounts")],
                cfg.duplicates_policy == "merge",
            )
        finally:
            con.close()
        manifest = publish.publish(
            tables,
            target,
            run_id=run_id,
            config_digest=cfg.digest,
            keep=cfg.publish.keep,
            extra={"project": cfg.name},
            protected=self.protected_paths(),
        )
        self._record_publication(target)
        return manifest, target

    def _decisions_digest(self) -> str:
        f = self.decisions_file
        return hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else ""

    def _run_id(self, stats: dict) -> str:
        """A hash of everything the output depends on: same inputs -> same run id.

        Sources count by their rows as a set (an order-independent fingerprint), so the same
        rows in another order give the same run id and byte-identical files.
        """
        h = hashlib.sha256()
        h.update(self.config.digest.encode())
        for name in sorted(stats):
            h.update(f"{name}={stats[name]['fingerprint']};".encode())
        for r in rules.available_rules(self.config).values():
            h.update(Path(r.file).read_bytes())
        for extra in (self.decisions_file, self.root / MODEL_FILE):
            if extra.exists():
                h.update(extra.read_bytes())
        return h.hexdigest()[:16]
