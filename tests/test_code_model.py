"""The course's code is the model a learner copies (issue 19): one copy of each piece, short cells.

A lab and the solution it is generated from count as one notebook; the apps under notebooks/apps/
count as notebooks too (a lesson that repeats an app's code is a copy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from socket2flask.grading.notebook import grading, read

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
APPS = sorted((ROOT / "notebooks" / "apps").rglob("*.py"))
RUN = 20  # lines: a run this long in two places is a copy
LESSON_CELL, GIVEN_CELL = 40, 40  # lines at most


def code_lines(path: Path) -> list[str]:
    """The code of a notebook or a module, one stripped line each, without blank lines and
    comments (a copy with other comments is still a copy)."""
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    else:
        text = path.read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def longest_shared_run(a: list[str], b: list[str]) -> tuple[int, str]:
    """The longest run of lines that `a` and `b` share, and its first line."""
    best, first = 0, ""
    previous = [0] * (len(b) + 1)
    for i in range(len(a)):
        current = [0] * (len(b) + 1)
        for j in range(len(b)):
            if a[i] == b[j]:
                current[j + 1] = previous[j] + 1
                if current[j + 1] > best:
                    best = current[j + 1]
                    first = a[i - best + 1]
        previous = current
    return best, first


def test_no_run_of_20_lines_appears_in_two_places():
    sources = {path: code_lines(path) for path in LESSONS + SOLUTIONS + APPS}
    copies = []
    paths = list(sources)
    for n, a in enumerate(paths):
        for b in paths[n + 1 :]:
            length, first = longest_shared_run(sources[a], sources[b])
            if length >= RUN:
                copies.append(
                    f"{a.relative_to(ROOT)}, {b.relative_to(ROOT)}: {length} lines from {first!r}"
                )
    assert not copies, "copied code (load it from one place):\n  " + "\n  ".join(copies)


def test_the_detector_finds_a_copy_and_ignores_comments():
    piece = [f"x{n} = {n}" for n in range(RUN)]
    assert longest_shared_run(["a"] + piece, piece + ["b"]) == (RUN, "x0 = 0")
    assert longest_shared_run(piece[:10] + ["y = 1"] + piece[10:], piece)[0] == 10


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_code_cells_are_short(path):
    long = [
        f"cell {n}: {len(cell.source.splitlines())} lines"
        for n, cell in enumerate(read(path).cells)
        if cell.cell_type == "code" and len(cell.source.splitlines()) > LESSON_CELL
    ]
    assert not long, f"over {LESSON_CELL} lines: {long}"


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_a_labs_given_cells_are_short(path):
    """Every code cell a learner is handed (setup, given code, answer stubs), not the test cells."""
    long = [
        f"cell {n} ({grading(cell).get('grade_id')}): {len(cell.source.splitlines())} lines"
        for n, cell in enumerate(read(path).cells)
        if cell.cell_type == "code"
        and not grading(cell).get("grade")
        and len(cell.source.splitlines()) > GIVEN_CELL
    ]
    assert not long, f"over {GIVEN_CELL} lines: {long}"
