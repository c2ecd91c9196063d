"""`linker explain SOURCE ID`: why a record has its account, as data the CLI renders."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import duckdb

from linker import scoring
from linker.config import Config
from linker.db import has_table, rows, scalar
from linker.errors import ConfigError
from linker.ingest_sql import record_id_sql, register_id_macros
from linker.report import shortest_chain

if TYPE_CHECKING:
    from linker.results import ExplainResult

KEY_FIELDS = (
    "name",
    "name_raw",
    "domain",
    "email",
    "phone",
    "country",
    "city",
    "postcode",
    "vat",
    "vat_raw",
    "registration_number",
    "first_name",
    "last_name",
    "full_name",
    "account_ref",
)


def explain_record(
    con: duckdb.DuckDBPyConnection, config: Config, source: str, record_id: str
) -> ExplainResult:
    fmt = config.sources[source].id_format if source in config.sources else None
    register_id_macros(con)
    norm_id = scalar(con, f"SELECT {record_id_sql('$1', 'VARCHAR', fmt)}", [record_id])
    found = rows(con, "SELECT rid FROM records WHERE source = ? AND id = ?", [source, norm_id])
    if not found:
        # A usage error (the command line names a record that is not there), not bad data.
        near = rows(
            con,
            "SELECT id FROM records WHERE source = ? AND lower(id) = lower(?) ORDER BY id LIMIT 3",
            [source, norm_id],
        )
        raise ConfigError(
            f"no record with id {record_id!r} in source {source!r}",
            key="ID",
            hint=(
                f"did you mean {near[0][0]!r}? ids are case-sensitive text"
                if near
                else "ids are case-sensitive text; `linker check` lists the sources"
            ),
        )
    rid = found[0][0]
    out: dict = {"source": source, "id": norm_id, "keys": _keys(con, rid)}
    if config.sources[source].entity == "accounts":
        out.update(_explain_account(con, rid))
        out["refs"] = [
            {"column": c, "value": v, "target": t, "found": bool(f)}
            for c, v, t, f in rows(
                con,
                "SELECT x.column_name, x.value, x.target, t.rid IS NOT NULL FROM raw_refs x "
                "LEFT JOIN records t ON t.source = x.target AND t.id = x.value "
                "WHERE x.rid = ? ORDER BY ALL",
                [rid],
            )
        ]
        out["blocked_keys"] = _blocked_keys(con, rid)
        out["suggestions"] = _suggestions(con, rid)
        out["cut"] = _cuts(con, rid)
        contra = _table_rows(con, "contradicted", "SELECT why FROM contradicted WHERE rid = ?", rid)
        if contra:
            out["contradiction"] = contra[0][0]
        # In dispute in a conflict: its own edges tie it to two accounts (the other records of
        # the conflict are linked by their own evidence; this one waits for a reviewer).
        out["in_dispute"] = bool(_table_rows(con, "held", "SELECT 1 FROM held WHERE rid = ?", rid))
        for step in out["chain"] + out.get("conflict_chain", []):
            step["trust"] = _trust(con, step)
    else:
        out.update(_explain_contact(con, config, rid))
    return cast("ExplainResult", out)  # built from its parts; the type names what it holds


def _keys(con, rid: int) -> dict:
    cols = ", ".join(KEY_FIELDS)
    r = con.execute(f"SELECT {cols} FROM records WHERE rid = ?", [rid]).fetchone()
    return {k: v for k, v in zip(KEY_FIELDS, r, strict=True) if v not in (None, [], False)}


def _blocked_keys(con, rid: int) -> list[dict]:
    """Keys of this record that made no edges (shared by several accounts or too many records)."""
    return [
        {"rule": r, "key": k, "records": n, "sor_records": s, "reason": why}
        for r, k, n, s, why in rows(
            con,
            "SELECT * FROM key_report WHERE key IN (SELECT unnest([vat, email, registration_number, "
            "name || ' / ' || country] || coalesce(domain, [])) FROM records WHERE rid = ?) ORDER BY rule, key",
            [rid],
        )
    ]


def _table_rows(con, table: str, sql: str, *params) -> list[tuple]:
    """Rows of a state table that older states may lack (then none)."""
    if not has_table(con, table):
        return []
    return rows(con, sql, list(params))


def _trust(con, step: dict) -> str | None:
    """How far the edge's rule is trusted (rule edges only): identifying or suggestive."""
    if step.get("method") != "rule" or not step.get("rule"):
        return None
    got = _table_rows(
        con, "rule_trust", "SELECT trust FROM rule_trust WHERE rule = ?", step["rule"]
    )
    return got[0][0] if got else None


def _suggestions(con, rid: int) -> list[dict]:
    """Pairs a suggestive rule proposed for this record that made no edge, and why."""
    return [
        {"rule": r, "other": _label(con, other), "key": ev, "why": why}
        for r, other, ev, why in _table_rows(
            con,
            "suggestions",
            "SELECT rule, CASE WHEN a = ? THEN b ELSE a END, evidence, why FROM suggestions "
            "WHERE a = ? OR b = ? ORDER BY rule, 2",
            rid,
            rid,
            rid,
        )
    ]


def _cuts(con, rid: int) -> list[dict]:
    """Suggestive edges of this record cut because they alone joined two accounts (or led it
    to an account it contradicts)."""
    return [
        {"rule": r, "other": _label(con, other), "evidence": ev, "accounts": list(acc or [])}
        for r, other, ev, acc in _table_rows(
            con,
            "glue_cuts",
            "SELECT rule, CASE WHEN a = ? THEN b ELSE a END, evidence, accounts FROM glue_cuts "
            "WHERE a = ? OR b = ? ORDER BY ALL",
            rid,
            rid,
            rid,
        )
    ]


def _sor_account(con, rid: int, account_id: str, comp: int) -> dict:
    """A system-of-record account: the records linked to it, its duplicates in other
    systems, its contacts, and any conflict its records are in."""
    linked = [
        {"record": [s, i], "method": m, "rule": r, "duplicate": bool(d)}
        for s, i, m, r, d in rows(
            con,
            'SELECT a.source, a.id, a.method, a.rule, coalesce(NOT d."leading", false) '
            "FROM account_result a LEFT JOIN duplicates d USING (rid) "
            "WHERE a.account_id = ? AND a.method <> 'sor' ORDER BY a.source, a.id",
            [account_id],
        )
    ]
    contacts = (
        scalar(con, "SELECT count(*) FROM contact_result WHERE account_id = ?", [account_id])
        if has_table(con, "contact_result")
        else 0
    )
    conflict = None
    if (scalar(con, "SELECT n_sor FROM comp_stat WHERE comp = ?", [comp]) or 0) >= 2:
        conflict = {
            "accounts": [
                i
                for (i,) in rows(
                    con,
                    "SELECT id FROM account_result WHERE comp = ? AND method = 'sor' ORDER BY id",
                    [comp],
                )
            ],
            "held": [
                [s, i]
                for s, i in rows(
                    con,
                    "SELECT source, id FROM account_result WHERE comp = ? "
                    "AND reason = 'conflict' ORDER BY source, id",
                    [comp],
                )
            ],
        }
    return {
        "linked": linked,
        "contacts": contacts,
        "conflict": conflict,
    }


def _label(con, rid: int) -> list[str]:
    s, i = con.execute("SELECT source, id FROM records WHERE rid = ?", [rid]).fetchone()
    return [s, i]


def _explain_account(con, rid: int) -> dict:
    account_id, method, rule, prob, reason, comp, size = con.execute(
        "SELECT account_id, method, rule, match_probability, reason, comp, comp_size "
        "FROM account_result WHERE rid = ?",
        [rid],
    ).fetchone()
    out: dict = {
        "account_id": account_id,
        "method": method,
        "rule": rule,
        "match_probability": prob,
        "reason": reason,
        "chain": [],
    }
    if method == "sor":
        out.update(_sor_account(con, rid, account_id, comp))
    if method not in ("sor", "unresolved"):
        # Follow the tree from the record up to its SOR record.
        v = rid
        while True:
            step = con.execute(
                "SELECT parent, edge_method, edge_rule, edge_evidence, edge_probability "
                "FROM tree WHERE rid = ?",
                [v],
            ).fetchone()
            if step is None or step[0] is None:
                break
            parent, m, r, ev, p = step
            out["chain"].append(
                {
                    "from": _label(con, v),
                    "to": _label(con, parent),
                    "method": m,
                    "rule": r,
                    "evidence": ev,
                    "probability": p,
                    "comparisons": _evidence(con, v, parent) if m != "rule" else [],
                }
            )
            v = parent
    elif reason == "conflict":
        edges = rows(
            con,
            "SELECT a, b, coalesce(rule, method), evidence FROM live_edges WHERE a IN "
            "(SELECT rid FROM account_result WHERE comp = ?)",
            [comp],
        )
        sors = [
            r[0]
            for r in rows(
                con,
                "SELECT rid FROM account_result WHERE comp = ? AND method = 'sor' ORDER BY id",
                [comp],
            )
        ]
        out["sor_ids"] = [_label(con, s)[1] for s in sors]
        out["chain"] = _steps(con, shortest_chain(edges, rid, set(sors)))
        # The chain that glues two accounts together: cut one of its edges to resolve it.
        out["conflict_chain"] = _steps(con, shortest_chain(edges, sors[0], set(sors[1:])))
    if method == "unresolved":
        out["candidates"] = _candidates(con, rid)
    if reason == "no_account" and size > 1:
        out["component"] = [
            list(r)
            for r in rows(
                con,
                "SELECT source, id FROM account_result WHERE comp = ? ORDER BY source, id",
                [comp],
            )
        ]
    return out


def _has_scores(con) -> bool:
    return has_table(con, "score_decision")


def _evidence(con, a: int, b: int) -> list[dict]:
    return scoring.evidence(con, a, b) if _has_scores(con) else []


def _candidates(con, rid: int) -> list[dict]:
    """What Splink found for an unresolved record: its best account and the runner-up."""
    if not _has_scores(con):
        return []
    d = con.execute(
        "SELECT k, account_id, probability, match_weight, runner_k, runner_account_id, "
        "runner_probability, runner_match_weight, decision, why FROM score_decision WHERE o = ?",
        [rid],
    ).fetchone()
    if d is None:
        return []
    k, acc, p, w, rk, racc, rp, rw, decision, why = d
    out = [
        {
            "record": _label(con, k),
            "account_id": acc,
            "probability": p,
            "match_weight": w,
            "decision": decision,
            "why": why,
            "runner_up": False,
            "comparisons": scoring.evidence(con, rid, k),
        }
    ]
    if rk is not None:
        out.append(
            {
                "record": _label(con, rk),
                "account_id": racc,
                "probability": rp,
                "match_weight": rw,
                "decision": decision,
                "why": None,
                "runner_up": True,
                "comparisons": scoring.evidence(con, rid, rk),
            }
        )
    return out


def _steps(con, chain: list[tuple]) -> list[dict]:
    return [
        {
            "from": _label(con, a),
            "to": _label(con, b),
            "method": "rule",
            "rule": r,
            "evidence": ev,
            "probability": None,
        }
        for a, b, r, ev in chain
    ]


def _explain_contact(con, config: Config, rid: int) -> dict:
    r = con.execute(
        "SELECT user_id, account_id, account_via, method, rule, reason, disagreement "
        "FROM contact_result WHERE rid = ?",
        [rid],
    ).fetchone()
    user_id, account_id, via, method, rule, reason, disagreement = r
    out = {
        "user_id": user_id,
        "account_id": account_id,
        "account_via": via,
        "method": method,
        "rule": rule,
        "reason": reason,
        "disagreement": disagreement,
    }
    link = config.sources[_label(con, rid)[0]].account
    ref = scalar(con, "SELECT account_ref FROM records WHERE rid = ?", [rid])
    if link is not None and ref is not None:
        acc = rows(
            con,
            "SELECT ar.rid, ar.account_id, ar.method, ar.reason FROM records a "
            "JOIN account_result ar USING (rid) WHERE a.source = ? AND a.id = ?",
            [link.source, ref],
        )
        out["own_account"] = (
            {
                "record": [link.source, ref],
                "account_id": acc[0][1],
                "method": acc[0][2],
                "reason": acc[0][3],
            }
            if acc
            else {"record": [link.source, ref], "missing": True}
        )
    return out
