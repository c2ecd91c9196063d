"""Load and validate linker.toml into frozen dataclasses, strictly, before any data is read.

Every problem is a ConfigError naming the file and the dotted key; unknown keys get the
nearest valid key as a hint.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linker.db import one_expression, one_select
from linker.errors import ConfigError, did_you_mean

CONFIG_NAME = "linker.toml"

ACCOUNT_FIELDS = (
    "name",
    "domain",
    "email",
    "phone",
    "country",
    "city",
    "address",
    "postcode",
    "vat",
    "registration_number",
    "join_date",
)
CONTACT_FIELDS = ("email", "first_name", "last_name", "full_name", "phone")
ENTITIES = ("accounts", "contacts")
FORMATS = ("csv", "parquet", "json", "jsonl")
COMPARISON_KINDS = ("name", "exact", "jaro_winkler", "levenshtein", "email", "date", "postcode")
# `email` (an account email shared between systems) is not in the default order: measured on
# data with multi-site organizations, 3 of its 14 links were right (a shared accounts mailbox
# is the organization's, not a site's). A project may list it.
DEFAULT_ACCOUNT_RULES = (
    "ref",
    "vat",
    "registration",
    "user_email",
    "domain",
    "name_country",
)
DEFAULT_CONTACT_RULES = ("sor_user", "own_account", "email_domain", "user_name_in_account")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class AccountLink:
    """A contacts source's link to the account record it belongs to."""

    source: str
    column: str


@dataclass(frozen=True)
class Source:
    name: str
    entity: str
    id: str
    path: Path | None = None
    query: str | None = None
    filter: str | None = None
    format: str | None = None
    delimiter: str | None = None
    # JSON: the key whose array holds the records, in an API export's wrapper object
    # ({"organizations": [...], "next_page": ...}); several pages (an array of them, or one
    # per line) are one source
    records: str | None = None
    # how the system writes its ids (ID_FORMATS): "salesforce" makes a record's 15- and
    # 18-character ids one id, here and in every reference to this source
    id_format: str | None = None
    system: str | None = None  # the preset it started from (presets/), if any
    # "fields.X" / "refs.Y" the preset supplied: read when the export has the column, else null
    optional: frozenset[str] = frozenset()
    fields: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    account: AccountLink | None = None

    @property
    def label(self) -> str:
        """How messages name this source's origin: its file, or 'query of sources.X'."""
        return str(self.path) if self.path is not None else f"query of sources.{self.name}"


@dataclass(frozen=True)
class RulesConfig:
    order: tuple[str, ...] = DEFAULT_ACCOUNT_RULES
    contacts_order: tuple[str, ...] = DEFAULT_CONTACT_RULES
    max_key_records: int = 25


@dataclass(frozen=True)
class Comparison:
    field: str
    kind: str
    tf: bool = False
    thresholds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Blocking:
    on: tuple[str, ...] = ()
    sql: str | None = None
    replace: bool = False  # true: the configured rules replace the generated ones


# Columns the scoring stage derives, which `[[scoring.blocking]] on` may name besides fields.
DERIVED_BLOCK_COLUMNS = (
    "name__block",  # the name's rarer words (a list: records sharing one are compared)
    "name__first",  # the name's first word
    "phone_tail",  # the phone's last 7 digits
    "address_number",  # the house number
    "address__block",  # (house number, street word) pairs, a list
    "members_block",  # the accounts a record's contacts are users of, a list
)


@dataclass(frozen=True)
class ScoringConfig:
    enabled: bool = True
    accept: float = 0.99
    review: float = 0.50  # measured: see docs/scoring.md, Thresholds
    margin: float = 4.0  # match-weight bits: a closer runner-up sends the record to review
    defaults: bool = True  # compare the fields present by default, besides `comparisons`
    comparisons: tuple[Comparison, ...] = ()
    blocking: tuple[Blocking, ...] = ()


@dataclass(frozen=True)
class QualityConfig:
    max_conflicts: int | None = None
    max_pending_review: int | None = None
    min_linked_share: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishConfig:
    out: Path = Path("crosswalk")
    keep: int = 10


@dataclass(frozen=True)
class Config:
    file: Path
    root: Path
    name: str
    accounts_sor: str
    contacts_sor: str | None
    sources: dict[str, Source]
    default_country: str | None = None  # ISO 3166 alpha-2, for records that carry none
    rules: RulesConfig = RulesConfig()
    scoring: ScoringConfig = ScoringConfig()
    duplicates_policy: str = "report"
    quality: QualityConfig = QualityConfig()
    publish: PublishConfig = PublishConfig()
    digest: str = ""
    warnings: tuple[str, ...] = ()

    def sources_of(self, entity: str) -> list[Source]:
        return [s for s in self.sources.values() if s.entity == entity]

    @property
    def users_account_source(self) -> str:
        """The accounts source the contacts SOR's users link to (normally the accounts SOR)."""
        if self.contacts_sor is None:
            return self.accounts_sor
        link = self.sources[self.contacts_sor].account
        return link.source if link else self.accounts_sor

    @property
    def out_dir(self) -> Path:
        out = self.publish.out
        return out if out.is_absolute() else self.root / out


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


# --- loading --------------------------------------------------------------------------

ID_FORMATS = ("salesforce",)  # how a source may say it writes its ids (ingest.record_id_sql)
_IDENT_KEY = re.compile(r"^[^.\s]+$")  # one key of a JSON object (no dots, no spaces)
_TOP = ("project", "sources", "rules", "scoring", "duplicates", "quality", "publish")
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


def find_config(project: Path) -> Path:
    """The linker.toml of a project directory, or a ConfigError saying what is missing."""
    project = project.expanduser()
    if project.is_file() and project.name.endswith(".toml"):
        return project
    if not project.exists():
        raise ConfigError(f"project directory {project} does not exist")
    file = project / CONFIG_NAME
    if not file.is_file():
        raise ConfigError(
            f"no {CONFIG_NAME} in {project.resolve()}",
            hint="run `linker init DIR` to create a project, or pass -p/--project DIR",
        )
    return file


def load_config(project: Path) -> Config:
    """Read and validate a project's linker.toml. Raises ConfigError (exit 2)."""
    file = find_config(project)
    raw_bytes = file.read_bytes()
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(file)
        ) from None
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None)
        msg = getattr(e, "msg", str(e))
        raise ConfigError(f"TOML syntax error: {msg}", file=str(file), line=line) from None
    return parse_config(data, file, digest=hashlib.sha256(raw_bytes).hexdigest())


def parse_config(data: dict[str, Any], file: Path, digest: str = "") -> Config:
    c = _Checker(file)
    root = file.parent
    c.keys(data, "", _TOP, required=("project", "sources"))

    proj = c.table(data["project"], "project")
    c.keys(
        proj,
        "project",
        ("name", "accounts_sor", "contacts_sor", "default_country"),
        ("name", "accounts_sor"),
    )
    name = c.str_(proj, "project", "name")
    accounts_sor = c.str_(proj, "project", "accounts_sor")
    contacts_sor = c.str_(proj, "project", "contacts_sor")
    default_country = _country_code(c, c.str_(proj, "project", "default_country"))

    srcs = c.table(data["sources"], "sources")
    if not srcs:
        raise c.fail("sources", "no sources defined", "add a [sources.NAME] table per input")
    # System presets (presets/*.toml) fill what a source does not say itself.
    systems = {n: r["system"] for n, r in srcs.items() if isinstance(r, dict) and "system" in r}
    by_system: dict[str, str] = {}
    for n, system in systems.items():
        by_system.setdefault(system, n)
    sources: dict[str, Source] = {}
    for sname, sraw in srcs.items():
        if isinstance(sraw, dict) and "system" in sraw:
            sraw = _with_preset(c, sname, sraw, accounts_sor, by_system)
        sources[sname] = _parse_source(c, sname, sraw, root)
    _no_case_clashes(c, sources)

    # Cross references: every name must point at a source of the right entity.
    def must_be(key: str, ref: str, entity: str | None) -> None:
        if ref not in sources:
            raise c.fail(key, f"names no source: {ref!r}", did_you_mean(ref, sources))
        if entity and sources[ref].entity != entity:
            raise c.fail(
                key, f"source {ref!r} has entity {sources[ref].entity!r}, expected {entity!r}"
            )

    must_be("project.accounts_sor", accounts_sor, "accounts")
    if contacts_sor is not None:
        must_be("project.contacts_sor", contacts_sor, "contacts")
    for s in sources.values():
        for target in s.refs:
            must_be(f"sources.{s.name}.refs.{target}", target, None)
            if target == s.name:
                raise c.fail(f"sources.{s.name}.refs.{target}", "a source cannot refer to itself")
        if s.account is not None:
            must_be(f"sources.{s.name}.account.source", s.account.source, "accounts")
    if contacts_sor is not None and sources[contacts_sor].account is None:
        raise c.fail(
            f"sources.{contacts_sor}.account",
            "the contacts system of record needs an account link",
            'e.g. account = { source = "product", column = "account_id" }',
        )

    rules = _parse_rules(c, data.get("rules", {}))
    scoring = _parse_scoring(c, data.get("scoring", {}), sources)
    dup = c.table(data.get("duplicates", {}), "duplicates")
    c.keys(dup, "duplicates", ("policy",))
    policy = c.str_(dup, "duplicates", "policy", "report")
    if policy not in ("report", "merge"):
        raise c.fail("duplicates.policy", f"expected 'report' or 'merge', got {policy!r}")
    quality = _parse_quality(c, data.get("quality", {}), sources)
    pub = c.table(data.get("publish", {}), "publish")
    c.keys(pub, "publish", ("out", "keep"))
    publish = PublishConfig(
        out=Path(c.str_(pub, "publish", "out", "crosswalk")),
        keep=c.number(pub, "publish", "keep", 10, integer=True, lo=0, hi=10_000),
    )
    return Config(
        file=file,
        root=root,
        name=name,
        accounts_sor=accounts_sor,
        contacts_sor=contacts_sor,
        sources=sources,
        default_country=default_country,
        rules=rules,
        scoring=scoring,
        duplicates_policy=policy,
        quality=quality,
        publish=publish,
        digest=digest,
        warnings=tuple(c.warnings),
    )


def _no_case_clashes(c: _Checker, sources: dict[str, Source]) -> None:
    """Source names and field names become DuckDB names, which ignore case: `product` and
    `Product`, or a field `Name` beside `name`, would silently be one table or column."""
    seen: dict[str, str] = {}
    for name in sources:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise c.fail(
                f"sources.{name}",
                f"differs from source {other!r} only in letter case; source names ignore case",
                "give the two sources names that differ in letters",
            )
    fields: dict[str, tuple[str, str]] = {
        f.lower(): (f, "a canonical field") for f in (*ACCOUNT_FIELDS, *CONTACT_FIELDS)
    }
    for s in sources.values():
        for f in s.fields:
            other, where = fields.setdefault(f.lower(), (f, f"sources.{s.name}.fields"))
            if other != f:
                raise c.fail(
                    f"sources.{s.name}.fields.{f}",
                    f"differs from {other!r} ({where}) only in letter case; field names ignore case",
                    f"use {other!r}, or a name that differs in letters",
                )


def _country_code(c: _Checker, value: str | None) -> str | None:
    """An ISO 3166 alpha-2 code (any case), or a ConfigError naming what was given."""
    if value is None:
        return None
    import pycountry

    code = value.strip().upper()
    if len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None:
        return code
    guess = pycountry.countries.get(alpha_3=code) if len(code) == 3 else None
    if guess is None:
        try:
            guess = pycountry.countries.lookup(value.strip())
        except LookupError:
            guess = None
    raise c.fail(
        "project.default_country",
        f"expected an ISO 3166 two-letter country code, got {value!r}",
        f"did you mean {guess.alpha_2!r}?" if guess is not None else 'e.g. "US", "DE", "GB"',
    )


def _with_preset(
    c: _Checker, sname: str, raw: dict, accounts_sor: str | None, by_system: dict[str, str]
) -> dict:
    """The source's table with its system preset's values under its own."""
    from linker import presets

    key = f"sources.{sname}.system"
    system = raw["system"]
    known = presets.presets()
    if not isinstance(system, str) or system not in known:
        raise c.fail(
            key,
            f"no preset {system!r}",
            did_you_mean(str(system), known) or f"presets: {', '.join(sorted(known))}",
        )
    return presets.apply({**raw, "_name": sname}, known[system], accounts_sor, by_system)


def _parse_source(c: _Checker, sname: str, raw: Any, root: Path) -> Source:
    key = f"sources.{sname}"
    if not _IDENT.match(sname):
        raise c.fail(key, "source names must be letters, digits and _, starting with a letter")
    tbl = c.table(raw, key)
    # `_optional` is the preset merge's own mark (presets.apply), never a user's key.
    internal = ("_optional",) if "system" in tbl else ()
    c.keys(tbl, key, (*_SOURCE_KEYS, *internal), required=("entity", "id"))
    entity = c.str_(tbl, key, "entity")
    if entity not in ENTITIES:
        raise c.fail(
            f"{key}.entity",
            f"expected 'accounts' or 'contacts', got {entity!r}",
            did_you_mean(entity, ENTITIES),
        )
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
    id_format = c.str_(tbl, key, "id_format")
    if id_format is not None and id_format not in ID_FORMATS:
        raise c.fail(
            f"{key}.id_format",
            f"expected one of {', '.join(ID_FORMATS)}, got {id_format!r}",
            did_you_mean(id_format, ID_FORMATS),
        )
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
        kind = c.str_(item, key, "kind")
        if kind not in COMPARISON_KINDS:
            raise c.fail(
                f"{key}.kind",
                f"expected one of {', '.join(COMPARISON_KINDS)}, got {kind!r}",
                did_you_mean(kind, COMPARISON_KINDS),
            )
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
