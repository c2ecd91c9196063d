"""`linker review` in a real terminal, as a reviewer works: the real binary in tmux (and in a
bare pseudo-terminal, which needs nothing installed), keys y n u q, then `linker publish`."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .conftest import REPO

LINKER = str(Path(sys.executable).parent / "linker")


@pytest.fixture(scope="module")
def acme_run(tmp_path_factory) -> Path:
    """The bundled example after one run: conflicts and review-band pairs are queued."""
    p = tmp_path_factory.mktemp("review") / "acme"
    shutil.copytree(
        REPO / "fixtures" / "acme", p, ignore=shutil.ignore_patterns(".linker", "crosswalk")
    )
    subprocess.run(
        [LINKER, "run", "-p", str(p), "-q"], check=True, capture_output=True, timeout=300
    )
    return p


def queue(project: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(project / ".linker" / "state.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT left_source, left_id, right_source, right_id, account_id, probability "
            "FROM review_queue WHERE kind = 'pair' ORDER BY item"
        ).fetchall()
    finally:
        con.close()


class Tmux:
    """A tmux session of 80x24 running one command."""

    def __init__(self, cmd: list[str], cwd: Path) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed")
        self.name = f"linker-test-{os.getpid()}"
        self.status = cwd / "exit-status"
        shell = " ".join(f"'{c}'" for c in cmd) + f"; echo $? > '{self.status}'"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "80", "-y", "24", shell],
            check=True, env={**os.environ, "TERM": "xterm-256color"},
        )  # fmt: skip

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        for k in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, k], check=True)

    def wait_exit(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.status.exists():
            time.sleep(0.1)
        self.close()
        return int(self.status.read_text())

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


class Pty:
    """The command in a bare pseudo-terminal of 80x24; its output is drained, not parsed."""

    KEYS = {"Enter": "\r", "Escape": "\x1b"}

    def __init__(self, cmd: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.proc = subprocess.Popen(
            cmd, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, start_new_session=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.out = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.out += data

    def screen(self) -> str:
        return self.out.decode("utf-8", "replace")

    def keys(self, *keys: str) -> None:
        for k in keys:
            os.write(self.master, self.KEYS.get(k, k).encode())

    def wait_exit(self, timeout: float = 20) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def open_review(terminal, project: Path, cwd: Path):
    """`linker review` on the project in `terminal`, once its first screen is up."""
    term = terminal([LINKER, "review", "-p", str(project), "--reviewer", "ana"], cwd)
    wait_for(term, "reviewed 0")
    return term


def filter_to(term, *keys: str) -> None:
    """`/`, a pause (the bar opens), then the filter's keys and Enter; back once the screen
    shows the filter's text and the filter had time to apply."""
    term.keys("/")
    time.sleep(0.3)
    term.keys(*keys, "Enter")
    wait_for(term, keys[-1])
    time.sleep(0.3)


def wait_for(term, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in term.screen():
        if time.monotonic() >= deadline:
            screen = term.screen()[-2000:]
            term.close()  # a failed test leaves no review running behind it
            raise AssertionError(f"{text!r} never appeared:\n{screen}")
        time.sleep(0.1)


@pytest.mark.parametrize("terminal", [Tmux, Pty], ids=["tmux", "pty"])
def test_a_reviewer_in_a_real_terminal_y_n_u_q_then_publish(acme_run, tmp_path, terminal):
    p = tmp_path / "acme"
    shutil.copytree(acme_run, p)
    pairs = queue(p)
    assert len(pairs) >= 3
    term = open_review(terminal, p, tmp_path)
    filter_to(term, "kind:pair")
    for k in ("y", "n", "u"):
        term.keys(k)
        time.sleep(0.4)  # a reviewer's pace; each key is written before the next is read
    term.keys("q")
    assert term.wait_exit() == 0
    got = [json.loads(x) for x in (p / "decisions.jsonl").read_text().splitlines()]
    first = pairs[0]
    # the second pair asked is the next one not settled by the first match
    assert [x["decision"] for x in got] == ["match", "no_match", "undo"]
    assert (got[0]["left"], got[0]["right"]) == ([first[0], first[1]], [first[2], first[3]])
    assert got[1]["left"] == got[2]["left"] and got[1]["right"] == got[2]["right"]
    assert all(x["reviewer"] == "ana" and x["at"].endswith("Z") for x in got)

    r = subprocess.run(
        [LINKER, "publish", "-p", str(p), "--force", "-q"], capture_output=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    t = pq.read_table(p / "crosswalk" / "accounts.parquet").to_pylist()
    row = next(x for x in t if (x["source"], x["source_record_id"]) == (first[0], first[1]))
    assert row["method"] == "review" and row["account_id"] == first[4]
    # the decided pair's score when it was scored (a contradiction item has none)
    assert (row["match_probability"] is not None) == (first[5] is not None)
    st = subprocess.run([LINKER, "status", "-p", str(p), "--json"], capture_output=True)
    status = json.loads(st.stdout)
    assert status["decisions"]["by_reviewer"] == {"ana": 1}
    assert status["review"]["reviewed"] == 0  # the publish applied it; it left the queue


def test_in_tmux_filter_to_pairs_accept_one_cut_a_conflict_quit_then_publish(acme_run, tmp_path):
    # One sitting as a reviewer works: pairs only, accept the first; then the conflicts, cut
    # the first one's proposed edge (SOR ─edge─ record ─edge─ SOR); quit; publish shows both.
    import duckdb

    p = tmp_path / "acme"
    shutil.copytree(acme_run, p)
    pairs = queue(p)
    con = duckdb.connect(str(p / ".linker" / "state.duckdb"), read_only=True)
    try:
        (chain,) = con.execute(
            "SELECT evidence FROM review_queue WHERE kind = 'conflict' ORDER BY item LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    steps = json.loads(chain)
    assert len(steps) == 2 and sum(s["proposed_cut"] for s in steps) == 1
    cut = next(s for s in steps if s["proposed_cut"])
    kept = next(s for s in steps if not s["proposed_cut"])
    middle = steps[0]["to"]  # the record between the two accounts
    other = kept["from"] if kept["to"] == middle else kept["to"]  # the account it keeps
    term = open_review(Tmux, p, tmp_path)
    filter_to(term, "kind:pair")
    wait_for(term, "PAIR")
    term.keys("y")
    wait_for(term, "this sitting 1")
    filter_to(term, "C-u", "kind:conflict")  # C-u: clear the line first
    wait_for(term, "filter kind:conflict")  # the status line: the filter is applied
    wait_for(term, "CONFLICT")
    term.keys("n")
    wait_for(term, "this sitting 2")
    term.keys("q")
    assert term.wait_exit() == 0
    got = [json.loads(x) for x in (p / "decisions.jsonl").read_text().splitlines()]
    assert [x["decision"] for x in got] == ["match", "no_match"]
    assert (got[0]["left"], got[0]["right"]) == (list(pairs[0][:2]), list(pairs[0][2:4]))
    assert sorted([got[1]["left"], got[1]["right"]]) == sorted([cut["from"], cut["to"]])
    r = subprocess.run(
        [LINKER, "publish", "-p", str(p), "--force", "-q"], capture_output=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    t = {(x["source"], x["source_record_id"]): x for x in
         pq.read_table(p / "crosswalk" / "accounts.parquet").to_pylist()}  # fmt: skip
    accepted = t[pairs[0][0], pairs[0][1]]
    assert accepted["method"] == "review" and accepted["account_id"] == pairs[0][4]
    settled = t[tuple(middle)]
    assert settled["account_id"] == other[1] and settled["reason"] is None
