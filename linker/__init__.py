"""linker: resolve every system's customer records to one account_id (the system of record's id)
and publish a Parquet crosswalk.

The public API is what this module exports: the `Project` facade, the review session the
review app works through, the errors. The CLI (`linker.cli`) and the review app (`tui/`) are
built on it; `tui/` imports nothing else of linker. This package never imports textual or tui.

The names load on first use (PEP 562), so `import linker` (and `linker --help`) does not load
DuckDB, Arrow or Splink.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and editors see
    from linker.decisions import Decision
    from linker.display import visible
    from linker.errors import ConfigError, ExitCode, InputError, LinkerError
    from linker.project import Project
    from linker.results import (
        CheckResult,
        DryRunResult,
        EvaluateResult,
        ExplainResult,
        ForgetResult,
        Progress,
        RunResult,
        StatusResult,
        TrainResult,
    )
    from linker.review import (
        Edge,
        Evidence,
        FieldRow,
        Item,
        Record,
        ReviewProgress,
        ReviewSession,
        default_reviewer,
    )

# Each public name and the module that defines it.
_WHERE = {
    "CheckResult": "linker.results",
    "DryRunResult": "linker.results",
    "EvaluateResult": "linker.results",
    "ExplainResult": "linker.results",
    "ForgetResult": "linker.results",
    "StatusResult": "linker.results",
    "TrainResult": "linker.results",
    "ConfigError": "linker.errors",
    "Decision": "linker.decisions",
    "Edge": "linker.review",
    "Evidence": "linker.review",
    "ExitCode": "linker.errors",
    "FieldRow": "linker.review",
    "InputError": "linker.errors",
    "Item": "linker.review",
    "LinkerError": "linker.errors",
    "Progress": "linker.results",
    "Project": "linker.project",
    "Record": "linker.review",
    "ReviewProgress": "linker.review",
    "ReviewSession": "linker.review",
    "RunResult": "linker.results",
    "default_reviewer": "linker.review",
    "visible": "linker.display",
}
__all__ = [
    "CheckResult",
    "ConfigError",
    "Decision",
    "DryRunResult",
    "Edge",
    "EvaluateResult",
    "Evidence",
    "ExitCode",
    "ExplainResult",
    "FieldRow",
    "ForgetResult",
    "InputError",
    "Item",
    "LinkerError",
    "Progress",
    "Project",
    "Record",
    "ReviewProgress",
    "ReviewSession",
    "RunResult",
    "StatusResult",
    "TrainResult",
    "default_reviewer",
    "visible",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'linker' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
