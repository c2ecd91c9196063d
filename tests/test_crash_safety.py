"""SIGKILL trials against `linker publish` / `linker run` (slow: about a minute and a half)."""

from __future__ import annotations

import importlib.util

import pytest

from .conftest import REPO


@pytest.mark.slow
def test_fifty_kills_never_tear_a_publication():
    spec = importlib.util.spec_from_file_location(
        "kill_publish", REPO / "benchmarks" / "kill_publish.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    summary = mod.trials(50, seed=7, source_project=REPO / "fixtures" / "acme")
    assert summary["torn"] == 0, summary
    assert summary["failed_after_kill"] == 0, summary
    assert summary["final_publication_ok"], summary
    assert summary["final_same_as_full"], summary
    assert summary["final_run_same_as_full"], summary
    assert summary["old"] + summary["new"] + summary["completed"] == 50
