"""Kill `linker publish` (and sometimes `linker run`) with SIGKILL at random moments.

After every kill the output directory must hold either the previous complete publication or
the new complete one — never a mix — and its manifest's sha256 values must match its files.
A killed run (one in ten, each after a CRM account is renamed: a run that normalizes that
record and takes the others from the state) must leave state the next command can use or
rebuild; a killed publish (most of
them decide queued pairs, so it resolves the components they touch in one transaction on the
state) must leave the state the next publish builds on right: at the end, the project's
publication must equal, file for file, what `publish --full` on a copy publishes.

    python benchmarks/kill_publish.py --trials 60 [--seed 1] [--project fixtures/acme]

Prints one line per trial and, last, a JSON summary: {"trials", "old", "new", "torn", ...}.
Exit status 1 if any publication was torn or a command failed after a kill.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = ("accounts.parquet", "contacts.parquet", "accounts_wide.parquet")


def linker_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "linker"
    return (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from linker.cli import main; main()"]
    )


def run(args: list[str], project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*linker_cmd(), *args, "-p", str(project), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LINKER_LOCK_TIMEOUT": "30"},
    )


def check_publication(out: Path) -> tuple[str | None, str]:
    """(run_id, '') for a complete, self-consistent publication; (None, why) otherwise."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        return None, f"manifest unreadable: {e}"
    for name in FILES:
        path = out / name
        if not path.exists():
            return None, f"{name} missing"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != manifest["files"][name]["sha256"]:
            return None, f"{name} does not match its manifest"
    import pyarrow.parquet as pq

    for name in FILES:
        if pq.read_metadata(out / name).num_rows != manifest["row_counts"][name]:
            return None, f"{name} row count differs from the manifest"
    return manifest["run_id"], ""


def calibrate(project: Path) -> tuple[float, float, float]:
    """Time one uninterrupted publish: total, and when its staging write starts and ends."""
    out = project / "crosswalk"
    before = (out / "manifest.json").stat().st_mtime_ns
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*linker_cmd(), "publish", "-p", str(project), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stage_from = stage_to = None
    while proc.poll() is None:
        now = time.perf_counter() - t0
        if stage_from is None and any(project.glob(".crosswalk.staging-*")):
            stage_from = now
        if (
            stage_to is None
            and (out / "manifest.json").exists()
            and (out / "manifest.json").stat().st_mtime_ns != before
        ):
            stage_to = now
        time.sleep(0.002)
    total = time.perf_counter() - t0
    return (
        total,
        stage_from if stage_from is not None else 0.0,
        stage_to if stage_to is not None else total,
    )


def kill_at(cmd: list[str], delay: float, after_staging_in: Path | None = None) -> int | None:
    """Start cmd and SIGKILL it `delay` s after it starts — or, with `after_staging_in`, `delay` s
    after its staging directory appears there (aiming at the write-and-swap phase).
    Returns the exit code if it finished first, None if it was killed."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "LINKER_LOCK_TIMEOUT": "30"},
    )
    if after_staging_in is not None:
        mine = (
            after_staging_in / f".crosswalk.staging-{proc.pid}"
        )  # not a stale one of a killed trial
        while proc.poll() is None and not mine.exists():
            time.sleep(0.0005)
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def queue_pairs(project: Path) -> list[tuple[list[str], list[str]]]:
    """The review queue's pairs after the first run: what the trials decide."""
    import duckdb

    con = duckdb.connect(str(project / ".linker" / "state.duckdb"), read_only=True)
    try:
        found = con.execute(
            "SELECT left_source, left_id, right_source, right_id FROM review_queue ORDER BY item"
        ).fetchall()
    finally:
        con.close()
    return [([a, b], [c, d]) for a, b, c, d in found]


def decision_line(i: int, pairs: list[tuple[list[str], list[str]]]) -> str:
    """Two of three trials decide a queued pair (so a publish resolves what it touches);
    the third decides, then takes back, a pair naming a record that does not exist."""
    if pairs and i % 3 != 2:
        left, right = pairs[(i * 7) % len(pairs)]
        value = "match" if i % 2 == 0 else "no_match"
    else:
        left, right = ["crm", f"trial-{i // 2}"], ["product", "1"]
        value = "match" if i % 2 == 0 else "undo"
    return (
        json.dumps(
            {
                "left": left,
                "right": right,
                "decision": value,
                "reviewer": "kill-trials",
                "at": f"2026-11-23T10:{i // 60:02d}:{i % 60:02d}Z",
            }
        )
        + "\n"
    )


def same_as_full(project: Path, work: Path, full: list[str]) -> bool:
    """Whether the project's publication is what `full` (a command computing everything
    again) publishes on a copy: a killed command left nothing half-done in the state for
    the next one to build on."""
    ref = work / "reference"
    shutil.rmtree(ref, ignore_errors=True)
    shutil.copytree(project, ref)
    done = run(full, ref)
    if done.returncode != 0:
        return False
    return all(
        (project / "crosswalk" / f).read_bytes() == (ref / "crosswalk" / f).read_bytes()
        for f in FILES
    )


def edit_source(project: Path, i: int) -> None:
    """Rename one CRM account (the i-th, in turn): the next run normalizes that record and
    takes the others from the state as the last run normalized them."""
    path = project / "data" / "crm_accounts.csv"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    row = 1 + i % (len(lines) - 1)
    head, _, rest = lines[row].partition(",")
    quote = '"' if rest.startswith('"') else ""  # the name is the second column
    lines[row] = f"{head},{quote}Renamed {i} {rest.removeprefix(quote)}"
    path.write_text("".join(lines), "utf-8")


def trials(n: int, seed: int, source_project: Path) -> dict:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="linker-kill-"))
    project = work / "project"
    shutil.copytree(source_project, project, ignore=shutil.ignore_patterns(".linker", "crosswalk"))
    out = project / "crosswalk"
    first = run(["run", "--publish"], project)
    if first.returncode != 0:
        raise SystemExit(f"setup failed: {first.stderr}")
    pairs = queue_pairs(project)
    window, stage_from, stage_to = calibrate(project)
    counts = {
        "trials": n,
        "old": 0,
        "new": 0,
        "completed": 0,
        "torn": 0,
        "failed_after_kill": 0,
        "killed_runs": 0,
        "publish_seconds": round(window, 2),
        "write_window_seconds": [round(stage_from, 3), round(stage_to, 3)],
    }
    for i in range(n):
        previous, why = check_publication(out)
        assert previous, why
        with open(project / "decisions.jsonl", "a") as fh:  # every trial publishes something new
            fh.write(decision_line(i, pairs))
        kill_run = i % 10 == 9
        if kill_run:  # a source changed: the run takes the records it did not change as they were
            edit_source(project, i)
        cmd = [*linker_cmd(), "run" if kill_run else "publish", "-p", str(project), "-q"]
        # Most kills aim at the dangerous part: once the staging directory exists, anywhere
        # through writing it, the swap, and the clean-up after it.
        if kill_run or rng.random() < 0.2:
            rc = kill_at(cmd, rng.uniform(0.0, window * 1.1))
        else:
            rc = kill_at(
                cmd, rng.uniform(0.0, 2 * (stage_to - stage_from) + 0.01), after_staging_in=project
            )
        current, why = check_publication(out)
        if current is None:
            counts["torn"] += 1
            outcome = f"TORN ({why})"
        elif rc is not None:
            counts["completed"] += 1
            outcome = "completed before the kill"
        elif current == previous:
            counts["old"] += 1
            outcome = "previous publication"
        else:
            counts["new"] += 1
            outcome = "new publication"
        if kill_run:
            counts["killed_runs"] += 1
            again = run(["run"], project)  # the state must be rebuildable
            if again.returncode not in (0, 1):
                counts["failed_after_kill"] += 1
                outcome += f"; run after kill failed: {again.stderr.strip()}"
        print(
            f"trial {i + 1:3d}: {'run' if kill_run else 'publish'} killed={rc is None} -> {outcome}",
            flush=True,
        )
    final = run(["publish"], project)
    if final.returncode not in (0, 1):
        counts["failed_after_kill"] += 1
    counts["final_publication_ok"] = bool(check_publication(out)[0])
    counts["final_same_as_full"] = same_as_full(project, work, ["publish", "--full", "--force"])
    # and a run after them all: a source changed once more, what it normalizes and what it
    # takes from the state against a run computing everything (with the term frequencies
    # that run scored with: the last state's, which a run after a small change keeps)
    edit_source(project, n)
    last = run(["run", "--publish"], project)
    counts["final_run_same_as_full"] = last.returncode == 0 and same_as_full(
        project, work, ["run", "--publish", "--full", "--keep-frequencies"]
    )
    shutil.rmtree(work, ignore_errors=True)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--project", type=Path, default=REPO / "fixtures" / "acme")
    args = ap.parse_args()
    summary = trials(args.trials, args.seed, args.project)
    print(json.dumps(summary))
    bad = (
        summary["torn"]
        or summary["failed_after_kill"]
        or not summary["final_publication_ok"]
        or not summary["final_same_as_full"]
    )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
