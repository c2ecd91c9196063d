"""`linker --help` against `python -c "import typer"`: the command line's start-up cost.

Each command runs N times as a fresh process, alternating, and the medians are compared
(issue 16's target: --help within 1.5x of importing typer, so the CLI loads nothing heavy —
DuckDB, Arrow, Splink — before a command needs it). Prints the figures and the ratio.

    python benchmarks/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 1.5


def _wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    linker = str(Path(sys.executable).with_name("linker"))
    commands = {
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "linker --help": [linker, "--help"],
        "linker run --help": [linker, "run", "--help"],
    }
    for cmd in commands.values():  # warm the file cache
        _wall(cmd)
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(_wall(cmd))
    base = statistics.median(times["python -c 'import typer'"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<28} median {med * 1000:7.1f} ms  ({med / base:.2f}x import typer)")
    ratio = statistics.median(times["linker --help"]) / base
    print(f"linker --help / import typer: {ratio:.2f} (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
