"""A submission graded in the sandbox (bubblewrap) sees no hidden test on disk, reaches no network
but its own loopback, and leaves no process behind; without bwrap the gradebook says so."""

from __future__ import annotations

import asyncio
import csv
import socket
import subprocess
import uuid

import pytest
from conftest import ROOT

from socket2flask.grading import gradebook, grader, sandbox
from socket2flask.grading.labs import lab_notebook
from socket2flask.grading.notebook import dumps, grading, questions, read

FIXTURE_LAB = ROOT / "tests" / "fixtures" / "grading" / "solutions" / "00_request_lines_lab.ipynb"
CORRECT = ROOT / "tests" / "fixtures" / "grading" / "submissions" / "correct.ipynb"
LIMITS = grader.Limits(cell=20, notebook=90, test=5, hidden=(ROOT / "solutions", ROOT / "build"))
needs_bwrap = pytest.mark.skipif(
    not sandbox.available(),
    reason="bwrap is not installed (apt-get install bubblewrap; .ci/run installs it)",
)


def graded_with(tmp_path, prologue: str) -> grader.Grade:
    """The correct fixture submission with `prologue` run first, in its q1 answer cell."""
    submission = read(CORRECT)
    answer = next(c for c in submission.cells if grading(c).get("grade_id") == "q1_answer")
    answer.source = prologue + "\n" + answer.source
    (tmp_path / "sub.ipynb").write_text(dumps(submission))
    lab = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)
    return asyncio.run(grader.grade(tmp_path / "sub.ipynb", "sub", lab, LIMITS))


@needs_bwrap
@pytest.mark.timeout(120)
def test_a_submission_searching_the_disk_finds_no_hidden_test(tmp_path):
    assert b"def test_rejects_garbage" in FIXTURE_LAB.read_bytes()  # it is there, outside
    # The needle: a hidden test's name, spelled backwards here so that this code does not hold it.
    search = f"""
import os
needle, found = "sgabrag_stcejer_tset"[::-1].encode(), []
for top in ({str(ROOT)!r}, os.path.expanduser("~"), "/tmp", os.getcwd()):
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in (".venv", ".git", "site-packages")]
        for name in files:
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    if needle in f.read(2_000_000):
                        found.append(os.path.join(folder, name))
            except OSError:
                pass
assert not found, "FOUND " + repr(found[:3])
"""
    graded = graded_with(tmp_path, search)
    assert (graded.points, graded.status, graded.sandboxed) == (
        {"q1": 2.0, "q2": 1.0},
        "ok",
        True,
    ), graded.reasons


@needs_bwrap
@pytest.mark.timeout(120)
def test_a_submission_reaches_no_network_but_its_own_loopback(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as outside:  # a server of the grader's machine
        port = outside.getsockname()[1]
        probe = f"""
import socket
mine = socket.create_server(("127.0.0.1", 0))  # its own loopback works: labs start servers
socket.create_connection(mine.getsockname(), timeout=2).close()
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    raise AssertionError("REACHED the grader's loopback")
except ConnectionRefusedError:
    pass
"""
        graded = graded_with(tmp_path, probe)
    assert (graded.points, graded.status) == ({"q1": 2.0, "q2": 1.0}, "ok"), graded.reasons


@needs_bwrap
@pytest.mark.timeout(120)
def test_a_detached_child_process_is_gone_when_grading_ends(tmp_path):
    marker = f"s2f-detached-{uuid.uuid4().hex}"
    start = f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", {marker!r}],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""
    graded = graded_with(tmp_path, start)
    assert graded.status == "ok", graded.reasons
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes of the submission outlived its grading: {left}"


@pytest.mark.timeout(120)
def test_without_bwrap_grading_still_runs_and_the_gradebook_says_not_sandboxed(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(sandbox, "available", lambda: False)
    graded = graded_with(tmp_path, "")
    assert (graded.points, graded.sandboxed) == ({"q1": 2.0, "q2": 1.0}, False)
    lab = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)
    gradebook.write_gradebook(tmp_path / "book.csv", questions(lab), [graded])
    with open(tmp_path / "book.csv", newline="") as f:
        assert next(csv.DictReader(f))["sandbox"] == "not sandboxed"


@pytest.mark.timeout(120)
def test_a_module_written_by_a_submission_does_not_load_with_the_next_kernel(tmp_path):
    # A cell writes zmq.py where the kernel runs, then ends the kernel: the grader runs the
    # notebook again in a fresh kernel there, which must start with pyzmq, not with this file.
    shadow = """
import os
with open("zmq.py", "w") as module:
    module.write("raise SystemExit('a zmq.py of the submission was imported')")
os._exit(1)
"""
    graded = graded_with(tmp_path, shadow)
    assert graded.points["q2"] == 1.0 and graded.status == "errors", graded.reasons
    assert "stopped the kernel" in graded.reasons[0], graded.reasons


FORGERIES = {
    "patches_the_checking_module": """
import sys
checking = sys.modules["socket2flask.grading.check"]
checking._run = lambda test, seconds: checking.Outcome("forged", checking.PASSED)
""",
    "rewrites_results_on_their_way_out": """
shell = get_ipython()
sent = shell.display_pub.publish
def publish(data, *args, **kwargs):
    for result in [data.get("application/vnd.socket2flask.check+json")] if data else []:
        if result:
            for test in result["tests"]:
                test["status"], test["message"] = "passed", ""
            result["signs"] = []
    return sent(data, *args, **kwargs)
shell.display_pub.publish = publish
""",
    "records_every_cell_it_sees": """
seen = []
get_ipython().events.register("pre_run_cell", lambda info: seen.append(info.raw_cell))
""",
}


@pytest.mark.timeout(180)
def test_forgeries_on_a_blank_lab_never_give_status_ok_with_points(tmp_path):
    from nbformat.v4 import new_code_cell

    lab = lab_notebook(read(FIXTURE_LAB), FIXTURE_LAB.name, hidden_tests=True)
    subs = {}
    for name, code in FORGERIES.items():
        blank = read(ROOT / "tests" / "fixtures" / "grading" / "labs" / FIXTURE_LAB.name)
        blank.cells.insert(2, new_code_cell(code))
        (tmp_path / f"{name}.ipynb").write_text(dumps(blank))
        subs[name] = tmp_path / f"{name}.ipynb"
    grades = asyncio.run(grader.grade_all(subs, lab, LIMITS, 2, lambda g: None))
    for graded in grades:
        assert graded.status == "suspicious", (graded.name, graded.status, graded.reasons)
        # no hidden test's name
        assert not any(
            "rejects_garbage" in reason or "rejects garbage" in reason for reason in graded.reasons
        ), graded.reasons
    reasons = {g.name: " ".join(g.reasons) for g in grades}
    assert "socket2flask.grading.check._run was changed" in reasons["patches_the_checking_module"]
    assert "publish was replaced" in reasons["rewrites_results_on_their_way_out"]
    assert "rewritten on their way out" in reasons["rewrites_results_on_their_way_out"]
    assert "'pre_run_cell' hook was registered" in reasons["records_every_cell_it_sees"]
    patched = next(g for g in grades if g.name == "patches_the_checking_module")
    assert set(patched.points.values()) == {0.0}  # the fresh check ran the real tests


def test_the_course_code_is_compiled_before_a_batch_since_kernels_cannot(tmp_path, monkeypatch):
    """Kernels run with PYTHONDONTWRITEBYTECODE (and a read-only system in the sandbox): the
    batch writes the bytecode of the course's code first (the package, and in a checkout the
    lessons' apps, which labs 03-05 import), so that no kernel compiles it again."""
    import importlib.util

    package = tmp_path / "src" / "socket2flask"
    modules = [package / "labtools" / "step5.py", tmp_path / "notebooks" / "apps" / "shortly.py"]
    for module in modules:
        module.parent.mkdir(parents=True)
        module.write_text("ANSWER = 42\n")
    monkeypatch.setattr(sandbox, "PACKAGE", package)
    asyncio.run(grader.grade_all({}, read(FIXTURE_LAB), LIMITS, 2, lambda g: None))
    for module in modules:
        assert importlib.util.cache_from_source(str(module)) in {
            str(path) for path in module.parent.glob("__pycache__/*.pyc")
        }, module
