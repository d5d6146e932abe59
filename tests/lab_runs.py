"""A lab's questions, run in this process the way a learner runs them; shared by the lab tests.

Most lab tests run without a kernel: the solution's answers and given cells are loaded with the
package's `load_answers`; a wrong answer (the solution's answer cells with a few lines changed) is
run on top, then the question's test cell (visible tests only, unless told), with its `check(...)`,
exactly as a learner would see it.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import time
from collections.abc import Iterable
from pathlib import Path

from socket2flask.grading.notebook import grading, load_answers, read, strip_hidden
from socket2flask.servers import running, stop_all

CHECK = importlib.import_module("socket2flask.grading.check")  # the module, not the function

# (an answer cell's grade_id, a text in the reference answer, what the learner wrote instead)
Change = tuple[str, str, str]


def cell_of(path: Path, grade_id: str) -> str:
    """The source of the one cell of the notebook at `path` with this grade_id."""
    (source,) = [c.source for c in read(path).cells if grading(c).get("grade_id") == grade_id]
    return source


def answer_cells(path: Path, question: str) -> dict[str, str]:
    """grade_id -> source of the answer cells of `question` (q1_answer, q1_answer2, ...)."""
    return {
        grading(c)["grade_id"]: c.source
        for c in read(path).cells
        if grading(c).get("grade_id", "").startswith(f"{question}_answer")
    }


def settle() -> None:
    """Stop every server, and wait (10 s at most) for the threads a wrong answer left behind."""
    stop_all()
    deadline = time.monotonic() + 10
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
        stop_all()


def check_output(
    path: Path, question: str, changes: Iterable[Change] = (), hidden: bool = False
) -> str:
    """What check(question) prints once the answer cells of `question` are run with `changes`;
    with `hidden`, the hidden tests run too. What goes to stderr (a server thread's) follows it."""
    CHECK._checked.clear()  # no earlier question's tests, from another namespace
    with contextlib.redirect_stdout(io.StringIO()):  # the given cells print too
        namespace = load_answers(path)
    answers = answer_cells(path, question)
    for cell, right, wrong in changes:
        assert answers[cell].count(right) == 1, f"not once in {cell}: {right!r}"
        answers[cell] = answers[cell].replace(right, wrong)
    tests = cell_of(path, question)
    printed, errors = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
            for cell, source in answers.items():
                exec(compile(source, f"<{cell}>", "exec", dont_inherit=True), namespace)
            source = tests if hidden else strip_hidden(tests)
            exec(compile(source, f"<check {question}>", "exec", dont_inherit=True), namespace)
    finally:
        with contextlib.redirect_stderr(errors):
            settle()
    return printed.getvalue() + errors.getvalue()


def defined_tests(source: str) -> list[ast.FunctionDef]:
    """The test functions (test_...) a cell defines at its top level."""
    return [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
