"""What `Project` hands back and reports through: plain classes with no heavy imports, so the
command line can name them without loading DuckDB or Arrow (`linker --help` stays quick)."""

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Required, TypedDict


class Progress:
    """Where stages report what they do. The default says nothing (library use is quiet)."""

    def stage(self, name: str) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def note(self, text: str) -> None:
        """What the current stage is at ("crm: 263,404 rows", "1,729,490 pairs scored")."""

    def warn(self, message: str) -> None:
        pass


@dataclass
class RunResult:
    run_id: str
    report: dict
    gates: list[dict]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    manifest: dict | None = None
    published_to: Path | None = None  # the publication directory, when one was written

    @property
    def gates_failed(self) -> list[dict]:
        return [g for g in self.gates if not g["ok"]]


# --- what each Project verb returns ------------------------------------------------------------
# Typed dicts, not dataclasses: the results are JSON-shaped (`--json` prints them as they are,
# with `schema_version` first) and nested; a TypedDict gives the type checker every key the
# printing code reads (a renamed key fails `make test`'s mypy step, not a user's terminal) and
# costs nothing at run time. docs/cli.md lists the keys each answer always carries; a test
# checks that table against these types and against the commands' output.


class CheckResult(TypedDict):
    sources: dict[str, dict[str, Any]]  # per source: rows, records, null_ids, duplicate_ids
    linking: dict[str, dict[str, Any]]  # per source: fields filled, refs found, account link
    warnings: list[str]


class TrainResult(TypedDict):
    model: str  # model.json's path
    report: str  # model.html's path
    training: dict[str, Any]  # how the model was trained (model.json's linker.training)
    scoring: dict[str, Any]  # what the model would do with this data
    timings: dict[str, float]
    warnings: list[str]


class SourceChanges(TypedDict):
    added: int
    changed: int
    removed: int
    unchanged: int


class SinceLastRun(TypedDict):
    compared: bool  # false: no previous run, or one that kept no comparable row hashes
    why: str | None  # why not compared
    sources: dict[str, SourceChanges]


class DryRunResult(TypedDict):
    since_last_run: SinceLastRun
    sources: dict[str, dict[str, Any]]  # rows read per source, as `run` reports them
    warnings: list[str]
    timings: dict[str, float]


class LastRun(TypedDict):
    run_id: str | None
    conflicts: int
    pending_review: int
    config_changed: bool
    sources: dict[str, dict[str, int]]  # per source: records, linked


class ReviewCounts(TypedDict):
    items: int
    reviewed: int
    pending: int


class DecisionCounts(TypedDict):
    lines: int
    standing: int
    match: int
    no_match: int
    by_reviewer: dict[str, int]


class StatusResult(TypedDict):
    project: str
    root: str
    last_run: LastRun | None
    review: ReviewCounts | None
    decisions: DecisionCounts
    last_publication: dict[str, Any] | None  # the publication's manifest.json
    warnings: list[str]


class ExplainResult(TypedDict, total=False):
    """Why a record has its account (or none). Every answer has the Required keys; an account
    record adds its chain and evidence, a SOR record what is linked to it, a contact its user."""

    source: Required[str]
    id: Required[str]
    account_id: Required[str | None]
    method: Required[str | None]
    rule: Required[str | None]
    reason: Required[str | None]
    keys: Required[dict[str, Any]]
    # account records
    match_probability: float | None
    chain: list[dict[str, Any]]
    refs: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]
    blocked_keys: list[dict[str, Any]]
    cut: list[dict[str, Any]]
    in_dispute: bool
    candidates: list[dict[str, Any]]
    conflict_chain: list[dict[str, Any]]
    sor_ids: list[str]
    component: list[list[str]]
    contradiction: str
    # a system-of-record account
    linked: list[dict[str, Any]]
    contacts: int
    conflict: dict[str, Any] | None
    # contacts
    user_id: str | None
    account_via: str | None
    own_account: dict[str, Any] | None
    disagreement: bool


class ForgetResult(TypedDict):
    dry_run: bool
    records: list[list[str]]  # [source, id] erased (or that would be)
    decisions_removed: int
    state_cleared: bool
    publications: dict[str, int]  # directory -> rows removed
    publications_not_reached: dict[str, str]  # directory -> why not
    still_in_sources: list[str]
    sources_unread: str | None


class EvaluateResult(TypedDict, total=False):
    truth: Required[str]
    accounts: Required[dict[str, dict[str, Any]]]  # per source and all: P, R, F1, counts
    contacts: Required[dict[str, dict[str, Any]]]
    contacts_user: Required[dict[str, dict[str, Any]]]
    accounts_by_rule: Required[list[dict[str, Any]]]
    contacts_by_rule: Required[list[dict[str, Any]]]
    unlabelled: Required[int]
    errors: list[dict[str, Any]]  # with --errors: the account records the run got wrong
