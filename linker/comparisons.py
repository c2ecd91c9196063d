"""What the scoring stage compares and blocks on, as Splink settings (data). Pure: no DuckDB.

Each comparison is built from Splink's comparison library (`splink.comparison_library`,
`splink.comparison_level_library`) wherever a level exists there — exact, Jaro-Winkler,
Levenshtein, email, array intersection and subset — and from a custom SQL level only where it
does not: the name's "same words in another order", a record's contacts being users of an
account (`members`), dates written in several formats. Levels carry short labels of ours
("exact", "shares one"), which `linker explain` and the review app show.

Canonical fields and how they are compared by default (when two or more account sources
carry them):

| field | levels (after "null") |
| --- | --- |
| name | exact (term frequencies) · same words, other order · other numbers in the name · jaro-winkler >= 0.92 · one name's words all in the other · shares a distinctive word · jaro-winkler >= 0.80 |
| domain | shares one (list intersection) |
| email | exact · same user name · jaro-winkler >= 0.88 (Splink's email comparison) |
| phone | exact · same last 7 digits (a local number and its full form) |
| location (address, postcode and city together) | same address and postcode · same address and city · same street address · same street, another number · same postcode · same city |
| country, vat, registration_number | exact |
| members | this record's contacts are users of that account |

Blocking — the pairs Splink scores — is generated from the same fields (rare name words, exact
name, domain, phone digits, email, VAT, registration number, members, postcode with the name's
first word, house number with postcode or a street word); `[[scoring.blocking]]` adds to it
(`replace = true` replaces it).
"""

from __future__ import annotations

import hashlib
import json

from linker.config import Blocking, Comparison
from linker.config_model import LIST_FIELDS

# Account fields compared by default when two or more account sources carry them:
# field -> (kind, term-frequency adjustments).
DEFAULT_KINDS = {
    "name": ("name", True),
    "domain": ("array", False),
    "email": ("email", False),
    "phone": ("phone", False),
    "country": ("exact", False),
    "city": ("jaro_winkler", True),
    "address": ("address", False),
    "postcode": ("postcode", False),
    "vat": ("exact", False),
    "registration_number": ("exact", False),
}
# Where a company is: street address, postcode and city say nearly the same thing (the same
# address implies the same postcode and city), so by default they are ONE comparison, whose
# levels go from the most to the least specific — three separate comparisons would count one
# fact three times (measured: two companies in one office building scored p = 0.996).
LOCATION = "location"
LOCATION_PARTS = ("address", "postcode", "city")
ADDRESS_KEY = "address_key"  # number, street and city as one value (term frequencies)
MEMBERS = "members"  # evidence from contacts: this record's contacts are users of that account
# Comparisons whose agreement alone must not link two companies.
NAME_KINDS = ("name",)
WEAK_FIELDS = ("country", "city")
# Where a company is, not who it is: agreeing on these alone (neighbours in one building)
# never links two companies automatically.
LOCATION_FIELDS = ("country", "city", "address", "postcode", LOCATION)
BLOCK_TOKEN_MAX = 100  # name words in more records than this do not block
# Columns a generated blocking rule uses, per comparison (also what a user's `on` may name).
BLOCK_COLUMNS = {
    "name": ("name", "name__block", "name__first"),
    "phone": ("phone", "phone_tail"),
    "address": ("address_number", "address__block"),
    MEMBERS: ("members_block",),
}
# The derived columns of a name comparison (name_columns): its sorted words and numbers.
WORDS, NUMBERS = "__words", "__numbers"
# Blocking columns that hold lists (Splink explodes them).
_EXPLODE = ("domain", "name__block", "members_block", "address__block")


def input_columns(c: Comparison) -> list[str]:
    """SELECT expressions (over `r`, a record) for the columns this comparison reads besides
    the field itself: derived columns of the scoring stage's input."""
    f = c.field
    if c.kind == "name":
        return [f"split_part(r.{_q(f)}, ' ', 1) AS {_q(f + '__first')}"]
    if c.kind == "phone":
        return ["r.phone_tail"]
    if c.kind in ("address", LOCATION):
        cols = [
            "r.address_number",
            "r.address_street",
            # (house number, street word) pairs to block on, "3801 wabash", held by at most
            # BLOCK_TOKEN_MAX records ("12 street" is everywhere): table _address_blocks
            "ab.keys AS address__block",
        ]
        if c.kind == LOCATION:
            cols += [
                "r.address",
                "r.postcode",
                "r.city",
                # the address as one value, for its term frequency: an office building holds
                # many companies, and sharing its address says less than sharing a house's
                f"CASE WHEN r.address_number IS NOT NULL AND r.address_street IS NOT NULL THEN "
                f"concat_ws(' ', r.address_number, r.address_street, coalesce(r.city, r.postcode)) "
                f"END AS {ADDRESS_KEY}",
            ]
        return cols
    return []


def comparison_settings(c: Comparison) -> dict:
    """One comparison as Splink settings (its levels, most specific first), built with
    Splink's comparison library."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    f = c.field

    def exact(col: str = f, tf: bool = c.tf, label: str = "exact"):
        lv = cll.ExactMatchLevel(col)
        return (
            lv.configure(tf_adjustment_column=col, label_for_charts=label)
            if tf
            else (lv.configure(label_for_charts=label))
        )

    def jw(col: str, t: float, label: str | None = None):
        return cll.JaroWinklerLevel(col, t).configure(
            label_for_charts=label or f"jaro-winkler >= {t:g}"
        )

    def custom(sql: str, label: str):
        return cll.CustomLevel(sql, label_for_charts=label)

    null = cll.NullLevel(f).configure(label_for_charts="null")
    other = cll.ElseLevel().configure(label_for_charts="different")
    L, R = f'"{f}_l"', f'"{f}_r"'
    if f == MEMBERS:
        levels = [
            custom(
                '("members_l" IS NULL OR "account_id_r" IS NULL) AND '
                '("members_r" IS NULL OR "account_id_l" IS NULL)',
                "null",
            ).configure(is_null_level=True),
            custom(
                'list_contains("members_l", "account_id_r") OR '
                'list_contains("members_r", "account_id_l")',
                "contacts are users of this account",
            ),
        ]
    elif c.kind == "array" or f in LIST_FIELDS:
        levels = [null, cll.ArrayIntersectLevel(f, 1).configure(label_for_charts="shares one")]
    elif c.kind == "name":
        hi, lo = (list(c.thresholds) + [0.92, 0.80])[:2] if c.thresholds else (0.92, 0.80)
        # Each record's sorted words and numbers come with it (name_columns): split and sorted
        # once per record, not once per pair and level (2M sampled pairs: 2.5 -> 1.3 s).
        words = _q(f"{f}{WORDS}_l"), _q(f"{f}{WORDS}_r")
        numbers = _q(f"{f}{NUMBERS}_l"), _q(f"{f}{NUMBERS}_r")
        levels = [
            null,
            exact(),
            custom(f"{words[0]} = {words[1]}", "same words, other order"),
            # "Filiale 96" vs "Filiale 478", "Store #12" vs "Store #13": one organization's
            # sites, told apart only by their number; a level of its own, learnt (against)
            custom(
                f"len({numbers[0]}) > 0 AND len({numbers[1]}) > 0 AND {numbers[0]} <> {numbers[1]}",
                "other numbers in the name",
            ),
            jw(f, hi),
            custom(
                f"list_has_all({words[0]}, {words[1]}) OR list_has_all({words[1]}, {words[0]})",
                "one name's words all in the other",
            ),
            cll.ArrayIntersectLevel(f + "__tokens", 1).configure(
                label_for_charts="shares a distinctive word"
            ),
            jw(f, lo),
        ]
    elif c.kind == "phone":
        levels = [null, exact(), exact("phone_tail", False, "same last 7 digits")]
    elif c.kind == "address":
        number, street = "address_number", "address_street"
        levels = [
            null,
            cll.And(cll.ExactMatchLevel(number), cll.ExactMatchLevel(street)).configure(
                label_for_charts="same number and street"
            ),
            cll.And(cll.ExactMatchLevel(number), cll.JaroWinklerLevel(street, 0.88)).configure(
                label_for_charts="same number, similar street"
            ),
            custom(
                f'"{number}_l" <> "{number}_r"', "another house number"
            ),  # 3801 vs 4301 S Wabash: evidence against
            jw(street, 0.88, "similar street"),
        ]
    elif c.kind == LOCATION:
        number, street = "address_number", "address_street"
        same_street = cll.And(cll.ExactMatchLevel(number), cll.JaroWinklerLevel(street, 0.88))

        def at(level, label: str):
            """A same-address level, weighed by how common the address is (term frequency):
            sampled pairs almost never share an address, so without it the level's u is a
            floor and its weight (20 bits) says more than an exact name's."""
            return level.configure(
                tf_adjustment_column=ADDRESS_KEY,
                disable_tf_exact_match_detection=True,  # u is the address's own frequency
                label_for_charts=label,
            )

        levels = [
            custom(
                " AND ".join(f'("{p}_l" IS NULL OR "{p}_r" IS NULL)' for p in LOCATION_PARTS),
                "null",
            ).configure(is_null_level=True),
            at(cll.And(same_street, cll.ExactMatchLevel("postcode")), "same address and postcode"),
            at(cll.And(same_street, cll.ExactMatchLevel("city")), "same address and city"),
            at(same_street, "same street address"),
            cll.And(
                cll.JaroWinklerLevel(street, 0.88), custom(f'"{number}_l" <> "{number}_r"', "")
            ).configure(label_for_charts="same street, another number"),
            cll.ExactMatchLevel("postcode").configure(label_for_charts="same postcode"),
            cll.JaroWinklerLevel("city", 0.92).configure(label_for_charts="same city"),
        ]
    elif c.kind == "exact":
        levels = [null, exact()]
    elif c.kind == "jaro_winkler":
        levels = [null, exact(), *(jw(f, t) for t in (c.thresholds or (0.92,)))]
    elif c.kind == "levenshtein":
        levels = [
            null,
            exact(),
            *(
                cll.LevenshteinLevel(f, int(t)).configure(
                    label_for_charts=f"levenshtein <= {int(t)}"
                )
                for t in (c.thresholds or (1, 2))
            ),
        ]
    elif c.kind == "email":
        return _labelled(
            cl.EmailComparison(f),
            ["null", "exact", "same user name", "jaro-winkler >= 0.88",
             "user name jaro-winkler >= 0.88", "different"],
        )  # fmt: skip
    elif c.kind == "date":
        d = f"abs(date_diff('day', {_date(L)}, {_date(R)}))"
        levels = [
            null,
            exact(),
            *(
                custom(f"{d} <= {int(t)}", f"within {int(t)} days")
                for t in (c.thresholds or (1, 30, 365))
            ),
        ]
    elif c.kind == "postcode":
        levels = [
            null,
            exact(),
            custom(f"left({L}, 3) = left({R}, 3)", "same first 3 characters"),
        ]
    else:  # pragma: no cover - the config checks kinds
        raise ValueError(f"unknown comparison kind {c.kind!r}")
    comp = cl.CustomComparison(comparison_levels=[*levels, other], output_column_name=f)
    return comp.get_comparison("duckdb").as_dict()


def _labelled(creator, labels: list[str]) -> dict:
    """A library comparison's settings with our short labels on its levels, in order."""
    d = creator.get_comparison("duckdb").as_dict()
    for level, label in zip(d["comparison_levels"], labels, strict=True):
        level["label_for_charts"] = label
    return d


def level_labels(c: Comparison) -> dict[int, str]:
    """Splink's gamma value -> our label: levels are numbered from the last (0) up, null -1."""
    levels = comparison_settings(c)["comparison_levels"]
    nonnull = [lv["label_for_charts"] for lv in levels if not lv.get("is_null_level")]
    return {-1: "null", **{len(nonnull) - 1 - j: lab for j, lab in enumerate(nonnull)}}


def name_columns(field: str, value: str) -> list[str]:
    """SELECT expressions for what a name comparison reads of one record besides its `value`
    (the name as compared): its words and its numbers ("filiale 96" -> ['96']), each sorted.
    The levels compare these lists whole ("same words, other order", "other numbers") or as
    sets ("one name's words all in the other")."""
    return [
        f"list_sort(string_split({value}, ' ')) AS {_q(field + WORDS)}",
        f"list_sort(regexp_extract_all({value}, '[0-9]+')) AS {_q(field + NUMBERS)}",
    ]


def _date(col: str) -> str:
    # Dates come as text in several formats (ISO, compact): the library's date levels take one.
    return f"coalesce(try_cast({col} AS DATE), try_strptime({col}, '%Y%m%d')::DATE)"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- blocking -------------------------------------------------------------------------------


def blocking_rules(comps: dict[str, Comparison], configured: tuple[Blocking, ...]) -> list[dict]:
    """The generated blocking rules for these comparisons, then the configured ones (which
    replace the generated when one of them says `replace = true`)."""
    own = [blocking_rule(b.on, b.sql) for b in configured]
    if any(b.replace for b in configured):
        return own
    generated = []
    for f, c in comps.items():
        if c.kind == "name":
            generated += [blocking_rule((f"{f}__block",)), blocking_rule((f,))]
        elif c.kind == "phone":
            generated.append(blocking_rule(("phone_tail",)))
        elif f == MEMBERS:
            generated.append(blocking_rule(("members_block",)))
        elif f in ("domain", "email", "vat", "registration_number"):
            generated.append(blocking_rule((f,)))
    if "postcode" in comps and "name" in comps:
        generated.append(blocking_rule(("postcode", "name__first")))
    located = {c.kind for c in comps.values()} & {"address", LOCATION}
    if located:
        if "postcode" in comps or LOCATION in comps:
            generated.append(blocking_rule(("postcode", "address_number")))
        generated.append(blocking_rule(("address__block",)))
    if LOCATION in comps and "name" in comps:
        generated.append(blocking_rule(("postcode", "name__first")))
    out, seen = [], set()
    for rule in generated + own:
        key = json.dumps(rule, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(rule)
    return out


def blocking_rule(on: tuple[str, ...], sql: str | None = None) -> dict:
    """A Splink blocking rule (as data): fields equal on both sides, exploding list fields."""
    if sql is not None:
        # On lines of their own: a trailing `--` comment in the config cannot eat Splink's SQL.
        return {"blocking_rule": f"(\n{sql}\n)", "sql_dialect": "duckdb"}
    rule: dict[str, str | list[str]] = {
        "blocking_rule": " AND ".join(f"l.{_q(f)} = r.{_q(f)}" for f in on),
        "sql_dialect": "duckdb",
    }
    explode = [f for f in on if f in _EXPLODE]
    if explode:
        rule["arrays_to_explode"] = explode
    return rule


# --- settings -------------------------------------------------------------------------------


def splink_settings(comps: list[Comparison], blocking: list[dict]) -> dict:
    return {
        "link_type": "link_only",
        "unique_id_column_name": "unique_id",
        "probability_two_random_records_match": 1e-4,
        "comparisons": [comparison_settings(c) for c in comps],
        "blocking_rules_to_generate_predictions": blocking,
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
        # `location` is the text shown for the location comparison (compared on its parts)
        "additional_columns_to_retain": ["source", "account_id"]
        + (["location"] if any(c.kind == LOCATION for c in comps) else []),
    }


def plan_digest(comps: list[Comparison], blocking: list[dict]) -> str:
    """What the model depends on in the config: a changed digest means retrain."""
    body = json.dumps(splink_settings(comps, blocking), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]
