"""Step 1 lab: the reference answers pass every test, visible and hidden; the fuzz set is real
(over a hundred cases); and plausible wrong answers are caught, each with a message that helps.

The tests run in this process, without a kernel: the solution notebook's cells are executed in one
namespace (answers, helpers, then the test cells without their `check(...)` call), and each
question's test functions are called directly, each in a thread with a time limit.
"""

from __future__ import annotations

import importlib
import re
import threading

import nbformat
import pytest
from conftest import ROOT

CHECK = importlib.import_module("socket2flask.grading.check")  # the module, not its check()

SOLUTION = ROOT / "solutions" / "01_raw_socket_lab.ipynb"
QUESTIONS = ("q1", "q2", "q3", "q4", "q5", "q6", "q7")


def grading(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def lab_namespace(override: str | tuple[str, str] = "", question: str = "") -> dict:
    """Every cell of the solution run in order (check() calls left out), then `override`: code
    that replaces some answers with wrong ones, or (old, new): the answer cell of `question`
    run again with `old` replaced by `new`."""
    namespace: dict = {"__name__": "lab01"}
    cells = nbformat.read(SOLUTION, as_version=4).cells
    if isinstance(override, tuple):
        answer = next(c.source for c in cells if grading(c).get("grade_id") == f"{question}_answer")
        assert override[0] in answer, f"not in the answer to {question}: {override[0]!r}"
        override = answer.replace(override[0], override[1])
    for cell in cells:
        if cell.cell_type != "code" or not grading(cell):
            continue  # plain cells: check_all() and the closing demo
        source = re.sub(r"^check\(.*\)\s*$", "", cell.source, flags=re.M)
        exec(
            compile(source, f"<{grading(cell)['grade_id']}>", "exec", dont_inherit=True), namespace
        )
    if override:
        exec(compile(override, "<wrong answer>", "exec", dont_inherit=True), namespace)
    return namespace


def question_tests(namespace: dict, question: str) -> list:
    return [
        f
        for name, f in namespace.items()
        if name.startswith("test_") and callable(f) and f.__code__.co_filename == f"<{question}>"
    ]


def run(test, seconds: float = 30) -> BaseException | None:
    """Call one test in a daemon thread; its exception, a TimeoutError, or None if it passed."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            test()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return TimeoutError(f"{test.__name__} still running after {seconds} s")
    return errors[0] if errors else None


def failures(namespace: dict, question: str) -> list[tuple[str, BaseException]]:
    """(name, error) of each test of `question` that does not pass."""
    return [
        (test.__name__, error)
        for test in question_tests(namespace, question)
        if (error := run(test)) is not None
    ]


@pytest.fixture(scope="module")
def reference() -> dict:
    return lab_namespace()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_reference_answers_pass_every_test(reference, question):
    tests = question_tests(reference, question)
    assert len(tests) >= 3, f"{question} has only {len(tests)} tests"
    assert not failures(reference, question)


def test_the_lab_has_six_questions_or_more_worth_100_points_with_hidden_tests():
    cells = nbformat.read(SOLUTION, as_version=4).cells
    graded = [c for c in cells if grading(c).get("grade")]
    assert [grading(c)["grade_id"] for c in graded] == list(QUESTIONS)
    assert sum(grading(c)["points"] for c in graded) == 100
    for cell in graded:
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert "def test_" in visible and "def test_" in hidden, grading(cell)["grade_id"]


def test_the_fuzz_set_has_over_a_hundred_hostile_inputs(reference):
    cases = reference["fuzz_cases"]()
    assert len(cases) >= 100
    kinds = " ".join(what for what, *_ in cases)
    for needed in (
        "cut after",
        "reset",
        "random bytes",
        "drip",
        "too large",
        "\\xff",
        "Content-Length",
    ):
        assert needed in kinds, f"no fuzz case about {needed!r}"


# Plausible wrong answers, and the question whose tests must catch each.
WRONG = {
    "request line split on any whitespace": (
        "q1",
        """
def parse_request_line(line):
    method, target, version = line.decode("latin-1").split()
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HTTPError(505, version)
    if method not in METHODS:
        raise HTTPError(501, method)
    return method, target, version
""",
    ),
    "methods compared case-insensitively": (
        "q1",
        """
_right = parse_request_line
def parse_request_line(line):
    method, _, rest = line.partition(b" ")
    return _right(method.upper() + b" " + rest)
""",
    ),
    "a plus in the path decoded as a space": (
        "q2",
        """
from urllib.parse import unquote_plus
def parse_target(target):
    path, _, query = target.partition("?")
    return unquote_plus(path), query
""",
    ),
    "query split by hand, not decoded": (
        "q2",
        """
def parse_query(query_string):
    pairs = [p.split("=", 1) for p in query_string.split("&") if "=" in p]
    return {k: [v] for k, v in pairs}
""",
    ),
    "Content-Length read with int()": (
        "q3",
        """
def content_length(headers):
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HTTPError(400, "bad Content-Length") from None
    if length > MAX_BODY_BYTES:
        raise HTTPError(413, "too large")
    return length
""",
    ),
    "a space before the colon tolerated": (
        "q3",
        """
def parse_headers(lines):
    headers = {}
    for line in lines:
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise HTTPError(400, "no colon")
        headers[name.strip().lower()] = value.strip()
    return headers
""",
    ),
    "body ignored": (
        "q4",
        """
_right = read_request
def read_request(conn, buffer):
    request = _right(conn, buffer)
    if request is not None and request.body:
        buffer[:0] = request.body  # the body is left for the "next request"
        request.body = b""
    return request
""",
    ),
    "one recv is the whole request": (
        "q4",
        """
def read_request(conn, buffer):
    data = conn.recv(65536)
    if not data:
        return None
    head, _, body = data.partition(b"\\r\\n\\r\\n")
    line, *lines = head.split(b"\\r\\n")
    method, target, version = parse_request_line(line)
    path, query = parse_target(target)
    return Request(method, target, version, path, query, parse_query(query), parse_headers(lines), body)
""",
    ),
    "a timeout per recv instead of a deadline": (
        "q4",
        """
import time as _time
def receive(conn, buffer, deadline):
    conn.settimeout(REQUEST_TIMEOUT)  # each recv may wait the whole time again
    chunk = conn.recv(65536)
    buffer += chunk
    return bool(chunk)
""",
    ),
    "no Content-Length in responses": (
        "q5",
        """
from http import HTTPStatus as _Status
def build_response(status, headers, body=b"", *, head=False):
    fields = list(headers.items()) if isinstance(headers, dict) else list(headers)
    lines = [f"HTTP/1.1 {status} {_Status(status).phrase}"] + [f"{n}: {v}" for n, v in fields]
    return ("\\r\\n".join(lines) + "\\r\\n\\r\\n").encode() + (b"" if head else body)
""",
    ),
    "no Date header": (
        "q5",
        (
            """    if "date" not in names:
        fields.append(("Date", formatdate(usegmt=True)))
""",
            "",
        ),
    ),
    "header values not checked for CR LF": (
        "q5",
        """
from email.utils import formatdate as _date
from http import HTTPStatus as _Status
def build_response(status, headers, body=b"", *, head=False):
    fields = list(headers.items()) if isinstance(headers, dict) else list(headers)
    names = {n.lower() for n, _ in fields}
    if "content-length" not in names and status >= 200 and status != 204:
        fields.append(("Content-Length", str(len(body))))
    if "date" not in names:
        fields.append(("Date", _date(usegmt=True)))
    lines = [f"HTTP/1.1 {status} {_Status(status).phrase}"] + [f"{n}: {v}" for n, v in fields]
    data = ("\\r\\n".join(lines) + "\\r\\n\\r\\n").encode("latin-1")
    return data if head or status < 200 or status in (204, 304) else data + body
""",
    ),
    # Below, (question, (old, new)): the reference answer with one piece of it changed.
    "HTTPError not answered": (
        "q6",
        (
            """        except HTTPError as error:
            try:
                conn.settimeout(REQUEST_TIMEOUT)
                conn.sendall(error_response(error))
            except OSError:
                return
            close_gently(conn)
            return""",
            """        except HTTPError:
            return  # hang up without a word""",
        ),
    ),
    "head and body in two sends": (
        "q6",
        (
            "conn.sendall(data)  # head and body in one go",
            "split = data.index(b'\\r\\n\\r\\n') + 4\n"
            "            conn.sendall(data[:split])\n"
            "            conn.sendall(data[split:])  #",
        ),
    ),
    "always closes after one response": (
        "q6",
        ("if not keep_alive:\n            close_gently", "if True:\n            close_gently"),
    ),
    "HTTP/1.0 kept alive by default": (
        "q6",
        ('(request.version != "HTTP/1.0" or "keep-alive" in tokens)', "True"),
    ),
    "app errors not caught": (
        "q6",
        (
            "except Exception:\n            traceback.print_exc()",
            "except ZeroDivisionError:\n            traceback.print_exc()",
        ),
    ),
    "echo body as str": (
        "q7",
        """
def echo_app(request):
    if request.path == "/echo":
        return 200, [], "hello ~~~ " + request.query.get("a", [""])[0]
    return 200, [], "Hello, Seven"
""",
    ),
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("what", WRONG)
def test_a_wrong_answer_is_caught_with_a_helpful_message(what):
    """Every test that fails on a wrong answer says what to look at (a hint), and a wrong result
    says for which input: read as check() shows it to the learner."""
    question, code = WRONG[what]
    namespace = lab_namespace(code, question)
    found = failures(namespace, question)
    assert found, f"the tests of {question} let this wrong answer pass: {what}"
    tests = {test.__name__: test for test in question_tests(namespace, question)}
    for name, error in found:
        assert not isinstance(error, TimeoutError), f"{name} hung on: {what}"
        shown = CHECK._verdict(tests[name], error)
        assert shown.status != CHECK.NOT_ANSWERED, f"{name} took {what!r} for a stub"
        assert "hint:" in shown.message, f"{name} shows no hint for {what!r}:\n{shown.message}"
        if isinstance(error, CHECK.Mismatch):
            assert "input:" in shown.message, (
                f"{name} shows no input for {what!r}:\n{shown.message}"
            )


def test_every_test_has_a_hint():
    """A "Hint:" paragraph in each test's docstring: check() shows it under any failure, an
    exception from the learner's code included, so that no failure leaves the learner guessing."""
    namespace = lab_namespace()
    for question in QUESTIONS:
        for test in question_tests(namespace, question):
            assert "Hint:" in (test.__doc__ or ""), f"{question}: {test.__name__} has no Hint"


def test_the_test_cells_are_short_enough_to_read():
    """The shared helpers live in the locked tools cell, so the part of a test cell a learner sees
    is mostly tests."""
    cells = nbformat.read(SOLUTION, as_version=4).cells
    for cell in cells:
        if grading(cell).get("grade"):
            visible = cell.source.partition("### BEGIN HIDDEN TESTS")[0]
            # 175, not 80: every behaviour the grader scores has a visible test (issue 14), chunked too (16).
            assert len(visible.splitlines()) <= 175, (
                f"{grading(cell)['grade_id']}: {len(visible.splitlines())} lines"
            )
