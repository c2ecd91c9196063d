"""SQL expressions that turn a source's columns into the text of raw_records: ids (and the
Salesforce id format, as DuckDB macros), trimmed text, lists of texts.
"""

from __future__ import annotations

import duckdb

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
# What the regex class \s matches (RE2: space, tab, newline, form feed, carriage return), as
# SQL characters: what trim(x, _SPACE) strips is what the regex '^\s+|\s+$' removes.
_OTHER_SPACES = ("chr(9)", "chr(10)", "chr(12)", "chr(13)")  # \s besides the space
_SPACE = " || ".join(("' '", *_OTHER_SPACES))


# Id formats a source may declare (`id_format`, config_sections.ID_FORMATS): its ids, and every
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
    """id_sql, then the source's id format (config_sections.ID_FORMATS; needs register_id_macros)."""
    text = id_sql(expr, duck_type)
    return f"linker_sf_id({text})" if id_format == "salesforce" else text


def id_sql(expr: str, duck_type: str) -> str:
    """SQL turning an id column of any type into id text.

    Ids are text: trimmed, case kept; an integer written as a float (`12345.0`, or a
    DOUBLE column) equals the integer. Empty text is null. `expr` (a column, or a numbered
    parameter such as `$1`) may be written more than once.
    """
    t = plain = duck_type.upper()
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
    if plain != "VARCHAR":  # (an expression: written once)
        return (
            f"nullif(regexp_replace(regexp_replace({text}, '^\\s+|\\s+$', '', 'g'), "
            f"'^([+-]?[0-9]+)\\.0*$', '\\1'), '')"
        )
    # A text column (most ids): the same, with a regex only where it can change something.
    bare = f"trim({text}, {_SPACE})"
    return (
        f"nullif(CASE WHEN contains({text}, '.') "
        f"THEN regexp_replace({bare}, '^([+-]?[0-9]+)\\.0*$', '\\1') ELSE {bare} END, '')"
    )


def text_sql(expr: str, duck_type: str) -> str:
    """SQL turning any column into trimmed text (null when empty). `expr`: as id_sql's."""
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
    if t != "VARCHAR":  # (an expression: written once)
        return f"nullif(trim(regexp_replace({expr}, '\\s+', ' ', 'g')), '')"
    # A text column: runs of whitespace made one space, with a regex only where there is a
    # run or a tab, newline...: every text field of every record goes through this.
    runs = " OR ".join(f"contains({expr}, {c})" for c in ("'  '", *_OTHER_SPACES))
    return (
        f"nullif(trim(CASE WHEN {runs} THEN regexp_replace({expr}, '\\s+', ' ', 'g') "
        f"ELSE {expr} END), '')"
    )


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
