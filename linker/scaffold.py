"""`linker init`: a new project from a commented template, or a complete bundled example."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import tomli_w

from linker.config import ACCOUNT_FIELDS, CONFIG_NAME, CONTACT_FIELDS
from linker.errors import ConfigError, did_you_mean

EXAMPLES = ("acme",)

# The template `linker init` writes: every section, commented, so a user sees what there is.
# It parses as it stands (tests/test_cli.py); its data files are the user's to add.
TEMPLATE = """\
# linker project. Reference: docs/configuration.md and docs/connecting.md.
# Only [project] and [sources.*] are required; every other section has a default.
# Point each source at your export (.csv .parquet .json .jsonl) or write `query = "select ..."`;
# a tool's standard export can be named instead of mapped: system = "zendesk.organization".
# `linker check` shows what each source maps and what will link.

[project]
name = "my-project"
accounts_sor = "product"          # the system of record: its ids are the account_ids
contacts_sor = "product_users"    # optional: the users whose ids are the user_ids
# default_country = "DE"          # for phones and records without a country

[sources.product]                 # your product's accounts
entity = "accounts"
path = "data/product_accounts.csv"
id = "id"
# filter = "status <> 'deleted'"
[sources.product.fields]          # canonical field = your column ("a.b": a nested field)
name = "name"
domain = "website"
country = "country"

[sources.product_users]           # your product's users
entity = "contacts"
path = "data/product_users.csv"
id = "id"
account = { source = "product", column = "account_id" }
[sources.product_users.fields]
email = "email"
full_name = "name"

[sources.crm]                     # a CRM's accounts, mapped by hand
entity = "accounts"
path = "data/crm_accounts.csv"
id = "Id"
[sources.crm.fields]
name = "Name"
domain = "Website"
country = "BillingCountry"
vat = "VAT_Number__c"
[sources.crm.refs]                # a column holding another source's id
product = "Product_Account_Id__c"

# [sources.support]               # a tool's standard export, by its preset
# system = "zendesk.organization"
# path = "data/organizations.json"

# [rules]                         # built-in rules in rules/; order = which wins
# order = ["ref", "vat", "registration", "user_email", "domain", "name_country"]

# [scoring]                       # the probabilistic stage (Splink) for what rules left open
# accept = 0.99                   # link at or above this probability
# review = 0.5                    # queue for review at or above this

# [duplicates]
# policy = "report"               # or "merge": one system's duplicates follow their leading record

# [quality]                       # a failed gate makes `linker run` exit 1 and blocks --publish
# max_conflicts = 50
# min_linked_share = { crm = 0.7 }

# [publish]
# out = "crosswalk"
# keep = 10                       # past publications kept in crosswalk/_history/
"""


def example_dir(name: str) -> Path:
    """A bundled example: inside the wheel, or fixtures/ of a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_builtin" / "examples" / name
    return packaged if packaged.is_dir() else here.parent / "fixtures" / name


def init_project(directory: Path, *, example: str | None = None, force: bool = False) -> list[Path]:
    if (directory / CONFIG_NAME).exists() and not force:
        raise ConfigError(
            f"{directory / CONFIG_NAME} already exists",
            key="DIR",
            hint="choose another directory, or pass --force to overwrite",
        )
    if example is not None:
        if example not in EXAMPLES:
            raise ConfigError(
                f"no example named {example!r}",
                key="--example",
                hint=did_you_mean(example, EXAMPLES) or f"examples: {', '.join(EXAMPLES)}",
            )
        src = example_dir(example)
        if not (src / CONFIG_NAME).is_file():
            raise ConfigError(
                f"the bundled example {example!r} is missing from this installation", file=str(src)
            )
        directory.mkdir(parents=True, exist_ok=True)
        created = []
        for item in (CONFIG_NAME, "data", "truth.csv", "model.json"):
            s, d = src / item, directory / item
            if s.is_dir():
                shutil.copytree(s, d, dirs_exist_ok=True)
                created += [p for p in d.rglob("*") if p.is_file()]
            elif s.is_file():
                shutil.copy2(s, d)
                created.append(d)
        return created
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    cfg = directory / CONFIG_NAME
    cfg.write_text(TEMPLATE, "utf-8")
    return [cfg]


# --- `linker init DIR --from FILE...`: a config from the exports themselves ---------------------

# Column names that say which canonical field an unrecognised export holds (lower case).
_GUESS = {
    "name": ("name", "company_name", "company", "account_name", "organization", "organisation"),
    "domain": ("website", "domain", "url", "web"),
    "email": ("email", "e-mail", "mail"),
    "country": ("country", "country_code"),
    "city": ("city", "town"),
    "phone": ("phone", "telephone", "phone_number"),
    "vat": ("vat", "vat_number", "vat_id", "tax_id"),
}
_ID_GUESS = ("id", "Id", "ID", "uuid", "account_id")


def export_columns(path: Path) -> tuple[list[str], str | None]:
    """The columns of an export file (nested objects as a.b), and the key holding its records
    when it is an API export's wrapper."""

    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        with path.open(newline="", encoding="utf-8-sig") as fh:
            head = fh.readline()
        delim = (
            "\t"
            if head.count("\t") > head.count(",")
            else (";" if head.count(";") > head.count(",") else ",")
        )
        return next(csv.reader([head], delimiter=delim), []), None
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names), None
    text = path.read_text(encoding="utf-8-sig")
    if suffix in (".jsonl", ".ndjson"):
        docs = [json.loads(x) for x in text.splitlines()[:20] if x.strip()]
    else:
        doc = json.loads(text)
        docs = doc if isinstance(doc, list) else [doc]
    records, key = docs, None
    first = docs[0] if docs else {}
    if isinstance(first, dict) and not _looks_like_record(first):
        key = next(
            (k for k, v in first.items() if isinstance(v, list) and v and isinstance(v[0], dict)),
            None,
        )
        if key is not None:
            records = [r for d in docs if isinstance(d, dict) for r in d.get(key, [])][:50]
    cols: list[str] = []
    for rec in records[:50]:
        if isinstance(rec, dict):
            for c in _flat_keys(rec):
                if c not in cols:
                    cols.append(c)
    return cols, key


def _looks_like_record(obj: dict) -> bool:
    """A record has scalar values next to its id; a wrapper is mostly lists and paging."""
    return any(k in obj for k in _ID_GUESS) and not any(
        isinstance(v, list) and v and isinstance(v[0], dict) for v in obj.values()
    )


def _flat_keys(obj: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in obj.items():
        out.append(prefix + k)
        if isinstance(v, dict):
            out += _flat_keys(v, f"{prefix}{k}.")
    return out


# Columns every tool (and a product database) may have: weak evidence of which tool it is.
_GENERIC = {"id", "name", "email", "phone", "website", "domain", "country", "city", "address"}


def recognise(columns: list[str], records_key: str | None) -> str | None:
    """The preset whose export these columns are: its id column present, and the most of its
    standard columns, at least one of them particular to the tool (a column any export may
    have, `name`, counts half; the API wrapper's key counts two); None when none fits."""
    from linker.presets import presets

    have = set(columns) | {c.split(".")[0] for c in columns}
    best, best_score = None, 1.0
    for system, p in sorted(presets().items()):
        if p["id"] not in have:
            continue
        cols = [
            *p.get("fields", {}).values(),
            *(c.split(".")[0] for c in p.get("refs", {}).values()),  # metadata.account_id
            *([p["account_column"]] if "account_column" in p else []),
        ]
        hits = [c for c in dict.fromkeys(cols) if c in have]
        particular = [c for c in hits if c.lower() not in _GENERIC]
        wrapper = records_key is not None and p.get("records") == records_key
        if not particular and not wrapper:
            continue
        score = len(particular) + 0.5 * (len(hits) - len(particular)) + 2 * wrapper
        if score > best_score:
            best, best_score = system, score
    return best


def init_from(directory: Path, files: list[Path], *, force: bool = False) -> tuple[Path, list[str]]:
    """A commented linker.toml for these export files: each recognised one as its system
    preset, the others mapped by their column names. Returns the file and what was found."""

    from linker.presets import presets

    if (directory / CONFIG_NAME).exists() and not force:
        raise ConfigError(
            f"{directory / CONFIG_NAME} already exists",
            key="DIR",
            hint="choose another directory, or pass --force to overwrite",
        )
    known = presets()
    blocks: list[tuple[str, str, list[str]]] = []  # (name, entity, lines)
    found: list[str] = []
    used: set[str] = set()
    for f in files:
        if not f.is_file():
            raise ConfigError(f"no such file: {f}", key="--from")
        try:
            cols, key = export_columns(f)
        except (ValueError, OSError) as e:
            raise ConfigError(f"cannot read {f}: {e}", key="--from") from None
        system = recognise(cols, key)
        base = system.replace(".", "_") if system else _source_name(f.stem)
        name = base
        while name in used:
            name += "_2"
        used.add(name)
        path = os.path.relpath(f.resolve(), directory.resolve())
        lines = [f"[sources.{name}]"]
        if system:
            p = known[system]
            entity = p["entity"]
            lines += [
                _kv("system", system) + f"  # {p.get('description', '')}",
                _kv("path", path),
            ]
            found.append(f"{f.name}: {system}")
        else:
            low = {_norm_col(c): c for c in cols}  # "Company name" reads as company_name
            guessed = {
                field: next((low[_norm_col(n)] for n in names if _norm_col(n) in low), None)
                for field, names in _GUESS.items()
            }
            # People, not companies: an email and no company name.
            entity = "contacts" if guessed["email"] and not guessed["name"] else "accounts"
            id_col = next((c for c in _ID_GUESS if c in cols), cols[0] if cols else "id")
            lines += [
                _kv("entity", entity) + "  # accounts (companies) or contacts (people)",
                _kv("path", path),
                _kv("id", id_col),
            ]
            if entity == "contacts":
                lines.append(
                    '# account = { source = "...", column = "account_id" }  # their account'
                )
            lines.append(f"[sources.{name}.fields]  # canonical field = column")
            canonical = ACCOUNT_FIELDS if entity == "accounts" else CONTACT_FIELDS
            lines += [
                _kv(field, col)
                for field, col in guessed.items()
                if col is not None and field in canonical
            ]
            found.append(f"{f.name}: no preset fits; mapped by its column names")
        blocks.append((name, entity, lines))
    accounts = [n for n, e, _ in blocks if e == "accounts"]
    if not accounts:
        raise ConfigError("none of these files holds accounts", key="--from")
    plain = [
        n
        for n, e, lines in blocks
        if e == "accounts" and not any(x.startswith("system") for x in lines)
    ]
    sor = (plain or accounts)[0]
    text = [
        "# linker project written by `linker init --from` from the exports it was given.",
        "# Reference: docs/configuration.md and docs/connecting.md in linker's repository.",
        "# Check what it understood: `linker check` (fill rates, references that name records).",
        "",
        "[project]",
        _kv("name", _source_name(directory.resolve().name)),
        _kv("accounts_sor", sor) + "  # the system of record: its ids are the account_ids",
        "",
    ]
    for name, entity, lines in blocks:
        text += lines
        system = next((x.split('"')[1] for x in lines if x.startswith("system")), None)
        if system and entity == "accounts" and "@sor" not in known[system].get("refs", {}):
            # The tool keeps your account id in a custom field: only you know its name.
            text.append(f"# [sources.{name}.refs]  # the custom field holding your account id:")
            text.append(f'# {sor} = "Product_Account_Id__c"')
        text.append("")
    text += [
        "# [quality]                       # gates: a failed one makes `linker run` exit 1",
        "# max_conflicts = 50",
        "# [scoring]                       # accept / review thresholds of the probabilistic stage",
        "# accept = 0.99",
    ]
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / CONFIG_NAME
    cfg.write_text("\n".join(text) + "\n", "utf-8")
    return cfg, found


def _norm_col(name: str) -> str:

    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _kv(key: str, value: str) -> str:
    """One `key = value` TOML line, quoted and escaped by tomli-w (a path may hold quotes or
    backslashes; a column name may hold spaces)."""
    return tomli_w.dumps({key: value}).strip()


def _source_name(text: str) -> str:

    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "source"
    return name if name[0].isalpha() else f"s_{name}"
