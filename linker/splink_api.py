"""linker's one door to Splink: a Linker on our DuckDB connection, quiet, and every use of
Splink's private API (names starting with `_` or under `splink.internals`) in this module.

Splink 5 offers no public way to take a snapshot of a model's parameters and put it back (an
EM round that fails has already dropped its blocked comparisons), to read the settings it would
save without writing a file, or to get the chart libraries for a self-contained page.
`tests/test_splink_api.py` exercises each function here against the installed Splink, so an
upgrade that moves one fails there, loudly, not in a user's run.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator

import duckdb

from linker.db import ident, rows


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Splink logs to the root logger and prints; linker reports through its own progress."""
    log = logging.getLogger("splink")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        log.setLevel(old)


def linker_for(con: duckdb.DuckDBPyConnection, settings: dict, tables: tuple[str, str]):
    """A Splink Linker over two tables of our connection (link_only between them)."""
    from splink import DuckDBAPI, Linker

    # DuckDB 2 refuses new work while a result is unread (an INSERT's count row counts):
    # finish it before Splink shares the connection.
    con.execute("SELECT 1").fetchall()
    db = DuckDBAPI(connection=con)
    return Linker(
        [
            db.register(tables[0], dataset_display_name="open"),
            db.register(tables[1], dataset_display_name="known"),
        ],
        settings,
        log_level=logging.ERROR,
    )


def drop_splink_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Splink's intermediate tables and views (`__splink__*`) off our connection."""
    for (name,) in rows(
        con, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '__splink__%'"
    ):
        con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
    for (name,) in rows(
        con, "SELECT view_name FROM duckdb_views() WHERE view_name LIKE '__splink__%'"
    ):
        con.execute(f"DROP VIEW IF EXISTS {ident(name)}")


# --- the private part ---------------------------------------------------------------------


def parameters_snapshot(linker) -> object:
    """The model's comparisons and parameters as they are now (private: `_settings_obj`)."""
    return linker._settings_obj.core_model_settings.copy()


def restore_parameters(linker, snapshot: object) -> None:
    """Put a snapshot back: undoes an EM round that failed half-way."""
    linker._settings_obj.core_model_settings = snapshot


def settings_dict(linker) -> dict:
    """The settings Splink's save_model_to_json would write, as a dict, without the random
    per-Linker id (which would make model.json differ run to run)."""
    d = json.loads(json.dumps(linker._settings_obj.as_dict()))
    d.pop("linker_uid", None)
    return d


def reprice(linker, prior: float) -> tuple[str, str]:
    """SQL for `match_weight` and `match_probability` from a prediction's per-comparison weight
    columns (`mw_*`) and another prior: the expressions Splink's predict writes, term for term,
    so a prediction repriced with the prior a model ends up with is bit-identical to one that
    model predicts (private: `_combine_prior_and_mws`, `_match_weight_columns_to_sum`)."""
    from splink.internals.dialects import SplinkDialect
    from splink.internals.predict import _combine_prior_and_mws

    settings = linker._settings_obj
    terms = [
        t
        for cc in settings.core_model_settings.comparisons
        for t in cc._match_weight_columns_to_sum
    ]
    return _combine_prior_and_mws(
        prior, terms, SplinkDialect.from_string(settings._sql_dialect_str)
    )


# The tables of a prediction that name a record by its source dataset and unique id.
_PAIR_TABLES = (
    "__splink__marginal_exploded_ids",
    "__splink__blocked_id_pairs",
    "__splink__df_predict",
)
_CONCAT_ID = re.compile(r'\b(\w+)\."source_dataset" \|\| \'-__-\' \|\| \1\."unique_id"')


def _by_unique_id(sql: str) -> str:
    """Splink names a record of a link between datasets by `source_dataset || '-__-' ||
    unique_id`, text it builds for every record of every candidate pair, groups the pairs by
    and joins them back to the records on. linker's unique ids (record ids) are unique across
    both datasets, so the id alone names the record: the same pairs, joined on an integer."""
    return _CONCAT_ID.sub(r'\1."unique_id"', sql)


@contextlib.contextmanager
def predicting_only(linker, columns: str) -> Iterator[None]:
    """Within: the table Splink's predict writes holds what the select list `columns` picks,
    its SQL in a projection (private: `_setup_for_execute_sql`, the hook where Splink turns a
    pipeline's SQL into `CREATE TABLE ... AS`). Its output otherwise carries both sides' value
    of every compared column and the term-frequency columns: at 1M account records, 1.8M wide
    rows written to be read once and mostly thrown away."""
    db = linker._db_api
    setup = db._setup_for_execute_sql

    def slim(sql: str, physical_name: str) -> str:
        if physical_name.startswith(_PAIR_TABLES):
            sql = _by_unique_id(sql)
        if physical_name.startswith("__splink__df_predict"):
            sql = f"SELECT {columns} FROM (\n{sql}\n)"
        return setup(sql, physical_name)

    db._setup_for_execute_sql = slim
    try:
        yield
    finally:
        del db._setup_for_execute_sql


def tf_columns(linker) -> list[str]:
    """The input columns whose term frequencies the model's comparisons adjust by (private:
    `_term_frequency_columns`)."""
    return sorted(c.unquote().name for c in linker._settings_obj._term_frequency_columns)


def compute_tf(linker, column: str) -> str:
    """Splink's term-frequency table of `column` over the linker's inputs, computed and kept in
    its cache for the prediction: its table's name."""
    return linker.table_management.compute_tf_table(column).physical_name


def use_tf(linker, column: str, table: str) -> None:
    """The prediction takes `column`'s term frequencies from `table` (its columns: `column`
    and `tf_<column>`, as compute_tf makes them) instead of computing them from its inputs
    (private: the linker's `_db_api`, where the table is registered)."""
    sdf = linker._db_api.register(table, table_name=f"__linker_tf_{column}")
    linker.table_management.register_term_frequency_lookup(sdf, column)


def chart_libraries() -> dict[str, str]:
    """Vega, Vega-Lite and Vega-Embed sources Splink ships, for a page that needs no network."""
    from splink.internals.html_utils import load_chart_libraries

    return load_chart_libraries()
