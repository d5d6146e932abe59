"""Plausible wrong answers to the labs, to prove the truthful-checks rule (docs/architecture.md):
no question may lose points at grading while its visible tests pass on the same answer.

Each lab has a module here, `labNN.py`, with a list `MUTANTS`: each a small change to one answer of
the lab's solution, written from how learners really go wrong (not from the tests). A mutant is the
solution notebook with that one change; tests/test_mutants.py grades it twice, with the lab's
visible tests only (what check() shows the learner) and with the hidden tests too (the grade).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from nbformat import NotebookNode


@dataclass(frozen=True)
class Mutant:
    name: str  # what the learner did, in a few words (it names the submission)
    cell: str  # the grade_id of the answer cell it changes
    old: str  # text of the solution's answer, found exactly once in that cell
    new: str  # what the learner wrote instead
    why: str = ""  # how a learner gets there, and what it breaks


def mutated(solution: NotebookNode, mutant: Mutant) -> NotebookNode:
    """The solution notebook with the mutant's one change; a clear error if it no longer applies."""
    notebook = copy.deepcopy(solution)
    cells = [
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == mutant.cell
    ]
    if len(cells) != 1:
        raise LookupError(f"{mutant.name}: no answer cell {mutant.cell!r} in the solution")
    found = cells[0].source.count(mutant.old)
    if found != 1:
        raise LookupError(
            f"{mutant.name}: {mutant.old!r} is in {mutant.cell} {found} times, not once "
            "(the solution changed: update the mutant)"
        )
    cells[0].source = cells[0].source.replace(mutant.old, mutant.new)
    return notebook
