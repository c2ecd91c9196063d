"""Training: the model from this run's open and known records (u by random sampling, m from
label pairs or by EM, the prior by EM), the untrained default model, and when a saved model is
stale."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import duckdb

from linker import splink_api
from linker.comparisons import plan_digest, splink_settings
from linker.config import Comparison, Config
from linker.db import ident, scalar
from linker.errors import ConfigError
from linker.scoring.inputs import (
    PREDICTED,
    _drop_splink_tables,
    plan,
    prepare,
    quiet_splink,
    splink_linker,
)
from linker.scoring.model import MODEL_FORMAT, Model, NotEnoughData, save_model

MIN_LABELS = 50  # fewer label pairs than this: m by EM instead
M_DIGITS = 10  # significant digits an m by EM is kept to (_round_m)
MIN_KNOWN = 200  # fewer linked records than this: too little to learn what a non-match looks like
SEED = 42
# Random pairs for u: 20 per record, at least U_MIN_PAIRS, at most the pairs that exist; the cap
# bounds training time at scale (Splink compares every sampled pair once per comparison: 1M
# account records of the trap data, 5.4 s at 2e6, 11.7 s at 5e6).
U_MAX_PAIRS = 2e6
U_MIN_PAIRS = 2e5


# --- training ------------------------------------------------------------------------------


# The training's prediction, kept for this run's scoring when asked (see train).
TRAIN_PREDICTION = "score_prediction"


def train(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    path: Path,
    *,
    keep_prediction: bool = False,
    note: Callable[[str], None] = lambda text: None,
) -> Model:
    """Train on the open/known tables of this run and save `model.json`. Seeded.

    The prior's estimate predicts every candidate pair with the trained m and u; with
    `keep_prediction` that prediction stays, repriced with the final prior, as the view
    TRAIN_PREDICTION (with `score_open` and `score_known`): exactly what the saved model
    predicts, so the run's scoring reads it instead of predicting again.
    """
    from splink import block_on  # noqa: F401  (imported for its side effect of loading splink)

    comps, blocking = plan(con, config)
    counts = prepare(con, config, comps)
    if counts["open"] == 0 or counts["known"] < MIN_KNOWN:
        raise NotEnoughData(
            "too little data to train a model: "
            + (
                "every account record is already linked by the rules"
                if counts["open"] == 0
                else f"{counts['known']} account records are linked, at least {MIN_KNOWN} are needed"
            ),
            key="scoring",
            hint="train when there is more data (`linker train`), or set [scoring] enabled = false",
        )
    settings = splink_settings(comps, blocking)
    n_labels = _labels(con, config)
    em_rounds: list[dict] = []
    with quiet_splink():
        linker = splink_linker(con, settings)
        # Random pairs for u: 20 per record (at least 2e5), never more than exist, capped.
        budget = max(U_MIN_PAIRS, 20 * (counts["open"] + counts["known"]))
        max_pairs = int(max(1, min(U_MAX_PAIRS, budget, counts["possible_pairs"])))
        note(f"u from {max_pairs:,} random pairs")
        # One pass over the whole sample for every comparison: Splink's default stops a
        # comparison early on the first 1 % of the pairs (a block of records, not a random
        # 1 %), which moved country's u from 0.11 to 0.19 between two sample sizes.
        linker.training.estimate_u_using_random_sampling(
            max_pairs=max_pairs, seed=SEED, min_count_per_level=None, num_chunks=1
        )
        note(f"m from {n_labels:,} label pairs" if n_labels >= MIN_LABELS else "m by EM")
        if n_labels >= MIN_LABELS:
            how = "m from label pairs (records the rules linked through stored references)"
            linker.training.estimate_m_from_pairwise_labels("score_labels")
        else:
            how = "m by expectation maximisation (too few label pairs)"
            em_rounds = _em(linker, blocking[:3])
        trained = _saved_settings(linker)
    if n_labels < MIN_LABELS and not any(r["ok"] for r in em_rounds):
        raise ConfigError(
            "cannot train the model: there are too few label pairs (records the rules linked "
            "through stored references) and expectation maximisation failed on every blocking "
            "rule: " + "; ".join(f"{r['blocking']}: {r['error']}" for r in em_rounds),
            key="scoring.blocking",
            hint="the first blocking rules must find candidate pairs and leave some compared "
            "fields unblocked",
        )
    if n_labels < MIN_LABELS:
        _round_m(trained)
    _floor_unobserved(trained, n_labels, max_pairs)
    # The prior: EM over the candidate pairs with m and u fixed, rescaled to all pairs.
    note(f"the prior: every candidate pair of {counts['open']:,} open records")
    with quiet_splink():
        linker = splink_linker(con, trained)
        with splink_api.predicting_only(linker, PREDICTED):
            pred = linker.inference.predict()
        table = pred.physical_name
        lam_blocked, n_blocked = _prior_by_em(con, table, trained)
        prior = lam_blocked * n_blocked / max(counts["possible_pairs"], 1)
        # Rounded: the EM's average may differ in the last bits between runs (parallel sums).
        prior = float(f"{min(max(prior, 1e-12), 0.5):.6g}")
        if keep_prediction:
            _keep_prediction(con, linker, table, prior)
    _drop_splink_tables(con)
    trained["probability_two_random_records_match"] = prior
    meta = {
        "format": MODEL_FORMAT,
        "plan_digest": plan_digest(comps, blocking),
        "comparisons": _meta_comparisons(comps),
        "training": {
            "open_records": counts["open"],
            "known_records": counts["known"],
            "label_pairs": n_labels,
            "u_max_pairs": max_pairs,
            "m": how,
            "em_rounds": em_rounds,
            "candidate_pairs": n_blocked,
            "possible_pairs": counts["possible_pairs"],
            "prior": prior,
            "seed": SEED,
        },
    }
    model = Model(path, trained, meta)
    save_model(model)
    return model


def _keep_prediction(con, linker, table: str, prior: float) -> None:
    """The prediction as the view TRAIN_PREDICTION, its match weight and probability those of
    `prior` (Splink's own expressions over the per-comparison weights, so bit-identical)."""
    weight, probability = splink_api.reprice(linker, prior)
    con.execute(f"DROP TABLE IF EXISTS _{TRAIN_PREDICTION}")
    con.execute(f"ALTER TABLE {ident(table)} RENAME TO _{TRAIN_PREDICTION}")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {TRAIN_PREDICTION} AS SELECT * REPLACE "
        f"({weight} AS match_weight, {probability} AS match_probability) FROM _{TRAIN_PREDICTION}"
    )


def drop_prediction(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP VIEW IF EXISTS {TRAIN_PREDICTION}")
    con.execute(f"DROP TABLE IF EXISTS _{TRAIN_PREDICTION}")


def default_model(con: duckdb.DuckDBPyConnection, config: Config, path: Path) -> Model:
    """A model for a project too small to train one (never saved, never links by itself).

    Parameters: Splink's defaults for an untrained comparison — its most specific level at
    +10 bits of match weight, the others spread from -5 to +3 — and term-frequency adjustments
    on names, which need no training. The prior is one true match per open record: the best
    candidate of each open record is then queued for review, and `linker explain` shows it.
    Chosen to rank candidates sensibly, not to decide: `score` links nothing with it.
    """
    comps, blocking = plan(con, config)
    counts = prepare(con, config, comps)
    settings = splink_settings(comps, blocking)
    settings["probability_two_random_records_match"] = 1 / max(counts["known"], 2)
    meta = {
        "format": MODEL_FORMAT,
        "plan_digest": plan_digest(comps, blocking),
        "untrained": True,
        "comparisons": _meta_comparisons(comps),
        "training": {
            "open_records": counts["open"],
            "known_records": counts["known"],
            "m": "Splink's default parameters (too little data to train)",
        },
    }
    return Model(path, settings, meta)


def _meta_comparisons(comps: list[Comparison]) -> list[dict]:
    """The comparisons as model.json's `linker` part records them."""
    return [
        {"field": c.field, "kind": c.kind, "tf": c.tf, "thresholds": list(c.thresholds)}
        for c in comps
    ]


def _em(linker, rules: list[dict]) -> list[dict]:
    """EM rounds, one per blocking rule. Splink drops the blocked comparisons from the model
    while a round runs and restores them only when it succeeds: a failed round (a rule that
    finds no pairs, or blocks on every compared field) is undone here, and reported."""
    rounds = []
    for rule in rules:
        saved = splink_api.parameters_snapshot(linker)
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule["blocking_rule"]
            )
            rounds.append({"blocking": rule["blocking_rule"], "ok": True, "error": None})
        except Exception as e:  # noqa: BLE001 - Splink raises several kinds; all undo the round
            splink_api.restore_parameters(linker, saved)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            rounds.append({"blocking": rule["blocking_rule"], "ok": False, "error": first})
    return rounds


def _labels(con, config: Config) -> int:
    """Label pairs: two records of different sources on one account, each the SOR record or
    linked by stored references alone (the weakest rule on its chain is a `ref` rule)."""
    from linker.rules import available_rules

    refs = [r.name for r in available_rules(config).values() if r.kind == "ref"]
    con.execute(
        """
        CREATE OR REPLACE TABLE score_labels AS
        WITH k AS (
            SELECT rid, source, account_id FROM account_result
            WHERE account_id IS NOT NULL AND (method = 'sor' OR (method = 'rule' AND rule IN (SELECT unnest(?))))
              AND rid IN (SELECT unique_id FROM score_known)
        )
        SELECT 'known' AS source_dataset_l, l.rid AS unique_id_l,
               'known' AS source_dataset_r, r.rid AS unique_id_r
        FROM k l JOIN k r ON l.account_id = r.account_id AND l.source < r.source
        ORDER BY hash(l.rid, r.rid), l.rid, r.rid
        LIMIT 50000
        """,
        [refs],
    )
    return scalar(con, "SELECT count(*) FROM score_labels")


def _saved_settings(linker) -> dict:
    return splink_api.settings_dict(linker)


def _round_m(settings: dict) -> None:
    """m by EM, to M_DIGITS significant digits: EM's m are sums of probabilities over many
    pairs, which DuckDB adds up in parallel, so their last bits differ from one training to
    the next (three model.json files in four trainings of the example). Rounded — as the prior
    is — the same data trains the same bytes, but for a value that falls on a rounding
    boundary (about one in 10^(16 - M_DIGITS) per value). m from label pairs are ratios of
    counts: the same every time, not rounded."""
    for comp in settings["comparisons"]:
        for level in comp["comparison_levels"]:
            m = level.get("m_probability")
            if m is not None:
                level["m_probability"] = float(f"{m:.{M_DIGITS}g}")


def _floor_unobserved(settings: dict, n_labels: int, max_pairs: int) -> None:
    """Levels never seen in training get half an observation, so weights stay finite."""
    for comp in settings["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        for key, floor in (
            ("m_probability", 0.5 / max(n_labels, 100)),
            ("u_probability", 0.5 / max_pairs),
        ):
            vals = [lv.get(key) for lv in levels]
            if all(v is not None and v > 0 for v in vals):
                continue
            fixed = [v if (v is not None and v > 0) else floor for v in vals]
            total = sum(fixed)
            for lv, v in zip(levels, fixed, strict=True):
                lv[key] = v / total


def _prior_by_em(con, table: str, settings: dict) -> tuple[float, int]:
    """The share of candidate pairs that match: the fixed point of lambda = mean posterior."""
    lam0 = settings["probability_two_random_records_match"]
    prior_w = math.log2(lam0 / (1 - lam0))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _bf AS SELECT match_weight - ({prior_w}) AS w FROM {table} "
        "WHERE source_l <> source_r"
    )
    n = scalar(con, "SELECT count(*) FROM _bf")
    lam = 0.01
    for _ in range(500):
        new = scalar(
            con,
            f"SELECT avg(1 / (1 + (1 - {lam}) / {lam} * pow(2, -least(greatest(w, -60), 60)))) FROM _bf",
        )
        if new is None:
            break
        new = min(max(new, 1e-9), 1 - 1e-9)
        if abs(new - lam) < 1e-7:
            lam = new
            break
        lam = new
    con.execute("DROP TABLE _bf")
    return lam, n


def is_stale(con: duckdb.DuckDBPyConnection, config: Config, model: Model) -> str | None:
    """Why the model is not the one this config and linker would train, or None when it is:
    "config" when the comparisons (fields, kinds, thresholds) or the blocking differ;
    "linker" when only the SQL differs that linker writes for the same comparisons (a model
    another version of linker trained: it still scores as it did, with its own SQL)."""
    try:
        comps, blocking = plan(con, config)
    except NotEnoughData:
        return "config"
    if plan_digest(comps, blocking) == model.meta.get("plan_digest"):
        return None
    same_plan = (
        model.meta.get("comparisons") == _meta_comparisons(comps)
        and model.settings.get("blocking_rules_to_generate_predictions") == blocking
    )
    return "linker" if same_plan else "config"
