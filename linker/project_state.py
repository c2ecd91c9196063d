"""ProjectBase, what every Project verb stands on: the project's config and paths, its lock
(one command at a time), access to the state database, and where the project has published.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from linker import decisions as decisions_log
from linker import publish, state
from linker.config import Config, load_config
from linker.errors import ConfigError, ProjectBusy
from linker.results import Progress

STATE_DIR = ".linker"
STATE_DB = "state.duckdb"
MODEL_FILE = "model.json"
MODEL_REPORT = "model.html"
PUBLICATIONS = "publications.json"  # in .linker/: every OUT this project published into


def lock_timeout() -> float:
    """Seconds a command waits for the project's lock: env LINKER_LOCK_TIMEOUT, default 5."""
    raw = os.environ.get("LINKER_LOCK_TIMEOUT", "5")
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not (0 <= wait < float("inf")):
        raise ConfigError(
            f"expected a number of seconds >= 0, got {raw!r}",
            key="environment variable LINKER_LOCK_TIMEOUT",
            hint="e.g. LINKER_LOCK_TIMEOUT=30, or unset it for the default (5)",
        )
    return wait


class ProjectBase:
    """Project's config, paths, lock, state access and publication bookkeeping."""

    def __init__(self, path: Path | str = ".", progress: Progress | None = None) -> None:
        self.path = Path(path)
        self.progress = progress or Progress()
        self._config: Config | None = None

    # --- paths and config ------------------------------------------------------------------

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.path)
        return self._config

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    def _duckdb_settings(self) -> dict:
        """The working database's [engine] settings: its memory budget, its threads and where
        it spills beyond the budget (by default .linker/tmp, inside the state directory; a
        configured directory is made if missing — DuckDB makes only the last level)."""
        eng = self.config.engine
        temp = eng.temp_directory
        if temp is not None:
            temp.mkdir(parents=True, exist_ok=True)
        return {
            "memory_limit": eng.memory_limit,
            "threads": eng.threads,
            "temp_dir": temp if temp is not None else self.state_dir / "tmp",
        }

    @property
    def state_db(self) -> Path:
        return self.state_dir / STATE_DB

    @property
    def decisions_file(self) -> Path:
        return self.root / decisions_log.DECISIONS_FILE

    @property
    def model_file(self) -> Path:
        return self.root / MODEL_FILE

    # --- one writer at a time ------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[None]:
        self.state_dir.mkdir(exist_ok=True)
        path = self.state_dir / "lock"
        fh = open(path, "a+")  # noqa: SIM115 - held for the whole command, closed below
        wait = lock_timeout()
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another linker command"
                    fh.close()
                    raise ProjectBusy(
                        f"the project is busy: {holder} is working on it",
                        file=str(path),
                        hint=f"wait for it to finish (waited {wait:g} s), then retry",
                    ) from None
                time.sleep(0.1)
        fh.seek(0)
        fh.truncate()
        fh.write(f"`linker {command}` (pid {os.getpid()})")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    # --- the state and the publications ------------------------------------------------------

    def _open_state(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """The state database, once checked to be of this linker's version (state.check)."""
        with self._state_guard():
            con = duckdb.connect(str(self.state_db), read_only=read_only)
        try:
            state.check(con, self.state_db)
        except ConfigError:
            con.close()
            raise
        return con

    @contextlib.contextmanager
    def state_access(self) -> Iterator[Path]:
        """For a reader that opens the state itself (the review session): checked as
        _open_state checks it, and guarded the same way while it opens."""
        self._open_state(read_only=True).close()
        with self._state_guard():
            yield self.state_db

    @contextlib.contextmanager
    def _state_guard(self) -> Iterator[None]:
        """Open the state database inside this block: a missing state says "run first", a
        state another command holds says "busy" (exit 2), not an internal error."""
        if not self.state_db.exists():
            raise ConfigError(
                "no run yet: there is no state to read",
                file=str(self.state_db),
                hint="run `linker run` first",
            )
        try:
            yield
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise
            raise ProjectBusy(
                "the state database is in use by another linker command",
                file=str(self.state_db),
                hint="retry when it has finished",
            ) from None

    def publication_targets(self) -> list[Path]:
        """Every directory this project has published into (the default first), as recorded."""
        found = [self.config.out_dir.resolve()]
        try:
            recorded = json.loads((self.state_dir / PUBLICATIONS).read_text("utf-8"))
        except (OSError, ValueError):
            recorded = []
        for p in recorded if isinstance(recorded, list) else []:
            if isinstance(p, str) and Path(p) not in found:
                found.append(Path(p))
        return found

    def _record_publication(self, target: Path) -> None:
        """Remember where this project published, so `linker forget` can reach it later."""
        targets = [str(p) for p in self.publication_targets()[1:]]
        if str(target) not in targets and target != self.config.out_dir.resolve():
            targets.append(str(target))
        path = self.state_dir / PUBLICATIONS
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(targets), indent=1) + "\n", "utf-8")
        os.replace(tmp, path)

    def protected_paths(self) -> list[Path]:
        """What a publication must never replace: the project and every source file."""
        cfg = self.config
        return [cfg.root, *(s.path for s in cfg.sources.values() if s.path is not None)]

    def _publish_target(self, out: Path | None) -> Path:
        """Where a publication goes: `out`, or [publish] out."""
        return (Path(out) if out is not None else self.config.out_dir).expanduser().resolve()

    def _publish_from_state(
        self, out: Path | None, run_id: str, before: publish.Before | None = None
    ) -> tuple[dict, Path]:
        cfg = self.config
        # run() and publish() refused a wrong OUT before working; publish.publish checks again
        # as it writes.
        target = self._publish_target(out)
        con = self._open_state(read_only=True)
        try:
            tables = publish.crosswalk_tables(
                con,
                run_id,
                cfg.accounts_sor,
                [s.name for s in cfg.sources_of("accounts")],
                cfg.duplicates_policy == "merge",
            )
        finally:
            con.close()
        manifest = publish.publish(
            tables,
            target,
            run_id=run_id,
            config_digest=cfg.digest,
            keep=cfg.publish.keep,
            # the linker that made the results: the next publish after review may then
            # patch this publication's rows instead of reading them (publish.Before)
            extra={"project": cfg.name, "engine": state.engine_digest()},
            protected=self.protected_paths(),
            before=before,
        )
        self._record_publication(target)
        return manifest, target
