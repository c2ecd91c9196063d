"""linker: resolve every system's customer records to one account_id (the system of record's id)
and publish a Parquet crosswalk.

The public API is what this module exports: the `Project` facade, the review session the
review app works through, the errors. The CLI (`linker.cli`) and the review app (`tui/`) are
built on it; `tui/` imports nothing else of linker. This package never imports textual or tui.
"""

from linker.decisions import Decision
from linker.display import visible
from linker.errors import ConfigError, ExitCode, InputError, LinkerError
from linker.project import Progress, Project, RunResult
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

__all__ = [
    "ConfigError",
    "Decision",
    "Edge",
    "Evidence",
    "ExitCode",
    "FieldRow",
    "InputError",
    "Item",
    "LinkerError",
    "Progress",
    "Project",
    "Record",
    "ReviewProgress",
    "ReviewSession",
    "RunResult",
    "default_reviewer",
    "visible",
]
__version__ = "0.1.0"
