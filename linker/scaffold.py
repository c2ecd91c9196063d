"""`linker init`: a new project from a commented template, or a complete bundled example."""

from __future__ import annotations

import shutil
from pathlib import Path

import tomli_w

from linker.config import CONFIG_NAME
from linker.errors import ConfigError, did_you_mean

EXAMPLES = ("acme",)

_HEADER = """\
# linker project. Reference: the README's "Configuration" section.
# Only [project] and [sources.*] are required; every other section has a default.
# Point each source at your export (.csv .parquet .json .jsonl) or write `query = "select ..."`.

"""

_TEMPLATE = {
    "project": {"name": "my-project", "accounts_sor": "product"},
    "sources": {
        "product": {
            "entity": "accounts",
            "path": "data/product_accounts.csv",
            "id": "id",
            "fields": {"name": "name", "domain": "website", "country": "country"},
        },
        "crm": {
            "entity": "accounts",
            "path": "data/crm_accounts.csv",
            "id": "Id",
            "fields": {
                "name": "Name",
                "domain": "Website",
                "country": "BillingCountry",
                "vat": "VAT_Number__c",
            },
            "refs": {"product": "Product_Account_Id__c"},
        },
    },
}


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
    cfg.write_text(_HEADER + tomli_w.dumps(_TEMPLATE), "utf-8")
    return [cfg]
