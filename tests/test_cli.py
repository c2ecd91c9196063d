"""The CLI as users drive it: typer's CliRunner and a real subprocess; exit codes; messages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linker.cli import app

from .conftest import REPO

runner = CliRunner()


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env=env)


def run_cli(*args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """The real `linker` binary in a subprocess, output captured as text."""
    return subprocess.run(
        [*linker_bin(), *args],
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
        timeout=timeout,
    )


def linker_bin() -> list[str]:
    exe = Path(sys.executable).parent / "linker"
    return (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from linker.cli import main; main()"]
    )


def test_run_prints_summary_and_publishes(tiny):
    r = invoke("run", "-p", str(tiny), "--publish")
    assert r.exit_code == 0, r.output
    assert "crm" in r.stdout and "published run" in r.stdout
    assert (tiny / "crosswalk" / "manifest.json").exists()
    assert "✓ ingest" in r.stderr  # progress goes to stderr, not stdout


def test_run_json_is_one_object_on_stdout(tiny):
    r = invoke("run", "-p", str(tiny), "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["sources"]["crm"]["records"] == 8
    assert set(rep["timings"]) >= {"ingest", "normalize", "rules", "resolve", "contacts"}
    assert rep["published"] is None


def test_project_from_environment_variable(tiny):
    r = invoke("check", env={"LINKER_PROJECT": str(tiny)})
    assert r.exit_code == 0, r.output
    assert "config, rules and sources are valid" in r.stdout


def test_quality_gate_failure_exits_1_and_does_not_publish(tiny):
    toml = tiny / "linker.toml"
    toml.write_text(toml.read_text() + "\n[quality]\nmin_linked_share = { crm = 0.99 }\n")
    r = invoke("run", "-p", str(tiny), "--publish")
    assert r.exit_code == 1, r.output
    assert "FAIL" in r.stdout and "not published" in r.stdout
    assert not (tiny / "crosswalk").exists()
    r = invoke("publish", "-p", str(tiny), "--force")
    # published as asked: exit 0, the failed gate still printed
    assert r.exit_code == 0 and (tiny / "crosswalk" / "accounts.parquet").exists()
    assert "FAIL" in r.stdout


@pytest.mark.parametrize(
    ("edit", "code", "needles"),
    [
        (
            lambda t: t.replace("[sources.crm]", "[sources.crm]\nfeilds = 1"),
            2,
            ["linker.toml", "sources.crm.feilds", "did you mean 'fields'"],
        ),
        (
            lambda t: t.replace('accounts_sor = "product"', 'accounts_sor = "prodcut"'),
            2,
            ["project.accounts_sor", "did you mean 'product'"],
        ),
        (
            lambda t: t.replace('path = "data/crm.csv"', 'path = "data/nope.csv"'),
            3,
            ["nope.csv", "file not found"],
        ),
        (
            lambda t: t.replace('name = "Name"', 'name = "CompanyName"'),
            3,
            ["crm.csv", "'CompanyName'", "Name"],
        ),
        (
            lambda t: t + '\n[rules]\norder = ["ref", "vatt"]\n',
            2,
            ["rules.order", "did you mean 'vat'"],
        ),
        (
            lambda t: t.replace("filter = \"status <> 'deleted'\"", 'filter = "stauts <> 1"'),
            2,
            ["sources.product.filter"],
        ),
        (lambda t: t + "\nnot toml at all [[\n", 2, ["linker.toml", "TOML syntax error"]),
    ],
)
def test_user_errors_exit_with_code_and_name_the_culprit(tiny, edit, code, needles):
    toml = tiny / "linker.toml"
    toml.write_text(edit(toml.read_text()))
    r = invoke("run", "-p", str(tiny))
    assert r.exit_code == code, r.output
    for n in needles:
        assert n in r.stderr, (n, r.stderr)
    assert "Traceback" not in r.output


def test_ragged_csv_row_names_file_and_line(tiny):
    crm = tiny / "data" / "crm.csv"
    lines = crm.read_text().splitlines()
    lines[3] = lines[3] + ",extra"
    crm.write_text("\n".join(lines) + "\n")
    r = invoke("run", "-p", str(tiny))
    assert r.exit_code == 3
    assert "crm.csv:4" in r.stderr and "the header has 8" in r.stderr


def test_duplicate_sor_ids_stop_with_the_ids(tiny):
    prod = tiny / "data" / "product.csv"
    prod.write_text(prod.read_text() + "34.0,Acme again,,DE,active\n")
    r = invoke("run", "-p", str(tiny))
    assert r.exit_code == 3
    assert "duplicate id" in r.stderr and "'34'" in r.stderr and "rows 1, 9" in r.stderr


def test_no_project_here_is_a_clear_usage_error(tmp_path):
    r = invoke("run", "-p", str(tmp_path))
    assert r.exit_code == 2
    assert "no linker.toml" in r.stderr and "linker init" in r.stderr


def test_unknown_command_and_bad_option_exit_2():
    assert invoke("frobnicate").exit_code == 2
    assert invoke("run", "--no-such-flag").exit_code == 2


def test_explain_and_status_and_evaluate(tiny, tmp_path):
    assert invoke("run", "-p", str(tiny), "--publish").exit_code == 0
    r = invoke("explain", "support", "2101", "-p", str(tiny))
    assert r.exit_code == 0
    assert (
        "account_id 34" in r.stdout and "[ref · identifying]" in r.stdout and "crm:110" in r.stdout
    )
    r = invoke("explain", "crm", "nope", "-p", str(tiny))
    assert r.exit_code == 2 and "no record with id 'nope'" in r.stderr  # a usage error
    r = invoke("explain", "billing", "CUS_A", "-p", str(tiny))  # case: the hint names the id
    assert r.exit_code == 2 and "did you mean 'cus_A'?" in r.stderr
    r = invoke("explain", "crmm", "1", "-p", str(tiny))
    assert r.exit_code == 2 and "did you mean 'crm'" in r.stderr
    r = invoke("status", "-p", str(tiny), "--json")
    st = json.loads(r.stdout)
    assert st["last_publication"]["row_counts"]["accounts.parquet"] == 21
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "source,source_record_id,account_id,user_id\ncrm,110,34,\ncrm,111,35,\ncrm,112,99,\n"
        "crm,114,,\n"
    )
    r = invoke("evaluate", "--truth", str(truth), "-p", str(tiny), "--json")
    assert r.exit_code == 0, r.output
    crm = json.loads(r.stdout)["accounts"]["crm"]
    assert (crm["predicted"], crm["true"], crm["correct"]) == (3, 3, 2)
    assert crm["precision"] == pytest.approx(2 / 3, abs=1e-4)


def test_init_writes_a_template_that_check_explains(tmp_path):
    d = tmp_path / "new"
    r = invoke("init", str(d))
    assert r.exit_code == 0 and (d / "linker.toml").exists()
    r = invoke("check", "-p", str(d))
    assert r.exit_code == 3 and "file not found" in r.stderr  # the template's data is yours to add
    assert invoke("init", str(d)).exit_code == 2  # never overwrites without --force


def test_real_subprocess_run_and_internal_errors_never_show_a_traceback(tiny):
    env = {**os.environ, "NO_COLOR": "1"}
    p = run_cli("run", "-p", str(tiny), "--json", env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    # cus_A by reference, cus_B by a user's email; cus_C ("Hooli", US) only by its name: review
    assert json.loads(p.stdout)["sources"]["billing"]["linked"] == 2
    shutil.rmtree(tiny / "data")
    p = run_cli("run", "-p", str(tiny), env=env, timeout=120)
    assert p.returncode == 3 and "file not found" in p.stderr and "Traceback" not in p.stderr


def test_linker_never_imports_textual_or_tui():
    code = (
        "import sys, linker, linker.cli, linker.project, linker.publish; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'tui')]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    for py in (REPO / "linker").rglob("*.py"):
        text = py.read_text()
        assert (
            "import textual" not in text and "from textual" not in text and "from tui" not in text
        ), py


def test_help_loads_nothing_heavy():
    """`linker --help` (and a mistyped option) answer before DuckDB, Arrow, Splink or rich load
    (benchmarks/cli_startup.py measures the time); the public names still resolve on use."""
    code = (
        "import sys; sys.argv = ['linker', '--help']; import linker.cli\n"
        "try:\n    linker.cli.main()\nexcept SystemExit as e:\n    assert e.code in (0, None)\n"
        "heavy = ('duckdb', 'pyarrow', 'splink', 'numpy', 'pandas', 'rich', 'textual')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
        "import linker\nprint(linker.Project.__module__, linker.ReviewSession.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-2] == "[]"
    assert out[-1] == "linker.project linker.review"


def test_an_unknown_public_name_is_an_attribute_error():
    import linker

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        linker.Nope  # noqa: B018
    assert sorted(linker.__all__) == linker.__all__ and "Project" in dir(linker)


def test_second_writer_waits_then_stops_with_exit_2(tiny):
    from linker import Project

    holder = Project(tiny)
    with holder.lock("run"):
        r = invoke("run", "-p", str(tiny), env={"LINKER_LOCK_TIMEOUT": "0.3"})
    assert r.exit_code == 2
    assert "busy" in r.stderr and "`linker run`" in r.stderr
    assert invoke("run", "-p", str(tiny)).exit_code == 0  # free again


def test_two_processes_at_once_second_stops_cleanly_and_nothing_is_corrupted(tiny):
    env = {**os.environ, "LINKER_LOCK_TIMEOUT": "0.2"}
    assert run_cli("run", "-p", str(tiny), "--publish", "-q", env=env).returncode == 0
    before = (tiny / "crosswalk" / "manifest.json").read_bytes()
    # Another process holds the project (as a long `linker run` would) for a few seconds.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from linker import Project\n"
            "with Project(sys.argv[1]).lock('run'):\n    print('held', flush=True); time.sleep(4)",
            str(tiny),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    second = run_cli("publish", "-p", str(tiny), env=env, timeout=60)
    assert second.returncode == 2, second.stderr
    assert "busy" in second.stderr and "`linker run`" in second.stderr
    assert (tiny / "crosswalk" / "manifest.json").read_bytes() == before
    assert holder.wait(timeout=30) == 0
    after = run_cli("publish", "-p", str(tiny), "--json", env=env, timeout=60)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["published"]["row_counts"]["accounts.parquet"] == 21


def test_evaluate_takes_an_accounts_only_truth_and_lists_the_errors(tiny, tmp_path):
    assert invoke("run", "-p", str(tiny)).exit_code == 0
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "source,source_record_id,account_id\n"
        "crm,110,34\n"  # right
        "support,2101,99\n"  # linked to 34: the truth says another account
        "support,2103,34\n"  # unresolved: missed
    )
    r = invoke("evaluate", "-p", str(tiny), "--truth", str(truth), "--json", "--errors")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["contacts_user"] == {} and res["accounts"]["all"]["correct"] == 1
    got = {(e["source"], e["id"]): (e["kind"], e["predicted"], e["true"]) for e in res["errors"]}
    assert got == {("support", "2101"): ("wrong account", "34", "99"),
                   ("support", "2103"): ("missed", None, "34")}  # fmt: skip
    r = invoke("evaluate", "-p", str(tiny), "--truth", str(truth), "--errors")
    assert r.exit_code == 0 and "got wrong: 2" in r.stdout and "wrong account" in r.stdout
    assert "errors" not in json.loads(
        invoke("evaluate", "-p", str(tiny), "--truth", str(truth), "--json").stdout
    )


def test_contacts_account_links_that_name_no_record_are_said_in_the_summary(tiny):
    # The contacts export names its accounts another way (here: ids the CRM does not have,
    # as a 15-character Salesforce id would be next to 18-character ones).
    path = tiny / "data" / "crm_contacts.csv"
    text = path.read_text()
    for old in (",110,", ",114,", ",112,"):
        text = text.replace(old, f",X{old[1:]}")
    path.write_text(text)
    r = invoke("run", "-p", str(tiny), "--json")
    links = json.loads(r.stdout)["sources"]["crm_contacts"]["account_links"]
    assert links == {"target": "crm", "total": 3, "dangling": 3}
    r = invoke("run", "-p", str(tiny))
    assert "crm_contacts → crm (account link): 3 of 3" in r.stdout.replace("\n", " ")


def test_json_keeps_stdout_for_the_json_and_progress_on_stderr(tiny):
    linker = str(Path(sys.executable).with_name("linker"))
    r = subprocess.run([linker, "run", "-p", str(tiny), "--json"], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["project"]
    assert "✓ ingest" in r.stderr  # progress and warnings still reach the terminal
    r = subprocess.run(
        [linker, "run", "-p", str(tiny), "--json", "-q"], capture_output=True, text=True
    )
    assert json.loads(r.stdout)["project"] and "ingest" not in r.stderr


def test_check_shows_what_will_link_and_strict_fails_on_warnings(tiny):
    r = invoke("check", "-p", str(tiny), "--json")
    assert r.exit_code == 0, r.output
    linking = json.loads(r.stdout)["linking"]
    assert linking["crm"]["fields"]["name"]["filled"] == 1.0
    assert "acme" in linking["crm"]["fields"]["name"]["sample"]  # normalized: no legal form
    assert linking["crm"]["refs"]["product"]["found"] >= 1
    assert invoke("check", "-p", str(tiny), "--strict").exit_code == 0
    # Contacts naming their account by ids the CRM does not have: nothing can link that way.
    path = tiny / "data" / "crm_contacts.csv"
    text = path.read_text()
    for old in (",110,", ",114,", ",112,"):
        text = text.replace(old, f",X{old[1:]}")
    path.write_text(text)
    r = invoke("check", "-p", str(tiny))
    assert r.exit_code == 0 and "0 of 3 links name a crm record" in " ".join(r.stdout.split())
    assert "sources.crm_contacts.account: no contact's AccountId names a crm record" in r.stderr
    r = invoke("check", "-p", str(tiny), "--strict")
    assert r.exit_code == 1 and "--strict" in r.stderr


def test_the_run_summary_reads_at_80_columns(tiny):
    linker = str(Path(sys.executable).with_name("linker"))
    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run([linker, "run", "-p", str(tiny)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    crm = next(i for i, x in enumerate(lines) if x.startswith("crm (accounts):"))
    assert "…" not in "\n".join(lines[: crm + 3])  # nothing cut to fit a column
    assert lines[crm + 1].startswith("  by: ") and "ref" in lines[crm + 1]


def test_the_init_template_shows_every_section_and_its_comments_are_valid_config(tmp_path):
    import tomllib

    from linker.config import parse_config
    from linker.scaffold import TEMPLATE

    for section in ("[rules]", "[scoring]", "[quality]", "[duplicates]", "[publish]"):
        assert f"# {section}" in TEMPLATE
    assert 'entity = "contacts"' in TEMPLATE and "contacts_sor" in TEMPLATE
    # Uncommenting the optional sections gives a valid config too.
    head, tail = TEMPLATE.split("# [sources.support]", 1)
    opened = head + "\n".join(
        line[2:] if line.startswith("# ") else line
        for line in ("# [sources.support]" + tail).splitlines()
    )
    cfg = parse_config(tomllib.loads(opened), tmp_path / "linker.toml")
    assert cfg.sources["support"].system == "zendesk.organization"
    assert cfg.quality.max_conflicts == 50 and cfg.scoring.accept == 0.99


@pytest.mark.parametrize("version", [None, 0, 99])
def test_a_state_from_another_linker_version_stops_with_one_thing_to_do(tiny, version):
    import duckdb

    from linker.state import META_TABLE, STATE_VERSION

    r = runner.invoke(app, ["run", "-p", str(tiny)])
    assert r.exit_code == 0, r.output
    state = tiny / ".linker" / "state.duckdb"
    con = duckdb.connect(str(state))
    assert con.execute(f"SELECT state_version FROM {META_TABLE}").fetchall() == [(STATE_VERSION,)]
    if version is None:  # a state written before the state had a version
        con.execute(f"DROP TABLE {META_TABLE}")
    else:
        con.execute(f"UPDATE {META_TABLE} SET state_version = ?", [version])
    con.close()
    who = "a newer linker" if version == 99 else "an older linker"
    for cmd in (["status"], ["explain", "crm", "c1"], ["publish"], ["review", "--list"]):
        r = runner.invoke(app, [*cmd, "-p", str(tiny)])
        assert r.exit_code == 2, (cmd, r.output)
        assert who in r.stderr and "run `linker run` again" in r.stderr, (cmd, r.stderr)
    r = runner.invoke(app, ["run", "-p", str(tiny)])  # ... and running again is the cure
    assert r.exit_code == 0 and runner.invoke(app, ["status", "-p", str(tiny)]).exit_code == 0


def _documented_json_keys() -> dict[str, set[str]]:
    """docs/cli.md's "JSON output" table: command -> the keys every answer carries."""
    import re

    text = (REPO / "docs" / "cli.md").read_text()
    section = text[text.index("## JSON output") :]
    out: dict[str, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"\| (`[^|]+`(?: \([^)]*\))?) \| (`.+`) \|$", line)
        if m:
            for cmd in re.findall(r"`([a-z]+)`", m.group(1)):
                label = cmd + (" contact" if "contact" in m.group(1) else "")
                out[label] = set(re.findall(r"`([a-z_]+)`", m.group(2)))
    return out


def test_json_answers_carry_their_schema_version_and_the_documented_keys(tiny):
    documented = _documented_json_keys()
    assert set(documented) == {
        "run", "publish", "check", "status", "explain", "explain contact", "evaluate", "forget",
        "train",
    }  # fmt: skip
    truth = tiny / "truth.csv"
    truth.write_text("source,source_record_id,account_id\ncrm,110,34\ncrm,111,35\n")
    calls = {
        "check": ["check"],
        "run": ["run"],
        "publish": ["publish", "--force"],
        "status": ["status"],
        "explain": ["explain", "crm", "110"],
        "explain contact": ["explain", "crm_contacts", "c1"],
        "evaluate": ["evaluate", "--truth", str(truth)],
        "forget": ["forget", "--email", "nobody@example.com", "--dry-run"],
    }  # train: too little data here; tests/test_scoring.py checks its answer
    for label, args in calls.items():
        r = runner.invoke(app, [*args, "-p", str(tiny), "--json"])
        assert r.exit_code in (0, 1), (label, r.output)
        answer = json.loads(r.stdout)
        assert answer["schema_version"] == 1, label
        missing = documented[label] - set(answer)
        assert not missing, f"{label}: documented keys missing from --json: {missing}"


def test_the_documented_json_keys_are_the_result_types_keys():
    """docs/cli.md's table, the types the printing code is checked against (mypy), and the
    output (the test above) name the same keys."""
    from linker import results

    docs = _documented_json_keys()
    added_by_the_cli = {"schema_version", "ok", "mapping"}  # check's verdict and mapping
    types = {
        "check": results.CheckResult,
        "status": results.StatusResult,
        "explain": results.ExplainResult,
        "explain contact": results.ExplainResult,
        "evaluate": results.EvaluateResult,
        "forget": results.ForgetResult,
        "train": results.TrainResult,
    }
    for label, typed in types.items():
        declared = set(typed.__annotations__)
        assert docs[label] - added_by_the_cli <= declared, label
        assert set(typed.__required_keys__) <= docs[label], label


def test_long_stages_say_where_they_are_as_plain_lines_in_a_log_and_nothing_with_quiet(tiny):
    r = invoke("run", "-p", str(tiny))
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    # each source's rows while ingest runs, each rule while the rules run, then the stage's tick
    ingest = [ln for ln in lines if ln.startswith("  ingest: ")]
    assert ingest and all(ln.endswith(" rows read") for ln in ingest)
    assert lines.index(ingest[-1]) < next(i for i, ln in enumerate(lines) if "✓ ingest" in ln)
    assert any(ln.startswith("  rules: rule ") and " of " in ln for ln in lines)
    assert any(ln.startswith("  resolve: components of ") for ln in lines)
    assert "\r" not in r.stderr  # a log gets lines, never a line redrawn in place
    q = invoke("run", "-p", str(tiny), "-q")
    assert q.exit_code == 0 and q.stderr == ""


def test_on_a_terminal_a_stage_is_one_line_redrawn_in_place(monkeypatch):
    import io

    from rich.console import Console

    from linker import cli

    buf = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=buf, force_terminal=True, width=40))
    progress = cli.StderrProgress()
    with progress.stage("ingest"):
        progress.note("crm: 263,404 rows read")
        progress.note("a note much longer than the forty columns this terminal has")
    progress.note("outside a stage: not shown")
    out = re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue())  # colours aside
    assert out.count("\n") == 1 and "✓ ingest" in out.rsplit("\r", 1)[-1]
    assert "crm: 263,404 rows read" in out and "outside" not in out
    assert all(len(part.rstrip("\n")) <= 39 for part in out.split("\r"))  # never wraps


# --- what changed in the sources since the last run -----------------------------------------


def _since(tiny) -> dict:
    r = invoke("run", "-p", str(tiny), "--json", "-q")
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)["since_last_run"]


def test_a_run_says_what_changed_in_each_source_since_the_last_run(tiny):
    first = _since(tiny)
    assert first == {"compared": False, "why": "no previous run", "sources": {}}
    crm = tiny / "data" / "crm.csv"
    head, *body = crm.read_text().splitlines()
    body = [ln for ln in body if not ln.startswith("114,")]  # removed
    body = [
        ln.replace(
            "111,Globex Limited,,UK,GB980780684,,,", "111,Globex Limited,,UK,GB980780684,,36,"
        )
        for ln in body
    ]  # a new reference: changed
    body.reverse()  # another order changes nothing
    crm.write_text("\n".join([head, *body, "118,Umbrella,umbrella.nl,NL,,,,"]) + "\n")
    since = _since(tiny)
    assert since["compared"] and since["why"] is None
    assert since["sources"]["crm"] == {"added": 1, "changed": 1, "removed": 1, "unchanged": 6}
    assert since["sources"]["product"] == {"added": 0, "changed": 0, "removed": 0, "unchanged": 7}
    r = invoke("run", "-p", str(tiny))
    assert "since the last run: no record changed" in r.stdout
    # the text says it per source
    crm.write_text(
        crm.read_text().replace("118,Umbrella,umbrella.nl", "118,Umbrella BV,umbrella.nl")
    )
    r = invoke("run", "-p", str(tiny))
    assert "since the last run: crm 1 changed (" in r.stdout


def test_a_dry_run_says_what_changed_and_writes_nothing(tiny):
    assert invoke("run", "-p", str(tiny), "-q").exit_code == 0
    state = tiny / ".linker" / "state.duckdb"
    before = state.read_bytes()
    users = tiny / "data" / "product_users.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(users).slice(1), users)  # the first user is gone
    r = invoke("run", "-p", str(tiny), "--dry-run", "--json", "-q")
    assert r.exit_code == 0, r.output
    answer = json.loads(r.stdout)
    assert set(answer) == {"schema_version", "since_last_run", "sources", "warnings", "timings"}
    assert answer["since_last_run"]["sources"]["product_users"]["removed"] == 1
    assert state.read_bytes() == before and not (tiny / "crosswalk").exists()
    text = invoke("run", "-p", str(tiny), "--dry-run")
    assert text.exit_code == 0 and "nothing linked, nothing written" in text.stdout
    assert "product_users" in text.stdout
    both = invoke("run", "-p", str(tiny), "--dry-run", "--publish")
    assert both.exit_code == 2 and "--dry-run" in both.stderr


def test_a_run_parses_only_the_domains_vat_numbers_and_phones_it_has_not_seen(tiny, monkeypatch):
    from linker import Project, normalize_keys

    computed: list[list[int]] = []
    real = normalize_keys._computed_keys

    def spy(rows, sizes, threads):
        computed.append(sizes)
        return real(rows, sizes, threads)

    monkeypatch.setattr(normalize_keys, "_computed_keys", spy)
    p = Project(tiny)
    p.run(do_publish=True)
    first = {
        f: (tiny / "crosswalk" / f).read_bytes() for f in ("accounts.parquet", "contacts.parquet")
    }
    p.run(do_publish=True, full=True)  # nothing new: nothing parsed, the same answer
    assert computed[0] == [10, 3, 1] and computed[1] == [0, 0, 0]
    assert {f: (tiny / "crosswalk" / f).read_bytes() for f in first} == first
    crm = tiny / "data" / "crm.csv"
    crm.write_text(crm.read_text().replace("+49 30 1234567", "+49 30 7654321"))
    p.run()
    assert computed[2] == [0, 0, 1]  # the one new phone
    # another version of the key functions (or of phonenumbers, stdnum, tldextract): all again
    normalize_keys.key_version.cache_clear()
    monkeypatch.setattr(normalize_keys, "key_version", lambda: "another")
    p.run(full=True)
    assert computed[3] == [10, 3, 1]


def test_a_publish_after_new_decisions_keeps_what_the_next_run_compares_with(tiny, monkeypatch):
    from linker import Project, normalize_keys

    p = Project(tiny)
    p.run()
    decision = {"left": ["crm", "114"], "right": ["product", "37"], "decision": "match",
                "reviewer": "ana", "at": "2026-11-23T10:00:00Z", "note": ""}  # fmt: skip
    (tiny / "decisions.jsonl").write_text(json.dumps(decision) + "\n")
    # re-resolves with the decision and rewrites the state's meta, under another DuckDB and
    # other libraries: it keeps the versions the state's hashes and parsed values were made with
    from linker import project_pipeline

    with monkeypatch.context() as m:
        m.setattr(project_pipeline.row_diff, "hash_version", lambda: "duckdb 0.0")
        m.setattr(project_pipeline, "key_version", lambda: "another")
        p.publish()
    computed: list[list[int]] = []
    real = normalize_keys._computed_keys
    monkeypatch.setattr(
        normalize_keys,
        "_computed_keys",
        lambda rows, sizes, threads: computed.append(sizes) or real(rows, sizes, threads),
    )
    since = _since(tiny)
    assert since["compared"] and all(n["changed"] == 0 for n in since["sources"].values())
    assert computed == [[0, 0, 0]]  # the values the run before parsed: answered from the state


def test_publish_says_what_changed_since_the_previous_publication(tiny):
    first = invoke("run", "-p", str(tiny), "--publish")
    assert first.exit_code == 0, first.output
    assert "first publication in" in first.stdout and "every record is added" in first.stdout
    again = invoke("publish", "-p", str(tiny))  # nothing decided: that publication stands
    assert again.exit_code == 0, again.output
    assert "is already the publication in" in again.stdout and "nothing written" in again.stdout
    again = invoke("publish", "-p", str(tiny), "--full")  # resolved again, written
    assert again.exit_code == 0, again.output
    assert re.search(r"changes since run [0-9a-f]{16}: nothing \(changes\.parquet\)", again.stdout)


def test_engine_settings_change_how_a_run_uses_the_machine_not_what_it_publishes(tiny):
    other = tiny.parent / "other"
    shutil.copytree(tiny, other)
    toml = other / "linker.toml"
    toml.write_text(
        toml.read_text()
        + '\n[engine]\nthreads = 1\nmemory_limit = "256MB"\ntemp_directory = "spill/here"\n'
    )
    runs = [invoke("run", "-p", str(p), "--publish", "--json") for p in (tiny, other)]
    assert [r.exit_code for r in runs] == [0, 0], runs[1].output
    ids = [json.loads(r.stdout)["run_id"] for r in runs]
    assert ids[0] == ids[1]  # the same answer under the same run id
    for f in ("accounts.parquet", "contacts.parquet", "accounts_wide.parquet"):
        assert (tiny / "crosswalk" / f).read_bytes() == (other / "crosswalk" / f).read_bytes()
    assert (other / "spill" / "here").is_dir()
