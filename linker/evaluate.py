"""`linker evaluate --truth FILE`: precision, recall and F1 against labelled truth.

The truth file is CSV with the columns `source, source_record_id, account_id, user_id`
(account_id / user_id empty where the record has none). A *link* is a non-SOR record with an
account_id; it is correct when the truth gives the same account_id. Precision = correct /
predicted links, recall = correct / true links. Contacts are scored on account_id and,
separately, on user_id. Ids in the truth are normalized like source ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import duckdb
import pyarrow as pa

from linker import resolve
from linker.config import Config
from linker.db import arrow, literal, rows
from linker.errors import InputError
from linker.ingest_sql import id_sql, record_id_sql, register_id_macros
from linker.rules import Rule

if TYPE_CHECKING:
    from linker.results import EvaluateResult

TRUTH_COLUMNS = ("source", "source_record_id", "account_id", "user_id")


def evaluate(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    truth: Path,
    state: Path | None = None,
    contact_rules: list[Rule] | None = None,
) -> EvaluateResult:
    """Scores of the run in `con` (its state database) against `truth`. The rules-only
    baseline of contacts is computed here from the run's first resolve (`state`), when the
    state does not hold it: `linker run` does not spend time on an evaluation."""
    if not truth.is_file():
        raise InputError("truth file not found", file=str(truth))
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _truth_raw AS SELECT * FROM read_csv({literal(str(truth))}, "
            "header = true, all_varchar = true)"
        )
    except duckdb.Error as e:
        raise InputError(
            f"cannot read the truth file: {str(e).splitlines()[0]}", file=str(truth)
        ) from None
    have = [r[0] for r in rows(con, "DESCRIBE _truth_raw")]
    for c in TRUTH_COLUMNS[:-1]:  # user_id may be left out: an accounts-only truth
        if c not in have:
            raise InputError(
                f"missing column {c!r}; expected {', '.join(TRUTH_COLUMNS)} "
                "(user_id may be left out)",
                file=str(truth),
                column=c,
            )
    with_users = "user_id" in have
    if not with_users:
        con.execute("ALTER TABLE _truth_raw ADD COLUMN user_id VARCHAR")
    # Ids as the run keys them: a source's id format applies to its ids, and to the account
    # (user) ids of the system(s) of record.
    register_id_macros(con)
    sf = [n for n, src in config.sources.items() if src.id_format == "salesforce"]
    rec_id = id_sql("source_record_id", "VARCHAR")
    norm = {
        "source_record_id": (
            f"CASE WHEN source IN ({', '.join(literal(n) for n in sf)}) "
            f"THEN linker_sf_id({rec_id}) ELSE {rec_id} END"
            if sf
            else rec_id
        ),
        "account_id": record_id_sql(
            "account_id", "VARCHAR", config.sources[config.accounts_sor].id_format
        ),
        "user_id": record_id_sql(
            "user_id",
            "VARCHAR",
            config.sources[config.contacts_sor].id_format if config.contacts_sor else None,
        ),
    }
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _truth AS SELECT source, "
        f"{norm['source_record_id']} AS id, {norm['account_id']} AS account_id, {norm['user_id']} AS user_id "
        "FROM _truth_raw"
    )
    baseline_missing = _has(con, "account_result_rules") and not _has(con, "contact_result_rules")
    if state is not None and contact_rules is not None and baseline_missing:
        con.register("contact_result_rules", contacts_rules_only(state, config, contact_rules))
    out: dict = {"truth": str(truth), "accounts": {}, "contacts": {}, "contacts_user": {}}
    sor = {config.accounts_sor, config.contacts_sor}
    for entity, table, key, section in (
        ("accounts", "account_result", "account_id", "accounts"),
        ("contacts", "contact_result", "account_id", "contacts"),
        *([("contacts", "contact_result", "user_id", "contacts_user")] if with_users else []),
    ):
        names = [s.name for s in config.sources_of(entity) if s.name not in sor]
        for name in names:
            out[section][name] = _score(con, table, key, [name])
        out[section]["all"] = _score(con, table, key, names)
        out[section]["all_rules_only"] = _score(con, table, key, names, rules_only=True)
    out["accounts_by_rule"] = _by_rule(con, "account_result", "account_id", sor)
    out["contacts_by_rule"] = _by_rule(con, "contact_result", "account_id", sor, "account_via")
    out["unlabelled"] = rows(
        con,
        "SELECT count(*) FROM (SELECT source, id FROM account_result UNION ALL "
        "SELECT source, id FROM contact_result) p ANTI JOIN _truth t USING (source, id)",
    )[0][0]
    out["errors"] = _errors(con, sor)
    return cast("EvaluateResult", out)  # built section by section


def _errors(con, sor: set) -> list[dict]:
    """Every account record linked to the wrong account, linked where the truth has none, or
    missed (the truth has an account, the run none), with how the run decided it."""
    return [
        {
            "source": s,
            "id": i,
            "kind": kind,
            "predicted": p,
            "true": t,
            "method": m,
            "rule": r,
            "reason": why,
        }  # fmt: skip
        for s, i, kind, p, t, m, r, why in rows(
            con,
            """
            SELECT p.source, p.id,
                   CASE WHEN p.account_id IS NULL THEN 'missed'
                        WHEN t.account_id IS NULL THEN 'no account' ELSE 'wrong account' END,
                   p.account_id, t.account_id, p.method, p.rule, p.reason
            FROM account_result p JOIN _truth t USING (source, id)
            WHERE p.source NOT IN (SELECT unnest(?))
              AND p.account_id IS DISTINCT FROM t.account_id
            ORDER BY 3 DESC, 1, 2
            """,
            [[x for x in sor if x]],
        )
    ]


def _by_rule(con, table: str, key: str, sor: set, how: str = "coalesce(p.rule, p.method)") -> list:
    """Precision of the links each method or rule made (per source): which rule to trust."""
    how = how if "(" in how else f"p.{how}"
    return [
        {
            "source": src,
            "rule": rule,
            "predicted": n,
            "correct": ok,
            "precision": _r(ok / n if n else None),
        }
        for src, rule, n, ok in rows(
            con,
            f"""
            SELECT p.source, {how} AS rule, count(*),
                   count(*) FILTER (WHERE p.{key} = t.{key})
            FROM {table} p JOIN _truth t USING (source, id)
            WHERE p.{key} IS NOT NULL AND p.source NOT IN (SELECT unnest(?))
            GROUP BY ALL ORDER BY 1, 2
            """,
            [[x for x in sor if x]],
        )
    ]


def _score(con, table: str, key: str, sources: list[str], rules_only: bool = False) -> dict:
    if not sources:
        return {
            "predicted": 0,
            "true": 0,
            "correct": 0,
            "precision": None,
            "recall": None,
            "f1": None,
        }
    # "Rules only": what the product gives without Splink — the run's first resolve, kept
    # before scoring (or, from a run without it, the links the rules made).
    pred = f"p.{key} IS NOT NULL"
    if rules_only and _has(con, f"{table}_rules"):
        table = f"{table}_rules"
    elif rules_only:
        pred += " AND p.method IN ('rule', 'sor')"
    predicted, true, correct = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE {pred}),
               count(*) FILTER (WHERE t.{key} IS NOT NULL),
               count(*) FILTER (WHERE {pred} AND p.{key} = t.{key})
        FROM {table} p JOIN _truth t USING (source, id)
        WHERE p.source IN (SELECT unnest(?))
        """,
        [sources],
    ).fetchone()
    precision = correct / predicted if predicted else None
    recall = correct / true if true else None
    f1 = (2 * precision * recall / (precision + recall)) if precision and recall else None
    return {
        "predicted": predicted,
        "true": true,
        "correct": correct,
        "precision": _r(precision),
        "recall": _r(recall),
        "f1": _r(f1),
    }


def contacts_rules_only(state: Path, config: Config, contact_rules: list[Rule]) -> pa.Table:
    """The contacts resolved against the rules-only account results (the run's first
    resolve), in a scratch database over the state (which stays read-only)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {literal(str(state))} AS st (READ_ONLY)")
        con.execute("CREATE TABLE account_result AS FROM st.account_result_rules")
        con.execute("CREATE TABLE key_report AS FROM st.key_report LIMIT 0")
        con.execute("SET search_path = 'main,st.main'")  # records & co. from the state
        resolve.resolve_contacts(con, config, contact_rules)
        return arrow(con, "SELECT * FROM contact_result")
    finally:
        con.close()


def _has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """A table of the state, or one registered on the connection."""
    try:
        con.execute(f"SELECT 1 FROM {name} LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
