"""The reviewers' append-only decisions log (`decisions.jsonl`).

One JSON object a line:

    {"left": ["crm", "0017b…"], "right": ["product", "34"], "decision": "match",
     "reviewer": "ana", "at": "2026-11-23T10:00:00Z", "note": ""}

`decision` is `match`, `no_match` or `undo` (takes back the latest match/no_match about
that pair). The last word about a pair wins; the pair is unordered. Lines are appended and
fsynced, never rewritten (but by `linker forget`, atomically). A line that is not JSON can
only be a torn write (a crash mid-write; each line is written with one call): it is ignored
with a warning. A JSON line with wrong fields (a hand edit gone wrong) is an input error
naming the line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from linker.errors import InputError
from linker.publish import fsync

DECISIONS_FILE = "decisions.jsonl"
ERASURE_MARK = "erasures"  # in .linker/: changes whenever `linker forget` erases something
VALUES = ("match", "no_match", "undo")
# Lines git writes into a file with an unresolved merge conflict (diff3 style included).
_CONFLICT_MARKER = re.compile(rb"^(<{7}|={7}|>{7}|\|{7})( |\r?$)")


@dataclass(frozen=True)
class Decision:
    left: tuple[str, str]
    right: tuple[str, str]
    decision: str
    reviewer: str = ""
    at: str = ""
    note: str = ""

    @property
    def pair(self) -> tuple[tuple[str, str], tuple[str, str]]:
        a, b = sorted([self.left, self.right])
        return a, b

    def to_json(self) -> str:
        d = asdict(self)
        d["left"], d["right"] = list(self.left), list(self.right)
        return json.dumps(d, ensure_ascii=False, sort_keys=False)


def read_log(path: Path) -> tuple[list[Decision], list[str]]:
    """All decisions in file order, and warnings (a torn last line)."""
    if not path.exists():
        return [], []
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError(
            "is a directory, expected the decisions log (a file of JSON lines)", file=str(path)
        ) from None
    except OSError as e:
        raise InputError(f"cannot read the decisions log: {e.strerror}", file=str(path)) from None
    lines = data.split(b"\n")
    for i, raw in enumerate(lines):
        if _CONFLICT_MARKER.match(raw):
            raise InputError(
                "an unresolved merge conflict (a git conflict marker line)",
                file=str(path),
                line=i + 1,
                hint="the log is append-only: keep the lines of both sides, delete the marker "
                "lines (<<<<<<<, =======, >>>>>>>), then rerun",
            )
    out: list[Decision] = []
    warnings: list[str] = []
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    for i, raw in enumerate(lines[: last + 1]):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            # linker writes each line with one write(): a line that is not JSON is a torn write.
            where = "last line" if i == last else "line"
            warnings.append(f"{path}:{i + 1}: torn {where} ignored (a crash while writing?)")
            continue
        try:
            out.append(_parse(obj))
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(
                f"bad decision line: {e}",
                file=str(path),
                line=i + 1,
                hint="each line must be one JSON object as documented in docs/reviewing.md",
            ) from None
    return out, warnings


def _parse(obj: dict) -> Decision:
    if not isinstance(obj, dict):
        raise TypeError("expected a JSON object")
    if not all(k in obj for k in ("left", "right", "decision")):
        raise KeyError('each decision needs "left", "right" and "decision"')
    left, right = obj["left"], obj["right"]
    for side in (left, right):
        if not (
            isinstance(side, list) and len(side) == 2 and all(isinstance(x, str) for x in side)
        ):
            raise TypeError('"left" and "right" must be ["source", "id"]')
    if obj["decision"] not in VALUES:
        raise ValueError(f"decision must be one of {', '.join(VALUES)}, got {obj['decision']!r}")
    if tuple(left) == tuple(right):
        raise ValueError('"left" and "right" name the same record')
    for k in ("reviewer", "at", "note"):
        if obj.get(k) is not None and not isinstance(obj[k], str):
            raise TypeError(f'"{k}" must be a string, got {type(obj[k]).__name__}')
    return Decision(
        tuple(left),
        tuple(right),
        obj["decision"],
        obj.get("reviewer") or "",
        obj.get("at") or "",
        obj.get("note") or "",
    )


class Standing:
    """The standing decision per pair as decisions arrive (undo pops the pair's latest)."""

    def __init__(self, decisions: Iterable[Decision] = ()) -> None:
        self._stacks: dict[tuple, list[Decision]] = {}
        for d in decisions:
            self.add(d)

    def add(self, d: Decision) -> None:
        stack = self._stacks.setdefault(d.pair, [])
        if d.decision != "undo":
            stack.append(d)
        elif stack:
            stack.pop()

    def get(self, pair: tuple) -> Decision | None:
        stack = self._stacks.get(pair)
        return stack[-1] if stack else None

    def as_dict(self) -> dict[tuple, Decision]:
        return {pair: s[-1] for pair, s in self._stacks.items() if s}


def current(decisions: list[Decision]) -> dict[tuple, Decision]:
    """The standing decision per pair after undos: pair -> Decision (match or no_match)."""
    return Standing(decisions).as_dict()


def append(path: Path, decision: Decision, guard: Callable[[], None] | None = None) -> None:
    """Append one decision and fsync it before returning: a killed terminal loses nothing.

    The line goes out in one write() under an exclusive lock on the file, so two reviewers
    appending at once never interleave, and an append waiting while `linker forget` rewrites
    the log lands in the new file, not in the replaced one. `guard` runs under the lock before
    the write; when it raises, nothing is written (a review sitting that an erasure overtook).
    """
    path = path.resolve()  # a symlinked log: the lock and the line go to the real file
    new = not path.exists()
    line = (decision.to_json() + "\n").encode("utf-8")
    with locked(path, create=True) as fd:
        if guard is not None:
            guard()
        size = os.fstat(fd).st_size
        # A torn last line from an earlier crash must not swallow this one.
        sep = b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""
        os.write(fd, sep + line)
        os.fsync(fd)
    if new:
        fsync(path.parent)


@contextlib.contextmanager
def locked(path: Path, *, create: bool = False) -> Iterator[int]:
    """An exclusive lock on the log file as it is now (an fd open for reading and appending).

    Whoever replaces the file (forget's atomic rewrite) holds this lock meanwhile; a waiter
    that wakes to find its file replaced retries on the new one.
    """
    flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
    while True:
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                yield fd
                return
        finally:
            os.close(fd)  # also releases the lock


def erasure_mark(state_dir: Path) -> str | None:
    """The current erasure mark (None before the first erasure). A review sitting compares it
    before each decision: one opened before an erasure holds the erased records in memory."""
    try:
        return (state_dir / ERASURE_MARK).read_text("utf-8")
    except OSError:
        return None


def new_erasure_mark(state_dir: Path) -> None:
    """Change the erasure mark (before `linker forget` touches the log): every review sitting
    open now stops accepting decisions."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / ERASURE_MARK
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(secrets.token_hex(16), "utf-8")
    os.replace(tmp, path)
    fsync(state_dir)
