"""The truthful-checks rule, proved on each lab's corpus of wrong answers (tests/mutants/): for
every mutant, the questions that lose points at grading are among those whose visible tests fail,
i.e. what check() said in the notebook is what the grade is. Every mutant must also lose points: one
that does not is not a wrong answer to this lab, or the tests miss it entirely. Lab 05's tests
measure throughput, which a loaded machine can upset once: a mutant that breaks the rule is graded
again, and only a violation that happens twice fails the test (a real one always does)."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from conftest import ROOT
from mutants import mutated

from socket2flask.grading import grader
from socket2flask.grading.labs import lab_notebook
from socket2flask.grading.notebook import dumps, questions, read

LABS = sorted(
    path.stem.removeprefix("lab") for path in (ROOT / "tests" / "mutants").glob("lab*.py")
)
LIMITS = grader.Limits(cell=30, notebook=240)


def lost(grade: grader.Grade, top: dict[str, float]) -> set[str]:
    return {q for q, points in grade.points.items() if points < top[q]}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("number", LABS)
def test_no_mutant_loses_points_that_its_visible_checks_did_not_show(number, tmp_path):
    solution_path = next((ROOT / "solutions").glob(f"{number}_*_lab.ipynb"))
    solution = read(solution_path)
    mutants = importlib.import_module(f"mutants.lab{number}").MUTANTS
    assert len(mutants) >= 8, "a lab's corpus has at least 8 mutants"
    submissions = {}
    for mutant in mutants:
        path = tmp_path / f"{mutant.name}.ipynb"
        path.write_text(dumps(mutated(solution, mutant)), encoding="utf-8")
        submissions[mutant.name] = path
    visible_lab = lab_notebook(solution, solution_path.name)  # what the learner's check() runs
    graded_lab = lab_notebook(solution, solution_path.name, hidden_tests=True)  # the grader's
    top = {q.id: float(q.points) for q in questions(graded_lab)}
    problems = _problems(mutants, submissions, visible_lab, graded_lab, top)
    if problems:  # lab 05 measures throughput: a violation must happen again to count
        again = {name: submissions[name] for name in problems}
        problems = _problems(
            [m for m in mutants if m.name in again], again, visible_lab, graded_lab, top
        )
    assert not problems, "\n".join(problems.values())


def _problems(
    mutants: list, submissions: dict, visible_lab, graded_lab, top: dict
) -> dict[str, str]:
    """Each mutant that loses nothing, or loses at grading a question its visible checks passed."""
    visible = asyncio.run(grader.grade_all(submissions, visible_lab, LIMITS, 2, lambda g: None))
    graded = asyncio.run(grader.grade_all(submissions, graded_lab, LIMITS, 2, lambda g: None))
    problems = {}
    for mutant, seen, grade in zip(mutants, visible, graded):
        if not lost(grade, top):
            problems[mutant.name] = f"{mutant.name}: loses no points at grading ({mutant.why})"
        elif hidden_only := lost(grade, top) - lost(seen, top):
            reasons = [r for r in grade.reasons if r.split(":")[0] in hidden_only]
            problems[mutant.name] = (
                f"{mutant.name}: grading takes {sorted(hidden_only)} while check() "
                f"passes them ({mutant.why}); grader: {reasons}"
            )
    return problems
