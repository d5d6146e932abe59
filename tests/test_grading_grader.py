"""The batch grader and the labs in real kernels: full marks, zero marks, and broken submissions.

Every kernel here has its HOME, TMPDIR and Jupyter runtime directory in the test's temp folder and
is this venv's own; every grading run has short limits, so a hang fails the test instead of CI.
"""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from socket2flask.grading import grader
from socket2flask.grading.check import NOT_ANSWERED, PASSED
from socket2flask.grading.labclient import LabClient
from socket2flask.grading.labs import lab_notebook
from socket2flask.grading.notebook import dumps, is_answer, is_test, questions, read

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "grading"
FIXTURE_LAB = FIXTURES / "solutions" / "00_request_lines_lab.ipynb"
SOLUTIONS = [pytest.param(p, id=p.stem) for p in sorted((ROOT / "solutions").glob("*_lab.ipynb"))]
SOLUTIONS.append(pytest.param(FIXTURE_LAB, id="fixture"))
QUICK = grader.Limits(cell=10, notebook=120, test=5)

# Each broken submission, graded together with a correct one: points for q1 and q2, status, reason.
EXPECTED = {
    "correct": (2, 1, "ok", ""),
    "loop_in_cell": (0, 1, "errors", "q1: timed out after 3 s in cell 4"),
    "loop_in_tests": (0, 1, "ok", "q1: a simple GET: timed out after 1 s"),
    "os_exit": (0, 1, "errors", "q1: cell 4 stopped the kernel"),
    "sys_exit": (2, 0, "errors", "q2: cell 7 raised SystemExit"),
    "raise_systemexit": (0, 1, "ok", "q1: a simple GET: your code called sys.exit()"),
    "print_50mb": (2, 1, "ok", ""),
    "kill_kernel": (2, 0, "errors", "q2: cell 7 stopped the kernel"),
    "not_json": (0, 0, "unreadable", "not a notebook: Expecting"),
    "empty": (0, 0, "unreadable", "not a notebook: the file is empty"),
    "deletes_tests": (2, 0, "ok", "q2: 200 OK: wrong result"),
    "unanswered_lab": (0, 0, "ok", "q1: not answered yet; q2: not answered yet"),
    "wrong_lab": (0, 0, "wrong lab", "this notebook is solutions/99_other_lab.ipynb, not the lab"),
}


def execute_in_kernel(nb, folder: Path, monkeypatch) -> None:
    """Run a notebook as a learner would, top to bottom, in this venv's kernel, isolated in
    folder."""
    for name in ("HOME", "TMPDIR", "JUPYTER_RUNTIME_DIR"):
        (folder / name).mkdir()
        monkeypatch.setenv(name, str(folder / name))
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    LabClient(
        nb,
        km=km,
        timeout=30,
        startup_timeout=60,
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    ).execute()


def printed(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("solution", SOLUTIONS)
def test_in_a_generated_lab_check_says_not_answered_yet(solution, tmp_path, monkeypatch):
    lab = lab_notebook(read(solution), solution.name)
    execute_in_kernel(lab, tmp_path, monkeypatch)
    for cell in filter(is_test, lab.cells):
        assert "not answered yet" in printed(cell), printed(cell)
        assert "Traceback" not in printed(cell) and not any(
            o.output_type == "error" for o in cell.outputs
        )
    for cell in filter(is_answer, lab.cells):  # an answer cell may only fail as a stub fails
        assert all(
            o.ename == "NotImplementedError" for o in cell.outputs if o.output_type == "error"
        )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("solution", SOLUTIONS)
def test_the_solution_scores_full_marks_and_its_lab_zero_in_bounded_time(solution, tmp_path):
    lab = lab_notebook(read(solution), solution.name, hidden_tests=True)
    (tmp_path / "lab.ipynb").write_text(dumps(lab_notebook(read(solution), solution.name)))
    started = time.monotonic()
    full, zero = asyncio.run(
        grader.grade_all(
            {"solution": solution, "lab": tmp_path / "lab.ipynb"}, lab, QUICK, 2, lambda g: None
        )
    )
    assert time.monotonic() - started < 150
    top = {q.id: float(q.points) for q in questions(lab)}
    assert full.reasons == [], "\n".join(full.reasons)  # each failing test, whole
    assert (full.points, full.status) == (top, "ok")
    assert set(zero.points.values()) == {0.0}
    assert {t["status"] for tests in zero.tests.values() for t in tests} == {NOT_ANSWERED}
    assert {t["status"] for tests in full.tests.values() for t in tests} == {PASSED}


@pytest.mark.timeout(240)
def test_broken_submissions_get_a_plain_reason_and_never_hurt_the_others(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(FIXTURES / "submissions", folder)
    shutil.copy(FIXTURES / "labs" / FIXTURE_LAB.name, folder / "unanswered_lab.ipynb")
    other = read(FIXTURES / "labs" / FIXTURE_LAB.name)  # a teacher's mix-up: another lab's notebook
    other.metadata["socket2flask"]["generated_from"] = "solutions/99_other_lab.ipynb"
    (folder / "wrong_lab.ipynb").write_text(dumps(other))
    # these two are made here: no tool should find them in git
    (folder / "not_json.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = 1"')
    (folder / "empty.ipynb").write_bytes(b"")
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "socket2flask.grading",
            "grade",
            *sorted(map(str, folder.glob("*.ipynb"))),
            "--lab",
            str(FIXTURE_LAB),
            "--out",
            str(tmp_path / "gradebook.csv"),
            "--json",
            str(tmp_path / "json"),
            "--jobs",
            "2",
            "--cell-timeout",
            "3",
            "--test-timeout",
            "1",
            "--notebook-timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=220,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 120, f"the batch took {elapsed:.0f} s"
    assert f"[{len(EXPECTED)}/{len(EXPECTED)}]" in result.stderr  # the progress lines
    with open(tmp_path / "gradebook.csv", newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    assert rows.keys() == EXPECTED.keys()
    for name, (q1, q2, status, reason) in EXPECTED.items():
        row = rows[name]
        assert (float(row["q1"]), float(row["q2"]), row["status"], row["max"]) == (
            q1,
            q2,
            status,
            "3",
        ), row
        assert float(row["total"]) == q1 + q2
        assert row["reasons"].startswith(reason) if reason else row["reasons"] == "", row
        report = json.loads((tmp_path / "json" / f"{name}.json").read_text())
        assert (
            report["total"] == q1 + q2
            and report["questions"]["q1"]["title"] == "Parse a request line"
        )
    timed_out = json.loads((tmp_path / "json" / "loop_in_tests.json").read_text())["questions"][
        "q1"
    ]["tests"]
    # visible and hidden tests both ran
    assert [t["status"] for t in timed_out] == ["timed out"] * 3
    assert not list(tmp_path.glob(".gradebook.csv.*")), "a temporary gradebook was left behind"


@pytest.mark.timeout(120)
@pytest.mark.skipif(
    sys.platform == "win32", reason="Windows has no rlimits: only the time limits hold there"
)
def test_kernels_run_under_memory_and_file_size_limits(tmp_path):
    nb = read(FIXTURES / "submissions" / "correct.ipynb")
    nb.cells[3].source = 'open("big.bin", "wb").write(b"x" * (3 << 20))\n' + nb.cells[3].source
    nb.cells[6].source = "blob = bytearray(1 << 30)\n" + nb.cells[6].source
    (tmp_path / "greedy.ipynb").write_text(dumps(nb))
    lab = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)
    limits = grader.Limits(cell=10, notebook=60, test=5, memory_mb=768, file_mb=1)
    graded = asyncio.run(grader.grade(tmp_path / "greedy.ipynb", "greedy", lab, limits))
    assert graded.points == {"q1": 0.0, "q2": 0.0}
    assert graded.reasons[0].startswith("q1: cell 4 raised OSError: [Errno 27] File too large"), (
        graded.reasons
    )
    assert graded.reasons[1].startswith("q2: cell 7 raised MemoryError"), graded.reasons


@pytest.mark.timeout(120)
def test_a_grader_error_costs_one_row_and_the_exit_code(tmp_path, monkeypatch):
    real_plan = grader._plan

    def plan(lab, submission, qs):
        if len(submission.cells) == 1:
            raise RuntimeError("simulated bug in the grader")
        return real_plan(lab, submission, qs)

    monkeypatch.setattr(grader, "_plan", plan)
    (tmp_path / "odd.ipynb").write_text(
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, '
        '"cells": [{"cell_type": "code", "source": "", "metadata": {}}]}'
    )
    lab = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)
    subs = {"odd": tmp_path / "odd.ipynb", "correct": FIXTURES / "submissions" / "correct.ipynb"}
    odd, correct = asyncio.run(grader.grade_all(subs, lab, QUICK, 2, lambda g: None))
    assert (odd.status, odd.reasons) == (
        "grader error",
        ["RuntimeError: simulated bug in the grader"],
    )
    assert correct.points == {"q1": 2.0, "q2": 1.0}


@pytest.mark.timeout(240)
def test_a_batch_of_ten_completes_in_parallel(tmp_path):
    for n in range(10):
        shutil.copy(FIXTURES / "submissions" / "correct.ipynb", tmp_path / f"student{n:02d}.ipynb")
    lab = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)
    subs = {p.stem: p for p in sorted(tmp_path.glob("*.ipynb"))}
    grades = asyncio.run(grader.grade_all(subs, lab, QUICK, 2, lambda g: None))
    assert [g.points for g in grades] == [{"q1": 2.0, "q2": 1.0}] * 10


@pytest.mark.timeout(120)
def test_deleted_setup_and_given_cells_are_put_back_where_the_lab_has_them(tmp_path):
    from nbformat.v4 import new_code_cell

    from socket2flask.grading.notebook import grading

    solution = read(FIXTURE_LAB)
    tools = {
        "grade": False,
        "grade_id": "tools",
        "locked": True,
        "schema_version": 3,
        "solution": False,
    }
    solution.cells.insert(
        2, new_code_cell("def shout(text):\n    return text.upper()", metadata={"nbgrader": tools})
    )
    q1_tests = next(c for c in solution.cells if grading(c).get("grade_id") == "q1")
    q1_tests.source = q1_tests.source.replace(
        "def test_simple_get():",
        'def test_tools_given():\n    assert shout("a") == "A"\n\n\ndef test_simple_get():',
        1,
    )
    lab = lab_notebook(solution, FIXTURE_LAB.name, hidden_tests=True)
    solution.cells = [
        c for c in solution.cells if grading(c).get("grade_id") not in ("setup", "tools")
    ]
    (tmp_path / "pruned.ipynb").write_text(dumps(solution))
    graded = asyncio.run(
        grader.grade(tmp_path / "pruned.ipynb", "pruned", lab, grader.Limits(notebook=60))
    )
    assert graded.points == {"q1": 2.0, "q2": 1.0}, graded.reasons


@pytest.mark.timeout(120)
def test_cells_after_the_last_test_cell_are_not_run(tmp_path):
    """A cell after every test cell can change no score: a plot, check_all(), or a loop there
    costs nothing, and is no error."""
    from nbformat.v4 import new_code_cell

    correct = read(FIXTURES / "submissions" / "correct.ipynb")
    correct.cells.append(new_code_cell("while True:  # after the last test cell\n    pass"))
    (tmp_path / "loops_last.ipynb").write_text(dumps(correct))
    lab = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)
    graded = asyncio.run(grader.grade(tmp_path / "loops_last.ipynb", "loops_last", lab, QUICK))
    assert (graded.points, graded.status, graded.reasons) == ({"q1": 2.0, "q2": 1.0}, "ok", [])
    assert graded.seconds < QUICK.cell, graded.seconds  # it did not wait for the loop to time out


@pytest.mark.timeout(180)
def test_test_cells_run_after_their_answers_whatever_the_submission_did_to_its_cells(tmp_path):
    """Every test cell deleted, scratch cells everywhere, the answers in the other order: the
    grader still runs each question's tests right after its answers, and full marks stay full."""
    from nbformat.v4 import new_code_cell, new_markdown_cell

    from socket2flask.grading.notebook import grading

    correct = read(FIXTURES / "submissions" / "correct.ipynb")
    by_id = {grading(c).get("grade_id"): c for c in correct.cells}
    scratch = [new_code_cell("x = 1  # trying something"), new_markdown_cell("my notes")]
    shuffled = [
        by_id["setup"],
        *scratch,
        by_id["q2_answer"],
        *scratch,
        by_id["q1_answer"],
        *scratch,
    ]
    cases = {
        "no_tests": [c for c in correct.cells if grading(c).get("grade_id") not in ("q1", "q2")],
        "shuffled": shuffled,
        "tests_first": [
            by_id["setup"],
            by_id["q1"],
            by_id["q2"],
            by_id["q1_answer"],
            by_id["q2_answer"],
        ],
    }
    for name, cells in cases.items():
        correct.cells = cells
        (tmp_path / f"{name}.ipynb").write_text(dumps(correct))
    lab = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)
    subs = {name: tmp_path / f"{name}.ipynb" for name in cases}
    for graded in asyncio.run(grader.grade_all(subs, lab, QUICK, 2, lambda g: None)):
        assert (graded.name, graded.points, graded.status) == (
            graded.name,
            {"q1": 2.0, "q2": 1.0},
            "ok",
        ), graded.reasons
