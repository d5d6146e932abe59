"""Every lesson and solution notebook runs top to bottom in a fresh, isolated kernel, without an
error, and leaves no server, thread, listening socket or child process. How long each takes against
its budget is measured by make bench (bench_06); here only a generous bound, against a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "solutions").glob("*.ipynb")
)
SANITY = 180  # seconds: several times any notebook's budget (bench_06), far below a CI's patience


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_runs_clean(path: Path, run_notebook):
    before = sorted(p.name for p in path.parent.iterdir())
    seconds, leaks, _ = run_notebook(path)
    assert not leaks, f"{path.name} left behind: {leaks}"
    assert seconds < SANITY, f"{path.name} took {seconds:.1f} s"
    assert sorted(p.name for p in path.parent.iterdir()) == before, "it wrote files next to itself"


def test_the_course_has_its_first_notebook():
    assert ROOT / "notebooks" / "00_start_here.ipynb" in NOTEBOOKS


@pytest.mark.timeout(300)
def test_a_lesson_also_runs_without_cell_ids(tmp_path):
    """The classic Notebook, VS Code and nbclient send no cell id: a lesson with two servers in one
    cell (02_wsgi) must run there too, and leave nothing behind."""
    from kernels import execute_notebook

    _, leaks, _ = execute_notebook(ROOT / "notebooks" / "02_wsgi.ipynb", tmp_path, cell_ids=False)
    assert not leaks, leaks
