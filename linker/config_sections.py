"""The schema checker behind linker.toml's ConfigErrors (file, dotted key, nearest valid key),
and the parsers of its [sources.NAME], [rules], [scoring] and [quality] tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from linker.config_model import (
    ACCOUNT_FIELDS,
    COMPARISON_KINDS,
    CONTACT_FIELDS,
    DEFAULT_ACCOUNT_RULES,
    DEFAULT_CONTACT_RULES,
    DERIVED_BLOCK_COLUMNS,
    ENTITIES,
    FORMATS,
    AccountLink,
    Blocking,
    Comparison,
    QualityConfig,
    RulesConfig,
    ScoringConfig,
    Source,
)
from linker.db import one_expression, one_select
from linker.errors import ConfigError, did_you_mean

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- a tiny schema checker -------------------------------------------------------------


class _Checker:
    def __init__(self, file: Path) -> None:
        self.file = str(file)
        self.warnings: list[str] = []

    def fail(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, key=key, hint=hint)

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_kind(value)}")
        return value

    def keys(self, tbl: dict[str, Any], key: str, allowed: tuple[str, ...], required=()) -> None:
        for k in tbl:
            if k not in allowed:
                raise self.fail(
                    _join(key, k),
                    "unknown key" + (f" in [{key}]" if key else ""),
                    did_you_mean(k, allowed) or f"valid keys: {', '.join(allowed)}",
                )
        for k in required:
            if k not in tbl:
                raise self.fail(_join(key, k), "missing required key")

    def str_(self, tbl: dict[str, Any], key: str, name: str, default: Any = None) -> Any:
        if name not in tbl:
            return default
        v = tbl[name]
        if not isinstance(v, str):
            raise self.fail(_join(key, name), f"expected a string, got {_kind(v)}")
        if not v.strip():
            raise self.fail(_join(key, name), "must not be empty")
        return v

    def choice(
        self,
        tbl: dict[str, Any],
        key: str,
        name: str,
        choices: tuple[str, ...],
        *,
        expected: str | None = None,
    ) -> Any:
        """A string that must be one of `choices` (None when absent), else an error saying
        what was `expected` (by default: one of them) and the nearest choice."""
        v = self.str_(tbl, key, name)
        if v is not None and v not in choices:
            raise self.fail(
                _join(key, name),
                f"expected {expected or 'one of ' + ', '.join(choices)}, got {v!r}",
                did_you_mean(v, choices),
            )
        return v

    def number(self, tbl, key, name, default, *, integer=False, lo=None, hi=None):
        if name not in tbl:
            return default
        v = tbl[name]
        ok = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok:
            want = "an integer" if integer else "a number"
            raise self.fail(_join(key, name), f"expected {want}, got {_kind(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            bounds = (
                f"between {lo} and {hi}"
                if lo is not None and hi is not None
                else f"at least {lo}"
                if lo is not None
                else f"at most {hi}"
            )
            raise self.fail(_join(key, name), f"must be {bounds}, got {v}")
        return v

    def bool_(self, tbl, key, name, default):
        if name not in tbl:
            return default
        v = tbl[name]
        if not isinstance(v, bool):
            raise self.fail(_join(key, name), f"expected true or false, got {_kind(v)}")
        return v

    def sql(self, check, text: str, key: str, what: str) -> None:
        """Config SQL of one shape: `check` (db.one_expression / one_select) or a ConfigError."""
        try:
            check(text)
        except ValueError as e:
            raise self.fail(
                key,
                f"must be {what}: {e}",
                "linker.toml is code: a filter is a condition, a query one SELECT",
            ) from None

    def str_list(self, tbl, key, name, default):
        if name not in tbl:
            return default
        v = tbl[name]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.fail(_join(key, name), f"expected a list of strings, got {_kind(v)}")
        return tuple(v)

    def str_map(self, tbl, key, name) -> dict[str, str]:
        if name not in tbl:
            return {}
        sub = self.table(tbl[name], _join(key, name))
        for k, v in sub.items():
            if not isinstance(v, str):
                raise self.fail(_join(key, name, k), f"expected a column name, got {_kind(v)}")
            if not v.strip():
                raise self.fail(_join(key, name, k), "must not be empty: expected a column name")
        return dict(sub)


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _kind(v: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(v), type(v).__name__)


# --- the tables -----------------------------------------------------------------------

ID_FORMATS = ("salesforce",)  # how a source may say it writes its ids (ingest_sql.record_id_sql)
_IDENT_KEY = re.compile(r"^[^.\s]+$")  # one key of a JSON object (no dots, no spaces)
_SOURCE_KEYS = (
    "entity",
    "path",
    "query",
    "id",
    "filter",
    "format",
    "delimiter",
    "system",
    "records",
    "id_format",
    "fields",
    "refs",
    "account",
)


def _parse_source(c: _Checker, sname: str, raw: Any, root: Path) -> Source:
    key = f"sources.{sname}"
    if not _IDENT.match(sname):
        raise c.fail(key, "source names must be letters, digits and _, starting with a letter")
    tbl = c.table(raw, key)
    # `_optional` is the preset merge's own mark (presets.apply), never a user's key.
    internal = ("_optional",) if "system" in tbl else ()
    c.keys(tbl, key, (*_SOURCE_KEYS, *internal), required=("entity", "id"))
    entity = c.choice(tbl, key, "entity", ENTITIES, expected="'accounts' or 'contacts'")
    path = c.str_(tbl, key, "path")
    query = c.str_(tbl, key, "query")
    if (path is None) == (query is None):
        raise c.fail(key, "needs exactly one of `path` (a file) or `query` (a DuckDB query)")
    fmt = c.str_(tbl, key, "format")
    if fmt is not None and fmt not in FORMATS:
        raise c.fail(f"{key}.format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if path is not None and fmt is None:
        suffix = Path(path).suffix.lower().lstrip(".")
        if suffix in ("tsv", "txt"):
            suffix = "csv"
        if suffix == "ndjson":
            suffix = "jsonl"
        if suffix not in FORMATS:
            raise c.fail(
                f"{key}.path",
                f"unsupported file type {Path(path).suffix or '(none)'!r}",
                f"use .csv, .parquet, .json or .jsonl, or set {key}.format",
            )
        fmt = suffix
    records = c.str_(tbl, key, "records")
    if records is not None and fmt not in ("json", "jsonl"):
        raise c.fail(
            f"{key}.records",
            "records names the key holding the records of a JSON export; this source is "
            f"{fmt or 'a query'}",
        )
    if records is not None and not all(_IDENT_KEY.match(p) for p in records.split(".")):
        raise c.fail(f"{key}.records", f"expected a key (or a.b path) of the JSON, got {records!r}")
    id_format = c.choice(tbl, key, "id_format", ID_FORMATS)
    delimiter = c.str_(tbl, key, "delimiter")
    if delimiter is not None and len(delimiter) != 1 and delimiter != "\\t":
        raise c.fail(f"{key}.delimiter", f"expected one character, got {delimiter!r}")

    fields = c.str_map(tbl, key, "fields")
    canonical = ACCOUNT_FIELDS if entity == "accounts" else CONTACT_FIELDS
    for f in fields:
        if f not in canonical:
            if not _IDENT.match(f):
                raise c.fail(f"{key}.fields.{f}", "field names must be identifiers")
            hint = did_you_mean(f, canonical)
            if hint:
                c.warnings.append(
                    f"{c.file}: key {key}.fields.{f}: not a canonical {entity} field, "
                    f"kept as a custom field ({hint})"
                )
    refs = c.str_map(tbl, key, "refs")
    account = None
    if "account" in tbl:
        if entity != "contacts":
            raise c.fail(f"{key}.account", "only contacts sources have an account link")
        acc = c.table(tbl["account"], f"{key}.account")
        c.keys(acc, f"{key}.account", ("source", "column"), ("source", "column"))
        account = AccountLink(
            c.str_(acc, f"{key}.account", "source"), c.str_(acc, f"{key}.account", "column")
        )
    filt = c.str_(tbl, key, "filter")
    if filt is not None:
        c.sql(one_expression, filt, f"{key}.filter", "one SQL condition over the source's columns")
    if query is not None:
        c.sql(one_select, query, f"{key}.query", "one SELECT statement")
    return Source(
        name=sname,
        entity=entity,
        id=c.str_(tbl, key, "id"),
        path=None if path is None else (Path(path) if Path(path).is_absolute() else root / path),
        query=query,
        filter=filt,
        format=fmt,
        delimiter="\t" if delimiter == "\\t" else delimiter,
        records=records,
        id_format=id_format,
        system=c.str_(tbl, key, "system"),
        optional=frozenset(tbl.get("_optional", ())),
        fields=fields,
        refs=refs,
        account=account,
    )


def _parse_rules(c: _Checker, raw: Any) -> RulesConfig:
    tbl = c.table(raw, "rules")
    c.keys(tbl, "rules", ("order", "contacts_order", "max_key_records"))
    return RulesConfig(
        order=c.str_list(tbl, "rules", "order", DEFAULT_ACCOUNT_RULES),
        contacts_order=c.str_list(tbl, "rules", "contacts_order", DEFAULT_CONTACT_RULES),
        max_key_records=c.number(tbl, "rules", "max_key_records", 25, integer=True, lo=2),
    )


def _parse_scoring(c: _Checker, raw: Any, sources: dict[str, Source]) -> ScoringConfig:
    tbl = c.table(raw, "scoring")
    c.keys(
        tbl,
        "scoring",
        ("enabled", "accept", "review", "margin", "defaults", "comparisons", "blocking"),
    )
    accept = c.number(tbl, "scoring", "accept", 0.99, lo=0.0, hi=1.0)
    review = c.number(tbl, "scoring", "review", 0.50, lo=0.0, hi=1.0)
    if review > accept:
        raise c.fail("scoring.review", f"must not exceed scoring.accept ({accept}), got {review}")
    mapped = {f for s in sources.values() if s.entity == "accounts" for f in s.fields}
    allowed_fields = {*ACCOUNT_FIELDS, *mapped, "members"}
    comps = []
    for i, item in enumerate(_array_of_tables(c, tbl, "scoring.comparisons", "comparisons")):
        key = f"scoring.comparisons[{i}]"
        c.keys(item, key, ("field", "kind", "tf", "thresholds"), ("field", "kind"))
        kind = c.choice(item, key, "kind", COMPARISON_KINDS)
        thresholds = item.get("thresholds", [])
        if not isinstance(thresholds, list) or not all(
            isinstance(t, int | float) and not isinstance(t, bool) for t in thresholds
        ):
            raise c.fail(f"{key}.thresholds", "expected a list of numbers")
        fld = c.str_(item, key, "field")
        if fld not in allowed_fields:
            raise c.fail(
                f"{key}.field",
                f"{fld!r} is not an account field: expected a canonical account field, a field "
                'mapped under [sources.*.fields] of an accounts source, or "members"',
                did_you_mean(fld, sorted(allowed_fields)),
            )
        comps.append(
            Comparison(
                fld,
                kind,
                c.bool_(item, key, "tf", False),
                tuple(float(t) for t in thresholds),
            )
        )
    blocks = []
    for i, item in enumerate(_array_of_tables(c, tbl, "scoring.blocking", "blocking")):
        key = f"scoring.blocking[{i}]"
        c.keys(item, key, ("on", "sql", "replace"))
        on = c.str_list(item, key, "on", ())
        for f in on:
            if f not in allowed_fields and f not in DERIVED_BLOCK_COLUMNS:
                raise c.fail(
                    f"{key}.on",
                    f"{f!r} is not an account field: expected canonical or mapped account "
                    f"fields, or one of {', '.join(DERIVED_BLOCK_COLUMNS)}",
                    did_you_mean(f, sorted(allowed_fields | set(DERIVED_BLOCK_COLUMNS))),
                )
        sql = c.str_(item, key, "sql")
        if sql is not None:
            c.sql(one_expression, sql, f"{key}.sql", "one SQL condition over l.* and r.*")
        if not on and sql is None:
            raise c.fail(key, "needs `on` (a list of fields) or `sql`")
        blocks.append(Blocking(on, sql, c.bool_(item, key, "replace", False)))
    return ScoringConfig(
        enabled=c.bool_(tbl, "scoring", "enabled", True),
        accept=accept,
        review=review,
        margin=c.number(tbl, "scoring", "margin", 4.0, lo=0.0),
        defaults=c.bool_(tbl, "scoring", "defaults", True),
        comparisons=tuple(comps),
        blocking=tuple(blocks),
    )


def _array_of_tables(c: _Checker, tbl: dict, key: str, name: str) -> list[dict]:
    items = tbl.get(name, [])
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise c.fail(key, f"expected an array of tables ([[{key}]]), got {_kind(items)}")
    return items


def _parse_quality(c: _Checker, raw: Any, sources: dict[str, Source]) -> QualityConfig:
    tbl = c.table(raw, "quality")
    c.keys(tbl, "quality", ("max_conflicts", "max_pending_review", "min_linked_share"))
    shares = {}
    if "min_linked_share" in tbl:
        sub = c.table(tbl["min_linked_share"], "quality.min_linked_share")
        for s in sub:
            k = f"quality.min_linked_share.{s}"
            if s not in sources:
                raise c.fail(k, f"names no source: {s!r}", did_you_mean(s, sources))
            shares[s] = c.number(sub, "quality.min_linked_share", s, None, lo=0.0, hi=1.0)
    return QualityConfig(
        max_conflicts=c.number(tbl, "quality", "max_conflicts", None, integer=True, lo=0),
        max_pending_review=c.number(tbl, "quality", "max_pending_review", None, integer=True, lo=0),
        min_linked_share=shares,
    )
