"""The stages of a run that `run`, `train` and `publish` share: ingest, normalize and the rules
(_match), scoring (_score), resolve and the report (_resolve_and_record), then the quality gates
and the publication (_conclude); and the run id.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from linker import decisions as decisions_log
from linker import (
    incremental,
    normalize,
    report,
    resolve,
    row_diff,
    rule_reach,
    rules,
    scoring,
    state,
)
from linker.config import Config
from linker.db import attached, has_table, lock_down, rows, scalar
from linker.errors import ConfigError, ProjectBusy
from linker.graph import components
from linker.ingest import Ingestor
from linker.normalize_keys import key_version
from linker.project_state import MODEL_FILE, ProjectBase
from linker.publish import Before, rows_sql, sha256
from linker.results import Progress, RunResult, SinceLastRun
from linker.review_queue import add_raw_changes, build_review_queue


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


NO_MODEL = f"no {MODEL_FILE} yet"  # the warning of a run that trained its model


class _Timer:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        with self.progress.stage(name):
            yield
        # (a stage timed twice counts both: hashing the sources, then reading them)
        self.timings[name] = round(self.timings.get(name, 0) + time.perf_counter() - t0, 3)


class ProjectPipeline(ProjectBase):
    """The run's stages, as methods of Project."""

    # What the last _link's rule stage computed, when only what a change reaches (rule_reach)
    rules_scope: dict | None = None
    # What the last _score scored, when only the open records a change reaches (scoring.reach)
    score_scope: dict | None = None
    # Score everything with the last run's term frequencies (tests: what a scoped run equals)
    frozen_statistics: bool = False
    # The last run's state, when this run's second resolve can take its rows (_resolve_scored)
    second_from: Path | None = None
    # run(): how many contacts were resolved again after a change, of how many (None: all)
    contacts_scope: dict | None = None
    # The last run's state, when this run's second resolve resolved only the components a
    # change reaches (their records in temp table `_review_scope`): the review items of the
    # others are its (_resolve_and_record)
    review_from: Path | None = None

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
        stats, warnings, _ = self._link(con, self._ingest(con, timer)[0], acc_rules, timer)
        return stats, warnings

    def _ingest(
        self, con, timer: _Timer, *, compare: bool = False, keep_numbers: bool = False
    ) -> tuple[Ingestor, SinceLastRun | None]:
        """Stage ingest: read every source; with `compare`, also what changed in them since the
        last run (row_diff)."""
        with timer("ingest"):
            return self._read(con, compare=compare, keep_numbers=keep_numbers)

    def _read(
        self, con, *, compare: bool = False, keep_numbers: bool = False
    ) -> tuple[Ingestor, SinceLastRun | None]:
        """_ingest's work, in a stage of the caller's. `keep_numbers`: the records the last
        run's state holds keep its numbers (Ingestor._number)."""
        ing = Ingestor(con, self.config)
        ing.note = self.progress.note
        if keep_numbers:
            ing.keep_numbers = self.state_db
        ing.load_all()
        return ing, self._since_last_run(con) if compare else None

    def _link(
        self,
        con,
        ing: Ingestor,
        acc_rules,
        timer: _Timer,
        reuse: Path | None = None,
        rules_from: Path | None = None,
    ) -> tuple[dict, list[str], int]:
        """Normalize and the account rules, after _ingest: the ingest figures, the warnings,
        and how many records normalize took unchanged from the last run (`reuse`: its
        normalize.normalize's). `rules_from`: the last run's state, made by the same rules
        over records numbered as this run's: the rules run for the records the change
        reaches only (rule_reach; what they did in `self.rules_scope`)."""
        cfg = self.config
        # From here on, SQL from the config (rules, blocking) cannot reach files or the network.
        lock_down(con, [self.state_dir])
        with timer("normalize"):
            unchanged = normalize.normalize(
                con,
                self._custom_fields(),
                cfg.default_country,
                self.progress.note,
                self.state_db,
                reuse,
            )
        with timer("rules"):
            self.rules_scope = None
            if rules_from is not None:
                with attached(con, rules_from, "_prev") as failed:
                    if failed is None and rule_reach.usable(con, "_prev"):
                        self.rules_scope = rule_reach.run_reached(
                            con, cfg, acc_rules, "_prev", self.progress.note
                        )
            if self.rules_scope is None:
                rules.run_account_rules(con, cfg, acc_rules, self.progress.note)
        warnings = [*cfg.warnings, *ing.warnings, *_phone_warnings(con, cfg)]
        return report.stats_dict(ing.stats), warnings, unchanged

    def _rules_as(
        self, ing: Ingestor, reuse: Path | None, made: dict[str, str] | None
    ) -> Path | None:
        """The state, when the last run's rule tables can stand for the records a change does
        not reach (rule_reach): its records normalized as this run's (`reuse`, _normalized_as)
        and numbered as this run's (`ing`), by the same config and rules."""
        if reuse is None or not ing.kept_numbers or made is None:
            return None
        inputs = json.loads(made.get("inputs") or "{}")
        if (
            inputs.get("config") != self.config.digest
            or inputs.get("rules") != self._rules_digest()
        ):
            return None
        return reuse

    def _rules_digest(self) -> str:
        """The rule files' digest, as `_run_identity` keeps it."""
        files = [Path(r.file) for r in rules.available_rules(self.config).values()]
        return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]

    def _last_meta(self) -> tuple[dict[str, str] | None, str]:
        """The last run's meta table (key -> value), read once for what a run compares with
        it (_unread, _last_run_if_same); else None and why: no previous run, or a state that
        cannot be read."""
        if not self.state_db.exists():
            return None, "no previous run"
        try:
            con = self._open_state(read_only=True)
            try:
                return dict(rows(con, "SELECT key, value FROM meta")), ""
            finally:
                con.close()
        except (ConfigError, ProjectBusy, duckdb.Error):
            return None, "the last run's state could not be read"

    def _last_run_if_same(
        self, run_id: str, inputs: dict, last: tuple[dict[str, str] | None, str]
    ) -> tuple[dict | None, str]:
        """The last run's report when its answer is this run's: the same run id (config,
        sources' rows, rules, decisions, model) made by the same linker code and libraries
        (state.engine_digest). Else None, and what changed (`_run_identity`'s parts against the ones
        the last run kept), or why the state cannot say. `last`: _last_meta's."""
        made, why = last
        if made is None:
            return None, why
        rep = json.loads(made.get("report") or "{}")
        if made.get("engine") != state.engine_digest():
            return None, "linker's code or libraries changed since the last run"
        if rep.get("run_id") == run_id:
            return rep, ""
        before = json.loads(made.get("inputs") or "{}")
        then, now = before.get("sources", {}), inputs["sources"]
        moved = sorted(n for n in {*then, *now} if then.get(n) != now.get(n))
        changed = [f"the sources changed ({', '.join(moved)})"] if moved else []
        named = {
            "config": f"{self.config.file.name} changed",
            "rules": "the rules changed",
            "decisions": "decisions were made or taken back",
            "model": f"{MODEL_FILE} changed",
        }
        changed += [text for key, text in named.items() if before.get(key) != inputs[key]]
        return None, "; ".join(changed) or "the last results are a publish's after review"

    def _normalized_as(self, shape: str, made: dict[str, str] | None) -> Path | None:
        """The state, when the last run normalized its records as this run would (the same
        `normalize.shape`, linker and row hashes): normalize takes from it the records whose
        row did not change. `made`: the last run's meta (_last_meta)."""
        if made is None or made.get("engine") != state.engine_digest():
            return None
        if made.get("row_hash") != row_diff.hash_version():
            return None
        if json.loads(made.get("inputs") or "{}").get("normalize") != shape:
            return None
        return self.state_db

    def _source_files(self) -> dict[str, str] | None:
        """The sha256 of each source's file, by source, taken before it is read (a file
        rewritten while it is read has other bytes than these, so the next run reads it
        again); None when a source is a `query` (what it reads cannot be told without running
        it) or its file cannot be read (the ingest says why)."""
        out = {}
        for s in self.config.sources.values():
            if s.path is None:
                return None
            try:
                out[s.name] = sha256(s.path)
            except OSError:
                return None
        return out

    def _unread(
        self, files: dict[str, str] | None, made: dict[str, str] | None
    ) -> tuple[dict, SinceLastRun] | None:
        """The last run's ingest figures per source (`report.stats_dict`'s) and an all-unchanged
        `since_last_run`, when every source file is, byte for byte, the one that run read
        (`files`), under the same config and linker: the same rows, so the sources need not be
        read to know the run id. Else None. `made`: the last run's meta (_last_meta)."""
        if files is None or made is None:
            return None
        inputs = json.loads(made.get("inputs") or "{}")
        if (
            inputs.get("files") != files
            or inputs.get("config") != self.config.digest
            or made.get("engine") != state.engine_digest()
            or "run" not in made
        ):
            return None
        stats = json.loads(made["run"])["stats"]
        if set(stats) != set(files):
            return None
        return stats, {
            "compared": True,
            "why": None,
            "sources": {
                name: {"added": 0, "changed": 0, "removed": 0, "unchanged": st["records"]}
                for name, st in sorted(stats.items())
            },
        }

    def _since_last_run(self, con) -> SinceLastRun:
        """Hash the ingested rows (`row_hashes`) and compare them with the last run's."""
        row_diff.hash_rows(con)
        return row_diff.since_last_run(con, self.state_db, list(self.config.sources))

    def _score(
        self,
        con,
        timer: _Timer,
        warnings: list[str],
        last: Path | None = None,
        reached: Path | None = None,
    ) -> dict:
        """A first resolve says which records are open; Splink scores them (training first
        when there is no model.json). The first resolve's account results are kept as the
        rules-only baseline `linker evaluate` measures the lift against.

        `last`: the last run's state, made with this model over records numbered as this
        run's, whose rules stood for what the change does not reach: only the open records
        the change reaches are scored, with its term frequencies (scoring/reach.py; what was
        done in `self.score_scope`). With `frozen_statistics`, a run that scores every record
        (not scoped, or a scope too large) scores with them too. `reached`: the last run's state, when the rules ran for what the change
        reaches only: the first resolve too (_resolve_reached)."""
        cfg = self.config
        self.second_from = self.review_from = None
        with timer("first_resolve"):
            self._apply_decisions(con)
            done = False
            if reached is not None:
                with attached(con, reached, "_prev") as failed:
                    if failed is None and incremental.usable(con, "_prev"):
                        self._resolve_reached(con, "_prev")
                        done = True
            if not done:
                self._resolve_accounts(con)
            # The contacts' rules-only resolution is computed by `linker evaluate` when asked.
            con.execute("CREATE OR REPLACE TABLE account_result_rules AS FROM account_result")
        trained = False
        if self.model_file.exists():
            model = scoring.load_model(self.model_file)
            stale = scoring.is_stale(con, cfg, model)
            if stale == "config":
                warnings.append(
                    f"{cfg.file.name} changed its comparisons, blocking or fields since "
                    f"{MODEL_FILE} was trained; the old model is used: run `linker train` "
                    "to retrain"
                )
            elif stale == "linker":
                warnings.append(
                    f"{MODEL_FILE} was trained by another version of linker, which wrote "
                    "the same comparisons as other SQL; it is used and scores as it did: run "
                    "`linker train` to retrain with this linker's comparisons"
                )
        elif not scalar(
            con, "SELECT count(*) FROM account_result WHERE reason IN ('no_match', 'no_account')"
        ):
            return {"enabled": False, "skipped": "every account record is linked"}
        else:
            try:
                with timer("train"):
                    model = scoring.train(
                        con, cfg, self.model_file, keep_prediction=True, note=self.progress.note
                    )
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
                    f"{NO_MODEL}: trained one on this run's data and saved it "
                    f"({self.model_file}); commit it so later runs reuse it"
                )
                trained = True
        self.score_scope = None
        frozen = self.frozen_statistics and not trained and self.state_db.exists()
        with (
            timer("scoring"),
            attached(con, last or (self.state_db if frozen else None), "_last") as failed,
        ):
            out = scoring.score(
                con,
                cfg,
                model,
                predicted=trained,
                note=self.progress.note,
                last="_last" if (last or frozen) and failed is None else None,
                scoped=last is not None,
                keep_frequencies=frozen,
            )
        self.score_scope = out.pop("scope", None)
        # The second resolve's rows stand where nothing changed, too (_resolve_scored).
        self.second_from = reached if done and self.score_scope is not None else None
        return {"enabled": True, "trained_now": trained, **out}

    def _resolve_touched(self, con, attached: str) -> dict:
        """The accounts of the components the decisions made since the last resolve touch,
        resolved again in `con`'s in-memory database from the state attached as `attached`
        (incremental.py), their rows put in the state (the caller's transaction, `USE attached`
        on return). Returns what was done (the report's `resolved`) and the decisions'
        warnings (`warnings`)."""
        con.execute(f"CREATE OR REPLACE VIEW records AS FROM {attached}.records")
        warnings = self._apply_decisions(con)  # the new decisions, in memory
        con.execute("DROP VIEW records")
        ends = incremental.changed_decision_ends(
            con, f"{attached}.decision_pairs", "decision_pairs"
        )
        con.execute("CREATE OR REPLACE TEMP TABLE _decisions AS FROM decision_pairs")
        n = incremental.scope_of(con, attached, ends)
        self.progress.note(f"{len(ends):,} records decided anew, {n:,} in their components")
        incremental.load_scope(con, attached, self.config.accounts_sor)
        self._resolve_accounts(con)
        changed = incremental.changed_results(con, attached, "memory")
        con.execute(f"USE {attached}")
        # Their published rows as they stand: what changes.parquet compares (publish.Before).
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _before_accounts AS "
            + rows_sql("accounts.parquet", rest="WHERE rid IN (SELECT rid FROM _scope)")
        )
        con.execute("BEGIN")
        con.execute("DELETE FROM decision_pairs")
        con.execute("INSERT INTO decision_pairs FROM _decisions")
        incremental.splice(con, "memory")
        of = scalar(con, "SELECT count(*) FROM account_result")
        return {
            "decided": len(ends),
            "records": n,
            "changed": changed,
            "of": of,
            "warnings": warnings,
        }

    def _resolve_scored(self, con) -> None:
        """A run's second resolve, after scoring: the records of the components (before cuts)
        that a scored pair's edge (probabilistic or candidate) touches are resolved again, in
        a scratch database, from their own records, edges and decisions (incremental.py), and
        their rows replace the first resolve's. Every other component has the edges and
        decisions it had in the first resolve, so its rows stand (one resolve of the whole
        data per run, not two; tests/test_incremental.py holds it to resolving everything).
        After a first resolve and scoring of what a change reaches only (`second_from`): the
        components the change reaches, from the last run's final rows (_resolve_reached)."""
        if self.second_from is not None:
            with attached(con, self.second_from, "_prev") as failed:
                if failed is None:
                    self._resolve_reached(con, "_prev", second=True)
                    self.review_from = self.second_from
                    return
        ends = [
            r[0]
            for r in rows(  # every edge not a rule's is one scoring added
                con,
                "SELECT DISTINCT unnest([a, b]) AS x FROM edges WHERE method <> 'rule' ORDER BY x",
            )
        ]
        if not ends:
            return
        n = incremental.scope_of(con, "memory", ends)
        of = scalar(con, "SELECT count(*) FROM account_result")
        self.progress.note(f"{n:,} of {of:,} account records in the components scored pairs touch")
        self._resolve_in_scratch(con, lambda: incremental.splice(con, "_scratch"))

    def _resolve_in_scratch(self, con, put: Callable[[], None]) -> None:
        """The accounts of `_scope`'s components resolved in a scratch database (`_scratch`)
        from this run's records, edges and decisions (incremental.load_scope); then `put()`,
        in memory, puts their rows in."""
        con.execute("ATTACH ':memory:' AS _scratch")
        try:
            con.execute("USE _scratch")
            con.execute("CREATE TABLE decision_pairs AS FROM memory.decision_pairs")
            incremental.load_scope(con, "memory", self.config.accounts_sor)
            self._resolve_accounts(con)
            con.execute("USE memory")
            put()
        finally:
            con.execute("USE memory")
            con.execute("DETACH _scratch")

    def _resolve_reached(self, con, prev: str, *, second: bool = False) -> None:
        """A resolve after the rules ran for the records a change reaches only (rule_reach):
        the components (before cuts, in the last run's state attached as `prev`) holding a
        reached record, a record of a decision made or taken back, or

        - the first resolve: a record of a pair the last run scored (its rows there are the
          second resolve's, not the first's);
        - the second (after scoring only what the change reaches, scoring/reach.py): a record
          of an edge the last run did not have or had and this one has not;

        are resolved in a scratch database (incremental.py); every other component has the
        records, edges and decisions it had in the last run, and its rows are the last run's
        (`second`: its final ones)."""
        ends = incremental.changed_decision_ends(con, f"{prev}.decision_pairs", "decision_pairs")
        edges = (
            "SELECT unnest([a, b]) FROM ((FROM edges EXCEPT ALL FROM {p}.edges) UNION ALL "
            "(FROM {p}.edges EXCEPT ALL FROM edges))"
            if second
            else "SELECT unnest([a, b]) FROM {p}.edges WHERE method <> 'rule'"
        ).format(p=prev)
        ends += [r[0] for r in rows(con, f"SELECT rid FROM {rule_reach.REACHED} UNION {edges}")]
        incremental.scope_of(con, prev, sorted(set(ends)))
        # (records new since the last run are reached; they have no component there)
        con.execute(
            f"INSERT INTO _scope SELECT rid FROM {rule_reach.REACHED} ANTI JOIN _scope USING (rid)"
        )
        n = scalar(con, "SELECT count(*) FROM _scope")
        of = scalar(con, "SELECT count(*) FROM records WHERE entity = 'accounts'")
        self.progress.note(f"{n:,} of {of:,} account records in the components the change reaches")
        self._resolve_in_scratch(con, lambda: incremental.take_rest(con, prev, "_scratch"))
        if second:  # the review items of these records only are built again
            # (_resolve_and_record, after the contacts)
            con.execute("DROP TABLE IF EXISTS _review_scope")
            con.execute("ALTER TABLE _scope RENAME TO _review_scope")
        else:
            con.execute("DROP TABLE _scope")

    def _contacts_reached(self, con, contact_rules, last: Path) -> dict | None:
        """The contacts a change since the last run (state at `last`) can move
        (incremental.contact_reach, which writes the user rules' key report rows) resolved
        again, every other one's row the last run's. Returns how many of how many; None,
        having resolved every contact, when the config's links say the reach cannot be
        followed or the last state cannot be read."""
        cfg = self.config
        names = [r.name for r in contact_rules]
        con.execute("DELETE FROM key_report WHERE rule IN (SELECT unnest(?))", [names])
        with attached(con, last, "_prev") as failed:
            n = None
            if failed is None:
                n = incremental.contact_reach(con, cfg, contact_rules, "_prev")
            if n is None:
                resolve.resolve_contacts(con, cfg, contact_rules)
                return None
            only = "SELECT rid FROM _contact_scope"
            resolve.resolve_contacts(
                con, cfg, contact_rules, only=only, out="_contacts", report=False
            )
            incremental.take_contacts(con, "_prev", "_contacts")
        con.execute("DROP TABLE _contacts")
        con.execute("DROP TABLE _contact_scope")
        of = scalar(con, "SELECT count(*) FROM contact_result")
        self.progress.note(f"{n:,} of {of:,} contacts resolved again (the change reaches them)")
        return {"records": n, "of": of}

    def _apply_decisions(self, con) -> list[str]:
        log, dec_warnings = decisions_log.read_log(self.decisions_file)
        return [*dec_warnings, *resolve.load_decisions(con, decisions_log.current(log))]

    def _resolve_accounts(self, con) -> None:
        note = self.progress.note
        resolve.build_live_edges(con)
        note(f"components of {scalar(con, 'SELECT count(*) FROM live_edges'):,} edges")
        components(con)
        note("conflicts")
        resolve.cut_glue(con, self.config)
        resolve.cut_contradictions(con, self.config)
        note("accounts")
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
        since: SinceLastRun | None = None,
        *,
        why_all: str,
        touched: dict | None = None,
        rescored: bool = False,
        inputs: dict | None = None,
        same_records: dict | None = None,
        contacts_from: Path | None = None,
    ) -> dict:
        """Apply the decisions log, resolve accounts and contacts, build and save the report.

        `touched`: the accounts of the components new decisions touch were resolved again
        and put in the state already (`_resolve_touched`, whose summary this is): only the
        contacts and review items they reach are redone. Else everything, because `why_all`;
        `rescored`: the accounts were resolved before scoring (`_score`), and only the
        components the scored pairs reach are resolved again (`_resolve_scored`).
        `inputs`: a run's (`_run_identity`), kept with the state. `same_records`: a report
        of the same records (a publish: the run's), report.build_report's. `contacts_from`:
        the last run's state, when the rules ran for what a change reaches only: the contacts
        it can move are resolved again, the others keep their rows (_contacts_reached)."""
        cfg = self.config
        if touched is None:
            with timer("resolve"):
                warnings = [*warnings, *self._apply_decisions(con)]
                if rescored:
                    self._resolve_scored(con)
                else:
                    self._resolve_accounts(con)
            resolved: dict = {
                "scope": "all",
                "why": why_all,
                "by": "publish" if since is None else "run",
            }
        else:
            warnings = [*warnings, *touched.pop("warnings")]
            resolved = {"scope": "touched", **touched}
        with timer("contacts"):
            self.contacts_scope = None
            only = None if touched is None else incremental.contact_scope(con, cfg)
            if only is None and contacts_from is not None:
                self.contacts_scope = self._contacts_reached(con, contact_rules, contacts_from)
                if self.contacts_scope is not None:
                    resolved["why"] += (
                        "; the contacts the change reaches only: "
                        f"{self.contacts_scope['records']:,} of {self.contacts_scope['of']:,}"
                    )
            elif only is None:
                con.execute(
                    "DELETE FROM key_report WHERE rule IN (SELECT unnest(?))",
                    [[r.name for r in contact_rules]],
                )
                resolve.resolve_contacts(con, cfg, contact_rules)
            else:
                resolve.resolve_contacts(con, cfg, contact_rules, only=only, out="_contacts")
                resolved["contacts"] = scalar(con, "SELECT count(*) FROM _contacts")
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE _before_contacts AS "
                    + rows_sql("contacts.parquet", rest=f"WHERE rid IN ({only})")
                )
                con.execute(f"DELETE FROM contact_result WHERE rid IN ({only})")
                con.execute("INSERT INTO contact_result FROM _contacts")
                con.execute("DROP TABLE _contacts")
        with timer("review_queue"):
            scope = None if touched is None else "SELECT rid FROM _scope"
            if scope is None and self.review_from is not None:
                # after a second resolve of what a change reaches: the review items of the
                # records resolved again are built again, the others are the last run's
                with attached(con, self.review_from, "_prev") as failed:
                    if failed is None:
                        con.execute(
                            "CREATE OR REPLACE TABLE review_queue AS FROM _prev.review_queue"
                        )
                        scope = "SELECT rid FROM _review_scope"
                        add_raw_changes(con, cfg, "_prev", "_review_scope")
                        n = scalar(con, "SELECT count(*) FROM _review_scope")
                        resolved["why"] += (
                            f"; the review items of the {n:,} account records resolved again only"
                        )
            pending = build_review_queue(con, cfg, self._custom_fields(), scope)
            self.review_from = None
        rep = report.build_report(con, cfg, stats, same_records)
        rep.update(
            run_id=run_id,
            config_hash=config_hash,
            timings=timer.timings,
            warnings=warnings,
            pending_review=pending,
            scoring=scored,
            since_last_run=since,
            resolved=resolved,
        )
        # What made the state's row_hashes and key_cache: this run's versions when it made them
        # (a run), else the ones they were made with (a publish keeps both tables as they are).
        kept = ("row_hash", "key_version", "engine", "inputs")
        if since is None and has_table(con, "meta"):
            made = dict(rows(con, "SELECT key, value FROM meta WHERE key IN (?, ?, ?, ?)", kept))
        else:
            made = {
                "row_hash": row_diff.hash_version(),
                "key_version": key_version(),
                "engine": state.engine_digest(),
                "inputs": json.dumps(inputs, sort_keys=True),
            }
        con.execute("CREATE OR REPLACE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        run_meta = {"stats": stats, "scoring": scored, "decisions": self._decisions_digest()}
        con.execute(
            "INSERT INTO meta VALUES ('run', ?), ('report', ?)",
            [json.dumps(run_meta), json.dumps(rep, sort_keys=True)],
        )
        for key, value in made.items():
            con.execute("INSERT INTO meta VALUES (?, ?)", [key, value])
        return rep

    def _conclude(
        self,
        rep: dict,
        timer: _Timer,
        *,
        publish: bool,
        out: Path | None,
        force: bool = False,
        before: Before | None = None,
    ) -> RunResult:
        """Warnings, quality gates, and the publication when asked and allowed (`before`:
        publish.publish's)."""
        for w in rep["warnings"]:
            self.progress.warn(w)
        gates = report.quality_gates(rep, self.config)
        res = RunResult(rep["run_id"], rep, gates, timer.timings, rep["warnings"])
        if publish and (not res.gates_failed or force):
            with timer("publish"):
                res.manifest, res.published_to = self._publish_from_state(out, res.run_id, before)
        return res

    def _decisions_digest(self) -> str:
        f = self.decisions_file
        return hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else ""

    def _run_identity(self, stats: dict) -> tuple[str, dict]:
        """The run id: a hash of everything the output depends on (same inputs, same run id),
        and its parts one by one (kept with the state: the next run says which changed) —
        the config's digest, each source's fingerprint, digests of the rule files, the
        decisions log and model.json. Each file is read once, for both.

        Sources count by their rows as a set (an order-independent fingerprint), so the same
        rows in another order give the same run id and byte-identical files.
        """
        decisions_log.read_log(self.decisions_file)  # an unreadable log stops here, named
        rule_files = [Path(r.file) for r in rules.available_rules(self.config).values()]
        found: dict[Path, bytes | None] = {path: path.read_bytes() for path in rule_files}
        for extra in (self.decisions_file, self.root / MODEL_FILE):
            found[extra] = extra.read_bytes() if extra.exists() else None

        def digest(paths: list[Path]) -> str:
            return hashlib.sha256(b"".join(found[p] or b"" for p in paths)).hexdigest()[:16]

        h = hashlib.sha256()
        h.update(self.config.digest.encode())
        for name in sorted(stats):
            h.update(f"{name}={stats[name]['fingerprint']};".encode())
        for data in found.values():
            if data is not None:
                h.update(data)
        return h.hexdigest()[:16], {
            "config": self.config.digest,
            "sources": {name: stats[name]["fingerprint"] for name in sorted(stats)},
            "rules": digest(rule_files),
            "decisions": digest([self.decisions_file]),
            "model": digest([self.root / MODEL_FILE]),
        }
