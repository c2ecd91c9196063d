"""Strict linker.toml validation: every mistake is a ConfigError naming the file, the dotted key
and what was expected, raised before any data is read (the data files here never exist)."""

from __future__ import annotations

from pathlib import Path

import pytest

from linker.config import load_config
from linker.errors import ConfigError

BASE = """\
[project]
name = "t"
accounts_sor = "product"

[sources.product]
entity = "accounts"
path = "data/p.csv"
id = "id"
"""

USERS = """
[sources.users]
entity = "contacts"
path = "data/u.csv"
id = "id"
"""

USERS_LINKED = USERS + 'account = { source = "product", column = "account_id" }\n'


def edit(old: str, new: str, toml: str = BASE) -> str:
    assert old in toml, f"test setup: {old!r} not in the config"
    return toml.replace(old, new, 1)


def write(project: Path, toml: str) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    (project / "linker.toml").write_text(toml, "utf-8")
    return project


def load(project: Path, toml: str):
    return load_config(write(project, toml))


# (case id, linker.toml, dotted key the error names, fragments the message must contain)
ERRORS = [
    # unknown keys, with the nearest valid key as a hint
    (
        "unknown-top-level",
        edit("[sources.product]", "[sourcess.product]"),
        "sourcess",
        ["unknown key", "did you mean 'sources'?"],
    ),
    (
        "unknown-top-level-scoring",
        BASE + "[scorng]\naccept = 0.9\n",
        "scorng",
        ["unknown key", "did you mean 'scoring'?"],
    ),
    (
        "unknown-project-key",
        edit('name = "t"', 'nmae = "t"'),
        "project.nmae",
        ["unknown key in [project]", "did you mean 'name'?"],
    ),
    (
        "unknown-source-key",
        BASE + '[sources.product.feilds]\nname = "company"\n',
        "sources.product.feilds",
        ["unknown key in [sources.product]", "did you mean 'fields'?"],
    ),
    (
        "unknown-blocking-key",
        BASE + '[[scoring.blocking]]\nonn = ["name"]\n',
        "scoring.blocking[0].onn",
        ["unknown key", "did you mean 'on'?"],
    ),
    # wrong types
    (
        "id-integer",
        edit('id = "id"', "id = 5"),
        "sources.product.id",
        ["expected a string", "got an integer"],
    ),
    (
        "accept-string",
        BASE + '[scoring]\naccept = "high"\n',
        "scoring.accept",
        ["expected a number", "got a string"],
    ),
    (
        "accept-boolean",
        BASE + "[scoring]\naccept = true\n",
        "scoring.accept",
        ["expected a number", "got a boolean"],
    ),
    (
        "max-conflicts-float",
        BASE + "[quality]\nmax_conflicts = 1.5\n",
        "quality.max_conflicts",
        ["expected an integer", "got a number"],
    ),
    (
        "fields-value-not-string",
        BASE + "[sources.product.fields]\nname = 5\n",
        "sources.product.fields.name",
        ["expected a column name", "got an integer"],
    ),
    (
        "fields-not-table",
        edit('id = "id"', 'id = "id"\nfields = "name"'),
        "sources.product.fields",
        ["expected a table", "got a string"],
    ),
    (
        "order-not-list",
        BASE + '[rules]\norder = "vat"\n',
        "rules.order",
        ["expected a list of strings", "got a string"],
    ),
    (
        "order-list-with-number",
        BASE + '[rules]\norder = ["vat", 1]\n',
        "rules.order",
        ["expected a list of strings"],
    ),
    (
        "project-not-table",
        edit('[project]\nname = "t"\naccounts_sor = "product"\n', 'project = "t"\n'),
        "project",
        ["expected a table", "got a string"],
    ),
    (
        "comparisons-not-array-of-tables",
        BASE + '[scoring]\ncomparisons = "name"\n',
        "scoring.comparisons",
        ["expected an array of tables"],
    ),
    (
        "thresholds-not-numbers",
        BASE + '[[scoring.comparisons]]\nfield = "name"\nkind = "name"\nthresholds = ["a"]\n',
        "scoring.comparisons[0].thresholds",
        ["expected a list of numbers"],
    ),
    (
        "comparison-field-unknown",
        BASE + '[[scoring.comparisons]]\nfield = "nmae"\nkind = "name"\n',
        "scoring.comparisons[0].field",
        ["'nmae' is not an account field", "did you mean 'name'?"],
    ),
    (
        "blocking-field-unknown",
        BASE + '[[scoring.blocking]]\non = ["postcod"]\n',
        "scoring.blocking[0].on",
        ["'postcod' is not an account field", "did you mean 'postcode'?"],
    ),
    (
        "name-blank",
        edit('name = "t"', 'name = "  "'),
        "project.name",
        ["must not be empty"],
    ),
    # missing required keys
    ("missing-project-name", edit('name = "t"\n', ""), "project.name", ["missing required key"]),
    (
        "missing-accounts-sor",
        edit('accounts_sor = "product"\n', ""),
        "project.accounts_sor",
        ["missing required key"],
    ),
    (
        "missing-entity",
        edit('entity = "accounts"\n', ""),
        "sources.product.entity",
        ["missing required key"],
    ),
    ("missing-id", edit('id = "id"\n', ""), "sources.product.id", ["missing required key"]),
    (
        "missing-sources",
        '[project]\nname = "t"\naccounts_sor = "product"\n',
        "sources",
        ["missing required key"],
    ),
    (
        "empty-sources",
        '[project]\nname = "t"\naccounts_sor = "product"\n[sources]\n',
        "sources",
        ["no sources defined", "[sources.NAME]"],
    ),
    (
        "missing-project",
        edit('[project]\nname = "t"\naccounts_sor = "product"\n', ""),
        "project",
        ["missing required key"],
    ),
    # path / query / format
    (
        "neither-path-nor-query",
        edit('path = "data/p.csv"\n', ""),
        "sources.product",
        ["exactly one of `path`", "`query`"],
    ),
    (
        "both-path-and-query",
        edit('path = "data/p.csv"\n', 'path = "data/p.csv"\nquery = "select 1 as id"\n'),
        "sources.product",
        ["exactly one of `path`", "`query`"],
    ),
    (
        "xlsx",
        edit("data/p.csv", "data/p.xlsx"),
        "sources.product.path",
        ["unsupported file type '.xlsx'", ".csv, .parquet, .json or .jsonl"],
    ),
    (
        "no-suffix",
        edit("data/p.csv", "data/p"),
        "sources.product.path",
        ["unsupported file type '(none)'", "sources.product.format"],
    ),
    (
        "bad-format",
        edit('id = "id"', 'id = "id"\nformat = "xlsx"'),
        "sources.product.format",
        ["expected one of csv, parquet, json, jsonl", "'xlsx'"],
    ),
    (
        "delimiter-two-chars",
        edit('id = "id"', 'id = "id"\ndelimiter = ";;"'),
        "sources.product.delimiter",
        ["expected one character", "';;'"],
    ),
    (
        "source-name-not-identifier",
        edit("[sources.product]", '[sources."my-src"]'),
        "sources.my-src",
        ["letters, digits and _"],
    ),
    # entities and cross references
    (
        "unknown-entity",
        edit('entity = "accounts"', 'entity = "account"'),
        "sources.product.entity",
        ["expected 'accounts' or 'contacts'", "got 'account'", "did you mean 'accounts'?"],
    ),
    (
        "accounts-sor-near-miss",
        edit('accounts_sor = "product"', 'accounts_sor = "prodcut"'),
        "project.accounts_sor",
        ["names no source: 'prodcut'", "did you mean 'product'?"],
    ),
    (
        "accounts-sor-is-contacts",
        edit('accounts_sor = "product"', 'accounts_sor = "users"') + USERS_LINKED,
        "project.accounts_sor",
        ["source 'users' has entity 'contacts'", "expected 'accounts'"],
    ),
    (
        "contacts-sor-is-accounts",
        edit('accounts_sor = "product"', 'accounts_sor = "product"\ncontacts_sor = "product"'),
        "project.contacts_sor",
        ["source 'product' has entity 'accounts'", "expected 'contacts'"],
    ),
    (
        "contacts-sor-without-account-link",
        edit('accounts_sor = "product"', 'accounts_sor = "product"\ncontacts_sor = "users"')
        + USERS,
        "sources.users.account",
        ["contacts system of record needs an account link", "account = { source ="],
    ),
    (
        "refs-unknown-source",
        BASE + '[sources.product.refs]\ncrm = "crm_id"\n',
        "sources.product.refs.crm",
        ["names no source: 'crm'"],
    ),
    (
        "refs-itself",
        BASE + '[sources.product.refs]\nproduct = "parent_id"\n',
        "sources.product.refs.product",
        ["cannot refer to itself"],
    ),
    (
        "account-link-unknown-source",
        BASE + edit('"product"', '"prodct"', USERS_LINKED),
        "sources.users.account.source",
        ["names no source: 'prodct'", "did you mean 'product'?"],
    ),
    (
        "account-link-to-contacts-source",
        BASE
        + edit('"product"', '"users2"', USERS_LINKED)
        + edit("users", "users2", edit("u.csv", "u2.csv", USERS)),
        "sources.users.account.source",
        ["source 'users2' has entity 'contacts'", "expected 'accounts'"],
    ),
    (
        "account-link-missing-column",
        BASE + USERS + 'account = { source = "product" }\n',
        "sources.users.account.column",
        ["missing required key"],
    ),
    (
        "account-on-accounts-source",
        BASE + 'account = { source = "product", column = "parent" }\n',
        "sources.product.account",
        ["only contacts sources have an account link"],
    ),
    # scoring, duplicates, quality, publish
    (
        "review-above-accept",
        BASE + "[scoring]\naccept = 0.7\nreview = 0.9\n",
        "scoring.review",
        ["must not exceed scoring.accept (0.7)", "got 0.9"],
    ),
    (
        "review-above-default-accept",
        BASE + "[scoring]\nreview = 0.995\n",
        "scoring.review",
        ["must not exceed scoring.accept (0.99)"],
    ),
    (
        "accept-above-1",
        BASE + "[scoring]\naccept = 1.5\n",
        "scoring.accept",
        ["must be between 0.0 and 1.0", "got 1.5"],
    ),
    (
        "review-below-0",
        BASE + "[scoring]\nreview = -0.1\n",
        "scoring.review",
        ["must be between 0.0 and 1.0", "got -0.1"],
    ),
    (
        "min-linked-share-above-1",
        BASE + "[quality.min_linked_share]\nproduct = 1.5\n",
        "quality.min_linked_share.product",
        ["must be between 0.0 and 1.0"],
    ),
    (
        "duplicates-policy",
        BASE + '[duplicates]\npolicy = "delete"\n',
        "duplicates.policy",
        ["expected 'report' or 'merge'", "got 'delete'"],
    ),
    (
        "min-linked-share-unknown-source",
        BASE + "[quality.min_linked_share]\nprodct = 0.9\n",
        "quality.min_linked_share.prodct",
        ["names no source: 'prodct'", "did you mean 'product'?"],
    ),
    (
        "comparison-kind",
        BASE + '[[scoring.comparisons]]\nfield = "name"\nkind = "jarowinkler"\n',
        "scoring.comparisons[0].kind",
        ["expected one of name, exact, jaro_winkler", "did you mean 'jaro_winkler'?"],
    ),
    (
        "comparison-missing-field",
        BASE + '[[scoring.comparisons]]\nkind = "exact"\n',
        "scoring.comparisons[0].field",
        ["missing required key"],
    ),
    (
        "blocking-neither-on-nor-sql",
        BASE + '[[scoring.blocking]]\non = ["country"]\n[[scoring.blocking]]\n',
        "scoring.blocking[1]",
        ["needs `on`", "or `sql`"],
    ),
    (
        "blocking-empty-on",
        BASE + "[[scoring.blocking]]\non = []\n",
        "scoring.blocking[0]",
        ["needs `on`"],
    ),
    (
        "publish-keep-negative",
        BASE + "[publish]\nkeep = -1\n",
        "publish.keep",
        ["must be between 0 and 10000", "got -1"],
    ),
]


@pytest.mark.parametrize(
    ("toml", "key", "fragments"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_config_error_names_file_key_and_expectation(tmp_path, toml, key, fragments):
    with pytest.raises(ConfigError) as ei:
        load(tmp_path, toml)
    err = ei.value
    text = str(err)
    assert err.key == key
    assert Path(err.file) == tmp_path / "linker.toml"
    where = f"{tmp_path / 'linker.toml'}, key {key}: "
    assert text.startswith(where)
    said = text.removeprefix(where)  # the message and hint, without the tmp path
    for fragment in fragments:
        assert fragment in said


def test_toml_syntax_error_names_file_and_line(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load(tmp_path, BASE + "\n[scoring]\naccept = = 0.9\n")
    assert str(ei.value).startswith(f"{tmp_path / 'linker.toml'}")
    assert "TOML syntax error" in ei.value.message
    assert "line 11" in ei.value.message


def test_unterminated_string_names_its_line(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load(tmp_path, edit('name = "t"', 'name = "t'))
    assert str(ei.value).startswith(f"{tmp_path / 'linker.toml'}")
    assert "TOML syntax error" in ei.value.message
    assert "line 2" in ei.value.message


def test_non_utf8_config_is_a_config_error(tmp_path):
    (tmp_path / "linker.toml").write_bytes(edit('"t"', '"caf\xe9"').encode("latin-1"))
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path)
    assert str(ei.value).startswith(f"{tmp_path / 'linker.toml'}")
    assert "not UTF-8" in ei.value.message


def test_directory_without_linker_toml(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path)
    assert "no linker.toml" in str(ei.value)
    assert "linker init" in str(ei.value)


def test_missing_project_directory(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope")


@pytest.mark.parametrize(
    "extra",
    ["[rules]\nmax_key_records = 1\n", "[quality]\nmax_conflicts = -1\n"],
    ids=["rules.max_key_records", "quality.max_conflicts"],
)
def test_lower_bound_message_does_not_print_none(tmp_path, extra):
    with pytest.raises(ConfigError) as ei:
        load(tmp_path, BASE + extra)
    assert "None" not in ei.value.message


def test_empty_field_column_says_empty(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load(tmp_path, BASE + '[sources.product.fields]\nname = ""\n')
    assert ei.value.key == "sources.product.fields.name"
    assert "empty" in ei.value.message


# --- valid configs: defaults, paths, warnings ------------------------------------------------


def test_defaults_of_a_minimal_config(tmp_path):
    c = load(tmp_path, BASE)
    assert c.name == "t"
    assert c.accounts_sor == "product"
    assert c.contacts_sor is None
    assert c.rules.order == (
        "ref",
        "vat",
        "registration",
        "user_email",
        "domain",
        "name_country",
    )
    assert c.rules.contacts_order == (
        "sor_user",
        "own_account",
        "email_domain",
        "user_name_in_account",
    )
    assert c.rules.max_key_records == 25
    assert c.scoring.enabled is True
    assert c.scoring.accept == 0.99
    assert c.scoring.review == 0.50
    assert c.scoring.comparisons == () and c.scoring.blocking == ()
    assert c.duplicates_policy == "report"
    assert c.quality.max_conflicts is None and c.quality.min_linked_share == {}
    assert c.publish.out == Path("crosswalk")
    assert c.publish.keep == 10
    assert c.warnings == ()
    src = c.sources["product"]
    assert (src.entity, src.id, src.format, src.fields, src.refs) == (
        "accounts",
        "id",
        "csv",
        {},
        {},
    )


def test_paths_resolve_against_the_project_dir_not_the_cwd(tmp_path, monkeypatch):
    project = tmp_path / "proj"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    c = load(project, BASE)
    assert c.root == project
    assert c.file == project / "linker.toml"
    assert c.sources["product"].path == project / "data" / "p.csv"
    assert c.out_dir == project / "crosswalk"


def test_load_config_accepts_the_toml_path_itself(tmp_path):
    write(tmp_path, BASE)
    c = load_config(tmp_path / "linker.toml")
    assert c.root == tmp_path
    assert c.sources["product"].path == tmp_path / "data" / "p.csv"


def test_absolute_paths_are_kept(tmp_path):
    data = tmp_path / "shared" / "p.csv"
    out = tmp_path / "published"
    toml = edit('"data/p.csv"', f'"{data}"') + f'[publish]\nout = "{out}"\n'
    c = load(tmp_path / "proj", toml)
    assert c.sources["product"].path == data
    assert c.out_dir == out


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("data/p.csv", "csv"),
        ("data/p.CSV", "csv"),
        ("data/p.tsv", "csv"),
        ("data/p.txt", "csv"),
        ("data/p.parquet", "parquet"),
        ("data/p.json", "json"),
        ("data/p.jsonl", "jsonl"),
        ("data/p.ndjson", "jsonl"),
    ],
)
def test_format_follows_the_file_suffix(tmp_path, path, fmt):
    c = load(tmp_path, edit('"data/p.csv"', f'"{path}"'))
    assert c.sources["product"].format == fmt


def test_explicit_format_overrides_an_unknown_suffix_and_tab_delimiter(tmp_path):
    toml = edit("data/p.csv", "data/export.dat")
    toml = edit('id = "id"', 'id = "id"\nformat = "csv"\ndelimiter = "\\\\t"', toml)
    src = load(tmp_path, toml).sources["product"]
    assert src.format == "csv"
    assert src.delimiter == "\t"


def test_a_full_config_is_read_back(tmp_path):
    toml = (
        edit('accounts_sor = "product"', 'accounts_sor = "product"\ncontacts_sor = "users"')
        + '[sources.product.fields]\nname = "company"\ndomain = "website"\n'
        + '[sources.crm]\nentity = "accounts"\nquery = "select * from src.product"\nid = "Id"\n'
        + 'filter = "not deleted"\n[sources.crm.refs]\nproduct = "Product_Id"\n'
        + USERS_LINKED
        + '[rules]\norder = ["ref", "vat"]\nmax_key_records = 5\n'
        + "[scoring]\naccept = 0.95\nreview = 0.95\n"
        + '[[scoring.comparisons]]\nfield = "name"\nkind = "jaro_winkler"\ntf = true\n'
        + "thresholds = [0.9, 1]\n"
        + '[[scoring.blocking]]\non = ["country", "city"]\n'
        + '[[scoring.blocking]]\nsql = "l.postcode = r.postcode"\n'
        + '[duplicates]\npolicy = "merge"\n'
        + "[quality]\nmax_conflicts = 0\n[quality.min_linked_share]\ncrm = 0.5\n"
        + '[publish]\nout = "out/xwalk"\nkeep = 3\n'
    )
    c = load(tmp_path, toml)
    assert c.contacts_sor == "users"
    assert c.sources["product"].fields == {"name": "company", "domain": "website"}
    crm = c.sources["crm"]
    assert (crm.path, crm.query, crm.filter, crm.refs) == (
        None,
        "select * from src.product",
        "not deleted",
        {"product": "Product_Id"},
    )
    assert c.sources["users"].account.source == "product"
    assert c.sources["users"].account.column == "account_id"
    assert c.sources_of("accounts") == [c.sources["product"], c.sources["crm"]]
    assert c.rules.order == ("ref", "vat") and c.rules.max_key_records == 5
    assert (c.scoring.accept, c.scoring.review) == (0.95, 0.95)
    (comp,) = c.scoring.comparisons
    assert (comp.field, comp.kind, comp.tf, comp.thresholds) == (
        "name",
        "jaro_winkler",
        True,
        (0.9, 1.0),
    )
    assert [(b.on, b.sql) for b in c.scoring.blocking] == [
        (("country", "city"), None),
        ((), "l.postcode = r.postcode"),
    ]
    assert c.duplicates_policy == "merge"
    assert c.quality.max_conflicts == 0 and c.quality.min_linked_share == {"crm": 0.5}
    assert c.out_dir == tmp_path / "out" / "xwalk" and c.publish.keep == 3


@pytest.mark.parametrize(
    ("toml", "key", "hint"),
    [
        (
            BASE + '[sources.product.fields]\nnmae = "company"\n',
            "sources.product.fields.nmae",
            "did you mean 'name'?",
        ),
        (
            BASE + USERS + '[sources.users.fields]\nemial = "mail"\n',
            "sources.users.fields.emial",
            "did you mean 'email'?",
        ),
    ],
)
def test_near_miss_custom_field_is_kept_with_a_warning(tmp_path, toml, key, hint):
    c = load(tmp_path, toml)
    field = key.rsplit(".", 1)[1]
    assert field in c.sources[key.split(".")[1]].fields
    (warning,) = c.warnings
    assert "linker.toml" in warning
    assert key in warning
    assert hint in warning


def test_custom_field_far_from_any_canonical_field_gives_no_warning(tmp_path):
    c = load(tmp_path, BASE + '[sources.product.fields]\nindustry = "sector"\n')
    assert c.sources["product"].fields == {"industry": "sector"}
    assert c.warnings == ()


def test_digest_tracks_what_the_config_says_not_how_it_is_written_nor_the_budget(tmp_path):
    # The run id hashes the digest, and the report compares it to say the config changed.
    a = load(tmp_path / "a", BASE)
    commented = load(tmp_path / "b", "# a note\n" + BASE.replace(" = ", "   =   ") + "\n# note\n")
    budget = load(tmp_path / "c", BASE.replace("[project]\n", '[project]\nmemory_limit = "1GB"\n'))
    changed = load(
        tmp_path / "d", BASE.replace("[project]\n", '[project]\ndefault_country = "DE"\n')
    )
    assert budget.memory_limit == "1GB" and changed.default_country == "DE"
    assert a.digest == commented.digest == budget.digest != changed.digest


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        (None, "2GB"),
        ("4GB", "4GB"),
        ("512 mb", "512MB"),
        ("1.5GiB", "1.5GiB"),
        ("800mib", "800MiB"),
    ],
)
def test_memory_limit_is_a_size_with_a_measured_default(tmp_path, written, kept):
    toml = (
        BASE if written is None else edit('name = "t"', f'name = "t"\nmemory_limit = "{written}"')
    )
    assert load(tmp_path / "p", toml).memory_limit == kept


@pytest.mark.parametrize("written", ["lots", "2", "2 GB of it", "-1GB"])
def test_memory_limit_that_is_not_a_size_names_the_key(tmp_path, written):
    toml = edit('name = "t"', f'name = "t"\nmemory_limit = "{written}"')
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "p", toml)
    assert e.value.key == "project.memory_limit" and "'2GB'" in str(e.value)


def test_the_working_database_keeps_to_its_memory_budget_and_spills_in_the_state_dir(tmp_path):
    from linker.db import connect

    con = connect(memory_limit="1GB", temp_dir=tmp_path / "tmp")
    limit, temp = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchall()[0]
    assert limit in ("953.6 MiB", "1.0 GB", "1000.0 MB") and temp == str(tmp_path / "tmp")


ENGINE = BASE + '[engine]\nmemory_limit = "1GB"\nthreads = 1\ntemp_directory = "../scratch"\n'


def test_engine_settings_are_read_and_are_not_part_of_the_run_id(tmp_path):
    plain, engine = load(tmp_path / "a", BASE), load(tmp_path / "p", ENGINE)
    assert engine.engine.name == "duckdb" and engine.memory_limit == "1GB"
    assert engine.engine.threads == 1 and engine.engine.temp_directory == tmp_path / "scratch"
    assert plain.engine.threads is None and plain.engine.temp_directory is None
    assert plain.digest == engine.digest  # same answer, same run id, same bytes


def test_the_working_database_gets_the_engine_settings_and_makes_the_spill_directory(tmp_path):
    from linker import Project
    from linker.db import connect

    load(tmp_path / "p", ENGINE)
    settings = Project(tmp_path / "p")._duckdb_settings()
    assert (tmp_path / "scratch").is_dir()
    con = connect(**settings)
    threads, temp = con.execute(
        "SELECT current_setting('threads'), current_setting('temp_directory')"
    ).fetchall()[0]
    assert threads == 1 and temp == str(tmp_path / "scratch")


@pytest.mark.parametrize(
    ("engine", "key", "says"),
    [
        ('name = "spark"', "engine.name", "a Spark engine is planned, not built"),
        ('name = "sqlite"', "engine.name", "expected 'duckdb', got 'sqlite'"),
        ("threads = 0", "engine.threads", "must be between 1 and 1024, got 0"),
        ('threads = "2"', "engine.threads", "expected an integer"),
        ('memory_limit = "lots"', "engine.memory_limit", "'2GB'"),
        ('temp_directory = ""', "engine.temp_directory", "must not be empty"),
        ("cores = 2", "engine", "cores"),
    ],
)
def test_a_wrong_engine_setting_names_its_key(tmp_path, engine, key, says):
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "p", BASE + f"[engine]\n{engine}\n")
    assert e.value.key.startswith(key) and says in str(e.value)


def test_the_memory_budget_in_both_places_is_refused_naming_the_older_one(tmp_path):
    toml = (
        edit('name = "t"', 'name = "t"\nmemory_limit = "1GB"') + '[engine]\nmemory_limit = "2GB"\n'
    )
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "p", toml)
    assert e.value.key == "project.memory_limit" and "set twice" in str(e.value)
