"""Class tooling (issue 15, items 5-7): per-lab folders, names from folders, feedback that hides
hidden tests, summary.md and its PNG, the LMS CSV; the grader's memory and time bounded."""

from __future__ import annotations

import asyncio
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from socket2flask.grading import grader
from socket2flask.grading.labs import lab_notebook
from socket2flask.grading.notebook import dumps, grading, read

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "grading"
FIXTURE_LAB = FIXTURES / "solutions" / "00_request_lines_lab.ipynb"
LAB = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)


def submission(answers: dict[str, str]) -> str:
    """The correct submission with some answer cells (by grade_id) replaced."""
    nb = read(FIXTURES / "submissions" / "correct.ipynb")
    for cell in nb.cells:
        cell.source = answers.get(grading(cell).get("grade_id"), cell.source)
    return dumps(nb)


PARTLY_WRONG = {  # q1 passes its visible tests, not the hidden one; q2 fails both
    "q1_answer": (
        "def parse_request_line(line):\n"
        '    return tuple((line.decode().split(" ") + ["", ""])[:3])\n'
    ),
    "q2_answer": 'def status_line(code):\n    return f"HTTP/1.1 {code} OK\\n".encode()\n',
}


@pytest.mark.timeout(240)
def test_a_class_gets_per_lab_folders_feedback_a_summary_and_an_lms_csv(tmp_path):
    for name, text in {"alice": submission({}), "bob": submission(PARTLY_WRONG)}.items():
        (tmp_path / "submitted" / name).mkdir(parents=True)
        (tmp_path / "submitted" / name / FIXTURE_LAB.name).write_text(text)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "socket2flask.grading",
            "grade",
            "--lab",
            str(FIXTURE_LAB),
            *map(str, sorted(tmp_path.glob("submitted/*/*.ipynb"))),
            "--jobs",
            "2",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "build" / "grades" / "00"
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    assert {n: row["total"] for n, row in rows.items()} == {
        "alice": "3",
        "bob": "0",
    }  # names from folders
    assert (out / "lms.csv").read_text().splitlines() == ["student,points", "alice,3", "bob,0"]
    page = (out / "feedback" / "bob.html").read_text()
    assert "a hidden test of q1 failed: a line that is not a request line raises ValueError" in page
    assert "a hidden test of q2 failed: 404, whose reason phrase has a space" in page
    assert "expected: b&#x27;HTTP/1.1 200 OK\\r\\n&#x27;" in page  # a visible test's message, whole
    report = json.loads((out / "json" / "bob.json").read_text())
    tests = report["questions"]["q1"]["tests"]
    assert [t["hidden"] for t in tests] == [False, False, True]
    assert "b'hello'" in tests[2]["hidden_message"]  # the teacher still sees why
    student_facing = [
        page,
        rows["bob"]["reasons"],
        json.dumps(report["reasons"]),
        json.dumps([t["message"] for q in report["questions"].values() for t in q["tests"]]),
    ]
    for text in student_facing:  # the hidden tests' inputs and expected values
        assert (
            "hello" not in text and "404 Not Found" not in text and "input:    404" not in text
        ), text
    summary = (out / "summary.md").read_text()
    assert "Total: mean 1.50, median 1.5 of 3 points. Statuses: ok 2." in summary
    assert "| q1 | Parse a request line | 1.00 of 2 | 50% |" in summary
    assert (out / "summary.png").read_bytes().startswith(b"\x89PNG")


def test_names_come_from_folders_when_the_file_has_the_lab_s_name():
    lab = "02_wsgi_lab.ipynb"
    assert grader.submission_names([Path("submitted/alice/02_wsgi_lab.ipynb")], lab) == ["alice"]
    assert grader.submission_names([Path("a/alice/x.ipynb"), Path("a/bob/x.ipynb")], lab) == [
        "alice",
        "bob",
    ]
    assert grader.submission_names([Path("in/carol.ipynb"), Path("in/dan.ipynb")], lab) == [
        "carol",
        "dan",
    ]


# (A backslash at a line's end joins it to the next: the script's lines are longer.)
GRADE_ONE = """import asyncio, resource, sys
from pathlib import Path
from socket2flask.grading import grader
from socket2flask.grading.labs import lab_notebook
from socket2flask.grading.notebook import read
lab = lab_notebook(read(Path(sys.argv[1])), Path(sys.argv[1]).name, hidden_tests=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
g = asyncio.run(grader.grade(Path(sys.argv[2]), "x", lab, \
grader.Limits(cell=3, notebook=60, test=2)))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, \
g.points["q1"], g.status)
"""


@pytest.mark.timeout(120)
@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage is POSIX")
@pytest.mark.parametrize(
    "flood, status",
    [('print("x" * 100_000_000)', "ok"), ('raise ValueError("x" * 100_000_000)', "errors")],
    ids=["printed", "raised"],
)
def test_100_mb_printed_or_raised_leaves_the_grader_s_memory_flat(flood, status, tmp_path):
    from nbformat.v4 import new_code_cell

    nb = read(FIXTURES / "submissions" / "correct.ipynb")
    nb.cells.insert(2, new_code_cell(flood))  # a scratch cell before the answers
    (tmp_path / "s.ipynb").write_text(dumps(nb))
    out = subprocess.run(
        [sys.executable, "-c", GRADE_ONE, str(FIXTURE_LAB), str(tmp_path / "s.ipynb")],
        capture_output=True,
        text=True,
        timeout=110,
    )
    growth_mb, q1, got = out.stdout.split()
    assert (float(q1), got) == (2.0, status), out.stderr
    assert int(growth_mb) < 100, f"the grader grew by {growth_mb} MB"


@pytest.mark.timeout(120)
def test_a_looping_cell_costs_its_timeout_and_little_more(tmp_path):
    scratch = [f"x{n} = {n}" for n in range(8)]  # later cells: each once cost nbclient's 4 s wait
    nb = read(FIXTURES / "submissions" / "correct.ipynb")
    from nbformat.v4 import new_code_cell

    nb.cells[2:2] = [new_code_cell("while True:\n    pass"), *map(new_code_cell, scratch)]
    (tmp_path / "loop.ipynb").write_text(dumps(nb))
    started = time.monotonic()
    g = asyncio.run(
        grader.grade(
            tmp_path / "loop.ipynb", "loop", LAB, grader.Limits(cell=3, notebook=60, test=2)
        )
    )
    assert (g.points, g.status) == ({"q1": 2.0, "q2": 1.0}, "errors")
    assert g.reasons == ["timed out after 3 s in cell 3"]  # no row says errors without a reason
    assert time.monotonic() - started < 3 + 12, "generous: 3 s, kernel start and load"


@pytest.mark.timeout(120)
@pytest.mark.skipif(not hasattr(resource, "RLIMIT_NPROC"), reason="no process limit on this OS")
def test_a_submission_that_exhausts_threads_gets_a_plain_reason(tmp_path):
    greedy = (
        "import threading, time\nthreads = []\nwhile True:\n    threads.append(threading.Thread("
        "target=time.sleep, args=(600,), daemon=True))\n    threads[-1].start()\n"
    )
    (tmp_path / "greedy.ipynb").write_text(submission({"q1_answer": greedy}))
    g = asyncio.run(
        grader.grade(tmp_path / "greedy.ipynb", "greedy", LAB, grader.Limits(cell=20, notebook=60))
    )
    assert g.status == "errors" and g.points["q1"] == 0.0
    assert g.reasons[0] == "q1: cell 4 could not start a thread or process: too many at once", (
        g.reasons
    )
