"""The wheel carries the built-in rules, the system presets and the example, so `pip install .` gives a working linker."""

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
    presets = {n.rsplit("/", 1)[-1] for n in names if n.startswith("linker/_builtin/presets/")}
    assert {
        "zendesk.organization.toml",
        "salesforce.account.toml",
        "stripe.customer.toml",
    } <= presets
    assert "linker/_builtin/examples/acme/linker.toml" in names
    assert "linker/_builtin/examples/acme/model.json" in names  # the example's trained model
    assert "linker/_builtin/examples/acme/data/crm_accounts.csv" in names
    assert {"tui/app.py", "tui/review.tcss", "tui/widgets/records.py"} <= names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    points = zipfile.ZipFile(wheel).read(entry).decode()
    assert "linker = linker.cli:main" in points
    assert "[linker.apps]" in points and "review = tui.app:run" in points
    assert not any("/.linker/" in n or "/crosswalk/" in n for n in names)


def _imports(package: str) -> list[tuple[str, str, list[str]]]:
    """(file, module imported, names) for every import statement under REPO/package."""
    import ast

    out = []
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                out += [(path.name, a.name, []) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                out.append((path.name, node.module or "", [a.name for a in node.names]))
    return out


def test_linker_never_imports_the_ui_and_the_ui_uses_only_linkers_public_api():
    import linker

    for f, module, _ in _imports("linker"):
        assert module.split(".")[0] not in ("textual", "tui"), f"linker/{f} imports {module}"
    used = set()
    for f, module, names in _imports("tui"):
        if module.split(".")[0] == "linker":
            assert module == "linker", f"tui/{f} imports {module}: use `from linker import ...`"
            assert set(names) <= set(linker.__all__), f"tui/{f}: {names} not all public"
            used |= set(names)
    assert {"ReviewSession", "Item", "visible"} <= used
