"""Write the crosswalk: deterministic Parquet files and a manifest, replaced atomically.

The new publication is written in full beside OUT (`.OUT.staging-*`), with the previous
publication hard-linked into its `_history/<run>/`, fsynced, and then swapped with OUT in
one atomic `renameat2(RENAME_EXCHANGE)` (Linux). Where that call is missing, OUT is renamed
aside and the staging directory renamed in; a crash between the two renames leaves
`.OUT.previous`, which the next publish puts back before doing anything else. Readers see
the old complete publication or the new complete one, never a mix.

OUT holds a publication and nothing else. linker writes into an OUT that is absent, empty or a
previous linker publication (its manifest says so and it holds only what linker writes), and
refuses anything else before writing a byte: the project directory or an ancestor of it, a
directory holding a source, a file, a mount point (the swap renames OUT: publish into a
directory inside the mount), a directory with files linker did not write. Modes and owners of
the replaced directory and files are kept.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linker.db import arrow, literal
from linker.errors import ConfigError

SCHEMA_VERSION = 1
HISTORY = "_history"
# The crosswalk (the same inputs, the same bytes) and what changed since the previous
# publication (which depends on that publication too).
CROSSWALK = ("accounts.parquet", "contacts.parquet", "accounts_wide.parquet")
CHANGES = "changes.parquet"
FILES = (*CROSSWALK, CHANGES)
MANIFEST = "manifest.json"
# Everything linker writes into OUT; anything else there is someone else's.
PUBLICATION_ENTRIES = frozenset({*FILES, MANIFEST, HISTORY})
_HISTORY_ENTRY = re.compile(r"^\d{6}-[0-9TZ]*-[A-Za-z0-9_]+$")

# The columns both crosswalks share, in contract order (see docs/publish.md, the publish contract).
# Columns never null are marked so in the Parquet schema (a reader can rely on it).
_LINK = [
    pa.field("account_id", pa.string()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_record_id", pa.string(), nullable=False),
    pa.field("method", pa.string(), nullable=False),
    pa.field("rule", pa.string()),
    pa.field("match_probability", pa.float64()),
    pa.field("reason", pa.string()),
]
_RUN = [pa.field("run_id", pa.string(), nullable=False)]
ACCOUNTS_SCHEMA = pa.schema(_LINK + _RUN)
CONTACTS_SCHEMA = pa.schema(
    [pa.field("user_id", pa.string()), *_LINK, pa.field("account_via", pa.string()), *_RUN]
)


# Where accounts.parquet's and contacts.parquet's rows come from in the state (run_id aside).
_ROWS = {
    "accounts.parquet": (
        "account_result",
        "account_id, source, id AS source_record_id, method, rule, match_probability, reason",
    ),
    "contacts.parquet": (
        "contact_result",
        "user_id, account_id, source, id AS source_record_id, method, rule, "
        "NULL::DOUBLE AS match_probability, reason, account_via",
    ),
}


def rows_sql(name: str, more: str = "", rest: str = "") -> str:
    """A SELECT of the published columns of `name` (and `more`) from the state's result
    table, followed by `rest` (a WHERE, an ORDER BY)."""
    table, cols = _ROWS[name]
    return f"SELECT {cols}{more} FROM {table} {rest}"


def crosswalk_tables(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    sor: str,
    account_sources: list[str],
    merge_duplicates: bool,
) -> dict[str, pa.Table]:
    """The three Parquet tables, sorted by a stable key, with fixed schemas."""
    run, order = ", ? AS run_id", "ORDER BY source, id"
    accounts = arrow(con, rows_sql("accounts.parquet", run, order), [run_id])
    contacts = arrow(con, rows_sql("contacts.parquet", run, order), [run_id])
    others = [s for s in account_sources if s != sor]
    # With policy "merge", a source's duplicates follow their leading record: only it is listed.
    skip = (
        "AND NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.rid = ar.rid AND NOT d.leading)"
        if merge_duplicates
        else ""
    )
    cols = ", ".join(
        f"coalesce(list(ar.id ORDER BY ar.id) FILTER (WHERE ar.source = '{s}' {skip}), []) AS \"{s}_ids\""
        for s in others
    )
    wide_sql = (
        f"SELECT ar.account_id{', ' + cols if cols else ''} FROM account_result ar "
        "WHERE ar.account_id IS NOT NULL GROUP BY ar.account_id ORDER BY ar.account_id"
    )
    wide = arrow(con, wide_sql)
    wide_schema = pa.schema(
        [pa.field("account_id", pa.string(), nullable=False)]
        + [pa.field(f"{s}_ids", pa.list_(pa.string()), nullable=False) for s in others]
    )
    return {
        "accounts.parquet": accounts.cast(ACCOUNTS_SCHEMA),
        "contacts.parquet": contacts.cast(CONTACTS_SCHEMA),
        "accounts_wide.parquet": wide.cast(wide_schema),
    }


# changes.parquet: one row per record whose published row differs from the previous
# publication's, with both versions (docs/publish.md).
_CHANGED = ("account_id", "user_id", "method", "rule", "match_probability", "reason")
CHANGES_SCHEMA = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_record_id", pa.string(), nullable=False),
        pa.field("change", pa.string(), nullable=False),
        *(
            pa.field(f"{c}_{when}", pa.float64() if c == "match_probability" else pa.string())
            for c in _CHANGED
            for when in ("before", "after")
        ),
    ]
)


def changes_table(
    tables: dict[str, pa.Table],
    previous: Path | None,
    before: dict[str, pa.Table] | None = None,
) -> pa.Table:
    """The records whose published row differs from the one in `previous` (a publication's
    directory; None: there is none, every record is added). `change`: added, removed,
    account (its account_id or user_id changed) or detail (same account; its method, rule,
    match probability or reason changed). Sorted by entity, source and id.

    `before`: per file (accounts.parquet, contacts.parquet), the previous publication's rows
    of every record whose row may differ, given by a caller that knows every other row is
    the same (a publish after review: the records it resolved again). Only those are
    compared; a file not in `before` is compared with the previous publication's in full."""
    con = duckdb.connect()
    try:
        selects = []
        for entity in ("accounts", "contacts"):
            name = f"{entity}.parquet"
            con.register(f"_new_{entity}", tables[name])
            old = previous / name if previous is not None else None
            new = f"_new_{entity}"
            if before is not None and name in before:
                con.register(f"_old_{entity}", before[name])
                source = f"_old_{entity}"
                new = (
                    f"(FROM _new_{entity} SEMI JOIN _old_{entity} USING (source, source_record_id))"
                )
            elif old is not None and old.exists():
                source = f"read_parquet({literal(str(old))})"
            else:
                source = f"(SELECT * FROM _new_{entity} LIMIT 0)"
            user = "user_id" if entity == "contacts" else "NULL::VARCHAR AS user_id"
            cols = f"source, source_record_id, account_id, {user}, method, rule, match_probability, reason"
            differs = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in _CHANGED)
            pairs = ", ".join(f"o.{c} AS {c}_before, n.{c} AS {c}_after" for c in _CHANGED)
            selects.append(
                f"""
                SELECT '{entity}' AS entity, coalesce(n.source, o.source) AS source,
                       coalesce(n.source_record_id, o.source_record_id) AS source_record_id,
                       CASE WHEN o.source IS NULL THEN 'added' WHEN n.source IS NULL THEN 'removed'
                            WHEN o.account_id IS DISTINCT FROM n.account_id
                              OR o.user_id IS DISTINCT FROM n.user_id THEN 'account'
                            ELSE 'detail' END AS change,
                       {pairs}
                FROM (SELECT {cols} FROM {source}) o
                FULL JOIN (SELECT {cols} FROM {new}) n
                  ON o.source = n.source AND o.source_record_id = n.source_record_id
                WHERE o.source IS NULL OR n.source IS NULL OR {differs}
                """
            )
        return arrow(
            con, " UNION ALL ".join(selects) + " ORDER BY entity, source, source_record_id"
        ).cast(CHANGES_SCHEMA)
    finally:
        con.close()


@dataclass(frozen=True)
class Before:
    """What a caller knows of the publication it replaces: per file (accounts.parquet,
    contacts.parquet), the rows of every record whose row may differ, as the results of run
    `run_id`, computed by linker `engine` (state.engine_digest), had them; every other row is
    the same in both (changes_table's `before`). Used only when the publication in place is
    that run's by that linker, untouched by `linker forget` (its manifest says so); else the
    files are compared."""

    run_id: str
    engine: str
    rows: dict[str, pa.Table]

    def describes(self, manifest: dict | None) -> bool:
        return holds_results(manifest, self.run_id, self.engine)


def holds_results(manifest: dict | None, run_id: str, engine: str) -> bool:
    """Whether a publication (its manifest) holds the results of run `run_id` as linker
    `engine` computed them: published from them, and not scrubbed by `linker forget` since
    (a run of the same inputs may bring the erased records back)."""
    return (
        manifest is not None
        and manifest.get("run_id") == run_id
        and manifest.get("engine") == engine
        and "erasures" not in manifest
    )


def write_parquet(table: pa.Table, path: Path) -> None:
    """Byte-identical output for identical tables: one row group, fixed options, no timestamps."""
    pq.write_table(
        table,
        path,
        compression="zstd",
        row_group_size=max(1, table.num_rows),
        write_statistics=True,
        use_dictionary=True,
        store_schema=True,
    )
    fsync(path)


def check_out(out: Path, protected: Iterable[Path] = ()) -> Path:
    """The resolved OUT when linker may replace it, else a ConfigError (exit 2) naming what
    is there. `protected` are paths OUT must neither be nor contain (the project, its sources)."""
    out = Path(out).expanduser().resolve()
    hint = "publish into a new or empty directory (or a previous linker publication)"
    for p in protected:
        p = Path(p).expanduser().resolve()
        if p == out or p.is_relative_to(out):
            raise ConfigError(
                f"refusing to publish into {out}: it holds {p}, which linker did not write "
                "(publishing replaces the whole directory)",
                key="--out / [publish] out",
                hint=hint + ', e.g. "crosswalk"',
            )
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"refusing to publish into {out}: it is a file, not a directory",
            key="--out / [publish] out",
            hint=hint,
        )
    if not out.is_dir():
        return out
    if os.path.ismount(out):
        raise ConfigError(
            f"refusing to publish into {out}: it is a mount point, and a publication is "
            "swapped in by renaming the directory",
            key="--out / [publish] out",
            hint=f"publish into a directory inside it, e.g. --out {out / 'crosswalk'}",
        )
    entries = sorted(os.listdir(out))
    if not entries:
        return out
    foreign = [e for e in entries if e not in PUBLICATION_ENTRIES]
    manifest = read_manifest(out)
    if not foreign and manifest is not None and _is_linker_manifest(manifest):
        foreign = _foreign_history(out / HISTORY)
        if not foreign:
            return out
    elif manifest is None or not _is_linker_manifest(manifest):
        foreign = foreign or entries
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    raise ConfigError(
        f"refusing to publish into {out}: it holds files linker did not write ({shown})"
        + (
            ""
            if manifest is not None and _is_linker_manifest(manifest)
            else " and no linker manifest"
        ),
        key="--out / [publish] out",
        hint=hint + "; linker never removes a file it did not write",
    )


def _is_linker_manifest(manifest: object) -> bool:
    return (
        isinstance(manifest, dict)
        and isinstance(manifest.get("run_id"), str)
        and isinstance(manifest.get("files"), dict)
        and "schema_version" in manifest
    )


def _foreign_history(hist: Path) -> list[str]:
    """What under OUT/_history/ linker did not write (entries are <seq>-<stamp>-<run>/ dirs
    of publication files)."""
    if not hist.exists():
        return []
    if not hist.is_dir():
        return [HISTORY]
    foreign = []
    for entry in sorted(hist.iterdir()):
        if not (entry.is_dir() and not entry.is_symlink() and _HISTORY_ENTRY.match(entry.name)):
            foreign.append(f"{HISTORY}/{entry.name}")
            continue
        foreign += [
            f"{HISTORY}/{entry.name}/{f}"
            for f in sorted(os.listdir(entry))
            if f not in (*FILES, MANIFEST)
        ]
    return foreign


def publish(
    tables: dict[str, pa.Table],
    out: Path,
    *,
    run_id: str,
    config_digest: str,
    keep: int,
    extra: dict | None = None,
    archive_current: bool = True,
    protected: Iterable[Path] = (),
    before: Before | None = None,
) -> dict:
    """Write the tables as a new publication at `out`, atomically; return the manifest.

    Without a `changes.parquet` in `tables`, it is made against the publication `out` holds
    (the manifest gains `previous_run_id` and the count of each kind of change): from
    `before` when it describes that publication, else by reading its files. Refuses
    (ConfigError, nothing written) an `out` that is not linker's to replace."""
    out = check_out(out, protected)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    recover(out)
    if CHANGES not in tables:
        previous = read_manifest(out)
        known = before.rows if before is not None and before.describes(previous) else None
        try:
            changes = changes_table(tables, out if previous is not None else None, known)
        except duckdb.Error:  # a damaged previous publication: a warehouse reloads in full
            previous, changes = None, changes_table(tables, None)
        tables = {**tables, CHANGES: changes}
        counts = pc.value_counts(changes["change"]).to_pylist() if changes.num_rows else []
        extra = {
            **(extra or {}),
            "previous_run_id": previous.get("run_id") if previous else None,
            "changes": {
                kind: next((c["counts"] for c in counts if c["values"] == kind), 0)
                for kind in ("added", "removed", "account", "detail")
            },
        }
    staging = parent / f".{out.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        manifest = _write_staging(
            tables, out, staging, run_id, config_digest, keep, extra, archive_current
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a failed publish leaves nothing behind
        raise
    if out.exists():
        if not _exchange(staging, out):
            aside = parent / f".{out.name}.previous"
            os.rename(out, aside)
            os.rename(staging, out)
            staging = aside
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous publication
    else:
        os.rename(staging, out)
    fsync(parent)
    return manifest


def _write_staging(
    tables: dict[str, pa.Table],
    out: Path,
    staging: Path,
    run_id: str,
    config_digest: str,
    keep: int,
    extra: dict | None,
    archive_current: bool,
) -> dict:
    def write(name: str) -> dict:
        path = staging / name
        write_parquet(tables[name], path)
        _keep_mode(out / name, path)
        return {"sha256": sha256(path), "rows": tables[name].num_rows, "bytes": path.stat().st_size}

    # Two at a time (pyarrow encodes a file on one thread and lets go of the GIL): 0.6 → 0.3 s
    # for the four files at 1M account records. Each file's bytes are the same either way.
    with ThreadPoolExecutor(2) as pool:
        files = dict(zip(FILES, pool.map(write, FILES), strict=True))
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config_hash": config_digest,
        "row_counts": {name: f["rows"] for name, f in files.items()},
        "files": files,
        **(extra or {}),
    }
    mpath = staging / MANIFEST
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")
    _keep_mode(out / MANIFEST, mpath)
    fsync(mpath)
    _carry_history(out, staging, keep, archive_current)
    _keep_mode(out / HISTORY, staging / HISTORY)
    _keep_mode(out, staging)
    fsync(staging)
    return manifest


def _keep_mode(old: Path, new: Path) -> None:
    """Give `new` the permission bits (and, where allowed, the owner) of the `old` it replaces."""
    try:
        st = old.stat()
    except OSError:
        return
    os.chmod(new, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):  # not ours to give away: the mode still holds
        os.chown(new, st.st_uid, st.st_gid)


def recover(out: Path) -> None:
    """Undo what a publish killed between its two fallback renames left behind."""
    parent = out.parent
    aside = parent / f".{out.name}.previous"
    if aside.exists():
        if out.exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(aside, out)
    for stale in parent.glob(f".{out.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def current_publication(out: Path, run_id: str, engine: str) -> dict | None:
    """The manifest of the publication `out` holds when it holds run `run_id`'s results by
    linker `engine` (holds_results) and is whole (every file it lists, with the sha256 it
    lists); else None."""
    manifest = read_manifest(out)
    if not holds_results(manifest, run_id, engine) or not manifest or not manifest.get("files"):
        return None
    for name, meta in manifest["files"].items():
        path = out / name
        if not path.is_file() or sha256(path) != meta.get("sha256"):
            return None
    return manifest


def read_manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / "manifest.json").read_text("utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def _carry_history(out: Path, staging: Path, keep: int, archive_current: bool = True) -> None:
    """Hard-link the old history and the current publication into staging/_history/."""
    hist = staging / HISTORY
    hist.mkdir()
    if not out.exists():
        return
    old_hist = out / HISTORY
    entries = sorted(p for p in old_hist.iterdir() if p.is_dir()) if old_hist.is_dir() else []
    current = read_manifest(out) if archive_current else None
    if current is not None:
        # Named <sequence>-<created_at>-<run_id>: the sequence keeps the order within a second.
        seq = 1 + max(
            (int(p.name.split("-")[0]) for p in entries if p.name.split("-")[0].isdigit()),
            default=0,
        )
        stamp = current.get("created_at", "").replace(":", "").replace("-", "")
        name = f"{seq:06d}-{stamp}-{current.get('run_id', 'unknown')}"
        target = hist / name
        target.mkdir()
        for f in (*FILES, "manifest.json"):
            if (out / f).exists():
                _link_or_copy(out / f, target / f)
    for entry in entries:
        if not (hist / entry.name).exists():
            shutil.copytree(entry, hist / entry.name, copy_function=_link_or_copy)
    kept = sorted(p for p in hist.iterdir() if p.is_dir())
    for p in kept[: max(0, len(kept) - keep)]:
        shutil.rmtree(p)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync(path: Path) -> None:
    """fsync a file or a directory (after a rename in it) by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
