"""linker/config_schema.py against the parser and the committed docs: docs/config-reference.md
and docs/linker.schema.json are exactly what the generator writes, and the schema's tables, keys,
values, bounds and defaults are the ones parse_config checks, accepts and fills in."""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from linker import config, config_sections
from linker import config_schema as cs
from linker.config import parse_config
from linker.config_model import ACCOUNT_FIELDS, CONTACT_FIELDS
from linker.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
FILE = Path("/nowhere/linker.toml")  # parse_config reads no data: nothing here must exist

MINIMAL = """\
[project]
name = "t"
accounts_sor = "product"

[sources.product]
entity = "accounts"
path = "data/p.csv"
id = "id"

[sources.users]                  # contacts with an account link: for contacts_sor and account
entity = "contacts"
path = "data/u.csv"
id = "id"
account = { source = "product", column = "account_id" }

[sources.extra]                  # where the keys of a source are tried (JSON: for records)
entity = "accounts"
path = "data/e.json"
id = "id"
"""
ITEMS = {  # an [[array]] gets one item of its required keys
    "scoring.comparisons": {"field": "name", "kind": "name"},
    "scoring.blocking": {"on": ["name"]},
}
ENTRY_NAMES = {  # the name a map's entry is tried under
    "sources.<name>.fields": "tier",
    "sources.<name>.refs": "product",
    "quality.min_linked_share": "product",
}
CONTACT_ONLY = set(CONTACT_FIELDS) - set(ACCOUNT_FIELDS)
CLOSED = [t for t in cs.TABLES if t.entries is None]  # unknown keys are errors
SCALARS = [
    (t, k)
    for t in cs.TABLES
    for k in (*t.keys, *([t.entries] if t.entries else []))
    if k.type not in (cs.TABLE, cs.TABLE_ARRAY)
]


def ids(cases: list) -> list[str]:
    return [cs._join(t.path or "top", k.name) if k else t.path or "top" for t, k in cases]


def parse(data: dict) -> config.Config:
    return parse_config(data, FILE)


def source_for(path: str, name: str = "") -> str:
    """The source of MINIMAL a key of the table at `path` is tried in."""
    if path.endswith(".account") or (path.endswith(".fields") and name in CONTACT_ONLY):
        return "users"
    return "extra"


def table_at(data: dict, path: str, source: str = "extra") -> dict:
    """The table at a schema path in `data` (made, with an array's required keys, if absent)."""
    node, prefix = data, ""
    for part in path.split(".") if path else []:
        prefix = cs._join(prefix, part)
        if part == "<name>":
            node = node[source]
        elif prefix in ITEMS:
            node = node.setdefault(part, [dict(ITEMS[prefix])])[0]
        else:
            node = node.setdefault(part, {})
    return node


def name_of(table: cs.Table, key: cs.Key) -> str:
    return ENTRY_NAMES[table.path] if key is table.entries else key.name


def with_key(table: cs.Table, key: cs.Key, value: Any) -> tuple[dict, str]:
    """MINIMAL with one key set; also the dotted key a ConfigError about it names."""
    data = tomllib.loads(MINIMAL)
    name = name_of(table, key)
    source = source_for(table.path, name)
    tbl = table_at(data, table.path, source)
    tbl[name] = value
    if table.path == "sources.<name>" and name == "query":
        del tbl["path"]  # exactly one of path and query
    if table.path == "sources.<name>" and name == "system":
        del tbl["entity"], tbl["id"]  # the preset supplies them
    where = table.path.replace("<name>", source) + ("[0]" if table.path in ITEMS else "")
    return data, cs._join(where, name)


def read(cfg: config.Config, path: str, name: str) -> Any:
    """What the parser made of key `name` of the table at `path`, as TOML would write it."""
    source = cfg.sources[source_for(path, name)]
    value = {
        "project": lambda: getattr(cfg, name),
        "sources.<name>": lambda: getattr(source, name),
        "sources.<name>.fields": lambda: source.fields[name],
        "sources.<name>.refs": lambda: source.refs[name],
        "sources.<name>.account": lambda: getattr(source.account, name),
        "scoring.comparisons": lambda: getattr(cfg.scoring.comparisons[0], name),
        "scoring.blocking": lambda: getattr(cfg.scoring.blocking[0], name),
        "duplicates": lambda: cfg.duplicates_policy,
        "quality.min_linked_share": lambda: cfg.quality.min_linked_share[name],
    }.get(path, lambda: getattr(getattr(cfg, path), name))()
    return cs.plain(value)


def values(key: cs.Key) -> list[Any]:
    """Valid values of a key: every allowed one, else its example, default or one of its type."""
    if key.enum:
        return list(key.enum)
    for value in (key.example, cs.plain(key.default)):
        if value is not None:
            return [value]
    return [{cs.STRING: "col", cs.INTEGER: 1, cs.NUMBER: 0.5, cs.BOOLEAN: True}[key.type]]


# --- the generated files cannot drift ---------------------------------------------------------


def test_the_committed_reference_and_json_schema_are_what_the_generator_writes():
    for file, text in cs.outputs(REPO / "docs").items():
        assert file.read_text("utf-8") == text, (
            f"{file.name} is stale: run python -m linker.config_schema --write"
        )


def test_check_exits_1_when_a_generated_file_is_missing_or_differs(tmp_path):
    assert cs.main(["--check"], docs=tmp_path) == 1
    assert cs.main(["--write"], docs=tmp_path) == 0
    assert cs.main(["--check"], docs=tmp_path) == 0
    (tmp_path / "linker.schema.json").write_text("{}\n", "utf-8")
    assert cs.main(["--check"], docs=tmp_path) == 1


def test_the_reference_has_a_section_and_a_row_per_table_and_key():
    page = cs.reference_markdown()
    assert page.count("\n## ") == len(cs.TABLES)
    rows = sum(len(t.keys) + (t.entries is not None) for t in cs.TABLES)
    assert len(re.findall(r"^\| `", page, re.M)) == rows
    assert "| `accept` | number, 0 to 1 | `0.99` |  |" in page


# --- the schema and the parser agree ----------------------------------------------------------


def test_the_schema_has_a_table_for_every_table_the_parser_checks_the_keys_of():
    parser = inspect.getsource(config) + inspect.getsource(config_sections)
    assert len(re.findall(r"\bc\.keys\(", parser)) == len(CLOSED)
    for table in cs.TABLES:  # and every table-valued key has its table
        for key in (*table.keys, *([table.entries] if table.entries else [])):
            if key.type in (cs.TABLE, cs.TABLE_ARRAY):
                child = cs.BY_PATH[cs._join(table.path, key.name)]
                assert child.array == (key.type == cs.TABLE_ARRAY)


@pytest.mark.parametrize("table", CLOSED, ids=ids([(t, None) for t in CLOSED]))
def test_the_schema_and_the_parser_agree_on_the_keys_of(table):
    data = tomllib.loads(MINIMAL)
    table_at(data, table.path, source_for(table.path))["zzzqqq"] = 1
    with pytest.raises(ConfigError) as ei:
        parse(data)
    assert ei.value.key.endswith(".zzzqqq" if table.path else "zzzqqq")
    assert ei.value.message.startswith("unknown key")
    hint = ei.value.hint or ""
    assert hint.startswith("valid keys: "), hint
    assert set(hint.removeprefix("valid keys: ").split(", ")) == {k.name for k in table.keys}


@pytest.mark.parametrize(("table", "key"), SCALARS, ids=ids(SCALARS))
def test_the_parser_accepts_every_value_the_schema_allows_for(table, key):
    for value in values(key):
        data, dotted = with_key(table, key, value)
        cfg = parse(data)
        if not (table.path == "sources.<name>" and key.name == "path"):  # read as a Path
            assert read(cfg, table.path, name_of(table, key)) == value, dotted


def other_type(key: cs.Key) -> Any:
    return 12 if key.type == cs.STRING else "text"


@pytest.mark.parametrize(("table", "key"), SCALARS, ids=ids(SCALARS))
def test_the_parser_rejects_a_value_of_another_type_for(table, key):
    data, dotted = with_key(table, key, other_type(key))
    with pytest.raises(ConfigError) as ei:
        parse(data)
    assert ei.value.key == dotted


BOUNDED = [(t, k) for t, k in SCALARS if k.minimum is not None or k.maximum is not None]


def bound_cases(key: cs.Key) -> list[tuple[float, bool]]:
    step = 1 if key.type == cs.INTEGER else 0.001
    cases = []
    if key.minimum is not None:
        cases += [(key.minimum, True), (key.minimum - step, False)]
    if key.maximum is not None:
        cases += [(key.maximum, True), (key.maximum + step, False)]
    return cases


def bounded(table: cs.Table, key: cs.Key, value: float) -> tuple[dict, str]:
    data, dotted = with_key(table, key, value)
    if dotted == "scoring.accept":
        data["scoring"]["review"] = 0.0  # review must not exceed accept
    if dotted == "scoring.review":
        data["scoring"]["accept"] = 1.0
    return data, dotted


@pytest.mark.parametrize(("table", "key"), BOUNDED, ids=ids(BOUNDED))
def test_the_schema_and_the_parser_agree_on_the_bounds_of(table, key):
    for value, ok in bound_cases(key):
        data, dotted = bounded(table, key, value)
        if ok:
            parse(data)
            continue
        with pytest.raises(ConfigError) as ei:
            parse(data)
        assert (ei.value.key, ei.value.message.startswith("must be")) == (dotted, True), value


def test_the_schema_defaults_are_what_the_parser_fills_in():
    data = tomllib.loads(MINIMAL)
    for path in ITEMS:
        table_at(data, path)
    cfg = parse(data)
    set_in_minimal = {"entity", "path", "id", "format"}  # format: from the path's extension
    checked = 0
    for table, key in SCALARS:
        if (
            table.entries is not None
            or key.required
            or (table.path == "sources.<name>" and key.name in set_in_minimal)
            or key.name in ITEMS.get(table.path, {})
        ):
            continue
        assert read(cfg, table.path, key.name) == cs.plain(key.default), (table.path, key.name)
        checked += 1
    assert checked >= 20


# --- the JSON schema, for editors --------------------------------------------------------------


def validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "docs" / "linker.schema.json").read_text("utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(v: Any, data: dict) -> list[str]:
    return sorted(
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(data)
    )


def test_the_json_schema_accepts_the_example_configs():
    v = validator()
    page = (REPO / "docs" / "connecting.md").read_text("utf-8")
    section = page[page.index("# Connecting your tools") :]
    examples = {
        "fixtures/acme/linker.toml": (REPO / "fixtures" / "acme" / "linker.toml").read_text(),
        "docs/connecting.md": re.search(r"```toml\n(.*?)```", section, re.S).group(1),
        "minimal": MINIMAL,
    }
    for where, text in examples.items():
        data = tomllib.loads(text)
        parse(data)  # valid for the parser too
        assert errors(v, data) == [], where


def test_the_json_schema_accepts_what_the_parser_accepts_and_rejects_what_it_rejects():
    v = validator()
    for table, key in SCALARS:  # every value of every key, every system preset among them
        for value in values(key):
            data, dotted = with_key(table, key, value)
            assert errors(v, data) == [], (dotted, value)
        data, dotted = with_key(table, key, other_type(key))
        assert errors(v, data), (dotted, "a value of another type")
    for table, key in BOUNDED:
        for value, ok in bound_cases(key):
            data, dotted = bounded(table, key, value)
            assert (errors(v, data) == []) == ok, (dotted, value)
    for table in CLOSED:
        data = tomllib.loads(MINIMAL)
        table_at(data, table.path, source_for(table.path))["zzzqqq"] = 1
        assert errors(v, data), (table.path, "an unknown key")


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["sources"]["extra"].update(query="select 1"),  # both path and query
        lambda d: d["sources"]["extra"].pop("path"),  # neither
        lambda d: d["sources"]["extra"].pop("entity"),  # no entity, no system
        lambda d: d["sources"]["extra"].update(account={"source": "product", "column": "c"}),
        lambda d: d["sources"].update({"1bad": {"entity": "accounts", "path": "x.csv", "id": "i"}}),
        lambda d: d["sources"]["extra"].update(fields={"bad name": "c"}),
        lambda d: d["sources"]["extra"].update(fields={"name": " "}),
        lambda d: d.update(scoring={"blocking": [{"replace": True}]}),  # neither on nor sql
        lambda d: d.pop("project"),
        lambda d: d.update(sources={}),
    ],
    ids=[
        "path-and-query",
        "no-path-or-query",
        "no-entity",
        "account-on-accounts",
        "source-name",
        "field-name",
        "blank-column",
        "blocking-on-or-sql",
        "no-project",
        "no-sources",
    ],
)
def test_the_json_schema_rejects_what_the_parser_rejects(edit):
    v = validator()
    data = tomllib.loads(MINIMAL)
    edit(data)
    with pytest.raises(ConfigError):
        parse(data)
    assert errors(v, data)
