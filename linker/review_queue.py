"""The review queue: what `linker review` shows, one row per pending pair or conflict.

Built after every resolve (run and publish) from the state, so the review app reads
rows, not recomputes them: both records' fields, the per-comparison evidence of a scored pair,
the chain of edges of a conflict. A reviewer's decision is appended to decisions.jsonl; the
next run or publish honours it and the row leaves the queue.

Order, most impactful first: conflicts before pairs (a conflict holds its records in dispute,
and the quality gate on conflicts, back from publication); within each kind, the
records whose account waits on the item (its component's non-SOR account records and the
contacts attached to them: `impact`) descending; then the most probable pair first (a quick
yes); then the ids, so the order is stable.
"""

from __future__ import annotations

import json
from collections import defaultdict

import duckdb

from linker.config import Config
from linker.db import columns, has_table, ident, insert_rows, literal, rows
from linker.explain import KEY_FIELDS
from linker.report import shortest_chain

# The record fields shown side by side: explain's, less the contact-only ones, plus address
# (custom fields are added).
SHOWN_FIELDS = (
    *(f for f in KEY_FIELDS if f not in ("first_name", "last_name", "full_name", "account_ref")),
    "address",
)

QUEUE_DDL = """
CREATE OR REPLACE TABLE review_queue (
    item INTEGER,             -- position in the queue, 1 first
    kind VARCHAR,             -- pair | conflict
    left_rid BIGINT,          -- pair: the open record; conflict: one end of the proposed cut
    right_rid BIGINT,
    left_source VARCHAR, left_id VARCHAR, right_source VARCHAR, right_id VARCHAR,
    account_id VARCHAR,       -- pair: the candidate account; conflict: the accounts, comma-separated
    probability DOUBLE,
    match_weight DOUBLE,
    why VARCHAR,              -- why it is queued
    left_fields VARCHAR,      -- JSON object: the record's canonical fields
    right_fields VARCHAR,
    evidence VARCHAR,         -- JSON: pair: per comparison level/weight/values; conflict: chain
    comp BIGINT,
    impact BIGINT,            -- records whose account waits on this item
    left_raw VARCHAR,         -- JSON object: the record's row as the source has it
    right_raw VARCHAR,
    chain_records VARCHAR,    -- conflict: JSON list of every chain record {source, id, fields, raw}
    comp_edges VARCHAR        -- conflict: JSON {sor: [[source, id], ...], edges: [steps]}, every
                              -- edge of its component, so a cut is re-checked at once
)
"""


# The queue's order, most impactful first (the module's docstring).
_ORDER = (
    "q.kind = 'pair', {impact} DESC, q.probability DESC NULLS LAST, "
    "q.left_source, q.left_id, q.right_source, q.right_id"
)


def build_review_queue(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    custom_fields: list[str],
    scope: str | None = None,
) -> int:
    """Rebuild `review_queue`; return its number of pair rows (the pending reviews).

    `scope`: SQL selecting the account records resolved again (incremental.py): only the
    items about one of them are built again, replace their old rows, and every item is
    numbered again."""
    q = "review_queue" if scope is None else "_rq"
    ddl = QUEUE_DDL if scope is None else QUEUE_DDL.replace("TABLE review_queue", "TEMP TABLE _rq")
    con.execute(ddl)
    have = {r[0] for r in rows(con, "DESCRIBE records")}
    shown = [f for f in (*SHOWN_FIELDS, *custom_fields) if f in have]
    fields = "to_json({" + ", ".join(f"'{f}': r.{f}" for f in shown) + "})"
    near = (
        ""  # the scope's records and the other ends of their candidate pairs, by one semi
        # join (an OR of two IN tests scanned every record: 0.1 s at 1M)
        if scope is None
        else f"SEMI JOIN (FROM ({scope}) UNION ALL SELECT unnest([a, b]) FROM edges "
        f"WHERE method = 'candidate' AND (a IN ({scope}) OR b IN ({scope}))) w(rid) "
        "ON w.rid = r.rid"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _fields AS SELECT rid, CAST({fields} AS VARCHAR) AS fields "
        f"FROM records r {near} WHERE entity = 'accounts'"
    )
    has_scores = has_table(con, "score_evidence")
    con.execute("CREATE OR REPLACE TEMP TABLE _chain_rids (comp BIGINT, rid BIGINT, pos INTEGER)")
    _conflicts(con, q, scope)
    _contradictions(con, q, scope)
    if has_scores:
        _pairs(con, q, scope)
    _raw_rows(con, config, q)
    _impact(con, config, q)
    con.execute(
        f"""
        CREATE OR REPLACE {"TABLE review_queue" if scope is None else "TEMP TABLE _rq_rows"} AS
        SELECT row_number() OVER (ORDER BY {_ORDER.format(impact="i.impact")})::INTEGER AS item,
               q.* EXCLUDE (item, impact, left_raw, right_raw, chain_records),
               i.impact, rl.raw AS left_raw, rr.raw AS right_raw, c.records AS chain_records
        FROM {q} q
        JOIN _impact i USING (comp)
        LEFT JOIN _raw rl ON rl.rid = q.left_rid LEFT JOIN _raw rr ON rr.rid = q.right_rid
        LEFT JOIN (
            SELECT x.comp, CAST(to_json(list({{'source': r.source, 'id': r.id,
                                              'fields': json(f.fields), 'raw': json(w.raw)}}
                                             ORDER BY x.pos)) AS VARCHAR) AS records
            FROM _chain_rids x JOIN records r USING (rid) JOIN _fields f USING (rid)
            LEFT JOIN _raw w USING (rid) GROUP BY x.comp
        ) c ON q.kind = 'conflict' AND c.comp = q.comp
        ORDER BY item
        """
    )
    for t in ("_fields", "_chain_rids", "_raw", "_impact"):
        con.execute(f"DROP TABLE {t}")
    if scope is not None:
        _splice_items(con, scope)
    return rows(con, "SELECT count(*) FROM review_queue WHERE kind = 'pair'")[0][0]


def _splice_items(con: duckdb.DuckDBPyConnection, scope: str) -> None:
    """The items about the scope's records (`_rq_rows`) replace the old ones; all renumbered."""
    con.execute(f"DELETE FROM review_queue WHERE left_rid IN ({scope}) OR right_rid IN ({scope})")
    con.execute("INSERT INTO review_queue FROM _rq_rows")
    con.execute(
        f"""
        UPDATE review_queue SET item = n.item FROM (
            SELECT row_number() OVER (ORDER BY {_ORDER.format(impact="q.impact")})::INTEGER AS item,
                   q.left_rid, q.right_rid, q.kind, q.why
            FROM review_queue q
        ) n WHERE n.left_rid = review_queue.left_rid AND n.right_rid = review_queue.right_rid
              AND n.kind = review_queue.kind AND n.why = review_queue.why
        """
    )
    con.execute("DROP TABLE _rq")
    con.execute("DROP TABLE _rq_rows")


def _raw_rows(con, config: Config, q: str = "review_queue") -> None:
    """`_raw`: each queued record's row as its source has it (every column), as JSON."""
    con.execute("CREATE OR REPLACE TEMP TABLE _raw (rid BIGINT, raw VARCHAR)")
    queued = (
        f"SELECT left_rid FROM {q} UNION SELECT right_rid FROM {q} "
        "UNION SELECT rid FROM _chain_rids"
    )
    for s in config.sources_of("accounts"):
        table = f"src.{ident(s.name)}"
        cols = [c for c in columns(con, table) if c != "_row"]
        if not cols:
            continue
        struct = "{" + ", ".join(f"{literal(c)}: t.{ident(c)}" for c in cols) + "}"
        con.execute(
            f"INSERT INTO _raw SELECT r.rid, CAST(to_json({struct}) AS VARCHAR) "
            f"FROM records r JOIN {table} t ON t._row = r._row "
            f"WHERE r.source = {literal(s.name)} AND r.rid IN ({queued})"
        )


def add_raw_changes(con: duckdb.DuckDBPyConnection, config: Config, prev: str, scope: str) -> int:
    """Add to temp table `scope(rid)` the records of every component (account_result's
    `comp`) of the last run's review queue (in the state attached as `prev`) holding a record
    whose row in its source changed in a column linker.toml does not map (the queue shows the
    whole row; a change to a mapped column reaches the record otherwise). Returns how many
    records were added."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _shown AS
        SELECT r.rid, r.source, r._row, p._row AS old_row FROM records r
        JOIN {prev}.records p USING (rid)
        WHERE r.rid IN (SELECT rid FROM account_result WHERE comp IN (
            SELECT comp FROM {prev}.review_queue UNION
            SELECT comp FROM account_result WHERE rid IN (
                SELECT left_rid FROM {prev}.review_queue UNION
                SELECT right_rid FROM {prev}.review_queue)))
        """
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _raw_changed (rid BIGINT)")
    for s in config.sources_of("accounts"):
        table = f"src.{ident(s.name)}"
        cols = [c for c in columns(con, table) if c != "_row"]
        if not cols:
            continue
        mine = f"SELECT rid FROM _shown WHERE source = {literal(s.name)}"
        if not has_table(con, s.name, prev) or list(
            columns(con, f"{prev}.{table}").items()
        ) != list(columns(con, table).items()):  # (other columns: every row is shown anew)
            con.execute(f"INSERT INTO _raw_changed {mine}")
            continue
        same = " AND ".join(f"t.{ident(c)} IS NOT DISTINCT FROM o.{ident(c)}" for c in cols)
        con.execute(
            f"""
            INSERT INTO _raw_changed SELECT w.rid FROM _shown w
            JOIN {table} t ON t._row = w._row
            LEFT JOIN {prev}.{table} o ON o._row = w.old_row AND {same}
            WHERE w.source = {literal(s.name)} AND o._row IS NULL
            """
        )
    n = rows(con, "SELECT count(*) FROM _raw_changed")[0][0]
    con.execute(
        f"""
        INSERT INTO {scope} SELECT rid FROM account_result
        WHERE comp IN (SELECT comp FROM account_result SEMI JOIN _raw_changed USING (rid))
          AND rid NOT IN (SELECT rid FROM {scope})
        """
    )
    con.execute("DROP TABLE _shown")
    con.execute("DROP TABLE _raw_changed")
    return n


def _impact(con, config: Config, q: str = "review_queue") -> None:
    """`_impact` per component: its non-SOR account records and the contacts attached to them
    (through their own account link), all of whose accounts wait on a reviewer."""
    links = {
        s.name: s.account.source for s in config.sources_of("contacts") if s.account is not None
    }
    cases = " ".join(f"WHEN {literal(c)} THEN {literal(a)}" for c, a in sorted(links.items()))
    # Only the queued components' records are looked up (counting every account record's
    # contacts first: 0.26 s at 1M for a publish of 100 decisions).
    queued = (
        f"SELECT rid, comp FROM account_result WHERE method <> 'sor' "
        f"AND comp IN (SELECT comp FROM {q})"
    )
    contacts = (
        f"""SELECT a.rid, count(*) AS n FROM records c
            JOIN (SELECT r.rid, r.source, r.id FROM records r SEMI JOIN _queued w ON w.rid = r.rid) a
              ON a.source = (CASE c.source {cases} END) AND a.id = c.account_ref
            WHERE c.entity = 'contacts' GROUP BY a.rid"""
        if links
        else "SELECT NULL::BIGINT AS rid, 0 AS n WHERE false"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _queued AS {queued}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _impact AS
        SELECT ar.comp, count(*) + coalesce(sum(c.n), 0) AS impact
        FROM _queued ar LEFT JOIN ({contacts}) c USING (rid)
        GROUP BY ar.comp
        """
    )
    con.execute("DROP TABLE _queued")


def _pairs(con, q: str = "review_queue", scope: str | None = None) -> None:
    """Undecided review-band pairs whose open record is still unresolved."""
    near = "" if scope is None else f"AND (e.a IN ({scope}) OR e.b IN ({scope}))"
    con.execute(
        f"""
        INSERT INTO {q}
        WITH p AS (
            SELECT CASE WHEN ra.account_id IS NULL THEN e.a ELSE e.b END AS o,
                   CASE WHEN ra.account_id IS NULL THEN e.b ELSE e.a END AS k,
                   e.probability, split_part(e.evidence, ':', 1) AS why
            FROM edges e
            ANTI JOIN decision_pairs d ON d.a = e.a AND d.b = e.b
            JOIN account_result ra ON ra.rid = e.a JOIN account_result rb ON rb.rid = e.b
            WHERE e.method = 'candidate' AND (ra.account_id IS NULL) <> (rb.account_id IS NULL) {near}
        ),
        -- the queued pairs' evidence only (a subquery per pair grouped all of score_evidence:
        -- 0.5 s at 1M records for ten decisions)
        ev AS (
            SELECT se.o, se.k,
                   CAST(to_json(list({{'comparison': comparison, 'level': level,
                                      'match_weight': round(match_weight, 2),
                                      'open_value': value_open, 'known_value': value_known}}
                                     ORDER BY position)) AS VARCHAR) AS evidence
            FROM score_evidence se SEMI JOIN p ON se.o = p.o AND se.k = p.k
            GROUP BY se.o, se.k
        )
        SELECT NULL, 'pair', p.o, p.k, ro.source, ro.id, rk.source, rk.id, ak.account_id,
               p.probability, sp.match_weight, p.why, fo.fields, fk.fields, ev.evidence,
               ao.comp, NULL, NULL, NULL, NULL, NULL
        FROM p
        JOIN records ro ON ro.rid = p.o JOIN records rk ON rk.rid = p.k
        JOIN account_result ao ON ao.rid = p.o JOIN account_result ak ON ak.rid = p.k
        LEFT JOIN score_pairs sp ON sp.o = p.o AND sp.k = p.k
        LEFT JOIN ev ON ev.o = p.o AND ev.k = p.k
        JOIN _fields fo ON fo.rid = p.o JOIN _fields fk ON fk.rid = p.k
        """
    )


def _contradictions(con, q: str = "review_queue", scope: str | None = None) -> None:
    """A record that contradicts the one account its component reaches (a stored reference
    naming a company in another country): a pair of the record and that account's record; a
    `match` settles it, a `no_match` cuts a direct edge between them."""
    if not has_table(con, "contradicted"):
        return
    near = "" if scope is None else f"WHERE x.rid IN ({scope})"
    con.execute(
        f"""
        INSERT INTO {q}
        SELECT NULL, 'pair', x.rid, x.sor_rid, r.source, r.id, s.source, s.id, s.id,
               NULL, NULL, 'contradicts its account: ' || x.why, fr.fields, fs.fields, '[]',
               a.comp, NULL, NULL, NULL, NULL, NULL
        FROM contradicted x
        JOIN records r ON r.rid = x.rid JOIN records s ON s.rid = x.sor_rid
        JOIN account_result a ON a.rid = x.rid
        JOIN _fields fr ON fr.rid = x.rid JOIN _fields fs ON fs.rid = x.sor_rid
        {near}
        """
    )


# How far an edge's two records agree, whatever joined them (a rule's key, a score): names
# alike +1 / unlike -1, another country -2, the same VAT number +1 / another -2, a shared
# domain +1 / only other domains -1, the same city +0.5 / another -0.5, the same postcode +0.5,
# the same phone +1. A wrong stored reference joins two companies that agree on nothing;
# a shared website between one company's records comes with its name.
_SUPPORT_SQL = """
      (CASE WHEN ra.name IS NULL OR rb.name IS NULL THEN 0
            WHEN jaro_winkler_similarity(ra.name, rb.name) >= 0.9 THEN 1
            WHEN jaro_winkler_similarity(ra.name, rb.name) < 0.7 THEN -1 ELSE 0 END)
    + (CASE WHEN ra.country <> rb.country THEN -2 ELSE 0 END)
    + (CASE WHEN ra.vat = rb.vat THEN 1 WHEN ra.vat <> rb.vat THEN -2 ELSE 0 END)
    + (CASE WHEN len(list_intersect(ra.domain, rb.domain)) > 0 THEN 1
            WHEN len(ra.domain) > 0 AND len(rb.domain) > 0 THEN -1 ELSE 0 END)
    + (CASE WHEN ra.city = rb.city THEN 0.5 WHEN ra.city <> rb.city THEN -0.5 ELSE 0 END)
    + (CASE WHEN ra.postcode = rb.postcode THEN 0.5 ELSE 0 END)
    + (CASE WHEN ra.phone = rb.phone THEN 1 ELSE 0 END)
"""


# How much less an edge's records must agree than every other edge's on the chain for it to
# be proposed: a whole contradiction (another country, another VAT number) or two fields that
# disagree. Measured (benchmarks/conflict_cuts.py): proposals at a smaller margin were wrong
# about as often as right; at 2 or more, 94 of 94 right on the generator at 20k accounts and
# 267 of 272 on the trap data at 100k; the rest are proposed to nobody.
CUT_MARGIN = 2.0
# A conflict component with more edges keeps only its chain in the queue (no re-check).
MAX_COMPONENT_EDGES = 500


def proposal_text(rule: str | None) -> str:
    """What a conflict item says about its proposed cut (`rule`: the proposed edge's; None: no
    edge proposed)."""
    if rule is None:
        return "no edge is clearly the wrong one: choose the one to cut"
    return f"proposed cut: {rule} (its records agree clearly least)"


def propose_cut(support: list[float]) -> int | None:
    """The chain edge to propose cutting: the one whose records agree least, by CUT_MARGIN
    less than any other; None when no edge is clearly the wrong one."""
    order = sorted(range(len(support)), key=lambda i: support[i])
    if len(order) == 1 or support[order[1]] - support[order[0]] >= CUT_MARGIN:
        return order[0]
    return None


def _conflicts(con, q: str = "review_queue", scope: str | None = None) -> None:
    """One row per conflict component: its chain between two SOR records, and the edge whose
    records agree least proposed for cutting (or none, when no edge clearly does)."""
    conflicts = "SELECT comp FROM comp_stat WHERE n_sor >= 2" + (
        ""
        if scope is None
        else f" AND comp IN (SELECT comp FROM account_result WHERE rid IN ({scope}))"
    )
    edges = rows(
        con,
        f"""
        SELECT s.comp, e.a, e.b, coalesce(e.rule, e.method), e.evidence, {_SUPPORT_SQL}
        FROM live_edges e JOIN account_result s ON s.rid = e.a
        JOIN records ra ON ra.rid = e.a JOIN records rb ON rb.rid = e.b
        WHERE s.comp IN ({conflicts}) ORDER BY ALL
        """,
    )
    trust = (
        dict(rows(con, "SELECT rule, trust FROM rule_trust"))
        if has_table(con, "rule_trust")
        else {}
    )
    if not edges:
        return
    by_comp: dict[int, list[tuple]] = defaultdict(list)
    support = {}
    for comp, a, b, rule, ev, sup in edges:
        by_comp[comp].append((a, b, rule, ev))
        support[(min(a, b), max(a, b))] = float(sup)
    sor: dict[int, list[tuple]] = defaultdict(list)
    for comp, rid, id_ in rows(
        con,
        "SELECT comp, rid, id FROM account_result WHERE method = 'sor' AND comp IN "
        f"({conflicts}) ORDER BY comp, id",
    ):
        sor[comp].append((rid, id_))
    label = {
        rid: (s, i)
        for rid, s, i in rows(
            con,
            f"SELECT rid, source, id FROM account_result WHERE comp IN ({conflicts})",
        )
    }
    out = []
    chain_rids: list[tuple[int, int, int]] = []
    for comp, sors in sorted(sor.items()):
        chain = shortest_chain(by_comp[comp], sors[0][0], {r for r, _ in sors[1:]})
        if not chain:
            continue
        agree = [support.get((min(a, b), max(a, b)), 0.0) for a, b, _, _ in chain]
        at = propose_cut(agree)
        cut = chain[at if at is not None else 0]  # the queue row's two records
        steps = [
            {
                "from": list(label[a]),
                "to": list(label[b]),
                "rule": r,
                "trust": trust.get(r),  # identifying or suggestive (rule edges)
                "evidence": ev,
                "agreement": agree[i],  # how far the two records agree (_SUPPORT_SQL)
                "proposed_cut": i == at,
            }
            for i, (a, b, r, ev) in enumerate(chain)
        ]
        on_chain = [chain[0][0], *(b for _, b, _, _ in chain)]
        comp_edges = None
        if len(by_comp[comp]) <= MAX_COMPONENT_EDGES:
            comp_edges = {
                "sor": [list(label[r]) for r, _ in sors],
                "edges": [
                    {
                        "from": list(label[a]),
                        "to": list(label[b]),
                        "rule": r,
                        "trust": trust.get(r),
                        "evidence": ev,
                        "agreement": support.get((min(a, b), max(a, b)), 0.0),
                    }
                    for a, b, r, ev in by_comp[comp]
                ],
            }
            seen = set(on_chain)
            for a, b, _, _ in by_comp[comp]:
                for x in (a, b):
                    if x not in seen:
                        seen.add(x)
                        on_chain.append(x)
        chain_rids += [(comp, rid, pos) for pos, rid in enumerate(on_chain)]
        out.append(
            (
                comp,
                cut[0],
                cut[1],
                ", ".join(i for _, i in sors),
                f"accounts {', '.join(i for _, i in sors)} are joined by a chain of "
                f"{len(chain)} edge(s); " + proposal_text(cut[2] if at is not None else None),
                json.dumps(steps),
                json.dumps(comp_edges) if comp_edges else None,
            )
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _cq (comp BIGINT, a BIGINT, b BIGINT, accounts VARCHAR, "
        "why VARCHAR, chain VARCHAR, comp_edges VARCHAR)"
    )
    insert_rows(con, "_cq", out)
    if chain_rids:
        insert_rows(con, "_chain_rids", chain_rids)
    con.execute(
        f"""
        INSERT INTO {q}
        SELECT NULL, 'conflict', q.a, q.b, ra.source, ra.id, rb.source, rb.id, q.accounts,
               NULL, NULL, q.why, fa.fields, fb.fields, q.chain, q.comp, NULL, NULL, NULL, NULL,
               q.comp_edges
        FROM _cq q JOIN records ra ON ra.rid = q.a JOIN records rb ON rb.rid = q.b
        JOIN _fields fa ON fa.rid = q.a JOIN _fields fb ON fb.rid = q.b
        """
    )
    con.execute("DROP TABLE _cq")
