"""How fast the review app opens and moves on a big queue.

    python benchmarks/review_app.py [--pairs 100000] [--moves 200]

The queue: the bundled example is run once (fixtures/acme: 37 items), then its review queue
is grown to --pairs rows by repeating its pair rows under new record ids (so no two items
share a record, as in a real queue of that size). Measured, for the example's own queue (the
baseline) and the big one, in this process:

- open, session: `ReviewSession.open` + the first item (copy the queue into memory, read the
  decisions log);
- open, app: from creating the app to the first item on screen (Textual headless, 80x24);
- open, terminal: the real `linker review` in tmux (80x24), from spawning it to the first
  item on the screen tmux shows (Python start-up and imports included);
- next pair, terminal: `s` (skip) and `y` (match: a line appended and fsynced) sent with
  `tmux send-keys`, until tmux's screen shows the next item: median and 95th percentile over
  --moves presses (an upper bound: tmux's own round trips are in it);
- next pair, handler: the app's Python work per key (session query, widget updates) before
  Textual renders.

Targets (issue 5): open under 1 s, next pair under 50 ms, on 100,000 pairs. Without tmux the
terminal figures are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
LINKER = str(Path(sys.executable).parent / "linker")


def make_project(work: Path) -> Path:
    p = work / "acme"
    shutil.copytree(
        REPO / "fixtures" / "acme", p, ignore=shutil.ignore_patterns(".linker", "crosswalk")
    )
    subprocess.run([LINKER, "run", "-p", str(p), "-q"], check=True, capture_output=True)
    return p


def grow_queue(project: Path, pairs: int) -> int:
    """Repeat the queue's pair rows under new ids until it holds `pairs` pairs."""
    con = duckdb.connect(str(project / ".linker" / "state.duckdb"))
    try:
        n = con.execute("SELECT count(*) FROM review_queue WHERE kind = 'pair'").fetchone()[0]
        con.execute(
            f"""
            CREATE OR REPLACE TABLE review_queue AS
            WITH c AS (SELECT * FROM review_queue WHERE kind = 'conflict'),
            p AS (
                SELECT q.* REPLACE (left_id || '~' || i AS left_id, left_rid + 1000000 * i AS left_rid)
                FROM (SELECT * FROM review_queue WHERE kind = 'pair') q,
                     range({-(-pairs // n)}) r(i)
                ORDER BY i, item LIMIT {pairs}
            )
            SELECT row_number() OVER (ORDER BY kind = 'pair', i)::INTEGER AS item, * EXCLUDE (item, i)
            FROM (SELECT *, item AS i FROM c UNION ALL BY NAME
                  SELECT *, row_number() OVER () + 1000 AS i FROM p)
            ORDER BY item
            """
        )
        return con.execute("SELECT count(*) FROM review_queue").fetchone()[0]
    finally:
        con.close()


def open_session(project: Path) -> float:
    from linker import Project, ReviewSession

    t0 = time.perf_counter()
    s = ReviewSession.open(Project(project), reviewer="bench")
    s.item_at(0)
    dt = time.perf_counter() - t0
    s.close()
    return dt


async def app_figures(project: Path, moves: int) -> dict:
    from linker import Project, ReviewSession
    from tui.app import ReviewApp

    t0 = time.perf_counter()
    session = ReviewSession.open(Project(project), reviewer="bench")
    session.set_filter("kind:pair")  # y moves on from a pair (on a conflict it only explains)
    app = ReviewApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        opened = time.perf_counter() - t0
        handler: list[float] = []
        for i in range(min(moves, session.view_size // 3)):  # never run out of pending pairs
            t = time.perf_counter()
            app.action_decide("match") if i % 2 else app.action_skip()
            handler.append(time.perf_counter() - t)
            await pilot.pause()
    (project / "decisions.jsonl").unlink(missing_ok=True)
    return {"open_app_s": opened, "handler": handler}


class Tmux:
    """`linker review` in a tmux session of 80x24."""

    def __init__(self, project: Path) -> None:
        self.name = f"linker-bench-{os.getpid()}"
        cmd = f"'{LINKER}' review -p '{project}' --reviewer bench"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "80", "-y", "24", cmd],
            check=True, env={**os.environ, "TERM": "xterm-256color"},
        )  # fmt: skip

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def item(self) -> str | None:
        m = re.search(r"item (\d+)/", self.screen())
        return m.group(1) if m else None

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def terminal_figures(project: Path, moves: int) -> dict:
    t0 = time.perf_counter()
    term = Tmux(project)
    try:
        while term.item() is None:
            if time.perf_counter() - t0 > 30:
                raise RuntimeError("linker review did not show an item within 30 s")
        opened = time.perf_counter() - t0
        term.keys("/", "kind:pair", "Enter")
        while "kind:pair" not in term.screen():
            time.sleep(0.01)
        time.sleep(0.3)
        times: dict[str, list[float]] = {"s": [], "y": []}
        for i in range(moves):
            key = "y" if i % 2 else "s"
            before = term.item()
            t = time.perf_counter()
            term.keys(key)
            while term.item() == before:
                if time.perf_counter() - t > 5:
                    raise RuntimeError(f"{key!r} did not move on within 5 s")
            times[key].append(time.perf_counter() - t)
        term.keys("q")
        time.sleep(0.5)
    finally:
        term.close()
    (project / "decisions.jsonl").unlink(missing_ok=True)
    return {"open_terminal_s": opened, "skip": times["s"], "match": times["y"]}


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def measure(project: Path, moves: int) -> dict:
    fig = {"open_session_s": open_session(project)}
    got = asyncio.run(app_figures(project, moves))
    fig["open_app_s"] = got["open_app_s"]
    fig["handler_median_ms"] = 1000 * statistics.median(got["handler"])
    if shutil.which("tmux"):
        term = terminal_figures(project, min(moves, 10 if moves < 100 else moves))
        fig["open_terminal_s"] = term["open_terminal_s"]
        for k in ("skip", "match"):
            fig[f"{k}_median_ms"] = 1000 * statistics.median(term[k])
            fig[f"{k}_p95_ms"] = 1000 * pct(term[k], 0.95)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--moves", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp))
        small_n = duckdb.connect(str(project / ".linker" / "state.duckdb"), read_only=True)
        small_items = small_n.execute("SELECT count(*) FROM review_queue").fetchone()[0]
        small_n.close()
        small = measure(project, 10)
        big_items = grow_queue(project, args.pairs)
        big = measure(project, args.moves)
    rows = [
        ("open: ReviewSession.open + first item", "open_session_s", "s"),
        ("open: app to first item (headless)", "open_app_s", "s"),
        ("open: `linker review` in tmux, spawn to first item", "open_terminal_s", "s"),
        ("next pair in tmux after s (skip): median", "skip_median_ms", "ms"),
        ("next pair in tmux after s (skip): p95", "skip_p95_ms", "ms"),
        ("next pair in tmux after y (match, fsync): median", "match_median_ms", "ms"),
        ("next pair in tmux after y (match, fsync): p95", "match_p95_ms", "ms"),
        ("next pair: the app's handler (before rendering)", "handler_median_ms", "ms"),
    ]
    print(f"{'':52} {small_items:>10} items {big_items:>10} items   ratio")
    if "open_terminal_s" not in big:
        print("tmux is not installed: the terminal figures are not measured")
    for label, key, unit in rows:
        if key not in big:
            continue
        a, b = small[key], big[key]
        print(f"{label:52} {a:>13.3f} {unit:<2} {b:>13.3f} {unit:<2} {b / a:7.2f}")


if __name__ == "__main__":
    main()
