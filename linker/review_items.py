"""The review queue's items as the review app shows them: records, field rows, evidence,
chain edges and the items themselves (frozen dataclasses), and how a `review_queue` row becomes
an item.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from linker.config import ACCOUNT_FIELDS

Key = tuple[str, str]  # (source, id)

# Canonical fields are shown side by side in ACCOUNT_FIELDS order (custom fields follow); the
# `_raw` spellings are shown with the source row instead.
HIDDEN_FIELDS = ("name_raw", "vat_raw")
RAW_OF = ("name", "vat")  # fields shown with their raw spelling (HIDDEN_FIELDS) beside them


@dataclass(frozen=True)
class Record:
    """One account record as the reviewer sees it."""

    source: str
    id: str
    fields: dict[str, Any]  # canonical fields, normalized: what linker compares
    raw: dict[str, str | None]  # the row as the source has it (nested fields as "a.b")

    @property
    def key(self) -> Key:
        return (self.source, self.id)


@dataclass(frozen=True)
class FieldRow:
    """One canonical field of both records and whether they agree."""

    field: str
    left: str | None
    right: str | None
    agreement: str | None  # same | similar | differs | None (a side has no value)
    left_raw: str | None = None  # as the source wrote it, where it differs ("Sunpine S.L.")
    right_raw: str | None = None
    rival: str | None = None  # a pair's runner-up candidate's value
    rival_raw: str | None = None
    rival_differs: bool = False  # the candidate and the runner-up differ here


@dataclass(frozen=True)
class Evidence:
    """One comparison of a scored pair: Splink's level and match weight, both values."""

    comparison: str
    level: str
    match_weight: float | None
    left_value: str | None
    right_value: str | None


@dataclass(frozen=True)
class Edge:
    """One edge of a conflict's chain."""

    left: Record
    right: Record
    rule: str
    evidence: str
    proposed_cut: bool
    trust: str | None = None  # identifying | suggestive, for rule edges

    @property
    def pair(self) -> tuple[Key, Key]:
        return _pair(self.left.key, self.right.key)


@dataclass(frozen=True)
class Item:
    """One queue item: a review-band pair, or a conflict (two accounts joined by a chain)."""

    number: int  # position in the queue, 1 first
    kind: str  # pair | conflict
    left: Record  # pair: the open record; conflict: one end of the proposed cut
    right: Record  # pair: its candidate (a linked record of the candidate account)
    account_id: str | None  # pair: the candidate account; conflict: "19, 598"
    probability: float | None
    match_weight: float | None
    why: str
    impact: int  # records whose account waits on this item
    evidence: tuple[Evidence, ...] = ()
    chain: tuple[Edge, ...] = ()
    comp_records: tuple[Record, ...] = ()  # conflict: every record of its component the queue has
    rival: Item | None = None  # pair: the open record's other pending candidate (runner-up)
    # conflict: the other edge-disjoint paths joining its accounts, each as the records it
    # goes through (each needs a cut of its own)
    other_paths: tuple[tuple[Key, ...], ...] = ()

    @property
    def proposed_cut(self) -> int | None:
        """The chain edge linker proposes to cut; None when no edge is clearly the wrong one."""
        return next((i for i, e in enumerate(self.chain) if e.proposed_cut), None)

    def records(self, edge: int | None = None) -> tuple[Record, Record]:
        """The two records shown: the pair, or the ends of a conflict's chosen edge (the
        proposed cut, else the first edge)."""
        if self.kind == "conflict" and self.chain:
            e = self.chain[edge if edge is not None else (self.proposed_cut or 0)]
            return e.left, e.right
        return self.left, self.right

    def field_rows(self, edge: int | None = None) -> list[FieldRow]:
        """Every canonical field either record has, with agreement: `same` (equal, or a
        shared list value), `similar` (a comparison found them alike), `differs`, or None."""
        left, right = self.records(edge)
        rival = self.rival.right if self.rival is not None else None
        weights = {e.comparison: e.match_weight for e in self.evidence}
        have = {**left.fields, **right.fields, **(rival.fields if rival else {})}
        names = [f for f in ACCOUNT_FIELDS if f in have]
        names += [f for f in have if f not in names and f not in HIDDEN_FIELDS]
        out = []
        for f in names:
            a, b = left.fields.get(f), right.fields.get(f)
            c = rival.fields.get(f) if rival else None
            if _empty(a) and _empty(b) and _empty(c):
                continue
            if _empty(a) or _empty(b):
                agreement = None
            elif _same(a, b):
                agreement = "same"
            elif (weights.get(f) or 0) > 0 and self.kind == "pair":
                agreement = "similar"
            else:
                agreement = "differs"
            raw = f"{f}_raw" if f in RAW_OF else None
            out.append(
                FieldRow(
                    f, _show(a), _show(b), agreement,
                    _raw_if_other(left, raw, a), _raw_if_other(right, raw, b),
                    _show(c), _raw_if_other(rival, raw, c) if rival else None,
                    rival is not None and not (_empty(b) and _empty(c)) and _show(b) != _show(c),
                )
            )  # fmt: skip
        return out


@dataclass(frozen=True)
class ReviewProgress:
    """Where the sitting stands. `reviewed` counts items decided (also before this sitting,
    since the last run) or settled by another decision."""

    total: int  # items in the queue
    reviewed: int
    pending: int
    sitting: int  # decisions made in this sitting (net of undos)
    view: int  # items the filter shows
    view_pending: int


# --- building items from queue rows ------------------------------------------------------------


def _item(r: dict[str, Any]) -> Item:
    left_fields = json.loads(r["left_fields"] or "{}")
    right_fields = json.loads(r["right_fields"] or "{}")
    left = Record(r["left_source"], r["left_id"], left_fields, _flat(r["left_raw"]))
    right = Record(r["right_source"], r["right_id"], right_fields, _flat(r["right_raw"]))
    evidence: tuple[Evidence, ...] = ()
    chain: tuple[Edge, ...] = ()
    recs: dict[Key, Record] = {}
    if r["kind"] == "pair":
        evidence = tuple(
            Evidence(
                e["comparison"],
                e["level"],
                e["match_weight"],
                _show(e.get("open_value")),
                _show(e.get("known_value")),
            )
            for e in json.loads(r["evidence"] or "[]")
        )
    else:
        recs = {
            (x["source"], x["id"]): Record(
                x["source"], x["id"], x.get("fields") or {}, _flat_obj(x.get("raw"))
            )
            for x in json.loads(r["chain_records"] or "[]")
        }
        chain = tuple(
            Edge(
                recs.get(tuple(s["from"])) or _bare_record(s["from"]),
                recs.get(tuple(s["to"])) or _bare_record(s["to"]),
                s.get("rule") or "",
                s.get("evidence") or "",
                bool(s.get("proposed_cut")),
                s.get("trust"),
            )
            for s in json.loads(r["evidence"] or "[]")
        )
    return Item(
        number=r["item"],
        kind=r["kind"],
        left=left,
        right=right,
        account_id=r["account_id"],
        probability=r["probability"],
        match_weight=r["match_weight"],
        why=r["why"] or "",
        impact=r["impact"] or 0,
        evidence=evidence,
        chain=chain,
        comp_records=tuple(recs.values()) if r["kind"] != "pair" else (),
    )


def _flat(raw_json: str | None) -> dict[str, Any]:
    return _flat_obj(json.loads(raw_json) if raw_json else None)


def _flat_obj(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A source row with nested objects as "a.b" keys (billing's metadata.account_id)."""
    out: dict[str, Any] = {}
    for k, v in (obj or {}).items():
        if isinstance(v, dict) and v:
            out.update(_flat_obj(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = _show(v)
    return out


def _bare_record(key: Iterable[str]) -> Record:
    """A record known only by its (source, id): no fields, no source row."""
    source, id_ = key
    return Record(source, id_, {}, {})


def _pair(a: Key, b: Key) -> tuple[Key, Key]:
    x, y = sorted([a, b])
    return x, y


def _same(a: Any, b: Any) -> bool:
    """Equal, or (lists) sharing a value."""
    if isinstance(a, list) and isinstance(b, list):
        return bool(set(a) & set(b))
    return a == b


def _raw_if_other(rec: Record | None, raw_field: str | None, value: Any) -> str | None:
    """The record's raw spelling of a field (name_raw, vat_raw) when it says more than the
    normalized value ("Sunpine S.L." next to "sunpine")."""
    if rec is None or raw_field is None:
        return None
    raw = rec.fields.get(raw_field)
    return None if _empty(raw) or _show(raw) == _show(value) else _show(raw)


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == []


def _show(v: Any) -> str | None:
    """A value as text: lists joined by ", ", JSON objects as JSON, None kept."""
    if v is None:
        return None
    if isinstance(v, list):
        return ", ".join(_show(x) or "" for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    return str(v)
