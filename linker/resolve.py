"""Resolve: edges + decisions -> an account_id (or a reason) per account record.

Accounts. Connected components over the live edges (rule and accepted probabilistic edges,
plus reviewers' `match` pairs, minus their `no_match` pairs), by hooking and
pointer jumping in DuckDB. A component with one SOR record gives every member its id; two or
more is a conflict, which holds back only its records in dispute (`_settle` in conflicts.py:
the others are linked by their own evidence); none is `no_account`; a record
with no edge is `no_match`. Within a resolved component a breadth-first tree from the SOR
record gives each record its chain of edges (`explain`) and its method: the least certain
kind of edge on that chain (probabilistic > review > rule) and, for rules, the weakest rule
(latest in [rules] order) on it.

The conflicts' glue cuts and contradictions are in conflicts.py, the contacts in contacts.py.
"""

from __future__ import annotations

import duckdb

from linker.config import Config
from linker.conflicts import _contradicted, _settle

# Imported for `resolve.<name>` callers (project.py, evaluate.py, tests):
from linker.conflicts import cut_contradictions as cut_contradictions
from linker.conflicts import cut_glue as cut_glue
from linker.contacts import resolve_contacts as resolve_contacts
from linker.db import insert_rows, rows, scalar
from linker.decisions import Decision

_LEVEL_SQL = "CASE method WHEN 'rule' THEN 0 WHEN 'review' THEN 1 ELSE 2 END"


def load_decisions(con: duckdb.DuckDBPyConnection, standing: dict[tuple, Decision]) -> list[str]:
    """Put standing decisions in `decision_pairs` (rids); warn about unknown records."""
    con.execute(
        "CREATE OR REPLACE TABLE decision_pairs (a BIGINT, b BIGINT, decision VARCHAR, "
        "reviewer VARCHAR, decided_at VARCHAR, note VARCHAR)"
    )
    if not standing:
        return []
    flat = [
        (a[0], a[1], b[0], b[1], d.decision, d.reviewer, d.at, d.note)
        for (a, b), d in sorted(standing.items())
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dec (ls VARCHAR, li VARCHAR, rs VARCHAR, ri VARCHAR, "
        "decision VARCHAR, reviewer VARCHAR, decided_at VARCHAR, note VARCHAR)"
    )
    insert_rows(con, "_dec", flat)
    # the account records the decisions name, in one pass over the records
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _named AS SELECT r.source, r.id, r.rid FROM records r "
        "SEMI JOIN (SELECT ls AS s, li AS i FROM _dec UNION SELECT rs, ri FROM _dec) e "
        "ON r.source = e.s AND r.id = e.i WHERE r.entity = 'accounts'"
    )
    con.execute(
        "INSERT INTO decision_pairs SELECT least(l.rid, r.rid), greatest(l.rid, r.rid), d.decision, "
        "d.reviewer, d.decided_at, d.note FROM _dec d "
        "JOIN _named l ON l.source = d.ls AND l.id = d.li JOIN _named r ON r.source = d.rs AND r.id = d.ri "
        "WHERE l.rid <> r.rid"
    )
    missing = rows(
        con,
        "SELECT d.ls, d.li, d.rs, d.ri FROM _dec d "
        "LEFT JOIN _named l ON l.source = d.ls AND l.id = d.li "
        "LEFT JOIN _named r ON r.source = d.rs AND r.id = d.ri "
        "WHERE l.rid IS NULL OR r.rid IS NULL ORDER BY ALL",
    )
    con.execute("DROP TABLE _dec")
    con.execute("DROP TABLE _named")
    warnings = [
        f"decisions.jsonl: a decision about {ls}:{li} and {rs}:{ri} names a record that no longer "
        "exists (or is not an account record); ignored"
        for ls, li, rs, ri in missing[:20]
    ]
    if len(missing) > 20:
        warnings.append(
            f"decisions.jsonl: {len(missing) - 20} more decisions about unknown records ignored"
        )
    return warnings


def build_live_edges(con: duckdb.DuckDBPyConnection) -> None:
    """live_edges = rule edges + accepted scores + reviewed matches - reviewed non-matches.

    Review-band pairs (`candidate` edges) are not live: a reviewer's `match` makes them so.
    """
    con.execute(
        """
        CREATE OR REPLACE TABLE live_edges AS
        SELECT * FROM (
            SELECT * FROM edges WHERE method IN ('rule', 'probabilistic')
            UNION ALL
            SELECT d.a, d.b, 'review', NULL, -1, e.probability,
                   'reviewed match by ' || coalesce(nullif(d.reviewer, ''), 'someone') || ' at ' || d.decided_at
            FROM decision_pairs d LEFT JOIN (SELECT a, b, max(probability) AS probability FROM edges
                                             GROUP BY ALL) e USING (a, b)
            WHERE d.decision = 'match'
        ) x
        ANTI JOIN decision_pairs n ON n.a = x.a AND n.b = x.b AND n.decision = 'no_match'
        QUALIFY row_number() OVER (PARTITION BY a, b ORDER BY rank) = 1
        """
    )


def assign_accounts(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Table `account_result`: one row per account record with account_id / method / reason."""
    sor = config.accounts_sor
    _settle(con, config)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _comp AS SELECT r.rid, r.source = ? AS is_sor, "
        "coalesce(c.comp, r.rid) AS comp, "
        # settled: recomputed in conflicts (a record left without kept edges is alone);
        # elsewhere the component itself
        "coalesce(st.comp, CASE WHEN c.comp IN (SELECT comp FROM _conflicts) THEN r.rid END, "
        "c.comp, r.rid) AS scomp FROM records r "
        "LEFT JOIN component c USING (rid) LEFT JOIN settled st USING (rid) "
        "WHERE r.entity = 'accounts'",
        [sor],
    )
    # comp_stat: the components (a conflict is one, whole); _sstat: the settled ones.
    for table, comp in (("comp_stat", "comp"), ("_sstat", "scomp")):
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT {comp} AS comp, count(*) AS n, "
            "count(*) FILTER (WHERE is_sor) AS n_sor, min(rid) FILTER (WHERE is_sor) AS sor_rid "
            f"FROM _comp GROUP BY {comp}"
        )
    # The records of conflicts that settled on one account are checked against it too.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _settled_in_conflict AS SELECT c.rid, c.scomp AS comp "
        "FROM _comp c JOIN comp_stat s USING (comp) WHERE s.n_sor >= 2"
    )
    _contradicted(con, config, "_settled_in_conflict", add=True)
    # Directed neighbour list with edge attributes (held records' edges left out).
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _nbe AS SELECT a AS v, b AS u, method, rule, rank, probability, "
        f"evidence, {_LEVEL_SQL} AS level FROM _kept_edges UNION ALL SELECT b, a, method, rule, "
        f"rank, probability, evidence, {_LEVEL_SQL} FROM _kept_edges"
    )
    _strongest_chains(con, "_sstat")
    # Review-band pairs no reviewer has decided yet: their open record waits for review.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _pending AS
        SELECT rid, max(probability) AS probability FROM (
            SELECT e.a AS rid, e.probability FROM edges e
            ANTI JOIN decision_pairs d ON d.a = e.a AND d.b = e.b WHERE e.method = 'candidate'
            UNION ALL
            SELECT e.b, e.probability FROM edges e
            ANTI JOIN decision_pairs d ON d.a = e.a AND d.b = e.b WHERE e.method = 'candidate'
        ) GROUP BY rid
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE account_result AS
        SELECT r.rid, r.source, r.id, c.comp, s.n AS comp_size, s.n_sor,
               CASE WHEN c.is_sor THEN r.id WHEN ss.n_sor = 1 AND x.rid IS NULL THEN sr.id END
                   AS account_id,
               CASE WHEN c.is_sor THEN 'sor'
                    WHEN x.rid IS NOT NULL THEN 'unresolved'
                    WHEN ss.n_sor = 1 THEN CASE t.path_level WHEN 0 THEN 'rule' WHEN 1 THEN 'review'
                                                             ELSE 'probabilistic' END
                    ELSE 'unresolved' END AS method,
               CASE WHEN NOT c.is_sor AND ss.n_sor = 1 AND x.rid IS NULL AND t.path_level = 0
                    THEN t.path_rule END AS rule,
               CASE WHEN NOT c.is_sor AND ss.n_sor = 1 AND x.rid IS NULL AND t.path_level > 0
                    THEN t.path_probability
                    -- unresolved, waiting for review: the best candidate's probability
                    WHEN NOT c.is_sor AND ss.n_sor <> 1 THEN pe.probability END
                   AS match_probability,
               CASE WHEN c.is_sor THEN NULL
                    -- it contradicts the one account its component reaches, or it is in
                    -- dispute in a conflict: a reviewer decides
                    WHEN x.rid IS NOT NULL THEN 'conflict'
                    WHEN ss.n_sor = 1 THEN NULL
                    WHEN s.n_sor >= 2 THEN 'conflict'
                    WHEN pe.rid IS NOT NULL THEN 'pending_review'
                    WHEN s.n > 1 THEN 'no_account'
                    -- it names an account the system of record does not have (deleted, filtered)
                    WHEN r.rid IN (SELECT x.rid FROM raw_refs x ANTI JOIN records t
                                   ON t.source = x.target AND t.id = x.value
                                   WHERE x.target = ?) THEN 'no_account'
                    ELSE 'no_match' END AS reason,
               t.parent, t.depth, t.path_rank
        FROM records r
        JOIN _comp c USING (rid)
        JOIN comp_stat s USING (comp)
        JOIN _sstat ss ON ss.comp = c.scomp
        LEFT JOIN records sr ON sr.rid = ss.sor_rid
        LEFT JOIN tree t ON t.rid = r.rid
        LEFT JOIN _pending pe ON pe.rid = r.rid
        LEFT JOIN (SELECT rid FROM contradicted UNION SELECT rid FROM held) x ON x.rid = r.rid
        ORDER BY r.rid
        """,
        [sor],
    )
    # Duplicates: two or more records of one non-SOR source on one account.
    con.execute(
        """
        CREATE OR REPLACE TABLE duplicates AS
        SELECT account_id, source, rid, id,
               row_number() OVER (PARTITION BY account_id, source
                                  ORDER BY depth, path_rank, id) = 1 AS leading,
               count(*) OVER (PARTITION BY account_id, source) AS group_size
        FROM account_result
        WHERE account_id IS NOT NULL AND method <> 'sor'
        QUALIFY group_size > 1
        """
    )
    # `component` is spent too: account_result carries each record's comp.
    for t in ("_comp", "_sstat", "_nbe", "_pending", "component", "settled", "_settled_edges",
              "_settled_in_conflict", "_conflicts"):  # fmt: skip
        con.execute(f"DROP TABLE {t}")
    con.execute("DROP VIEW _kept_edges")


# A chain's cost: its least certain edge kind, then its weakest rule, then its length.
_SCORE = "((path_level + 1)::BIGINT * 1000000000 + (path_rank + 2)::BIGINT * 1000000 + depth)"


def _sure(chain: str = "") -> str:
    """SQL: how sure a chain is, which decides between chains of one cost — the probability of
    its least probable edge, higher is surer (a chain of rules has none: least sure). What is
    published of a record's chain (its method, rule and probability) is then the same whichever
    of equal chains is kept: the parent's rid, a numbering, breaks only ties that publish the
    same. `chain`: a table alias with its dot, or none."""
    return f"coalesce({chain}path_probability, -1.0)"


def _strongest_chains(con: duckdb.DuckDBPyConnection, stat: str = "comp_stat") -> None:
    """Table `tree`: for each record of a one-account component, its parent on the strongest chain
    to the SOR record: fewest uncertain edges, then the strongest weakest rule, then the shortest.

    Label-correcting search in SQL: relax from the records whose chain improved last round until
    nothing improves (scores only decrease, so it ends; rounds ~ ranks x diameter).
    """
    con.execute(
        f"""
        CREATE OR REPLACE TABLE tree AS
        SELECT s.sor_rid AS rid, NULL::BIGINT AS parent, 0 AS depth, NULL::VARCHAR AS edge_method,
               NULL::VARCHAR AS edge_rule, NULL::VARCHAR AS edge_evidence, NULL::DOUBLE AS edge_probability,
               -1 AS path_level, -2 AS path_rank, NULL::VARCHAR AS path_rule, NULL::DOUBLE AS path_probability,
               0::BIGINT AS score
        FROM {stat} s WHERE s.n_sor = 1
        """
    )
    # The frontier: the records whose chain improved in the last round (the roots at first).
    con.execute("CREATE OR REPLACE TEMP TABLE _frontier AS SELECT * FROM tree")
    while True:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _better AS
            SELECT *, {_SCORE} AS score FROM (
                SELECT e.u AS rid, t.rid AS parent, t.depth + 1 AS depth, e.method AS edge_method,
                       e.rule AS edge_rule, e.evidence AS edge_evidence, e.probability AS edge_probability,
                       greatest(t.path_level, e.level) AS path_level,
                       CASE WHEN e.method = 'rule' THEN greatest(t.path_rank, e.rank) ELSE t.path_rank END
                           AS path_rank,
                       CASE WHEN e.method = 'rule' AND e.rank > t.path_rank THEN e.rule ELSE t.path_rule END
                           AS path_rule,
                       least(t.path_probability, e.probability) AS path_probability
                FROM _frontier t JOIN _nbe e ON e.v = t.rid
            ) c
            QUALIFY row_number() OVER (PARTITION BY rid ORDER BY {_SCORE}, {_sure()} DESC, parent) = 1
            """
        )
        con.execute(
            "DELETE FROM _better b WHERE EXISTS (SELECT 1 FROM tree t WHERE t.rid = b.rid AND "
            "(t.score < b.score OR (t.score = b.score AND ("
            f"{_sure('t.')} > {_sure('b.')} OR ({_sure('t.')} = {_sure('b.')} AND "
            "(t.parent IS NOT DISTINCT FROM b.parent OR t.parent < b.parent)))) "
            "OR t.parent IS NULL))"
        )
        if not scalar(con, "SELECT count(*) FROM _better"):
            break
        con.execute("DELETE FROM tree WHERE rid IN (SELECT rid FROM _better)")
        con.execute("INSERT INTO tree SELECT * FROM _better")
        con.execute("CREATE OR REPLACE TEMP TABLE _frontier AS SELECT * FROM _better")
    con.execute("DROP TABLE _better")
    con.execute("DROP TABLE _frontier")
