"""The normalize stage's keys computed in Python (registrable domains, VAT numbers, E.164
phones), and their mapping over distinct values, in this process or in worker processes.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from linker.db import arrow, attached, has_table
from linker.db import rows as rows_of

# Words people type before a VAT number: "VAT No.", "USt-IdNr.:", "TVA", "BTW-nr" ...
VAT_WORDS = re.compile(
    r"^(VAT|UST|TVA|IVA|BTW|MWST|NIF|CIF)(\s*-?\s*(IDNR|ID|NO|NR|NUMBER|NUM)\b)?[:.\s-]*", re.I
)


# Distinct values mapped through the Python functions, split over worker processes when there
# are this many or more (the functions hold the GIL: threads would run them one at a time).
# Measured (2 cores): in this process ~10 µs a value; two workers cost ~0.8 s more than their
# half of that (start, imports, each library's first calls, the pipes): at 88,603 values (100k
# account records) 0.88-1.04 s here against 1.28-1.30 s in workers; at 885,598 values (1M)
# workers take 5.4 s. Even at ~150k.
PARALLEL_MIN = 150_000
# The Arrow functions a job may name, each taking one or two string columns.
KEY_FUNCTIONS = ("_registrable_domains", "_vat_canonical", "_phone_e164")


def _map_distinct(
    con: duckdb.DuckDBPyConnection,
    jobs: dict[str, tuple[str, str]],
    cache: Path | None = None,
    *,
    keep_cached: bool = False,
) -> None:
    """For each `table: (fn, inputs_sql)`: a temp table of the input rows with `out` = fn over
    them (fn one of KEY_FUNCTIONS). All jobs together are split over worker processes, so the
    three Python-bound normalizations (domains, VAT, phones) use every core.

    `cache`: the last run's state database. Its `key_cache` (every value it mapped, and the
    answer) answers the values it holds, when made by the same key functions and libraries
    (`key_version`); only the others are computed. Table `key_cache` is left with this run's
    values, for the next run; with `keep_cached`, with the cache's other values too (a run that
    took unchanged records from the state does not see their values: kept for the next run
    that normalizes them; a run that normalizes every record keeps only its own).

    The workers are plain `python -m linker.normalize_worker` processes fed Arrow over a
    pipe, not multiprocessing: that would re-run a user's `__main__` script in each worker."""
    inputs = {t: arrow(con, sql) for t, (_, sql) in jobs.items()}
    # One table of every job's rows: job name, first and second argument (null if none).
    rows = pa.concat_tables(
        pa.table(
            {
                "fn": pa.array([fn] * len(inputs[t]), pa.string()),
                "a": inputs[t].column(0).cast(pa.string()),
                "b": (
                    inputs[t].column(1).cast(pa.string())
                    if inputs[t].num_columns > 1
                    else pa.nulls(len(inputs[t]), pa.string())
                ),
            }
        )
        for t, (fn, _) in jobs.items()
    )
    out = _cached_keys(con, rows, [len(inputs[t]) for t in jobs], cache, keep_cached)
    start = 0
    for t in jobs:
        n = len(inputs[t])
        con.register("_mapped_arrow", inputs[t].append_column("out", out.slice(start, n)))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT * FROM _mapped_arrow")
        con.unregister("_mapped_arrow")
        start += n


def _computed_keys(rows: pa.Table, job_sizes: list[int], threads: int) -> pa.ChunkedArray:
    """`threads`: DuckDB's ([engine] threads; by default one per core), which caps the worker
    processes too."""
    workers = min(os.cpu_count() or 1, 8, threads)
    if len(rows) < PARALLEL_MIN or workers < 2:
        return apply_keys(rows)
    return _in_workers(rows, job_sizes, workers)


@functools.cache
def key_version() -> str:
    """What the key functions' answers depend on: this module's code and the libraries'."""
    import phonenumbers
    import stdnum
    import tldextract

    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return (
        f"{code} phonenumbers {phonenumbers.__version__} stdnum {stdnum.__version__} "
        f"tldextract {tldextract.__version__}"
    )


def _cached_keys(
    con: duckdb.DuckDBPyConnection,
    rows: pa.Table,
    job_sizes: list[int],
    cache: Path | None,
    keep_cached: bool = False,
) -> pa.ChunkedArray:
    """`out` for the (fn, a, b) rows, from the last run's `key_cache` where it has them."""
    con.register("_key_rows", rows.append_column("i", pa.array(range(len(rows)), pa.int64())))
    hits = "SELECT NULL::BIGINT AS i, NULL::VARCHAR AS out WHERE false"
    others = "SELECT fn, a, b, a AS out FROM _key_rows WHERE false"
    # no cache, or one that cannot be read (held by another process): compute them all
    with attached(con, cache, "_kc") as failed:
        if not failed and has_table(con, "key_cache", "_kc"):
            found = rows_of(con, "SELECT value FROM _kc.meta WHERE key = 'key_version'")
            if found and found[0][0] == key_version():
                hits = (
                    "SELECT r.i, c.out FROM _key_rows r JOIN _kc.key_cache c "
                    "ON c.fn = r.fn AND c.a = r.a AND c.b IS NOT DISTINCT FROM r.b"
                )
                if keep_cached:
                    others = (
                        "SELECT c.* FROM _kc.key_cache c ANTI JOIN _key_rows r "
                        "ON c.fn = r.fn AND c.a = r.a AND c.b IS NOT DISTINCT FROM r.b"
                    )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _key_hits AS {hits}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _key_others AS {others}")
    missing = arrow(
        con, "SELECT fn, a, b, i FROM _key_rows ANTI JOIN _key_hits USING (i) ORDER BY i"
    )
    # each job's share of the missing rows (the jobs are consecutive ranges of i)
    idx = missing.column("i")
    below = [pc.sum(pc.less(idx, end)).as_py() or 0 for end in itertools.accumulate(job_sizes)]
    sizes = [b - a for a, b in zip([0, *below[:-1]], below, strict=True)]
    threads = int(rows_of(con, "SELECT current_setting('threads')")[0][0])
    computed = _computed_keys(missing.select(["fn", "a", "b"]), sizes, threads)
    con.register("_key_new", pa.table({"i": missing.column("i"), "out": computed}))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _key_all AS "
        "SELECT * FROM _key_hits UNION ALL SELECT * FROM _key_new"
    )
    out = arrow(con, "SELECT out FROM _key_all ORDER BY i").column("out")
    con.execute(
        "CREATE OR REPLACE TABLE key_cache AS SELECT r.fn, r.a, r.b, k.out "
        "FROM _key_rows r JOIN _key_all k USING (i) UNION ALL FROM _key_others"
    )
    for t in ("_key_rows", "_key_new"):
        con.unregister(t)
    for t in ("_key_hits", "_key_others", "_key_all"):
        con.execute(f"DROP TABLE {t}")
    return out


def apply_keys(rows: pa.Table) -> pa.ChunkedArray:
    """`out` for a table of (fn, a, b) rows, in order: each run of one fn as one batch."""
    runs = pc.run_end_encode(rows.column("fn").combine_chunks())
    parts, start = [], 0
    for fn, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        if fn not in KEY_FUNCTIONS:
            raise ValueError(f"not a key function: {fn!r}")
        batch = rows.slice(start, end - start)
        args = [batch.column("a").combine_chunks()]
        if fn != "_registrable_domains":
            args.append(batch.column("b").combine_chunks())
        parts.append(globals()[fn](*args))
        start = end
    return pa.chunked_array(parts, type=pa.string())


def _in_workers(rows: pa.Table, job_sizes: list[int], workers: int) -> pa.ChunkedArray:
    """`apply_keys(rows)`, computed by `workers` processes: each gets its share of every job
    (the jobs cost very different amounts per row), and the answers are put back in order."""
    # (start, length) of worker w's share of each job, in job order.
    shares: list[list[tuple[int, int]]] = [[] for _ in range(workers)]
    start = 0
    for n in job_sizes:
        size = -(-n // workers)
        for w in range(workers):
            lo = min(start + w * size, start + n)
            shares[w].append((lo, min(size, start + n - lo)))
        start += n
    procs = []
    for w in range(workers):
        proc = subprocess.Popen(
            # -P: the working directory is not put on the worker's path (a `pathlib.py` in
            # the directory linker runs from would be imported in the standard one's place)
            [sys.executable, "-P", "-m", "linker.normalize_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None  # stdin=PIPE
        part = pa.concat_tables(rows.slice(lo, n) for lo, n in shares[w])
        with pa.ipc.new_stream(proc.stdin, part.schema) as writer:
            writer.write_table(part)
        proc.stdin.close()
        procs.append(proc)
    answers = []
    for proc in procs:
        assert proc.stdout is not None and proc.stderr is not None  # stdout=PIPE, stderr=PIPE
        data = proc.stdout.read()
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise RuntimeError(f"a normalize worker failed: {err.decode(errors='replace')[-2000:]}")
        answers.append(pa.ipc.open_stream(data).read_all().column("out"))
    # Back in row order: job by job, worker by worker.
    pieces, offsets = [], [0] * workers
    for j in range(len(job_sizes)):
        for w in range(workers):
            n = shares[w][j][1]
            pieces += answers[w].slice(offsets[w], n).chunks
            offsets[w] += n
    return pa.chunked_array(pieces, type=pa.string())


# --- UDF bodies: called on Arrow arrays of distinct values ------------------------------------


@functools.cache
def _tld_extractor():
    import tldextract

    # No suffix_list_urls and no cache dir: the snapshot bundled with tldextract, no network.
    # Private suffixes too: acme.myshopify.com and globex.myshopify.com are two companies.
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def registrable_domain(host: str | None) -> str | None:
    """acme.co.uk for www.shop.acme.co.uk; None when there is no registrable domain."""
    if not host or "." not in host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")  # müller.de -> xn--mller-kva.de
        except UnicodeError:
            return None
    if not re.fullmatch(r"[a-z0-9.-]+", host):
        return None
    ext = _tld_extractor()(host)
    if not ext.domain or not ext.suffix:
        return None
    return f"{ext.domain}.{ext.suffix}"


def _registrable_domains(hosts: pa.Array) -> pa.Array:
    return pa.array([registrable_domain(h) for h in hosts.to_pylist()], type=pa.string())


def vat_canonical(raw: str | None, country: str | None) -> str | None:
    """The VAT number as prefix + compact number when its check digits are valid, else None.

    The country comes from the number's own prefix, else from the record's country.
    """
    from stdnum import get_cc_module

    if not raw:
        return None
    s = re.sub(r"[^0-9A-Za-z]", "", VAT_WORDS.sub("", raw.strip())).upper()
    if len(s) < 5:
        return None
    if s[:2].isalpha():
        cc = s[:2]
        if cc in ("GR", "XI"):  # Greece files VAT as EL; Northern Ireland's XI is the GB number
            cc = {"GR": "EL", "XI": "GB"}[cc]
            s = cc + s[2:]
    elif country:
        cc = "EL" if country == "GR" else country
        s = ("CHE" if cc == "CH" else cc) + s.removeprefix("E")
    else:
        return None
    module_cc = {"EL": "gr"}.get(cc, cc.lower())
    try:
        module = get_cc_module(module_cc, "vat")
    except Exception:
        module = None
    if module is None:
        return None
    if cc == "CH" and not re.search(r"(MWST|TVA|IVA)$", s):
        s += "MWST"  # stdnum wants the language suffix that people usually leave out
    try:
        if not module.is_valid(s):
            return None
        compact = module.compact(s).upper()
    except Exception:
        return None
    if cc == "CH":
        compact = re.sub(r"(MWST|TVA|IVA)$", "", compact)
    return compact if compact.startswith(cc) else cc + compact


def _vat_canonical(raws: pa.Array, countries: pa.Array) -> pa.Array:
    return pa.array(
        [vat_canonical(r, c) for r, c in zip(raws.to_pylist(), countries.to_pylist(), strict=True)],
        type=pa.string(),
    )


def phone_e164(raw: str | None, country: str | None) -> str | None:
    """E.164 (+49301234567), reading national numbers in the record's country; None if invalid."""
    import phonenumbers

    if not raw or not re.search(r"\d", raw):
        return None
    try:
        number = phonenumbers.parse(raw, country or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_e164(raws: pa.Array, countries: pa.Array) -> pa.Array:
    return pa.array(
        [phone_e164(r, c) for r, c in zip(raws.to_pylist(), countries.to_pylist(), strict=True)],
        type=pa.string(),
    )
