"""System presets: how a tool's standard export looks, as data (`presets/*.toml`).

`[sources.X] system = "zendesk.organization"` supplies what that tool's export always has:
the entity, the id column (and its id format), the field mapping of its standard columns, the
key holding the records in its API export's wrapper (`records`, JSON only), where its standard
fields hold a reference (`"@sor"`: the project's accounts system of record), and, for
contacts, the column naming their account in the project's source of `account_system`.
Everything the source's own keys say wins over the preset, key by key (a field, a ref).
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

SOR = "@sor"  # in a preset's refs: the project's accounts system of record
_KEYS = (
    "system",
    "description",
    "entity",
    "id",
    "id_format",
    "records",
    "fields",
    "refs",
    "account_system",
    "account_column",
)


def builtin_presets_dir() -> Path:
    """The built-in presets: inside the wheel, or `presets/` of a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_builtin" / "presets"
    return packaged if packaged.is_dir() else here.parent / "presets"


@functools.cache
def presets() -> dict[str, dict[str, Any]]:
    """Every built-in preset by its system name."""
    found: dict[str, dict[str, Any]] = {}
    for file in sorted(builtin_presets_dir().glob("*.toml")):
        data = tomllib.loads(file.read_text(encoding="utf-8"))
        unknown = sorted(set(data) - set(_KEYS))
        if unknown or data.get("system") != file.stem:
            raise ValueError(f"{file}: a preset's keys are {_KEYS} and its system its file name")
        found[data["system"]] = data
    return found


def apply(
    raw: dict[str, Any], preset: dict[str, Any], accounts_sor: str | None, systems: dict[str, str]
) -> dict[str, Any]:
    """The source table `raw` with the preset's values under its own. `systems` maps a system
    name to the project's source using it (for a contacts preset's account link)."""
    out = dict(raw)
    for k in ("entity", "id", "id_format"):
        if k in preset and k not in raw:
            out[k] = preset[k]
    fmt = raw.get("format") or Path(str(raw.get("path", ""))).suffix.lower().lstrip(".")
    if "records" in preset and "records" not in raw and fmt in ("json", "jsonl", "ndjson"):
        out["records"] = preset["records"]
    out["fields"] = {**preset.get("fields", {}), **raw.get("fields", {})}
    refs = {
        (accounts_sor if target == SOR else target): col
        for target, col in preset.get("refs", {}).items()
        if target != SOR or accounts_sor is not None
    }
    refs.pop(raw.get("_name"), None)  # the SOR itself holds no reference to itself
    out["refs"] = {**refs, **raw.get("refs", {})}
    # A preset maps every standard column; one export may lack some: those are optional.
    out["_optional"] = [
        *(f"fields.{f}" for f in preset.get("fields", {}) if f not in raw.get("fields", {})),
        *(f"refs.{t}" for t in refs if t not in raw.get("refs", {})),
    ]
    target = systems.get(preset.get("account_system", ""))
    if "account" not in raw and target is not None and "account_column" in preset:
        out["account"] = {"source": target, "column": preset["account_column"]}
    out.pop("_name", None)
    return out


def resolved_mapping(source: Any) -> dict[str, Any]:
    """What a source maps, as `linker check` prints it."""
    return {
        "system": source.system,
        "id": source.id,
        "id_format": source.id_format,
        "records": source.records,
        "fields": dict(source.fields),
        "refs": dict(source.refs),
        "account": (
            {"source": source.account.source, "column": source.account.column}
            if source.account
            else None
        ),
    }
