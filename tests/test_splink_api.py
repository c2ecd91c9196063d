"""Every use of Splink's private API lives in linker/splink_api.py; these tests exercise each
function against the installed Splink, so an upgrade that moves one fails here, loudly."""

from __future__ import annotations

import duckdb
import pytest

from linker import splink_api
from linker.comparisons import blocking_rules, name_columns, splink_settings
from linker.config import Comparison


def _tables(
    open_names: tuple[str, ...] = ("acme", "globex"),
    known_names: tuple[str, ...] = ("acme", "initech"),
) -> duckdb.DuckDBPyConnection:
    """Splink's two inputs with a name and what the name's levels and blocking rules read."""
    con = duckdb.connect()
    for side, names in (("score_open", open_names), ("score_known", known_names)):
        con.execute(
            f"CREATE TABLE {side} AS SELECT row_number() OVER () + {0 if 'open' in side else 10} "
            "AS unique_id, 'x' AS source, NULL::VARCHAR AS account_id, name, "
            "string_split(name, ' ') AS name__tokens, string_split(name, ' ') AS name__block, "
            "split_part(name, ' ', 1) AS name__first, "
            f"{', '.join(name_columns('name', 'name'))} FROM (SELECT unnest(?) AS name)",
            [list(names)],
        )
    return con


SETTINGS = splink_settings([Comparison("name", "name", True)], [])


@pytest.fixture
def linker():
    with splink_api.quiet():
        yield splink_api.linker_for(_tables(), SETTINGS, ("score_open", "score_known"))


def test_reprice_is_bit_identical_to_predicting_with_the_other_prior():
    con = _tables()
    cols = "unique_id_l, unique_id_r, match_weight, match_probability"
    with splink_api.quiet():
        old = splink_api.linker_for(con, SETTINGS, ("score_open", "score_known"))
        table = old.inference.predict().physical_name
        weight, probability = splink_api.reprice(old, 0.123456)
        repriced = con.execute(
            f"SELECT unique_id_l, unique_id_r, {weight}, {probability} FROM {table} ORDER BY 1, 2"
        ).fetchall()
        new_settings = {**SETTINGS, "probability_two_random_records_match": 0.123456}
        new = splink_api.linker_for(con, new_settings, ("score_open", "score_known"))
        fresh = con.execute(
            f"SELECT {cols} FROM {new.inference.predict().physical_name} ORDER BY 1, 2"
        ).fetchall()
        before = con.execute(f"SELECT {cols} FROM {table} ORDER BY 1, 2").fetchall()
    assert len(fresh) == 4 and repriced == fresh  # exactly, not approximately
    assert before != fresh  # the prior did change the figures


def test_predicting_only_keeps_the_columns_asked_with_the_same_figures(linker):
    con = linker._db_api._con
    cols = "unique_id_l, unique_id_r, match_weight, match_probability, gamma_name"

    def predicted() -> tuple[list[str], list[tuple]]:
        # (one SQL, one table name: each prediction read before the next replaces it)
        table = linker.inference.predict().physical_name
        names = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        return names, con.execute(f"SELECT {cols} FROM {table} ORDER BY 1, 2").fetchall()

    with splink_api.quiet():
        wide, want = predicted()
        with splink_api.predicting_only(
            linker, "COLUMNS('^(unique_id_.|match_(weight|probability)|gamma_.*)$')"
        ):
            slim, got = predicted()
        again, _ = predicted()  # the hook is gone with the block
    assert sorted(slim) == sorted(cols.split(", "))
    assert "name_l" in wide and again == wide
    assert len(got) == 4 and got == want


def test_term_frequencies_computed_kept_and_used_again_give_the_same_figures():
    # A run keeps the frequencies its prediction used (compute_tf); a later one predicts a
    # subset of the records with them (use_tf): the same figures as the whole data's, and
    # not the figures the subset's own frequencies would give.
    con = _tables(("acme", "acme", "globex"), ("acme", "initech", "globex"))
    cols = "unique_id_l, unique_id_r, match_weight, match_probability"
    with splink_api.quiet():
        whole = splink_api.linker_for(con, SETTINGS, ("score_open", "score_known"))
        assert splink_api.tf_columns(whole) == ["name"]
        computed = splink_api.compute_tf(whole, "name")
        con.execute(f"CREATE TABLE kept_tf AS FROM {computed}")
        want = con.execute(
            f"SELECT {cols} FROM {whole.inference.predict().physical_name} "
            "WHERE 3 IN (unique_id_l, unique_id_r) ORDER BY ALL"
        ).fetchall()
        con.execute("CREATE VIEW one_open AS FROM score_open WHERE unique_id = 3")
        frozen = splink_api.linker_for(con, SETTINGS, ("one_open", "score_known"))
        splink_api.use_tf(frozen, "name", "kept_tf")
        got = con.execute(
            f"SELECT {cols} FROM {frozen.inference.predict().physical_name} ORDER BY ALL"
        ).fetchall()
        own = splink_api.linker_for(con, SETTINGS, ("one_open", "score_known"))
        theirs = con.execute(
            f"SELECT {cols} FROM {own.inference.predict().physical_name} ORDER BY ALL"
        ).fetchall()
    assert con.execute("SELECT name, tf_name FROM kept_tf ORDER BY 1").fetchall() == [
        ("acme", 3 / 6),
        ("globex", 2 / 6),
        ("initech", 1 / 6),
    ]
    assert len(want) == 3 and got == want
    assert theirs != want  # (the subset's own frequencies: other weights)


def test_predicting_only_names_records_by_their_id_and_finds_the_same_pairs():
    # Blocking on the name's words (an exploded array: Splink's marginal tables) and on the
    # name (a join): Splink names each record `source_dataset || '-__-' || unique_id`; within
    # predicting_only the unique id alone, which is unique across both tables.
    con = _tables(
        ("acme ltd", "globex", "initech uk", "acme"),
        ("acme", "acme ltd", "initech", "umbrella", "globex"),
    )
    comps = [Comparison("name", "name", True)]
    settings = splink_settings(comps, blocking_rules({"name": comps[0]}, ()))
    cols = "unique_id_l, unique_id_r, match_key, match_weight, match_probability"
    ran: list[str] = []
    with splink_api.quiet():
        linker = splink_api.linker_for(con, settings, ("score_open", "score_known"))
        want = con.execute(
            f"SELECT {cols} FROM {linker.inference.predict().physical_name} ORDER BY ALL"
        ).fetchall()
        db = linker._db_api
        run_sql = db._execute_sql_against_backend
        db._execute_sql_against_backend = lambda sql: ran.append(sql) or run_sql(sql)
        with splink_api.predicting_only(linker, cols):
            got = con.execute(
                f"SELECT * FROM {linker.inference.predict().physical_name} ORDER BY ALL"
            ).fetchall()
    assert len(want) >= 5 and got == want
    made = [s for s in ran if "CREATE TABLE __splink__" in s]
    assert any("marginal_exploded_ids" in s for s in made)
    assert any("blocked_id_pairs" in s for s in made)
    assert not any("'-__-'" in s for s in made)
    assert "'-__-'" not in splink_api._by_unique_id(
        'SELECT l."source_dataset" || \'-__-\' || l."unique_id" AS k'
    )


def test_u_sampling_picks_records_by_their_id_not_their_position():
    # training.train reads Splink's inputs as views in no particular order: the model is the
    # same only while Splink samples u's records by a hash of their ids, not by row position.
    def u_values(order: str, seed: int) -> list:
        con = duckdb.connect()
        for side, base in (("score_open", 0), ("score_known", 1000)):
            con.execute(
                f"CREATE TABLE {side} AS SELECT i + {base} AS unique_id, 'x' AS source, "
                "NULL::VARCHAR AS account_id, name, [name] AS name__tokens, "
                f"{', '.join(name_columns('name', 'name'))} FROM ("
                "SELECT i, 'firm ' || (i % 37) || ' ' || chr((97 + i % 23)::INTEGER) AS name "
                f"FROM range(400) t(i)) ORDER BY i {order}"
            )
        with splink_api.quiet():
            linker = splink_api.linker_for(con, SETTINGS, ("score_open", "score_known"))
            linker.training.estimate_u_using_random_sampling(
                max_pairs=5000, seed=seed, min_count_per_level=None, num_chunks=1
            )
            comps = splink_api.settings_dict(linker)["comparisons"]
        return [lv.get("u_probability") for c in comps for lv in c["comparison_levels"]]

    ascending = u_values("ASC", 1)
    assert ascending == u_values("DESC", 1)
    assert ascending != u_values("ASC", 2)  # a sample (5,000 of 160,000 pairs), not all


def test_parameters_snapshot_and_restore_round_trip(linker):
    snap = splink_api.parameters_snapshot(linker)
    before = splink_api.settings_dict(linker)
    linker._settings_obj.core_model_settings = splink_api.parameters_snapshot(linker)
    splink_api.restore_parameters(linker, snap)
    assert splink_api.settings_dict(linker) == before


def test_settings_dict_is_what_save_model_writes_without_the_random_id(linker, tmp_path):
    import json

    d = splink_api.settings_dict(linker)
    assert "linker_uid" not in d and d["link_type"] == "link_only"
    linker.misc.save_model_to_json(str(tmp_path / "m.json"), overwrite=True)
    saved = json.loads((tmp_path / "m.json").read_text())
    saved.pop("linker_uid", None)
    assert saved == d


def test_chart_libraries_are_bundled():
    libs = splink_api.chart_libraries()
    assert {"vega", "vega-lite", "vega-embed"} <= set(libs) and all(
        len(v) > 1000 for v in libs.values()
    )


def test_no_other_module_touches_splinks_private_api():
    from pathlib import Path

    import linker as pkg

    root = Path(pkg.__file__).parent
    offenders = [
        p.name
        for p in root.rglob("*.py")
        if p.name != "splink_api.py"
        and ("_settings_obj" in p.read_text() or "splink.internals" in p.read_text())
    ]
    assert offenders == []
