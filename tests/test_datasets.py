"""The benchmark data sets (benchmarks/datasets.py): the exact size asked for, one truth row per
record, phone and VAT numbers as valid as the example's, the same bytes from the same
arguments, and a cache that never serves a half-written data set."""

from __future__ import annotations

import importlib.util
import os
import random
import re
import subprocess
import sys

import phonenumbers
import pytest

from .conftest import REPO


def load_datasets():
    spec = importlib.util.spec_from_file_location(
        "benchmark_datasets", REPO / "benchmarks" / "datasets.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


datasets = load_datasets()
ACCOUNT_SOURCES = ("product", "crm", "support", "billing")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return datasets.ensure(3000, seed=3, root=tmp_path_factory.mktemp("datasets"))


def test_size_mix_and_truth(project):
    counts = datasets.records(project)
    assert sum(counts[s] for s in ACCOUNT_SOURCES) == 3000
    assert 0.39 < counts["product"] / 3000 < 0.41
    contacts = counts["product_users"] + counts["crm_contacts"] + counts["support_users"]
    assert 1.0 < contacts / 3000 < 1.4
    # Reads every file back the way a consumer would; truth has one row per record.
    report = datasets.acme.check(project)
    vats = re.search(r"VATs ([\d,]+) valid / ([\d,]+) invalid", report)
    valid, invalid = (int(n.replace(",", "")) for n in vats.groups())
    assert invalid / (valid + invalid) < 0.04  # only the planted typos (~2 %)
    # Below the example's size, the example's linker.toml as it is.
    assert (project / "linker.toml").read_bytes() == datasets.ACME_TOML.read_bytes()


def test_conflict_gate_grows_with_the_data():
    assert "\nmax_conflicts = 72  # the example's 50, grown" in datasets.linker_toml(10_000)
    assert "\nmax_conflicts = 7224  # " in datasets.linker_toml(1_000_000)


def test_same_arguments_same_bytes(project, tmp_path):
    again = datasets.ensure(3000, seed=3, root=tmp_path)
    files = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        assert (project / f).read_bytes() == (again / f).read_bytes(), f


def test_cached_unless_forced_and_never_half_written(tmp_path, monkeypatch):
    first = datasets.ensure(1000, root=tmp_path)
    (first / "model.json").write_text("{}")  # what a linker run leaves behind
    # A killed generation's staging directory is neither served nor in the way.
    dead = tmp_path / f".tmp-acme-1000-seed2-{datasets.VERSION}-999999999"
    (dead / "data").mkdir(parents=True)

    def no_generation(*args):
        raise AssertionError("generated again")

    monkeypatch.setattr(datasets, "generate", no_generation)
    assert datasets.ensure(1000, root=tmp_path) == first
    assert (first / "model.json").exists()
    monkeypatch.undo()
    second = datasets.ensure(1000, seed=2, root=tmp_path)
    assert second.name == f"acme-1000-seed2-{datasets.VERSION}"
    assert not dead.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])
    assert datasets.main(["--accounts", "1000", "--out", str(tmp_path), "--force"]) == 0
    assert not (first / "model.json").exists()


def test_phone_numbers_are_valid_and_written_as_phonenumbers_writes_them():
    rng, phones = random.Random(1), datasets.Phones()
    fmt = phonenumbers.PhoneNumberFormat
    for cc, cities in datasets.acme.CITIES.items():
        for city in [*cities, None]:
            for mobile in (False, True):
                for _ in range(20):
                    code, nsn = phones.number(rng, cc, city, mobile)
                    number = phonenumbers.parse(f"+{code}{nsn}")
                    assert phonenumbers.is_valid_number(number), (cc, nsn)
                    assert phones._formats(code, nsn) == (
                        phonenumbers.format_number(number, fmt.INTERNATIONAL),
                        phonenumbers.format_number(number, fmt.NATIONAL),
                    )


def test_vat_numbers_are_valid_in_every_spelling():
    rng, world = random.Random(1), datasets.World(1, 1000)
    for cc in datasets.acme.VAT_MODULES:
        for _ in range(300):
            vat = world.new_vat(rng, cc)
            assert datasets.acme.vat_is_valid(cc, vat), vat
            spelled = datasets.messy_vat(rng, cc, vat)
            assert datasets.acme.vat_is_valid(cc, spelled), (vat, spelled)


def test_runs_from_any_directory(tmp_path):
    # Imports the example's generator by path, so the working directory does not matter.
    r = subprocess.run(
        [sys.executable, REPO / "benchmarks" / "datasets.py", "--accounts", "1000", "--out", "."],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "1,000 account records" in r.stdout
