"""Load and validate linker.toml into frozen dataclasses, strictly, before any data is read.

Every problem is a ConfigError naming the file and the dotted key; unknown keys get the
nearest valid key as a hint. This module reads the file and checks across tables; the
dataclasses are in config_model.py, the checker and the parsers of single tables in
config_sections.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from linker.config_model import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    DUPLICATE_POLICIES,
    ENGINES,
    MEMORY_LIMIT,
    Config,
    EngineConfig,
    PublishConfig,
    Source,
)

# Blocking, Comparison, ScoringConfig: re-exported, other modules import them from here.
from linker.config_model import Blocking as Blocking
from linker.config_model import Comparison as Comparison
from linker.config_model import ScoringConfig as ScoringConfig
from linker.config_sections import (
    _Checker,
    _parse_quality,
    _parse_rules,
    _parse_scoring,
    _parse_source,
)
from linker.errors import ConfigError, did_you_mean

CONFIG_NAME = "linker.toml"

# --- loading --------------------------------------------------------------------------

_TOP = ("project", "sources", "rules", "scoring", "duplicates", "quality", "publish", "engine")


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
    return parse_config(data, file, digest=answer_digest(data))


# [project] keys that say how a run uses the machine, not what it answers (the older spelling
# of [engine] memory_limit).
RESOURCE_KEYS = ("memory_limit",)


def answer_digest(data: dict[str, Any]) -> str:
    """The config's digest, which the run id hashes: what it says (comments, spacing and the
    order of keys aside), less the resource keys and [engine] — a run under another memory
    budget, thread count or spill directory gives the same answer, under the same run id, in
    the same bytes, and does not recompute it. (DuckDB is the only engine; a second one,
    whose probabilities may differ in the last digits, will enter the run id by its name.)"""
    kept = {k: v for k, v in data.items() if k != "engine"}
    if isinstance(kept.get("project"), dict):
        kept["project"] = {k: v for k, v in kept["project"].items() if k not in RESOURCE_KEYS}
    text = json.dumps(kept, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_config(data: dict[str, Any], file: Path, digest: str = "") -> Config:
    c = _Checker(file)
    root = file.parent
    c.keys(data, "", _TOP, required=("project", "sources"))

    proj = c.table(data["project"], "project")
    c.keys(
        proj,
        "project",
        ("name", "accounts_sor", "contacts_sor", "default_country", "memory_limit"),
        ("name", "accounts_sor"),
    )
    name = c.str_(proj, "project", "name")
    accounts_sor = c.str_(proj, "project", "accounts_sor")
    contacts_sor = c.str_(proj, "project", "contacts_sor")
    default_country = _country_code(c, c.str_(proj, "project", "default_country"))
    engine = _parse_engine(c, data.get("engine", {}), proj, root)

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
    if policy not in DUPLICATE_POLICIES:
        expected = " or ".join(repr(p) for p in DUPLICATE_POLICIES)
        raise c.fail("duplicates.policy", f"expected {expected}, got {policy!r}")
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
        engine=engine,
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


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def _parse_engine(c: _Checker, raw: Any, proj: dict[str, Any], root: Path) -> EngineConfig:
    """[engine]; `memory_limit` may also be in [project] (its older place), not in both."""
    eng = c.table(raw, "engine")
    c.keys(eng, "engine", ("name", "memory_limit", "threads", "temp_directory"))
    name = c.str_(eng, "engine", "name", "duckdb")
    if name not in ENGINES:
        raise c.fail(
            "engine.name",
            f"expected 'duckdb', got {name!r}"
            + (
                ": linker runs on DuckDB only; a Spark engine is planned, not built"
                if name.lower() == "spark"
                else ""
            ),
            "remove the key (DuckDB is the default)",
        )
    if "memory_limit" in eng and "memory_limit" in proj:
        raise c.fail(
            "project.memory_limit",
            "the memory budget is set twice, in [project] and in [engine]",
            "keep [engine] memory_limit and remove [project] memory_limit",
        )
    tbl, where = (eng, "engine") if "memory_limit" in eng else (proj, "project")
    memory_limit = _memory_limit(c, c.str_(tbl, where, "memory_limit"), f"{where}.memory_limit")
    temp = c.str_(eng, "engine", "temp_directory")
    return EngineConfig(
        name=name,
        memory_limit=memory_limit,
        threads=c.number(eng, "engine", "threads", None, integer=True, lo=1, hi=1024),
        temp_directory=None if temp is None else (root / Path(temp).expanduser()).resolve(),
    )


def _memory_limit(c: _Checker, value: str | None, key: str) -> str:
    """DuckDB's memory budget as it spells sizes ("2GB", "512 MiB"); the default when unset."""
    if value is None:
        return MEMORY_LIMIT
    m = _SIZE.fullmatch(value.strip())
    if m is None:
        raise c.fail(
            key,
            f"expected a size such as '2GB' or '512MB', got {value!r}",
            "DuckDB spills to [engine] temp_directory (default .linker/tmp) beyond it; raise "
            "it to trade memory for time",
        )
    return f"{m.group(1)}{m.group(2).upper().replace('I', 'i')}"


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
