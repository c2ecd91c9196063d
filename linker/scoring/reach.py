"""Scoring only the open records a change reaches, and the term frequencies that make it
possible (issue 17).

A pair's score is a function of the two records' rows in Splink's inputs (`score_input`:
every compared value, the record's account, whether it is open, and whether it is an
organization's record, which `scores._keep_pairs` reads), of the model, and of the term
frequencies. Term frequencies are the data's: every added or removed record moves all of
them (a frequency is a count over the total). So they are *frozen*: a run that scores only
what a change reaches takes the last run's (`score_tf_<column>`), and keeps them for the
next; a full run (`linker run --full`, or any run that cannot or should not be scoped)
computes them afresh.

With the same model and the same frequencies, an open record's kept pairs, evidence and
decision change only when

- its own input row changed (`score_hash`, per record, holds a hash of it), or
- a known record it had a kept pair with (the last run's `score_pairs`) changed or went, or
- a known record that changed or is new blocks with it (found by scoring every open record
  against the changed known records: few pairs).

Those open records (the scope) are scored again against every known record; every other open
record's pairs, evidence, decision, score edges and candidate pairs (`score_candidates`, less
those with a known record that changed or went) are the last run's. A pair the last run
scored but did not keep (not among the record's best two accounts nor >= KEEP_PROBABILITY)
that changed or went cannot change what was kept.
tests/test_incremental.py holds this to scoring everything with the same frequencies.
"""

from __future__ import annotations

import duckdb

from linker import splink_api
from linker.db import has_table, ident, scalar

TF_PREFIX = "score_tf_"  # the frequencies a prediction used, per column
HASHES = "score_hash"  # per account record in Splink's inputs: a hash of its row there
BLOCKED = "score_candidates"  # (o, k): every candidate pair scored (the blocking's output)
# Scoped scoring pays when it leaves most open records alone: above this share, everything.
MAX_SHARE = 0.3
SCOPE = "_score_scope"  # temp table (o): the open records scored again
_TABLES = ("score_pairs", "score_evidence", "score_decision", "edges", HASHES, BLOCKED)


def take_tf(con: duckdb.DuckDBPyConnection, linker, state: str) -> bool:
    """The attached `state`'s frequency tables of linker's columns copied as this run's
    `score_tf_<column>` (kept with the state), for tf_tables to use; False, copying nothing,
    when it lacks one."""
    cols = splink_api.tf_columns(linker)
    if not all(has_table(con, TF_PREFIX + col, database=state) for col in cols):
        return False
    for col in cols:
        table = ident(TF_PREFIX + col)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS FROM {state}.{table}")
    return True


def tf_tables(con: duckdb.DuckDBPyConnection, linker, frozen: bool) -> None:
    """The term frequencies `linker`'s prediction uses: `frozen`, the `score_tf_<column>`
    tables take_tf copied; else computed from the linker's inputs (Splink's own computation,
    which the prediction then reuses) and kept as those tables (saved with the state)."""
    for col in splink_api.tf_columns(linker):
        if frozen:
            splink_api.use_tf(linker, col, TF_PREFIX + col)
        else:
            computed = splink_api.compute_tf(linker, col)
            con.execute(
                f"CREATE OR REPLACE TABLE {ident(TF_PREFIX + col)} AS FROM {ident(computed)} "
                "ORDER BY 1"
            )


def usable(con: duckdb.DuckDBPyConnection, state: str) -> bool:
    """Whether the attached `state` holds what scoped scoring reads."""
    return all(has_table(con, t, database=state) for t in _TABLES)


def hash_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """`score_hash(rid, h)`: each account record of Splink's inputs, a hash of its row there
    and of whether it is an organization's record (record_domains, read by _keep_pairs)."""
    org = "od.rid IS NOT NULL" if has_table(con, "record_domains") else "false"
    join = "LEFT JOIN record_domains od ON od.rid = s.unique_id" if org != "false" else ""
    con.execute(
        f"CREATE OR REPLACE TABLE {HASHES} AS SELECT s.unique_id AS rid, hash(s, {org}) AS h "
        f"FROM score_input s {join} ORDER BY rid"
    )


def changed_known(con: duckdb.DuckDBPyConnection, last: str) -> int:
    """Temp table `_score_changed(rid)`: the records whose input row is not the last run's
    (changed, new, or gone); view `_score_known_changed`: those that are known now. Returns
    how many known records changed."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _score_changed AS
        SELECT coalesce(n.rid, o.rid) AS rid FROM {HASHES} n FULL JOIN {last}.{HASHES} o
        ON n.rid = o.rid WHERE n.h IS DISTINCT FROM o.h
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _score_known_changed AS "
        "SELECT * FROM score_known SEMI JOIN _score_changed c ON c.rid = score_known.unique_id"
    )
    return scalar(con, "SELECT count(*) FROM _score_known_changed")


def first_scope(con: duckdb.DuckDBPyConnection, last: str) -> None:
    """SCOPE, before the blocking of changed known records: the open records whose own row
    changed, and those with a kept pair (last run) whose known record changed or went."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {SCOPE} AS
        SELECT unique_id AS o FROM score_open SEMI JOIN _score_changed c
            ON c.rid = score_open.unique_id
        UNION
        SELECT p.o FROM {last}.score_pairs p SEMI JOIN _score_changed c ON c.rid = p.k
        SEMI JOIN score_open s ON s.unique_id = p.o
        """
    )


def add_blocked(con: duckdb.DuckDBPyConnection, prediction: str | None) -> int:
    """The open records of `prediction` (every open record against the changed known ones;
    None: there were none) into SCOPE; returns the scope's size."""
    if prediction is not None:
        con.execute(
            f"INSERT INTO {SCOPE} SELECT DISTINCT o FROM (SELECT CASE WHEN source_dataset_l = "
            f"'open' THEN unique_id_l ELSE unique_id_r END AS o FROM {ident(prediction)}) "
            f"WHERE o NOT IN (SELECT o FROM {SCOPE})"
        )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _score_open_scope AS SELECT * FROM score_open "
        f"SEMI JOIN {SCOPE} s ON s.o = score_open.unique_id"
    )
    return scalar(con, f"SELECT count(*) FROM {SCOPE}")


def keep_the_rest(con: duckdb.DuckDBPyConnection, last: str) -> None:
    """Every open record outside SCOPE: its pairs, evidence, decision, score edges and
    candidate pairs as the last run left them (after the scope's were made anew); of the
    candidates, not those with a known record that changed or went (none of them blocks
    with one now: it would be in SCOPE)."""
    kept = (
        f"SELECT unique_id AS o FROM score_open ANTI JOIN {SCOPE} s ON s.o = score_open.unique_id"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _score_kept AS {kept}")
    for table in ("score_pairs", "score_evidence", "score_decision", BLOCKED):
        con.execute(
            f"INSERT INTO {table} SELECT * FROM {last}.{table} t "
            "SEMI JOIN _score_kept k ON k.o = t.o"
            + (" ANTI JOIN _score_changed c ON c.rid = t.k" if table == BLOCKED else "")
        )
    # A decision's edges: its pair, and its runner-up's when that waits for review too.
    con.execute(
        f"""
        INSERT INTO edges SELECT e.* FROM {last}.edges e SEMI JOIN (
            SELECT least(o, k) AS a, greatest(o, k) AS b FROM {last}.score_decision d
            SEMI JOIN _score_kept x ON x.o = d.o
            UNION ALL
            SELECT least(o, runner_k), greatest(o, runner_k) FROM {last}.score_decision d
            SEMI JOIN _score_kept x ON x.o = d.o WHERE runner_k IS NOT NULL
        ) p ON p.a = e.a AND p.b = e.b
        WHERE e.method <> 'rule'
        """
    )
    con.execute("DROP TABLE _score_kept")


def add_candidates(con: duckdb.DuckDBPyConnection) -> None:
    """The candidate pairs of `_pred_all` (the prediction, open and known record) into
    `score_candidates`."""
    con.execute(f"INSERT INTO {BLOCKED} SELECT o, k FROM _pred_all ORDER BY o, k")


def create_candidates(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {BLOCKED} (o BIGINT, k BIGINT)")


def scope_size(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(con, f"SELECT count(*) FROM {SCOPE}")


def drop(con: duckdb.DuckDBPyConnection) -> None:
    """What scoped scoring made for itself."""
    for view in ("_score_known_changed", "_score_open_scope"):
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for table in ("_score_changed", SCOPE):
        con.execute(f"DROP TABLE IF EXISTS {table}")
