"""Every key of linker.toml as data: its type, allowed values, default, whether it is required
and what it does. The parser (config.py, config_sections.py) stays imperative; this is the one
description the reference page and the editors' JSON schema are generated from:

    python -m linker.config_schema --write   # docs/config-reference.md, docs/linker.schema.json
    python -m linker.config_schema --check   # exit 1 when either file is stale

Allowed values and defaults are read from config_model.py's constants and dataclasses;
tests/unit/test_config_schema.py checks the keys, values and bounds against the parser.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from linker import config_model as model
from linker import presets
from linker.config_sections import _IDENT, ID_FORMATS, _join

STRING, INTEGER, NUMBER, BOOLEAN = "string", "integer", "number", "boolean"
STRINGS, NUMBERS = "array of strings", "array of numbers"
TABLE, TABLE_ARRAY = "table", "array of tables"


@dataclass(frozen=True)
class Key:
    name: str  # <name>, <field>, <source>: any other key of a map (Table.entries)
    type: str
    default: Any = None  # None: no default (the key is absent, or derived as said)
    required: bool | str = False  # True, or in words when it is required
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    example: Any = None  # a valid value, where neither the enum nor the default gives one
    description: str = ""  # _DOC's, by the key's dotted path


@dataclass(frozen=True)
class Table:
    path: str  # dotted, as the key that holds it; "" is the top level
    keys: tuple[Key, ...] = ()
    array: bool = False  # [[path]]: an array of such tables
    entries: Key | None = None  # any other key, of this type (a map); None: unknown keys fail
    names: str | None = None  # the pattern the names of `entries` follow
    note: str = ""  # what the columns cannot say
    constraints: dict[str, Any] = field(default_factory=dict)  # ...in JSON Schema
    description: str = ""  # _DOC's


# One line per table and key, by dotted path, in the words of docs/configuration.md.
_DOC = {
    "": "linker.toml: [project] and [sources.*] are required; other keys have the default shown.",
    "project": "The project: its name and its systems of record.",
    "project.name": "The project's name.",
    "project.accounts_sor": "Accounts source whose ids are the account_ids.",
    "project.contacts_sor": "Contacts source whose ids are the user_ids (it needs an `account`).",
    "project.default_country": "ISO 3166 two-letter code (any case), the country of records that "
    "carry none (their phones and VAT numbers are read in it).",
    "project.memory_limit": "The older place of [engine] memory_limit (still read; not both).",
    "sources": "The inputs, one table each, named by letters, digits and _ (names ignore case).",
    "sources.<name>": "A source: a file (`path`) or a DuckDB query (`query`).",
    "sources.<name>.entity": "What the records are.",
    "sources.<name>.path": "The file, relative to the project: .csv .tsv .parquet .json .jsonl "
    "(.txt is read as CSV, .ndjson as JSONL).",
    "sources.<name>.query": "Instead of `path`: one DuckDB SELECT over earlier sources.",
    "sources.<name>.id": "The id column (ids are text).",
    "sources.<name>.filter": "Import filter: one SQL condition over the source's columns.",
    "sources.<name>.format": "Overrides the file extension.",
    "sources.<name>.delimiter": 'CSV delimiter: one character or "\\t" (default: detected).',
    "sources.<name>.system": "The tool whose export this is: its preset (presets/) supplies the "
    "entity, the id, fields, refs and the account link; the source's own keys win.",
    "sources.<name>.records": "JSON: the key (or a.b path) holding the records in an API "
    'export\'s wrapper {"organizations": [...], "next_page": ...}; several pages are read.',
    "sources.<name>.id_format": "A record's 15- and 18-character Salesforce ids are one id (here "
    "and in every reference to this source); published in the 18-character form.",
    "sources.<name>.fields": 'Canonical field = source column ("a.b" reads a nested field, also '
    "inside a column holding a JSON string).",
    "sources.<name>.fields.<field>": "A custom field, usable in your own rules and comparisons "
    "(a name close to a canonical one is kept, with a warning).",
    "sources.<name>.refs": "Other source = column here holding that source's id.",
    "sources.<name>.refs.<source>": "The column holding that source's id.",
    "sources.<name>.account": "Contacts only: the account record a contact belongs to, "
    "usually inline: account = { source = ..., column = ... }.",
    "sources.<name>.account.source": "The accounts source the account is in.",
    "sources.<name>.account.column": "The column here holding that source's id.",
    "rules": "The deterministic rules (rules.md): built-in ones or files in the project's rules/.",
    "rules.order": "The account rules, in order.",
    "rules.contacts_order": "The contact rules, in order.",
    "rules.max_key_records": "A key shared by more records makes no edges (a hub).",
    "scoring": "The probabilistic stage (scoring.md).",
    "scoring.enabled": "Score what the rules leave open.",
    "scoring.accept": "A probability >= accept: linked (method probabilistic).",
    "scoring.review": "[review, accept): queued for review; below: dropped. At most `accept`.",
    "scoring.margin": "A runner-up within this many match-weight bits sends a record to review.",
    "scoring.defaults": "Compare the fields present by default, besides [[scoring.comparisons]].",
    "scoring.comparisons": "A comparison: replaces the default for its field, or adds one.",
    "scoring.comparisons.field": 'A canonical account field, a custom one, or "members".',
    "scoring.comparisons.kind": "How the field is compared.",
    "scoring.comparisons.tf": "Term-frequency adjustment on the exact level.",
    "scoring.comparisons.thresholds": "Similarities (jaro_winkler, name), distances "
    "(levenshtein), days (date).",
    "scoring.blocking": "A blocking rule (which pairs are scored), added to the generated ones.",
    "scoring.blocking.on": "Fields equal on both sides: canonical or mapped account fields, or "
    f"the derived columns {', '.join(model.DERIVED_BLOCK_COLUMNS)}.",
    "scoring.blocking.sql": "Or one SQL condition over l.* and r.*.",
    "scoring.blocking.replace": "The configured rules replace the generated ones.",
    "duplicates": "Two records of one non-SOR source on the same account.",
    "duplicates.policy": "report: both are published and reported; merge: accounts_wide.parquet "
    "lists only the leading record per source.",
    "quality": "Optional gates: a failed gate makes `linker run` exit 1 and blocks --publish.",
    "quality.max_conflicts": "At most this many conflicts.",
    "quality.max_pending_review": "At most this many items pending review.",
    "quality.min_linked_share": "Source = the least share of its records linked to an account.",
    "quality.min_linked_share.<source>": "The least share of the source's records linked.",
    "publish": "The crosswalk (publish.md).",
    "publish.out": "Default target of `linker publish` (relative to the project).",
    "publish.keep": "Previous publications kept under OUT/_history/.",
    "engine": "What runs the SQL and how it may use the machine; none of it is part of the run "
    "id (another budget, thread count or spill directory gives the same answer, in the same "
    "bytes).",
    "engine.name": "The engine: DuckDB, embedded (a Spark engine is planned, not built).",
    "engine.memory_limit": "DuckDB's memory budget for a run (a size: '2GB', '512MB'); beyond "
    "it DuckDB spills to `temp_directory`. Raise it on a machine with memory to spare.",
    "engine.threads": "DuckDB's threads, and the most worker processes normalization starts "
    "(default: one per core).",
    "engine.temp_directory": "Where DuckDB spills beyond its budget, relative to the project "
    "(default: .linker/tmp); made if missing. A fast local disk with room to spare.",
}
# What each canonical field holds (configuration.md: Canonical fields, Normalization).
_FIELD_DOCS = {
    "name": "the company name (compared on a key without case, accents, punctuation, legal forms)",
    "domain": 'URLs, bare domains, emails, lists ("a.com; b.com" or a JSON list)',
    "email": "an email; an account's email domain counts as a domain unless it is free mail",
    "phone": "a phone number, read as E.164 in the record's country (else default_country)",
    "country": 'ISO codes or names in many languages ("Deutschland", "UK")',
    "city": "the city; its spellings in other languages are one city",
    "address": "the street address, split into the house number and the street",
    "postcode": "the postcode",
    "vat": "the VAT number, compacted and check-digit validated",
    "registration_number": "the company registration number",
    "join_date": "the date the account joined (YYYY-MM-DD or YYYYMMDD)",
    "first_name": "the contact's first name",
    "last_name": "the contact's last name",
    "full_name": "the contact's full name",
}


def _canonical(f: str) -> Key:
    """A canonical field, described with the entities that have it."""
    pairs = zip(model.ENTITIES, (model.ACCOUNT_FIELDS, model.CONTACT_FIELDS), strict=True)
    entities = ", ".join(e for e, fs in pairs if f in fs)
    return Key(f, STRING, description=f"{entities}: {_FIELD_DOCS[f]}")


def _default(cls: Any, name: str) -> Any:
    """The default of a config dataclass's field, read (MISSING when it has none)."""
    f = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    if f is None:  # not a field of its own (a property, as Config.memory_limit)
        return dataclasses.MISSING
    return f.default if f.default_factory is dataclasses.MISSING else f.default_factory()


def _table(path: str, *keys: Key, defaults: Any = None, **kw: Any) -> Table:
    """A table: its and its keys' descriptions from _DOC (a missing one fails on import); the
    defaults of keys named as fields of the dataclass `defaults`, from it."""

    def fill(k: Key) -> Key:
        if defaults and k.type not in (TABLE, TABLE_ARRAY):
            default = _default(defaults, k.name)
            k = k if default is dataclasses.MISSING else replace(k, default=default)
        return k if k.description else replace(k, description=_DOC[_join(path, k.name)])

    entries = kw.pop("entries", None)
    entries = replace(entries, description=_DOC[_join(path, entries.name)]) if entries else None
    return Table(path, tuple(map(fill, keys)), entries=entries, description=_DOC[path], **kw)


_PATH_OR_QUERY, _UNLESS_SYSTEM = "`path` or `query`", "unless `system`"
_POLICY = _default(model.Config, "duplicates_policy")

TABLES: tuple[Table, ...] = (
    _table(
        "",
        Key("project", TABLE, required=True),
        Key("sources", TABLE, required=True),
        *(
            Key(name, TABLE)
            for name in ("rules", "scoring", "duplicates", "quality", "publish", "engine")
        ),
    ),
    _table(
        "project",
        Key("name", STRING, required=True, example="acme"),
        Key("accounts_sor", STRING, required=True, example="product"),
        Key("contacts_sor", STRING, example="users"),
        Key("default_country", STRING, example="US"),
        Key("memory_limit", STRING, default=model.MEMORY_LIMIT, example="4GB"),
        defaults=model.Config,
    ),
    _table(
        "sources",
        entries=Key("<name>", TABLE),
        names=_IDENT.pattern,
        constraints={"minProperties": 1},
    ),
    _table(
        "sources.<name>",
        Key("entity", STRING, required=_UNLESS_SYSTEM, enum=model.ENTITIES),
        Key("path", STRING, required=_PATH_OR_QUERY, example="data/accounts.csv"),
        Key("query", STRING, required=_PATH_OR_QUERY, example="select * from product"),
        Key("id", STRING, required=_UNLESS_SYSTEM, example="id"),
        Key("filter", STRING, example="status <> 'deleted'"),
        Key("format", STRING, enum=model.FORMATS),
        Key("delimiter", STRING, example=";"),
        Key("system", STRING, enum=tuple(sorted(presets.presets()))),
        Key("records", STRING, example="organizations"),
        Key("id_format", STRING, enum=ID_FORMATS),
        Key("fields", TABLE),
        Key("refs", TABLE),
        Key("account", TABLE),
        note="Exactly one of `path` and `query`; `entity` and `id` are required unless a "
        "`system` preset supplies them; `account` only on contacts sources.",
        constraints={
            "oneOf": [{"required": ["path"]}, {"required": ["query"]}],
            "anyOf": [{"required": ["system"]}, {"required": ["entity", "id"]}],
            "if": {"required": ["entity"], "properties": {"entity": {"const": model.ENTITIES[0]}}},
            "then": {"not": {"required": ["account"]}},
        },
    ),
    _table(
        "sources.<name>.fields",
        *map(_canonical, dict.fromkeys((*model.ACCOUNT_FIELDS, *model.CONTACT_FIELDS))),
        entries=Key("<field>", STRING, example="plan"),
        names=_IDENT.pattern,
    ),
    _table(
        "sources.<name>.refs",
        entries=Key("<source>", STRING, example="ref_id"),
        names=_IDENT.pattern,
    ),
    _table(
        "sources.<name>.account",
        Key("source", STRING, required=True, example="product"),
        Key("column", STRING, required=True, example="account_id"),
    ),
    _table(
        "rules",
        Key("order", STRINGS),
        Key("contacts_order", STRINGS),
        Key("max_key_records", INTEGER, minimum=2),
        defaults=model.RulesConfig,
    ),
    _table(
        "scoring",
        Key("enabled", BOOLEAN),
        Key("accept", NUMBER, minimum=0, maximum=1),
        Key("review", NUMBER, minimum=0, maximum=1),
        Key("margin", NUMBER, minimum=0),
        Key("defaults", BOOLEAN),
        Key("comparisons", TABLE_ARRAY),
        Key("blocking", TABLE_ARRAY),
        defaults=model.ScoringConfig,
    ),
    _table(
        "scoring.comparisons",
        Key("field", STRING, required=True, example="name"),
        Key("kind", STRING, required=True, enum=model.COMPARISON_KINDS),
        Key("tf", BOOLEAN),
        Key("thresholds", NUMBERS, example=[0.92, 0.80]),
        defaults=model.Comparison,
        array=True,
    ),
    _table(
        "scoring.blocking",
        Key("on", STRINGS, example=["postcode"]),
        Key("sql", STRING, example="l.city = r.city AND left(l.name, 3) = left(r.name, 3)"),
        Key("replace", BOOLEAN),
        defaults=model.Blocking,
        array=True,
        note="Needs `on` or `sql`.",
        constraints={"anyOf": [{"required": ["on"]}, {"required": ["sql"]}]},
    ),
    _table(
        "duplicates",
        Key("policy", STRING, _POLICY, enum=model.DUPLICATE_POLICIES),
    ),
    _table(
        "quality",
        Key("max_conflicts", INTEGER, minimum=0, example=50),
        Key("max_pending_review", INTEGER, minimum=0, example=500),
        Key("min_linked_share", TABLE),
        defaults=model.QualityConfig,
    ),
    _table(
        "quality.min_linked_share",
        entries=Key("<source>", NUMBER, minimum=0, maximum=1, example=0.9),
        names=_IDENT.pattern,
    ),
    _table(
        "publish",
        Key("out", STRING),
        Key("keep", INTEGER, minimum=0, maximum=10_000),
        defaults=model.PublishConfig,
    ),
    _table(
        "engine",
        Key("name", STRING, enum=model.ENGINES),
        Key("memory_limit", STRING, example="4GB"),
        Key("threads", INTEGER, minimum=1, maximum=1024, example=2),
        Key("temp_directory", STRING, example="/scratch/linker"),
        defaults=model.EngineConfig,
    ),
)
BY_PATH = {t.path: t for t in TABLES}


def plain(value: Any) -> Any:
    """A value as TOML and JSON write it: tuples as lists, paths as strings."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


# --- the JSON schema --------------------------------------------------------------------

_DRAFT_07 = "http://json-schema.org/draft-07/schema#"  # the draft TOML editors support best


def _value(table: Table, key: Key) -> dict[str, Any]:
    if key.type in (TABLE, TABLE_ARRAY):
        item = _object(BY_PATH[_join(table.path, key.name)])
        whole = {"type": "array", "items": item} if key.type == TABLE_ARRAY else item
        return {**whole, "description": key.description}
    out: dict[str, Any] = {"description": key.description}
    if key.type in (STRINGS, NUMBERS):
        out.update(type="array", items={"type": STRING if key.type == STRINGS else NUMBER})
    else:
        out["type"] = key.type
    if key.enum:
        out["enum"] = list(key.enum)
    elif key.type == STRING:
        out["pattern"] = r"\S"  # the parser rejects an empty or blank string
    if key.minimum is not None:
        out["minimum"] = key.minimum
    if key.maximum is not None:
        out["maximum"] = key.maximum
    if key.default is not None:
        out["default"] = plain(key.default)
    if key.example is not None:
        out["examples"] = [key.example]
    return out


def _object(table: Table) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "description": table.description}
    if table.keys:
        out["properties"] = {k.name: _value(table, k) for k in table.keys}
    required = [k.name for k in table.keys if k.required is True]
    if required:
        out["required"] = required
    if table.names:
        out["propertyNames"] = {"pattern": table.names}
    out["additionalProperties"] = _value(table, table.entries) if table.entries else False
    return {**out, **table.constraints}


def json_schema() -> dict[str, Any]:
    return {"$schema": _DRAFT_07, "title": "linker.toml", **_object(BY_PATH[""])}


def schema_json() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# --- the reference page -----------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _type(key: Key) -> str:
    text = key.type
    if key.enum:
        text += ": " + ", ".join(f"`{v}`" for v in key.enum)
    if key.minimum is not None and key.maximum is not None:
        text += f", {key.minimum} to {key.maximum}"
    elif key.minimum is not None:
        text += f", at least {key.minimum}"
    return text


def _row(key: Key) -> str:
    default = "" if key.default is None else f"`{_toml(plain(key.default))}`"
    required = "yes" if key.required is True else key.required or ""
    cells = (f"`{key.name}`", _type(key), default, required, key.description)
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _heading(t: Table) -> str:
    return "Top level" if not t.path else f"`[[{t.path}]]`" if t.array else f"`[{t.path}]`"


def reference_markdown() -> str:
    lines = [
        "# Configuration reference",
        "",
        "> Generated from [linker/config_schema.py](../linker/config_schema.py): do not edit. "
        "Regenerate with `python -m linker.config_schema --write`; the tests fail when it is stale.",
        "",
        "Every key of `linker.toml`, table by table: its type, default and what it does. The "
        "guide, with an annotated example, is [configuration](configuration.md); editors "
        "complete and check keys with the JSON schema [linker.schema.json](linker.schema.json) "
        "generated beside this page. `<name>` stands for any source name.",
    ]
    for table in TABLES:
        lines += ["", f"## {_heading(table)}", "", table.description]
        if table.note:
            lines += ["", table.note]
        lines += ["", "| key | type | default | required | description |", "| --- " * 5 + "|"]
        lines += [_row(k) for k in table.keys]
        if table.entries is not None:
            lines.append(_row(table.entries))
    return "\n".join(lines) + "\n"


# --- the generator ----------------------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs"


def outputs(docs: Path = DOCS) -> dict[Path, str]:
    return {
        docs / "config-reference.md": reference_markdown(),
        docs / "linker.schema.json": schema_json(),
    }


def main(argv: list[str] | None = None, docs: Path = DOCS) -> int:
    parser = argparse.ArgumentParser(prog="python -m linker.config_schema", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the generated files")
    mode.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for file, text in outputs(docs).items():
        if args.write:
            file.write_bytes(text.encode("utf-8"))
            print(f"wrote {file}")
        elif not file.is_file() or file.read_bytes() != text.encode("utf-8"):
            stale.append(file)
            print(f"stale: {file} (run python -m linker.config_schema --write)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
