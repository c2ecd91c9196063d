"""What a change to the account records can reach in the rules and the resolve: for issue 17.

    python benchmarks/change_reach.py --project DIR [--shares 0.001 0.01] [--seed 1]

Reads DIR's `.linker/state.duckdb` (run `linker run -p DIR` first). For each share, a change set
of that share of the account records (chosen by a hash of their rid and the seed), then its
closure: every account record that shares a key with one in the set — name + country, a domain,
an email, a VAT or registration number held by two or more account records — or sits in the
same component (before cuts), round after round until nothing is added. With `--contacts`,
an account record also holds its contacts' emails and email domains as keys (what the
`user_email` rule and the contacts' evidence — members, their domains — read: a SOR user's
email ties its account's record to every record with a contact writing from it). A run that
re-derives only this closure's rule keys, edges and components and keeps everything else as the
last run left it does that much of the rules' and the resolve's work. Prints each round; the
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from linker.project import Project  # noqa: E402

# Every key of every account record (_all_keys); _keys keeps those two or more rows hold.
KEYS = """
CREATE OR REPLACE TEMP TABLE _all_keys AS
SELECT rid, 'name:' || name || ' / ' || country AS key FROM _acc
WHERE name IS NOT NULL AND country IS NOT NULL
UNION ALL SELECT rid, 'domain:' || unnest(domain) FROM _acc WHERE domain IS NOT NULL
UNION ALL SELECT rid, 'email:' || email FROM _acc WHERE email IS NOT NULL
UNION ALL SELECT rid, 'vat:' || vat FROM _acc WHERE vat IS NOT NULL
UNION ALL SELECT rid, 'reg:' || registration_number FROM _acc
WHERE registration_number IS NOT NULL
"""
SHARED = """
CREATE OR REPLACE TEMP TABLE _keys AS
SELECT rid, key FROM _all_keys QUALIFY count(*) OVER (PARTITION BY key) >= 2
"""
GROW = """
CREATE OR REPLACE TEMP TABLE _reach AS
SELECT rid FROM _reach
UNION SELECT k.rid FROM _keys k WHERE k.key IN (SELECT key FROM _keys SEMI JOIN _reach USING (rid))
UNION SELECT a.rid FROM _acc a WHERE a.comp IN (SELECT comp FROM _acc SEMI JOIN _reach USING (rid))
"""


def reach(con: duckdb.DuckDBPyConnection, share: float, seed: int) -> dict:
    """The closure of one change set (tables _acc and _keys built): sizes per round."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _reach AS SELECT rid FROM _acc "
        "WHERE hash(rid, ?) % 1000000 < ?",
        [seed, int(share * 1_000_000)],
    )
    sizes = [con.execute("SELECT count(*) FROM _reach").fetchone()[0]]
    while True:
        con.execute(GROW)
        sizes.append(con.execute("SELECT count(*) FROM _reach").fetchone()[0])
        if sizes[-1] == sizes[-2]:
            return {"share": share, "changed": sizes[0], "reached": sizes[-1], "rounds": sizes}


def _contact_keys(con: duckdb.DuckDBPyConnection, project: Path) -> None:
    """Add to _all_keys each account record's contacts' emails and email domains (a contact's
    account record: the record of its source's `account` source it names)."""
    links = [
        (s.name, s.account.source)
        for s in Project(project).config.sources_of("contacts")
        if s.account is not None
    ]
    if not links:
        return
    pairs = ", ".join(f"('{c}', '{a}')" for c, a in links)
    con.execute(
        f"""
        INSERT INTO _all_keys
        SELECT acc.rid, k.key FROM (
            SELECT c.source, c.account_ref, 'email:' || c.email AS key FROM s.records c
            WHERE c.entity = 'contacts' AND c.email IS NOT NULL
            UNION ALL
            SELECT c.source, c.account_ref, 'domain:' || unnest(c.domain) FROM s.records c
            WHERE c.entity = 'contacts' AND c.domain IS NOT NULL
        ) k
        JOIN (VALUES {pairs}) l(contacts, accounts) ON l.contacts = k.source
        JOIN s.records acc ON acc.source = l.accounts AND acc.id = k.account_ref
        """
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--shares", type=float, nargs="+", default=[0.001, 0.01])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--contacts", action="store_true", help="contacts' emails and domains too")
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"ATTACH '{args.project / '.linker' / 'state.duckdb'}' AS s (READ_ONLY)")
    t0 = time.perf_counter()
    con.execute(
        "CREATE TEMP TABLE _acc AS SELECT r.rid, r.name, r.country, r.domain, r.email, r.vat, "
        "r.registration_number, a.comp FROM s.records r JOIN s.account_result a USING (rid) "
        "WHERE r.entity = 'accounts'"
    )
    con.execute(KEYS)
    if args.contacts:
        _contact_keys(con, args.project)
    con.execute(SHARED)
    n = con.execute("SELECT count(*) FROM _acc").fetchone()[0]
    print(f"{n:,} account records ({time.perf_counter() - t0:.1f} s to read their keys)")
    out = []
    for share in args.shares:
        r = reach(con, share, args.seed)
        rounds = " → ".join(f"{x:,}" for x in r["rounds"])
        print(f"{share:.2%} changed: {rounds} ({r['reached'] / n:.1%} of the account records)")
        out.append(r)
    print(json.dumps({"account_records": n, "seconds": round(time.perf_counter() - t0, 1),
                      "reach": out}))  # fmt: skip


if __name__ == "__main__":
    main()
