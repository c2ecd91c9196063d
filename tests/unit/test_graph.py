"""The graph algorithms on their own: connected components (SQL label propagation with pointer
jumping), the strongest chain to an account (SQL label-correcting search) and the shortest
chain a conflict report prints — each against a plain reference on small and awkward graphs."""

from __future__ import annotations

import random

import duckdb
import pytest

from linker.graph import components, extend_components, split_components
from linker.report import shortest_chain
from linker.resolve import _LEVEL_SQL, _strongest_chains


def _components(edges: list[tuple[int, int]]) -> tuple[dict[int, int], int]:
    con = duckdb.connect()
    con.execute("CREATE TABLE live_edges (a BIGINT, b BIGINT)")
    if edges:
        con.executemany("INSERT INTO live_edges VALUES (?, ?)", edges)
    rounds = components(con)
    return dict(con.execute("SELECT rid, comp FROM component").fetchall()), rounds


def _reference(edges: list[tuple[int, int]]) -> dict[int, int]:
    """Union-find: each node's smallest node of its component."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def test_a_long_chain_is_one_component_in_few_rounds():
    # nodes in a shuffled order along the path: labels must travel both ways
    order = list(range(1, 2049))
    random.Random(3).shuffle(order)
    edges = list(zip(order, order[1:], strict=False))
    comp, rounds = _components(edges)
    assert set(comp.values()) == {1} and len(comp) == 2048
    assert rounds <= 2 * 11 + 2  # pointer jumping: about log2 of the chain, not its length


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_shuffled_chain_of_5000_records_takes_at_most_15_rounds_of_one_statement(seed):
    # a round is one statement building the next labels (one job on a distributed engine)
    order = list(range(1, 5001))
    random.Random(seed).shuffle(order)
    con = duckdb.connect()
    con.execute("CREATE TABLE live_edges (a BIGINT, b BIGINT)")
    con.executemany(
        "INSERT INTO live_edges VALUES (?, ?)", list(zip(order, order[1:], strict=False))
    )
    statements: list[str] = []
    real = con.execute

    class Counted:  # the connection, counting the statements that build labels
        def execute(self, sql, *args):
            statements.append(sql)
            return real(sql, *args)

        def __getattr__(self, name):
            return getattr(con, name)

    rounds = components(Counted())  # type: ignore[arg-type]
    assert rounds <= 15
    assert sum("CREATE OR REPLACE TABLE _next" in s for s in statements) == rounds
    assert con.execute(
        "SELECT count(*), count(DISTINCT comp), min(comp) FROM component"
    ).fetchone() == (5000, 1, 1)


def _random_graph(rng: random.Random) -> list[tuple[int, int]]:
    """Random edges over random nodes, in one of several shapes: sparse or dense random
    graphs, stars, chains and trees with their nodes in random order, a mix of them."""
    nodes = rng.sample(range(10_000), rng.choice([2, 30, 600]))
    shape = rng.choice(["random", "star", "chain", "tree", "mixed"])
    edges: list[tuple[int, int]] = []
    if shape in ("random", "mixed"):
        edges += [
            (rng.choice(nodes), rng.choice(nodes)) for _ in range(rng.randint(0, 2 * len(nodes)))
        ]
    if shape in ("star", "mixed"):
        edges += [(nodes[0], n) for n in rng.sample(nodes, len(nodes) // 2)]
    if shape in ("chain", "mixed"):
        order = rng.sample(nodes, len(nodes))
        edges += list(zip(order, order[1:], strict=False))
    if shape == "tree":
        edges += [(n, rng.choice(nodes[:i])) for i, n in enumerate(nodes) if i]
    edges += [(n, n) for n in nodes[:3]]  # a self-loop is a component of one
    return [e if rng.random() < 0.5 else (e[1], e[0]) for e in edges]


@pytest.mark.parametrize("seed", range(1, 41))
def test_components_match_union_find_on_random_graphs(seed):
    edges = _random_graph(random.Random(seed))
    comp, _ = _components(edges)
    assert comp == _reference(edges)


def test_no_edges_no_components():
    comp, rounds = _components([])
    assert comp == {} and rounds == 1


def test_shortest_chain_is_oriented_and_shortest():
    edges = [
        (1, 2, "ref", "r12"),
        (2, 3, "vat", "v23"),
        (3, 4, "domain", "d34"),
        (1, 4, "x", "x14"),
    ]
    assert shortest_chain(edges, 1, {4}) == [(1, 4, "x", "x14")]
    # two paths of two edges: the one through the smaller neighbour, oriented from the start
    assert shortest_chain(edges, 3, {1}) == [(3, 2, "vat", "v23"), (2, 1, "ref", "r12")]
    assert shortest_chain(edges, 2, {2}) == []  # already there: no edge to walk
    assert shortest_chain(edges, 1, {99}) == []  # unreachable


def test_shortest_chain_breaks_ties_by_the_smaller_neighbour():
    edges = [(1, 3, "a", ""), (1, 2, "b", ""), (2, 4, "c", ""), (3, 4, "d", "")]
    assert [e[:2] for e in shortest_chain(edges, 1, {4})] == [(1, 2), (2, 4)]


def _tree(edges: list[tuple], sor: list[int]) -> dict[int, tuple]:
    """Run _strongest_chains over (a, b, method, rule, rank[, probability]) edges with `sor`
    the one SOR record of their component; rid -> (parent, depth, path_rule)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE _kept_edges (a BIGINT, b BIGINT, method VARCHAR, rule VARCHAR, "
        "rank INTEGER, probability DOUBLE, evidence VARCHAR)"
    )
    con.executemany(
        "INSERT INTO _kept_edges VALUES (?, ?, ?, ?, ?, ?, '')",
        [
            (a, b, m, r, k, *(p or [0.99 if m == "probabilistic" else None]))
            for a, b, m, r, k, *p in edges
        ],
    )
    con.execute(
        f"CREATE TEMP TABLE _nbe AS SELECT a AS v, b AS u, method, rule, rank, probability, "
        f"evidence, {_LEVEL_SQL} AS level FROM _kept_edges UNION ALL SELECT b, a, method, rule, "
        f"rank, probability, evidence, {_LEVEL_SQL} FROM _kept_edges"
    )
    con.execute("CREATE TABLE comp_stat AS SELECT UNNEST(?) AS sor_rid, 1 AS n_sor", [sor])
    _strongest_chains(con)
    return {
        rid: (parent, depth, rule)
        for rid, parent, depth, rule in con.execute(
            "SELECT rid, parent, depth, path_rule FROM tree"
        ).fetchall()
    }


@pytest.mark.parametrize("surer", [2, 3])
def test_between_chains_of_one_cost_the_surer_is_kept_whatever_the_numbering(surer):
    # SOR 1; records 2 and 3 its by a stored reference; open record 4 scored against both
    # (equal level, rule, length): the chain through the more probable link is kept, whether
    # that record's number is the lower or the higher — the probability is published.
    other = 5 - surer
    edges = [
        (1, 2, "rule", "ref", 0),
        (1, 3, "rule", "ref", 0),
        (min(surer, 4), max(surer, 4), "probabilistic", None, 10_000, 0.999),
        (min(other, 4), max(other, 4), "probabilistic", None, 10_000, 0.97),
    ]
    assert _tree(edges, [1])[4] == (surer, 2, "ref")


def test_the_strongest_chain_prefers_certain_edges_then_strong_rules_then_short():
    # SOR 1. Record 4 is one scored edge from the SOR, or three rule edges away (ref, ref,
    # domain): rules first, however long. Record 5: through 2 by a `vat` (rank 1) edge or
    # through 3 by a `domain` (rank 3) edge at the same depth: the stronger weakest rule wins.
    edges = [
        (1, 4, "probabilistic", None, 10_000),
        (1, 2, "rule", "ref", 0),
        (2, 3, "rule", "ref", 0),
        (3, 4, "rule", "domain", 3),
        (2, 5, "rule", "vat", 1),
        (3, 5, "rule", "domain", 3),
        (1, 6, "rule", "domain", 3),
        (6, 7, "rule", "ref", 0),
    ]
    tree = _tree(edges, [1])
    assert tree[1] == (None, 0, None)
    assert tree[4] == (3, 3, "domain")  # three rule edges beat one scored edge
    assert tree[5] == (2, 2, "vat")  # the weakest rule on the chain: vat, not domain
    assert tree[7] == (6, 2, "domain")  # the only way: its weakest rule is what it rests on


def test_the_strongest_chain_reaches_every_record_of_a_long_component():
    n = 400
    edges = [(i, i + 1, "rule", "ref", 0) for i in range(1, n)]
    tree = _tree(edges, [n // 2])
    assert len(tree) == n
    assert tree[1][1] == n // 2 - 1 and tree[n][1] == n - n // 2


@pytest.mark.parametrize("seed", range(6))
def test_components_extended_edge_batch_by_batch_equal_components_over_all_edges(seed):
    rng = random.Random(seed)
    batches = [
        [(rng.randrange(1, 300), rng.randrange(1, 300)) for _ in range(rng.randrange(0, 120))]
        for _ in range(4)
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE edges (a BIGINT, b BIGINT, rank INTEGER)")
    for rank, batch in enumerate(batches):
        if batch:
            con.executemany("INSERT INTO edges VALUES (?, ?, ?)", [(a, b, rank) for a, b in batch])
        if rank == 0:
            components(con, "edges", "_pcomp")
        else:
            extend_components(con, f"SELECT a, b FROM edges WHERE rank = {rank}", "_pcomp")
        got = dict(con.execute("SELECT rid, comp FROM _pcomp").fetchall())
        assert got == _reference([e for b in batches[: rank + 1] for e in b])
        assert con.execute("SELECT count(*) = count(DISTINCT rid) FROM _pcomp").fetchall()[0][0]


@pytest.mark.parametrize("seed", range(6))
def test_components_split_after_cuts_equal_components_over_the_edges_left(seed):
    rng = random.Random(seed)
    edges = sorted({(rng.randrange(1, 200), rng.randrange(1, 200)) for _ in range(260)})
    cuts = rng.sample(edges, 25)
    con = duckdb.connect()
    con.execute("CREATE TABLE live_edges (a BIGINT, b BIGINT)")
    con.executemany("INSERT INTO live_edges VALUES (?, ?)", edges)
    components(con)
    con.executemany("DELETE FROM live_edges WHERE a = ? AND b = ?", cuts)
    split_components(con, sorted({r for c in cuts for r in c}))
    left = [e for e in edges if e not in cuts]
    assert dict(con.execute("SELECT rid, comp FROM component").fetchall()) == _reference(left)
