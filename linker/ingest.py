"""Read every source into DuckDB and map its columns onto the canonical schema.

Each source lands twice: as `src.<name>` (its own columns, after the import filter, plus
`_row`, the 1-based data row) so later `query` sources, `explain` and the review app can see
it, and as rows of `raw_records` (one per record: `rid`, source, normalized id text and the
mapped fields as text), which the normalize stage turns into `records`.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from linker.config import ACCOUNT_FIELDS, CONTACT_FIELDS, Config, Source
from linker.db import columns, ident, literal, rows, scalar
from linker.errors import ConfigError, InputError, did_you_mean

# Canonical fields that may hold several values (a list column, or "a.com; b.com").
LIST_FIELDS = ("domain",)
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)
_FLOATS = ("FLOAT", "DOUBLE", "REAL")


@dataclass
class IngestStats:
    """What ingest saw of one source; the run report is built from these."""

    source: str
    rows: int = 0
    records: int = 0
    null_ids: list[int] = field(default_factory=list)  # data rows without an id
    duplicate_ids: list[str] = field(default_factory=list)  # ids seen twice (non-SOR: one kept)
    fingerprint: str = ""  # order-independent hash of the imported rows
    # No records at all (an empty file or JSON array, a header-only CSV, a filter or query that
    # leaves nothing): the publication will hold none of this source's rows. Never true of a
    # system of record, which stops the run instead.
    empty: bool = False


# Id formats a source may declare (`id_format`, config.ID_FORMATS): its ids, and every
# reference to them, are compared in the format's canonical form.

# Salesforce ids: a 15-character id is case-sensitive; its 18-character form adds 3 characters
# that encode the case of the first 15, so it survives case-insensitive tools (Excel, some
# warehouses). One record's two forms are one id: the canonical form is the 18-character one,
# its case restored from the suffix (an id that is not 15/18 letters and digits is kept).
_ID_MACROS = (
    """CREATE OR REPLACE TEMP MACRO linker_sf_suffix(x15) AS array_to_string([
         substr('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', 1 + list_sum([
           CASE WHEN regexp_full_match(substr(x15, c * 5 + b + 1, 1), '[A-Z]') THEN (1 << b)
           ELSE 0 END FOR b IN range(5)])::INTEGER, 1) FOR c IN range(3)], '')""",
    """CREATE OR REPLACE TEMP MACRO linker_sf_case(x15, sfx) AS array_to_string([
         CASE WHEN ((position(upper(substr(sfx, (i // 5) + 1, 1))
                              IN 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345') - 1) >> (i % 5)) & 1 = 1
         THEN upper(substr(x15, i + 1, 1)) ELSE lower(substr(x15, i + 1, 1)) END
         FOR i IN range(15)], '')""",
    """CREATE OR REPLACE TEMP MACRO linker_sf_id(x) AS CASE
         WHEN x IS NULL THEN NULL
         WHEN regexp_full_match(x, '[0-9A-Za-z]{15}') THEN x || linker_sf_suffix(x)
         WHEN regexp_full_match(x, '[0-9A-Za-z]{15}[A-Za-z0-5]{3}')
           THEN linker_sf_case(left(x, 15), right(x, 3)) || upper(right(x, 3))
         ELSE x END""",
)


def register_id_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The id-format macros, on a connection (temporary: a read-only state is fine)."""
    for stmt in _ID_MACROS:
        con.execute(stmt)


def record_id_sql(expr: str, duck_type: str, id_format: str | None) -> str:
    """id_sql, then the source's id format (config.ID_FORMATS; needs register_id_macros)."""
    text = id_sql(expr, duck_type)
    return f"linker_sf_id({text})" if id_format == "salesforce" else text


def id_sql(expr: str, duck_type: str) -> str:
    """SQL turning an id column of any type into id text.

    Ids are text: trimmed, case kept; an integer written as a float (`12345.0`, or a
    DOUBLE column) equals the integer. Empty text is null.
    """
    t = duck_type.upper()
    if t == "JSON":  # a JSON string's text without its quotes; a number as written
        expr, t = f"json_extract_string({expr}, '$')", "VARCHAR"
    if t.startswith(_NUMERIC):
        return f"CAST({expr} AS VARCHAR)"
    if t.startswith(_FLOATS) or t.startswith("DECIMAL"):
        return (
            f"CASE WHEN isnan(CAST({expr} AS DOUBLE)) OR isinf(CAST({expr} AS DOUBLE)) THEN NULL "
            f"WHEN {expr} = floor({expr}) AND abs({expr}) < 1e18 "
            f"THEN CAST(CAST({expr} AS HUGEINT) AS VARCHAR) ELSE CAST({expr} AS VARCHAR) END"
        )
    text = f"CAST({expr} AS VARCHAR)" if t != "VARCHAR" else expr
    return (
        f"nullif(regexp_replace(regexp_replace({text}, '^\\s+|\\s+$', '', 'g'), "
        f"'^([+-]?[0-9]+)\\.0*$', '\\1'), '')"
    )


def text_sql(expr: str, duck_type: str) -> str:
    """SQL turning any column into trimmed text (null when empty)."""
    t = duck_type.upper()
    if t == "JSON":
        expr = f"json_extract_string({expr}, '$')"
    elif t.endswith("[]") or t.startswith(("LIST", "STRUCT", "MAP")):
        expr = f"CAST(to_json({expr}) AS VARCHAR)"
    elif t != "VARCHAR":
        expr = (
            id_sql(expr, duck_type)
            if t.startswith(_FLOATS + _NUMERIC)
            else f"CAST({expr} AS VARCHAR)"
        )
    return f"nullif(trim(regexp_replace({expr}, '\\s+', ' ', 'g')), '')"


def list_sql(expr: str, duck_type: str) -> str:
    """SQL turning a list column or a delimited text into a list of non-empty texts."""
    t = duck_type.upper()
    if t == "JSON[]":
        items = f"list_transform({expr}, lambda x: json_extract_string(x, '$'))"
    elif t.endswith("[]") or t.startswith("LIST"):
        items = f"list_transform({expr}, lambda x: CAST(x AS VARCHAR))"
    elif t == "JSON":
        items = (
            f"CASE WHEN json_type({expr}) = 'ARRAY' THEN json_extract_string({expr}, '$[*]') "
            f"ELSE [json_extract_string({expr}, '$')] END"
        )
    else:
        items = f"[{text_sql(expr, duck_type)}]"
    # Brackets and quotes separate too: a JSON list kept as text ('["a.com", "b.com"]', from a
    # column that is a list in some rows and a string in others) splits into its items.
    return (
        f"list_filter(flatten(list_transform({items}, "
        f"lambda x: string_split_regex(coalesce(x, ''), '[\\s,;|\\[\\]\"'']+'))), "
        "lambda x: x <> '')"
    )


class Ingestor:
    """Reads the sources of one config into a DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, config: Config) -> None:
        self.con = con
        self.config = config
        self.stats: dict[str, IngestStats] = {}
        self.warnings: list[str] = []
        self._empty_why: dict[str, str] = {}  # source -> why its reader has no rows
        self._header_bytes: dict[str, int] = {}  # CSV source -> bytes up to its first row
        self._scratch: list[Path] = []  # temporary copies, removed once their source is read
        register_id_macros(con)

    # --- reading ----------------------------------------------------------------------

    def load_all(self) -> None:
        con = self.con
        con.execute("CREATE SCHEMA IF NOT EXISTS src")
        # Files named inside `query` sources resolve against the project, not the shell's cwd.
        con.execute(f"SET file_search_path = {literal(str(self.config.root))}")
        for source in self.config.sources.values():
            self._load_source(source)
        self._build_raw_records()

    def _is_sor(self, s: Source) -> bool:
        return s.name in (self.config.accounts_sor, self.config.contacts_sor)

    def _load_source(self, s: Source) -> None:
        table = f"src.{ident(s.name)}"

        def create(reader: str) -> None:
            # An empty file's stand-in has only the mapped columns: no filter applies to it.
            # On lines of their own: a trailing `--` comment in the config cannot eat our SQL.
            where = f"WHERE (\n{s.filter}\n)" if s.filter and s.name not in self._empty_why else ""
            self.con.execute(
                f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM ("
                f"SELECT *, row_number() OVER () AS _row FROM {reader}) {where}"
            )

        try:
            if s.query is not None:
                # A query may name earlier sources as plain tables.
                self.con.execute("SET search_path = 'src,main'")
            reader = self._reader_sql(s)
            try:
                create(reader)
            except duckdb.InvalidInputException as e:
                # DuckDB's strict CSV reader refuses a file whose lines end in both CRLF and LF
                # (a row appended by another tool): it reads a copy with LF endings instead.
                if (
                    s.format != "csv"
                    or s.path is None  # a query's rows: no file to read again
                    or "invalid state" not in str(e)
                    or not _mixed_newlines(s.path)
                ):
                    raise
                reader = self._csv_reader(s, s.path, lf_copy=True)
                create(reader)
            n, fp = rows(
                self.con,
                "SELECT count(*), CAST(coalesce(sum(hash(t)), 0) AS VARCHAR) "
                f"FROM (SELECT * EXCLUDE (_row) FROM {table}) t",
            )[0]
            self.stats[s.name] = IngestStats(s.name, rows=n, fingerprint=f"{n}:{fp}")
            if n == 0:
                self._no_records(s, reader)
        except duckdb.Error as e:
            raise self._translate(s, e) from None
        finally:
            if s.query is not None:
                self.con.execute("SET search_path = 'main'")
            while self._scratch:
                self._scratch.pop().unlink(missing_ok=True)

    def _no_records(self, s: Source, reader: str) -> None:
        """A source without rows: a system of record stops the run, any other is reported."""
        why = self._empty_why.get(s.name)
        key = None
        if why is None and s.filter:
            total = scalar(self.con, f"SELECT count(*) FROM {reader}")
            if total:
                why = f"the filter {s.filter!r} leaves no records (of {total} rows)"
                key = f"sources.{s.name}.filter"
        if why is None:
            if s.query is not None:
                why, key = "the query returns no rows", f"sources.{s.name}.query"
            elif s.format == "csv":
                if _has_data_after(s.path, self._header_bytes.get(s.name, 0)):
                    # Never take a file with rows for an empty one.
                    raise InputError(
                        "no row could be read, yet the file has data after its header; "
                        "linker cannot read it faithfully",
                        file=s.label,
                        hint="check its line endings and quotes",
                    )
                why = "a header but no rows"
            else:
                why = "no records"
        if self._is_sor(s):
            lost = (
                "every account record of every source would be unresolved"
                if s.name == self.config.accounts_sor
                else "every contact's user_id would be null"
            )
            raise InputError(
                f"{why}; this source is the system of record, and an empty system of record "
                f"would unlink everything ({lost}), so linker stops and changes nothing",
                file=s.label,
                key=key,
                hint="check the export (or the filter); the last publication stays as it is",
            )
        self.warnings.append(
            f"{s.label}: {why}; source {s.name!r} has no records, so this run links none and "
            "the publication will hold none of its rows"
        )

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

    # --- mapping onto the canonical schema ----------------------------------------------

    def _resolve_column(
        self, s: Source, have: dict[str, str], spec: str, key: str
    ) -> tuple[str, str]:
        """SQL for a configured column (`col`, or `a.b` into a nested field) and its type."""
        if spec in have:
            return ident(spec), have[spec]
        head, _, rest = spec.partition(".")
        nested_hint = None
        if rest and head in have:
            found = self._nested(s, ident(head), have[head], rest.split("."))
            if found is not None:
                return found
            nested_hint = self._nested_hint(s, head, have[head], rest.split("."))
        visible = [c for c in have if c != "_row"]
        # An API export's wrapper ({"organizations": [...], "next_page": ...}): say so.
        arrays = [
            c for c in visible if have[c].upper().startswith("STRUCT") and have[c].endswith("[]")
        ]
        wrapped = (
            f'its records look wrapped in an API export: set records = "{arrays[0]}" on '
            f"sources.{s.name}"
            if s.format in ("json", "jsonl") and s.records is None and arrays
            else None
        )
        raise InputError(
            f"missing column {spec!r} (configured as {key}); the source has: "
            + ", ".join(visible[:30])
            + ("…" if len(visible) > 30 else ""),
            file=s.label,
            column=spec,
            hint=wrapped or nested_hint or did_you_mean(spec, visible),
        )

    def _nested_hint(self, s: Source, head: str, duck_type: str, parts: list[str]) -> str | None:
        """A did-you-mean for a misspelt nested field (`address.countri`): the keys found at
        the level that did not match, in the column's STRUCTs or JSON text."""
        table = f"src.{ident(s.name)}"
        doc = (
            f"to_json({ident(head)})"
            if duck_type.upper() not in ("VARCHAR", "JSON")
            else f"CASE WHEN json_valid({ident(head)}) THEN {ident(head)}::JSON END"
        )
        path = "$"
        for i, part in enumerate(parts):
            try:
                keys = [
                    k
                    for (k,) in rows(
                        self.con,
                        f"SELECT DISTINCT unnest(json_keys(json_extract({doc}, {literal(path)}))) "
                        f"FROM (SELECT * FROM {table} LIMIT 10000) ORDER BY 1",
                    )
                ]
            except duckdb.Error:
                return None
            if part not in keys:
                prefix = ".".join([head, *parts[:i]])
                close = did_you_mean(part, keys)  # "did you mean 'country'?"
                if close:
                    return f"did you mean '{prefix}.{close.split(chr(39))[1]}'?"
                return f"{prefix} has: {', '.join(keys[:20])}" if keys else None
            path += f".{json.dumps(part)}"
        return None

    def _optional_column(
        self, s: Source, have: dict[str, str], key: str, spec: str
    ) -> tuple[str, str] | None:
        """A mapped column; None when a system preset supplied it and this export lacks it
        (said once in the warnings), an error when the source's own keys name it."""
        try:
            return self._resolve_column(s, have, spec, f"sources.{s.name}.{key}")
        except InputError:
            if key not in s.optional:
                raise
            self.warnings.append(
                f"sources.{s.name}: its {s.system} preset maps {key} to column {spec!r}, "
                "which this export does not have: left empty"
            )
            return None

    def _nested(
        self, s: Source, expr: str, duck_type: str, parts: list[str]
    ) -> tuple[str, str] | None:
        """SQL for the field `parts` inside a STRUCT, a MAP or JSON text (a column whose type
        varies between records is text), with its type; None when no record has it."""
        table = f"src.{ident(s.name)}"
        present: list[str] = []  # conditions true where the path exists (MAP and JSON steps)
        for i, part in enumerate(parts):
            t = duck_type.upper()
            if t.startswith("STRUCT"):
                expr = f"{expr}.{ident(part)}"
            elif t.startswith("MAP"):
                present.append(f"map_contains({expr}, {literal(part)})")
                expr = f"map_extract_value({expr}, {literal(part)})"
            elif t in ("VARCHAR", "JSON"):
                pointer = literal("/" + "/".join(_pointer_token(p) for p in parts[i:]))
                doc = expr if t == "JSON" else f"CASE WHEN json_valid({expr}) THEN {expr} END"
                present.append(f"json_exists({doc}, {pointer})")
                expr, duck_type = f"json_extract_string({doc}, {pointer})", "VARCHAR"
                break
            else:
                return None
            try:
                duck_type = rows(self.con, f"DESCRIBE SELECT {expr} AS v FROM {table}")[0][1]
            except duckdb.Error:  # a STRUCT without that field
                return None
        if present and not scalar(
            self.con,
            f"SELECT count(*) = 0 OR coalesce(bool_or({' AND '.join(present)}), false) "
            f"FROM {table}",
        ):
            return None
        return expr, duck_type

    def _build_raw_records(self) -> None:
        cfg = self.config
        all_fields: list[str] = list(dict.fromkeys([*ACCOUNT_FIELDS, *CONTACT_FIELDS]))
        for s in cfg.sources.values():
            all_fields += [f for f in s.fields if f not in all_fields]
        selects = []
        ref_selects = []
        for idx, s in enumerate(cfg.sources.values()):
            table = f"src.{ident(s.name)}"
            have = columns(self.con, table)
            id_expr, id_type = self._resolve_column(s, have, s.id, f"sources.{s.name}.id")
            exprs = {"id": record_id_sql(id_expr, id_type, s.id_format)}
            for f in all_fields:
                found = (
                    self._optional_column(s, have, f"fields.{f}", s.fields[f])
                    if f in s.fields
                    else None
                )
                if found is not None:
                    e, t = found
                    exprs[f] = list_sql(e, t) if f in LIST_FIELDS else text_sql(e, t)
                else:
                    exprs[f] = (
                        "CAST(NULL AS VARCHAR[])" if f in LIST_FIELDS else "CAST(NULL AS VARCHAR)"
                    )
            if s.account is not None:
                e, t = self._resolve_column(
                    s, have, s.account.column, f"sources.{s.name}.account.column"
                )
                exprs["account_ref"] = record_id_sql(e, t, _format_of(cfg, s.account.source))
            else:
                exprs["account_ref"] = "CAST(NULL AS VARCHAR)"
            body = ", ".join(f"{v} AS {ident(k)}" for k, v in exprs.items())
            selects.append(
                f"SELECT {idx} AS source_idx, {literal(s.name)} AS source, "
                f"{literal(s.entity)} AS entity, _row, {body} FROM {table}"
            )
            for target, col in s.refs.items():
                found = self._optional_column(s, have, f"refs.{target}", col)
                if found is None:
                    continue
                e, t = found
                ref_selects.append(
                    f"SELECT {idx} AS source_idx, _row, {literal(target)} AS target, "
                    f"{literal(col)} AS column_name, "
                    f"{record_id_sql(e, t, _format_of(cfg, target))} AS value FROM {table}"
                )
        self.con.execute(
            "CREATE OR REPLACE TABLE _staged AS " + " UNION ALL BY NAME ".join(selects)
        )
        self._check_ids()
        # rid: a dense integer per record, stable for the same inputs whatever the row order.
        # The first row of each id is kept; numbered on the narrow key, then joined back.
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _keep AS SELECT source_idx, _row, "
            "row_number() OVER (ORDER BY source_idx, id) AS rid FROM ("
            "SELECT source_idx, id, min(_row) AS _row FROM _staged WHERE id IS NOT NULL "
            "GROUP BY source_idx, id)"
        )
        self.con.execute(
            "CREATE OR REPLACE TABLE raw_records AS SELECT k.rid, s.* "
            "FROM _staged s JOIN _keep k USING (source_idx, _row)"
        )
        self.con.execute("DROP TABLE _keep")
        if ref_selects:
            union = " UNION ALL ".join(ref_selects)
            self.con.execute(
                "CREATE OR REPLACE TABLE raw_refs AS SELECT DISTINCT r.rid, x.target, x.column_name, x.value "
                f"FROM ({union}) x JOIN raw_records r USING (source_idx, _row) WHERE x.value IS NOT NULL"
            )
        else:
            self.con.execute(
                "CREATE OR REPLACE TABLE raw_refs (rid BIGINT, target VARCHAR, column_name VARCHAR, value VARCHAR)"
            )
        self.con.execute("DROP TABLE _staged")
        for name, n in rows(self.con, "SELECT source, count(*) FROM raw_records GROUP BY source"):
            self.stats[name].records = n
        for st in self.stats.values():
            st.empty = st.records == 0
            s = cfg.sources[st.source]
            if st.empty and st.rows and self._is_sor(s):
                raise InputError(
                    f"none of its {st.rows} rows has an id; this source is the system of "
                    "record, and an empty system of record would unlink everything, so linker "
                    "stops and changes nothing",
                    file=s.label,
                    column=s.id,
                    hint=f"is sources.{s.name}.id the right column?",
                )

    def _check_ids(self) -> None:
        cfg = self.config
        names = list(cfg.sources)
        for name, row in rows(
            self.con,
            "SELECT source, list(_row ORDER BY _row)[1:20] FROM _staged "
            "WHERE id IS NULL GROUP BY source, source_idx ORDER BY source_idx",
        ):
            self.stats[name].null_ids = list(row)
            self.warnings.append(
                f"{cfg.sources[name].label}: {len(row)}{'+' if len(row) == 20 else ''} record(s) "
                f"without an id (column {cfg.sources[name].id!r}), skipped: data rows "
                + ", ".join(map(str, row))
            )
        dup_rows = rows(
            self.con,
            "SELECT source_idx, id, list(_row ORDER BY _row) FROM _staged WHERE id IS NOT NULL "
            "GROUP BY ALL HAVING count(*) > 1 ORDER BY source_idx, id",
        )
        by_source: dict[int, list[tuple[str, list[int]]]] = {}
        for idx, rid, rws in dup_rows:
            by_source.setdefault(idx, []).append((rid, rws))
        for idx, dups in by_source.items():
            s = cfg.sources[names[idx]]
            shown = "; ".join(f"{i!r} (rows {', '.join(map(str, r[:5]))})" for i, r in dups[:10])
            more = f" and {len(dups) - 10} more" if len(dups) > 10 else ""
            if s.name == cfg.accounts_sor or s.name == cfg.contacts_sor:
                raise InputError(
                    f"the system of record has {len(dups)} duplicate id(s): {shown}{more}",
                    file=s.label,
                    column=s.id,
                    hint=f"ids of the system of record must be unique; fix the source or "
                    f"deduplicate it with sources.{s.name}.filter or a query",
                )
            self.stats[s.name].duplicate_ids = [i for i, _ in dups]
            self.warnings.append(
                f"{s.label}: {len(dups)} id(s) appear more than once, the first row of each "
                f"kept: {shown}{more}"
            )


def _format_of(config: Config, source: str) -> str | None:
    """The id format of the source a reference names (none for an unknown source)."""
    target = config.sources.get(source)
    return target.id_format if target is not None else None


def _needed_columns(s: Source) -> list[str]:
    cols = [s.id, *s.fields.values(), *s.refs.values()]
    if s.account is not None:
        cols.append(s.account.column)
    seen: list[str] = []
    for c in cols:
        if c.split(".")[0] not in [x.split(".")[0] for x in seen]:
            seen.append(c)
    return seen


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


def _pointer_token(key: str) -> str:
    """One step of a JSON pointer (RFC 6901): ~ and / escaped."""
    return key.replace("~", "~0").replace("/", "~1")


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV header line: the most frequent of , ; TAB |."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _clean(text: str) -> str:
    return re.sub(r"^[A-Za-z ]+Error: ", "", text).strip()
