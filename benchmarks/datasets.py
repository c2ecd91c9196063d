"""Benchmark data sets: the acme example at 10k-1M account records with real data's traps, cached.

``ensure(accounts, seed)`` returns a linker project directory laid out like ``fixtures/acme``
(``linker.toml``, ``data/`` with the same seven files and formats, address columns added,
``truth.csv``) plus ``kinds.csv``, so ``linker run -p DIR --publish`` and ``linker evaluate -p
DIR --truth DIR/truth.csv`` work on it. ``accounts`` is the exact number of account records
over the four account sources (product, crm, support, billing); the product database, the
system of record (SOR), holds 40 % of them. Contacts (product users, CRM contacts, support
users) are about 1.2 times as many.

The world and its noise are fixtures/generate.py's, and so are most of the functions that spell
names, websites, countries, references and emails; this module reorganises the work for size
(the example's generator needs ~106 s and 1.9 GB for 200k SOR accounts; this one ~52 s and
1.4 GiB for 1M account records, 400k of them SOR accounts):

* phone numbers are checked against phonenumbers' own pattern for their type instead of being
  parsed back, and written from format templates cached per country and leading digits;
* VAT numbers are valid by construction of their check digits, not validated each time;
* random draws avoid random.choice/choices where they are hot, slugs and email local parts
  are cached; rows are tuples, written source by source.

What differs from the example on purpose (see ``EXAMPLE_RATES`` and the contact distributions):
the other systems cover fewer customers (so the SOR is 40 %, not 29 %, of the account
records) and carry fewer contacts; one reseller per 2,000 SOR accounts pays for 25 customers
through its shared mailbox (the example: one reseller, at most 100 customers); the
``max_conflicts`` gate of the example's linker.toml grows with the data, and its mapping gains
the address columns (``ADDRESS_FIELDS``; everything else in it is copied unchanged). And the
traps below.

The traps
---------
These are the traps of data written independently. The example invents a unique brand for every company ("Dexvivex"), so a name and a country
nearly always make one company: linker is precise on it and much less so on data written
independently (accounts precision 0.978, CRM 0.962, at 100k SOR accounts in someone else's
generator, almost all errors from ``name_country``), and on real data further traps show. This
module makes them by default, at the rates below (the module constants). The rates are
judgment, from the shape of real company registers and CRM exports; no register was measured.

1. **Names from common words** (``COMMON_NAME_SHARE``: 30 % of customers, 36 % of CRM
   prospects, 33 % of other non-customers; the rest keep invented brands). Company names
   follow Zipf's law like words do: most are unique, a few recur everywhere. So 30 % of these
   names (``COMMON_HEAD_SHARE``) come from a *head* — "Apex Consulting", "Smith Plumbing",
   "Costruzioni Rossi", "Smith & Sons", "Hans Müller GmbH", "Leeds Dental" — whose words
   (trades, words, surnames, in the country's language, the most frequent first) are drawn
   with Zipf weights of exponent 0.5 (``NAME_ZIPF``; with 1.0 the shortness of our word lists
   made "Smith" ~10 % of surnames and one name in four a duplicate at 8k SOR accounts); the
   rest from a *tail* of the same words that rarely repeats ("Stonebridge Consulting", "Green
   Valley Dental", "Anna Weber Immobilien"). Each company has its own domain
   ('smithplumbing.co.uk', then 'smith-plumbing.co.uk', 'smithplumbing-leeds.co.uk', ...),
   VAT number, city and phone. Why duplicates are real: registers keep registered names apart
   only partly — Companies House refuses a name "the same as" another, the German register
   only within one town (§ 30 HGB), US states each their own, French registers hardly — and
   what CRMs and signup forms hold are trading names, which nobody keeps unique. The target
   was "a few percent of companies share their name (without the legal form) with another in
   their country, more in common trades", growing with the sample of the economy a data set
   holds. Measured, SOR accounts sharing name and country with another SOR account: 2.0 % at
   8k SOR accounts, 4.1 % at 100k, 7.5 % at 400k (of the common-named ones: 1.3 %, 8.7 %,
   21 %; the rest are the sites of trap 3); at 100k, 1,524 such names, the largest held by 20
   accounts (a 20-site organization), the largest among unrelated companies by 8.
2. **Non-customers named like a customer** (``NAMESAKE_SHARE``: 6 % of CRM prospects, 4 % of
   other support orgs and billing customers): the exact name (brand and descriptor) of a live
   customer in its country, five times in six one named from common words, in another city,
   with its own domain, phone and VAT number — the "Smith Plumbing" in Bristol a sales rep
   enters while the one in Leeds is a customer. Prospects named from common words add more by
   chance. At 100k SOR accounts 7.2 % of CRM prospects carry the normalized name of exactly
   one SOR account of their country (so ``name_country`` links them). Billing records of
   persons also meet sole traders named after their owner ("Hans Müller GmbH"). Truth: no
   account.
3. **Organizations with several sites** (``SITE_SHARE``: 5 % of SOR accounts; ``ORG_SIZES``:
   2-20 sites, ~4 on average; ``ORG_KINDS``): a college's campuses (25 %: "Olive Harvey College
   - South Campus", at most 5, mostly in one city, one VAT number, no legal form), a franchise's
   outlets (45 %: "Korvex Fitness Leeds", "Pharmacie Apex - Lyon", each a company of its own),
   a firm's branches (30 %: "Müller Logistik - Niederlassung Hamburg", one VAT number). 30 % of
   organizations give every site the same name (then in different cities where the country has
   enough), and the main site often goes by the bare name; a third of the site accounts share
   their name and country with another. The SOR carries no website for them; the other
   systems carry the organization's one website (CRM Website, support domains), its
   switchboard (20 % of a site's CRM phones), on billing records its director's email (35 % of
   the organizations' sites that have one; the director is a product user of the main site
   half the time) or its accounts mailbox (25 %), and the main site's address as invoice
   address (40 %); they drop the qualifier 30 % of the time. All sites' people have emails on
   the organization's domain. Truth: every record of a site is its own site's account.
4. **Phones in local formats** (``Phones.messy``): besides the example's spellings, other
   separators ('030/1234567', '310.246.1501', '1-310-246-1501', '(310) 246-1501') 12 %, bare
   digits 5 %, an extension 3 %, and for company fixed lines in countries with area codes (US,
   GB, DE, AT, AU, IE, SE, NL) 8 % the local number alone ('246-1501', '1234567'), which
   phonenumbers cannot place: 5.9 % of CRM account phones with a country fail E.164
   validation, 8.7 % of all (national formats on records without a country fail too).
5. **Postal addresses**: the SOR (40 %, ``SOR_ADDRESS_SHARE``: street, postal_code, city, as a
   checkout form keeps them), the CRM (BillingStreet 68 %, BillingPostalCode 62 %) and billing
   (address.line1 65 %, postal_code, city, state, now and then a line2) carry the company's
   address: a street of the city in the country's language and style ("Hauptstraße 12", "12
   High Street", "12 rue de la Gare", "Rue Haute 12" in Brussels), a few very common streets
   and many named after people (so neighbours on one street at other numbers are common), a
   house number (small ones most often), sometimes a unit ("Suite 400", "Unit 3", "2. OG"),
   the street's postcode in the city's real ranges. Typed noise: abbreviations (St, Rd, str.,
   av., C/), no house number (5 %), typos (3 %), capitals, commas, postcodes without their
   space, in lower case, ZIP+4 or 'D-10115', city exonyms and foldings (Munich, Muenchen), and
   4 % of CRM records hold an old address (the company moved). Mapped in linker.toml as the
   canonical fields address, postcode and city.
6. **A source without a country**: the Zendesk-like support organizations carry none (nor an
   address or phone), as in the example; CRM records without a country (5 %) stay.
7. **The example's traps stay**: groups sharing a domain across countries, the resellers'
   mailboxes, wrong CRM references (0.5 %), billing records named after a person, look-alikes
   abroad (now of invented brands only), duplicates, deleted accounts.

``kinds.csv`` has one row per account record — ``source, source_record_id, record, company`` —
saying what the record is (customer, duplicate, wrong_ref, lookalike, prospect, other,
reseller, resold, person_named, person) and how its company got its name (brand, common,
namesake, site, group, person), so errors can be counted by trap
(``benchmarks/false_links.py``).

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

# The traps of data written independently (see the module docstring for the reasoning).
# Companies named from common words ("Apex Consulting", "Müller GmbH"), by kind of company:
# customers, CRM prospects, and the other non-customers (support orgs, billing customers).
COMMON_NAME_SHARE = {"customer": 0.30, "prospect": 0.36, "other": 0.33}
# Non-customers named exactly like a single customer in its country (after the legal form),
# in another city, with their own domain, phone and VAT number.
NAMESAKE_SHARE = {"prospect": 0.06, "other": 0.04}
SITE_SHARE = 0.05  # SOR accounts that are one site of a multi-site organization
ORG_SIZES = [(2, 40), (3, 22), (4, 13), (5, 8), (6, 6), (8, 5), (12, 4), (20, 2)]  # sites per org
ORG_KINDS = [("campus", 25), ("chain", 45), ("branch", 30)]  # college / franchise / branches
SOR_ADDRESS_SHARE = 0.40  # SOR accounts with a postal address (typed at checkout)

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
        "trait",
        "org",
        "qualifier",
        "address",
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
        self.trait = "brand"  # brand | common | namesake | site | group: how it got its name
        self.org: Org | None = None  # the organization a site belongs to
        self.qualifier = ""  # a site's qualifier: "South Campus", "Leeds", "#12", or none
        self.address: Address | None = None

    name = acme.Company.name
    truth_account = acme.Company.truth_account


# --------------------------------------------------------------------------- names from common words


def words(text: str) -> list[str]:
    """A word list written 'a|b|c' (entries may hold spaces), the most frequent first."""
    return [w.strip() for w in text.split("|") if w.strip()]


def zipf(items: list, s: float = 1.0) -> Pick:
    """A choice over items (the most frequent first) where the k-th weighs 1/k**s: a few words
    are in every other company name, most are rare (Zipf's law holds for name words too)."""
    return Pick([(item, 1.0 / rank**s) for rank, item in enumerate(items, 1)])


def interleave(a: list, b: list) -> list:
    """a[0], b[0], a[1], b[1], ... then the rest of the longer list."""
    out = [x for pair in zip(a, b, strict=False) for x in pair]
    return out + a[len(b) :] + b[len(a) :]


def capitalized(text: str) -> str:
    """'de Jong' -> 'De Jong' at the start of a name; the rest as it is."""
    return text[:1].upper() + text[1:]


# Trades and words of common company names, per language, the most frequent first.
TRADES = {
    "en": words(
        "Consulting|Construction|Plumbing|Electrical|Dental|Accounting|Cleaning|Landscaping|"
        "Design|Marketing|Logistics|Properties|Roofing|Builders|Engineering|Legal|Catering|"
        "Transport|Motors|Medical|Insurance|Physiotherapy|Printing|Solutions|Services|"
        "Security|Recruitment|Joinery|Heating|Bakery|Veterinary|Fitness|Architects|Travel|"
        "Media|Software|Interiors|Flooring|Scaffolding|Removals"
    ),
    "de": words(
        "Bau|Elektrotechnik|Consulting|Immobilien|Haustechnik|Logistik|Steuerberatung|"
        "Metallbau|Transporte|Gebäudereinigung|Sanitär|Holzbau|Dachtechnik|Software|"
        "Personalservice|Werbeagentur|Automobile|Maschinenbau|Handel|Medien|Systemtechnik|"
        "Gartenbau|Malerbetrieb|Architekten|Ingenieure|Druck|Sicherheitsdienst|Verwaltung|"
        "Service|Montagebau|Tiefbau|Fensterbau|Elektro|Kältetechnik|Reisen"
    ),
    "fr": words(
        "Conseil|Bâtiment|Transports|Immobilier|Électricité|Plomberie|Menuiserie|Informatique|"
        "Services|Nettoyage|Automobiles|Construction|Rénovation|Distribution|Ingénierie|"
        "Communication|Maçonnerie|Peinture|Sécurité|Voyages|Architecture|Charpente|Logistique|"
        "Formation|Expertise|Boulangerie|Couverture|Chauffage|Multiservices|Paysage"
    ),
    "it": words(
        "Costruzioni|Consulting|Impianti|Trasporti|Immobiliare|Servizi|Informatica|Edilizia|"
        "Elettrica|Meccanica|Commerciale|Impresa|Progetti|Ingegneria|Logistica|Sistemi|"
        "Tecnologie|Arredamenti|Autotrasporti|Pulizie|Serramenti|Distribuzione|Comunicazione|"
        "Viaggi|Termoidraulica"
    ),
    "nl": words(
        "Bouw|Installatietechniek|Advies|Transport|Vastgoed|Schilders|Consultancy|Schoonmaak|"
        "ICT|Logistiek|Holding|Techniek|Onderhoud|Makelaardij|Administratie|Bouwbedrijf|"
        "Elektro|Timmerwerken|Hoveniers|Reizen|Beheer|Metaal|Design|Media|Projecten"
    ),
    "es": words(
        "Construcciones|Consultores|Transportes|Inmobiliaria|Servicios|Instalaciones|Asesores|"
        "Reformas|Informática|Ingeniería|Distribuciones|Electricidad|Logística|Gestión|"
        "Promociones|Limpiezas|Fontanería|Comunicación|Viajes|Arquitectura|Carpintería|"
        "Seguridad|Automoción|Proyectos|Comercial"
    ),
    "sv": words(
        "Bygg|Konsult|Fastigheter|Transport|El|VVS|Redovisning|Måleri|Data|Teknik|Service|"
        "Entreprenad|Byggservice|Städ|Snickeri|Mark|Design|Media|Logistik|Invest|Förvaltning|"
        "Handel|Rör|Kyl|Plåt"
    ),
}
# Words company founders reach for everywhere ("Apex", "Premier", "Nordic"), and at home.
SHARED_WORDS = words(
    "Apex|Premier|Global|Prime|Elite|Summit|United|Nordic|Alpha|Pro|Smart|First|Central|"
    "Advanced|Royal|Crown|Metro|City|Green|Blue|Golden|Silver|Star|Phoenix|Eagle|Pioneer|"
    "Pinnacle|Precision|Quality|Express|Direct|Allied|Euro|Atlas|Delta|Omega|Orion|Titan|"
    "Vision|Future|Modern|Classic|Total|Active|Dynamic|Unique|Perfect|Integra|Nova|Optima|"
    "Vital|Clear|Bright|Swift|Oak|Cedar|Falcon|Horizon|Liberty"
)
LOCAL_WORDS = {
    "en": words("Northern|Southern|Western|Eastern|Pacific|Atlantic|Coastal|Highland|Capital"),
    "de": words("Nord|Süd|Rhein|Alpen|Elbe|Hanse|Main|Ost|West|Stadt"),
    "fr": words("Atlantique|Provence|Alpes|Soleil|Azur|Méditerranée|Océan|Bretagne"),
    "it": words("Nuova|Italia|Mediterranea|Adriatica|Alpina|Tirrena|Sole|Europa"),
    "nl": words("Holland|Noord|Delta|Randstad|Zuid|Oranje|Polder|Friesland"),
    "es": words("Ibérica|Norte|Levante|Atlántica|Sur|Hispania|Mediterráneo|Sol"),
    "sv": words("Svea|Norr|Syd|Väst|Öst|Skandia|Fjäll|Sjö"),
}
NOUNS = words(  # "Green Valley Dental": English names only
    "Valley|Ridge|Bridge|Point|Stone|Field|Park|Hill|Bay|Harbour|Gate|Way|River|Lake|Tree|"
    "Leaf|Star|Sun|Wave|Wood|Brook|Peak|View|Meadow|Rock|Light|Coast|Spring|Grove|Lane"
)
SONS = {
    "en": "& Sons",
    "de": "& Söhne",
    "fr": "et Fils",
    "it": "& Figli",
    "nl": "& Zonen",
    "es": "e Hijos",
    "sv": "& Söner",
}
# How often a language puts the trade first ("Transports Martin", "Autohaus Müller").
TRADE_FIRST = {"en": 0.0, "de": 0.25, "nl": 0.15, "sv": 0.3, "fr": 0.8, "it": 0.8, "es": 0.8}
# The head: a few names every country has many of ("Smith Plumbing", "Apex Consulting",
# "Müller GmbH"), drawn with Zipf weights; the tail: names of the same words that rarely
# repeat ("Stonebridge Consulting", "Green Valley Dental", "Anna Weber Immobilien").
COMMON_HEAD_SHARE = 0.30
NAME_ZIPF = 0.5  # the exponent of the word frequencies (see the module docstring)
HEAD_TEMPLATES = Pick(
    [
        ("word_trade", 35),  # Apex Consulting
        ("surname_trade", 30),  # Smith Plumbing, Costruzioni Rossi
        ("surname_pair", 10),  # Smith & Jones
        ("first_surname", 10),  # Hans Müller GmbH
        ("city_trade", 8),  # Leeds Dental, Transports Lyon
        ("surname_sons", 3),  # Smith & Sons
        ("surname", 2),  # Müller GmbH
    ]
)
TAIL_TEMPLATES = Pick(
    [
        ("compound_trade", 45),  # Stonebridge Consulting
        ("word_noun_trade", 20),  # Green Valley Dental (English; elsewhere a compound)
        ("first_surname_trade", 20),  # Anna Weber Immobilien
        ("surname_pair_trade", 15),  # Smith & Jones Legal
    ]
)
COMPOUNDS = [a + b for a in acme.WORD_A for b in acme.WORD_B]  # Stonebridge, Oakfield, ...
PICK_TRADE = {lang: zipf(t, NAME_ZIPF) for lang, t in TRADES.items()}
PICK_WORD = {lang: zipf(interleave(w, SHARED_WORDS), NAME_ZIPF) for lang, w in LOCAL_WORDS.items()}
PICK_NOUN = zipf(NOUNS, NAME_ZIPF)
PICK_SURNAME = {lang: zipf(names, NAME_ZIPF) for lang, names in acme.LAST_NAMES.items()}
PICK_FIRST_NAME = {lang: zipf(names, NAME_ZIPF) for lang, names in acme.FIRST_NAMES.items()}
DESCRIPTOR_WORDS = frozenset(acme.DESCRIPTORS)


def common_name(rng: random.Random, country: str, city: str) -> tuple[str, str]:
    """(brand, descriptor) of a company named from common words in the country's language;
    the trade goes in the descriptor when it is one the other systems abbreviate or drop."""
    lang = one_of(rng, acme.LOCALES[country])
    surname = capitalized(PICK_SURNAME[lang](rng))
    if rng.random() < COMMON_HEAD_SHARE:
        template = HEAD_TEMPLATES(rng)
        if template == "surname":
            return surname, ""
        if template == "first_surname":
            return f"{PICK_FIRST_NAME[lang](rng)} {surname}", ""
        if template == "surname_sons":
            return f"{surname} {SONS[lang]}", ""
        if template == "surname_pair":
            other = capitalized(PICK_SURNAME[lang](rng))
            return (f"{surname} & {other}" if other != surname else surname), ""
        head = {"word_trade": PICK_WORD[lang](rng), "surname_trade": surname, "city_trade": city}
        head = head[template]
    else:
        template = TAIL_TEMPLATES(rng)
        if template == "word_noun_trade" and lang != "en":
            template = "compound_trade"
        if template == "compound_trade":
            head = one_of(rng, COMPOUNDS)
        elif template == "word_noun_trade":
            head = f"{PICK_WORD[lang](rng)} {PICK_NOUN(rng)}"
        elif template == "first_surname_trade":
            head = f"{PICK_FIRST_NAME[lang](rng)} {surname}"
        else:
            head = f"{surname} & {capitalized(PICK_SURNAME[lang](rng))}"
    trade = PICK_TRADE[lang](rng)
    if rng.random() < TRADE_FIRST[lang]:
        return f"{trade} {head}", ""
    if trade in DESCRIPTOR_WORDS:
        return head, trade
    return f"{head} {trade}", ""


class NameParts:
    """What acme's name_variant reads of a company, for names other than the company's own."""

    __slots__ = ("brand", "descriptor", "legal_form")

    def __init__(self, brand: str, descriptor: str, legal_form: str):
        self.brand, self.descriptor, self.legal_form = brand, descriptor, legal_form


def name_variant(rng: random.Random, co: Company, **noise) -> str:
    """How another system spells the company (acme's name_variant). A site of a multi-site
    organization is often written without its qualifier ("Olive Harvey College" for "Olive
    Harvey College - South Campus") or with the qualifier spelled another way."""
    if co.org is None or not co.qualifier:
        return acme.name_variant(rng, co, **noise)
    r = rng.random()
    if r < 0.30:
        brand = co.org.name
    elif r < 0.42:
        brand = qualified(co.org.name, one_of(rng, QUALIFIER_SEPARATORS), co.qualifier)
    else:
        brand = co.brand
    return acme.name_variant(rng, NameParts(brand, co.descriptor, co.legal_form), **noise)


# --------------------------------------------------------------------------- multi-site orgs


def qualified(name: str, separator: str, qualifier: str) -> str:
    """'Olive Harvey College' + ' - ' + 'South Campus'; ' (' closes its parenthesis."""
    if not qualifier:
        return name
    return f"{name}{separator}{qualifier}" + (")" if separator == " (" else "")


CAMPUS_NAMES = {
    "en": words("{F} {S} College|{city} Community College|{W} {N} Academy|St {F}'s School"),
    "de": words("{S}-Akademie|Bildungszentrum {city}|{W} Akademie|Berufskolleg {S}"),
    "fr": words("École {S}|Institut {W}|Lycée {F} {S}|Campus {W}"),
    "it": words("Istituto {S}|Scuola {W}|Accademia {S}|Liceo {F} {S}"),
    "nl": words("{W} College|Hogeschool {S}|{S} Academie"),
    "es": words("Colegio {S}|Academia {W}|Instituto {F} {S}"),
    "sv": words("{S}skolan|{W} Akademi|{city} Gymnasium"),
}
CAMPUS_FALLBACK = {  # when the templates' names are all taken in the country
    "en": "{} College",
    "de": "{} Akademie",
    "fr": "École {}",
    "it": "Istituto {}",
    "nl": "{} College",
    "es": "Academia {}",
    "sv": "{} Akademi",
}
CAMPUS_TLD = {"US": ".edu", "GB": ".ac.uk", "AU": ".edu.au"}
SECTORS = {  # franchise chains: "Korvex Fitness", "Pharmacie Apex"
    "en": words(
        "Dental|Fitness|Pharmacy|Veterinary|Physiotherapy|Opticians|Coffee|Pizza|"
        "Hair Studio|Car Wash|Self Storage|Tutoring|Daycare|Clinic|Auto Care"
    ),
    "de": words(
        "Zahnärzte|Fitness|Apotheke|Tierarztpraxis|Physiotherapie|Optik|Bäckerei|"
        "Pizza|Friseure|Autoservice|Kita|Nachhilfe|Hörgeräte"
    ),
    "fr": words(
        "Dentaire|Fitness|Pharmacie|Vétérinaire|Kiné|Optique|Boulangerie|Pizza|"
        "Coiffure|Auto Services|Crèche|Soutien Scolaire"
    ),
    "it": words(
        "Dentale|Fitness|Farmacia|Veterinaria|Fisioterapia|Ottica|Panificio|"
        "Pizzeria|Parrucchieri|Autoservizi|Asilo"
    ),
    "nl": words(
        "Tandartsen|Fitness|Apotheek|Dierenkliniek|Fysiotherapie|Opticiens|"
        "Bakkerij|Pizza|Kappers|Autoservice|Kinderopvang"
    ),
    "es": words(
        "Dental|Fitness|Farmacia|Veterinaria|Fisioterapia|Óptica|Panadería|"
        "Pizzería|Peluquería|Autoservicio|Guardería"
    ),
    "sv": words(
        "Tandvård|Gym|Apotek|Djurklinik|Fysioterapi|Optik|Bageri|Pizzeria|Frisör|"
        "Bilservice|Förskola"
    ),
}
# How an organization tells its sites apart, per kind and language ("" for none: the same
# name in another city).
QUALIFIERS = {
    "en": {
        "campus": words("{dir} Campus|{city} Campus|{dir} Campus"),
        "branch": words("{city} Office|{city}|{city} Branch"),
        "chain": words("{city}|{city} {dir}|#{n}|Store {n}|{city}"),
    },
    "de": {
        "campus": words("Campus {dir}|Campus {city}"),
        "branch": words("Niederlassung {city}|Standort {city}|{city}"),
        "chain": words("{city}|{city}-{dir}|Filiale {n}|{city}"),
    },
    "fr": {
        "campus": words("Campus {dir}|Campus de {city}"),
        "branch": words("Agence de {city}|{city}|Établissement de {city}"),
        "chain": words("{city}|{city} {dir}|n°{n}|{city}"),
    },
    "it": {
        "campus": words("Sede {dir}|Sede di {city}"),
        "branch": words("Sede di {city}|Filiale di {city}|{city}"),
        "chain": words("{city}|{city} {dir}|Punto vendita {n}|{city}"),
    },
    "nl": {
        "campus": words("Locatie {dir}|Locatie {city}"),
        "branch": words("Vestiging {city}|{city}"),
        "chain": words("{city}|{city}-{dir}|Filiaal {n}|{city}"),
    },
    "es": {
        "campus": words("Campus {dir}|Sede {city}"),
        "branch": words("Delegación {city}|Sede {city}|{city}"),
        "chain": words("{city}|{city} {dir}|Tienda {n}|{city}"),
    },
    "sv": {
        "campus": words("Campus {dir}|{city}"),
        "branch": words("Kontor {city}|{city}"),
        "chain": words("{city}|{city} {dir}|Butik {n}|{city}"),
    },
}
DIRECTIONS = {
    "en": words("North|South|East|West|Downtown|Central"),
    "de": words("Nord|Süd|Ost|West|Mitte"),
    "fr": words("Nord|Sud|Est|Ouest|Centre"),
    "it": words("Nord|Sud|Est|Ovest|Centro"),
    "nl": words("Noord|Zuid|Oost|West|Centrum"),
    "es": words("Norte|Sur|Este|Oeste|Centro"),
    "sv": words("Norr|Söder|Öst|Väst|City"),
}
QUALIFIER_SEPARATORS = [" - ", " - ", " ", " ", " (", ", ", " – "]
PICK_ORG_SIZE = Pick(ORG_SIZES)
PICK_ORG_KIND = Pick(ORG_KINDS)


class Org:
    """An organization with several sites, each a separate SOR account (a college's campuses,
    a franchise's outlets, a firm's branches): one website, one email convention, often one
    director or accounts mailbox that all sites' billing records carry."""

    __slots__ = ("name", "kind", "domain", "sites", "director", "director_is_user", "mailbox")

    def __init__(self, name: str, kind: str, domain: str):
        self.name, self.kind, self.domain = name, kind, domain
        self.sites: list[Company] = []
        self.director: Person | None = None
        self.director_is_user = False
        self.mailbox: str | None = None


# --------------------------------------------------------------------------- addresses

# Street names per street language, the most frequent first; "{}" streets are named after
# people (the language's surnames), so every city has many streets and a few very common ones.
STREETS = {
    "de": words(
        "Hauptstraße|Bahnhofstraße|Schulstraße|Gartenstraße|Dorfstraße|Bergstraße|Lindenstraße|"
        "Kirchstraße|Waldstraße|Ringstraße|Industriestraße|Friedrichstraße|Goethestraße|"
        "Schillerstraße|Poststraße|Kaiserstraße|Königstraße|Parkstraße|Mühlenweg|Am Markt|"
        "Marktplatz|Gewerbestraße|Rosenstraße|Wiesenweg|Talstraße|Birkenweg|Feldstraße"
    ),
    "en_gb": words(
        "High Street|Station Road|Church Street|Main Street|Park Road|Victoria Road|Green Lane|"
        "Manor Road|Church Road|Park Avenue|Queens Road|New Road|King Street|Mill Lane|"
        "London Road|Albert Road|Broadway|Market Street|North Street|George Street|"
        "Castle Street|Bridge Street|Springfield Road|York Road|West Street"
    ),
    "en_us": words(
        "Main Street|Oak Street|Park Avenue|2nd Street|Maple Avenue|Washington Street|"
        "Elm Street|Pine Street|Market Street|Broadway|Lake Street|Cedar Avenue|1st Street|"
        "3rd Avenue|Hill Street|Commerce Drive|Industrial Parkway|Technology Drive|"
        "Lincoln Avenue|Madison Avenue|Jefferson Street|Center Street|5th Avenue|River Road"
    ),
    "fr": words(
        "rue de la République|rue Victor Hugo|avenue Jean Jaurès|rue de la Gare|"
        "boulevard Gambetta|rue Pasteur|place de la Mairie|rue du Commerce|"
        "avenue de la Libération|rue Nationale|rue des Écoles|rue de Paris|rue Jules Ferry|"
        "avenue Foch|rue du Moulin|rue de l'Église|rue Carnot|boulevard Voltaire|"
        "rue Émile Zola|avenue du Général de Gaulle"
    ),
    "it": words(
        "Via Roma|Via Garibaldi|Via Mazzini|Corso Italia|Via Dante|Via Vittorio Emanuele|"
        "Via Cavour|Via Verdi|Piazza della Repubblica|Via Marconi|Via Matteotti|Viale Europa|"
        "Via XX Settembre|Via Nazionale|Via Gramsci|Via Manzoni|Via Leopardi|Via Milano"
    ),
    "nl": words(
        "Kerkstraat|Dorpsstraat|Stationsweg|Schoolstraat|Molenweg|Hoofdstraat|Julianastraat|"
        "Nieuwstraat|Marktplein|Industrieweg|Keizersgracht|Beatrixlaan|Parallelweg|"
        "Wilhelminastraat|Kanaalweg|Sportlaan|Prinsengracht|Lindelaan|Raadhuisstraat"
    ),
    "es": words(
        "Calle Mayor|Calle Real|Avenida de la Constitución|Calle de Alcalá|Gran Vía|"
        "Calle San Juan|Plaza de España|Calle Nueva|Avenida de Andalucía|"
        "Paseo de la Castellana|Calle del Carmen|Calle Iglesia|Avenida Diagonal|Calle Sol|"
        "Calle Colón|Avenida de América|Calle Serrano|Calle Toledo|Calle Princesa"
    ),
    "sv": words(
        "Storgatan|Drottninggatan|Kungsgatan|Skolgatan|Järnvägsgatan|Kyrkogatan|Nygatan|"
        "Parkvägen|Industrivägen|Sveavägen|Vasagatan|Hamngatan|Torggatan|Strandvägen|"
        "Östra Hamngatan|Trädgårdsgatan|Bergsgatan|Linnégatan|Sjögatan"
    ),
}
PERSON_STREETS = {
    "de": ("de", words("{}straße|{}weg")),
    "en_gb": ("en", words("{} Road|{} Street")),
    "en_us": ("en", words("{} Street|{} Avenue")),
    "fr": ("fr", words("rue {}")),
    "it": ("it", words("Via {}")),
    "nl": ("nl", words("{}straat|{}laan")),
    "es": ("es", words("Calle {}")),
    "sv": ("sv", words("{}gatan")),
}
NUMBER_FIRST = frozenset({"en_gb", "en_us", "fr"})  # "12 High Street", "12 rue de la Gare"
STREET_ABBREVIATIONS = {
    "en_gb": [
        (" Street", [" St", " St."]),
        (" Road", [" Rd", " Rd."]),
        (" Avenue", [" Ave"]),
        (" Lane", [" Ln"]),
    ],
    "en_us": [
        (" Street", [" St", " St."]),
        (" Avenue", [" Ave", " Ave."]),
        (" Drive", [" Dr", " Dr."]),
        (" Parkway", [" Pkwy"]),
        (" Road", [" Rd"]),
    ],
    "de": [("straße", ["str.", "strasse", "str", "Str."]), ("weg", ["weg"])],
    "fr": [
        ("rue ", ["r. ", "Rue "]),
        ("avenue ", ["av. ", "Av. ", "ave "]),
        ("boulevard ", ["bd ", "Bd "]),
        ("place ", ["pl. "]),
    ],
    "it": [
        ("Via ", ["V. ", "via "]),
        ("Viale ", ["V.le "]),
        ("Corso ", ["C.so "]),
        ("Piazza ", ["P.za ", "P.zza "]),
    ],
    "nl": [("straat", ["str.", "str"]), ("laan", ["ln"])],
    "es": [
        ("Calle ", ["C/ ", "c/ ", "C. "]),
        ("Avenida ", ["Avda. ", "Av. "]),
        ("Plaza ", ["Pza. "]),
        ("Paseo ", ["Pº "]),
    ],
    "sv": [("gatan", ["g.", "gata"]), ("vägen", ["v."])],
}
# Postcode patterns per city: '#' a digit, '@' a letter of UK/Irish postcodes.
POSTCODES = {
    "DE": {
        "Berlin": "10###|12###|13###",
        "Hamburg": "20###|21###|22###",
        "München": "80###|81###",
        "Köln": "50###|51###",
        "Frankfurt am Main": "60###|65###",
        "Stuttgart": "70###",
        "Düsseldorf": "40###",
        "Leipzig": "04###",
    },
    "GB": {
        "London": "EC1A #@@|EC2M #@@|SW1A #@@|W1D #@@|N1 #@@|E1 #@@|SE1 #@@|WC2H #@@",
        "Manchester": "M1 #@@|M2 #@@|M3 #@@|M4 #@@",
        "Birmingham": "B1 #@@|B2 #@@|B3 #@@",
        "Leeds": "LS1 #@@|LS2 #@@|LS11 #@@",
        "Bristol": "BS1 #@@|BS2 #@@|BS8 #@@",
        "Edinburgh": "EH1 #@@|EH2 #@@|EH3 #@@",
        "Glasgow": "G1 #@@|G2 #@@|G3 #@@",
    },
    "US": {
        "New York": "100##|101##|102##",
        "San Francisco": "941##",
        "Austin": "787##",
        "Chicago": "606##",
        "Boston": "021##",
        "Seattle": "981##",
        "Denver": "802##",
        "Atlanta": "303##",
    },
    "FR": {
        "Paris": "7500#|7501#",
        "Lyon": "6900#",
        "Marseille": "130##",
        "Toulouse": "310##",
        "Nantes": "440##",
        "Lille": "590##",
        "Bordeaux": "330##",
    },
    "IT": {
        "Milano": "201##",
        "Roma": "001##",
        "Torino": "101##",
        "Bologna": "401##",
        "Firenze": "501##",
        "Napoli": "801##",
    },
    "NL": {
        "Amsterdam": "10## @@",
        "Rotterdam": "30## @@",
        "Utrecht": "35## @@",
        "Eindhoven": "56## @@",
        "Den Haag": "25## @@",
    },
    "ES": {
        "Madrid": "280##",
        "Barcelona": "080##",
        "Valencia": "460##",
        "Sevilla": "410##",
        "Bilbao": "480##",
        "Málaga": "290##",
    },
    "AT": {
        "Wien": "10#0|11#0|12#0",
        "Graz": "80##",
        "Linz": "40##",
        "Salzburg": "50##",
        "Innsbruck": "60##",
    },
    "BE": {
        "Brussel": "10##|11##",
        "Antwerpen": "20##",
        "Gent": "90##",
        "Liège": "40##",
        "Leuven": "30##",
    },
    "AU": {
        "Sydney": "20##",
        "Melbourne": "30##",
        "Brisbane": "40##",
        "Perth": "60##",
        "Adelaide": "50##",
    },
    "CH": {"Zürich": "80##", "Genève": "12##", "Basel": "40##", "Bern": "30##", "Lausanne": "10##"},
    "IE": {
        "Dublin": "D01 @#@#|D02 @#@#|D04 @#@#|D08 @#@#|D24 @#@#",
        "Cork": "T12 @#@#|T23 @#@#",
        "Galway": "H91 @#@#",
        "Limerick": "V94 @#@#",
    },
    "SE": {"Stockholm": "11# ##", "Göteborg": "41# ##", "Malmö": "21# ##", "Uppsala": "75# ##"},
}
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
US_STATES = {
    "New York": "NY",
    "San Francisco": "CA",
    "Austin": "TX",
    "Chicago": "IL",
    "Boston": "MA",
    "Seattle": "WA",
    "Denver": "CO",
    "Atlanta": "GA",
}
FRENCH_CITIES = frozenset({"Genève", "Lausanne", "Brussel", "Liège"})
# How people outside the city write it.
CITY_EXONYMS = {
    "München": "Munich",
    "Köln": "Cologne",
    "Wien": "Vienna",
    "Zürich": "Zurich",
    "Genève": "Geneva",
    "Milano": "Milan",
    "Roma": "Rome",
    "Torino": "Turin",
    "Firenze": "Florence",
    "Napoli": "Naples",
    "Den Haag": "The Hague",
    "Brussel": "Brussels",
    "Antwerpen": "Antwerp",
    "Gent": "Ghent",
    "Göteborg": "Gothenburg",
    "Sevilla": "Seville",
    "Frankfurt am Main": "Frankfurt",
    "Liège": "Luik",
    "Malmö": "Malmo",
    "Bern": "Berne",
}


def street_language(cc: str, city: str) -> str:
    """The language street names are written in, in this city."""
    if cc in ("GB", "IE", "AU"):
        return "en_gb"
    if cc == "US":
        return "en_us"
    if cc in ("CH", "BE"):
        return "fr" if city in FRENCH_CITIES else ("de" if cc == "CH" else "nl")
    return {"DE": "de", "AT": "de", "FR": "fr", "IT": "it", "NL": "nl", "ES": "es", "SE": "sv"}[cc]


def _street_pick(lang: str) -> Pick:
    locale, patterns = PERSON_STREETS[lang]
    named = [p.format(capitalized(s)) for s in acme.LAST_NAMES[locale] for p in patterns]
    return zipf(interleave(STREETS[lang], named), s=0.8)


PICK_STREET = {lang: _street_pick(lang) for lang in STREETS}
POSTCODE_PATTERNS = {cc: {city: words(p) for city, p in c.items()} for cc, c in POSTCODES.items()}


class Address:
    """A company's postal address: street, house number, unit, postcode, city."""

    __slots__ = ("street", "number", "unit", "postcode", "city", "lang")

    def __init__(self, street, number, unit, postcode, city, lang):
        self.street, self.number, self.unit = street, number, unit
        self.postcode, self.city, self.lang = postcode, city, lang


def postcode(rng: random.Random, pattern: str) -> str:
    """A postcode of the pattern: '#' a digit, '@' a letter."""
    return "".join(
        str(rng.randrange(10)) if c == "#" else one_of(rng, POSTCODE_LETTERS) if c == "@" else c
        for c in pattern
    )


def street_line(rng: random.Random, address: Address, typed: bool = True) -> str:
    """The street line as a person typed it (``typed``: abbreviations, no house number,
    typos, capitals, a comma) or as a checkout form keeps it (abbreviations only, rarely)."""
    lang, street, house = address.lang, address.street, address.number
    if rng.random() < (0.30 if typed else 0.08):
        for full, short in STREET_ABBREVIATIONS[lang[:2] if lang == "fr_be" else lang]:
            if full in street:
                street = street.replace(full, one_of(rng, short), 1)
                break
    if typed and rng.random() < 0.05:
        house = ""
    comma = ", " if typed and lang in ("fr", "fr_be", "it", "es") and rng.random() < 0.3 else " "
    if not house:
        line = street
    elif lang in NUMBER_FIRST:
        line = f"{house}{comma}{street}"
    else:
        line = f"{street}{comma}{house}"
    if address.unit:
        line = f"{address.unit}, {line}" if lang == "en_gb" else f"{line}, {address.unit}"
    if typed:
        r = rng.random()
        if r < 0.03:
            line = acme.typo(rng, line)
        elif r < 0.06:
            line = line.upper()
    return line


def postcode_spelling(rng: random.Random, cc: str, code: str) -> str:
    """'SW1A1AA', '1015cj', '11151', 'D-10115', '94105-1234' and the code as it is."""
    r = rng.random()
    if cc in ("GB", "IE", "NL", "SE") and r < 0.25:
        code = code.replace(" ", "")
        return code.lower() if r < 0.04 else code
    if cc == "US" and r < 0.10:
        return f"{code}-{rng.randrange(1, 10000):04d}"
    if cc in ("DE", "AT", "CH") and r < 0.05:
        return {"DE": "D-", "AT": "A-", "CH": "CH-"}[cc] + code
    return code


def city_spelling(rng: random.Random, city: str) -> str:
    """The city as written outside it: 'Munich', 'Muenchen', 'MÜNCHEN' or 'München'."""
    r = rng.random()
    if r < 0.06 and city in CITY_EXONYMS:
        return CITY_EXONYMS[city]
    if r < 0.09:
        return acme.ascii_fold(city)
    if r < 0.11:
        return city.upper()
    return city


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

    def messy(self, rng: random.Random, number: tuple[int, str], fixed: bool = False) -> str:
        """acme's spellings ('+49 30 1234567', '030 1234567', '(030) 123-4567', ...) and how
        people write numbers at home: other separators ('030/1234567', '310.246.1501'), bare
        digits, an extension, and for a fixed line (``fixed``) in a country with area codes,
        the local number alone ('246-1501', '1234567'), which no parser can place."""
        code, nsn = number
        intl, national = self._formats(code, nsn)
        r = rng.random()
        if r < 0.24:
            return intl
        if r < 0.30:
            return "00" + intl[1:]
        if r < 0.37:
            return f"+{code}{nsn}"
        if r < 0.60:
            return national
        area, local = split_area(code, national)
        if r < 0.72 and area:
            spelled = one_of(rng, LOCAL_SEPARATORS[code == 1])
            return spelled.format(area=area, local=local, dotted=local.replace("-", "."))
        if r < 0.77:
            return "".join(c for c in national if c.isdigit())
        if r < 0.80:
            return intl + one_of(rng, EXTENSIONS).format(rng.randint(2, 399))
        if fixed and area and r < 0.88 and code in LOCAL_DIALING:
            return local if rng.random() < 0.6 else local.replace(" ", "").replace("-", "")
        if national.startswith("("):
            return national
        head, _, rest = national.replace("-", " ").partition(" ")
        rest = rest.replace(" ", "")
        if not rest:
            return national
        return f"({head}) {rest[:3]}-{rest[3:]}" if len(rest) > 5 else f"({head}) {rest}"


# Countries whose fixed lines have area codes people leave out when calling locally: NANP,
# GB, DE, AT, AU, IE, SE, NL (FR, ES, IT, BE, CH dial the full number everywhere).
LOCAL_DIALING = frozenset({1, 44, 49, 43, 61, 353, 46, 31})
LOCAL_SEPARATORS = {
    False: ["{area}/{local}", "{area}-{local}", "({area}) {local}", "{area} / {local}"],
    True: [
        "{area}/{local}",
        "{area}-{local}",
        "{area}.{dotted}",
        "1-{area}-{local}",
        "+1 ({area}) {local}",
    ],
}
EXTENSIONS = [" ext. {}", " x{}", " ext {}", " (ext {})"]
AREA_CODE = re.compile(r"\(?(0\d*)\)?[ -](.+)")


def split_area(code: int, national: str) -> tuple[str, str]:
    """('310', '246-1501') of '(310) 246-1501', ('030', '12345678') of '030 12345678';
    ('', national) when the national format has no area code to split off."""
    if code == 1:
        area, _, local = national.partition(" ")
        return area.strip("()"), local
    match = AREA_CODE.fullmatch(national)
    return (match.group(1), match.group(2)) if match else ("", national)


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
        self.orgs: list[Org] = []
        self.org_names: set[tuple[str, str]] = set()  # (country, name): one organization each
        self.postcodes: dict[tuple[str, str, str], tuple[str, str]] = {}  # two per street

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
        *,
        trait: str = "brand",
        descriptor: str | None = None,
        city: str | None = None,
    ) -> Company:
        """A company of ``kind``; ``trait`` says how it is named: an invented brand (unique),
        common words ("common"), another company's name ("namesake", with ``brand`` and
        ``descriptor``), a group's brand (with ``brand`` and ``domain``)."""
        country = country or PICK_COUNTRY(rng)
        city = city or one_of(rng, CITY_NAMES[country])
        if trait == "common":
            brand, descriptor = common_name(rng, country, city)
        brand = brand or self.new_brand(rng)
        if descriptor is None:
            descriptor = (
                one_of(rng, acme.DESCRIPTORS) if (rng.random() < 0.35 or len(brand) <= 3) else ""
            )
        legal_form = PICK_LEGAL_FORM[country](rng)
        tld = acme.TLD[country] if country != "US" else rng.choice([".com", ".com", ".com", ".io"])
        if domain is None and trait == "brand":
            stem = brand.replace(" & ", "-" if rng.random() < 0.5 else "and")
            domain = self.claim_domain(
                rng,
                slug(stem) if "-" not in stem else "-".join(slug(s) for s in stem.split("-")),
                tld,
                descriptor,
            )
        elif domain is None:
            domain = self.claim_name_domain(rng, f"{brand} {descriptor}", tld, city, legal_form)
        co = Company(
            brand,
            descriptor,
            legal_form,
            country,
            domain,
            city,
            kind,
            PICK_EMAIL_PATTERN(rng),
        )
        co.trait = trait
        if country in acme.VAT_COUNTRIES:
            co.vat = self.new_vat(rng, country)
        return co

    def claim_name_domain(
        self, rng: random.Random, name: str, tld: str, city: str, legal_form: str = ""
    ) -> str:
        """A free domain for a company named from common words: 'smithplumbing.co.uk' is
        taken by the first Smith Plumbing, the next ones get 'smith-plumbing.co.uk',
        'smithplumbing-leeds.co.uk', 'smithplumbingltd.co.uk', ..."""
        name = name.replace("&", "and" if rng.random() < 0.4 else " ")
        parts = [p for p in (slug(w) for w in name.split()) if p]
        joined, hyphened, town = "".join(parts), "-".join(parts), slug(city)
        for stem in (
            joined,
            hyphened,
            joined + town,
            f"{hyphened}-{town}",
            joined + slug(legal_form),
            f"{joined}-{one_of(rng, ['online', 'group', 'team', 'pro'])}",
        ):
            if stem + tld not in self.domains:
                self.domains.add(stem + tld)
                return stem + tld
        return self.claim_domain(rng, joined, tld)

    def non_customer(self, rng: random.Random, kind: str, namesakes: list[Company]) -> Company:
        """A prospect or another non-customer: a namesake of a customer in its country (another
        city, domain, phone, VAT number), named from common words, or an invented brand."""
        r = rng.random()
        if r < NAMESAKE_SHARE[kind] and namesakes:
            original = one_of(rng, namesakes)
            cities = [c for c in CITY_NAMES[original.country] if c != original.city]
            return self.make_company(
                rng,
                kind,
                country=original.country,
                brand=original.brand,
                trait="namesake",
                descriptor=original.descriptor,
                city=one_of(rng, cities),
            )
        common = r < NAMESAKE_SHARE[kind] + COMMON_NAME_SHARE[kind]
        return self.make_company(rng, kind, trait="common" if common else "brand")

    def make_org(self, rng: random.Random, size: int) -> Org:
        """A multi-site organization and its ``size`` sites (customers, one SOR account each)."""
        country = PICK_COUNTRY(rng)
        lang = one_of(rng, acme.LOCALES[country])
        kind = PICK_ORG_KIND(rng)
        if kind == "campus":
            size = min(size, 5)  # colleges have a few campuses; chains and firms have more
        cities = CITY_NAMES[country]
        home = one_of(rng, cities)
        name = self.org_name(rng, kind, lang, country, home)
        tld = CAMPUS_TLD.get(country, acme.TLD[country]) if kind == "campus" else acme.TLD[country]
        org = Org(name, kind, self.claim_name_domain(rng, name, tld, home))
        # Campuses are mostly in one city; outlets and branches spread over the country.
        if kind == "campus" and rng.random() < 0.7:
            site_cities = [home] * size
        else:
            others = [c for c in cities if c != home]
            site_cities = [home, *rng.sample(others, min(size - 1, len(others)))]
            site_cities += [one_of(rng, cities) for _ in range(size - len(site_cities))]
        patterns = QUALIFIERS[lang][kind]
        pattern = "" if rng.random() < 0.3 else one_of(rng, patterns)
        if pattern and "{city}" in pattern and len(set(site_cities)) < size:
            pattern = one_of(rng, [p for p in patterns if "{city}" not in p] or ["#{n}"])
        separator = one_of(rng, QUALIFIER_SEPARATORS)
        directions = DIRECTIONS[lang]
        first_direction = rng.randrange(len(directions))
        numbers = rng.sample(range(2, 40 * size), size)
        # One legal entity (campuses, branches): one legal form and VAT number for all sites;
        # a franchise's outlets are companies of their own.
        legal_form = "" if kind == "campus" else PICK_LEGAL_FORM[country](rng)
        shared_vat = kind != "chain" and country in acme.VAT_COUNTRIES
        vat = self.new_vat(rng, country) if shared_vat else None
        pattern_of_emails = PICK_EMAIL_PATTERN(rng)
        for i, city in enumerate(site_cities):
            direction = directions[(first_direction + i) % len(directions)]
            qualifier = pattern.format(city=city, dir=direction, n=numbers[i]) if pattern else ""
            if i == 0 and qualifier and rng.random() < 0.4:
                qualifier = ""  # the main site goes by the organization's name
            own_form = PICK_LEGAL_FORM[country](rng) if kind == "chain" else legal_form
            co = Company(
                qualified(name, separator, qualifier),
                "",
                own_form,
                country,
                org.domain,
                city,
                "customer",
                pattern_of_emails,
            )
            co.trait, co.org, co.qualifier = "site", org, qualifier
            if shared_vat:
                co.vat = vat
            elif country in acme.VAT_COUNTRIES:
                co.vat = self.new_vat(rng, country)
            org.sites.append(co)
        if rng.random() < 0.6:
            first, last, _ = person_name(rng, country)
            local = local_part(first, last, pattern_of_emails)
            org.director = Person(first, last, self.claim_email(rng, local, org.domain), lang)
            org.director_is_user = rng.random() < 0.5
        if rng.random() < 0.5:
            box = one_of(rng, ["accounts", "finance", "billing", "accountspayable", "invoices"])
            org.mailbox = self.claim_email(rng, box, org.domain)
        return org

    def org_name(self, rng: random.Random, kind: str, lang: str, country: str, city: str) -> str:
        """'Olive Harvey College', 'Korvex Fitness', 'Pharmacie Apex', 'Müller Logistik': a
        name no other organization in the country has."""
        for _ in range(30):
            name = self._org_name(rng, kind, lang, country, city)
            if (country, name) not in self.org_names:
                break
        else:
            name = CAMPUS_FALLBACK[lang].format(self.new_brand(rng))
        self.org_names.add((country, name))
        return name

    def _org_name(self, rng: random.Random, kind: str, lang: str, country: str, city: str) -> str:
        if kind == "campus":
            template = one_of(rng, CAMPUS_NAMES[lang])
            return template.format(
                F=PICK_FIRST_NAME[lang](rng),
                S=capitalized(PICK_SURNAME[lang](rng)),
                W=PICK_WORD[lang](rng),
                N=PICK_NOUN(rng),
                city=city,
            )
        if kind == "chain":
            brand = self.new_brand(rng) if rng.random() < 0.5 else PICK_WORD[lang](rng)
            sector = one_of(rng, SECTORS[lang])
            return f"{sector} {brand}" if TRADE_FIRST[lang] >= 0.5 else f"{brand} {sector}"
        if rng.random() < 0.5:
            brand, descriptor = common_name(rng, country, city)
        else:
            brand, descriptor = self.new_brand(rng), one_of(rng, acme.DESCRIPTORS)
        return f"{brand} {descriptor}".strip()

    def address(self, rng: random.Random, co: Company) -> Address:
        """The company's postal address, made the first time a record shows it."""
        if co.address is None:
            co.address = self.new_address(rng, co.country, co.city)
        return co.address

    def new_address(self, rng: random.Random, cc: str, city: str) -> Address:
        """An address in the city: a street (a few very common ones, many rare), a house
        number (small ones most often), now and then a unit; the street's postcode."""
        lang = street_language(cc, city)
        street = PICK_STREET[lang](rng)
        if lang == "en_us":
            number = rng.randrange(1, 60) * 100 + rng.randrange(100) if rng.random() < 0.6 else 0
            number = number or rng.randrange(1, 999)
        else:
            number = int(1 + 150 * rng.random() ** 2)
        house = str(number)
        if lang in ("de", "nl") and rng.random() < 0.06:
            house += one_of(rng, ["a", "b", "c", " A", "-1"])
        unit = ""
        r = rng.random()
        if lang == "en_us" and r < 0.15:
            unit = f"Suite {rng.randrange(1, 10) * 100 + rng.randrange(30)}"
        elif lang == "en_gb" and r < 0.08:
            unit = f"Unit {rng.randrange(1, 25)}"
        elif lang == "de" and r < 0.05:
            unit = f"{rng.randrange(1, 6)}. OG"
        key = (cc, city, street)
        codes = self.postcodes.get(key)
        if codes is None:
            patterns = POSTCODE_PATTERNS[cc][city]
            codes = (postcode(rng, one_of(rng, patterns)), postcode(rng, one_of(rng, patterns)))
            self.postcodes[key] = codes
        # Belgium and Switzerland write French streets the German way round: "Rue Haute 12".
        style = "fr_be" if lang == "fr" and cc in ("BE", "CH") else lang
        return Address(street, house, unit, codes[number >= 60], city, style)

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
    """The SOR accounts: ~3 % in groups (2-3 countries, one brand, one domain), ~5 % sites of
    multi-site organizations, the rest single companies (30 % named from common words)."""
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
            co.group, co.trait = group_no, "group"
            world.customers.append(co)
    sites_rng = world.rng("orgs")
    in_sites = len(world.customers) + round(SITE_SHARE * n)
    while len(world.customers) + 2 <= min(in_sites, n):
        size = min(PICK_ORG_SIZE(sites_rng), in_sites - len(world.customers))
        org = world.make_org(sites_rng, max(2, size))
        world.orgs.append(org)
        world.customers.extend(org.sites)
    while len(world.customers) < n:
        trait = "common" if rng.random() < COMMON_NAME_SHARE["customer"] else "brand"
        world.customers.append(world.make_company(rng, "customer", trait=trait))
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
    """Product users per account (``USERS_PER_ACCOUNT``); ~10 % on free mail. The director of
    a multi-site organization is sometimes a user of its main site (the first)."""
    rng = world.rng("users")
    directors = {id(org.sites[0]): org.director for org in world.orgs if org.director_is_user}
    for co in world.customers:
        director = directors.get(id(co))
        for k in range(PICK_USERS(rng)):
            if k == 0 and director is not None:
                person = director
            else:
                person = world.colleague(rng, co, free_mail=rng.random() < 0.10)
            person.role = rng.choice(["owner", "admin"]) if k == 0 else PICK_ROLE(rng)
            co.users.append(person)
    users = [u for co in world.customers for u in co.users]
    for user, i in zip(users, permutation(rng, len(users)), strict=True):
        user.user_id = i + 1


def build_non_customers(world: World) -> None:
    """Look-alikes (an invented brand of a customer, elsewhere), prospects, other support orgs
    and billing customers (some namesakes of a customer, some named from common words),
    resellers."""
    rng = world.rng("non_customers")
    counts = world.counts
    singles = [co for co in world.customers if co.trait == "brand"]
    for original in rng.sample(singles, min(len(singles), counts["lookalikes"])):
        country = rng.choice(OTHER_COUNTRIES[original.country])
        twin = world.make_company(rng, "lookalike", country=country, brand=original.brand)
        if rng.random() < 0.5:
            twin.descriptor = original.descriptor
        world.lookalikes.append(twin)
    # Namesakes take the name of a live single customer, most often a common one: invented
    # brands are rarely invented twice in one country.
    live = [co for co in world.customers if co.status != "deleted" and co.trait != "group"]
    live = [co for co in live if co.trait != "site"]
    commons = [co for co in live if co.trait == "common"]
    namesakes = commons * 4 + live
    world.prospects = [
        world.non_customer(rng, "prospect", namesakes) for _ in range(counts["prospects"])
    ]
    world.other_orgs = [
        world.non_customer(rng, "other", namesakes) for _ in range(counts["support_others"])
    ]
    world.other_billing = [
        world.non_customer(rng, "other", namesakes) for _ in range(counts["billing_others"])
    ]
    for _ in range(counts["resellers"]):
        reseller = world.make_company(rng, "other")
        world.resellers.append((reseller, world.claim_email(rng, "billing", reseller.domain)))


# --------------------------------------------------------------------------- sources


class Table:
    """Rows of one output file (tuples in the file's column order), their truth rows and, for
    account records, their kind: (what the record is, how its company is named)."""

    def __init__(self, source: str):
        self.source = source
        self.rows: list[tuple] = []
        self.truth: list[tuple[str, str, str]] = []
        self.kinds: list[tuple[str, str]] = []

    def add(
        self, row: tuple, record_id, account: str, user: str = "", kind: tuple | None = None
    ) -> None:
        self.rows.append(row)
        self.truth.append((str(record_id), account, user))
        if kind is not None:
            self.kinds.append(kind)

    def shuffle(self, rng: random.Random) -> None:
        order = permutation(rng, len(self.rows))
        self.rows = [self.rows[i] for i in order]
        self.truth = [self.truth[i] for i in order]
        if self.kinds:
            self.kinds = [self.kinds[i] for i in order]


# acme's sor_website, country_spelling and ref_noise, their weights summed once (they are drawn
# for most records).
PICK_SOR_WEBSITE = Pick(
    [("{}", 40), ("https://{}", 20), ("https://www.{}", 20), ("www.{}", 15), ("http://{}/", 5)]
)
PICK_SPELLING = Pick([(0, 40), (1, 35), (2, 25)])  # ISO code, English name, local name
PICK_REF = Pick([("{}", 70), ("{}.0", 20), (" {} ", 10)])


def sor_website(rng: random.Random, domain: str) -> str:
    return PICK_SOR_WEBSITE(rng).format(domain)


def country_spelling(rng: random.Random, cc: str) -> str:
    return one_of(rng, acme.COUNTRY_SPELLINGS[cc][PICK_SPELLING(rng)])


def ref_noise(rng: random.Random, value: int) -> str:
    """An integer reference as a spreadsheet export writes it."""
    return PICK_REF(rng).format(value)


def timestamp(rng: random.Random, day) -> str:
    """An ISO timestamp during working hours of the day."""
    hours, seconds = divmod(rng.randrange(7 * 3600, 20 * 3600), 3600)
    return f"{day.isoformat()}T{hours:02d}:{seconds // 60:02d}:{seconds % 60:02d}Z"


def build_product(world: World) -> tuple[Table, Table]:
    """The SOR: one row per account (80 % with a website, none for the sites of multi-site
    organizations; 40 % with a postal address), and its users."""
    rng = world.rng("product")
    accounts, users = Table("product"), Table("product_users")
    for co in world.customers:
        website = ""
        if co.org is None and rng.random() < 0.8:
            website = sor_website(rng, co.domain)
        street = code = city = ""
        if rng.random() < SOR_ADDRESS_SHARE:
            address = world.address(rng, co)
            street, code, city = street_line(rng, address, typed=False), address.postcode, co.city
        row = (
            co.account_id,
            co.name,
            website,
            street,
            code,
            city,
            co.country,
            co.created.isoformat(),
            co.status,
        )
        accounts.add(row, co.account_id, co.truth_account, kind=("customer", co.trait))
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
    address_p: float,
    product_ref: str = "",
    org_ref: str = "",
) -> tuple:
    vat = vat_field(rng, co) if co.vat and rng.random() < vat_p else ""
    website = acme.messy_website(rng, co.domain) if rng.random() < website_p else ""
    phone = ""
    if rng.random() < phone_p:
        # A site's record often has the organization's switchboard (its main site's number).
        shown = co.org.sites[0] if co.org is not None and rng.random() < 0.2 else co
        phone = world.phones.messy(rng, world.company_phone(rng, shown), fixed=True)
    country = country_spelling(rng, co.country) if rng.random() < 0.95 else ""
    address = world.address(rng, co)
    if rng.random() < 0.04:  # the company moved; the CRM has the old address
        address = world.new_address(rng, co.country, co.city)
    city = city_spelling(rng, co.city) if rng.random() < city_p else ""
    street = street_line(rng, address) if rng.random() < address_p else ""
    code = ""
    if rng.random() < address_p * 0.92:
        code = postcode_spelling(rng, co.country, address.postcode)
    return (sf_id, name, website, phone, street, city, code, country, vat, product_ref, org_ref)


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
            product_ref = ref_noise(rng, other)
        elif rng.random() < 0.55:
            product_ref = ref_noise(rng, co.account_id)
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
            name=name_variant(rng, co, p_change=0.6),
            website_p=0.7,
            phone_p=0.6,
            vat_p=0.5,
            city_p=0.85,
            address_p=0.7,
            product_ref=product_ref,
            org_ref=org_ref,
        )
        kind = ("wrong_ref" if co.account_id in wrong else "customer", co.trait)
        accounts.add(row, sf_id, co.truth_account, kind=kind)
        owners.append((sf_id, co, "customer"))

    for co in rng.sample(crm_customers, world.counts["crm_duplicates"]):
        sf_id = ids.salesforce("0017b00000")
        product_ref = ref_noise(rng, co.account_id) if rng.random() < 0.10 else ""
        row = crm_account_row(
            world,
            rng,
            co,
            sf_id,
            name=name_variant(rng, co, p_typo=0.08),
            website_p=0.35,
            phone_p=0.3,
            vat_p=0.15,
            city_p=0.5,
            address_p=0.4,
            product_ref=product_ref,
        )
        accounts.add(row, sf_id, co.truth_account, kind=("duplicate", co.trait))
        owners.append((sf_id, co, "duplicate"))

    for co in world.lookalikes + world.prospects:
        sf_id = ids.salesforce("0017b00000")
        row = crm_account_row(
            world,
            rng,
            co,
            sf_id,
            name=name_variant(rng, co, p_typo=0.02, p_change=0.5),
            website_p=0.5 if co.kind == "lookalike" else 0.7,
            phone_p=0.6,
            vat_p=0.5,
            city_p=0.85,
            address_p=0.65,
        )
        accounts.add(row, sf_id, "", kind=(co.kind, co.trait))
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
            number = world.phones.number(rng, co.country, co.city, mobile)
            phone = world.phones.messy(rng, number, fixed=not mobile)
        row = (
            contact_id,
            "" if rng.random() < 0.15 else sf_id,
            email if rng.random() < 0.97 else "",
            first,
            last,
            phone,
        )
        table.add(row, contact_id, co.truth_account, str(person.user_id or ""))


def support_domains(world: World, rng: random.Random, co: Company) -> list[str]:
    """acme's domain lists; a site's org lists its organization's domain (or nothing)."""
    if co.org is None:
        return acme.support_domains(world, rng, co)
    r = rng.random()
    if r < 0.30:
        return []
    return [co.domain] if r < 0.85 else ["www." + co.domain]


def build_support(world: World, org_ids: dict[int, int]) -> tuple[Table, Table]:
    """Support orgs (customers' and non-customers') and their end-users, plus strays. Zendesk
    organizations carry no country (nor address, nor phone)."""
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
        name = name_variant(rng, co, p_change=0.5)
        row = (org_id, name, support_domains(world, rng, co), external, timestamp(rng, created))
        orgs.add(row, org_id, co.truth_account, kind=("customer", co.trait))
        members.append((org_id, co))
    for co, org_id in zip(world.other_orgs, world.other_org_ids, strict=True):
        created = acme.rand_date(rng, dt.date(2018, 1, 1), acme.NOW - dt.timedelta(days=1))
        name = name_variant(rng, co, p_change=0.3)
        domains = [co.domain] if rng.random() < 0.8 else []
        row = (org_id, name, domains, None, timestamp(rng, created))
        orgs.add(row, org_id, "", kind=("other", co.trait))
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
BILLING_LINE2 = ["Attn: Accounts Payable", "Buchhaltung", "c/o Finance", "Accounts Dept."]


def billing_row(
    world: World,
    rng: random.Random,
    ids: Ids,
    co: Company,
    *,
    email: str,
    name: str,
    account_ref: int | None,
    tax_p: float,
    address: Address | None = None,
) -> tuple:
    """A Stripe customer; its address is the company's (or ``address``: where invoices go)."""
    cus_id = ids.stripe()
    tax = vat_field(rng, co) if co.vat and rng.random() < tax_p else None
    start = co.created if co.kind == "customer" else dt.date(2018, 1, 1)
    end = min(acme.NOW - dt.timedelta(days=1), start + dt.timedelta(days=90))
    created = acme.unix_ts(acme.rand_date(rng, start, end), rng)
    address = address or world.address(rng, co)
    city = city_spelling(rng, address.city) if rng.random() < 0.9 else None
    line1 = street_line(rng, address) if rng.random() < 0.65 else None
    line2 = one_of(rng, BILLING_LINE2) if line1 and rng.random() < 0.04 else None
    code = postcode_spelling(rng, co.country, address.postcode) if rng.random() < 0.7 else None
    state = US_STATES.get(address.city) if co.country == "US" and rng.random() < 0.8 else None
    metadata = {"account_id": str(account_ref)} if account_ref is not None else {}
    return (
        cus_id,
        name,
        email,
        co.country,
        city,
        line1,
        line2,
        code,
        state,
        tax,
        metadata,
        created,
    )


def build_billing(world: World) -> Table:
    """Billed customers, resellers paying for 25 of them each, non-customers and persons. The
    sites of a multi-site organization often pay through its director's email or its accounts
    mailbox, and have their invoices sent to the main site."""
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
        address = None
        if mailbox is not None:
            name = name_variant(rng, co, p_typo=0.0, p_change=0.3)
            email, tax_p, record = mailbox, 0.3, "resold"
        elif rng.random() < 0.15 and co.users:
            person = rng.choice(co.users)
            name, email, tax_p, record = person.full_name, person.email, 0.3, "person_named"
        else:
            name = name_variant(rng, co, p_typo=0.02, p_change=0.3)
            email, tax_p, record = billing_email(world, rng, co), 0.6, "customer"
            org = co.org
            if org is not None:
                r = rng.random()
                if org.director is not None and r < 0.35:
                    email = org.director.email
                elif org.mailbox is not None and 0.35 <= r < 0.6:
                    email = org.mailbox
                if rng.random() < 0.4:
                    address = world.address(rng, org.sites[0])
        row = billing_row(
            world,
            rng,
            ids,
            co,
            email=email,
            name=name,
            account_ref=ref,
            tax_p=tax_p,
            address=address,
        )
        table.add(row, row[0], co.truth_account, kind=(record, co.trait))

    for reseller, mailbox in world.resellers:
        row = billing_row(
            world,
            rng,
            ids,
            reseller,
            email=mailbox,
            name=reseller.name,
            account_ref=None,
            tax_p=1.0,
        )
        table.add(row, row[0], "", kind=("reseller", reseller.trait))
    for co in world.other_billing:
        row = billing_row(
            world,
            rng,
            ids,
            co,
            email=billing_email(world, rng, co),
            name=name_variant(rng, co, p_change=0.2),
            account_ref=None,
            tax_p=0.5,
        )
        table.add(row, row[0], "", kind=("other", co.trait))
    for _ in range(world.counts["billing_persons"]):
        person = world.stranger(rng)
        country = PICK_COUNTRY(rng)
        co = Company("", "", "", country, "", rng.choice(CITY_NAMES[country]), "other", "")
        row = billing_row(
            world,
            rng,
            ids,
            co,
            email=person.email,
            name=person.full_name,
            account_ref=None,
            tax_p=0.0,
        )
        table.add(row, row[0], "", kind=("person", "person"))
    table.shuffle(rng)
    return table


# --------------------------------------------------------------------------- writing

# The example's columns, and the address columns the real systems have: Salesforce's
# BillingStreet / BillingPostalCode, the product database's street / postal_code / city.
CSV_COLUMNS = {
    "product": [
        "id",
        "company_name",
        "website",
        "street",
        "postal_code",
        "city",
        "country",
        "created_at",
        "status",
    ],
    "crm": [
        "Id",
        "Name",
        "Website",
        "Phone",
        "BillingStreet",
        "BillingCity",
        "BillingPostalCode",
        "BillingCountry",
        "VAT_Number__c",
        "Product_Account_Id__c",
        "Zendesk_Org_Id__c",
    ],
    "crm_contacts": acme.CSV_COLUMNS["crm_contacts"],
}
KINDS = "kinds.csv"  # per account record: what it is and how its company is named


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
    cus_id, name, email, country, city, line1, line2, code, state, tax, metadata, created = row
    return {
        "id": cus_id,
        "name": name,
        "email": email,
        "address": {
            "city": city,
            "country": country,
            "line1": line1,
            "line2": line2,
            "postal_code": code,
            "state": state,
        },
        "tax_id": tax,
        "metadata": metadata,
        "created": created,
    }


def write_table(data: Path, table: Table, truth: csv.writer, kinds: csv.writer) -> None:
    """Write the table's file in the example's format, its truth rows and kinds."""
    path = data / acme.FILES[table.source]
    encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(row, ensure_ascii=False)
    if table.source in CSV_COLUMNS:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(CSV_COLUMNS[table.source])
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
    kinds.writerows(
        (table.source, t[0], *k) for t, k in zip(table.truth, table.kinds, strict=False)
    )


# The example's mapping gains the address columns (canonical fields address, postcode, city),
# each added after the line of the example's linker.toml named here.
ADDRESS_FIELDS = [
    (
        'join_date = "created_at"',
        ['address = "street"', 'postcode = "postal_code"', 'city = "city"'],
    ),
    ('city = "BillingCity"', ['address = "BillingStreet"', 'postcode = "BillingPostalCode"']),
    (
        'city = "address.city"',
        ['address = "address.line1"', 'postcode = "address.postal_code"'],
    ),
]


def linker_toml(accounts: int) -> str:
    """The example's linker.toml with the address columns mapped (``ADDRESS_FIELDS``), its
    conflict gate grown in proportion to the account records.

    Conflicts grow with the data (wrong CRM references, groups, ...): the example has 15 for
    its 6,921 account records, this generator ~200 at 100k, so the example's 50 would fail
    every run above ~30k records (and a failed gate blocks ``--publish``)."""
    text = ACME_TOML.read_text(encoding="utf-8")
    for anchor, added in ADDRESS_FIELDS:
        line = re.search(rf"^{re.escape(anchor)}.*$", text, flags=re.MULTILINE)
        assert line and text.count(anchor) == 1, f"{ACME_TOML} has no single line {anchor!r}"
        text = text[: line.end()] + "".join("\n" + a for a in added) + text[line.end() :]
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
    with (
        (out / "truth.csv").open("w", newline="", encoding="utf-8") as f,
        (out / KINDS).open("w", newline="", encoding="utf-8") as k,
    ):
        truth = csv.writer(f, lineterminator="\n")
        truth.writerow(["source", "source_record_id", "account_id", "user_id"])
        kinds = csv.writer(k, lineterminator="\n")
        kinds.writerow(["source", "source_record_id", "record", "company"])
        for build in (
            lambda: build_product(world),
            lambda: build_crm(world, org_ids),
            lambda: build_support(world, org_ids),
            lambda: (build_billing(world),),
        ):
            for table in build():
                write_table(data, table, truth, kinds)
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
