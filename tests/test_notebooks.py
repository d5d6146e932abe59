"""Every lesson and solution notebook runs top to bottom in a fresh, isolated kernel, without an
error, within its time budget, and leaves no server, thread, listening socket or child process."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "solutions").glob("*.ipynb")
)
# Seconds each notebook may take headless on 2 cores (the issues' budgets); default 30.
BUDGETS = {"00_start_here": 15, "05_production": 60, "05_production_lab": 60}


COURSE_BUDGET = 90  # seconds for every lesson and solution together (issue 9)
run_times: dict[Path, float] = {}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_runs_clean(path: Path, run_notebook):
    before = sorted(p.name for p in path.parent.iterdir())
    seconds, leaks, _ = run_notebook(path)
    run_times[path] = seconds
    assert not leaks, f"{path.name} left behind: {leaks}"
    budget = BUDGETS.get(path.stem, 30)
    assert seconds < budget, f"{path.name} took {seconds:.1f} s (budget {budget} s)"
    assert sorted(p.name for p in path.parent.iterdir()) == before, "it wrote files next to itself"


def test_the_course_has_its_first_notebook():
    assert ROOT / "notebooks" / "00_start_here.ipynb" in NOTEBOOKS


def test_the_whole_course_runs_within_its_budget():
    """Runs after the notebooks above (pytest keeps file order), from their measured times."""
    if len(run_times) < len(NOTEBOOKS):
        pytest.skip("only part of the course ran in this session (-k or a failure above)")
    total = sum(run_times.values())
    assert total <= COURSE_BUDGET, (
        f"the course took {total:.0f} s headless (budget {COURSE_BUDGET} s)"
    )


@pytest.mark.timeout(300)
def test_a_lesson_also_runs_without_cell_ids(tmp_path):
    """The classic Notebook, VS Code and nbclient send no cell id: a lesson with two servers in one
    cell (02_wsgi) must run there too, and leave nothing behind."""
    from kernels import execute_notebook

    _, leaks, _ = execute_notebook(ROOT / "notebooks" / "02_wsgi.ipynb", tmp_path, cell_ids=False)
    assert not leaks, leaks
