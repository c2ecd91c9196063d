"""linker: resolve every system's customer records to one account_id (the system of record's id)
and publish a Parquet crosswalk.

The public API is the `Project` facade; the CLI (`linker.cli`) and the review app (`tui/`)
are built on it. This package never imports textual or tui.
"""

from linker.errors import ConfigError, ExitCode, InputError, LinkerError
from linker.project import Progress, Project, RunResult

__all__ = [
    "ConfigError",
    "ExitCode",
    "InputError",
    "LinkerError",
    "Progress",
    "Project",
    "RunResult",
]
__version__ = "0.1.0"
