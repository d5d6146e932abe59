"""Step 1 lab: the reference answers pass every test, visible and hidden; each test cell stands on
its own (it imports its tools from socket2flask.labtools.step1); the fuzz set is real (over a
hundred cases); and plausible wrong answers are caught, each with a message that helps.

The tests run in this process, without a kernel: the solution's answers and given cells are loaded
with `load_answers`, a test cell is executed in that namespace without its `check(...)` call, and
each of its test functions runs under check()'s own runner, which gives the verdict a learner sees.
"""

from __future__ import annotations

import importlib

import pytest
from conftest import ROOT

from socket2flask.grading.notebook import grading, is_test, load_answers, read
from socket2flask.labtools import step1

CHECK = importlib.import_module("socket2flask.grading.check")  # the module, not its check()

SOLUTION = ROOT / "solutions" / "01_raw_socket_lab.ipynb"
QUESTIONS = ("q1", "q2", "q3", "q4", "q5", "q6", "q7")
LIMIT = 30  # seconds per test: far more than any needs, so that only a hang hits it


def cells_of_tests() -> dict[str, str]:
    """Each question's test cell, without its closing `check(...)` call."""
    cells = [cell for cell in read(SOLUTION).cells if is_test(cell)]
    return {grading(c)["grade_id"]: c.source[: c.source.rindex("\ncheck(")] for c in cells}


def lab_namespace(questions=QUESTIONS, override: str | tuple[str, str] = "") -> dict:
    """The solution's answers and given cells (load_answers), then the test cells of `questions`,
    then `override`: code that replaces an answer with a wrong one, or (old, new): the answer cell
    of the (one) question, run again with `old` replaced by `new`."""
    namespace = load_answers(SOLUTION)
    if isinstance(override, tuple):
        (question,) = questions
        answer = next(
            c.source
            for c in read(SOLUTION).cells
            if grading(c).get("grade_id") == f"{question}_answer"
        )
        assert override[0] in answer, f"not in the answer to {question}: {override[0]!r}"
        override = answer.replace(*override)
    for question in questions:
        code = compile(cells_of_tests()[question], f"<{question}>", "exec", dont_inherit=True)
        exec(code, namespace)
    if override:
        exec(compile(override, "<wrong answer>", "exec", dont_inherit=True), namespace)
    return namespace


def question_tests(namespace: dict, question: str) -> list:
    return [
        f
        for name, f in namespace.items()
        if name.startswith("test_") and callable(f) and f.__code__.co_filename == f"<{question}>"
    ]


def failures(namespace: dict, question: str) -> list:
    """check()'s verdict (an Outcome) on each test of `question` that does not pass."""
    outcomes = [CHECK._run(test, LIMIT) for test in question_tests(namespace, question)]
    return [outcome for outcome in outcomes if outcome.status != CHECK.PASSED]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_reference_answers_pass_every_test_of_a_cell_run_on_its_own(question):
    """Only the answers and this one test cell: the cell imports every tool it uses, so a learner
    who restarted the kernel, or skipped another test cell, gets the same verdict."""
    namespace = lab_namespace([question])
    assert len(question_tests(namespace, question)) >= 3, f"{question} has too few tests"
    assert not failures(namespace, question)


def test_the_lab_has_six_questions_or_more_worth_100_points_with_hidden_tests():
    cells = read(SOLUTION).cells
    graded = [c for c in cells if grading(c).get("grade")]
    assert [grading(c)["grade_id"] for c in graded] == list(QUESTIONS)
    assert sum(grading(c)["points"] for c in graded) == 100
    for cell in graded:
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert "def test_" in visible and "def test_" in hidden, grading(cell)["grade_id"]


def test_the_test_tools_live_in_the_package_and_each_test_cell_imports_them():
    """No cell of the lab defines the tools (issue 19): they are socket2flask.labtools.step1's."""
    sources = [cell.source for cell in read(SOLUTION).cells if cell.cell_type == "code"]
    for name in ("result_of", "request_from", "converse", "hostile", "read_statuses"):
        assert not any(f"def {name}(" in source for source in sources), name
        assert callable(getattr(step1, name)), name
    for question, source in cells_of_tests().items():
        assert "from socket2flask.labtools.step1 import" in source, question


def test_the_fuzz_set_has_over_a_hundred_hostile_inputs():
    cases = lab_namespace(["q6"])["fuzz_cases"]()
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


def test_result_of_names_the_learners_own_frame():
    """Not a frame of Python's library or of the package's tools: the learner's function."""
    mine: dict = {}
    code = "def parse(text):\n    from urllib.parse import unquote\n    return unquote(text)\n"
    exec(compile(code, "<your cell>", "exec"), mine)
    got = step1.result_of(mine["parse"], None)
    assert got.startswith("raised TypeError: ") and got.endswith("(in parse, line 3)"), got


def test_result_of_gives_an_http_errors_status_and_lets_a_stub_say_not_answered():
    class HTTPError(Exception):
        def __init__(self, status: int) -> None:
            super().__init__(status)
            self.status = status

    class NotFound(HTTPError):  # a learner's own kind of HTTPError
        pass

    def refuse() -> None:
        raise NotFound(404)

    def stub() -> None:
        raise NotImplementedError()

    assert step1.result_of(refuse) == 404
    with pytest.raises(NotImplementedError):
        step1.result_of(stub)
    verdict = CHECK._run(lambda: step1.result_of(stub), LIMIT)
    assert verdict.status == CHECK.NOT_ANSWERED


def test_a_given_cell_not_run_says_so_and_is_no_wrong_result():
    """After a restart, the answer cells run but not q1's given cell: the tests meet a NameError in
    the learner's parse_request_line, and say to run the cells above, not "wrong result" with an
    unrelated hint."""
    cells = {grading(c).get("grade_id"): c.source for c in read(SOLUTION).cells}
    defined: dict = {}
    exec(cells["q1_given"], defined)
    namespace = lab_namespace(["q1"])
    for name in set(defined) - {"__builtins__"}:
        del namespace[name]  # TOKEN, METHODS, HTTPError, its imports...
    exec(cells["q1_answer"], namespace)  # run again after the restart: its own imports come back
    outcomes = [CHECK._run(test, LIMIT) for test in question_tests(namespace, "q1")]
    assert {o.status for o in outcomes} == {CHECK.NOT_ANSWERED}, outcomes
    report = CHECK._report("q1", outcomes)
    assert report.startswith("q1: not answered yet."), report
    assert "`TOKEN` is not defined" in report and "run the cells above first" in report, report


def test_patched_sets_the_notebooks_constants_for_a_while():
    notebook = {"IDLE_TIMEOUT": 5.0}
    with step1.patched(notebook, IDLE_TIMEOUT=0.2, LINGER_SECONDS=0.1):
        assert notebook == {"IDLE_TIMEOUT": 0.2, "LINGER_SECONDS": 0.1}
    assert notebook == {"IDLE_TIMEOUT": 5.0}


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
    query_dict, headers = parse_query(query), parse_headers(lines)
    return Request(method, target, version, path, query, query_dict, headers, body)
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
        (
            '(\n            request.version != "HTTP/1.0" or "keep-alive" in tokens\n        )',
            "True",
        ),
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
    says for which input: as check() shows it to the learner."""
    question, code = WRONG[what]
    found = failures(lab_namespace([question], code), question)
    assert found, f"the tests of {question} let this wrong answer pass: {what}"
    for outcome in found:
        assert outcome.status != CHECK.TIMED_OUT, f"{outcome.test} hung on: {what}"
        assert outcome.status != CHECK.NOT_ANSWERED, f"{outcome.test} took {what!r} for a stub"
        assert "hint:" in outcome.message, (
            f"{outcome.test}: no hint for {what!r}:\n{outcome.message}"
        )
        if outcome.message.startswith("wrong result"):
            assert "input:" in outcome.message, (
                f"{outcome.test} shows no input for {what!r}:\n{outcome.message}"
            )


def test_every_test_has_a_hint():
    """A "Hint:" paragraph in each test's docstring: check() shows it under any failure, an
    exception from the learner's code included, so that no failure leaves the learner guessing."""
    namespace = lab_namespace()
    for question in QUESTIONS:
        for test in question_tests(namespace, question):
            assert "Hint:" in (test.__doc__ or ""), f"{question}: {test.__name__} has no Hint"


def test_the_test_cells_are_short_enough_to_read():
    """The tools live in socket2flask.labtools.step1, so the part of a test cell a learner sees is
    mostly tests."""
    for question, source in cells_of_tests().items():
        visible = source.partition("### BEGIN HIDDEN TESTS")[0]
        # 175, not 80: every behaviour the grader scores has a visible test (issue 14), chunked
        # too (issue 16).
        assert len(visible.splitlines()) <= 175, f"{question}: {len(visible.splitlines())} lines"
