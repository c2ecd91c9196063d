"""One exception family. The CLI turns each into a message on stderr and an exit code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes are part of the interface: CI jobs branch on them."""

    OK = 0
    QUALITY_GATE = 1  # the run completed but a [quality] gate failed
    CONFIG = 2  # usage or configuration error (also: another command holds the project)
    INPUT = 3  # input data error
    INTERNAL = 4  # a bug in linker; the traceback is saved to .linker/crash.log


class LinkerError(Exception):
    """Base of every error a user can cause. Carries where it happened."""

    exit_code = ExitCode.CONFIG

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        column: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.key = key
        self.column = column
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.key:
            where.append(f"key {self.key}")
        if self.column:
            where.append(f"column {self.column!r}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(LinkerError):
    """linker.toml, a rule file or the command line is wrong (exit 2)."""

    exit_code = ExitCode.CONFIG


class InputError(LinkerError):
    """A source file or its rows are wrong (exit 3)."""

    exit_code = ExitCode.INPUT


class ProjectBusy(ConfigError):
    """Another linker command holds the project's lock (exit 2)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the nearest valid choice, or None when nothing is close."""
    choices = list(choices)
    same = [c for c in choices if c.lower() == word.lower() and c != word]
    if same:
        return f"did you mean {same[0]!r}?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
