"""The configuration as frozen dataclasses (Config, Source, ScoringConfig, ...) and the names
linker.toml may use: canonical fields, entities, formats, comparison kinds, default rule orders.

config.py builds them from linker.toml and re-exports the ones other modules import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ACCOUNT_FIELDS = (
    "name",
    "domain",
    "email",
    "phone",
    "country",
    "city",
    "address",
    "postcode",
    "vat",
    "registration_number",
    "join_date",
)
CONTACT_FIELDS = ("email", "first_name", "last_name", "full_name", "phone")
# Canonical fields that may hold several values (a list column, or "a.com; b.com").
LIST_FIELDS = ("domain",)
ENTITIES = ("accounts", "contacts")
FORMATS = ("csv", "parquet", "json", "jsonl")
DUPLICATE_POLICIES = ("report", "merge")  # [duplicates] policy
# DuckDB's memory budget by default: measured on 1M account records with ~1M contacts (trap
# data, 2 cores), DuckDB's own default (80 % of RAM) peaked at 4.8 GB; 2GB peaked at 2.3 GB
# for 6 % more time (BENCHMARKS.md). A machine with memory to spare raises it.
MEMORY_LIMIT = "2GB"
# [engine] name: what runs the SQL. Only DuckDB today; a Spark engine is planned, not built.
ENGINES = ("duckdb",)
COMPARISON_KINDS = ("name", "exact", "jaro_winkler", "levenshtein", "email", "date", "postcode")
# `email` (an account email shared between systems) is not in the default order: measured on
# data with multi-site organizations, 3 of its 14 links were right (a shared accounts mailbox
# is the organization's, not a site's). A project may list it.
DEFAULT_ACCOUNT_RULES = (
    "ref",
    "vat",
    "registration",
    "user_email",
    "domain",
    "name_country",
)
DEFAULT_CONTACT_RULES = ("sor_user", "own_account", "email_domain", "user_name_in_account")


@dataclass(frozen=True)
class AccountLink:
    """A contacts source's link to the account record it belongs to."""

    source: str
    column: str


@dataclass(frozen=True)
class Source:
    name: str
    entity: str
    id: str
    path: Path | None = None
    query: str | None = None
    filter: str | None = None
    format: str | None = None
    delimiter: str | None = None
    # JSON: the key whose array holds the records, in an API export's wrapper object
    # ({"organizations": [...], "next_page": ...}); several pages (an array of them, or one
    # per line) are one source
    records: str | None = None
    # how the system writes its ids (ID_FORMATS): "salesforce" makes a record's 15- and
    # 18-character ids one id, here and in every reference to this source
    id_format: str | None = None
    system: str | None = None  # the preset it started from (presets/), if any
    # "fields.X" / "refs.Y" the preset supplied: read when the export has the column, else null
    optional: frozenset[str] = frozenset()
    fields: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    account: AccountLink | None = None

    @property
    def label(self) -> str:
        """How messages name this source's origin: its file, or 'query of sources.X'."""
        return str(self.path) if self.path is not None else f"query of sources.{self.name}"


@dataclass(frozen=True)
class RulesConfig:
    order: tuple[str, ...] = DEFAULT_ACCOUNT_RULES
    contacts_order: tuple[str, ...] = DEFAULT_CONTACT_RULES
    max_key_records: int = 25


@dataclass(frozen=True)
class Comparison:
    field: str
    kind: str
    tf: bool = False
    thresholds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Blocking:
    on: tuple[str, ...] = ()
    sql: str | None = None
    replace: bool = False  # true: the configured rules replace the generated ones


# Columns the scoring stage derives, which `[[scoring.blocking]] on` may name besides fields.
DERIVED_BLOCK_COLUMNS = (
    "name__block",  # the name's rarer words (a list: records sharing one are compared)
    "name__first",  # the name's first word
    "phone_tail",  # the phone's last 7 digits
    "address_number",  # the house number
    "address__block",  # (house number, street word) pairs, a list
    "members_block",  # the accounts a record's contacts are users of, a list
)


@dataclass(frozen=True)
class ScoringConfig:
    enabled: bool = True
    accept: float = 0.99
    review: float = 0.50  # measured: see docs/scoring.md, Thresholds
    margin: float = 4.0  # match-weight bits: a closer runner-up sends the record to review
    defaults: bool = True  # compare the fields present by default, besides `comparisons`
    comparisons: tuple[Comparison, ...] = ()
    blocking: tuple[Blocking, ...] = ()


@dataclass(frozen=True)
class QualityConfig:
    max_conflicts: int | None = None
    max_pending_review: int | None = None
    min_linked_share: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineConfig:
    """[engine]: what runs the SQL and how it may use the machine. None of it changes the
    answer, so none of it is part of the run id."""

    name: str = "duckdb"  # the only engine today (ENGINES)
    memory_limit: str = MEMORY_LIMIT  # DuckDB's memory budget; it spills beyond it
    threads: int | None = None  # None: DuckDB's default, one per core
    temp_directory: Path | None = None  # where it spills; None: .linker/tmp


@dataclass(frozen=True)
class PublishConfig:
    out: Path = Path("crosswalk")
    keep: int = 10


@dataclass(frozen=True)
class Config:
    file: Path
    root: Path
    name: str
    accounts_sor: str
    contacts_sor: str | None
    sources: dict[str, Source]
    default_country: str | None = None  # ISO 3166 alpha-2, for records that carry none
    engine: EngineConfig = EngineConfig()
    rules: RulesConfig = RulesConfig()
    scoring: ScoringConfig = ScoringConfig()
    duplicates_policy: str = "report"
    quality: QualityConfig = QualityConfig()
    publish: PublishConfig = PublishConfig()
    digest: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def memory_limit(self) -> str:
        return self.engine.memory_limit

    def sources_of(self, entity: str) -> list[Source]:
        return [s for s in self.sources.values() if s.entity == entity]

    @property
    def users_account_source(self) -> str:
        """The accounts source the contacts SOR's users link to (normally the accounts SOR)."""
        if self.contacts_sor is None:
            return self.accounts_sor
        link = self.sources[self.contacts_sor].account
        return link.source if link else self.accounts_sor

    @property
    def out_dir(self) -> Path:
        out = self.publish.out
        return out if out.is_absolute() else self.root / out
