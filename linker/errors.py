"""One exception family. The CLI turns each into a message on stderr and an exit code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes are part of the interface: CI jobs branch on them."""

    OK = 0
    QUALITY_GATE = 1  # the run completed but a [quality] gate failed
    # usage or configuration error; also the environment: another command holds the project,
    # the publication or state cannot be written (read-only, disk full, no permission)
    CONFIG = 2
    INPUT = 3  # input data error: a source, decisions.jsonl or a truth file is wrong
    INTERNAL = 4  # a bug in linker; the traceback is saved to .linker/crash-*.log
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it); nothing written is torn


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

    def lines(self) -> list[str]:
        """The message and the hint, each one line of its own (the CLI escapes each: a newline
        inside a value named here never starts a line on the terminal)."""
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.key:
            where.append(f"key {self.key}")
        if self.column:
            where.append(f"column {self.column!r}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        return [text, f"  hint: {self.hint}"] if self.hint else [text]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class ConfigError(LinkerError):
    """linker.toml, a rule file or the command line is wrong (exit 2)."""

    exit_code = ExitCode.CONFIG


class InputError(LinkerError):
    """A source file or its rows are wrong (exit 3)."""

    exit_code = ExitCode.INPUT


class ProjectBusy(ConfigError):
    """Another linker command holds the project's lock (exit 2)."""


class ReviewOvertaken(ConfigError):
    """A review sitting may not write: `linker forget` erased records after it opened (exit 2)."""


class EnvironmentProblem(ConfigError):
    """The machine refused: a file linker must write is read-only, the disk is full (exit 2)."""


# errno values that are the machine's answer, not a bug: disk full, quota, read-only file
# system, no permission.
ENVIRONMENT_ERRNOS = frozenset({28, 122, 30, 13, 1})  # ENOSPC EDQUOT EROFS EACCES EPERM


def environment_problem(e: BaseException) -> EnvironmentProblem | None:
    """An EnvironmentProblem for an OSError (or DuckDB I/O error) the machine caused, else None."""
    import errno as _errno

    if isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS:
        what = {
            _errno.ENOSPC: "cannot write: the disk is full",
            _errno.EDQUOT: "cannot write: the disk quota is exceeded",
            _errno.EROFS: "cannot write: the file system is read-only",
        }.get(e.errno, "permission denied")
        return EnvironmentProblem(
            what,
            file=str(e.filename) if e.filename else None,
            hint="free space or fix the permissions, then rerun; nothing published was changed",
        )
    text = str(e)
    if type(e).__name__ == "OutOfMemoryException" and type(e).__module__.startswith(
        ("duckdb", "_duckdb")
    ):
        return EnvironmentProblem(
            f"DuckDB ran out of its memory budget ({text.splitlines()[0][:200]})",
            key="engine.memory_limit",
            hint="raise [engine] memory_limit in linker.toml (it is the budget DuckDB spills to "
            "disk beyond; most of a run spills, a few steps cannot), then rerun; nothing "
            "published was changed",
        )
    for needle, what in (
        ("No space left on device", "cannot write: the disk is full"),
        ("Read-only file system", "cannot write: the file system is read-only"),
        ("Permission denied", "permission denied"),
    ):
        if needle in text and type(e).__module__.startswith(("duckdb", "_duckdb")):
            return EnvironmentProblem(
                f"{what} ({text.splitlines()[0][:200]})",
                hint="free space or fix the permissions, then rerun; nothing published was changed",
            )
    return None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the nearest valid choice, or None when nothing is close."""
    choices = list(choices)
    same = [c for c in choices if c.lower() == word.lower() and c != word]
    if same:
        return f"did you mean {same[0]!r}?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
