"""The readers of the Ingestor: for one source (CSV, Parquet, JSON/JSONL, an API export's
wrapper or a SQL query) the DuckDB SQL that reads it, and DuckDB's errors turned into ours.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from linker.config import Config, Source
from linker.db import ident, literal, rows
from linker.errors import ConfigError, InputError, did_you_mean
from linker.ingest_files import (
    _check_file,
    _first_bad_json_line,
    _first_csv_record,
    _json_layout,
    _mixed_newlines,
    _os_reason,
    _sniff_delimiter,
)


class Readers:
    """Ingestor's reading methods (a mixin: the state it uses is Ingestor's)."""

    con: duckdb.DuckDBPyConnection
    config: Config
    _empty_why: dict[str, str]
    _header_bytes: dict[str, int]
    _scratch: list[Path]

    def _reader_sql(self, s: Source) -> str:
        if s.query is not None:
            return f"(\n{s.query}\n) AS q"
        path = s.path
        assert path is not None
        if _check_file(s, path) == 0:
            return self._empty_reader(s, "empty file (0 bytes)")
        if s.format == "csv":
            return self._csv_reader(s, path)
        if s.format == "parquet":
            return f"read_parquet({literal(str(path))})"
        return self._json_reader(s, path)

    def _csv_reader(self, s: Source, path: Path, lf_copy: bool = False) -> str:
        """A strict CSV reader: header from line 1, delimiter detected from it, all text.

        DuckDB's own sniffer can take a ragged file for a one-column file; parsing the
        header ourselves and reading strictly makes a ragged row an error naming its line.
        With `lf_copy` DuckDB reads a copy whose line endings are all LF.
        """
        with path.open("rb") as fh:
            head = fh.read(65536)
        if not head.removeprefix(codecs.BOM_UTF8).strip():
            return self._empty_reader(s, "empty file (no header)")
        try:
            head.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            if e.start < len(head) - 4:  # a cut multibyte character at the end is fine
                line = head[: e.start].count(b"\n") + 1
                raise InputError(
                    f"not UTF-8 text (byte 0x{head[e.start]:02x}); save the file as UTF-8",
                    file=str(path),
                    line=line,
                ) from None
        first = _first_csv_record(path)
        self._header_bytes[s.name] = len(first.encode()) + head.startswith(codecs.BOM_UTF8) * 3
        # DuckDB reads no rows at all (and says nothing) from a file whose header holds a line
        # break unlike the file's own: such a file is read from an LF copy too.
        if not lf_copy and re.search(r"[\r\n]", first.rstrip("\r\n")):
            lf_copy = _mixed_newlines(path)
        delim = s.delimiter or _sniff_delimiter(re.sub(r'"[^"]*"', "", first))
        try:
            header = next(csv.reader(io.StringIO(first, newline=""), delimiter=delim), [])
        except csv.Error as e:
            raise InputError(f"cannot read the header: {e}", file=str(path), line=1) from None
        # A line break inside a quoted header name reads as one space ("Billing\nCity").
        header = [re.sub(r"\s*[\r\n]+\s*", " ", h.strip()) for h in header]
        if any(not h for h in header):
            raise InputError(
                f"empty column name in the header (column {header.index('') + 1})",
                file=str(path),
                line=1,
            )
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise InputError(
                f"duplicate column names in the header: {', '.join(dupes)}", file=str(path), line=1
            )
        by_case: dict[str, list[str]] = {}
        for h in header:
            by_case.setdefault(h.lower(), []).append(h)
        clash = next((names for names in by_case.values() if len(names) > 1), None)
        if clash:
            raise InputError(
                f"column names that differ only by case: {clash[0]!r} and {clash[1]!r} "
                "(column names are case-insensitive in DuckDB, so they would be one column)",
                file=str(path),
                line=1,
                hint="rename one of them in the file",
            )
        cols = ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header)
        return (
            f"read_csv({literal(str(self._lf_copy(s) if lf_copy else path))}, header = false, "
            f"skip = 1, auto_detect = false, columns = {{{cols}}}, delim = {literal(delim)}, "
            "quote = '\"', escape = '\"', strict_mode = true, encoding = 'utf-8')"
        )

    def _lf_copy(self, s: Source) -> Path:
        """A copy of a CSV with CRLF line endings made LF (line numbers stay the same), in the
        project's state directory; streamed, never the whole file in memory."""
        assert s.path is not None
        scratch = self.config.root / ".linker"
        try:
            scratch.mkdir(exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"ingest-{s.name}-", suffix=".csv", dir=scratch)
            self._scratch.append(Path(name))
            with os.fdopen(fd, "wb") as out, s.path.open("rb") as src:
                cr = b""
                while chunk := src.read(1 << 20):
                    chunk = cr + chunk
                    cr = b"\r" if chunk.endswith(b"\r") else b""
                    out.write(chunk[: len(chunk) - len(cr)].replace(b"\r\n", b"\n"))
                out.write(cr)
        except OSError as e:
            raise InputError(
                f"its lines end in both CRLF and LF, and a copy with one kind could not be "
                f"written to {scratch}: {_os_reason(e)}",
                file=str(s.path),
            ) from None
        return Path(name)

    def _unwrapped(self, s: Source, path: Path) -> Path:
        """An API export's records as JSONL in the state directory: the array under
        `records` of the wrapper object — of every page, when the file holds several (an array
        of them, or one per line)."""
        assert s.records is not None
        keys = s.records.split(".")
        scratch = self.config.root / ".linker"
        try:
            text = path.read_text(encoding="utf-8-sig")
            pages: list = []
            if s.format == "jsonl":
                for n, line in enumerate(text.splitlines(), 1):
                    if line.strip():
                        try:
                            pages.append(json.loads(line))
                        except ValueError as e:
                            raise InputError(f"line {n} is not JSON: {e}", file=str(path)) from None
            else:
                try:
                    doc = json.loads(text)
                except ValueError as e:
                    raise InputError(f"not JSON: {e}", file=str(path)) from None
                pages = doc if isinstance(doc, list) else [doc]
            scratch.mkdir(exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"ingest-{s.name}-", suffix=".jsonl", dir=scratch)
            self._scratch.append(Path(name))
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for n, page in enumerate(pages, 1):
                    found: Any = page
                    for k in keys:
                        if not isinstance(found, dict) or k not in found:
                            has = sorted(found) if isinstance(found, dict) else []
                            raise InputError(
                                f"no key {s.records!r} in "
                                + (f"page {n}" if len(pages) > 1 else "the JSON document")
                                + (f"; it has: {', '.join(has[:20])}" if has else ""),
                                file=str(path),
                                key=f"sources.{s.name}.records",
                                hint=did_you_mean(k, has) if has else None,
                            )
                        found = found[k]
                    if not isinstance(found, list):
                        raise InputError(
                            f"{s.records!r} holds {type(found).__name__}, not an array of records",
                            file=str(path),
                            key=f"sources.{s.name}.records",
                        )
                    for rec in found:
                        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        except OSError as e:
            raise InputError(
                f"cannot unwrap its records into {scratch}: {_os_reason(e)}", file=str(path)
            ) from None
        return Path(name)

    def _json_reader(self, s: Source, path: Path) -> str:
        """JSON or JSONL with every column's type taken from all records, not a sample (a
        sample can cast a late 34.5 to 34), and text kept as text: a value whose type varies
        between records (`"cus_1"` here, `34` there) is VARCHAR, never DuckDB's JSON type
        (which keeps a string's quotes); a UUID is VARCHAR, not a UUID (lower-cased).
        With `records`, the records come out of the API export's wrapper first."""
        if s.records is not None:
            path = self._unwrapped(s, path)
            if path.stat().st_size == 0:
                return self._empty_reader(s, f"no records under {s.records!r}")
            s = dataclasses.replace(s, format="jsonl")
        layout = _json_layout(path)
        if layout == "blank":
            return self._empty_reader(s, "empty file (whitespace only)")
        if layout == "empty array":
            return self._empty_reader(s, "an empty JSON array (no records)")
        # A BOM hides the opening bracket from format = 'auto'; the bracket is looked for here.
        fmt = "newline_delimited" if s.format == "jsonl" else layout
        base = f"read_json({literal(str(path))}, format = {literal(fmt)}"
        rel = self.con.sql(f"SELECT * FROM {base}, sample_size = -1)")
        names, types = rel.columns, rel.types
        self._check_json_keys(path, fmt, names)
        cols = ", ".join(
            f"{literal(n)}: {literal(_plain_type(t))}" for n, t in zip(names, types, strict=True)
        )
        return f"{base}, columns = {{{cols}}})"

    def _check_json_keys(self, path: Path, fmt: str, names: list[str]) -> None:
        """Keys differing only by case ("Name", "name") are one column to DuckDB, which reads
        the second as "name_1" and, with the columns spelled out, loses its values."""
        lowered = {n.lower() for n in names}
        if not any(
            (m := re.fullmatch(r"(.+)_\d+", n)) and m.group(1).lower() in lowered for n in names
        ):
            return
        by_case: dict[str, set[str]] = {}
        for (k,) in rows(
            self.con,
            f"SELECT DISTINCT unnest(json_keys(json)) FROM read_json_objects("
            f"{literal(str(path))}, format = {literal(fmt)}) ORDER BY 1",
        ):
            by_case.setdefault(k.lower(), set()).add(k)
        clash = next((sorted(v) for v in by_case.values() if len(v) > 1), None)
        if clash:
            raise InputError(
                f"keys that differ only by case: {clash[0]!r} and {clash[1]!r} (column names "
                "are case-insensitive in DuckDB, so one of them would be lost)",
                file=str(path),
                hint="rename one of them in the export",
            )

    def _empty_reader(self, s: Source, why: str) -> str:
        self._empty_why[s.name] = why
        needed = _needed_columns(s)
        cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {ident(c.split('.')[0])}" for c in needed)
        return f"(SELECT {cols} WHERE false) AS empty"

    def _translate(self, s: Source, e: duckdb.Error) -> Exception:
        msg = str(e)
        first = msg.splitlines()[0] if msg else type(e).__name__
        candidates = next(
            (ln.strip() for ln in msg.splitlines() if ln.startswith("Candidate")), None
        )
        if candidates:  # DuckDB's own "did you mean" for a misspelt column
            first = f"{first} ({candidates})"
        if s.filter and isinstance(e, duckdb.BinderException | duckdb.ParserException):
            return ConfigError(
                f"the import filter failed: {_clean(first)}",
                file=str(self.config.file),
                key=f"sources.{s.name}.filter",
            )
        if s.query is not None:
            return ConfigError(
                f"the query failed: {_clean(first)}",
                file=str(self.config.file),
                key=f"sources.{s.name}.query",
                hint="a query may name sources defined above it as tables",
            )
        line = None
        m = re.search(r"CSV Error on Line: (\d+)", msg)
        if m:
            line = int(m.group(1))
            counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", msg)
            if counts:
                text = (
                    f"row has {counts.group(2)} fields, the header has {counts.group(1)} "
                    "(a ragged row, or a stray delimiter or quote)"
                )
            elif "unicode" in msg.lower() or "utf-8" in msg.lower():
                text = "not UTF-8 text; save the file as UTF-8"
            else:
                text = _clean(msg.splitlines()[1] if len(msg.splitlines()) > 1 else first)
            return InputError(f"unreadable row: {text}", file=str(s.path), line=line)
        if s.format == "jsonl" and "json" in msg.lower():
            line, why = _first_bad_json_line(s.path)
            return InputError(f"malformed JSON: {why}", file=str(s.path), line=line)
        if s.format == "json" and "json" in msg.lower():
            return InputError(f"malformed JSON: {_clean(first)}", file=str(s.path))
        return InputError(f"cannot read {s.format or 'file'}: {_clean(first)}", file=str(s.path))


def _needed_columns(s: Source) -> list[str]:
    cols = [s.id, *s.fields.values(), *s.refs.values()]
    if s.account is not None:
        cols.append(s.account.column)
    seen: list[str] = []
    for c in cols:
        if c.split(".")[0] not in [x.split(".")[0] for x in seen]:
            seen.append(c)
    return seen


_KEPT_TYPES = {
    "boolean",
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "hugeint",
    "utinyint",
    "usmallint",
    "uinteger",
    "ubigint",
    "uhugeint",
    "float",
    "double",
    "decimal",
    # Dates stay dates, so filters keep comparing them as dates (`created_at >= DATE '…'`).
    "date",
    "time",
    "time with time zone",
    "timestamp",
    "timestamp with time zone",
    "timestamp_s",
    "timestamp_ms",
    "timestamp_ns",
}


def _plain_type(t: duckdb.sqltypes.DuckDBPyType) -> str:
    """A JSON column's type with text kept as text: numbers, booleans and dates stay what they
    are, nesting stays nested, anything else (JSON of mixed types, UUID, all null) is VARCHAR."""
    if t.id == "struct":
        # duckdb's stub types `children` for every type id at once (a decimal's are ints, an
        # enum's a list of strings); a struct's are (name, type).
        fields = (f"{ident(n)} {_plain_type(c)}" for n, c in t.children)  # type: ignore[arg-type]  # a struct's children are types
        return "STRUCT(" + ", ".join(fields) + ")"
    if t.id == "list":
        return f"{_plain_type(t.child)}[]"
    if t.id == "map":
        return f"MAP({_plain_type(t.key)}, {_plain_type(t.value)})"
    return str(t) if t.id in _KEPT_TYPES else "VARCHAR"


def _clean(text: str) -> str:
    return re.sub(r"^[A-Za-z ]+Error: ", "", text).strip()
