"""Resolve: edges + decisions -> an account_id (or a reason) per record; then contacts.

Accounts. Connected components over the live edges (rule and accepted probabilistic edges,
plus reviewers' `match` pairs, minus their `no_match` pairs), by label propagation with
pointer jumping in DuckDB. A component with one SOR record gives every member its id; two or
more is a conflict, which holds back only its records in dispute (`_settle`: the others are
linked by their own evidence); none is `no_account`; a record
with no edge is `no_match`. Within a resolved component a breadth-first tree from the SOR
record gives each record its chain of edges (`explain`) and its method: the least certain
kind of edge on that chain (probabilistic > review > rule) and, for rules, the weakest rule
(latest in [rules] order) on it.

Contacts. In `[rules] contacts_order` (default sor_user, own_account, email_domain), the
first rule that yields an account wins (`account_via`); `user_id` comes from the first
user-matching rule (an equal rule: same email as a user of the contacts SOR).
"""

from __future__ import annotations

import duckdb

from linker.config import Config
from linker.db import insert_rows, literal, rows, scalar
from linker.decisions import Decision
from linker.graph import components
from linker.rules import Rule, key_columns

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
    con.execute(
        "INSERT INTO decision_pairs SELECT least(l.rid, r.rid), greatest(l.rid, r.rid), d.decision, "
        "d.reviewer, d.decided_at, d.note FROM _dec d "
        "JOIN records l ON l.source = d.ls AND l.id = d.li JOIN records r ON r.source = d.rs AND r.id = d.ri "
        "WHERE l.rid <> r.rid AND l.entity = 'accounts' AND r.entity = 'accounts'"
    )
    missing = rows(
        con,
        "SELECT d.ls, d.li, d.rs, d.ri FROM _dec d "
        "LEFT JOIN records l ON l.source = d.ls AND l.id = d.li AND l.entity = 'accounts' "
        "LEFT JOIN records r ON r.source = d.rs AND r.id = d.ri AND r.entity = 'accounts' "
        "WHERE l.rid IS NULL OR r.rid IS NULL ORDER BY ALL",
    )
    con.execute("DROP TABLE _dec")
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


def cut_glue(con: duckdb.DuckDBPyConnection, config: Config) -> int:
    """Cut the suggestive edges that alone join two accounts; return how many were cut.

    A suggestive key (a website shared by an organization's sites, a director's mailbox) may
    join two records that other evidence ties to two different accounts. In a conflict
    component, the edges other than suggestive ones between two non-SOR records are united
    first; if that already joins two accounts, the conflict is real and stays for review.
    Otherwise each such suggestive edge is added back, strongest first, unless it would join
    two accounts: those are cut (table `glue_cuts`, reported) and the components recomputed.
    A suggestive edge to a SOR record itself names that account directly: never cut here.
    """
    sor = literal(config.accounts_sor)
    con.execute(
        "CREATE OR REPLACE TABLE glue_cuts (a BIGINT, b BIGINT, rule VARCHAR, evidence VARCHAR, "
        "accounts VARCHAR[])"
    )
    con.execute("CREATE TABLE IF NOT EXISTS rule_trust (rule VARCHAR PRIMARY KEY, trust VARCHAR)")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _cc AS {_conflict_comps(sor)}
        """
    )
    if not scalar(con, "SELECT count(*) FROM _cc"):
        con.execute("DROP TABLE _cc")
        return 0
    edges = rows(
        con,
        f"""
        SELECT c.comp, e.a, e.b, e.rule, e.evidence, e.rank,
               (t.trust = 'suggestive' AND ra.source <> {sor} AND rb.source <> {sor}) AS glue,
               ra.source = {sor}, rb.source = {sor}, ra.id, rb.id
        FROM live_edges e
        JOIN component c ON c.rid = e.a JOIN _cc USING (comp)
        JOIN records ra ON ra.rid = e.a JOIN records rb ON rb.rid = e.b
        LEFT JOIN rule_trust t ON t.rule = e.rule AND e.method = 'rule'
        ORDER BY c.comp, glue, e.rank, e.a, e.b
        """,
    )
    con.execute("DROP TABLE _cc")
    cuts: list[tuple] = []
    by_comp: dict[int, list[tuple]] = {}
    for row in edges:
        by_comp.setdefault(row[0], []).append(row)
    for comp_edges in by_comp.values():
        cuts += _glue_of(comp_edges)
    if not cuts:
        return 0
    _cut(con, cuts)
    return len(cuts)


def _cut(con: duckdb.DuckDBPyConnection, cuts: list[tuple]) -> None:
    """Record cut edges in `glue_cuts`, drop them from the live edges, recompute components."""
    insert_rows(con, "glue_cuts", cuts)
    con.execute(
        "DELETE FROM live_edges e WHERE EXISTS (SELECT 1 FROM glue_cuts g "
        "WHERE g.a = e.a AND g.b = e.b)"
    )
    components(con)


# A record that contradicts the account its component reaches: the same checks as a
# suggestive pair's, of record r against the account's SOR record s (field, how it is named).
_ACCOUNT_CHECKS = (
    ("country", "country"),
    ("vat", "VAT number"),
    ("registration_number", "registration number"),
)


def _contradicting(sor: str, select: str, comps: str = "component") -> str:
    """SQL selecting `select` over each non-SOR record `r` whose component (in table `comps`)
    reaches one account (SOR record `s`, rid `acc.sor_rid`) that it contradicts."""
    differs = " OR ".join(f"r.{f} <> s.{f}" for f, _ in _ACCOUNT_CHECKS)
    return f"""
        WITH acc AS (
            SELECT c.comp, min(c.rid) AS sor_rid FROM {comps} c JOIN records r USING (rid)
            WHERE r.source = {sor} GROUP BY c.comp HAVING count(*) = 1
        )
        SELECT {select} FROM {comps} c JOIN acc USING (comp)
        JOIN records r ON r.rid = c.rid JOIN records s ON s.rid = acc.sor_rid
        WHERE r.source <> {sor} AND coalesce({differs}, false)
    """


def cut_contradictions(con: duckdb.DuckDBPyConnection, config: Config) -> int:
    """Cut the suggestive edges of records that contradict the account they reach.

    A suggestive edge is checked against the two records it joins; through a chain it may
    still hand a record to an account whose country, VAT or registration number is not its
    own (a lookalike in another country sharing a website with an org that has no country).
    Such a record's suggestive edges are cut (table `glue_cuts`, why 'contradicts account'),
    up to three rounds; what a stored reference, a VAT number or a score says stays."""
    sor = literal(config.accounts_sor)
    total = 0
    for _ in range(3):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _contra AS "
            + _contradicting(sor, "r.rid, s.id AS account")
        )
        cut = rows(
            con,
            """
            SELECT DISTINCT e.a, e.b, e.rule, e.evidence, [x.account]
            FROM live_edges e JOIN rule_trust t ON t.rule = e.rule AND t.trust = 'suggestive'
            JOIN _contra x ON x.rid IN (e.a, e.b)
            WHERE e.method = 'rule'
            ORDER BY ALL
            """,
        )
        con.execute("DROP TABLE _contra")
        if not cut:
            break
        _cut(con, cut)
        total += len(cut)
    _contradicted(con, config)
    return total


def _contradicted(
    con: duckdb.DuckDBPyConnection, config: Config, comps: str = "component", *, add: bool = False
) -> None:
    """Table `contradicted(rid, sor_rid, why)`: records that still contradict the account they
    reach (through a stored reference, a VAT number, a score): not published as linked — a
    reviewer decides (a `match` with the account's record settles it). `add`: insert the
    ones of `comps` into the table instead of replacing it."""
    sor = literal(config.accounts_sor)
    checks = " ".join(
        f"CASE WHEN coalesce(r.{f} <> s.{f}, false) THEN "
        f"'its {label} ' || r.{f} || ' is not the account''s (' || s.{f} || '); ' ELSE '' END ||"
        for f, label in _ACCOUNT_CHECKS
    )
    select = f"r.rid, acc.sor_rid, rtrim({checks} '', '; ') AS why"
    con.execute(
        f"""
        {"INSERT INTO contradicted" if add else "CREATE OR REPLACE TABLE contradicted AS"}
        {_contradicting(sor, select, comps)}
          -- a reviewer's match about the record and its account settles it
          AND NOT EXISTS (SELECT 1 FROM decision_pairs d WHERE d.decision = 'match'
                          AND d.a = least(r.rid, acc.sor_rid) AND d.b = greatest(r.rid, acc.sor_rid))
        """
    )


def _conflict_comps(sor: str) -> str:
    """SQL: the components holding two or more SOR records (`sor`: the quoted source name)."""
    return (
        f"SELECT c.comp FROM component c JOIN records r USING (rid) WHERE r.source = {sor} "
        "GROUP BY c.comp HAVING count(*) >= 2"
    )


class _Accounts:
    """Union-find over a conflict component's records that never joins two accounts."""

    def __init__(self, sor_ids: dict[int, str]) -> None:
        self.parent: dict[int, int] = {}
        self.account: dict[int, str | None] = dict(sor_ids)  # root -> its account

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, x: int, y: int) -> bool:
        """Join the sets of x and y; False (and nothing joined) when both hold an account."""
        rx, ry = self.find(x), self.find(y)
        if rx == ry:
            return True
        ax, ay = self.account.get(rx), self.account.get(ry)
        if ax is not None and ay is not None and ax != ay:
            return False
        self.parent[ry] = rx
        self.account[rx] = ax if ax is not None else ay
        return True


def _glue_of(comp_edges: list[tuple]) -> list[tuple]:
    """The suggestive edges of one conflict component that alone join two accounts (a small
    union-find over the component's edges; conflicts are few)."""
    sets = _Accounts(
        {
            node: node_id
            for _, a, b, _, _, _, _, a_sor, b_sor, a_id, b_id in comp_edges
            for node, is_sor, node_id in ((a, a_sor, a_id), (b, b_sor, b_id))
            if is_sor
        }
    )
    glue = [e for e in comp_edges if e[6]]
    for e in comp_edges:
        if not e[6] and not sets.union(e[1], e[2]):
            return []  # the conflict is not the glue's doing: a reviewer decides
    cuts = []
    for _, a, b, rule, evidence, _, _, _, _, _, _ in glue:
        ra, rb = sets.find(a), sets.find(b)
        accounts = sorted(x for x in (sets.account.get(ra), sets.account.get(rb)) if x is not None)
        if not sets.union(a, b):
            cuts.append((a, b, rule, evidence, accounts))
    return cuts


def _settle(con: duckdb.DuckDBPyConnection, config: Config) -> int:
    """A conflict holds only the records in dispute: tables `held(rid)` and `settled(rid, comp)`.

    In each conflict component the edges are united strongest first — reviewers' matches,
    identifying rules (in [rules] order), accepted scores (most probable first), suggestive
    rules — never joining two accounts. An edge that would is refused, and its non-SOR ends
    are *held*: in dispute, published as unresolved (`conflict`), its component's review item
    unchanged (a record a reviewer matched is not held: the reviewer decided it). `settled` is
    the components without the held records' edges: every other record of the conflict gets
    the one account its own evidence reaches, as in any component, or stays `conflict` when
    it reaches none without a held record. Only conflict components are recomputed (`settled`
    covers their records; every other record's settled component is its component); the
    edges kept are view `_kept_edges` (live edges less the held records'); `_conflicts` lists
    the conflict components.
    """
    sor = literal(config.accounts_sor)
    con.execute("CREATE OR REPLACE TABLE held (rid BIGINT)")
    con.execute("CREATE TABLE IF NOT EXISTS rule_trust (rule VARCHAR PRIMARY KEY, trust VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _conflicts AS {_conflict_comps(sor)}")
    edges = rows(
        con,
        f"""
        SELECT c.comp, e.a, e.b, e.method = 'review',
               CASE WHEN ra.source = {sor} THEN ra.id END, CASE WHEN rb.source = {sor} THEN rb.id END
        FROM live_edges e JOIN component c ON c.rid = e.a JOIN _conflicts USING (comp)
        JOIN records ra ON ra.rid = e.a JOIN records rb ON rb.rid = e.b
        LEFT JOIN rule_trust t ON t.rule = e.rule AND e.method = 'rule'
        ORDER BY c.comp,
                 CASE WHEN e.method = 'review' THEN 0
                      WHEN e.method = 'rule' AND t.trust = 'suggestive' THEN 3
                      WHEN e.method = 'rule' THEN 1 ELSE 2 END,
                 e.rank, e.probability DESC NULLS LAST, e.a, e.b
        """,
    )
    by_comp: dict[int, list[tuple]] = {}
    for row in edges:
        by_comp.setdefault(row[0], []).append(row[1:])
    held: set[int] = set()
    for comp_edges in by_comp.values():
        sor_ids = {n: i for a, b, _, ia, ib in comp_edges for n, i in ((a, ia), (b, ib)) if i}
        reviewed = {n for a, b, rv, _, _ in comp_edges if rv for n in (a, b)}
        sets = _Accounts(sor_ids)
        for a, b, _, _, _ in comp_edges:
            if not sets.union(a, b):
                held.update(n for n in (a, b) if n not in sor_ids and n not in reviewed)
    if held:
        insert_rows(con, "held", [(r,) for r in sorted(held)])
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _kept_edges AS SELECT * FROM live_edges e "
        "WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.rid IN (e.a, e.b))"
    )
    # Components of the conflicts' kept edges (min rids: never one of another component's ids).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _settled_edges AS SELECT k.* FROM _kept_edges k "
        "JOIN component c ON c.rid = k.a JOIN _conflicts USING (comp)"
    )
    components(con, "_settled_edges", "settled")
    return len(held)


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
            QUALIFY row_number() OVER (PARTITION BY rid ORDER BY {_SCORE}, parent) = 1
            """
        )
        con.execute(
            "DELETE FROM _better b WHERE EXISTS (SELECT 1 FROM tree t WHERE t.rid = b.rid AND "
            "(t.score < b.score OR (t.score = b.score AND t.parent IS NOT DISTINCT FROM b.parent) "
            "OR (t.score = b.score AND t.parent < b.parent) OR t.parent IS NULL))"
        )
        if not scalar(con, "SELECT count(*) FROM _better"):
            break
        con.execute("DELETE FROM tree WHERE rid IN (SELECT rid FROM _better)")
        con.execute("INSERT INTO tree SELECT * FROM _better")
        con.execute("CREATE OR REPLACE TEMP TABLE _frontier AS SELECT * FROM _better")
    con.execute("DROP TABLE _better")
    con.execute("DROP TABLE _frontier")


def resolve_contacts(con: duckdb.DuckDBPyConnection, config: Config, rules: list[Rule]) -> None:
    """Table `contact_result`: user_id, account_id, account_via ... per contact record."""
    csor = config.contacts_sor
    link_of = {s.name: s.account.source for s in config.sources_of("contacts") if s.account}
    # The account record each contact's own link points at (per contacts source).
    link_cases = (
        " ".join(
            f"WHEN c.source = {literal(src)} THEN {literal(target)}"
            for src, target in sorted(link_of.items())
        )
        or "WHEN false THEN NULL"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _c AS
        SELECT c.rid, c.source, c.id, c.email, c.domain, coalesce(c.source = ?, false) AS is_sor,
               ar.rid AS link_rid, ar.account_id AS link_account, ar.reason AS link_reason,
               c.account_ref IS NOT NULL AS has_link
        FROM records c
        LEFT JOIN records a ON a.source = (CASE {link_cases} END) AND a.id = c.account_ref
        LEFT JOIN account_result ar ON ar.rid = a.rid
        WHERE c.entity = 'contacts'
        """,
        [csor],
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _cand (rid BIGINT, rule VARCHAR, ord INTEGER, "
        "user_rid BIGINT, account_id VARCHAR)"
    )
    for ord_, rule in enumerate(rules):
        if rule.kind == "own_account":
            con.execute(
                "INSERT INTO _cand SELECT rid, ?, ?, NULL, link_account FROM _c "
                "WHERE link_account IS NOT NULL AND NOT is_sor",
                [rule.name, ord_],
            )
        elif rule.kind == "email_domain":
            _email_domain_candidates(con, config, rule, ord_)
        elif rule.kind == "in_account":
            continue  # needs the contact's account: applied below, once it is known
        elif csor is not None:
            _user_candidates(con, config, rule, ord_)
    # The SOR users themselves: their own user_id and their own account.
    con.execute(
        """
        CREATE OR REPLACE TABLE contact_result AS
        WITH best_user AS (
            SELECT rid, arg_min(user_rid, ord) AS user_rid, arg_min(rule, ord) AS user_rule
            FROM _cand WHERE user_rid IS NOT NULL GROUP BY rid
        ), best_account AS (
            SELECT rid, arg_min(account_id, ord) AS account_id, arg_min(rule, ord) AS account_via,
                   count(DISTINCT account_id) AS n_accounts
            FROM _cand WHERE account_id IS NOT NULL GROUP BY rid
        )
        SELECT c.rid, c.source, c.id,
               CASE WHEN c.is_sor THEN c.id ELSE u.id END AS user_id,
               CASE WHEN c.is_sor THEN c.link_account ELSE ba.account_id END AS account_id,
               CASE WHEN c.is_sor AND c.link_account IS NOT NULL THEN 'sor_user'
                    WHEN NOT c.is_sor THEN ba.account_via END AS account_via,
               CASE WHEN c.is_sor THEN 'sor'
                    WHEN bu.user_rid IS NOT NULL OR ba.account_id IS NOT NULL THEN 'rule'
                    ELSE 'unresolved' END AS method,
               CASE WHEN NOT c.is_sor THEN coalesce(bu.user_rule, ba.account_via) END AS rule,
               CASE WHEN (CASE WHEN c.is_sor THEN c.link_account ELSE ba.account_id END) IS NOT NULL THEN NULL
                    WHEN c.has_link AND c.link_rid IS NOT NULL AND c.link_reason IS NOT NULL THEN c.link_reason
                    WHEN c.is_sor OR bu.user_rid IS NOT NULL THEN 'no_account'
                    ELSE 'no_match' END AS reason,
               coalesce(ba.n_accounts, 0) > 1 AS disagreement
        FROM _c c
        LEFT JOIN best_user bu USING (rid)
        LEFT JOIN records u ON u.rid = bu.user_rid
        LEFT JOIN best_account ba USING (rid)
        ORDER BY c.rid
        """
    )
    con.execute("DROP TABLE _c")
    con.execute("DROP TABLE _cand")
    if csor is not None:
        for rule in rules:
            if rule.kind == "in_account":
                _users_in_account(con, config, rule)


def _users_in_account(con: duckdb.DuckDBPyConnection, config: Config, rule: Rule) -> None:
    """An in_account rule: a contact still without a user, whose key equals exactly one key of
    the users of the account it resolved to, gets that user."""
    assert config.contacts_sor is not None  # resolve_contacts calls this only with one
    user_keys, kcols, notnull = key_columns(rule.equal, "r")
    contact_keys, _, _ = key_columns(rule.equal, "l")
    on = " AND ".join(f"k.{k} = u.{k}" for k in kcols)
    where = rule.and_where
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _in_account AS
        WITH users AS (
            SELECT r.id AS user_id, ua.account_id, {user_keys} FROM records r
            JOIN records acc ON acc.source = {literal(config.users_account_source)} AND acc.id = r.account_ref
            JOIN account_result ua ON ua.rid = acc.rid
            WHERE r.source = {literal(config.contacts_sor)} AND ua.account_id IS NOT NULL
        ), k AS (
            SELECT cr.rid, cr.account_id, {contact_keys} FROM contact_result cr JOIN records l USING (rid)
            WHERE cr.user_id IS NULL AND cr.account_id IS NOT NULL AND cr.method <> 'sor' {where}
        )
        SELECT k.rid, min(u.user_id) AS user_id FROM (SELECT * FROM k WHERE {notnull}) k
        JOIN (SELECT * FROM users WHERE {notnull}) u ON u.account_id = k.account_id AND {on}
        GROUP BY k.rid HAVING count(DISTINCT u.user_id) = 1
        """
    )
    con.execute(
        "UPDATE contact_result c SET user_id = m.user_id, rule = ?, method = 'rule', reason = NULL "
        "FROM _in_account m WHERE m.rid = c.rid",
        [rule.name],
    )
    con.execute("DROP TABLE _in_account")


def _user_candidates(con: duckdb.DuckDBPyConnection, config: Config, rule: Rule, ord_: int) -> None:
    """An equal rule on contacts: the contact's key equals exactly one SOR user's key."""
    keys, kcols, notnull = key_columns(rule.equal)
    on = " AND ".join(f"x.{k} = s.{k}" for k in kcols)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _k AS SELECT DISTINCT * FROM (SELECT rid, source, {keys} "
        f"FROM records WHERE entity = 'contacts') WHERE {notnull}"
    )
    sor = literal(config.contacts_sor or "")
    key_text = " || ' / ' || ".join(f"CAST({k} AS VARCHAR)" for k in kcols)
    con.execute(
        f"INSERT INTO key_report SELECT ?, {key_text}, count(*), count(*), 'ambiguous' FROM _k "
        f"WHERE source = {sor} GROUP BY ALL HAVING count(DISTINCT rid) > 1",
        [rule.name],
    )
    where = rule.and_where
    con.execute(
        f"""
        INSERT INTO _cand
        SELECT x.rid, ?, ?, min(s.rid), min(ua.account_id)
        FROM _k x JOIN _k s ON {on} AND s.source = {sor}
        JOIN records l ON l.rid = x.rid JOIN records r ON r.rid = s.rid
        LEFT JOIN records acc ON acc.source = {literal(config.users_account_source)} AND acc.id = r.account_ref
        LEFT JOIN account_result ua ON ua.rid = acc.rid
        WHERE x.source <> {sor} {where}
        GROUP BY x.rid
        HAVING count(DISTINCT s.rid) = 1
        """,
        [rule.name, ord_],
    )
    con.execute("DROP TABLE _k")


def _email_domain_candidates(
    con: duckdb.DuckDBPyConnection, config: Config, rule: Rule, ord_: int
) -> None:
    """A non-free email domain that belongs to exactly one account."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE domain_account AS
        SELECT d, min(account_id) AS account_id FROM (
            SELECT unnest(r.domain) AS d, ar.account_id FROM records r
            JOIN account_result ar USING (rid) WHERE ar.account_id IS NOT NULL
            UNION ALL
            SELECT unnest(u.domain), ua.account_id FROM records u
            JOIN records acc ON acc.source = {literal(config.users_account_source)} AND acc.id = u.account_ref
            JOIN account_result ua ON ua.rid = acc.rid
            WHERE u.source = {literal(config.contacts_sor or "")} AND ua.account_id IS NOT NULL
        ) GROUP BY d HAVING count(DISTINCT account_id) = 1
        """
    )
    con.execute(
        "INSERT INTO _cand SELECT c.rid, ?, ?, NULL, min(da.account_id) FROM _c c, unnest(c.domain) AS t(d) "
        "JOIN domain_account da ON da.d = t.d WHERE NOT c.is_sor GROUP BY c.rid "
        "HAVING count(DISTINCT da.account_id) = 1",
        [rule.name, ord_],
    )
