"""What `Project` hands back and reports through: plain classes with no heavy imports, so the
command line can name them without loading DuckDB or Arrow (`linker --help` stays quick)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path


class Progress:
    """Where stages report what they do. The default says nothing (library use is quiet)."""

    def stage(self, name: str) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def warn(self, message: str) -> None:
        pass


@dataclass
class RunResult:
    run_id: str
    report: dict
    gates: list[dict]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    manifest: dict | None = None
    published_to: Path | None = None  # the publication directory, when one was written

    @property
    def gates_failed(self) -> list[dict]:
        return [g for g in self.gates if not g["ok"]]
