"""Checks on a source file before DuckDB reads it, in plain Python: that it can be read, its
CSV header, line endings and delimiter, its JSON layout, the first line that is not JSON.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
from pathlib import Path

from linker.config import Source
from linker.errors import InputError


def _first_bad_json_line(path: Path | None) -> tuple[int | None, str]:
    """The first line of a JSONL file that is not JSON (looked for only on the error path)."""
    assert path is not None
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if n == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if not raw.strip():
                continue
            try:
                json.loads(raw)
            except ValueError as e:
                torn = not raw.endswith(b"\n")
                return n, ("the last line is cut off (a torn write?)" if torn else str(e))
    return None, "DuckDB could not parse the file"


def _check_file(s: Source, path: Path) -> int:
    """The size of a source file that can be read; an InputError naming it otherwise."""
    key = f"sources.{s.name}.path"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError("file not found", file=str(path), key=key) from None
    except OSError as e:
        raise InputError(f"cannot read: {_os_reason(e)}", file=str(path), key=key) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory, expected a file", file=str(path))
    if not stat.S_ISREG(st.st_mode):
        # A named pipe would block the run (holding the project's lock) until a writer came.
        raise InputError(
            "not a regular file (a named pipe, socket or device); linker reads a source more "
            "than once, so save the export to a file first",
            file=str(path),
            key=key,
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise InputError(f"cannot read: {_os_reason(e)}", file=str(path), key=key) from None
    return st.st_size


def _os_reason(e: OSError) -> str:
    reason = e.strerror or type(e).__name__
    return reason[:1].lower() + reason[1:]


_HEADER_LIMIT = 16 << 20  # characters: a "header" longer than this is not one


def _first_csv_record(path: Path) -> str:
    """The text of a CSV file's first record (its header): any length, and over several lines
    when a quoted name holds a line break. A BOM is dropped."""
    parts: list[str] = []
    size = quotes = 0
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            while line := fh.readline(_HEADER_LIMIT):
                parts.append(line)
                size += len(line)
                quotes += line.count('"')
                if quotes % 2 == 0 and line.endswith(("\n", "\r")):
                    break
                if size >= _HEADER_LIMIT:
                    raise InputError(
                        "the header is longer than 16 MiB (an unclosed quote?)",
                        file=str(path),
                        line=1,
                    )
    except UnicodeDecodeError as e:
        raise InputError(
            f"not UTF-8 text in the header ({e.reason}); save the file as UTF-8",
            file=str(path),
            line=1,
        ) from None
    return "".join(parts)


def _mixed_newlines(path: Path | None) -> bool:
    """Whether a file's lines end in both CRLF and a bare LF (read in chunks, not whole)."""
    assert path is not None
    crlf = lf = 0
    prev_cr = False
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lf += chunk.count(b"\n")
            crlf += chunk.count(b"\r\n") + (prev_cr and chunk.startswith(b"\n"))
            prev_cr = chunk.endswith(b"\r")
            if crlf and lf > crlf:
                return True
    return False


def _has_data_after(path: Path | None, offset: int) -> bool:
    """Whether a file holds anything but whitespace after its first `offset` bytes."""
    assert path is not None
    with path.open("rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(1 << 20):
            if chunk.strip():
                return True
    return False


def _json_layout(path: Path) -> str:
    """'array' (a top-level JSON array), 'empty array', 'blank' (whitespace only) or 'auto',
    from the first bytes after a BOM."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    text = head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    if not text:
        return "blank" if len(head) < 65536 else "auto"
    if text.startswith(b"["):
        return "empty array" if text[1:].lstrip(b" \t\r\n").startswith(b"]") else "array"
    return "auto"


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV header line: the most frequent of , ; TAB |."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
