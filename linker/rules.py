"""Rules as data: load and validate rule files (each one a `Rule`), pick the configured
ones in order. Compiling them to SQL joins in DuckDB, which produce the edges, is
rule_sql.py.

A rule file (built-in in `rules/`, or the project's own in `PROJECT/rules/`, which wins on
a name clash) is TOML:

    name = "vat"
    description = "Same valid VAT number"
    entity = "accounts"          # or "contacts"
    equal = ["vat"]              # canonical fields equal and non-null on both sides
    where = "l.country = r.country"   # optional SQL over l.* and r.* (the two records)
    max_key_records = 25         # optional: a key held by more records makes no edges
    with_sor_contacts = true     # optional (accounts): users of the contacts SOR lend their
                                 # field values to their account record
    sor_contacts_only = true     # optional: only pairs where one side's key is a SOR user's
    trust = "suggestive"         # optional (accounts): "identifying" (the default) or
                                 # "suggestive"

Trust. A key that identifies a company (a stored reference, a valid VAT or registration
number, a system-of-record user's email) links by itself: an *identifying* rule's pairs are
certain edges. A key that only suggests one (name + country, a shared website domain, an
account email shared between systems) makes an edge only when nothing identifying disagrees
(VAT numbers, registration numbers or countries that differ) and something else agrees (a
similar name, a shared domain, phone, email, street address or postcode, contacts who are the
account's users); otherwise the pair is left to the scoring stage as evidence, never a certain
edge (table `suggestions`, shown by `linker explain`).

`kind` selects built-in behaviour instead of `equal`: `ref` (accounts), `own_account` and
`email_domain` (contacts). An `equal` rule on contacts matches a contact to a user of the
contacts system of record; an `in_account` rule does the same among the users of the account
the contact already resolved to (a name is too common to match across all users).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from linker.config import Config
from linker.db import one_expression
from linker.errors import ConfigError, did_you_mean

# Compiling rules is rule_sql.py's; imported here for `rules.run_account_rules` callers.
from linker.rule_sql import run_account_rules as run_account_rules

KINDS = {
    "accounts": ("equal", "ref"),
    "contacts": ("equal", "own_account", "email_domain", "in_account"),
}
TAKES_EQUAL = ("equal", "in_account")
_RULE_KEYS = (
    "name",
    "description",
    "entity",
    "kind",
    "equal",
    "where",
    "max_key_records",
    "with_sor_contacts",
    "sor_contacts_only",
    "trust",
)
TRUSTS = ("identifying", "suggestive")


@dataclass(frozen=True)
class Rule:
    name: str
    entity: str
    kind: str = "equal"
    description: str = ""
    equal: tuple[str, ...] = ()
    where: str | None = None
    max_key_records: int | None = None
    with_sor_contacts: bool = False
    sor_contacts_only: bool = False
    trust: str = "identifying"
    file: str = ""

    @property
    def suggestive(self) -> bool:
        return self.trust == "suggestive"

    @property
    def and_where(self) -> str:
        """`AND (where)` for a rule's SQL, the condition on lines of its own (a trailing `--`
        comment cannot eat what follows); empty without one."""
        return f"AND (\n{self.where}\n)" if self.where else ""


def builtin_rules_dir() -> Path:
    """The built-in rules: inside the wheel, or `rules/` of a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_builtin" / "rules"
    return packaged if packaged.is_dir() else here.parent / "rules"


@functools.cache
def _load_dir(directory: Path) -> dict[str, Rule]:
    found: dict[str, Rule] = {}
    for file in sorted(directory.glob("*.toml")):
        rule = load_rule_file(file)
        if rule.name in found:
            raise ConfigError(
                f"rule {rule.name!r} is defined twice (also in {found[rule.name].file})",
                file=str(file),
                key="name",
            )
        found[rule.name] = rule
    return found


def load_rule_file(file: Path) -> Rule:
    where = str(file)
    try:
        data = tomllib.loads(file.read_text("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"TOML syntax error: {e}", file=where) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=where) from None
    for k in data:
        if k not in _RULE_KEYS:
            raise ConfigError(
                "unknown key in a rule file",
                file=where,
                key=k,
                hint=did_you_mean(k, _RULE_KEYS) or f"valid keys: {', '.join(_RULE_KEYS)}",
            )
    for k in ("name", "entity"):
        if not isinstance(data.get(k), str) or not data[k].strip():
            raise ConfigError("missing or not a string", file=where, key=k)
    entity = data["entity"]
    if entity not in KINDS:
        raise ConfigError(
            f"expected 'accounts' or 'contacts', got {entity!r}", file=where, key="entity"
        )
    kind = data.get("kind", "equal")
    if kind not in KINDS[entity]:
        raise ConfigError(
            f"kind {kind!r} is not a {entity} rule kind; expected one of "
            f"{', '.join(KINDS[entity])}",
            file=where,
            key="kind",
        )
    equal = data.get("equal", [])
    if not isinstance(equal, list) or not all(isinstance(x, str) for x in equal):
        raise ConfigError("expected a list of field names", file=where, key="equal")
    if kind in TAKES_EQUAL and not equal:
        raise ConfigError(f"an {kind} rule needs at least one field", file=where, key="equal")
    if kind not in TAKES_EQUAL and equal:
        raise ConfigError(f"a {kind} rule takes no `equal` fields", file=where, key="equal")
    mkr = data.get("max_key_records")
    if mkr is not None and (not isinstance(mkr, int) or isinstance(mkr, bool) or mkr < 2):
        raise ConfigError("expected an integer >= 2", file=where, key="max_key_records")
    wsc = data.get("with_sor_contacts", False)
    if not isinstance(wsc, bool):
        raise ConfigError("expected true or false", file=where, key="with_sor_contacts")
    only = data.get("sor_contacts_only", False)
    if not isinstance(only, bool):
        raise ConfigError("expected true or false", file=where, key="sor_contacts_only")
    if only and not wsc:
        raise ConfigError(
            "sor_contacts_only needs with_sor_contacts = true", file=where, key="sor_contacts_only"
        )
    trust = data.get("trust", "identifying")
    if trust not in TRUSTS:
        raise ConfigError(
            f"expected 'identifying' or 'suggestive', got {trust!r}", file=where, key="trust"
        )
    if trust == "suggestive" and (entity != "accounts" or kind != "equal"):
        raise ConfigError(
            "only an accounts rule comparing fields (`equal`) can be suggestive",
            file=where,
            key="trust",
        )
    w = data.get("where")
    if w is not None and not isinstance(w, str):
        raise ConfigError("expected a SQL condition (a string)", file=where, key="where")
    if w is not None:
        try:
            one_expression(w)
        except ValueError as e:
            raise ConfigError(
                f"must be one SQL condition over l.* and r.*: {e}", file=where, key="where"
            ) from None
    return Rule(
        name=data["name"],
        entity=entity,
        kind=kind,
        description=str(data.get("description", "")),
        equal=tuple(equal),
        where=w,
        max_key_records=mkr,
        with_sor_contacts=wsc,
        sor_contacts_only=only,
        trust=trust,
        file=where,
    )


def available_rules(config: Config) -> dict[str, Rule]:
    """Built-in rules, overridden by the project's own `rules/*.toml`."""
    rules = dict(_load_dir(builtin_rules_dir()))
    own = config.root / "rules"
    if own.is_dir():
        rules.update(_load_dir(own.resolve()))
    return rules


def ordered_rules(config: Config, fields: list[str]) -> tuple[list[Rule], list[Rule]]:
    """The account rules and contact rules to run, in their configured order, validated."""
    avail = available_rules(config)
    out: dict[str, list[Rule]] = {}
    for entity, key, names in (
        ("accounts", "rules.order", config.rules.order),
        ("contacts", "rules.contacts_order", config.rules.contacts_order),
    ):
        chosen = []
        for name in names:
            if name not in avail:
                raise ConfigError(
                    f"names no rule: {name!r}",
                    file=str(config.file),
                    key=key,
                    hint=did_you_mean(name, avail)
                    or f"rules available: {', '.join(sorted(avail))}",
                )
            rule = avail[name]
            if rule.entity != entity:
                raise ConfigError(
                    f"rule {name!r} is a {rule.entity} rule", file=str(config.file), key=key
                )
            for f in rule.equal:
                if f not in fields:
                    raise ConfigError(
                        f"rule {name!r} compares unknown field {f!r}",
                        file=rule.file,
                        key="equal",
                        hint=did_you_mean(f, fields),
                    )
            chosen.append(rule)
        if len(set(names)) != len(names):
            raise ConfigError("a rule is listed twice", file=str(config.file), key=key)
        out[entity] = chosen
    return out["accounts"], out["contacts"]
