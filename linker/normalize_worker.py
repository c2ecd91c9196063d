"""A worker of the normalize stage: `python -m linker.normalize_worker`.

Reads one Arrow stream of (fn, a, b) rows on stdin, writes one Arrow stream with `out` per row,
in order, on stdout (see normalize_keys._map_distinct). Nothing else: no DuckDB, no state.
"""

from __future__ import annotations

import sys

import pyarrow as pa

from linker.normalize_keys import apply_keys


def main() -> None:
    rows = pa.ipc.open_stream(sys.stdin.buffer).read_all()
    out = pa.table({"out": apply_keys(rows)})
    with pa.ipc.new_stream(sys.stdout.buffer, out.schema) as writer:
        writer.write_table(out)


if __name__ == "__main__":
    main()
