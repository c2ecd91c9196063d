"""Bad input never crashes: each case through the CLI, on a project that already has a
publication. A case either *stops* (exit 2 config / 3 input data, the message names the culprit,
the publication is untouched) or is *skipped and reported* (exit 0, a warning names it).
The rule for which is which is in docs/cli.md ("What stops and what is skipped")."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linker.cli import app

from .conftest import write_file, write_tiny

runner = CliRunner()
STOP_CONFIG, STOP_INPUT, SKIP = 2, 3, 0


def edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        text = path.read_text("utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1), "utf-8")

    return apply


def append(rel: str, text: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        with open(root / rel, "a", encoding="utf-8") as fh:
            fh.write(text)

    return apply


def write(rel: str, content: str | bytes) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        write_file(root / rel, content)

    return apply


def steps(*fns: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        for f in fns:
            f(root)

    return apply


def decision(left, right, value="match") -> str:
    return (
        json.dumps(
            {
                "left": left,
                "right": right,
                "decision": value,
                "reviewer": "t",
                "at": "2026-11-23T10:00:00Z",
            }
        )
        + "\n"
    )


T = "linker.toml"
CRM = "data/crm.csv"
PROD = "data/product.csv"
LONG = "Acme " + "x" * 100_000

# (case id, mutation, expected exit code, substrings the message must contain)
CASES = [
    # --- configuration: exit 2, naming file and key ---------------------------------------------
    ("toml-syntax", append(T, "\n[oops\n"), STOP_CONFIG, ["linker.toml", "TOML syntax error"]),
    (
        "unknown-top-key",
        append(T, "\n[sourcess.x]\nentity = 1\n"),
        STOP_CONFIG,
        ["sourcess", "did you mean 'sources'"],
    ),
    (
        "misspelt-source-key",
        edit(T, 'id = "Id"\n', 'id = "Id"\nfeilds = {}\n'),
        STOP_CONFIG,
        ["sources.crm.feilds", "did you mean 'fields'"],
    ),
    (
        "misspelt-project-key",
        edit(T, "accounts_sor", "acounts_sor"),
        STOP_CONFIG,
        ["project.acounts_sor", "did you mean 'accounts_sor'"],
    ),
    (
        "wrong-type-id",
        edit(T, 'id = "Id"', "id = 5"),
        STOP_CONFIG,
        ["sources.crm.id", "expected a string"],
    ),
    (
        "wrong-type-accept",
        append(T, '\n[scoring]\naccept = "high"\n'),
        STOP_CONFIG,
        ["scoring.accept", "expected a number"],
    ),
    (
        "wrong-type-gate",
        append(T, "\n[quality]\nmax_conflicts = 1.5\n"),
        STOP_CONFIG,
        ["quality.max_conflicts", "expected an integer"],
    ),
    (
        "wrong-type-order",
        append(T, '\n[rules]\norder = "ref"\n'),
        STOP_CONFIG,
        ["rules.order", "expected a list of strings"],
    ),
    (
        "missing-project-name",
        edit(T, 'name = "tiny"\n', ""),
        STOP_CONFIG,
        ["project.name", "missing"],
    ),
    (
        "missing-entity",
        edit(T, '[sources.crm]\nentity = "accounts"\n', "[sources.crm]\n"),
        STOP_CONFIG,
        ["sources.crm.entity", "missing"],
    ),
    (
        "missing-id",
        edit(T, 'path = "data/crm.csv"\nid = "Id"\n', 'path = "data/crm.csv"\n'),
        STOP_CONFIG,
        ["sources.crm.id", "missing"],
    ),
    (
        "sor-names-no-source",
        edit(T, 'accounts_sor = "product"', 'accounts_sor = "prodct"'),
        STOP_CONFIG,
        ["project.accounts_sor", "did you mean 'product'"],
    ),
    (
        "sor-is-contacts",
        edit(T, 'accounts_sor = "product"', 'accounts_sor = "crm_contacts"'),
        STOP_CONFIG,
        ["project.accounts_sor", "expected 'accounts'"],
    ),
    (
        "ref-unknown-source",
        edit(T, 'support = "Support_Id"', 'suport = "Support_Id"'),
        STOP_CONFIG,
        ["sources.crm.refs.suport", "did you mean 'support'"],
    ),
    (
        "contacts-link-unknown",
        edit(T, 'source = "crm", column', 'source = "cmr", column'),
        STOP_CONFIG,
        ["sources.crm_contacts.account.source", "did you mean 'crm'"],
    ),
    (
        "contacts-sor-without-link",
        edit(T, 'account = { source = "product", column = "account_id" }\n', ""),
        STOP_CONFIG,
        ["sources.product_users.account", "needs an account link"],
    ),
    (
        "path-and-query",
        edit(T, 'path = "data/crm.csv"', 'path = "data/crm.csv"\nquery = "select 1"'),
        STOP_CONFIG,
        ["sources.crm", "exactly one of `path`"],
    ),
    (
        "unsupported-file-type",
        edit(T, "data/crm.csv", "data/crm.xlsx"),
        STOP_CONFIG,
        ["sources.crm.path", "unsupported file type '.xlsx'"],
    ),
    (
        "unknown-rule",
        append(T, '\n[rules]\norder = ["ref", "domian"]\n'),
        STOP_CONFIG,
        ["rules.order", "did you mean 'domain'"],
    ),
    (
        "bad-project-rule",
        write("rules/x.toml", 'name = "x"\nentity = "accounts"\nequals = ["vat"]\n'),
        STOP_CONFIG,
        ["x.toml", "did you mean 'equal'"],
    ),
    (
        "filter-unknown-column",
        edit(T, "status <> 'deleted'", "stauts <> 'deleted'"),
        STOP_CONFIG,
        ["sources.product.filter", '"status"'],
    ),
    (
        "query-fails",
        edit(T, 'path = "data/crm.csv"', 'query = "select * from nowhere"'),
        STOP_CONFIG,
        ["sources.crm.query", "nowhere"],
    ),
    (
        "config-not-utf8",
        write(T, b'[project]\nname = "t\xff"\n'),
        STOP_CONFIG,
        ["linker.toml", "not UTF-8"],
    ),
    (
        "bad-duplicates-policy",
        append(T, '\n[duplicates]\npolicy = "squash"\n'),
        STOP_CONFIG,
        ["duplicates.policy", "'report' or 'merge'"],
    ),
    (
        "gate-unknown-source",
        append(T, "\n[quality]\nmin_linked_share = { crn = 0.5 }\n"),
        STOP_CONFIG,
        ["quality.min_linked_share.crn", "did you mean 'crm'"],
    ),
    (
        "review-above-accept",
        append(T, "\n[scoring]\naccept = 0.9\nreview = 0.95\n"),
        STOP_CONFIG,
        ["scoring.review", "must not exceed"],
    ),
    # --- input data: exit 3, naming file, column, line or ids ------------------------------------
    (
        "missing-file",
        edit(T, "data/crm.csv", "data/gone.csv"),
        STOP_INPUT,
        ["gone.csv", "file not found"],
    ),
    (
        "path-is-directory",
        steps(write("data/dir.csv/x", ""), edit(T, "data/crm.csv", "data/dir.csv")),
        STOP_INPUT,
        ["dir.csv", "is a directory"],
    ),
    (
        "missing-id-column",
        edit(CRM, "Id,Name", "Ident,Name"),
        STOP_INPUT,
        ["crm.csv", "missing column 'Id'"],
    ),
    (
        "missing-field-column",
        edit(CRM, ",Website,", ",Site,"),
        STOP_INPUT,
        ["crm.csv", "'Website'", "sources.crm.fields.domain"],
    ),
    (
        "missing-ref-column",
        edit(CRM, ",Product_Id,", ",ProductId,"),
        STOP_INPUT,
        ["crm.csv", "'Product_Id'", "did you mean 'ProductId'"],
    ),
    (
        "missing-account-link-column",
        edit("data/crm_contacts.csv", "Id,AccountId", "Id,Account"),
        STOP_INPUT,
        ["crm_contacts.csv", "'AccountId'", "sources.crm_contacts.account.column"],
    ),
    ("ragged-csv-row", append(CRM, "118,Short\n"), STOP_INPUT, ["crm.csv:10", "row has 2 fields"]),
    (
        "non-utf8-bytes",
        steps(
            write(
                CRM,
                b"Id,Name,Website,BillingCountry,VAT,Phone,Product_Id,Support_Id\n"
                b"1,M\xfcller,,,,,,\n",
            )
        ),
        STOP_INPUT,
        ["crm.csv:2", "not UTF-8"],
    ),
    (
        "torn-jsonl-line",
        append("data/support.jsonl", '{"id": 2104, "na'),
        STOP_INPUT,
        ["support.jsonl:4", "cut off"],
    ),
    (
        "malformed-json-file",
        write("data/billing.json", '[{"id": "cus_A", '),
        STOP_INPUT,
        ["billing.json", "malformed JSON"],
    ),
    (
        "duplicate-sor-ids",
        append(PROD, " 34 ,Acme again,,DE,active\n"),
        STOP_INPUT,
        ["product.csv", "duplicate id", "'34'"],
    ),
    (
        "duplicate-header-columns",
        edit(CRM, "Id,Name,Website", "Id,Name,Name"),
        STOP_INPUT,
        ["crm.csv:1", "duplicate column names in the header: Name"],
    ),
    (
        "corrupt-parquet",
        write("data/product_users.parquet", b"PAR1 this is not parquet"),
        STOP_INPUT,
        ["product_users.parquet", "cannot read parquet"],
    ),
    (
        "decision-with-bad-value",
        write("decisions.jsonl", decision(["crm", "114"], ["product", "37"], "maybe")),
        STOP_INPUT,
        ["decisions.jsonl:1", "decision must be one of"],
    ),
    (
        "decision-missing-side",
        write("decisions.jsonl", '{"left": ["crm", "114"], "decision": "match"}\n'),
        STOP_INPUT,
        ["decisions.jsonl:1", '"right"'],
    ),
    # --- skipped and reported: exit 0, a warning names it ------------------------------------------
    (
        "header-only-file",
        write(CRM, "Id,Name,Website,BillingCountry,VAT,Phone,Product_Id,Support_Id\n"),
        SKIP,
        [],
    ),
    ("empty-file", write("data/support.jsonl", ""), SKIP, ["support.jsonl: empty file"]),
    (
        "null-sor-ids",
        append(PROD, " ,Nameless,,DE,active\n,Nameless 2,,DE,active\n"),
        SKIP,
        ["product.csv: 2 record(s) without an id", "data rows 9, 10"],
    ),
    (
        "repeated-non-sor-id",
        append(CRM, "110,ACME copy,,DE,,,,\n"),
        SKIP,
        ["crm.csv: 1 id(s) appear more than once", "'110'"],
    ),
    (
        "float-and-padded-ids",
        edit(CRM, "113,Hooli,,USA,, , 38 ,", " 113.0 ,Hooli,,USA,, ,38.000,"),
        SKIP,
        [],
    ),
    (
        "very-long-values",
        append(CRM, f"118,{LONG},{'d' * 5000}.com,DE,{'9' * 3000},{'1' * 3000},,\n"),
        SKIP,
        [],
    ),
    (
        "markup-and-escapes-in-names",
        append(CRM, "118,[bold red]x[/] \x1b[31mEvil\x1b[0m,,DE,,,,\n"),
        SKIP,
        [],
    ),
    (
        "torn-decisions-line",
        write(
            "decisions.jsonl",
            decision(["crm", "114"], ["product", "37"]) + '{"left": ["crm", "116"], "ri',
        ),
        SKIP,
        ["decisions.jsonl:2", "torn last line ignored"],
    ),
    (
        "decision-about-missing-record",
        write("decisions.jsonl", decision(["crm", "999"], ["product", "34"])),
        SKIP,
        ["crm:999", "no longer exists"],
    ),
    (
        "empty-project-directory",
        lambda root: [
            p.unlink() if p.is_file() else shutil.rmtree(p)
            for p in root.iterdir()
            if p.name != "crosswalk"
        ],
        STOP_CONFIG,
        ["no linker.toml"],
    ),
]


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    root = write_tiny(tmp_path_factory.mktemp("pristine") / "tiny")
    r = runner.invoke(app, ["run", "-p", str(root), "--publish"])
    assert r.exit_code == 0, r.output
    return root


def fingerprint(out: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.iterdir())
        if p.is_file()
    }


def test_the_suite_is_large_enough():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("mutate", "code", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(published, tmp_path, mutate, code, needles):
    root = tmp_path / "tiny"
    shutil.copytree(published, root)
    before = fingerprint(root / "crosswalk")
    mutate(root)
    r = runner.invoke(app, ["run", "-p", str(root), "--publish"])
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr)
    if code != SKIP:
        assert fingerprint(root / "crosswalk") == before  # the publication is untouched
    else:
        assert (root / "crosswalk" / "manifest.json").exists()
        assert "\x1b" not in r.stdout + r.stderr  # data never reaches the terminal as control codes
