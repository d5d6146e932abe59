"""Step 7 lab: the reference answers pass every test, visible and hidden, and score 100 under the
grader (sandboxed where bwrap exists); the lab as given scores 0, saying "not answered yet" for
every question, without hanging; every visible test has a title and a hint, and no test cell hides
a name of the learner's; the solution runs headless, under JupyterLab's protocol, well within its
budget and without leaks; and the wrong answers of tests/mutants/lab07.py are each caught by the
visible tests, with a message that points at the mistake (checked on check()'s own printed output),
while other right answers pass every test.

Most tests run in this process, without a kernel, as lab_runs.py says.
"""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest
from conftest import ROOT
from lab_runs import cell_of, check_output, defined_tests
from mutants.lab07 import MUTANTS

from socket2flask.grading import grader, sandbox
from socket2flask.grading.check import NOT_ANSWERED, PASSED
from socket2flask.grading.labs import lab_notebook
from socket2flask.grading.notebook import dumps, grading, read, strip_hidden
from socket2flask.labtools import step7

SOLUTION = ROOT / "solutions" / "07_async_lab.ipynb"
LAB = ROOT / "labs" / "07_async_lab.ipynb"
QUESTIONS = ("q1", "q2", "q3", "q4", "q5", "q6", "q7")
BUDGET = 60  # seconds the solution may take headless (issue 18); a bound against hangs here


def report(question: str, changes=(), hidden: bool = False, path: Path = SOLUTION) -> str:
    """What check(question) prints for the lab at `path` (lab_runs.check_output)."""
    return check_output(path, question, changes, hidden)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_reference_answers_pass_every_test(question):
    text = report(question, hidden=True)
    assert text.startswith(f"{question}: passed ✓"), text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_generated_lab_says_not_answered_yet(question):
    started = time.monotonic()
    assert report(question, path=LAB).startswith(f"{question}: not answered yet."), question
    assert time.monotonic() - started < 20  # a stub fails at once: nothing waits for a timeout


@pytest.mark.timeout(240)
def test_the_grader_gives_the_solution_100_and_the_lab_0(tmp_path):
    """Both graded as submissions, in kernels of their own (inside bwrap where it exists)."""
    graded_lab = lab_notebook(read(SOLUTION), SOLUTION.name, hidden_tests=True)
    (tmp_path / "lab.ipynb").write_text(dumps(lab_notebook(read(SOLUTION), SOLUTION.name)))
    submissions = {"solution": SOLUTION, "lab": tmp_path / "lab.ipynb"}
    limits = grader.Limits(cell=30, notebook=120)
    full, zero = asyncio.run(grader.grade_all(submissions, graded_lab, limits, 2, lambda g: None))
    assert full.reasons == [], "\n".join(full.reasons)
    assert (sum(full.points.values()), full.status) == (100, "ok")
    assert set(zero.points.values()) == {0.0} and zero.status == "ok"
    assert {t["status"] for tests in zero.tests.values() for t in tests} == {NOT_ANSWERED}
    assert {t["status"] for tests in full.tests.values() for t in tests} == {PASSED}
    assert full.sandboxed == zero.sandboxed == sandbox.available()


@pytest.mark.timeout(300)
def test_the_solution_runs_headless_within_its_budget_without_leaks(run_notebook):
    """Under JupyterLab's protocol (the runner sends cell ids), shared with test_notebooks.py."""
    seconds, leaks, nb = run_notebook(SOLUTION)
    assert not leaks, leaks
    assert seconds < BUDGET, f"{seconds:.1f} s"
    score = [c for c in nb.cells if c.cell_type == "code" and "check_all()" in c.source]
    printed = "".join(o.get("text", "") for o in score[0].outputs)
    assert "100 of 100 points" in printed and "servers still running: []" in printed, printed


def test_seven_questions_worth_100_points_each_with_visible_and_hidden_tests():
    graded = [c for c in read(SOLUTION).cells if grading(c).get("grade")]
    assert [grading(c)["grade_id"] for c in graded] == list(QUESTIONS)
    assert sum(grading(c)["points"] for c in graded) == 100
    for cell in graded:
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert "def test_" in visible and "def test_" in hidden, grading(cell)["grade_id"]


def test_every_test_has_a_one_line_title_and_every_visible_test_a_hint():
    """The grader names a failed hidden test by its title (its docstring's first line, which must
    say all of it); check() shows a visible test's hint."""
    missing = []
    for question in QUESTIONS:
        source = cell_of(SOLUTION, question)
        visible = {f.name for f in defined_tests(strip_hidden(source))}
        for function in defined_tests(source):
            doc = ast.get_docstring(function) or ""
            title = doc.split("\n\n")[0]
            if not doc.strip() or "\n" in title:
                missing.append(f"{question} {function.name}: no title of one line")
            elif function.name in visible and "\nHint: " not in doc:
                missing.append(f"{question} {function.name}: no Hint: paragraph")
    assert not missing, missing


def _bound(source: str) -> set[str]:
    """The names a cell binds at its top level: definitions, imports, assignments."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_no_test_cell_hides_a_name_of_the_learners_cells():
    """A test cell runs in the learner's namespace: a helper or an import of the same name as one
    of the learner's (their q1 `Client`, their q3 `lifespan`) would replace it for every later
    test, check_all() included."""
    cells = [c for c in read(SOLUTION).cells if c.cell_type == "code" and grading(c)]
    theirs = set().union(*(_bound(c.source) for c in cells if not grading(c).get("grade")))
    shared = {"asyncio", "socket", "struct", "sys", "io", "Request", "Callable", "Awaitable"}
    for cell in cells:
        if grading(cell).get("grade"):
            hidden = (_bound(cell.source) & theirs) - shared
            assert not hidden, f"{grading(cell)['grade_id']} binds {sorted(hidden)}"


def test_labtools_step7_stays_within_the_size_of_a_module_a_learner_reads():
    assert len(Path(step7.__file__).read_text(encoding="utf-8").splitlines()) <= 300


# What check() must print for each wrong answer of tests/mutants/lab07.py, so that the learner is
# told what went wrong (the hint of the test that catches it, or its own message).
SHOWN = {
    "q1_accepted_socket_left_blocking": "the server stopped reading (stuck in a send()",
    "q1_outbox_dropped_at_eof": "send the rest of its outbox",
    "q1_reset_not_caught": "your code raised, in the server: ConnectionResetError",
    "q1_always_asking_to_write": "a socket with room in its buffer is always writable",
    "q1_closed_without_unregister": "unregister that connection, close it",
    "q2_one_read_per_request": "A reader.read(65536) takes the next requests too",
    "q2_body_from_the_same_read": "read(length) returns what has come so far",
    "q2_idle_timeout_hard_coded": "asyncio.timeout(IDLE_TIMEOUT), read when the call runs",
    "q2_connection_kept_after_an_error": "on HTTPError, write error_response(error) and return",
    "q2_incomplete_read_not_caught": "your code raised, in the server: IncompleteReadError",
    "q2_connection_tokens_case_sensitive": "tokens are comma-separated, in any case",
    "q2_no_drain": "await writer.drain(): it waits while the client does not read",
    "q3_first_body_message_only": "read http.request messages until one has more_body false",
    "q3_count_in_one_message": 'send each line with "more_body": True',
    "q3_header_value_a_str": "headers must be pairs of bytes",
    "q3_header_names_capitalized": "names in lower case: [(b'Content-Type'",
    "q4_http_version_with_its_prefix": "'http_version': ('1.1', 'HTTP/1.1')",
    "q4_chunk_size_in_decimal": "the body is not framed right",
    "q4_no_last_chunk": "the body of a 200 did not end",
    "q4_empty_body_as_a_chunk": "the first answer did not end where its framing said",
    "q4_no_drain": "meanwhile nothing more is read from the client",
    "q5_wsgi_app_on_the_loop": "the first request blocks the loop",
    "q5_body_never_closed": "call result.close() in a finally:",
    "q5_repeated_header_overwritten": "'HTTP_ACCEPT': ('text/html, */*', '*/*')",
    "q5_body_read_on_the_loop": "call the WSGI app and read its body",
    "q5_header_names_as_the_app_wrote_them": "names in lower case: [(b'Content-Type'",
    "q6_connection_must_be_exactly_upgrade": "Connection and Upgrade are lists of tokens",
    "q6_key_decoded_before_hashing": "the key as sent (not decoded)",
    "q6_wrong_version_gets_400": "the only version this server speaks",
    "q6_key_not_validated": "without validate=True",
    "q7_unmasked_frames_accepted": "a client's frame must be masked",
    "q7_size_checked_after_the_payload": "as soon as it is read, before the key and the payload",
    "q7_seven_bit_length_up_to_126": "up to 125 in byte 1",
    "q7_ping_echoed_as_a_ping": "(a pong for a ping)",
    "q7_signed_16_bit_length": 'unsigned: "!h" reads 65535 as -1',
    "q7_fin_always_set": "byte 0: 0x80 if fin",
    "q7_no_drain": "no more frames are read from it",
}


def test_every_wrong_answer_has_its_message():
    assert sorted(SHOWN) == sorted(m.name for m in MUTANTS)
    assert len(MUTANTS) >= 8 and {m.cell.split("_")[0] for m in MUTANTS} == set(QUESTIONS)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_a_wrong_answer_is_caught_with_a_message_that_helps(mutant):
    question = mutant.cell.split("_")[0]
    text = report(question, [(mutant.cell, mutant.old, mutant.new)])
    assert f"{question}: failed ✗" in text, (
        f"the visible tests of {question} let this pass:\n{text}"
    )
    assert SHOWN[mutant.name] in text, f"no {SHOWN[mutant.name]!r} in what check() printed:\n{text}"
    assert "Traceback" not in text  # on stdout, nor on stderr (a server thread's)


# Right answers that are not the reference's: they must pass every test, visible and hidden.
RIGHT = {
    "q1: select() with a timeout": (
        "q1",
        [
            (
                "q1_answer",
                "for key, events in selector.select():",
                "for key, events in selector.select(timeout=0.05):",
            )
        ],
    ),
    "q2: asyncio.wait_for instead of asyncio.timeout": (
        "q2",
        [
            (
                "q2_answer",
                "        async with asyncio.timeout(IDLE_TIMEOUT):\n"
                "            first = await reader.read(1)",
                "        first = await asyncio.wait_for(reader.read(1), IDLE_TIMEOUT)",
            )
        ],
    ),
    "q5: loop.run_in_executor": (
        "q5",
        [
            (
                "q5_answer2",
                "await asyncio.to_thread(self.run_wsgi, environ)",
                "await asyncio.get_running_loop().run_in_executor(None, self.run_wsgi, environ)",
            )
        ],
    ),
    "q6: the key checked by its length first": (
        "q6",
        [
            (
                "q6_answer",
                "if len(base64.b64decode(key, validate=True)) != 16:",
                "if len(key) != 24 or len(base64.b64decode(key, validate=True)) != 16:",
            )
        ],
    ),
    "q7: unmasked with whole numbers": (
        "q7",
        [
            (
                "q7_answer",
                "return Frame(fin, opcode, bytes(byte ^ key[n % 4] for n, byte in "
                "enumerate(masked)))",
                "mask = (key * (length // 4 + 1))[:length]\n"
                "    payload = int.from_bytes(masked, 'big') ^ int.from_bytes(mask, 'big')\n"
                "    return Frame(fin, opcode, payload.to_bytes(length, 'big'))",
            )
        ],
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("what", RIGHT)
def test_other_right_answers_pass_every_test(what):
    question, changes = RIGHT[what]
    text = report(question, changes, hidden=True)
    assert text.startswith(f"{question}: passed ✓"), f"{what}:\n{text}"
