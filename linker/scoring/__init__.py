"""The probabilistic stage: Splink scores the account records the rules left open.

Who is scored. After the rules (and the reviewers' decisions) a first resolve splits the
account records in two. *Known*: SOR records and records the rules linked to an account.
*Open*: records without an account (`no_match`, or `no_account` when nothing in their
component names a missing SOR id). Splink links open records to known records of *other*
sources (`link_only` between two tables), so an open record reaches its account directly or
through another system's record. Linked records are never re-scored.

The model (settings as data, compiled by Splink to SQL on our DuckDB connection):
comparisons from the fields present in two or more account sources, or from
`[[scoring.comparisons]]`; blocking from the same fields (distinctive name tokens, exact
name, domain, phone, ...) or `[[scoring.blocking]]`. Training is seeded and reproducible:
u by random sampling; m from *labels* — pairs the rules tied to one account through stored
references, which say nothing about names or domains, so they are fair examples of how true
matches look — and by EM when there are too few labels; the prior (the chance that an open
record and a known record match) by EM over the candidate pairs with m and u fixed, rescaled
to all open x known pairs. Saved as `model.json`: {"linker": {...}, "splink": settings}.

Decisions, per open record: the best account (its best-scoring record) and the runner-up
(another account). Linked when the best is >= accept, the runner-up is not within `margin`
match-weight bits of it, and something besides the name agrees (name-only matching of
companies invites false positives); queued for review when in [review, accept) or held back
by one of those checks; dropped below review.

The stage's modules: `inputs` (the plan and Splink's input tables), `training`, `model` (the
model file) and `scores` (scoring and decisions).
"""

from __future__ import annotations

from linker.scoring.model import NotEnoughData, load_model
from linker.scoring.scores import evidence, score
from linker.scoring.training import default_model, is_stale, train

__all__ = [
    "NotEnoughData",
    "default_model",
    "evidence",
    "is_stale",
    "load_model",
    "score",
    "train",
]
