"""Teachers can take every lab into nbgrader unchanged: nbgrader's own `generate_assignment` (which
validates the cell metadata) accepts each solution, and its student version matches our labs/ in
which cells are answers and what the test cells show (hidden tests removed in both).

And nbgrader grades them as we do: its `generate_assignment`, `autograde`, `generate_feedback` and
`export`, run as docs/jupyterhub.md says (course folder, nbgrader_config.py, the course's kernel),
give a solution full marks, the blank lab zero, and a partly wrong submission the points our grader
gives it, question by question; the feedback shows no hidden test's code.
"""

from __future__ import annotations

import asyncio
import csv
import html
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from socket2flask.grading import grader
from socket2flask.grading import nbgrader_route as route
from socket2flask.grading.labs import lab_notebook
from socket2flask.grading.notebook import questions, read, strip_hidden

NBGRADER_VENV = ROOT / "build" / "test-venvs" / "nbgrader"  # its own venv: it pins its own Jupyter
FIXTURE = ROOT / "tests" / "fixtures" / "grading"
SOLUTIONS = sorted((ROOT / "solutions").glob("*_lab.ipynb")) + [
    FIXTURE / "solutions" / "00_request_lines_lab.ipynb"
]


def lab_of(solution: Path) -> Path:
    return solution.parent.parent / "labs" / solution.name


@pytest.fixture(scope="session")
def nbgrader_bin() -> Path:
    """nbgrader installed in a venv of its own (made once, kept under build/)."""
    try:
        return route.install(NBGRADER_VENV)
    except RuntimeError as error:  # no network: say so, as a skip with the reason
        pytest.skip(str(error))


def normalised(source: str) -> str:
    """Source with trailing spaces and runs of blank lines folded (nbgrader leaves one more blank
    line where it cut hidden tests)."""
    lines = [line.rstrip() for line in source.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def solution_lines(cell) -> set[str]:
    """The code lines between BEGIN SOLUTION and END SOLUTION in a solution cell, less those that
    learners see anyway: the cell's given code outside the markers, and its own `### STUB` lines."""
    region = r"### BEGIN SOLUTION\n(.*?)### END SOLUTION"
    lines = {
        line.strip()
        for block in re.findall(region, cell.source, re.S)
        for line in block.splitlines()
    }
    given = {line.strip() for line in re.sub(region, "", cell.source, flags=re.S).splitlines()}
    stub = {
        line.strip().removeprefix("### STUB").strip()
        for line in cell.source.splitlines()
        if line.strip().startswith("### STUB")
    }
    return lines - given - stub - {"", "raise NotImplementedError()"}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_nbgrader_generates_the_same_student_version_as_ours(solution, nbgrader_bin, tmp_path):
    env = route.environment(nbgrader_bin, tmp_path / "env")
    released = route.release(nbgrader_bin, env, tmp_path / "course", solution)
    theirs = nbformat.read(released, as_version=4).cells
    ours = nbformat.read(lab_of(solution), as_version=4).cells
    source = nbformat.read(solution, as_version=4).cells
    grade_ids = [
        [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells] for cells in (theirs, ours)
    ]
    assert grade_ids[0] == grade_ids[1] and len(theirs) == len(ours) == len(source)
    for their, our, original in zip(theirs, ours, source):
        meta = original.metadata.get("nbgrader", {})
        if meta.get("solution"):  # an answer: no solution line survives, and a stub raises
            for version in (their, our):
                assert "NotImplementedError" in version.source
                kept = solution_lines(original) & {
                    line.strip() for line in version.source.splitlines()
                }
                assert not kept, f"{meta['grade_id']}: solution lines left in: {kept}"
        else:  # markdown, given code and tests: identical, hidden tests gone from both
            assert normalised(their.source) == normalised(our.source), meta.get("grade_id")
            assert "HIDDEN TESTS" not in our.source


# ---- nbgrader's whole route: generate_assignment, autograde, generate_feedback, export ----------

# The fixture lab, and the fastest real lab (02: ~15 s a run; 01 and 03 take ~20 s).
GRADED = [
    FIXTURE / "solutions" / "00_request_lines_lab.ipynb",
    ROOT / "solutions" / "02_wsgi_lab.ipynb",
]
# The partly wrong submission: every answer of the solution, except (fixture) a status line that
# ignores its code (its visible test passes, its hidden test fails), or (other labs) the last
# question's answers left as released, stubs and all.
WRONG = {
    "00_request_lines_lab": {
        "q2_answer": (
            'REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}\n\n\n'
            'def status_line(code: int) -> bytes:\n    return b"HTTP/1.1 200 OK\\r\\n"\n'
        )
    }
}
STUDENTS = ("solved", "blank", "partly")
SCORES = """import json, sys
from nbgrader.api import Gradebook
with Gradebook(sys.argv[1]) as gb:
    print(json.dumps({a.name: {s.student_id: {g.name: g.score for g in s.notebooks[0].grades}
                               for s in gb.assignment_submissions(a.name)} \
for a in gb.assignments}))
"""


@dataclass
class Course:
    root: Path
    kernelspec: dict  # python3, as nbgrader's Jupyter finds it
    scores: dict  # assignment -> student -> question -> nbgrader's points
    ours: dict  # assignment -> question -> our grader's points for "partly"
    exported: list[dict]  # grades.csv
    logs: dict  # assignment -> what autograde logged
    home: Path  # the HOME nbgrader ran with


def submission(release: Path, solution: Path, student: str) -> nbformat.NotebookNode:
    """nbgrader's student version as a student hands it in: blank, every answer filled in from the
    solution, or all but one (WRONG)."""
    nb, answers = nbformat.read(release, as_version=4), nbformat.read(solution, as_version=4).cells
    if student == "blank":
        return nb
    qs = questions(nb)  # the same cells as the solution's (test above)
    released = {
        nb.cells[i].metadata.nbgrader.grade_id: nb.cells[i].source for i in qs[-1].answer_cells
    }
    wrong = WRONG.get(solution.stem, released) if student == "partly" else {}
    for i in (i for q in qs for i in q.answer_cells):
        nb.cells[i].source = wrong.get(nb.cells[i].metadata.nbgrader.grade_id, answers[i].source)
    return nb


@pytest.fixture(scope="module")
def course(nbgrader_bin, tmp_path_factory) -> Course:
    """A course folder taken through nbgrader's route, with the commands docs/jupyterhub.md
    gives."""
    root, tmp = tmp_path_factory.mktemp("course"), tmp_path_factory.mktemp("nbgrader-env")
    env = route.environment(nbgrader_bin, tmp)
    listed = subprocess.run(
        [str(nbgrader_bin / "jupyter"), "kernelspec", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    specs = json.loads(listed.stdout)
    logs, ours = {}, {}
    for solution in GRADED:
        name = solution.stem
        released = route.release(nbgrader_bin, env, root, solution)
        handed_in = {student: submission(released, solution, student) for student in STUDENTS}
        logs[name], _ = route.autograde(nbgrader_bin, env, root, solution, handed_in)
        route.nbgrader(nbgrader_bin, ["generate_feedback", name], env, root)
        lab = lab_notebook(read(solution), solution.name, hidden_tests=True)
        graded = asyncio.run(
            grader.grade(
                root / "submitted" / "partly" / name / solution.name,
                "partly",
                lab,
                grader.Limits(cell=30, notebook=300),
            )
        )
        ours[name] = graded.points
    route.nbgrader(nbgrader_bin, ["export"], env, root)
    db = f"sqlite:///{root / 'gradebook.db'}"
    scores = subprocess.run(
        [str(nbgrader_bin / "python"), "-c", SCORES, db],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    with open(root / "grades.csv", newline="") as rows:
        exported = list(csv.DictReader(rows))
    return Course(
        root,
        specs["kernelspecs"]["python3"],
        json.loads(scores),
        ours,
        exported,
        logs,
        Path(env["HOME"]),
    )


def page_text(page: Path) -> str:
    """What a feedback page shows: its text, without styles, scripts and tags."""
    text = re.sub(r"<(style|script)\b.*?</\1>", "", page.read_text(), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def hidden_lines(solution: Path) -> set[str]:
    """The lines of code only the hidden tests have (not short ones, nor any part of other code)."""
    cells = nbformat.read(solution, as_version=4).cells
    hidden = {
        line.strip()
        for cell in cells
        for region in re.findall(
            r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S
        )
        for line in region.splitlines()
    }
    shown = "\n".join(strip_hidden(cell.source) for cell in cells)
    return {line for line in hidden if len(line) >= 10 and line not in shown}


@pytest.mark.timeout(1200)
def test_nbgrader_runs_the_courses_kernel(course):
    assert course.kernelspec["spec"]["argv"][0] == sys.executable, course.kernelspec
    user_kernel = course.home / ".local" / "share" / "jupyter" / "kernels" / "python3"
    assert Path(course.kernelspec["resource_dir"]) == user_kernel, course.kernelspec  # found first


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("solution", GRADED, ids=lambda p: p.stem)
def test_nbgrader_autograde_gives_full_marks_zero_and_our_points(course, solution):
    name, qs = solution.stem, questions(read(solution))
    scores = course.scores[name]
    assert scores["solved"] == {q.id: float(q.points) for q in qs}, course.logs[name][-3000:]
    assert scores["blank"] == {q.id: 0.0 for q in qs}
    assert scores["partly"] == course.ours[name], (scores["partly"], course.ours[name])
    # partly right, partly not
    assert 0 < sum(scores["partly"].values()) < sum(q.points for q in qs)
    totals = {
        row["student_id"]: float(row["score"])
        for row in course.exported
        if row["assignment"] == name
    }
    assert totals == {student: sum(scores[student].values()) for student in STUDENTS}


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("solution", GRADED, ids=lambda p: p.stem)
def test_nbgrader_feedback_shows_verdicts_but_no_hidden_test_code(course, solution):
    name, secret = solution.stem, hidden_lines(solution)
    autograded = nbformat.read(
        course.root / "autograded" / "partly" / name / solution.name, as_version=4
    )
    ran = "\n".join(cell.source for cell in autograded.cells)
    assert secret and all(line in ran for line in secret)  # nbgrader put them back, and ran them
    for student in STUDENTS:
        text = page_text(course.root / "feedback" / student / name / f"{name}.html")
        assert "HIDDEN TESTS" not in text and "Traceback" not in text, student
        assert not [line for line in secret if line in text], student
        assert "Score:" in text
    text = page_text(course.root / "feedback" / "partly" / name / f"{name}.html")
    lost = [q for q, points in course.scores[name]["partly"].items() if points == 0]
    assert all(re.search(rf"^{q}: (failed|not answered yet)", text, re.M) for q in lost), lost


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("solution", GRADED, ids=lambda p: p.stem)
def test_nbgrader_reports_a_changed_checksum_for_each_test_cell_with_hidden_tests(course, solution):
    """Students hand in nbgrader's release untouched (but for answers): autograde still says
    "Attribute 'checksum' for cell qN has changed!" for every test cell with hidden tests, since
    the gradebook holds that cell with its hidden tests; that is how nbgrader puts them back. No
    other locked cell is reported, and nothing else changed."""
    name = solution.stem
    with_hidden = sorted(
        c.metadata.nbgrader.grade_id
        for c in read(solution).cells
        if "### BEGIN HIDDEN TESTS" in c.source
    )
    changed = re.findall(r"Attribute '(\w+)' for cell (\S+) has changed", course.logs[name])
    assert sorted(changed) == sorted([("checksum", gid) for gid in with_hidden] * len(STUDENTS))


def test_docs_give_the_config_the_test_uses():
    assert route.CONFIG in (ROOT / "docs" / "jupyterhub.md").read_text()
