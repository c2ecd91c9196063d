"""The facade: `Project(path).run()`, `.publish()`, `.explain()`, ... — what the CLI calls.

State. A run builds `.linker/state.duckdb` (records, edges, results, report) in a temporary
file and renames it into place when complete, so a crash mid-run leaves the previous state
or none; everything in `.linker/` can be rebuilt from sources + config + model + decisions.
One command at a time holds `.linker/lock` (others wait a few seconds, then exit 2).

This module holds the commands; the lock, the state access and the publication bookkeeping
are in project_state.py, the stages of a run in project_pipeline.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb

from linker import __version__, normalize, publish, report, rules, scoring, state
from linker import decisions as decisions_log
from linker.db import arrow, connect, has_table, literal, lock_down, scalar
from linker.errors import ConfigError, ProjectBusy, did_you_mean
from linker.ingest import Ingestor
from linker.project_pipeline import NO_MODEL, ProjectPipeline, _Timer
from linker.project_state import MODEL_REPORT, STATE_DB
from linker.results import (
    CheckResult,
    DryRunResult,
    EvaluateResult,
    ExplainResult,
    ForgetResult,
    LastRun,
    ReviewCounts,
    RunResult,
    StatusResult,
    TrainResult,
)


class Project(ProjectPipeline):
    # --- commands ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Validate config, rules and sources (read and mapped) without matching."""
        cfg = self.config
        con = connect(**self._duckdb_settings())
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

    def dry_run(self) -> DryRunResult:
        """Read the sources and say what changed since the last run, per source; link
        nothing, write nothing (`linker run --dry-run`)."""
        timer = _Timer(self.progress)
        con = connect(**self._duckdb_settings())
        try:
            ing, since = self._ingest(con, timer, compare=True)
        finally:
            con.close()
        assert since is not None  # compared
        return {
            "since_last_run": since,
            "sources": report.stats_dict(ing.stats),
            "warnings": [*self.config.warnings, *ing.warnings],
            "timings": timer.timings,
        }

    def run(
        self, *, publish_out: Path | None = None, do_publish: bool = False, full: bool = False
    ) -> RunResult:
        """Ingest, normalize, rules, scoring, resolve, contacts; optionally publish (if gates pass).

        When nothing the answer depends on changed since the last run (its run id: config,
        the sources' rows, rules, decisions, model; and linker's code and libraries), its
        results stand: the run reads the sources and stops (`full`: it recomputes anyway)."""
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
            con = connect(**self._duckdb_settings())
            try:
                # Source files that are, byte for byte, the ones the last run read need not be
                # read to know the run id: a run with nothing changed reads none.
                ing = None
                last_meta = self._last_meta()
                # The records keep the last run's numbers, unless this run trains: a model is
                # trained on records numbered afresh (it samples by a hash of their numbers), so
                # that model.json is the same whatever ran before.
                keep = self.model_file.exists() or not cfg.scoring.enabled
                with timer("ingest"):
                    files = self._source_files()
                    unread = None if full else self._unread(files, last_meta[0])
                    if unread is None:
                        ing, since = self._read(con, compare=True, keep_numbers=keep)
                        stats = report.stats_dict(ing.stats)
                    else:
                        stats, since = unread
                run_id, inputs = self._run_identity(stats)
                last, why = (
                    (None, "asked (--full)")
                    if full
                    else self._last_run_if_same(run_id, inputs, last_meta)
                )
                if last is not None:
                    rep = {
                        **last,
                        # what the last run did once: training (model.json is now an input)
                        "warnings": [w for w in last["warnings"] if not w.startswith(NO_MODEL)],
                        "scoring": {**last["scoring"], "trained_now": False}
                        if last["scoring"].get("enabled")
                        else last["scoring"],
                        "timings": timer.timings,
                        "since_last_run": since,
                        "resolved": {
                            "scope": "none",
                            "why": f"nothing changed since run {run_id}: its results stand "
                            "(`linker run --full` recomputes them)",
                        },
                    }
                    con.close()
                    self._remember_files(files, last_meta[0])
                    return self._conclude_unchanged(rep, timer, do_publish, publish_out)
                if ing is None:  # the same files, but something else changed: read them
                    ing, since = self._ingest(con, timer, compare=True, keep_numbers=keep)
                # Records whose row did not change are not normalized again (unless --full).
                shape = normalize.shape(con, cfg.default_country)
                reuse = None if full else self._normalized_as(shape, last_meta[0])
                rules_from = self._rules_as(ing, reuse, last_meta[0])
                stats, warnings, unchanged = self._link(
                    con, ing, acc_rules, timer, reuse, rules_from
                )
                if unchanged:
                    total = sum(v["records"] for v in stats.values())
                    why += (
                        "; normalized only the records added or changed: "
                        f"{total - unchanged:,} of {total:,} (the others as the last run did)"
                    )
                if self.rules_scope is not None:
                    why += (
                        "; the account rules of the records the change reaches only: "
                        f"{self.rules_scope['records']:,} of {self.rules_scope['of']:,}"
                    )
                scored: dict = {"enabled": False}
                if cfg.scoring.enabled:
                    # Scores stand for what the change does not reach when the rules' did,
                    # under the same model.json (scoring/reach.py).
                    same_model = (
                        json.loads(last_meta[0]["inputs"]).get("model") == inputs["model"]
                        if last_meta[0] is not None and "inputs" in last_meta[0]
                        else False
                    )
                    scored = self._score(
                        con,
                        timer,
                        warnings,
                        rules_from if self.rules_scope is not None and same_model else None,
                        reached=rules_from if self.rules_scope is not None else None,
                    )
                    if self.score_scope is not None:
                        why += (
                            "; scored only the open records the change reaches: "
                            f"{self.score_scope['open_records']:,} of "
                            f"{self.score_scope['of']:,}"
                        )
                # again: a run that trained made model.json
                run_id, inputs = self._run_identity(stats)
                inputs["files"] = files  # what the next run compares before reading (_unread)
                inputs["normalize"] = shape  # and before normalizing (_normalized_as)
                rep = self._resolve_and_record(
                    con,
                    stats,
                    scored,
                    contact_rules,
                    timer,
                    warnings,
                    cfg.digest,
                    run_id,
                    since,
                    why_all=why,
                    # the accounts were resolved before scoring: what scoring touched, again
                    rescored=cfg.scoring.enabled,
                    inputs=inputs,
                    contacts_from=rules_from if self.rules_scope is not None else None,
                )
                with timer("save_state"):
                    state.write_meta(con, f"linker {__version__}")
                    for t in state.RUN_ONLY_TABLES:  # read within the run, by nothing later
                        con.execute(f"DROP TABLE IF EXISTS {t}")
                    state.save(con, tmp)
            finally:
                con.close()
            # The new state replaces the old one only when complete.
            os.replace(tmp, self.state_db)
            Path(str(self.state_db) + ".wal").unlink(missing_ok=True)
            return self._conclude(rep, timer, publish=do_publish, out=publish_out)

    def _remember_files(self, files: dict[str, str] | None, made: dict[str, str] | None) -> None:
        """A run whose results stand, over source files with other bytes than the last run's
        but the same rows (a re-export), keeps their hashes in the state's meta, so that the
        next run over these files reads none of them (_unread). One small transaction: the
        only write to the state of a run that computed nothing."""
        if files is None or made is None or "inputs" not in made:
            return
        inputs = json.loads(made["inputs"])
        if inputs.get("files") == files:
            return
        inputs["files"] = files
        try:
            con = self._open_state(read_only=False)
        except (ConfigError, ProjectBusy, duckdb.Error):
            return  # (another reader holds it: the next run reads the files again, no more)
        try:
            con.execute(
                "UPDATE meta SET value = ? WHERE key = 'inputs'",
                [json.dumps(inputs, sort_keys=True)],
            )
        finally:
            con.close()

    def _conclude_unchanged(
        self,
        rep: dict,
        timer: _Timer,
        do_publish: bool,
        out: Path | None,
        *,
        force: bool = False,
        before: publish.Before | None = None,
    ) -> RunResult:
        """Results kept as they were (a run with nothing changed, a publish with nothing
        decided): published as any (`_conclude`'s `force` and `before`), unless the
        publication there holds them already, whole: nothing written then (a scheduler
        calling `linker run --publish` every few minutes does not rotate `_history` with
        copies of one publication)."""
        target = self._publish_target(out)
        current = (
            publish.current_publication(target, rep["run_id"], state.engine_digest())
            if do_publish
            else None
        )
        if current is None:
            return self._conclude(
                rep, timer, publish=do_publish, out=out, force=force, before=before
            )
        rep["resolved"]["publication"] = "current"
        res = self._conclude(rep, timer, publish=False, out=out)
        if not res.gates_failed or force:
            res.manifest, res.published_to = current, target
        return res

    def train(self) -> TrainResult:
        """(Re)train the Splink model on the project's data; write model.json and model.html.

        Runs ingest, normalize, rules and a first resolve in memory (the state is left alone),
        then trains on the records the rules left open. The next `linker run` uses the model.
        """
        from linker.model_report import write_model_report

        cfg = self.config
        acc_rules, _ = rules.ordered_rules(cfg, self._fields())
        with self.lock("train"):
            timer = _Timer(self.progress)
            con = connect(**self._duckdb_settings())
            try:
                _, warnings = self._match(con, acc_rules, timer)
                self._apply_decisions(con)
                self._resolve_accounts(con)
                with timer("train"):
                    model = scoring.train(con, cfg, self.model_file, keep_prediction=True)
                with timer("score"):
                    scored = scoring.score(con, cfg, model, predicted=True)
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

    def publish(
        self, out: Path | None = None, *, force: bool = False, full: bool = False
    ) -> RunResult:
        """Re-apply the decisions to the last run's edges and write the crosswalk: the
        components the decisions made since touch are resolved again (`full`: all of them)."""
        _, contact_rules = rules.ordered_rules(self.config, self._fields())
        publish.check_out(out or self.config.out_dir, self.protected_paths())
        with self.lock("publish"):
            timer = _Timer(self.progress)
            # The state attached to an in-memory database: the touched components are
            # resolved there, then written into the state in one transaction (a publish
            # killed on the way leaves the last state as it was).
            con = connect(**self._duckdb_settings())
            try:
                with self._state_guard():
                    con.execute(f"ATTACH {literal(str(self.state_db))} AS st")
                con.execute("USE st")
                state.check(con, self.state_db)
                lock_down(con, [self.state_dir])  # the contact rules' `where` run below
                last = json.loads(scalar(con, "SELECT value FROM meta WHERE key = 'run'"))
                stats, scored = last["stats"], last.get("scoring", {"enabled": False})
                last_report = json.loads(scalar(con, "SELECT value FROM meta WHERE key = 'report'"))
                run_hash = last_report["config_hash"]
                # Same decisions as the run: the run's id and, byte for byte, its crosswalk.
                # Decisions made since: another answer (a run would also re-score the records
                # they open), so another id.
                run_id = before_id = last_report["run_id"]
                # The state's results are this linker's: a publication of them is patched
                # (publish.Before), not read back, to say what changed.
                engine = state.engine_digest()
                ours = scalar(con, "SELECT value FROM meta WHERE key = 'engine'") == engine
                before: dict | None = None
                now = self._decisions_digest()
                if last.get("decisions") != now:
                    run_id = hashlib.sha256(f"{run_id}:publish:{now}".encode()).hexdigest()[:16]
                stale = []
                if run_hash != self.config.digest:
                    stale.append(
                        f"{self.config.file} changed since the last run; the crosswalk reflects "
                        "the last run's config (run `linker run` to apply the change)"
                    )
                if last.get("decisions") == now and not full:
                    # Nothing decided since the run: its results are the answer, as stored.
                    rep = {
                        **last_report,
                        "warnings": stale,
                        "timings": timer.timings,
                        "resolved": {
                            "scope": "none",
                            "why": "nothing decided since the last run: its results stand",
                        },
                    }
                    before = {  # no record's row can differ
                        "accounts.parquet": publish.ACCOUNTS_SCHEMA.empty_table(),
                        "contacts.parquet": publish.CONTACTS_SCHEMA.empty_table(),
                    }
                else:
                    touched = None
                    if not stale and not full:  # the touched components (incremental.py)
                        con.execute("USE memory")
                        with timer("resolve"):
                            touched = self._resolve_touched(con, "st")
                    else:  # asked, or the state's rules under another config: all again
                        con.execute("BEGIN")
                    rep = self._resolve_and_record(
                        con,
                        stats,
                        scored,
                        contact_rules,
                        timer,
                        stale,
                        run_hash,
                        run_id,
                        touched=touched,
                        why_all="asked (--full)" if full else "the config changed since the run",
                        same_records=last_report,
                    )
                    con.execute("COMMIT")
                    if touched is not None:  # (contacts: all resolved again when not there)
                        before = {
                            f"{e}.parquet": arrow(con, f"FROM _before_{e}")
                            for e in ("accounts", "contacts")
                            if has_table(con, f"_before_{e}")
                        }
                known = publish.Before(before_id, engine, before) if ours and before else None
            finally:
                con.close()
            if rep["resolved"]["scope"] == "none" and ours:  # maybe published already
                return self._conclude_unchanged(rep, timer, True, out, force=force, before=known)
            return self._conclude(rep, timer, publish=True, out=out, force=force, before=known)

    def status(self) -> StatusResult:
        """The last run, the decisions log and the last publication, without re-running."""
        last_run: LastRun | None = None
        review: ReviewCounts | None = None
        if self.state_db.exists():
            con = self._open_state(read_only=True)
            try:
                rep = json.loads(scalar(con, "SELECT value FROM meta WHERE key = 'report'"))
            finally:
                con.close()
            last_run = {
                "run_id": rep.get("run_id"),
                "conflicts": rep["conflicts"]["components"],
                "pending_review": rep.get("pending_review", 0),
                "config_changed": rep.get("config_hash") != self.config.digest,
                "sources": {
                    k: {"records": v["records"], "linked": v["linked"]}
                    for k, v in rep["sources"].items()
                },
            }
            review = self._review_progress()
        log, warnings = decisions_log.read_log(self.decisions_file)
        standing = decisions_log.current(log)
        by_reviewer: dict[str, int] = {}
        for d in standing.values():
            by_reviewer[d.reviewer or "(unknown)"] = (
                by_reviewer.get(d.reviewer or "(unknown)", 0) + 1
            )
        return {
            "project": self.config.name,
            "root": str(self.root),
            "last_run": last_run,
            "review": review,
            "decisions": {
                "lines": len(log),
                "standing": len(standing),
                "match": sum(d.decision == "match" for d in standing.values()),
                "no_match": sum(d.decision == "no_match" for d in standing.values()),
                "by_reviewer": dict(sorted(by_reviewer.items())),
            },
            "last_publication": publish.read_manifest(self.config.out_dir),
            "warnings": warnings,
        }

    def _review_progress(self) -> ReviewCounts:
        """The review queue now: the last run's items less those decided since."""
        from linker.review import ReviewSession

        with self.state_access() as path:
            session = ReviewSession(path, self.decisions_file, reviewer="status")
        try:
            p = session.progress()
        finally:
            session.close()
        return {"items": p.total, "reviewed": p.reviewed, "pending": p.pending}

    def explain(self, source: str, record_id: str) -> ExplainResult:
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
    ) -> ForgetResult:
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

    def evaluate(self, truth: Path) -> EvaluateResult:
        from linker.evaluate import evaluate

        _, contact_rules = rules.ordered_rules(self.config, self._fields())
        con = self._open_state(read_only=True)
        try:
            return evaluate(con, self.config, truth, self.state_db, contact_rules)
        finally:
            con.close()
