"""The model file: `model.json` read and written, the `Model` it holds, and `NotEnoughData`,
the error when there is too little to build a model from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from linker.config import Comparison
from linker.errors import ConfigError

MODEL_FORMAT = 1


class NotEnoughData(ConfigError):
    """Training needs open records and enough linked ones."""


@dataclass(frozen=True)
class Model:
    path: Path
    settings: dict  # Splink's
    meta: dict  # ours: plan digest, training summary

    @property
    def comparisons(self) -> list[dict]:
        return self.meta["comparisons"]


# --- the model file ------------------------------------------------------------------------


def save_model(model: Model) -> None:
    body = json.dumps({"linker": model.meta, "splink": model.settings}, indent=1, sort_keys=True)
    tmp = model.path.with_suffix(".json.tmp")
    tmp.write_text(body + "\n", encoding="utf-8")
    tmp.replace(model.path)


def load_model(path: Path) -> Model:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        meta, settings = raw["linker"], raw["splink"]
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"model format {meta.get('format')!r}, expected {MODEL_FORMAT}")
        meta["comparisons"], settings["comparisons"]  # noqa: B018 - both must be there
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            f"cannot read the model: {e}",
            file=str(path),
            hint="retrain it with `linker train` (it is rebuilt from the project's data)",
        ) from None
    return Model(path, settings, meta)


def model_comparisons(model: Model) -> list[Comparison]:
    return [
        Comparison(c["field"], c["kind"], bool(c["tf"]), tuple(c["thresholds"]))
        for c in model.comparisons
    ]
