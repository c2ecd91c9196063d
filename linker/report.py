"""The run report: per-source counts, conflicts with their chains, keys that made no edge,
and the quality gates. Built from the state tables; serialised as JSON (`--json`)."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Hashable, Iterable
from typing import Any, TypeVar

import duckdb

from linker.config import Config
from linker.db import has_table, ident, rows, scalar
from linker.ingest import IngestStats
from linker.rule_sql import key_report

MAX_CONFLICTS_DETAILED = 50


# _record_counts' keys, per entity (and `account_links` for contacts with an account link)
_RECORD_KEYS = {
    "accounts": {"invalid_phones", "invalid_vats", "dangling_refs", "refs_total"},
    "contacts": {"invalid_phones"},
}


def build_report(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    stats: dict[str, dict],
    same_records: dict | None = None,
) -> dict:
    """Counts per source from account_result / contact_result, plus the run's findings.
    `same_records`: a report of the same records (a publish after review: its run's), whose
    counts of the records themselves, whatever they link to (_record_counts), are taken as
    they are instead of counted again (0.3 s at 1M records)."""
    sources: dict[str, dict] = {}
    known = (same_records or {}).get("sources", {})
    have = all(
        _RECORD_KEYS[s.entity]
        | ({"account_links"} if s.entity == "contacts" and s.account else set())
        <= set(known.get(s.name, {}))
        for s in config.sources.values()
    )  # (a report by an older linker may lack some: counted then)
    c = _source_counts(con, records=not have)
    for s in config.sources.values():
        st = stats.get(s.name, {})
        entry: dict = {
            "entity": s.entity,
            "rows": st.get("rows", 0),
            "records": st.get("records", 0),
            "null_ids": len(st.get("null_ids", [])),
            "duplicate_ids": len(st.get("duplicate_ids", [])),
            "empty": st.get("empty", False),  # no records at all: a warning says why
        }
        entry["linked"] = c["linked"].get(s.name, 0)
        entry["by_method"] = _sorted(c["by_method"][s.name])
        entry["unresolved"] = _sorted(c["unresolved"][s.name])
        rec = known[s.name] if have else _record_counts(con, s, c)
        entry["invalid_phones"] = rec["invalid_phones"]
        if s.entity == "accounts":
            entry["conflicts"] = entry["unresolved"].get("conflict", 0)
            entry["duplicates"] = c["duplicates"].get(s.name, 0)
            entry.update((k, rec[k]) for k in ("invalid_vats", "dangling_refs", "refs_total"))
        else:
            if "account_links" in rec:  # (in this order: a stored report's keys are sorted)
                entry["account_links"] = {
                    k: rec["account_links"][k] for k in ("target", "total", "dangling")
                }
            entry["with_user"] = c["with_user"].get(s.name, 0)
            entry["account_via"] = _sorted(c["account_via"][s.name])
            entry["disagreements"] = c["disagreements"].get(s.name, 0)
        entry["linked_share"] = (
            round(entry["linked"] / entry["records"], 4) if entry["records"] else None
        )
        sources[s.name] = entry
    conflicts = conflict_chains(con)
    return {
        "project": config.name,
        "sources": sources,
        "conflicts": {
            "components": scalar(con, "SELECT count(*) FROM comp_stat WHERE n_sor >= 2"),
            "detail": conflicts,
            # records that contradict the one account they reach (country, VAT, registration)
            "contradicted": scalar(con, "SELECT count(*) FROM contradicted")
            if has_table(con, "contradicted")
            else 0,
            # suggestive edges cut because they alone joined accounts, or led to a contradiction
            "glue_cuts": scalar(con, "SELECT count(*) FROM glue_cuts")
            if has_table(con, "glue_cuts")
            else 0,
        },
        "edges": _counts(
            con, "SELECT coalesce(rule, method), count(*) FROM live_edges GROUP BY ALL"
        ),
        "keys_without_edges": key_report(con),
        "keys_without_edges_total": scalar(con, "SELECT count(*) FROM key_report"),
        "duplicate_groups": duplicate_groups(con),
    }


MAX_DUPLICATE_GROUPS = 20  # listed in the report (all are counted per source)


def duplicate_groups(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The biggest groups of one system's records on one account (its leading record first)."""
    if not has_table(con, "duplicates"):
        return []
    return [
        {"account_id": a, "source": s, "records": ids}
        for a, s, ids in rows(
            con,
            'SELECT account_id, source, list(id ORDER BY NOT "leading", id) FROM duplicates '
            f"GROUP BY ALL ORDER BY count(*) DESC, source, account_id LIMIT {MAX_DUPLICATE_GROUPS}",
        )
    ]


def _record_counts(con: duckdb.DuckDBPyConnection, s, c: dict[str, Any]) -> dict:
    """What source `s`'s records are, whatever they link to: invalid phones; for accounts,
    invalid VAT numbers and references (those naming no record); for contacts, the account
    links naming no record (`c`: _source_counts')."""
    # Phones that did not validate as E.164 in the record's (or the default) country: they
    # keep their digits for comparisons, but a user should know (set default_country?).
    out: dict = {"invalid_phones": c["invalid_phones"].get(s.name, 0)}
    if s.entity == "accounts":
        out["invalid_vats"] = c["invalid_vats"].get(s.name, 0)
        out["dangling_refs"] = _sorted(c["dangling_refs"][s.name])
        out["refs_total"] = _sorted(c["refs_total"][s.name])
    elif s.account is not None:
        # The contacts' link to their account record: how many name no record there
        # (an id in another format — Salesforce's 15 vs 18 characters — loses them all).
        total, found = account_link_counts(con, s)
        out["account_links"] = {
            "target": s.account.source,
            "total": total,
            "dangling": total - found,
        }
    return out


def _sorted(counts: dict) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))}


def _source_counts(con: duckdb.DuckDBPyConnection, records: bool = True) -> dict[str, Any]:
    """The report's counts per source, each from one query over all sources (one query per
    source and count took 0.5 s at 1M records): `linked`, `by_method` (rule or method),
    `unresolved` (reason), `with_user`, `account_via`, `disagreements`, `duplicates`, and
    unless not `records`, `invalid_phones`, `invalid_vats`, `dangling_refs` and `refs_total`
    (per target)."""
    c: dict[str, Any] = {
        k: defaultdict(int)
        for k in (
            "linked",
            "with_user",
            "disagreements",
            "invalid_phones",
            "invalid_vats",
            "duplicates",
        )
    }
    for k in ("by_method", "unresolved", "account_via", "dangling_refs", "refs_total"):
        c[k] = defaultdict(lambda: defaultdict(int))
    for table in ("account_result", "contact_result"):
        for src, how, reason, linked, n in rows(
            con,
            f"SELECT source, coalesce(rule, method), reason, account_id IS NOT NULL, count(*) "
            f"FROM {table} GROUP BY ALL",
        ):
            if linked:
                c["linked"][src] += n
                c["by_method"][src][how] += n
            elif reason is not None:
                c["unresolved"][src][reason] += n
    for src, via, with_user, disagreement, n in rows(
        con,
        "SELECT source, account_via, user_id IS NOT NULL, disagreement, count(*) "
        "FROM contact_result GROUP BY ALL",
    ):
        c["with_user"][src] += n if with_user else 0
        c["disagreements"][src] += n if disagreement else 0
        if via is not None:
            c["account_via"][src][via] += n
    if has_table(con, "duplicates"):
        c["duplicates"].update(rows(con, "SELECT source, count(*) FROM duplicates GROUP BY ALL"))
    if not records:
        return c
    for src, phones, vats in rows(
        con,
        "SELECT source, count(*) FILTER (WHERE phone_invalid), count(*) FILTER (WHERE vat_invalid) "
        "FROM records GROUP BY source",
    ):
        c["invalid_phones"][src], c["invalid_vats"][src] = phones, vats
    for src, target, n, dangling in rows(
        con,
        "SELECT s.source, x.target, count(*), count(*) FILTER (WHERE NOT EXISTS ("
        "SELECT 1 FROM records t WHERE t.source = x.target AND t.id = x.value)) "
        "FROM raw_refs x JOIN records s ON s.rid = x.rid GROUP BY ALL",
    ):
        c["refs_total"][src][target] += n
        if dangling:
            c["dangling_refs"][src][target] += dangling
    return c


def _counts(con, sql: str, *params) -> dict[str, int]:
    return {
        str(k): int(v) for k, v in sorted(rows(con, sql, list(params)), key=lambda r: str(r[0]))
    }


def conflict_chains(
    con: duckdb.DuckDBPyConnection, limit: int = MAX_CONFLICTS_DETAILED
) -> list[dict]:
    """For each conflict component: its SOR records and a chain of edges joining two of them."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _chains AS SELECT comp FROM comp_stat WHERE n_sor >= 2 "
        f"ORDER BY comp LIMIT {int(limit)}"
    )
    members: dict[int, dict[int, tuple[str, str]]] = defaultdict(dict)
    sor: dict[int, list[int]] = defaultdict(list)
    for comp, rid, src, rid_id, is_sor in rows(
        con,
        "SELECT comp, rid, source, id, method = 'sor' FROM account_result "
        "WHERE comp IN (SELECT comp FROM _chains) ORDER BY comp, id",
    ):
        members[comp][rid] = (src, rid_id)
        if is_sor:
            sor[comp].append(rid)
    edges: dict[int, list[tuple]] = defaultdict(list)
    for comp, *edge in rows(
        con,
        "SELECT ar.comp, e.a, e.b, coalesce(e.rule, e.method), e.evidence FROM live_edges e "
        "JOIN account_result ar ON ar.rid = e.a WHERE ar.comp IN (SELECT comp FROM _chains)",
    ):
        edges[comp].append(tuple(edge))
    comps = [r[0] for r in rows(con, "SELECT comp FROM _chains ORDER BY comp")]
    con.execute("DROP TABLE _chains")
    out = []
    for comp in comps:
        chain = shortest_chain(edges[comp], sor[comp][0], set(sor[comp][1:]))
        out.append(
            {
                "sor_ids": [members[comp][r][1] for r in sor[comp]],
                "records": len(members[comp]),
                "chain": [
                    {
                        "from": list(members[comp][a]),
                        "to": list(members[comp][b]),
                        "rule": rule,
                        "evidence": ev,
                    }
                    for a, b, rule, ev in chain
                ],
            }
        )
    return out


Node = TypeVar("Node", bound=Hashable)  # a record: its rid, or its (source, id)


def shortest_chain(edges: Iterable[tuple], start: Node, goals: set[Node]) -> list[tuple]:
    """Edges (a, b, rule, evidence) on a shortest path from start to any goal, oriented."""
    adj: dict[Node, list[tuple]] = defaultdict(list)
    for a, b, rule, ev in edges:
        adj[a].append((b, rule, ev))
        adj[b].append((a, rule, ev))
    prev: dict[Node, tuple | None] = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        if v in goals:
            path = []
            while (step := prev[v]) is not None:
                u, rule, ev = step
                path.append((u, v, rule, ev))
                v = u
            return list(reversed(path))
        for u, rule, ev in sorted(adj[v], key=lambda t: t[0]):
            if u not in prev:
                prev[u] = (v, rule, ev)
                queue.append(u)
    return []


def quality_gates(report: dict, config: Config) -> list[dict]:
    """Each configured gate with its value and whether it passed."""
    q = config.quality
    gates = []
    if q.max_conflicts is not None:
        comps, contra = (
            report["conflicts"]["components"],
            report["conflicts"].get("contradicted", 0),
        )
        n = comps + contra
        gates.append(
            {
                "gate": "max_conflicts",
                "limit": q.max_conflicts,
                "value": n,
                "ok": n <= q.max_conflicts,
                "counts": f"{comps} conflict(s) + {contra} record(s) contradicting their account",
            }
        )
    if q.max_pending_review is not None:
        n = report["pending_review"]
        gates.append(
            {
                "gate": "max_pending_review",
                "limit": q.max_pending_review,
                "value": n,
                "ok": n <= q.max_pending_review,
            }
        )
    for source, share in sorted(q.min_linked_share.items()):
        v = report["sources"][source]["linked_share"] or 0.0
        gates.append(
            {"gate": f"min_linked_share.{source}", "limit": share, "value": v, "ok": v >= share}
        )
    return gates


def stats_dict(stats: dict[str, IngestStats]) -> dict[str, dict]:
    return {
        k: {
            "rows": v.rows,
            "records": v.records,
            "null_ids": v.null_ids,
            "duplicate_ids": v.duplicate_ids,
            "fingerprint": v.fingerprint,
            "empty": v.empty,
        }
        for k, v in stats.items()
    }


def account_link_counts(con: duckdb.DuckDBPyConnection, s) -> tuple[int, int]:
    """A contacts source's account link: how many contacts name an account, and how many of
    those name a record of the account source (an id in another format — Salesforce's 15 vs 18
    characters — names none)."""
    return rows(
        con,
        "SELECT count(*), count(a.rid) FROM records c LEFT JOIN records a "
        "ON a.source = ? AND a.id = c.account_ref "
        "WHERE c.source = ? AND c.account_ref IS NOT NULL",
        [s.account.source, s.name],
    )[0]


SAMPLE_VALUES = 3  # normalized values `linker check` shows per mapped field


def what_will_link(con: duckdb.DuckDBPyConnection, config: Config) -> tuple[dict, list[str]]:
    """What `linker check` shows before a run: per source, each mapped field's fill rate and a
    few normalized values, each reference column's share of values naming a record, and the
    contacts' account link's; with warnings for what can link nothing."""
    have = {r[0]: r[1] for r in rows(con, "DESCRIBE records")}
    out: dict = {}
    warnings: list[str] = []
    for s in config.sources.values():
        n = scalar(con, "SELECT count(*) FROM records WHERE source = ?", [s.name]) or 0
        fields = {}
        for f in s.fields:
            if f not in have:
                continue
            col = ident(f)
            text = (
                f"array_to_string({col}, ', ')"
                if have[f].endswith("[]")
                else f"CAST({col} AS VARCHAR)"
            )
            filled, sample = rows(
                con,
                f"SELECT count({col}), list(DISTINCT {text}) FILTER (WHERE {col} IS NOT NULL) "
                "FROM records WHERE source = ?",
                [s.name],
            )[0]
            fields[f] = {
                "filled": round(filled / n, 4) if n else None,
                "sample": sorted(sample or [])[:SAMPLE_VALUES],
            }
            if n and not filled:
                warnings.append(
                    f"sources.{s.name}.fields.{f}: column {s.fields[f]!r} is empty in every row"
                )
        refs = {}
        for target, col in s.refs.items():
            values, found = rows(
                con,
                "SELECT count(*), count(t.rid) FROM raw_refs x JOIN records r ON r.rid = x.rid "
                "LEFT JOIN records t ON t.source = x.target AND t.id = x.value "
                "WHERE r.source = ? AND x.target = ?",
                [s.name, target],
            )[0]
            refs[target] = {"column": col, "values": values, "found": found}
            if values and not found:
                warnings.append(
                    f"sources.{s.name}.refs.{target}: none of its {values} values names a "
                    f"{target} record (ids written another way? see id_format)"
                )
        link = None
        if s.account is not None:
            values, found = account_link_counts(con, s)
            link = {"target": s.account.source, "values": values, "found": found}
            if values and not found:
                warnings.append(
                    f"sources.{s.name}.account: no contact's {s.account.column} names a "
                    f"{s.account.source} record (ids written another way? see id_format)"
                )
        out[s.name] = {"records": n, "fields": fields, "refs": refs, "account": link}
    return out, warnings
