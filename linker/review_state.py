"""The state of a review sitting's items: what the standing decisions make of each pair
(`match`, `no_match`, `settled`, `pending`) and each conflict (`cut`, `pending`), and a conflict
as it stands after the cuts made so far. A base class of `ReviewSession` (review.py).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from linker.db import insert_rows, rows
from linker.review_items import Edge, Item, Key, _bare_record, _pair

if TYPE_CHECKING:
    import duckdb

    from linker import decisions as decisions_log

MAX_OTHER_PATHS = 5  # a conflict's other paths named on screen


class _ItemStates:
    """Item states and conflicts after cuts, over the session's queue table `q` and its
    standing decisions (the attributes below are set by `ReviewSession.__init__`)."""

    _con: duckdb.DuckDBPyConnection
    _indexed: bool
    _state: dict[int, str]
    _standing: decisions_log.Standing
    _matches: dict[Key, set[Key]]
    _chains: dict[int, list[tuple[Key, Key]]]
    _graphs: dict[int, tuple[list[Key], dict[tuple[Key, Key], dict]]]
    _conflict_edges: dict[tuple[Key, Key], list[int]]

    def _refresh(self, pairs: set[tuple[Key, Key]]) -> None:
        """Recompute the state of every item these pairs' decisions can change."""
        keys = sorted({k for p in pairs for k in p})
        # A pair's state depends on decisions about its open (left) record only: its own
        # pair, or a match elsewhere. A known record may be the candidate of thousands of
        # items; a decision changes none of them but those of its open record.
        select = "SELECT item, left_source, left_id, right_source, right_id FROM q"
        touched = []
        if len(keys) <= 64:  # a keypress: a few index lookups
            if not self._indexed:
                self._con.execute("CREATE INDEX q_open ON q (left_source, left_id)")
                self._indexed = True
            for source, id_ in keys:
                touched += rows(
                    self._con,
                    f"{select} WHERE left_source = ? AND left_id = ? AND kind = 'pair'",
                    [source, id_],
                )
        else:  # opening on a long decisions log: one join
            self._con.execute("CREATE OR REPLACE TEMP TABLE _keys (source VARCHAR, id VARCHAR)")
            insert_rows(self._con, "_keys", keys)
            touched = rows(
                self._con,
                f"{select} SEMI JOIN _keys k ON k.source = q.left_source AND k.id = q.left_id "
                "WHERE kind = 'pair'",
            )
        changed: dict[int, str] = {}
        for number, ls, li, rs, ri in touched:
            changed[number] = self._pair_state((ls, li), (rs, ri))
        for p in pairs:
            for number in self._conflict_edges.get(p, ()):
                changed[number] = self._conflict_state(number)
        for number, st in changed.items():
            if st == "pending":
                self._state.pop(number, None)
            else:
                self._state[number] = st
        self._con.execute("DELETE FROM _done WHERE item IN (SELECT unnest(?))", [list(changed)])
        done = [n for n, st in changed.items() if st != "pending"]
        if done:
            self._con.execute("INSERT INTO _done SELECT unnest(?)", [done])

    def _pair_state(self, open_key: Key, candidate: Key) -> str:
        d = self._standing.get(_pair(open_key, candidate))
        if d is not None:
            return d.decision
        if self._matches.get(open_key, set()) - {candidate}:
            return "settled"
        return "pending"

    def _conflict_state(self, number: int) -> str:
        if number in self._graphs:  # cut when no path joins two of its accounts any more
            return "pending" if self._joining_chain(number) else "cut"
        cut = any(
            (d := self._standing.get(p)) is not None and d.decision == "no_match"
            for p in self._chains.get(number, ())
        )
        return "cut" if cut else "pending"

    def _remaining(self, it: Item) -> Item:
        """A conflict as it stands after the cuts made so far: the path still joining two of
        its accounts, the proposed cut on it; unchanged when nothing was cut."""
        from linker.review_queue import proposal_text, propose_cut

        sor, steps = self._graphs[it.number]
        cut = self._cut_pairs(it.number)
        chain = self._joining_chain(it.number)
        if not chain:
            return it
        # Every path, in short: the edge-disjoint paths left besides this one (each needs a
        # cut of its own), named by the records they go through.
        others: list[tuple[Key, ...]] = []
        used = {_pair(a, b) for a, b, _, _ in chain}
        while len(others) < MAX_OTHER_PATHS:
            more = self._joining_chain(it.number, used)
            if not more:
                break
            others.append(tuple(b for _, b, _, _ in more[:-1]))
            used |= {_pair(a, b) for a, b, _, _ in more}
        if not cut:
            return dataclasses.replace(it, other_paths=tuple(others))
        records = {r.key: r for r in it.comp_records}
        agree = [steps[_pair(a, b)].get("agreement", 0.0) for a, b, _, _ in chain]
        at = propose_cut(agree)
        edges = tuple(
            Edge(
                records.get(a) or _bare_record(a),
                records.get(b) or _bare_record(b),
                rule or "",
                ev or "",
                i == at,
                steps[_pair(a, b)].get("trust"),
            )
            for i, (a, b, rule, ev) in enumerate(chain)
        )
        why = f"{len(cut)} cut so far, accounts {it.account_id} still joined by another path: "
        why += proposal_text(chain[at][2] if at is not None else None)
        return dataclasses.replace(it, chain=edges, why=why, other_paths=tuple(others))

    def _cut_pairs(self, number: int) -> set[tuple[Key, Key]]:
        """The edges of a conflict's component that standing decisions cut."""
        _, steps = self._graphs[number]
        return {
            p
            for p in steps
            if (d := self._standing.get(p)) is not None and d.decision == "no_match"
        }

    def _joining_chain(
        self, number: int, extra: tuple[Key, Key] | set[tuple[Key, Key]] | None = None
    ) -> list[tuple]:
        """A shortest chain still joining two of the conflict's accounts once its cut edges
        (and `extra`: one edge or a set) are gone; [] when they are separated."""
        from linker.report import shortest_chain

        sor, steps = self._graphs[number]
        more = extra if isinstance(extra, set) else ({extra} if extra else set())
        gone = self._cut_pairs(number) | more
        edges = [
            (tuple(e["from"]), tuple(e["to"]), e.get("rule"), e.get("evidence"))
            for p, e in steps.items()
            if p not in gone
        ]
        for i, start in enumerate(sor[:-1]):
            chain = shortest_chain(edges, start, set(sor[i + 1 :]))
            if chain:
                return chain
        return []
