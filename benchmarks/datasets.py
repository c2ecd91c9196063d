"""Benchmark data sets: the acme example at 10k to 1M account records, generated once and cached.

``ensure(accounts, seed)`` returns a linker project directory laid out exactly like
``fixtures/acme`` (``linker.toml``, ``data/`` with the same seven files and formats,
``truth.csv``), so ``linker run -p DIR --publish`` and ``linker evaluate -p DIR --truth
DIR/truth.csv`` work on it. ``accounts`` is the exact number of account records over the four
account sources (product, crm, support, billing); the product database, the system of record
(SOR), holds 40 % of them. Contacts (product users, CRM contacts, support users) are about 1.2
times as many.

The world and its noise are fixtures/generate.py's, and so are most of the functions that spell
names, websites, countries, references and emails; this module reorganises the work for size
(the example's generator needs ~106 s and 1.9 GB for 200k SOR accounts; this one ~50 s and
1.3 GB for 1M account records, 400k of them SOR accounts):

* phone numbers are checked against phonenumbers' own pattern for their type instead of being
  parsed back, and written from format templates cached per country and leading digits;
* VAT numbers are valid by construction of their check digits, not validated each time;
* random draws avoid random.choice/choices where they are hot, slugs and email local parts
  are cached; rows are tuples, written source by source.

What differs from the example on purpose (see ``EXAMPLE_RATES`` and the contact distributions):
the other systems cover fewer customers (so the SOR is 40 %, not 29 %, of the account
records) and carry fewer contacts; one reseller per 2,000 SOR accounts pays for 25 customers
through its shared mailbox (the example: one reseller, at most 100 customers); the
``max_conflicts`` gate of the example's linker.toml grows with the data (everything else in
it is copied unchanged).

Each data set lives in ``benchmarks/.data/acme-<accounts>-seed<seed>-<version>/``; the version
is a hash of this file, fixtures/generate.py and the example's linker.toml, so a changed
generator makes new data sets. A data set is generated into a temporary directory and renamed
into place, so a killed generation never looks cached. Same arguments, byte-identical files.

    python benchmarks/datasets.py --accounts 100000 [--seed 1] [--out ROOT] [--force]
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import functools
import hashlib
import importlib.util
import itertools
import json
import os
import random
import re
import shutil
import string
import sys
import time
from pathlib import Path

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType
from stdnum import luhn
from stdnum.at import uid as at_uid
from stdnum.ch import uid as ch_uid
from stdnum.es import cif as es_cif
from stdnum.ie import vat as ie_vat
from stdnum.iso7064 import mod_11_10

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
ACME_GENERATOR = REPO / "fixtures" / "generate.py"
ACME_TOML = REPO / "fixtures" / "acme" / "linker.toml"
CACHE = BENCHMARKS / ".data"
STAMP = "dataset.json"
MIN_ACCOUNTS = 1000


def _load_acme_generator():
    spec = importlib.util.spec_from_file_location("acme_generate", ACME_GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


acme = _load_acme_generator()
VERSION = hashlib.sha256(
    b"".join(p.read_bytes() for p in (Path(__file__).resolve(), ACME_GENERATOR, ACME_TOML))
).hexdigest()[:12]

# --------------------------------------------------------------------------- the mix

# Records per product account in the example (fixtures/generate.py): CRM accounts of customers,
# CRM duplicates, look-alikes and prospects (CRM), support orgs of customers and of others,
# billing customers that are customers, other companies, or persons.
EXAMPLE_RATES = {
    "crm_customers": 0.85,
    "crm_duplicates": 0.05,
    "lookalikes": 0.08,
    "prospects": 0.10,
    "support_customers": 0.60,
    "support_others": 0.05,
    "billing_customers": 0.70,
    "billing_others": 0.015,
    "billing_persons": 0.015,
}
# The example's rates make the SOR 29 % of the account records; the benchmarks want ~40 %.
# Every rate shrinks by one factor, so each source keeps the example's mix of customers,
# duplicates, look-alikes and non-customers, and with it the example's traps per record.
RATE_FACTOR = 0.61
RATES = {kind: rate * RATE_FACTOR for kind, rate in EXAMPLE_RATES.items()}
SOR_PER_RESELLER = 2000  # the example: one reseller at 2,000 SOR accounts...
RESOLD_PER_RESELLER = 25  # ...paying for 25 customers (a hub: more than max_key_records = 25)
WRONG_REF_SHARE = 0.005  # CRM records whose product reference names another account
EXAMPLE_ACCOUNT_RECORDS = 6921  # fixtures/acme (2,000 SOR accounts, seed 7), for its gate

# Contacts per record. Product users and CRM contacts are half the example's, so there are
# about 1.2 contacts per account record (the example: 1.9). Support orgs keep the example's
# users: those who are product users are the best evidence for orgs without a reference
# (scoring's "members"); halved too, they cost 2 points of support recall (0.93 -> 0.91).
USERS_PER_ACCOUNT = [(1, 60), (2, 30), (3, 10)]  # example: 1-5, 3 on average
CRM_CONTACTS_CUSTOMER = [(0, 25), (1, 50), (2, 20), (3, 5)]  # example: 1-4, 2.15
CRM_CONTACTS_DUPLICATE = [(0, 5), (1, 1)]  # example: 0, 0 or 1
CRM_CONTACTS_OTHER = [(0, 45), (1, 40), (2, 15)]  # example: 0-3, 1.35
SUPPORT_USERS_CUSTOMER = [(1, 30), (2, 30), (3, 25), (4, 15)]  # the example's
SUPPORT_USERS_OTHER = [(0, 1), (1, 2), (2, 1), (3, 1)]  # the example's


def plan(accounts: int) -> dict[str, int]:
    """How many records of each kind make ``accounts`` account records in total."""
    per_sor = 1 + sum(RATES.values()) + 1 / SOR_PER_RESELLER
    counts = {"sor": round(accounts / per_sor)}
    counts |= {kind: round(rate * counts["sor"]) for kind, rate in RATES.items()}
    counts["resellers"] = max(1, round(counts["sor"] / SOR_PER_RESELLER))
    # Prospects take up the rounding, so the total is exactly ``accounts``.
    counts["prospects"] += accounts - sum(counts.values())
    return counts


class Pick:
    """A weighted choice from [(value, weight), ...]: what random.choices does for one value,
    with the cumulative weights computed once."""

    __slots__ = ("values", "cumulative", "total")

    def __init__(self, pairs):
        self.values = [value for value, _ in pairs]
        self.cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1]

    def __call__(self, rng: random.Random):
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.total)]


def one_of(rng: random.Random, items: list):
    """rng.choice(items), a third of its cost (it draws a float, not an exact integer)."""
    return items[int(rng.random() * len(items))]


PICK_COUNTRY = Pick(acme.COUNTRY_WEIGHTS.items())
PICK_LEGAL_FORM = {cc: Pick(forms) for cc, forms in acme.LEGAL_FORMS.items()}
PICK_EMAIL_PATTERN = Pick(acme.EMAIL_PATTERNS)
PICK_ROLE = Pick([("admin", 15), ("member", 60), ("viewer", 15), ("billing", 10)])
PICK_STATUS = Pick([("active", 70), ("trial", 10), ("churned", 18)])
PICK_USERS = Pick(USERS_PER_ACCOUNT)
PICK_CRM_CONTACTS = {
    "customer": Pick(CRM_CONTACTS_CUSTOMER),
    "duplicate": Pick(CRM_CONTACTS_DUPLICATE),
    "other": Pick(CRM_CONTACTS_OTHER),
}
PICK_SUPPORT_USERS = {"customer": Pick(SUPPORT_USERS_CUSTOMER), "other": Pick(SUPPORT_USERS_OTHER)}
CITY_NAMES = {cc: list(cities) for cc, cities in acme.CITIES.items()}
OTHER_COUNTRIES = {cc: [c for c in acme.COUNTRIES if c != cc] for cc in acme.COUNTRIES}

local_part = functools.cache(acme.local_part)  # a few thousand names and patterns in all


@functools.cache
def _slug_cached(text: str) -> str:
    return acme.slug(text)


def slug(text: str) -> str:
    """acme's slug; plain ASCII words (most brands) need no folding, the rest is cached."""
    if text.isascii() and text.isalpha():
        return text.lower()
    return _slug_cached(text)


def digits(rng: random.Random, n: int) -> str:
    """n random decimal digits."""
    return f"{rng.randrange(10**n):0{n}d}" if n else ""


def sample_in_order(rng: random.Random, items: list, k: int) -> list:
    """k items drawn at random, kept in their original order."""
    chosen = set(rng.sample(range(len(items)), min(k, len(items))))
    return [item for i, item in enumerate(items) if i in chosen]


def permutation(rng: random.Random, n: int) -> list[int]:
    """A permutation of range(n) drawn by numpy (random.shuffle is slow on a million items)."""
    return np.random.default_rng(rng.getrandbits(64)).permutation(n).tolist()


# --------------------------------------------------------------------------- companies, people

MIDDLE_SYLLABLES = [0, 1, 1, 1, 2]
BRAND_LOCALES = ["en", "de", "en", "nl"]
ALL_LOCALES = list(acme.FIRST_NAMES)
FREE_MAIL_PATTERNS = ["first.last", "first.last", "flast", "first_last", "firstl"]


def random_brand(rng: random.Random) -> str:
    """acme's random_brand, drawn with one_of (at 1M records, brands are drawn ~2.5M times)."""
    r = rng.random()
    if r < 0.66:
        middle = "".join(one_of(rng, acme.SYL_MID) for _ in range(one_of(rng, MIDDLE_SYLLABLES)))
        return (one_of(rng, acme.SYL_PRE) + middle + one_of(rng, acme.SYL_SUF)).capitalize()
    if r < 0.86:
        return one_of(rng, acme.WORD_A) + one_of(rng, acme.WORD_B)
    if r < 0.94:
        a, b = rng.sample(acme.LAST_NAMES[one_of(rng, BRAND_LOCALES)], 2)
        if " " in a + b:
            a, b = a.split()[-1].capitalize(), b.split()[-1].capitalize()
        return f"{a} & {b}"
    return "".join(one_of(rng, string.ascii_uppercase) for _ in range(3))


def person_name(rng: random.Random, country: str) -> tuple[str, str, str]:
    """acme's random_person_name, drawn with one_of: (first, last, locale)."""
    locales = acme.LOCALES[country] if rng.random() < 0.85 else ALL_LOCALES
    locale = one_of(rng, locales)
    return one_of(rng, acme.FIRST_NAMES[locale]), one_of(rng, acme.LAST_NAMES[locale]), locale


class Person:
    """acme's Person (the noise functions read the same attributes), with slots."""

    __slots__ = ("first", "last", "email", "locale", "user_id", "role")

    def __init__(self, first: str, last: str, email: str, locale: str):
        self.first, self.last, self.email, self.locale = first, last, email, locale
        self.user_id: int | None = None
        self.role = ""

    full_name = acme.Person.full_name  # the example generator's, unchanged


class Company:
    """acme's Company (the noise functions read the same attributes), with slots."""

    __slots__ = (
        "brand",
        "descriptor",
        "legal_form",
        "country",
        "domain",
        "city",
        "kind",
        "email_pattern",
        "account_id",
        "status",
        "created",
        "vat",
        "alias_domain",
        "phone",
        "group",
        "users",
    )

    def __init__(self, brand, descriptor, legal_form, country, domain, city, kind, email_pattern):
        self.brand, self.descriptor, self.legal_form = brand, descriptor, legal_form
        self.country, self.domain, self.city, self.kind = country, domain, city, kind
        self.email_pattern = email_pattern
        self.account_id: int | None = None
        self.status = ""
        self.created = acme.NOW
        self.vat: str | None = None
        self.alias_domain: str | None = None
        self.phone: tuple[int, str] | None = None
        self.group: int | None = None
        self.users: list[Person] = []

    name = acme.Company.name
    truth_account = acme.Company.truth_account


# --------------------------------------------------------------------------- VAT numbers


def vat_candidate(rng: random.Random, cc: str) -> str | None:
    """acme's VAT number for the country, valid by construction of its check digits; None when
    the drawn body has no valid check digit (CH, NL), so the caller draws again."""
    if cc == "DE":
        body = str(rng.randrange(10**7, 10**8))
        return "DE" + body + mod_11_10.calc_check_digit(body)
    if cc == "GB":
        body = str(rng.randrange(10**6, 10**7))
        total = sum(w * int(d) for w, d in zip((8, 7, 6, 5, 4, 3, 2), body, strict=True))
        return "GB" + body + f"{(-total) % 97:02d}"
    if cc == "CH":
        body = str(rng.randrange(10**7, 10**8))
        check = ch_uid.calc_check_digit(body)
        return "CHE" + body + check + "MWST" if len(check) == 1 else None
    if cc == "FR":
        siren = str(rng.randrange(10**7, 10**8))
        siren += luhn.calc_check_digit(siren)
        return f"FR{int(siren + '12') % 97:02d}{siren}"
    if cc == "IT":
        body = str(rng.randrange(10**6, 10**7)) + f"{rng.randint(1, 100):03d}"
        return "IT" + body + luhn.calc_check_digit(body)
    if cc == "NL":
        body = str(rng.randrange(10**7, 10**8))
        check = sum((9 - i) * int(d) for i, d in enumerate(body)) % 11
        return "NL" + body + str(check) + "B01" if check < 10 else None
    if cc == "ES":
        body = rng.choice("ABB") + digits(rng, 7)
        return "ES" + body + es_cif.calc_check_digits(body)[0]
    if cc == "AT":
        body = "U" + digits(rng, 7)
        return "AT" + body + at_uid.calc_check_digit(body)
    if cc == "BE":
        body = "0" + str(rng.randint(2, 9)) + digits(rng, 6)
        return "BE" + body + f"{97 - int(body) % 97:02d}"
    if cc == "IE":
        body = str(rng.randrange(10**6, 10**7))
        return "IE" + body + ie_vat.calc_check_digit(body)
    if cc == "SE":
        body = "55" + digits(rng, 7)
        return "SE" + body + luhn.calc_check_digit(body) + "01"
    raise ValueError(cc)


def messy_vat(rng: random.Random, cc: str, vat: str) -> str:
    """acme's messy_vat without its final validation: every one of its spellings is valid for
    the country's stdnum module when the VAT number is."""
    p = acme.vat_prefix_len(vat)
    prefix, body = vat[:p], vat[p:]
    if cc == "CH":
        d, suffix = body[:9], rng.choice(["MWST", "MWST", "MWST", "TVA", "IVA"])
        return rng.choice(
            [
                f"CHE-{d[:3]}.{d[3:6]}.{d[6:]} {suffix}",
                f"CHE{d}{suffix}",
                f"CHE {d[:3]} {d[3:6]} {d[6:]} {suffix}",
                f"che-{d[:3]}.{d[3:6]}.{d[6:]} {suffix.lower()}",
            ]
        )
    r = rng.random()
    if r < 0.35:
        return vat
    if r < 0.45:
        return vat.lower()
    if r < 0.65:
        return prefix + " " + " ".join(body[i : i + 3] for i in range(0, len(body), 3))
    if r < 0.80:
        return body
    if r < 0.90 and cc == "GB":
        return f"{prefix}{body[:3]} {body[3:7]} {body[7:]}"
    if r < 0.95:
        return f"{prefix}-{body}"
    return f" {vat} "


def vat_field(rng: random.Random, co: Company) -> str:
    """The company's VAT number as a person typed it; 2 % with a typo that fails the check."""
    text = messy_vat(rng, co.country, co.vat)
    if rng.random() < 0.02:
        text = acme.vat_typo(rng, co.country, text)
    return text


# --------------------------------------------------------------------------- phone numbers


class Phones:
    """acme's phone numbers (valid for phonenumbers, fixed lines with the city's area code),
    made without parsing: a candidate is checked against the metadata pattern of its type, and
    is written from format templates cached per country, first three digits and length (on
    100k numbers, the templates wrote every number as phonenumbers does; two digits did not)."""

    def __init__(self):
        self._types: dict[tuple[str, bool], tuple[int, str, frozenset[int], re.Pattern]] = {}
        self._templates: dict[tuple[int, str, int], tuple[str, str]] = {}

    def _type(self, cc: str, mobile: bool) -> tuple[int, str, frozenset[int], re.Pattern]:
        key = (cc, mobile)
        if key not in self._types:
            kind = PhoneNumberType.MOBILE if mobile else PhoneNumberType.FIXED_LINE
            example = phonenumbers.example_number_for_type(cc, kind)
            meta = PhoneMetadata.metadata_for_region(cc)
            desc = meta.mobile if mobile else meta.fixed_line
            lengths = desc.possible_length or meta.general_desc.possible_length
            self._types[key] = (
                example.country_code,
                phonenumbers.national_significant_number(example),
                frozenset(lengths),
                re.compile(desc.national_number_pattern),
            )
        return self._types[key]

    def number(
        self, rng: random.Random, cc: str, city: str | None, mobile: bool = False
    ) -> tuple[int, str]:
        """(country code, national significant number), drawn as acme's random_phone draws."""
        code, example, lengths, pattern = self._type(cc, mobile)
        prefix = acme.CITIES[cc].get(city, "") if (city and not mobile) else ""
        for attempt in range(60):
            if attempt >= 30 or not prefix:
                prefix = example[: (2 if mobile else 1)]
            length = (
                len(example)
                if mobile or attempt >= 30
                else rng.choice(acme.FIXED_LINE_LENGTHS.get(cc, [len(example)]))
            )
            candidate = prefix + digits(rng, max(0, length - len(prefix)))
            if candidate[len(prefix) : len(prefix) + 1] == "0":
                continue
            if len(candidate) in lengths and pattern.fullmatch(candidate):
                return code, candidate
        return code, example

    def _formats(self, code: int, nsn: str) -> tuple[str, str]:
        """International and national spellings; the number's digits are the last ones in both."""
        key = (code, nsn[:3], len(nsn))
        if key not in self._templates:
            number = phonenumbers.parse(f"+{code}{nsn}")
            templates = []
            for style in (PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL):
                text = phonenumbers.format_number(number, style)
                at = [i for i, c in enumerate(text) if c.isdigit()][-len(nsn) :]
                chars = list(text)
                for i in at:
                    chars[i] = "{}"
                templates.append("".join(chars))
            self._templates[key] = (templates[0], templates[1])
        intl, national = self._templates[key]
        return intl.format(*nsn), national.format(*nsn)

    def messy(self, rng: random.Random, number: tuple[int, str]) -> str:
        """acme's messy_phone: '+49 30 1234567', '030 1234567', '(030) 123-4567', ..."""
        code, nsn = number
        intl, national = self._formats(code, nsn)
        r = rng.random()
        if r < 0.30:
            return intl
        if r < 0.58:
            return national
        if r < 0.70:
            return "00" + intl[1:]
        if r < 0.82:
            return f"+{code}{nsn}"
        if national.startswith("("):
            return national
        head, _, rest = national.replace("-", " ").partition(" ")
        rest = rest.replace(" ", "")
        if not rest:
            return national
        return f"({head}) {rest[:3]}-{rest[3:]}" if len(rest) > 5 else f"({head}) {rest}"


# --------------------------------------------------------------------------- ids


class Ids:
    """acme's Salesforce-style and Stripe-style ids, unique; a few Salesforce ids differ from a
    recent one of the same prefix only by letter case (ids are case-sensitive)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()
        self.recent: dict[str, list[str]] = {}

    def _issue(self, prefix: str, value: str) -> str:
        self.used.add(value)
        recent = self.recent.setdefault(prefix, [])
        recent.append(value)
        if len(recent) > 50:
            del recent[0]
        return value

    def salesforce(self, prefix: str) -> str:
        rng = self.rng
        recent = self.recent.get(prefix)
        if recent and rng.random() < 0.003:
            base = rng.choice(recent)
            letters = [i for i in range(len(prefix), len(base)) if base[i].isalpha()]
            if letters:
                i = rng.choice(letters)
                twin = base[:i] + base[i].swapcase() + base[i + 1 :]
                if twin not in self.used:
                    return self._issue(prefix, twin)
        while True:
            value = prefix + "".join(rng.choices(acme.BASE62, k=18 - len(prefix)))
            if value not in self.used:
                return self._issue(prefix, value)

    def stripe(self) -> str:
        while True:
            value = "cus_" + "".join(self.rng.choices(acme.ALNUM, k=14))
            if value not in self.used:
                self.used.add(value)
                return value


# --------------------------------------------------------------------------- the world


class World:
    """All companies and people, and the registries that keep brands, domains, emails and VAT
    numbers unique (acme's World, for a given number of account records)."""

    def __init__(self, seed: int, accounts: int):
        self.seed = seed
        self.counts = plan(accounts)
        self.n = self.counts["sor"]
        self.brands: set[str] = set()
        self.domains: set[str] = set()
        self.emails: set[str] = set()
        self.vats: set[str] = set()
        self.customers: list[Company] = []
        self.lookalikes: list[Company] = []
        self.prospects: list[Company] = []
        self.other_orgs: list[Company] = []
        self.other_org_ids: list[int] = []
        self.other_billing: list[Company] = []
        self.resellers: list[tuple[Company, str]] = []  # (company, its shared billing mailbox)
        self.phones = Phones()

    def rng(self, name: str) -> random.Random:
        """An independent, deterministic random stream per part of the world."""
        return random.Random(f"acme-scale/{self.seed}/{name}")

    def new_brand(self, rng: random.Random) -> str:
        for attempt in range(1000):
            brand = random_brand(rng)
            if attempt > 20:
                brand += one_of(rng, acme.SYL_SUF)
            if brand not in self.brands and (key := slug(brand)) not in self.brands:
                self.brands.update((brand, key))
                return brand
        raise RuntimeError("brand space exhausted")

    # The example's registries, as they are: they draw the same random numbers.
    claim_domain = acme.World.claim_domain
    claim_email = acme.World.claim_email

    def new_vat(self, rng: random.Random, cc: str) -> str:
        while True:
            vat = vat_candidate(rng, cc)
            if vat is not None and vat not in self.vats:
                self.vats.add(vat)
                return vat

    def make_company(
        self,
        rng: random.Random,
        kind: str,
        country: str | None = None,
        brand: str | None = None,
        domain: str | None = None,
    ) -> Company:
        country = country or PICK_COUNTRY(rng)
        brand = brand or self.new_brand(rng)
        descriptor = (
            one_of(rng, acme.DESCRIPTORS) if (rng.random() < 0.35 or len(brand) <= 3) else ""
        )
        tld = acme.TLD[country] if country != "US" else rng.choice([".com", ".com", ".com", ".io"])
        if domain is None:
            stem = brand.replace(" & ", "-" if rng.random() < 0.5 else "and")
            domain = self.claim_domain(
                rng,
                slug(stem) if "-" not in stem else "-".join(slug(s) for s in stem.split("-")),
                tld,
                descriptor,
            )
        co = Company(
            brand,
            descriptor,
            PICK_LEGAL_FORM[country](rng),
            country,
            domain,
            one_of(rng, CITY_NAMES[country]),
            kind,
            PICK_EMAIL_PATTERN(rng),
        )
        if country in acme.VAT_COUNTRIES:
            co.vat = self.new_vat(rng, country)
        return co

    add_alias_domain = acme.World.add_alias_domain  # the example generator's, unchanged

    def company_phone(self, rng: random.Random, co: Company) -> tuple[int, str]:
        """The company's switchboard number, made the first time a record shows it."""
        if co.phone is None:
            co.phone = self.phones.number(rng, co.country, co.city)
        return co.phone

    def colleague(self, rng: random.Random, co: Company, free_mail: bool = False) -> Person:
        """A person working at the company, with a unique email on its domain (or free mail)."""
        first, last, locale = person_name(rng, co.country)
        if free_mail:
            return Person(first, last, self.free_email(rng, first, last, co.country), locale)
        pattern = co.email_pattern if rng.random() < 0.85 else PICK_EMAIL_PATTERN(rng)
        email = self.claim_email(rng, local_part(first, last, pattern), co.domain)
        return Person(first, last, email, locale)

    def free_email(self, rng: random.Random, first: str, last: str, country: str) -> str:
        domain = one_of(rng, acme.FREE_MAIL.get(country, acme.FREE_MAIL_DEFAULT))
        local = local_part(first, last, one_of(rng, FREE_MAIL_PATTERNS))
        if rng.random() < 0.6:
            local += str(rng.randint(1, 99))
        return self.claim_email(rng, local, domain)

    def stranger(self, rng: random.Random) -> Person:
        """Somebody with a free-mail address who belongs to no company."""
        country = PICK_COUNTRY(rng)
        first, last, locale = person_name(rng, country)
        return Person(first, last, self.free_email(rng, first, last, country), locale)


def build_customers(world: World) -> None:
    """The SOR accounts; ~3 % of them in groups (2-3 countries, one brand, one domain)."""
    rng = world.rng("customers")
    n = world.n
    in_groups = round(0.03 * n)
    group_no = 0
    while in_groups >= 2 and len(world.customers) < in_groups:
        size = min(rng.choice([2, 2, 3]), in_groups - len(world.customers))
        if size < 2:
            break
        group_no += 1
        brand = world.new_brand(rng)
        domain = world.claim_domain(
            rng, slug(brand.replace(" & ", "")), rng.choice([".com", ".com", ".group"])
        )
        for country in rng.sample(acme.COUNTRIES, size):
            co = world.make_company(rng, "customer", country=country, brand=brand, domain=domain)
            co.group = group_no
            world.customers.append(co)
    while len(world.customers) < n:
        world.customers.append(world.make_company(rng, "customer"))
    world.customers = [world.customers[i] for i in permutation(rng, n)]

    deleted = set(rng.sample(range(n), round(0.02 * n)))
    for i, (co, account_id) in enumerate(zip(world.customers, permutation(rng, n), strict=True)):
        co.account_id = account_id + 1
        co.created = acme.rand_date(rng, dt.date(2016, 1, 1), acme.NOW - dt.timedelta(days=120))
        if i in deleted:
            co.status = "deleted"
        else:
            co.status = PICK_STATUS(rng)
            if co.status == "trial":
                co.created = acme.NOW - dt.timedelta(days=rng.randint(1, 60))


def build_users(world: World) -> None:
    """Product users per account (``USERS_PER_ACCOUNT``); ~10 % on free mail."""
    rng = world.rng("users")
    for co in world.customers:
        for k in range(PICK_USERS(rng)):
            person = world.colleague(rng, co, free_mail=rng.random() < 0.10)
            person.role = rng.choice(["owner", "admin"]) if k == 0 else PICK_ROLE(rng)
            co.users.append(person)
    users = [u for co in world.customers for u in co.users]
    for user, i in zip(users, permutation(rng, len(users)), strict=True):
        user.user_id = i + 1


def build_non_customers(world: World) -> None:
    """Look-alikes (a customer's brand elsewhere), prospects, other support orgs and billing
    customers, resellers."""
    rng = world.rng("non_customers")
    counts = world.counts
    singles = [co for co in world.customers if co.group is None]
    for original in rng.sample(singles, min(len(singles), counts["lookalikes"])):
        country = rng.choice(OTHER_COUNTRIES[original.country])
        twin = world.make_company(rng, "lookalike", country=country, brand=original.brand)
        if rng.random() < 0.5:
            twin.descriptor = original.descriptor
        world.lookalikes.append(twin)
    world.prospects = [world.make_company(rng, "prospect") for _ in range(counts["prospects"])]
    world.other_orgs = [world.make_company(rng, "other") for _ in range(counts["support_others"])]
    world.other_billing = [
        world.make_company(rng, "other") for _ in range(counts["billing_others"])
    ]
    for _ in range(counts["resellers"]):
        reseller = world.make_company(rng, "other")
        world.resellers.append((reseller, world.claim_email(rng, "billing", reseller.domain)))


# --------------------------------------------------------------------------- sources


class Table:
    """Rows of one output file (tuples in the file's column order) and their truth rows."""

    def __init__(self, source: str):
        self.source = source
        self.rows: list[tuple] = []
        self.truth: list[tuple[str, str, str]] = []

    def add(self, row: tuple, record_id, account: str, user: str = "") -> None:
        self.rows.append(row)
        self.truth.append((str(record_id), account, user))

    def shuffle(self, rng: random.Random) -> None:
        order = permutation(rng, len(self.rows))
        self.rows = [self.rows[i] for i in order]
        self.truth = [self.truth[i] for i in order]


def timestamp(rng: random.Random, day) -> str:
    """An ISO timestamp during working hours of the day."""
    hours, seconds = divmod(rng.randrange(7 * 3600, 20 * 3600), 3600)
    return f"{day.isoformat()}T{hours:02d}:{seconds // 60:02d}:{seconds % 60:02d}Z"


def build_product(world: World) -> tuple[Table, Table]:
    """The SOR: one row per account (80 % with a website), and its users."""
    rng = world.rng("product")
    accounts, users = Table("product"), Table("product_users")
    for co in world.customers:
        website = acme.sor_website(rng, co.domain) if rng.random() < 0.8 else ""
        row = (co.account_id, co.name, website, co.country, co.created.isoformat(), co.status)
        accounts.add(row, co.account_id, co.truth_account)
        for u in co.users:
            row = (u.user_id, co.account_id, u.email, u.full_name, u.role)
            users.add(row, u.user_id, co.truth_account, str(u.user_id))
    users.shuffle(rng)
    return accounts, users


def plan_support_orgs(world: World) -> dict[int, int]:
    """Which customers have a support org, and the org ids (2000 upward, in random order)."""
    rng = world.rng("support_plan")
    with_org = sample_in_order(rng, world.customers, world.counts["support_customers"])
    ids = [2000 + i for i in permutation(rng, len(with_org) + len(world.other_orgs))]
    world.other_org_ids = ids[len(with_org) :]
    return {co.account_id: org_id for co, org_id in zip(with_org, ids, strict=False)}


def crm_account_row(
    world: World,
    rng: random.Random,
    co: Company,
    sf_id: str,
    *,
    name: str,
    website_p: float,
    phone_p: float,
    vat_p: float,
    city_p: float,
    product_ref: str = "",
    org_ref: str = "",
) -> tuple:
    vat = vat_field(rng, co) if co.vat and rng.random() < vat_p else ""
    website = acme.messy_website(rng, co.domain) if rng.random() < website_p else ""
    phone = world.phones.messy(rng, world.company_phone(rng, co)) if rng.random() < phone_p else ""
    country = acme.country_spelling(rng, co.country) if rng.random() < 0.95 else ""
    city = co.city if rng.random() < city_p else ""
    return (sf_id, name, website, phone, country, city, vat, product_ref, org_ref)


def build_crm(world: World, org_ids: dict[int, int]) -> tuple[Table, Table]:
    """CRM accounts (customers, duplicates, look-alikes, prospects) and their contacts."""
    rng = world.rng("crm")
    ids = Ids(world.rng("crm_ids"))
    accounts, contacts = Table("crm"), Table("crm_contacts")
    owners: list[tuple[str, Company, str]] = []  # (crm id, company, contacts kind)

    crm_customers = sample_in_order(rng, world.customers, world.counts["crm_customers"])
    n_records = (
        len(crm_customers)
        + world.counts["crm_duplicates"]
        + len(world.lookalikes)
        + len(world.prospects)
    )
    n_wrong = round(WRONG_REF_SHARE * n_records)
    wrong = set(co.account_id for co in rng.sample(crm_customers, n_wrong))
    for co in crm_customers:
        product_ref = ""
        if co.account_id in wrong:
            other = rng.randint(1, world.n)
            while other == co.account_id:
                other = rng.randint(1, world.n)
            product_ref = acme.ref_noise(rng, other)
        elif rng.random() < 0.55:
            product_ref = acme.ref_noise(rng, co.account_id)
        org_ref = ""
        if co.account_id in org_ids and rng.random() < 0.20:
            org_id = org_ids[co.account_id]
            org_ref = str(org_id) if rng.random() < 0.75 else f"{org_id}.0"
        sf_id = ids.salesforce("0017b00000")
        row = crm_account_row(
            world,
            rng,
            co,
            sf_id,
            name=acme.name_variant(rng, co, p_change=0.6),
            website_p=0.7,
            phone_p=0.6,
            vat_p=0.5,
            city_p=0.85,
            product_ref=product_ref,
            org_ref=org_ref,
        )
        accounts.add(row, sf_id, co.truth_account)
        owners.append((sf_id, co, "customer"))

    for co in rng.sample(crm_customers, world.counts["crm_duplicates"]):
        sf_id = ids.salesforce("0017b00000")
        product_ref = acme.ref_noise(rng, co.account_id) if rng.random() < 0.10 else ""
        row = crm_account_row(
            world,
            rng,
            co,
            sf_id,
            name=acme.name_variant(rng, co, p_typo=0.08),
            website_p=0.35,
            phone_p=0.3,
            vat_p=0.15,
            city_p=0.5,
            product_ref=product_ref,
        )
        accounts.add(row, sf_id, co.truth_account)
        owners.append((sf_id, co, "duplicate"))

    for co in world.lookalikes + world.prospects:
        sf_id = ids.salesforce("0017b00000")
        row = crm_account_row(
            world,
            rng,
            co,
            sf_id,
            name=acme.name_variant(rng, co, p_typo=0.02, p_change=0.5),
            website_p=0.5 if co.kind == "lookalike" else 0.7,
            phone_p=0.6,
            vat_p=0.5,
            city_p=0.85,
        )
        accounts.add(row, sf_id, "")
        owners.append((sf_id, co, "other"))

    for sf_id, co, kind in owners:
        build_crm_contacts(world, rng, ids, contacts, sf_id, co, kind)
    accounts.shuffle(rng)
    contacts.shuffle(rng)
    return accounts, contacts


def build_crm_contacts(
    world: World,
    rng: random.Random,
    ids: Ids,
    table: Table,
    sf_id: str,
    co: Company,
    kind: str,
) -> None:
    """Customers: ~50 % product users (email maybe with case/space noise), the rest colleagues."""
    unused_users = list(co.users) if co.kind == "customer" else []
    rng.shuffle(unused_users)
    for _ in range(PICK_CRM_CONTACTS[kind](rng)):
        if unused_users and rng.random() < 0.5:
            person = unused_users.pop()
            email = acme.email_noise(rng, person.email, 0.12)
        else:
            person = world.colleague(rng, co, free_mail=rng.random() < 0.04)
            email = person.email
        first, last = acme.contact_name(rng, person)
        contact_id = ids.salesforce("0037b00000")
        phone = ""
        if rng.random() < 0.4:
            mobile = rng.random() < 0.6
            phone = world.phones.messy(rng, world.phones.number(rng, co.country, co.city, mobile))
        row = (
            contact_id,
            "" if rng.random() < 0.15 else sf_id,
            email if rng.random() < 0.97 else "",
            first,
            last,
            phone,
        )
        table.add(row, contact_id, co.truth_account, str(person.user_id or ""))


support_domains = acme.support_domains  # the example generator's, unchanged


def build_support(world: World, org_ids: dict[int, int]) -> tuple[Table, Table]:
    """Support orgs (customers' and non-customers') and their end-users, plus strays."""
    rng = world.rng("support")
    orgs, users = Table("support"), Table("support_users")
    members: list[tuple[int, Company]] = []
    for co in world.customers:
        org_id = org_ids.get(co.account_id)
        if org_id is None:
            continue
        external = None
        if rng.random() < 0.40:
            external = rng.choices(
                [co.account_id, float(co.account_id), str(co.account_id)], cum_weights=[60, 80, 100]
            )[0]
        created = acme.rand_date(rng, co.created, acme.NOW - dt.timedelta(days=1))
        name = acme.name_variant(rng, co, p_change=0.5)
        row = (org_id, name, support_domains(world, rng, co), external, timestamp(rng, created))
        orgs.add(row, org_id, co.truth_account)
        members.append((org_id, co))
    for co, org_id in zip(world.other_orgs, world.other_org_ids, strict=True):
        created = acme.rand_date(rng, dt.date(2018, 1, 1), acme.NOW - dt.timedelta(days=1))
        name = acme.name_variant(rng, co, p_change=0.3)
        domains = [co.domain] if rng.random() < 0.8 else []
        orgs.add((org_id, name, domains, None, timestamp(rng, created)), org_id, "")
        members.append((org_id, co))

    user_ids = itertools.count(5_000_001, 3)
    for org_id, co in members:
        unused = list(co.users)
        rng.shuffle(unused)
        kind = "customer" if co.kind == "customer" else "other"
        for _ in range(PICK_SUPPORT_USERS[kind](rng)):
            if unused and rng.random() < 0.40:
                person = unused.pop()
            else:
                person = world.colleague(rng, co, free_mail=rng.random() < 0.10)
            uid = next(user_ids)
            org = None if rng.random() < 0.20 else org_id
            row = (uid, org, person.email, acme.support_name(rng, person), "end-user")
            users.add(row, uid, co.truth_account, str(person.user_id or ""))
    for _ in range(max(1, round(0.04 * len(users.rows)))):
        person = world.stranger(rng)
        uid = next(user_ids)
        users.add((uid, None, person.email, acme.support_name(rng, person), "end-user"), uid, "")
    orgs.shuffle(rng)
    users.shuffle(rng)
    return orgs, users


billing_email = acme.billing_email  # the example generator's, unchanged


def billing_row(
    rng: random.Random,
    ids: Ids,
    co: Company,
    *,
    email: str,
    name: str,
    account_ref: int | None,
    tax_p: float,
) -> tuple:
    cus_id = ids.stripe()
    tax = vat_field(rng, co) if co.vat and rng.random() < tax_p else None
    start = co.created if co.kind == "customer" else dt.date(2018, 1, 1)
    end = min(acme.NOW - dt.timedelta(days=1), start + dt.timedelta(days=90))
    created = acme.unix_ts(acme.rand_date(rng, start, end), rng)
    city = co.city if rng.random() < 0.9 else None
    metadata = {"account_id": str(account_ref)} if account_ref is not None else {}
    return (cus_id, name, email, co.country, city, tax, metadata, created)


def build_billing(world: World) -> Table:
    """Billed customers, resellers paying for 25 of them each, non-customers and persons."""
    rng = world.rng("billing")
    ids = Ids(world.rng("billing_ids"))
    table = Table("billing")
    billed = sample_in_order(rng, world.customers, world.counts["billing_customers"])
    n_resold = min(len(billed), RESOLD_PER_RESELLER * len(world.resellers))
    resold = {
        co.account_id: world.resellers[i % len(world.resellers)][1]
        for i, co in enumerate(rng.sample(billed, n_resold))
    }
    for co in billed:
        ref = co.account_id if rng.random() < 0.5 else None
        mailbox = resold.get(co.account_id)
        if mailbox is not None:
            name = acme.name_variant(rng, co, p_typo=0.0, p_change=0.3)
            row = billing_row(rng, ids, co, email=mailbox, name=name, account_ref=ref, tax_p=0.3)
        elif rng.random() < 0.15 and co.users:
            person = rng.choice(co.users)
            row = billing_row(
                rng,
                ids,
                co,
                email=person.email,
                name=person.full_name,
                account_ref=ref,
                tax_p=0.3,
            )
        else:
            row = billing_row(
                rng,
                ids,
                co,
                email=billing_email(world, rng, co),
                name=acme.name_variant(rng, co, p_typo=0.02, p_change=0.3),
                account_ref=ref,
                tax_p=0.6,
            )
        table.add(row, row[0], co.truth_account)

    for reseller, mailbox in world.resellers:
        row = billing_row(
            rng, ids, reseller, email=mailbox, name=reseller.name, account_ref=None, tax_p=1.0
        )
        table.add(row, row[0], "")
    for co in world.other_billing:
        row = billing_row(
            rng,
            ids,
            co,
            email=billing_email(world, rng, co),
            name=acme.name_variant(rng, co, p_change=0.2),
            account_ref=None,
            tax_p=0.5,
        )
        table.add(row, row[0], "")
    for _ in range(world.counts["billing_persons"]):
        person = world.stranger(rng)
        country = PICK_COUNTRY(rng)
        co = Company("", "", "", country, "", rng.choice(CITY_NAMES[country]), "other", "")
        row = billing_row(
            rng, ids, co, email=person.email, name=person.full_name, account_ref=None, tax_p=0.0
        )
        table.add(row, row[0], "")
    table.shuffle(rng)
    return table


# --------------------------------------------------------------------------- writing


def support_org_json(row: tuple) -> dict:
    org_id, name, domains, external, created = row
    return {
        "id": org_id,
        "name": name,
        "domain_names": domains,
        "external_id": external,
        "created_at": created,
    }


def support_user_json(row: tuple) -> dict:
    uid, org, email, name, role = row
    return {"id": uid, "organization_id": org, "email": email, "name": name, "role": role}


def billing_json(row: tuple) -> dict:
    cus_id, name, email, country, city, tax, metadata, created = row
    return {
        "id": cus_id,
        "name": name,
        "email": email,
        "address": {"country": country, "city": city},
        "tax_id": tax,
        "metadata": metadata,
        "created": created,
    }


def write_table(data: Path, table: Table, truth: csv.writer) -> None:
    """Write the table's file in the example's format, and its truth rows."""
    path = data / acme.FILES[table.source]
    encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(row, ensure_ascii=False)
    if table.source in acme.CSV_COLUMNS:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(acme.CSV_COLUMNS[table.source])
            writer.writerows(table.rows)
    elif table.source == "product_users":
        columns = list(zip(*table.rows, strict=True))
        schema = pa.schema(
            [
                ("id", pa.int64()),
                ("account_id", pa.int64()),
                ("email", pa.string()),
                ("name", pa.string()),
                ("role", pa.string()),
            ]
        )
        arrays = [pa.array(column, type=f.type) for column, f in zip(columns, schema, strict=True)]
        pq.write_table(
            pa.Table.from_arrays(arrays, schema=schema),
            path,
            compression="zstd",
            compression_level=3,
            write_statistics=True,
        )
    elif table.source == "billing":
        with path.open("w", encoding="utf-8") as f:
            f.write("[\n")
            f.write(",\n".join(encode(billing_json(row)) for row in table.rows))
            f.write("\n]\n")
    else:
        to_json = support_org_json if table.source == "support" else support_user_json
        with path.open("w", encoding="utf-8") as f:
            f.writelines(encode(to_json(row)) + "\n" for row in table.rows)
    truth.writerows((table.source, *t) for t in table.truth)


def linker_toml(accounts: int) -> str:
    """The example's linker.toml, its conflict gate grown in proportion to the account records.

    Conflicts grow with the data (wrong CRM references, groups, ...): the example has 15 for
    its 6,921 account records, this generator ~200 at 100k, so the example's 50 would fail
    every run above ~30k records (and a failed gate blocks ``--publish``)."""
    text = ACME_TOML.read_text(encoding="utf-8")
    gate = re.search(r"^max_conflicts = 50 .*$", text, flags=re.MULTILINE)
    assert gate, f"{ACME_TOML} no longer has its 'max_conflicts = 50' gate"
    limit = round(50 * accounts / EXAMPLE_ACCOUNT_RECORDS)
    if limit <= 50:
        return text
    line = f"max_conflicts = {limit}  # the example's 50, grown with the account records"
    return text[: gate.start()] + line + text[gate.end() :]


def generate(accounts: int, seed: int, out: Path) -> dict[str, int]:
    """Write the project for ``accounts`` account records into ``out``; the records per source."""
    world = World(seed, accounts)
    build_customers(world)
    build_users(world)
    build_non_customers(world)
    org_ids = plan_support_orgs(world)
    data = out / "data"
    data.mkdir(parents=True)
    counts: dict[str, int] = {}
    with (out / "truth.csv").open("w", newline="", encoding="utf-8") as f:
        truth = csv.writer(f, lineterminator="\n")
        truth.writerow(["source", "source_record_id", "account_id", "user_id"])
        for build in (
            lambda: build_product(world),
            lambda: build_crm(world, org_ids),
            lambda: build_support(world, org_ids),
            lambda: (build_billing(world),),
        ):
            for table in build():
                write_table(data, table, truth)
                counts[table.source] = len(table.rows)
    (out / "linker.toml").write_text(linker_toml(accounts), encoding="utf-8")
    return counts


# --------------------------------------------------------------------------- the cache


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (a staging directory's owner)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dataset(accounts: int, seed: int, root: Path | None, force: bool) -> tuple[Path, bool]:
    """The data set's directory and whether it was generated now."""
    if accounts < MIN_ACCOUNTS:
        raise ValueError(f"accounts must be at least {MIN_ACCOUNTS:,} (got {accounts:,})")
    root = Path(root) if root is not None else CACHE
    target = root / f"acme-{accounts}-seed{seed}-{VERSION}"
    if (target / STAMP).exists() and not force:
        return target, False
    root.mkdir(parents=True, exist_ok=True)
    # Leftovers of killed generations of this data set (their process is gone).
    for stale in root.glob(f".tmp-{target.name}-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    staging = root / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    counts = generate(accounts, seed, staging)
    stamp = {"accounts": accounts, "seed": seed, "version": VERSION, "records": counts}
    (staging / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    if target.exists() and (force or not (target / STAMP).exists()):
        old = root / f".old-{target.name}-{os.getpid()}"
        target.rename(old)
        shutil.rmtree(old)
    try:
        staging.rename(target)
    except OSError:  # another process put it in place meanwhile: theirs is as good
        shutil.rmtree(staging)
        if not (target / STAMP).exists():
            raise
    return target, True


def ensure(accounts: int, seed: int = 1, root: Path | None = None) -> Path:
    """The project directory (linker.toml, data/, truth.csv) of the acme data set with
    ``accounts`` account records made with ``seed``; generated unless it is cached under
    ``root`` (default benchmarks/.data/) for this version of the generator."""
    return _dataset(accounts, seed, root, force=False)[0]


def records(project: Path) -> dict[str, int]:
    """The number of records per source of a data set made here."""
    return json.loads((project / STAMP).read_text(encoding="utf-8"))["records"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--accounts", type=int, required=True, help="account records over all account sources"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help=f"cache directory (default {CACHE})")
    parser.add_argument("--force", action="store_true", help="generate even if cached")
    args = parser.parse_args(argv)
    if args.accounts < MIN_ACCOUNTS:
        parser.error(f"--accounts must be at least {MIN_ACCOUNTS:,}")
    started = time.perf_counter()
    project, generated = _dataset(args.accounts, args.seed, args.out, args.force)
    seconds = time.perf_counter() - started
    counts = records(project)
    account_sources = ("product", "crm", "support", "billing")
    n_accounts = sum(counts[s] for s in account_sources)
    n_contacts = sum(n for s, n in counts.items() if s not in account_sources)
    print(project)
    for source in acme.SOURCES:
        print(f"  {source:<14} {counts[source]:>10,}  {acme.FILES[source]}")
    print(
        f"  {n_accounts:,} account records (SOR {counts['product'] / n_accounts:.1%}), "
        f"{n_contacts:,} contacts"
    )
    print(f"{'generated' if generated else 'cached'}: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
