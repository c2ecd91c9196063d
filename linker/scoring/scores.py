"""Scoring with a model: open x known pairs predicted, the pairs and evidence kept, the
link / review / drop decision per open record and its edges; `evidence` for explain."""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from linker import splink_api
from linker.comparisons import (
    LOCATION_FIELDS,
    MEMBERS,
    NAME_KINDS,
    WEAK_FIELDS,
    level_labels,
)
from linker.config import Comparison, Config
from linker.config_model import LIST_FIELDS
from linker.db import columns, has_table, ident, literal, rows, scalar
from linker.scoring import reach
from linker.scoring.inputs import (
    PREDICTED,
    _drop_splink_tables,
    drop_inputs,
    prepare,
    quiet_splink,
    splink_linker,
)
from linker.scoring.model import Model, model_comparisons
from linker.scoring.training import TRAIN_PREDICTION, drop_prediction

WHATIF_ACCEPT = (0.95, 0.9, 0.8)  # the run summary says what these `accept` values would link
PROBABILISTIC_RANK = 10_000  # edges rank after every rule
CANDIDATE = "candidate"  # an edge in the review band: not live until a reviewer says match
# Candidate pairs kept for explain and review beyond the best two per record.
KEEP_PROBABILITY = 0.5
# Why an organization's record waits for review although it scores high (see _keep_pairs).
ORG_RECORD = "several accounts share its domain and no contact says which"


# --- scoring and decisions -----------------------------------------------------------------


def score(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    model: Model,
    *,
    predicted: bool = False,
    note: Callable[[str], None] = lambda text: None,
    last: str | None = None,
    scoped: bool = False,
    keep_frequencies: bool = False,
) -> dict:
    """Score open x known pairs; add `probabilistic` and `candidate` edges; keep the evidence.

    `predicted`: `model` was trained by this run with `keep_prediction`, whose inputs and
    prediction are read instead of made again. `last`: the last run's state, attached under
    that name, made with this model: its term frequencies are used (frozen, reach.py); with
    `scoped`, only the open records the change reaches are scored again, the others keep
    the last run's scores (unless they are more than reach.MAX_SHARE of them: then every
    record, with fresh frequencies unless `keep_frequencies`): the stats' `scope` says how
    many were scored (for the run's summary, not its report).

    Tables: `score_pairs` (kept pairs: the best two accounts of each open record and every
    pair >= KEEP_PROBABILITY), `score_evidence` (per pair and comparison: level, weight,
    both values), `score_decision` (per open record: best, runner-up, decision, why).
    """
    sc = config.scoring
    comps = model_comparisons(model)
    if predicted:
        t = model.meta["training"]
        counts = {
            "open": t["open_records"],
            "known": t["known_records"],
            "possible_pairs": t["possible_pairs"],
        }
    else:
        counts = prepare(con, config, comps)
    stats = {**counts, "blocked_pairs": 0, "scored_pairs": 0, "linked": 0, "review": 0}
    _create_score_tables(con, comps)
    reach.create_candidates(con)
    reach.hash_inputs(con)
    scope = None
    if counts["open"] and counts["known"]:
        if predicted:
            _keep_pairs(con, TRAIN_PREDICTION, comps)
            drop_prediction(con)
            with quiet_splink():  # the frequencies the training's prediction used, kept
                reach.tf_tables(con, splink_linker(con, model.settings), False)
        else:
            if last is not None:
                with quiet_splink():
                    if not reach.take_tf(con, splink_linker(con, model.settings), last):
                        last = None  # (a state without them: fresh frequencies)
            if scoped and last is not None:
                scope = _scope(con, model, last, counts["open"], note)
                if scope is None and not keep_frequencies:
                    last = None  # too much changed: everything, with fresh frequencies
            note(
                f"candidate pairs of {counts['open']:,} open records"
                if scope is None
                else f"candidate pairs of {scope:,} of {counts['open']:,} open records"
            )
            with quiet_splink():
                inputs = ("score_open" if scope is None else "_score_open_scope", "score_known")
                linker = splink_api.linker_for(con, model.settings, inputs)
                reach.tf_tables(con, linker, last is not None)
                with splink_api.predicting_only(linker, PREDICTED):
                    pred = linker.inference.predict()
                _keep_pairs(con, pred.physical_name, comps)
        reach.add_candidates(con)
        con.execute("DROP TABLE _pred_all")
        _drop_splink_tables(con)
        note("deciding")
        # An untrained model ranks candidates but never decides: nothing above 1.
        accept = sc.accept if not model.meta.get("untrained") else 1.1
        _decide(con, comps, accept, sc.review, sc.margin)
        if scope is not None and last is not None:
            reach.keep_the_rest(con, last)
            reach.drop(con)
            stats["scope"] = {"open_records": scope, "of": counts["open"]}
        stats["blocked_pairs"] = scalar(con, f"SELECT count(*) FROM {reach.BLOCKED}")
        stats["scored_pairs"] = scalar(con, "SELECT count(*) FROM score_pairs")
        stats["linked"] = scalar(con, "SELECT count(*) FROM score_decision WHERE decision = 'link'")
        stats["review"] = scalar(
            con, "SELECT count(*) FROM score_decision WHERE decision = 'review'"
        )
        # What a lower `accept` would link of the records held only by the threshold.
        stats["would_link"] = {
            f"{t:g}": scalar(
                con,
                "SELECT count(*) FROM score_decision WHERE why = 'in the review band' "
                "AND probability >= ?",
                [t],
            )
            for t in WHATIF_ACCEPT
            if t < accept
        }
    # Splink's inputs are spent; the pairs, evidence and decisions above are what is kept.
    drop_inputs(con)
    return stats


def _scope(con, model: Model, last: str, n_open: int, note) -> int | None:
    """reach.SCOPE: the open records a change reaches (see reach.py), when they are at most
    reach.MAX_SHARE of the open ones and the last state holds what is kept; else None."""
    if not reach.usable(con, last):
        return None
    n_changed = reach.changed_known(con, last)
    reach.first_scope(con, last)
    if n_changed and reach.scope_size(con) <= reach.MAX_SHARE * n_open:
        note(f"open records blocked with {n_changed:,} known records that changed")
        with quiet_splink():
            linker = splink_api.linker_for(
                con, model.settings, ("score_open", "_score_known_changed")
            )
            reach.tf_tables(con, linker, True)
            with splink_api.predicting_only(linker, PREDICTED):
                pred = linker.inference.predict()
            n = reach.add_blocked(con, pred.physical_name)
        _drop_splink_tables(con)
    else:
        n = reach.add_blocked(con, None)
    if n > reach.MAX_SHARE * n_open:
        reach.drop(con)
        return None
    return n


def _create_score_tables(con, comps: list[Comparison]) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE score_pairs (o BIGINT, k BIGINT, account_id VARCHAR, "
        "probability DOUBLE, match_weight DOUBLE, name_only VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE score_evidence (o BIGINT, k BIGINT, comparison VARCHAR, "
        "position INTEGER, level VARCHAR, match_weight DOUBLE, tf_weight DOUBLE, "
        "value_open VARCHAR, value_known VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE score_decision (o BIGINT, k BIGINT, account_id VARCHAR, "
        "probability DOUBLE, match_weight DOUBLE, runner_k BIGINT, runner_account_id VARCHAR, "
        "runner_probability DOUBLE, runner_match_weight DOUBLE, decision VARCHAR, why VARCHAR)"
    )


def _side(col: str, known: bool) -> str:
    """The open (or known) record's value of a prediction column."""
    a, b = (f"{col}_r", f"{col}_l") if known else (f"{col}_l", f"{col}_r")
    return f"CASE WHEN source_dataset_l = 'open' THEN {ident(a)} ELSE {ident(b)} END"


def _keep_pairs(con, table: str, comps: list[Comparison]) -> None:
    strong = [c.field for c in comps if c.kind not in NAME_KINDS and c.field not in WEAK_FIELDS]
    corroborated = " OR ".join(f"coalesce({ident('mw_' + f)}, 0) > 0" for f in strong) or "false"
    # Who it is, not where: a name or an identifier must agree too (two companies in one
    # building agree on the address and nothing else).
    who = [c.field for c in comps if c.field not in LOCATION_FIELDS]
    identified = " OR ".join(f"coalesce({ident('mw_' + f)}, 0) > 0" for f in who) or "false"
    # An organization's record (a domain two or more accounts of its country hold: its sites,
    # see rule_sql.record_domains) agrees with each of them on the organization's name,
    # address, VAT number and mailboxes; only its contacts being one account's users say
    # which it is. Measured on the trap data: such records linked by score without that were
    # wrong 72 times in 162 (billing), with it 0 in 1,500.
    members = (
        f"coalesce({ident('mw_' + MEMBERS)}, 0) > 0"
        if any(c.field == MEMBERS for c in comps)
        else "false"
    )
    org = "false"
    join = ""
    if has_table(con, "record_domains"):
        org = f"od.rid IS NOT NULL AND NOT ({members})"
        join = f"LEFT JOIN record_domains od ON od.rid = {_side('unique_id', False)}"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _pred_all AS
        SELECT {_side("unique_id", False)} AS o, {_side("unique_id", True)} AS k,
               {_side("account_id", True)} AS account_id,
               match_probability AS probability, match_weight,
               CASE WHEN NOT ({corroborated}) THEN 'only the name agrees'
                    WHEN NOT ({identified}) THEN 'only the location agrees'
                    WHEN {org} THEN {literal(ORG_RECORD)} END AS name_only,
               {_side("source", False)} = {_side("source", True)} AS same_source
        FROM {table} {join}
        """
    )
    # Per open record and account: the best record; then the best two accounts.
    con.execute(
        f"""
        INSERT INTO score_pairs
        WITH per_account AS (
            -- equals of one account: the first known record by (source, id), not by rid
            SELECT p.* FROM _pred_all p JOIN records r ON r.rid = p.k WHERE NOT same_source
            QUALIFY row_number() OVER (PARTITION BY o, account_id
                                       ORDER BY match_weight DESC, r.source_idx, r.id) = 1
        )
        SELECT o, k, account_id, probability, match_weight, name_only FROM per_account
        QUALIFY row_number() OVER (PARTITION BY o ORDER BY match_weight DESC, account_id) <= 2
             OR probability >= {KEEP_PROBABILITY}
        ORDER BY o, match_weight DESC, k
        """
    )
    # The evidence of the kept pairs only (a tenth of the scored ones at 1M): their levels and
    # weights from the prediction, both values from Splink's inputs (which the prediction
    # does not carry: see PREDICTED).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _kept AS
        SELECT {_side("unique_id", False)} AS _o, {_side("unique_id", True)} AS _k, *
        FROM {table} SEMI JOIN score_pairs p
        ON p.o = {_side("unique_id", False)} AND p.k = {_side("unique_id", True)}
        """
    )
    parts = []
    have = set(columns(con, table))  # term-frequency weights: where the model has them
    for i, c in enumerate(comps):
        f = c.field
        labels = level_labels(c)
        label_case = " ".join(f"WHEN {g} THEN {literal(lab)}" for g, lab in labels.items())
        if f == MEMBERS:  # the open record's members' accounts, the known record's account
            value_open = f"array_to_string(vo.{ident(f)}, ', ')"
            value_known = "vk.account_id"
        elif f in LIST_FIELDS:
            value_open = f"array_to_string(vo.{ident(f)}, ', ')"
            value_known = f"array_to_string(vk.{ident(f)}, ', ')"
        else:
            value_open = f"CAST(vo.{ident(f)} AS VARCHAR)"
            value_known = f"CAST(vk.{ident(f)} AS VARCHAR)"
        tf = ident(f"mw_tf_adj_{f}") if f"mw_tf_adj_{f}" in have else "NULL::DOUBLE"
        parts.append(
            f"SELECT x._o, x._k, {literal(f)}, {i}, CASE x.{ident('gamma_' + f)} {label_case} END, "
            f"x.{ident('mw_' + f)} + coalesce({tf}, 0), {tf}, {value_open}, {value_known} "
            "FROM _kept x JOIN score_open vo ON vo.unique_id = x._o "
            "JOIN score_known vk ON vk.unique_id = x._k"
        )
    con.execute(
        "INSERT INTO score_evidence SELECT * FROM (" + " UNION ALL ".join(parts) + ") "
        "ORDER BY 1, 2, 4"
    )
    con.execute("DROP TABLE _kept")


def _decide(con, comps: list[Comparison], accept: float, review: float, margin: float) -> None:
    con.execute(
        f"""
        INSERT INTO score_decision
        WITH ranked AS (
            SELECT *, row_number() OVER (PARTITION BY o ORDER BY match_weight DESC, account_id) AS n
            FROM score_pairs
        ), two AS (
            SELECT b.o, b.k, b.account_id, b.probability, b.match_weight, b.name_only,
                   r.k AS runner_k, r.account_id AS runner_account_id,
                   r.probability AS runner_probability, r.match_weight AS runner_match_weight,
                   r.probability >= {review} AND b.match_weight - r.match_weight < {margin} AS close
            FROM ranked b LEFT JOIN ranked r ON r.o = b.o AND r.n = 2
            WHERE b.n = 1
        )
        SELECT o, k, account_id, probability, match_weight, runner_k, runner_account_id,
               runner_probability, runner_match_weight,
               CASE WHEN probability >= {accept} AND NOT coalesce(close, false) AND name_only IS NULL
                        THEN 'link'
                    WHEN probability >= {review} THEN 'review'
                    ELSE 'drop' END AS decision,
               CASE WHEN probability < {review} THEN 'below the review threshold'
                    WHEN coalesce(close, false) THEN 'a runner-up for another account is close'
                    WHEN probability < {accept} THEN 'in the review band'
                    WHEN name_only IS NOT NULL THEN name_only
               END AS why
        FROM two ORDER BY o
        """
    )
    # Edges: a link is live; a review pair (and a close runner-up) waits for a reviewer.
    con.execute(
        f"""
        INSERT INTO edges
        SELECT least(o, k), greatest(o, k), 'probabilistic', NULL, {PROBABILISTIC_RANK},
               probability, {_evidence_text("o", "k")}
        FROM score_decision d WHERE decision = 'link'
        UNION ALL
        SELECT least(o, k), greatest(o, k), '{CANDIDATE}', NULL, {PROBABILISTIC_RANK + 1},
               probability, why || ': ' || {_evidence_text("o", "k")}
        FROM score_decision d WHERE decision = 'review'
        UNION ALL
        SELECT least(o, runner_k), greatest(o, runner_k), '{CANDIDATE}', NULL,
               {PROBABILISTIC_RANK + 1}, runner_probability,
               'runner-up: ' || {_evidence_text("o", "runner_k")}
        FROM score_decision d WHERE decision = 'review' AND why LIKE 'a runner-up%'
        """
    )


def _evidence_text(o: str, k: str) -> str:
    """'name exact +12.7, domain shares one +13.5, country null' — for edges and reports."""
    return (
        "(SELECT string_agg(comparison || ' ' || level || CASE WHEN level = 'null' THEN '' ELSE "
        "' ' || printf('%+.1f', match_weight) END, ', ' ORDER BY position) FROM score_evidence e "
        f"WHERE e.o = d.{o} AND e.k = d.{k})"
    )


def evidence(con: duckdb.DuckDBPyConnection, a: int, b: int) -> list[dict]:
    """Per comparison: level, match weight (term-frequency part apart), both values."""
    return [
        {
            "comparison": c,
            "level": lv,
            "match_weight": _r(w),
            "tf_weight": _r(tf),
            "open_value": vo,
            "known_value": vk,
        }
        for c, lv, w, tf, vo, vk in rows(
            con,
            "SELECT comparison, level, match_weight, tf_weight, value_open, value_known "
            "FROM score_evidence WHERE (o = ? AND k = ?) OR (o = ? AND k = ?) ORDER BY position",
            [a, b, b, a],
        )
    ]


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)
