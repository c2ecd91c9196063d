"""`linker forget`: erase a person (by email) or a record (by source and id) from every copy
linker keeps — the decisions log, the state database and the current and kept publications.

The decisions log is rewritten atomically (temporary file, fsync, rename): the only time it is
rewritten. The state database is a cache and is deleted whole (the next run rebuilds it). Each
publication is rewritten without the records' rows; the current one is replaced atomically
like any publication, without archiving the copy that still holds the person.
Sources are the user's: linker reports where the records still are, so they can be erased
there too (otherwise the next run brings them back).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linker import decisions as decisions_log
from linker import normalize, publish
from linker.config import Config
from linker.db import connect, rows, scalar
from linker.errors import ConfigError, InputError, did_you_mean
from linker.ingest import Ingestor
from linker.ingest_sql import record_id_sql, register_id_macros
from linker.results import ForgetResult


@dataclass
class ForgetReport:
    records: list[tuple[str, str]] = field(default_factory=list)
    decisions_removed: int = 0
    state_cleared: bool = False
    publications: dict[str, int] = field(default_factory=dict)  # directory -> rows removed
    not_reached: dict[str, str] = field(default_factory=dict)  # publication -> why not
    still_in_sources: list[str] = field(default_factory=list)
    sources_unread: str | None = None  # why the sources could not be searched
    dry_run: bool = False  # nothing was written: the counts are what an erasure would remove

    def to_dict(self) -> ForgetResult:
        return {
            "dry_run": self.dry_run,
            "records": [list(r) for r in self.records],
            "decisions_removed": self.decisions_removed,
            "state_cleared": self.state_cleared,
            "publications": self.publications,
            "publications_not_reached": self.not_reached,
            "still_in_sources": self.still_in_sources,
            "sources_unread": self.sources_unread,
        }


def find_records(
    config: Config, state_db: Path, *, email: str | None, source: str | None, record_id: str | None
) -> tuple[list[tuple[str, str]], list[str], str | None]:
    """The (source, id) of every record to forget, the sources that still hold them, and why
    the sources could not be searched (None when they were)."""
    if source is not None:
        if source not in config.sources:
            raise ConfigError(
                f"no source named {source!r}",
                key="--source",
                hint=did_you_mean(source, config.sources),
            )
        con = duckdb.connect()
        try:
            register_id_macros(con)
            fmt = config.sources[source].id_format
            norm = scalar(con, f"SELECT {record_id_sql('$1', 'VARCHAR', fmt)}", [record_id])
        finally:
            con.close()
        if not norm:
            raise ConfigError("the id is empty", key="--id")
        found = {(source, norm)}
    else:
        found = set()
    holders: set[str] = set()
    unread = None
    con = connect()
    try:
        ing = Ingestor(con, config)
        try:
            ing.load_all()
        except InputError as e:
            # An erasure must not wait for a good export: the state and the publications
            # are still reached; the report says the sources were not searched.
            unread = str(e).splitlines()[0]
        else:
            normalize.normalize(con, [], config.default_country)
            if email is not None:
                found |= set(
                    rows(con, "SELECT source, id FROM records WHERE email = norm_email(?)", [email])
                )
            for s, i in sorted(found):
                if scalar(con, "SELECT count(*) FROM records WHERE source = ? AND id = ?", [s, i]):
                    holders.add(config.sources[s].label)
    finally:
        con.close()
    if email is not None and state_db.exists():
        # Records already erased from the sources may still sit in the last run's state.
        try:
            st = duckdb.connect(str(state_db), read_only=True)
            try:
                found |= set(
                    rows(st, "SELECT source, id FROM records WHERE email = norm_email(?)", [email])
                )
            except duckdb.Error:
                found |= set(
                    rows(
                        st,
                        "SELECT source, id FROM records WHERE lower(trim(email)) = lower(trim(?))",
                        [email],
                    )
                )
            finally:
                st.close()
        except duckdb.Error:
            pass
    return sorted(found), sorted(holders), unread


def forget(
    config: Config,
    state_dir: Path,
    decisions_file: Path,
    *,
    email: str | None = None,
    source: str | None = None,
    record_id: str | None = None,
    publications: list[Path] | None = None,
    dry_run: bool = False,
) -> ForgetReport:
    """Erase the records of a person (a valid email address, matched whole) or one record
    from every copy linker keeps. Everything is read and checked before anything is written:
    a damaged publication stops it (exit 3) with nothing changed. `dry_run`: the same plan
    and counts, nothing written."""
    if (email is None) == (source is None) or (source is None) != (record_id is None):
        raise ConfigError(
            "give either --email ADDRESS, or --source SOURCE with --id ID", key="forget"
        )
    address = None
    if email is not None:
        address = normalize.email_keys([email])[0]
        if address is None:
            raise ConfigError(
                f"not an email address: {email!r}",
                key="--email",
                hint="give the whole address (name@domain.tld); forget never matches parts",
            )
    state_db = state_dir / "state.duckdb"
    records, holders, unread = find_records(
        config, state_db, email=address, source=source, record_id=record_id
    )
    rep = ForgetReport(records=records, still_in_sources=holders, sources_unread=unread)
    targets = set(records)
    log = decisions_file.resolve()  # a symlinked log: the real file is rewritten
    # Plan: read every publication now; a damaged one stops here, before any change.
    plan: list[Path] = []
    default = config.out_dir.resolve()
    for out in publications or [default]:
        if out == default and not out.exists():
            continue  # never published to the default directory: nothing to reach
        where = _publication_dirs(out, rep)
        for d in where:
            _filtered(d, targets, config)  # raises InputError naming a damaged file
        if where:
            publish.check_out(where[-1])  # the current one is republished: it must be ours
        plan += where
    if dry_run:
        rep.dry_run = True
        if log.exists():
            rep.decisions_removed = _rewrite_decisions(log, targets, address, write=False)
        rep.state_cleared = bool(targets or rep.decisions_removed) and state_db.exists()
        if targets:
            rep.publications = {str(d): _filtered(d, targets, config)[1] for d in plan}
        return rep
    # Act. The mark first: a review sitting open now can no longer write a decision about
    # the erased records (it checks the mark under the log's lock, see decisions.append).
    decisions_log.new_erasure_mark(state_dir)
    rep.decisions_removed = _scrub_decisions(log, targets, address)
    for p in (
        state_db,
        state_dir / "state.duckdb.wal",
        state_dir / "state.duckdb.tmp",
        state_dir / "state.duckdb.tmp.wal",
    ):
        if (targets or rep.decisions_removed) and p.exists():
            p.unlink()
            rep.state_cleared = True
    if targets:
        for d in plan:
            if d.parent.name == publish.HISTORY:
                rep.publications[str(d)] = _scrub_history_entry(d, targets, config)
            else:
                rep.publications[str(d)] = _scrub_current(d, targets, config)
    return rep


def _publication_dirs(out: Path, rep: ForgetReport) -> list[Path]:
    """The publication at `out` and its kept history, current last; an `out` that is gone or
    holds no publication is reported as not reached."""
    out = out.expanduser()
    if not out.exists():
        rep.not_reached[str(out)] = "not found (moved, deleted, or on a volume not mounted?)"
        return []
    publish.recover(out)
    if publish.read_manifest(out) is None:
        rep.not_reached[str(out)] = "holds no linker publication (no readable manifest.json)"
        return []
    hist = out / publish.HISTORY
    entries = [e for e in sorted(hist.iterdir()) if e.is_dir()] if hist.is_dir() else []
    return [*entries, out]


_EMAIL_TOKEN = re.compile(rb"[^\s\"'<>(),;:\[\]\\]+@[^\s\"'<>(),;:\[\]\\]+")


def _address_tokens(raw: bytes) -> list[str]:
    """The whole address-like words of a log line (any field, a note's text included)."""
    return [t.decode("utf-8", "replace").strip(".") for t in _EMAIL_TOKEN.findall(raw)]


def _scrub_decisions(path: Path, targets: set[tuple[str, str]], address: str | None) -> int:
    if not path.exists():
        return 0
    # Under the log's lock: a reviewer's append meanwhile waits and lands in the new file.
    with decisions_log.locked(path):
        return _rewrite_decisions(path, targets, address)


def _rewrite_decisions(
    path: Path, targets: set[tuple[str, str]], address: str | None, *, write: bool = True
) -> int:
    """Remove the log's lines naming the targets or the address; how many (`write=False`:
    only count them)."""
    lines = [raw for raw in path.read_bytes().split(b"\n") if raw.strip()]
    # Lines naming the address as a whole address, never as part of a longer one (ana@x.com
    # is not in hana@x.com): each line's words keyed as records' emails are.
    tokens = [_address_tokens(raw) if address is not None else [] for raw in lines]
    words = sorted({w for ws in tokens for w in ws})
    named = {w for w, k in zip(words, normalize.email_keys(words), strict=True) if k == address}
    keep: list[bytes] = []
    removed = 0
    for raw, ws in zip(lines, tokens, strict=True):
        hit = any(w in named for w in ws)
        try:
            obj = json.loads(raw)
            if isinstance(obj, dict):
                hit = hit or any(
                    isinstance(obj.get(side), list) and tuple(obj[side]) in targets
                    for side in ("left", "right")
                )
        except ValueError:
            pass  # a torn line: kept unless it names the address (it is skipped when read)
        if hit:
            removed += 1
        else:
            keep.append(raw)
    if removed and write:
        tmp = path.with_name(path.name + ".forget-tmp")
        st = path.stat()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IMODE(st.st_mode))
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))  # the umask may have narrowed it
            with contextlib.suppress(OSError):
                os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            fh.write(b"".join(line + b"\n" for line in keep))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        publish.fsync(path.parent)
    return removed


def _filtered(
    directory: Path, targets: set[tuple[str, str]], config: Config
) -> tuple[dict[str, pa.Table], int]:
    """The publication's tables without the targets' rows, and how many rows went.
    A file that cannot be read is an InputError naming it (exit 3)."""
    try:
        return _filtered_tables(directory, targets, config)
    except (OSError, pa.ArrowException) as e:
        raise InputError(
            f"cannot read this publication to erase from it: {str(e).splitlines()[0][:200]}",
            file=str(directory),
            hint="nothing was erased yet; if it is a damaged copy under _history/, delete that "
            "directory (linker wrote it) and run `linker forget` again",
        ) from None


def _filtered_tables(
    directory: Path, targets: set[tuple[str, str]], config: Config
) -> tuple[dict[str, pa.Table], int]:
    users = {i for s, i in targets if s == config.contacts_sor}
    sor_accounts = {i for s, i in targets if s == config.accounts_sor}
    keys = pa.array(sorted(f"{s}\x1f{i}" for s, i in targets), pa.string())
    out: dict[str, pa.Table] = {}
    removed = 0
    for name in ("accounts.parquet", "contacts.parquet"):
        t = pq.read_table(directory / name)
        key = pc.binary_join_element_wise(t["source"], t["source_record_id"], "\x1f")
        drop = pc.is_in(key, value_set=keys)
        if name == "contacts.parquet" and users:
            drop = pc.or_(
                drop, pc.fill_null(pc.is_in(t["user_id"], value_set=pa.array(sorted(users))), False)
            )
        kept = t.filter(pc.invert(drop))
        removed += t.num_rows - kept.num_rows
        out[name] = kept
    wide = pq.read_table(directory / "accounts_wide.parquet")
    if sor_accounts:
        wide = wide.filter(
            pc.invert(pc.is_in(wide["account_id"], value_set=pa.array(sorted(sor_accounts))))
        )
    for col in wide.schema.names[1:]:
        src = col.removesuffix("_ids")
        gone = sorted(i for s, i in targets if s == src)
        if gone:
            lists = wide[col].to_pylist()  # one row per account: small next to the record tables
            wide = wide.set_column(
                wide.schema.get_field_index(col),
                col,
                pa.array([[x for x in v if x not in gone] for v in lists], pa.list_(pa.string())),
            )
    out["accounts_wide.parquet"] = wide
    changes = directory / publish.CHANGES
    if changes.exists():  # publications before it was written have none
        t = pq.read_table(changes)
        key = pc.binary_join_element_wise(t["source"], t["source_record_id"], "\x1f")
        drop = pc.is_in(key, value_set=keys)
        if users:
            who = pa.array(sorted(users))
            for col in ("user_id_before", "user_id_after"):
                drop = pc.or_(drop, pc.fill_null(pc.is_in(t[col], value_set=who), False))
        kept = t.filter(pc.invert(drop))
        removed += t.num_rows - kept.num_rows
        out[publish.CHANGES] = kept
    return out, removed


def _scrub_history_entry(entry: Path, targets: set[tuple[str, str]], config: Config) -> int:
    tables, removed = _filtered(entry, targets, config)
    if not removed:
        return 0
    manifest = publish.read_manifest(entry) or {}
    for name, table in tables.items():
        tmp = entry / (name + ".tmp")
        publish.write_parquet(table, tmp)
        os.replace(tmp, entry / name)
        manifest.setdefault("files", {})[name] = {
            "sha256": publish.sha256(entry / name),
            "rows": table.num_rows,
            "bytes": (entry / name).stat().st_size,
        }
    manifest["row_counts"] = {n: t.num_rows for n, t in tables.items()}
    manifest["erasures"] = manifest.get("erasures", 0) + 1
    tmp = entry / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")
    os.replace(tmp, entry / "manifest.json")
    return removed


def _scrub_current(out: Path, targets: set[tuple[str, str]], config: Config) -> int:
    if publish.read_manifest(out) is None:
        return 0
    tables, removed = _filtered(out, targets, config)
    if not removed:
        return 0
    old = publish.read_manifest(out) or {}
    extra = {
        k: v
        for k, v in old.items()
        if k not in ("schema_version", "run_id", "created_at", "config_hash", "row_counts", "files")
    }
    extra["erasures"] = old.get("erasures", 0) + 1
    # its own changes, scrubbed, never new ones against the unscrubbed publication
    tables.setdefault(publish.CHANGES, publish.CHANGES_SCHEMA.empty_table())
    publish.publish(
        tables,
        out,
        run_id=old.get("run_id", ""),
        config_digest=old.get("config_hash", ""),
        keep=config.publish.keep,
        extra=extra,
        archive_current=False,
    )
    shutil.rmtree(out.parent / f".{out.name}.previous", ignore_errors=True)
    return removed
