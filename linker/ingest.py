"""Read every source into DuckDB and map its columns onto the canonical schema.

Each source lands twice: as `src.<name>` (its own columns, after the import filter, plus
`_row`, the 1-based data row) so later `query` sources can read it and the review queue can
show an account record as its source has it (an account source's table is kept in the state
for that; a contact source's is dropped once `raw_records` is made), and as rows of
`raw_records` (one per record: `rid`, source, normalized id text and the
mapped fields as text), which the normalize stage turns into `records`.

This module holds the Ingestor (loading, mapping, id checks); the per-format readers are in
ingest_readers, file checks in ingest_files, the column SQL (ids, text, lists) in ingest_sql.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from linker.config import ACCOUNT_FIELDS, CONTACT_FIELDS, Config, Source
from linker.config_model import LIST_FIELDS
from linker.db import attached, columns, has_table, ident, literal, rows, scalar
from linker.errors import InputError, did_you_mean
from linker.ingest_files import _has_data_after, _mixed_newlines
from linker.ingest_readers import Readers
from linker.ingest_sql import list_sql, record_id_sql, register_id_macros, text_sql

# The order records are numbered in (their rid). Nothing published depends on it: every
# choice among equals is made by what a record is — its source and id (graph.by_records) —
# not by its rid (a test numbers them backwards and expects the same bytes), so a later run
# may keep the last run's numbers and an engine may number in parallel.
RID_ORDER = "source_idx, id"


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


class Ingestor(Readers):
    """Reads the sources of one config into a DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, config: Config) -> None:
        self.con = con
        self.config = config
        self.stats: dict[str, IngestStats] = {}
        self.warnings: list[str] = []
        self._empty_why: dict[str, str] = {}  # source -> why its reader has no rows
        self._header_bytes: dict[str, int] = {}  # CSV source -> bytes up to its first row
        self._scratch: list[Path] = []  # temporary copies, removed once their source is read
        self.note: Callable[[str], None] = lambda text: None  # progress within the stage
        # The last run's state, whose record numbers are kept (_number); whether they were.
        self.keep_numbers: Path | None = None
        self.kept_numbers = False
        register_id_macros(con)

    # --- reading ----------------------------------------------------------------------

    def load_all(self) -> None:
        con = self.con
        con.execute("CREATE SCHEMA IF NOT EXISTS src")
        # Files named inside `query` sources resolve against the project, not the shell's cwd.
        con.execute(f"SET file_search_path = {literal(str(self.config.root))}")
        for source in self.config.sources.values():
            self._load_source(source)
            if source.name in self.stats:
                self.note(f"{source.name}: {self.stats[source.name].rows:,} rows read")
        self._build_raw_records()
        # Nothing after this reads a contact source's own rows (the review queue shows account
        # records only): not kept, in memory or in the state (1.2M rows at 1M accounts).
        for s in self.config.sources_of("contacts"):
            con.execute(f"DROP TABLE IF EXISTS src.{ident(s.name)}")

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
        self._number()
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

    def _number(self) -> None:
        """Temp table `_keep(source_idx, _row, rid)`: the record each id is (its first row)
        and its number. Numbered on the narrow key, then joined back (by the caller).

        A record the last run had (`keep_numbers`: its state, when given and readable) keeps
        that run's number, a new one is numbered after the largest of them in (source, id)
        order; else every record is numbered in that order from 1. Nothing published depends
        on the numbers (RID_ORDER); kept, they let a run compare and reuse the last run's
        tables row by row."""
        ids = (
            "SELECT source_idx, source, id, min(_row) AS _row FROM _staged "
            "WHERE id IS NOT NULL GROUP BY source_idx, source, id"
        )
        with attached(self.con, self.keep_numbers, "_numbers") as failed:
            if failed is None and has_table(self.con, "records", "_numbers"):
                self.con.execute(
                    f"""
                    CREATE OR REPLACE TEMP TABLE _keep AS
                    WITH k AS ({ids}), p AS (SELECT source, id, rid FROM _numbers.records)
                    SELECT k.source_idx, k._row, coalesce(p.rid, (SELECT coalesce(max(rid), 0)
                           FROM p) + row_number() OVER (PARTITION BY p.rid IS NULL
                                                        ORDER BY {RID_ORDER})) AS rid
                    FROM k LEFT JOIN p USING (source, id)
                    """
                )
                self.kept_numbers = True
                return
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _keep AS SELECT source_idx, _row, "
            f"row_number() OVER (ORDER BY {RID_ORDER}) AS rid FROM ({ids})"
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


def _pointer_token(key: str) -> str:
    """One step of a JSON pointer (RFC 6901): ~ and / escaped."""
    return key.replace("~", "~0").replace("/", "~1")
