"""Every lesson and solution notebook runs top to bottom in a fresh, isolated kernel, without an
error, within its time budget, and leaves no server, thread, listening socket or child process."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from kernels import execute_notebook

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
# Seconds each notebook may take headless on 2 cores (the issues' budgets); default 30.
BUDGETS = {"00_start_here": 15, "05_production": 60, "05_production_lab": 60}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_runs_clean(path: Path, tmp_path):
    before = sorted(p.name for p in path.parent.iterdir())
    seconds, leaks, _ = execute_notebook(path, tmp_path)
    assert not leaks, f"{path.name} left behind: {leaks}"
    budget = BUDGETS.get(path.stem, 30)
    assert seconds < budget, f"{path.name} took {seconds:.1f} s (budget {budget} s)"
    assert sorted(p.name for p in path.parent.iterdir()) == before, "it wrote files next to itself"


def test_the_course_has_its_first_notebook():
    assert ROOT / "notebooks" / "00_start_here.ipynb" in NOTEBOOKS
