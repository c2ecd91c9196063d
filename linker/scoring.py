"""The probabilistic stage: Splink scores the account records the rules left open.

Who is scored. After the rules (and the reviewers' decisions) a first resolve splits the
account records in two. *Known*: SOR records and records the rules linked to an account.
*Open*: records without an account (`no_match`, or `no_account` when nothing in their
component names a missing SOR id). Splink links open records to known records of *other*
sources (`link_only` between two tables), so an open record reaches its account directly or
through another system's record. Linked records are never re-scored.

The model (settings as data, compiled by Splink to SQL on our DuckDB connection):
comparisons from the fields present in two or more account sources, or from
`[[scoring.comparisons]]`; blocking from the same fields (distinctive name tokens, exact
name, domain, phone, ...) or `[[scoring.blocking]]`. Training is seeded and reproducible:
u by random sampling; m from *labels* — pairs the rules tied to one account through stored
references, which say nothing about names or domains, so they are fair examples of how true
matches look — and by EM when there are too few labels; the prior (the chance that an open
record and a known record match) by EM over the candidate pairs with m and u fixed, rescaled
to all open x known pairs. Saved as `model.json`: {"linker": {...}, "splink": settings}.

Decisions, per open record: the best account (its best-scoring record) and the runner-up
(another account). Linked when the best is >= accept, the runner-up is not within `margin`
match-weight bits of it, and something besides the name agrees (name-only matching of
companies invites false positives); queued for review when in [review, accept) or held back
by one of those checks; dropped below review.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb

from linker import splink_api
from linker.comparisons import (
    BLOCK_TOKEN_MAX,
    DEFAULT_KINDS,
    LIST_FIELDS,
    LOCATION,
    LOCATION_FIELDS,
    LOCATION_PARTS,
    MEMBERS,
    NAME_KINDS,
    WEAK_FIELDS,
    blocking_rules,
    input_columns,
    level_labels,
    plan_digest,
    splink_settings,
)
from linker.config import Comparison, Config
from linker.db import columns, ident, literal, rows, scalar
from linker.errors import ConfigError

MODEL_FORMAT = 1
MIN_LABELS = 50  # fewer label pairs than this: m by EM instead
MIN_KNOWN = 200  # fewer linked records than this: too little to learn what a non-match looks like
SEED = 42
# Random pairs for u: 20 per record, at least U_MIN_PAIRS, at most the pairs that exist; the cap
# bounds training time at scale.
U_MAX_PAIRS = 5e6
U_MIN_PAIRS = 2e5
WHATIF_ACCEPT = (0.95, 0.9, 0.8)  # the run summary says what these `accept` values would link
PROBABILISTIC_RANK = 10_000  # edges rank after every rule
CANDIDATE = "candidate"  # an edge in the review band: not live until a reviewer says match
# A token in more account names than this share (and than COMMON_TOKEN_MIN) is generic.
COMMON_TOKEN_SHARE = 0.002
COMMON_TOKEN_MIN = 20  # ...and in at least this many: small projects keep their rare words
# Candidate pairs kept for explain and review beyond the best two per record.
KEEP_PROBABILITY = 0.5
# Fields that identify a company unless several accounts hold one value (_org_keys).
ORG_KEYS = ("vat", "registration_number", "phone")


class NotEnoughData(ConfigError):
    """Training needs open records and enough linked ones."""


@dataclass(frozen=True)
class Model:
    path: Path
    settings: dict  # Splink's
    meta: dict  # ours: plan digest, training summary

    @property
    def comparisons(self) -> list[dict]:
        return self.meta["comparisons"]


# --- the plan: which comparisons and blocking rules, from config + data ---------------------


def plan(con: duckdb.DuckDBPyConnection, config: Config) -> tuple[list[Comparison], list[dict]]:
    """Comparisons and blocking rules for this project: configured ones over the defaults."""
    sc = config.scoring
    custom = _custom_fields(config)
    present = _fields_present(con, config, custom)
    comps: dict[str, Comparison] = {}
    configured = {c.field for c in sc.comparisons}
    if sc.defaults:
        located = [f for f in LOCATION_PARTS if f in present and f not in configured]
        for f, (kind, tf) in DEFAULT_KINDS.items():
            if f in present and f not in located:
                comps[f] = Comparison(f, kind, tf)
            elif located and f == located[0]:  # in the place of its first part
                comps[LOCATION] = Comparison(LOCATION, LOCATION)
        if MEMBERS in present:
            comps[MEMBERS] = Comparison(MEMBERS, "exact")
    for c in sc.comparisons:  # fields were checked against the sources by the config
        comps[c.field] = c
    if not comps:
        raise NotEnoughData(
            "nothing to compare: no field is present in two or more account sources",
            key="scoring.comparisons",
            hint="map a field (name, domain, ...) in two sources, or set [scoring] enabled = false",
        )
    return list(comps.values()), blocking_rules(comps, sc.blocking)


def _custom_fields(config: Config) -> list[str]:
    out: list[str] = []
    for s in config.sources_of("accounts"):
        out += [f for f in s.fields if f not in DEFAULT_KINDS and f not in out]
    from linker.config import ACCOUNT_FIELDS

    return [f for f in out if f not in ACCOUNT_FIELDS]


def _fields_present(con, config: Config, custom: list[str]) -> set[str]:
    """Fields with values in two or more account sources (compared by default)."""
    fields = [f for f in [*DEFAULT_KINDS, *custom] if f in _record_columns(con)]
    counts = rows(
        con,
        "SELECT "
        + ", ".join(f"count(DISTINCT source) FILTER (WHERE {ident(f)} IS NOT NULL)" for f in fields)
        + " FROM records WHERE entity = 'accounts'",
    )[0]
    present = {f for f, n in zip(fields, counts, strict=True) if n >= 2}
    if _members_possible(config):
        present.add(MEMBERS)
    return present


def _record_columns(con) -> set[str]:
    return {r[0] for r in rows(con, "DESCRIBE records")}


def _members_possible(config: Config) -> bool:
    return config.contacts_sor is not None and any(
        s.account is not None and s.name != config.contacts_sor
        for s in config.sources_of("contacts")
    )


# --- the input tables: open and known records, with comparison columns --------------------


def prepare(con: duckdb.DuckDBPyConnection, config: Config, comps: list[Comparison]) -> dict:
    """Tables `score_open` and `score_known` (Splink's two inputs) from the first resolve."""
    sor = literal(config.accounts_sor)
    cols = ["r.rid AS unique_id", "r.source", "ar.account_id"]
    have = _record_columns(con)
    for c in comps:
        f = c.field
        if f == MEMBERS:
            cols.append("m.accounts AS members")
            cols.append("coalesce(m.accounts, [ar.account_id]) AS members_block")
            continue
        if f == LOCATION:  # shown as one text; compared on its parts (input_columns)
            cols.append("nullif(concat_ws(', ', r.address, r.postcode, r.city), '') AS location")
            cols += [x for x in input_columns(c) if x not in cols]
            continue
        if f not in have:
            raise ConfigError(
                f"the model compares {f!r}, which no source maps any more",
                key="scoring.comparisons",
                hint="retrain with `linker train`",
            )
        if f == "domain":
            # A company's domains: its own (website, email) and its contacts' company email
            # domains (a support org's users at acme.de say it is acme.de's) — less the ones
            # the domain rule found shared by several accounts (a group's, an organization's
            # sites', a reseller's): they cannot tell accounts apart, here either.
            cols.append("sd.domains AS domain")
        elif f in ORG_KEYS:
            # an organization's number (one VAT number on its sites' records) tells its
            # accounts apart no better than a group's website: no evidence, like the domains
            _org_keys(con, f)
            org = f"r.{ident(f)} IN (SELECT v FROM _org_{f})"
            cols.append(f"CASE WHEN {org} THEN NULL ELSE r.{ident(f)} END AS {ident(f)}")
            if c.kind == "phone":
                cols.append(f"CASE WHEN {org} THEN NULL ELSE r.phone_tail END AS phone_tail")
                continue
        elif f in DEFAULT_KINDS or c.kind == "date":
            cols.append(f"r.{ident(f)}")
        else:  # custom text: the same text key as names and cities
            cols.append(f"norm_text(CAST(r.{ident(f)} AS VARCHAR)) AS {ident(f)}")
        if c.kind == "name":
            cols += [
                f"t_{f}.tokens AS {ident(f + '__tokens')}",
                f"t_{f}.block AS {ident(f + '__block')}",
            ]
        cols += [x for x in input_columns(c) if x not in cols]
    joins = []
    if any(c.kind in ("address", LOCATION) for c in comps):
        _address_blocks(con)
        joins.append("LEFT JOIN _address_blocks ab ON ab.rid = r.rid")
    if any(c.field == "domain" for c in comps):
        _score_domains(con)
        joins.append("LEFT JOIN _score_domains sd ON sd.rid = r.rid")
    for c in comps:
        if c.kind == "name":
            _name_tokens(con, c.field)
            joins.append(f"LEFT JOIN _tokens_{c.field} t_{c.field} ON t_{c.field}.rid = r.rid")
    if any(c.field == MEMBERS for c in comps):
        _members(con, config)
        joins.append("LEFT JOIN _members m ON m.rid = r.rid")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE score_input AS
        SELECT CASE WHEN ar.account_id IS NULL THEN 'open' ELSE 'known' END AS source_dataset,
               {", ".join(cols)}
        FROM records r JOIN account_result ar USING (rid) {" ".join(joins)}

        WHERE r.entity = 'accounts'
          AND (ar.account_id IS NOT NULL
               OR (ar.reason IN ('no_match', 'no_account')
                   -- a component naming a SOR id the SOR lacks stays no_account
                   AND ar.comp NOT IN (SELECT a.comp FROM raw_refs x JOIN account_result a USING (rid)
                                       ANTI JOIN records t ON t.source = x.target AND t.id = x.value
                                       WHERE x.target = {sor})))
        ORDER BY unique_id
        """
    )
    _check_blocking_sql(con, config)
    for side in ("open", "known"):
        con.execute(
            f"CREATE OR REPLACE TABLE score_{side} AS SELECT * FROM score_input "
            f"WHERE source_dataset = '{side}' ORDER BY unique_id"
        )
    n_open, n_known = (scalar(con, f"SELECT count(*) FROM score_{s}") for s in ("open", "known"))
    # Pairs Splink could score at all (open x known of other sources): the prior's denominator.
    possible = scalar(
        con,
        "SELECT coalesce(sum(o.n * (k.total - coalesce(k2.n, 0))), 0) FROM "
        "(SELECT source, count(*) n FROM score_open GROUP BY source) o "
        "CROSS JOIN (SELECT count(*) total FROM score_known) k "
        "LEFT JOIN (SELECT source, count(*) n FROM score_known GROUP BY source) k2 USING (source)",
    )
    return {"open": n_open, "known": n_known, "possible_pairs": int(possible)}


def _address_blocks(con: duckdb.DuckDBPyConnection) -> None:
    """`_address_blocks(rid, keys)`: a record's (house number, street word) pairs held by at
    most BLOCK_TOKEN_MAX records — "3801 wabash" blocks, "12 street" (everywhere) does not."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ab AS
        SELECT DISTINCT rid, address_number || ' ' || w AS k FROM (
            SELECT rid, address_number, unnest(string_split(address_street, ' ')) AS w
            FROM records WHERE entity = 'accounts' AND address_number IS NOT NULL
        ) WHERE length(w) >= 3
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _address_blocks AS
        SELECT rid, list(k ORDER BY k) AS keys FROM _ab
        WHERE k IN (SELECT k FROM _ab GROUP BY k HAVING count(*) <= {BLOCK_TOKEN_MAX})
        GROUP BY rid
        """
    )
    con.execute("DROP TABLE _ab")


def _score_domains(con: duckdb.DuckDBPyConnection) -> None:
    """`_score_domains(rid, domains)`: each account record's own and contacts' domains, less
    those the domain rule found shared by several accounts (set operations, not per-row lists)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _score_domains AS
        SELECT rid, list(DISTINCT d ORDER BY d) AS domains FROM (
            SELECT rid, unnest(domain) AS d FROM records
            WHERE entity = 'accounts' AND domain IS NOT NULL
            UNION ALL
            SELECT rid, unnest(domains) FROM record_contacts WHERE domains IS NOT NULL
        ) x
        WHERE d NOT IN (SELECT key FROM key_report WHERE rule = 'domain')
        GROUP BY rid
        """
    )


def _org_keys(con: duckdb.DuckDBPyConnection, field: str) -> None:
    """`_org_<field>(v)`: the values of an identifying field that the first resolve found on
    the records of two or more accounts — an organization's VAT number on its sites' records,
    a switchboard's phone — so they say nothing about which of its accounts a record is."""
    f = ident(field)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _org_{field} AS SELECT r.{f} AS v FROM records r "
        f"JOIN account_result ar USING (rid) WHERE r.entity = 'accounts' AND r.{f} IS NOT NULL "
        f"AND ar.account_id IS NOT NULL GROUP BY r.{f} HAVING count(DISTINCT ar.account_id) >= 2"
    )


def _check_blocking_sql(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """A `[[scoring.blocking]] sql` that DuckDB cannot bind over two input records is the
    config's error (exit 2, naming the key), not Splink's crash."""
    for i, b in enumerate(config.scoring.blocking):
        if b.sql is None:
            continue
        try:
            con.execute(
                "SELECT count(*) FROM (SELECT * FROM score_input LIMIT 0) l, "
                f"(SELECT * FROM score_input LIMIT 0) r WHERE (\n{b.sql}\n)"
            ).fetchall()
        except duckdb.Error as e:
            cols = ", ".join(c for c in columns(con, "score_input") if c != "source_dataset")
            raise ConfigError(
                f"the blocking condition failed: {str(e).splitlines()[0]}",
                file=str(config.file),
                key=f"scoring.blocking[{i}].sql",
                hint=f"a condition over l.* and r.*, the two records; their columns: {cols}",
            ) from None


def _name_tokens(con, field: str) -> None:
    """Per record: its distinctive words (not generic like "global", "services") and the
    words rare enough to block on."""
    f = ident(field)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _tok AS SELECT DISTINCT rid, unnest(string_split({f}, ' ')) AS tok "
        f"FROM records WHERE entity = 'accounts' AND {f} IS NOT NULL"
    )
    n = scalar(con, "SELECT count(DISTINCT rid) FROM _tok") or 0
    common = max(COMMON_TOKEN_MIN, math.ceil(COMMON_TOKEN_SHARE * n))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _tokens_{field} AS
        WITH df AS (SELECT tok, count(*) AS df FROM _tok WHERE length(tok) >= 2 GROUP BY tok)
        SELECT rid,
               nullif(list(tok ORDER BY tok) FILTER (WHERE df < {common}), []) AS tokens,
               nullif(list(tok ORDER BY tok) FILTER (WHERE df <= {BLOCK_TOKEN_MAX}), []) AS block
        FROM _tok JOIN df USING (tok) GROUP BY rid
        """
    )
    con.execute("DROP TABLE _tok")


def _members(con, config: Config) -> None:
    """Per account record: the accounts whose users its contacts are (by unique email)."""
    links = {
        s.name: s.account.source
        for s in config.sources_of("contacts")
        if s.account is not None and s.name != config.contacts_sor
    }
    csor = config.contacts_sor
    if csor is None or not links:
        # No users, or no other contacts naming an account (a comparison configured by hand):
        # no record has members.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _members AS "
            "SELECT rid, [account_id] AS accounts FROM account_result WHERE false"
        )
        return
    cases = " ".join(f"WHEN {literal(c)} THEN {literal(a)}" for c, a in sorted(links.items()))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _members AS
        WITH users AS (
            SELECT u.email, min(ua.account_id) AS account_id FROM records u
            JOIN records acc ON acc.source = {literal(config.users_account_source)} AND acc.id = u.account_ref
            JOIN account_result ua ON ua.rid = acc.rid
            WHERE u.source = {literal(csor)} AND u.email IS NOT NULL
            GROUP BY u.email HAVING count(*) = 1 AND count(ua.account_id) = 1
        )
        SELECT a.rid, list(DISTINCT users.account_id ORDER BY users.account_id) AS accounts
        FROM records c
        JOIN records a ON a.source = (CASE c.source {cases} END) AND a.id = c.account_ref
        JOIN users ON users.email = c.email
        WHERE c.entity = 'contacts' AND users.account_id IS NOT NULL
        GROUP BY a.rid
        """
    )


# --- Splink on our connection --------------------------------------------------------------


def splink_linker(con: duckdb.DuckDBPyConnection, settings: dict):
    return splink_api.linker_for(con, settings, ("score_open", "score_known"))


quiet_splink = splink_api.quiet
_drop_splink_tables = splink_api.drop_splink_tables


# --- training ------------------------------------------------------------------------------


def train(con: duckdb.DuckDBPyConnection, config: Config, path: Path) -> Model:
    """Train on the open/known tables of this run and save `model.json`. Seeded."""
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
        linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=SEED)
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
        trained = _saved_settings(linker)
    _floor_unobserved(trained, n_labels, max_pairs)
    # The prior: EM over the candidate pairs with m and u fixed, rescaled to all pairs.
    with quiet_splink():
        linker = splink_linker(con, trained)
        pred = linker.inference.predict()
        table = pred.physical_name
        lam_blocked, n_blocked = _prior_by_em(con, table, trained)
    _drop_splink_tables(con)
    prior = lam_blocked * n_blocked / max(counts["possible_pairs"], 1)
    # Rounded: the EM's average may differ in the last bits between runs (parallel sums).
    prior = float(f"{min(max(prior, 1e-12), 0.5):.6g}")
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


# --- the model file ------------------------------------------------------------------------


def save_model(model: Model) -> None:
    body = json.dumps({"linker": model.meta, "splink": model.settings}, indent=1, sort_keys=True)
    tmp = model.path.with_suffix(".json.tmp")
    tmp.write_text(body + "\n", encoding="utf-8")
    tmp.replace(model.path)


def load_model(path: Path) -> Model:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        meta, settings = raw["linker"], raw["splink"]
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"model format {meta.get('format')!r}, expected {MODEL_FORMAT}")
        meta["comparisons"], settings["comparisons"]  # noqa: B018 - both must be there
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            f"cannot read the model: {e}",
            file=str(path),
            hint="retrain it with `linker train` (it is rebuilt from the project's data)",
        ) from None
    return Model(path, settings, meta)


def model_comparisons(model: Model) -> list[Comparison]:
    return [
        Comparison(c["field"], c["kind"], bool(c["tf"]), tuple(c["thresholds"]))
        for c in model.comparisons
    ]


def is_stale(con: duckdb.DuckDBPyConnection, config: Config, model: Model) -> bool:
    """True when the config's comparisons or blocking differ from the model's."""
    try:
        comps, blocking = plan(con, config)
    except NotEnoughData:
        return True
    return plan_digest(comps, blocking) != model.meta.get("plan_digest")


# --- scoring and decisions -----------------------------------------------------------------


def score(con: duckdb.DuckDBPyConnection, config: Config, model: Model) -> dict:
    """Score open x known pairs; add `probabilistic` and `candidate` edges; keep the evidence.

    Tables: `score_pairs` (kept pairs: the best two accounts of each open record and every
    pair >= KEEP_PROBABILITY), `score_evidence` (per pair and comparison: level, weight,
    both values), `score_decision` (per open record: best, runner-up, decision, why).
    """
    sc = config.scoring
    comps = model_comparisons(model)
    counts = prepare(con, config, comps)
    stats = {**counts, "blocked_pairs": 0, "scored_pairs": 0, "linked": 0, "review": 0}
    _create_score_tables(con, comps)
    if counts["open"] and counts["known"]:
        with quiet_splink():
            linker = splink_linker(con, model.settings)
            pred = linker.inference.predict()
            _keep_pairs(con, pred.physical_name, comps)
        stats["blocked_pairs"] = scalar(con, "SELECT count(*) FROM _pred_all")
        con.execute("DROP TABLE _pred_all")
        _drop_splink_tables(con)
        stats["scored_pairs"] = scalar(con, "SELECT count(*) FROM score_pairs")
        # An untrained model ranks candidates but never decides: nothing above 1.
        accept = sc.accept if not model.meta.get("untrained") else 1.1
        _decide(con, comps, accept, sc.review, sc.margin)
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
    for side in ("input", "open", "known"):
        con.execute(f"DROP TABLE IF EXISTS score_{side}")
    return stats


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
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _pred_all AS
        SELECT {_side("unique_id", False)} AS o, {_side("unique_id", True)} AS k,
               {_side("account_id", True)} AS account_id,
               match_probability AS probability, match_weight,
               CASE WHEN NOT ({corroborated}) THEN 'only the name agrees'
                    WHEN NOT ({identified}) THEN 'only the location agrees' END AS name_only,
               {_side("source", False)} = {_side("source", True)} AS same_source
        FROM {table}
        """
    )
    # Per open record and account: the best record; then the best two accounts.
    con.execute(
        f"""
        INSERT INTO score_pairs
        WITH per_account AS (
            SELECT * FROM _pred_all WHERE NOT same_source
            QUALIFY row_number() OVER (PARTITION BY o, account_id ORDER BY match_weight DESC, k) = 1
        )
        SELECT o, k, account_id, probability, match_weight, name_only FROM per_account
        QUALIFY row_number() OVER (PARTITION BY o ORDER BY match_weight DESC, account_id) <= 2
             OR probability >= {KEEP_PROBABILITY}
        ORDER BY o, match_weight DESC, k
        """
    )
    parts = []
    have = set(columns(con, table))  # term-frequency weights: where the model has them
    for i, c in enumerate(comps):
        f = c.field
        labels = level_labels(c)
        label_case = " ".join(f"WHEN {g} THEN {literal(lab)}" for g, lab in labels.items())
        if f == MEMBERS:  # the open record's members' accounts, the known record's account
            value_open = f"array_to_string({_side(f, False)}, ', ')"
            value_known = _side("account_id", True)
        elif f in LIST_FIELDS:
            value_open = f"array_to_string({_side(f, False)}, ', ')"
            value_known = f"array_to_string({_side(f, True)}, ', ')"
        else:
            value_open = f"CAST({_side(f, False)} AS VARCHAR)"
            value_known = f"CAST({_side(f, True)} AS VARCHAR)"
        tf = ident(f"mw_tf_adj_{f}") if f"mw_tf_adj_{f}" in have else "NULL::DOUBLE"
        parts.append(
            f"SELECT {_side('unique_id', False)} AS o, {_side('unique_id', True)} AS k, "
            f"{literal(f)}, {i}, CASE {ident('gamma_' + f)} {label_case} END, "
            f"{ident('mw_' + f)} + coalesce({tf}, 0), {tf}, {value_open}, {value_known} FROM {table}"
        )
    con.execute(
        "INSERT INTO score_evidence SELECT e.* FROM (" + " UNION ALL ".join(parts) + ") e "
        "SEMI JOIN score_pairs p ON p.o = e.o AND p.k = e.k ORDER BY 1, 2, 4"
    )


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
