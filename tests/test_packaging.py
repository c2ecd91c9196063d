"""The wheel carries the built-in rules and the example, so `pip install .` gives a working linker."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from .conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("linker-*.whl"))


def test_wheel_holds_rules_example_and_entry_point(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = {n.rsplit("/", 1)[-1] for n in names if n.startswith("linker/_builtin/rules/")}
    assert {"ref.toml", "vat.toml", "name_country.toml", "sor_user.toml"} <= rules
    assert "user_name_in_account.toml" in rules
    assert "linker/_builtin/examples/acme/linker.toml" in names
    assert "linker/_builtin/examples/acme/model.json" in names  # the example's trained model
    assert "linker/_builtin/examples/acme/data/crm_accounts.csv" in names
    assert "tui/__init__.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "linker = linker.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert not any("/.linker/" in n or "/crosswalk/" in n for n in names)
