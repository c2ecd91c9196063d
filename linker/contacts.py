"""Contacts: an account_id (and a user_id) per contact record, once the accounts are resolved.

In `[rules] contacts_order` (default sor_user, own_account, email_domain), the first rule
that yields an account wins (`account_via`); `user_id` comes from the first user-matching
rule (an equal rule: same email as a user of the contacts SOR).
"""

from __future__ import annotations

import duckdb

from linker.config import Config
from linker.db import literal
from linker.rule_sql import key_columns, key_text
from linker.rules import Rule


def resolve_contacts(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    rules: list[Rule],
    *,
    only: str | None = None,
    out: str = "contact_result",
    report: bool | None = None,
) -> None:
    """Table `out` (`contact_result`): user_id, account_id, account_via ... per contact record.

    `only`: SQL selecting the rids of the contacts to resolve (the others are left out of
    `out`; the SOR users and every account result are still read whole: incremental.py).
    Same rows for those contacts as without it. `report`: the user rules' rows of
    `key_report` (the SOR users' keys that are two users') are written; by default unless
    `only` (a publish keeps the run's)."""
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
        WHERE c.entity = 'contacts' {"" if only is None else f"AND c.rid IN ({only})"}
        """,
        [csor],
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _cand (rid BIGINT, rule VARCHAR, ord INTEGER, "
        "user_rid BIGINT, account_id VARCHAR)"
    )
    if report is None:
        report = only is None
    for ord_, rule in enumerate(rules):
        if rule.kind == "own_account":
            con.execute(
                "INSERT INTO _cand SELECT rid, ?, ?, NULL, link_account FROM _c "
                "WHERE link_account IS NOT NULL AND NOT is_sor",
                [rule.name, ord_],
            )
        elif rule.kind == "email_domain":
            _email_domain_candidates(con, config, rule, ord_, scoped=only is not None)
        elif rule.kind == "in_account":
            continue  # needs the contact's account: applied below, once it is known
        elif csor is not None:
            _user_candidates(con, config, rule, ord_, only, report)
    # The SOR users themselves: their own user_id and their own account.
    con.execute(
        f"""
        CREATE OR REPLACE {"TEMP " if only is not None else ""}TABLE {out} AS
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
                _users_in_account(con, config, rule, out)


def _users_in_account(
    con: duckdb.DuckDBPyConnection, config: Config, rule: Rule, out: str = "contact_result"
) -> None:
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
            SELECT cr.rid, cr.account_id, {contact_keys} FROM {out} cr JOIN records l USING (rid)
            WHERE cr.user_id IS NULL AND cr.account_id IS NOT NULL AND cr.method <> 'sor' {where}
        )
        SELECT k.rid, min(u.user_id) AS user_id FROM (SELECT * FROM k WHERE {notnull}) k
        JOIN (SELECT * FROM users WHERE {notnull}) u ON u.account_id = k.account_id AND {on}
        GROUP BY k.rid HAVING count(DISTINCT u.user_id) = 1
        """
    )
    con.execute(
        f"UPDATE {out} c SET user_id = m.user_id, rule = ?, method = 'rule', reason = NULL "
        "FROM _in_account m WHERE m.rid = c.rid",
        [rule.name],
    )
    con.execute("DROP TABLE _in_account")


def _user_candidates(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    rule: Rule,
    ord_: int,
    only: str | None,
    report: bool,
) -> None:
    """An equal rule on contacts: the contact's key equals exactly one SOR user's key."""
    keys, kcols, notnull = key_columns(rule.equal)
    on = " AND ".join(f"x.{k} = s.{k}" for k in kcols)
    sor = literal(config.contacts_sor or "")

    def keyed(where: str) -> str:
        return (
            f"SELECT DISTINCT * FROM (SELECT rid, source, {keys} FROM records "
            f"WHERE entity = 'contacts' AND {where}) WHERE {notnull}"
        )

    if only is None:
        k = keyed("true")
    else:  # the contacts resolved again, and only the SOR users sharing a key with one
        # (every SOR user's keys: 0.2 s at 1M for a publish of 1,000 decisions)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _mine AS {keyed(f'rid IN ({only})')}")
        shared = " AND ".join(f"m.{c} = u.{c}" for c in kcols)
        k = f"FROM _mine UNION FROM ({keyed(f'source = {sor}')}) u SEMI JOIN _mine m ON {shared}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _k AS {k}")
    if report:  # the SOR users' keys: the same whatever is resolved again
        users = "_k" if only is None else f"({keyed(f'source = {sor}')})"
        user_key_report(con, rule, f"SELECT * FROM {users} WHERE source = {sor}")
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
    con.execute("DROP TABLE IF EXISTS _mine")


def user_key_report(con: duckdb.DuckDBPyConnection, rule: Rule, users: str) -> None:
    """A user rule's key_report rows: each key two or more SOR users hold, of `users` (SQL
    selecting distinct (rid, key columns...) rows of SOR users)."""
    _, kcols, _ = key_columns(rule.equal)
    con.execute(
        f"INSERT INTO key_report SELECT ?, {key_text(kcols)}, count(*), count(*), 'ambiguous' "
        f"FROM ({users}) GROUP BY ALL HAVING count(DISTINCT rid) > 1",
        [rule.name],
    )


def _email_domain_candidates(
    con: duckdb.DuckDBPyConnection, config: Config, rule: Rule, ord_: int, *, scoped: bool
) -> None:
    """A non-free email domain that belongs to exactly one account (`scoped`: only the
    domains of the contacts in `_c` are looked up)."""
    wanted = "WHERE d IN (SELECT unnest(domain) FROM _c)" if scoped else ""
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
        ) {wanted} GROUP BY d HAVING count(DISTINCT account_id) = 1
        """
    )
    con.execute(
        "INSERT INTO _cand SELECT c.rid, ?, ?, NULL, min(da.account_id) FROM _c c, unnest(c.domain) AS t(d) "
        "JOIN domain_account da ON da.d = t.d WHERE NOT c.is_sor GROUP BY c.rid "
        "HAVING count(DISTINCT da.account_id) = 1",
        [rule.name, ord_],
    )
