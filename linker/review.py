"""A review sitting: the queue the review app (`linker review`, in tui/) works through.

The queue is the last run's `review_queue` (review_queue.py: pending pairs and conflicts, most
impactful first, with both records' fields, their source rows and the evidence). Opening a
session copies it into an in-memory DuckDB and lets go of the state database, so a `linker run`
or `publish` elsewhere is never blocked by an open review; items are then read one at a time,
so a queue of 100,000 pairs opens in a fraction of a second and nothing builds 100,000 objects.

Decisions go to `decisions.jsonl` the moment they are made (one line, one write, fsynced; see
decisions.py) and the next `linker run` / `publish` honours them. Within the sitting the
session keeps the standing decision per pair (the log's own rules: the last word wins, `undo`
takes back the latest) and derives each item's state from it:

- a pair is `match` / `no_match` when the pair has a standing decision, `settled` when its open
  record was matched to another candidate (one record, one account), else `pending`;
- a conflict is `cut` when an edge of its chain has a standing `no_match`, else `pending`.

Decisions logged after the last run count too: a second sitting starts where the first ended.

The items are review_items.py's dataclasses; their states are worked out in review_state.py.
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from linker import decisions as decisions_log
from linker.db import literal, rows, scalar
from linker.errors import ConfigError, ReviewOvertaken, did_you_mean

# The dataclasses live in review_items.py; Edge, Evidence, FieldRow and Record are imported
# here so that `linker.review.<Name>` (linker/__init__.py) finds them.
from linker.review_items import Edge as Edge
from linker.review_items import Evidence as Evidence
from linker.review_items import FieldRow as FieldRow
from linker.review_items import Item, Key, ReviewProgress, _item, _pair
from linker.review_items import Record as Record
from linker.review_state import _ItemStates

if TYPE_CHECKING:
    from pathlib import Path

    from linker.project import Project

# The text a filter word is looked for in (lower-cased): ids, fields, source rows, evidence.
_HAYSTACK = (
    "lower(concat_ws(' ', left_source, left_id, right_source, right_id, account_id, why, "
    "left_fields, right_fields, left_raw, right_raw, chain_records))"
)


def default_reviewer() -> str:
    """Who is reviewing: `LINKER_REVIEWER`, else the login name."""
    name = os.environ.get("LINKER_REVIEWER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


@dataclass
class _Done:
    """What the sitting did, in order (for undo)."""

    number: int
    decision: decisions_log.Decision


def _serialized(method):
    """One caller at a time: the app reads from its UI thread and filters in a worker."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class ReviewSession(_ItemStates):
    """The queue of one project's last run, and the decisions made on it.

    Use `ReviewSession.open(project)`; the lower-level constructor takes the paths. Safe to
    call from several threads (one call at a time).
    """

    def __init__(
        self,
        state_db: Path,
        decisions_file: Path,
        *,
        project_name: str = "",
        sources: Iterable[str] = (),
        reviewer: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.decisions_file = decisions_file
        self.state_dir = state_db.parent
        self._erasure_mark = decisions_log.erasure_mark(self.state_dir)
        self.project_name = project_name
        self.sources = sorted(sources)
        self.reviewer = reviewer or default_reviewer()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._con = duckdb.connect()
        self._con.execute(f"ATTACH {literal(str(state_db))} AS st (READ_ONLY)")
        try:
            has_queue = scalar(
                self._con,
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'st' "
                "AND table_name = 'review_queue'",
            )
            if not has_queue:
                raise ConfigError(
                    "the last run left no review queue (it was made by an older linker)",
                    file=str(state_db),
                    hint="run `linker run` again",
                )
            # The run stored the queue in item order; a plain copy keeps that order.
            self._con.execute("CREATE TABLE q AS SELECT * FROM st.review_queue")
        finally:
            self._con.execute("DETACH st")
        self._columns = [r[0] for r in rows(self._con, "DESCRIBE q")]
        self._indexed = False  # the open-record index is built at the first decision
        self.total: int = scalar(self._con, "SELECT count(*) FROM q")
        self.filter_text = ""
        self.warnings: list[str] = []
        self._sitting: list[_Done] = []
        self._state: dict[int, str] = {}  # items not pending -> their state
        self._con.execute("CREATE TEMP TABLE _done (item INTEGER PRIMARY KEY)")
        # Conflicts are few: their chains' edges are kept here, both ways, and (queues of
        # this version) every edge of their component, to re-check a cut at once.
        self._chains: dict[int, list[tuple[Key, Key]]] = {}
        self._graphs: dict[int, tuple[list[Key], dict[tuple[Key, Key], dict]]] = {}
        self._conflict_edges: dict[tuple[Key, Key], list[int]] = {}
        comp_edges = "comp_edges" if "comp_edges" in self._columns else "NULL"
        for number, chain, graph in rows(
            self._con,
            f"SELECT item, evidence, {comp_edges} FROM q WHERE kind = 'conflict' ORDER BY item",
        ):
            for step in json.loads(chain or "[]"):
                pair = _pair(tuple(step["from"]), tuple(step["to"]))
                self._chains.setdefault(number, []).append(pair)
                self._conflict_edges.setdefault(pair, []).append(number)
            if graph:
                g = json.loads(graph)
                steps = {_pair(tuple(e["from"]), tuple(e["to"])): e for e in g["edges"]}
                self._graphs[number] = ([tuple(k) for k in g["sor"]], steps)
                for pair in steps:
                    if number not in self._conflict_edges.setdefault(pair, []):
                        self._conflict_edges[pair].append(number)
        # A pair's rival: its open record's most probable other pair (one query, at open).
        self._rivals: dict[int, int] = {}
        for (group,) in rows(
            self._con,
            "SELECT list(item ORDER BY probability DESC NULLS LAST, item) FROM q "
            "WHERE kind = 'pair' GROUP BY left_source, left_id HAVING count(*) > 1",
        ):
            for number in group:
                self._rivals[number] = group[1] if number == group[0] else group[0]
        log, self.warnings = decisions_log.read_log(decisions_file)
        self._standing = decisions_log.Standing(log)
        self._matches: dict[Key, set[Key]] = {}
        for (a, b), d in self._standing.as_dict().items():
            if d.decision == "match":
                self._matches.setdefault(a, set()).add(b)
                self._matches.setdefault(b, set()).add(a)
        self._refresh(set(self._standing.as_dict()))
        self._build_view("")

    @classmethod
    def open(
        cls,
        project: Project,
        *,
        reviewer: str | None = None,
        source: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> ReviewSession:
        """The session on a project's last run; `source` starts it filtered to that source."""
        cfg = project.config
        accounts = [s.name for s in cfg.sources_of("accounts")]
        if source is not None and source not in accounts:
            raise ConfigError(
                f"no accounts source named {source!r} (review covers account records)",
                key="--source",
                hint=did_you_mean(source, accounts) or f"sources: {', '.join(accounts)}",
            )
        with project.state_access() as path:
            session = cls(
                path,
                project.decisions_file,
                project_name=cfg.name,
                sources=accounts,
                reviewer=reviewer,
                clock=clock,
            )
        if source is not None:
            session.set_filter(f"source:{source}")
        return session

    @property
    def sitting(self) -> list[decisions_log.Decision]:
        """This sitting's standing decisions, in order (undone ones left out)."""
        return [d.decision for d in self._sitting]

    @_serialized
    def close(self) -> None:
        self._con.close()

    # --- reading -----------------------------------------------------------------------------

    @property
    def view_size(self) -> int:
        return self._view_size

    @_serialized
    def item(self, number: int) -> Item:
        """Queue item `number` (1 first)."""
        r = self._con.execute("SELECT * FROM q WHERE item = ?", [number]).fetchone()
        if r is None:
            raise IndexError(f"no item {number} in a queue of {self.total}")
        it = _item(dict(zip(self._columns, r, strict=True)))
        if number in self._graphs and self.state(number) == "pending":
            it = self._remaining(it)
        if it.kind == "pair":
            it = self._with_rival(it)
        return it

    def _with_rival(self, it: Item) -> Item:
        """A pair with its open record's most probable other candidate in the queue, when
        there is one (the reviewer sees both accounts side by side)."""
        rival = self._rivals.get(it.number)
        if rival is None:
            return it
        r = self._con.execute("SELECT * FROM q WHERE item = ?", [rival]).fetchone()
        assert r is not None  # rivals are items of q (__init__)
        return dataclasses.replace(it, rival=_item(dict(zip(self._columns, r, strict=True))))

    @_serialized
    def item_at(self, pos: int) -> Item:
        """The item at position `pos` (0 first) of the filtered view."""
        number = scalar(self._con, "SELECT item FROM _view WHERE pos = ?", [pos])
        if number is None:
            raise IndexError(f"no position {pos} in a view of {self._view_size}")
        return self.item(number)

    @_serialized
    def position(self, number: int) -> int | None:
        """Where item `number` is in the filtered view (None: the filter hides it)."""
        return scalar(self._con, "SELECT pos FROM _view WHERE item = ?", [number])

    @_serialized
    def listing(self) -> list[dict[str, Any]]:
        """The filtered view as plain rows, in order (for `linker review --list`): item, kind,
        state, the two records, the candidate account(s), probability, the proposed cut."""
        out = []
        for number, kind, ls, li, rs, ri, acc, p, mw, why in rows(
            self._con,
            "SELECT q.item, kind, left_source, left_id, right_source, right_id, account_id, "
            "probability, match_weight, why FROM q JOIN _view v USING (item) ORDER BY v.pos",
        ):
            row = {
                "item": number,
                "kind": kind,
                "state": self.state(number),
                "left": f"{ls}:{li}",
                "right": f"{rs}:{ri}",
                "account_id": acc,
                "probability": None if p is None else round(p, 4),
                "match_weight": None if mw is None else round(mw, 2),
                "proposed_cut": None,
                "why": why,
            }
            if kind == "conflict":
                it = self.item(number)
                at = it.proposed_cut
                if at is not None:
                    e = it.chain[at]
                    row["proposed_cut"] = f"{e.left.source}:{e.left.id} -{e.rule}- " + (
                        f"{e.right.source}:{e.right.id}"
                    )
                row["why"] = it.why
            out.append(row)
        return out

    def state(self, number: int) -> str:
        """pending | match | no_match | settled | cut."""
        return self._state.get(number, "pending")

    @_serialized
    def next_pending(self, after: int | None = None, *, backwards: bool = False) -> int | None:
        """The next pending position in the view after `after` (before it, `backwards`),
        wrapping around; None when nothing in the view is pending."""
        if backwards:
            cond, order, start = "pos < ?", "DESC", self._view_size if after is None else after
        else:
            cond, order, start = "pos > ?", "ASC", -1 if after is None else after
        pending = "SELECT pos FROM _view ANTI JOIN _done USING (item)"
        pos = scalar(self._con, f"{pending} WHERE {cond} ORDER BY pos {order} LIMIT 1", [start])
        if pos is None:  # wrap around
            pos = scalar(self._con, f"{pending} ORDER BY pos {order} LIMIT 1")
        return pos

    @_serialized
    def progress(self) -> ReviewProgress:
        view_pending = scalar(self._con, "SELECT count(*) FROM _view ANTI JOIN _done USING (item)")
        return ReviewProgress(
            total=self.total,
            reviewed=len(self._state),
            pending=self.total - len(self._state),
            sitting=len(self._sitting),
            view=self._view_size,
            view_pending=view_pending,
        )

    # --- filtering -----------------------------------------------------------------------------

    @_serialized
    def set_filter(self, text: str) -> int:
        """Show only items matching `text`: `source:NAME` keeps items with a record of that
        source, `kind:pair` or `kind:conflict` one kind; every other word must appear (any
        case) in the item's ids, fields, source rows or evidence. An empty text shows
        everything. Returns the number shown."""
        words = text.split()
        for w in words:
            if w.lower().startswith("source:") and w[7:] not in self.sources:
                raise ConfigError(
                    f"no accounts source named {w[7:]!r}",
                    key="filter",
                    hint=did_you_mean(w[7:], self.sources) or f"sources: {', '.join(self.sources)}",
                )
            if w.lower().startswith("kind:") and w[5:] not in ("pair", "conflict"):
                raise ConfigError(
                    f"no kind {w[5:]!r}", key="filter", hint="kind:pair or kind:conflict"
                )
        self._build_view(text)
        self.filter_text = " ".join(words)
        return self._view_size

    def _build_view(self, text: str) -> None:
        where, params = [], []
        for w in text.split():
            if w.lower().startswith("source:"):
                where.append("(left_source = ? OR right_source = ?)")
                params += [w[7:], w[7:]]
            elif w.lower().startswith("kind:"):
                where.append("kind = ?")
                params.append(w[5:])
            else:
                where.append(f"contains({_HAYSTACK}, ?)")
                params.append(w.lower())
        cond = ("WHERE " + " AND ".join(where)) if where else ""
        self._con.execute(
            "CREATE OR REPLACE TEMP TABLE _view AS SELECT (row_number() OVER (ORDER BY item) - 1)"
            f"::INTEGER AS pos, item FROM q {cond} ORDER BY item",
            params,
        )
        self._view_size = scalar(self._con, "SELECT count(*) FROM _view")

    # --- deciding ------------------------------------------------------------------------------

    @_serialized
    def decide(
        self, number: int, decision: str, *, edge: int | None = None, note: str = ""
    ) -> decisions_log.Decision:
        """Record `match` or `no_match` about item `number` (for a conflict: about the chosen
        edge of its chain, the proposed cut by default). Appended and fsynced before return."""
        if decision not in ("match", "no_match"):
            raise ValueError(f"decision must be match or no_match, got {decision!r}")
        it = self.item(number)
        if it.kind == "conflict" and edge is None and it.proposed_cut is None:
            raise ConfigError(
                f"conflict {number}: no edge is clearly the wrong one, so none is cut by default",
                hint="choose the edge to cut (↑/↓ in the review app; edge= in the API)",
            )
        left, right = it.records(edge)
        if it.kind == "conflict":  # what the cut does, then the reviewer's own words
            what = f"cuts the conflict between accounts {it.account_id}"
            if (
                decision == "no_match"
                and number in self._graphs
                and self._joining_chain(number, _pair(left.key, right.key))
            ):
                what = f"cuts one path between accounts {it.account_id}; another still joins them"
            note = f"{what}; {note}" if note else what
        d = decisions_log.Decision(left.key, right.key, decision, self.reviewer, self._now(), note)
        self._write(d)
        self._sitting.append(_Done(number, d))
        return d

    @_serialized
    def undo(self) -> int | None:
        """Take back the sitting's last decision (an `undo` line); its item number, or None
        when this sitting has decided nothing (earlier sittings are not undone from here)."""
        if not self._sitting:
            return None
        last = self._sitting[-1]
        d = last.decision
        self._write(decisions_log.Decision(d.left, d.right, "undo", self.reviewer, self._now(), ""))
        self._sitting.pop()
        return last.number

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _not_overtaken(self) -> None:
        """Refuse to write once `linker forget` has erased something since this sitting
        opened: its queue, in memory, may hold the erased records."""
        if decisions_log.erasure_mark(self.state_dir) != self._erasure_mark:
            raise ReviewOvertaken(
                "`linker forget` erased records after this review opened; its queue may "
                "still show them, so no decision is written from it",
                file=str(self.decisions_file),
                hint="quit (q) and start `linker run`, then `linker review` again",
            )

    def _write(self, d: decisions_log.Decision) -> None:
        decisions_log.append(self.decisions_file, d, guard=self._not_overtaken)
        before = self._standing.get(d.pair)
        self._standing.add(d)
        after = self._standing.get(d.pair)
        a, b = d.pair
        for x, y in ((a, b), (b, a)):
            if after is not None and after.decision == "match":
                self._matches.setdefault(x, set()).add(y)
            elif before is not None and before.decision == "match":
                self._matches.get(x, set()).discard(y)
        self._refresh({d.pair})
