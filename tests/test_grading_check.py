"""check() and check_all() as a learner sees them, without a kernel (and lab 01's closing cell in
one).

Each "cell" is compiled under a file name of its own and its lines put in linecache, as IPython
does, so that check() finds the tests defined in the cell that calls it and no others.
"""

from __future__ import annotations

import importlib
import itertools
import linecache
import shutil
import threading
import time

import nbformat
import pytest
from conftest import ROOT

# The module, not the function: `from socket2flask.grading import check` gives the function.
check_module = importlib.import_module("socket2flask.grading.check")

_cells = itertools.count(1)

ANSWER = """
def parse(line):
    method, target, version = line.split(b" ")
    return method, target, version
"""


def run_cell(source: str, namespace: dict) -> None:
    """Run code as IPython runs a cell: a file name of its own, and its lines in linecache."""
    filename = f"<cell {next(_cells)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)


FIXTURE_LAB = ROOT / "tests" / "fixtures" / "grading" / "labs" / "00_request_lines_lab.ipynb"
FIXTURE_SOLUTION = (
    ROOT / "tests" / "fixtures" / "grading" / "solutions" / "00_request_lines_lab.ipynb"
)


@pytest.fixture
def kernel(monkeypatch, tmp_path) -> dict:
    """A fresh 'kernel namespace' with the checks imported, and no results left from other tests,
    running in an empty folder of its own (check_all() looks for the lab's notebook there)."""
    monkeypatch.setattr(check_module, "_checked", {})
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    run_cell("from socket2flask.grading import check, check_all, expect", namespace)
    return namespace


@pytest.mark.timeout(20)
def test_a_failed_expectation_shows_input_expected_got_and_hint(kernel, capsys):
    run_cell(ANSWER, kernel)
    run_cell(
        '''
def test_simple():
    """a simple GET"""
    line = b"GET / HTTP/1.1"
    expect(parse(line), ("GET", "/", "HTTP/1.1"), given=line, hint="decode the bytes first")

def test_same_bytes():
    expect(parse(b"GET / HTTP/1.1"), (b"GET", b"/", b"HTTP/1.1"))

check("q1")
''',
        kernel,
    )
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "q1: failed ✗ (1 of 2 tests passed)",
        "  ✗ a simple GET: wrong result",
        "      input:    b'GET / HTTP/1.1'",
        "      expected: ('GET', '/', 'HTTP/1.1')",
        "      got:      (b'GET', b'/', b'HTTP/1.1')",
        "      hint:     decode the bytes first",
        "  ✓ same bytes",
    ]


@pytest.mark.timeout(20)
def test_a_stub_is_not_answered_yet_never_a_traceback(kernel, capsys):
    run_cell("def parse(line):\n    # YOUR CODE HERE\n    raise NotImplementedError()", kernel)
    run_cell(
        "def test_a():\n    parse(b'x')\n\ndef test_b():\n    unknown_yet(1)\n\ncheck('q1')", kernel
    )
    out = capsys.readouterr().out
    assert out.startswith("q1: not answered yet.") and "NotImplementedError" not in out
    assert "Traceback" not in out


@pytest.mark.timeout(20)
def test_a_loop_times_out_without_sigalrm_and_the_thread_is_stopped(kernel, capsys):
    run_cell("def parse(line):\n    while True:\n        pass", kernel)
    started = time.monotonic()
    run_cell("def test_loops():\n    parse(b'x')\n\ncheck('q1', timeout=0.5)", kernel)
    assert time.monotonic() - started < 3
    assert "✗ loops: timed out after 0.5 s" in capsys.readouterr().out
    deadline = time.monotonic() + 3
    while (
        any(t.name.startswith("check ") for t in threading.enumerate())
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert not any(t.name.startswith("check ") for t in threading.enumerate()), (
        "the runaway test kept running"
    )


@pytest.mark.timeout(20)
def test_errors_show_a_short_excerpt_of_the_learners_code(kernel, capsys):
    run_cell(ANSWER, kernel)
    run_cell(
        """
def test_short_line():
    parse(b"GET /")

def test_plain_assert():
    assert parse(b"A B C") == 3

def test_assert_with_message():
    assert False, "should have raised ValueError"

def test_exit():
    import sys
    sys.exit(1)

def answer_of(request):  # a helper in the test cell: its assert is the test's
    assert parse(request) == 3, "a helper found a wrong answer"

def test_helper_assert():
    answer_of(b"A B C")

check("q2")
""",
        kernel,
    )
    out = capsys.readouterr().out
    assert "✗ short line: your code raised ValueError: not enough values to unpack" in out
    assert '      in parse, line 3: method, target, version = line.split(b" ")' in out
    assert '✗ plain assert: this was false: assert parse(b"A B C") == 3' in out
    assert "✗ assert with message: should have raised ValueError" in out
    assert "✗ exit: your code called sys.exit()" in out
    assert "✗ helper assert: a helper found a wrong answer" in out
    assert "Traceback" not in out and "AssertionError" not in out


@pytest.mark.timeout(20)
def test_check_runs_only_the_tests_of_its_own_cell(kernel, capsys):
    run_cell(ANSWER, kernel)
    run_cell("def test_first():\n    pass\n\ncheck('q1')", kernel)
    run_cell("def test_second():\n    raise AssertionError('q2 fails')\n\ncheck('q2')", kernel)
    out = capsys.readouterr().out
    assert (
        "q1: passed ✓ (1 of 1 tests passed)" in out and "q2: failed ✗ (0 of 1 tests passed)" in out
    )
    run_cell("check('q3')", kernel)
    assert "no tests found" in capsys.readouterr().out


def cells_of(path, *grade_ids: str) -> list[str]:
    """The sources of some cells of a lab, by grade id."""
    cells = nbformat.read(path, as_version=4).cells
    return [
        next(c.source for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == g)
        for g in grade_ids
    ]


@pytest.mark.timeout(20)
def test_check_all_lists_every_question_of_the_lab_in_points(kernel, capsys, tmp_path):
    shutil.copy(FIXTURE_LAB, tmp_path / "my lab.ipynb")  # the notebook, in the kernel's folder
    run_cell("check_all()", kernel)
    assert capsys.readouterr().out.splitlines() == [
        "q1  Parse a request line    0 of 2    not run yet",
        "q2  Build a status line     0 of 1    not run yet",
        "0 of 3 points on the visible tests.",
        "Not run yet: q1, q2. Run their test cells, or Run > Run All Cells.",
    ]
    answer, tests = cells_of(FIXTURE_LAB, "q1_answer", "q1")
    run_cell(answer, kernel)  # the stub
    run_cell(tests, kernel)
    run_cell("check_all()", kernel)
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "q1  Parse a request line    0 of 2    not answered yet",
        "q2  Build a status line     0 of 1    not run yet",
        "0 of 3 points on the visible tests.",
        "Not run yet: q2. Run their test cells, or Run > Run All Cells.",
    ]
    # answered afterwards: seen by check_all
    run_cell(cells_of(FIXTURE_SOLUTION, "q1_answer")[0], kernel)
    run_cell(cells_of(FIXTURE_LAB, "q2")[0], kernel)
    capsys.readouterr()
    run_cell("check_all()", kernel)
    assert capsys.readouterr().out.splitlines() == [
        "q1  Parse a request line    2 of 2    passed ✓ (2 of 2 tests passed)",
        "q2  Build a status line     0 of 1    not answered yet",
        "2 of 3 points on the visible tests.",
    ]
    # All or nothing, as the grader scores: one failing test of q2 costs all of q2's points.
    run_cell("def status_line(code):\n    return b'HTTP/1.1 200 OK\\n'", kernel)
    run_cell("check_all()", kernel)
    assert capsys.readouterr().out.splitlines()[1:] == [
        "q2  Build a status line     0 of 1    failed ✗ (0 of 1 tests passed)",
        "2 of 3 points on the visible tests.",
    ]


@pytest.mark.timeout(20)
def test_check_all_finds_the_notebook_that_jupyterlab_or_vs_code_names(
    kernel, capsys, tmp_path, monkeypatch
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(FIXTURE_LAB, elsewhere / "lab.ipynb")
    kernel["__vsc_ipynb_file__"] = str(elsewhere / "lab.ipynb")  # what VS Code sets in the kernel
    run_cell("check_all()", kernel)
    assert "0 of 3 points on the visible tests." in capsys.readouterr().out
    del kernel["__vsc_ipynb_file__"]
    monkeypatch.setenv("JPY_SESSION_NAME", str(elsewhere / "lab.ipynb"))  # what JupyterLab sets
    run_cell("check_all()", kernel)
    assert "0 of 3 points on the visible tests." in capsys.readouterr().out


@pytest.mark.timeout(20)
def test_check_all_takes_only_a_notebook_whose_tests_check_ran(kernel, capsys, tmp_path):
    other = nbformat.read(FIXTURE_LAB, as_version=4)  # another lab with a q1, worth 5, newer
    other.cells[4].source = "def test_something_else():\n    pass\n\ncheck('q1')"
    other.cells[4].metadata.nbgrader.points = 5
    shutil.copy(FIXTURE_LAB, tmp_path / "00_request_lines_lab.ipynb")
    time.sleep(0.05)
    nbformat.write(other, tmp_path / "02_other_lab.ipynb")
    run_cell(cells_of(FIXTURE_SOLUTION, "q1_answer")[0], kernel)
    run_cell(cells_of(FIXTURE_LAB, "q1")[0], kernel)
    capsys.readouterr()
    run_cell("check_all()", kernel)
    assert "2 of 3 points on the visible tests." in capsys.readouterr().out


@pytest.mark.timeout(20)
def test_check_all_without_the_notebook_lists_what_ran_and_says_so(kernel, capsys):
    run_cell("def parse(line):\n    raise NotImplementedError()", kernel)
    run_cell(
        "def test_it():\n    expect(parse(b'a b c'), (b'a', b'b', b'c'))\n\ncheck('q1')", kernel
    )
    run_cell("def test_true():\n    pass\n\ncheck('q2')", kernel)
    run_cell(ANSWER, kernel)  # the learner answers q1 afterwards: check_all() sees the new answer
    capsys.readouterr()
    run_cell("check_all()", kernel)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["q1  passed ✓ (1 of 1 tests passed)", "q2  passed ✓ (1 of 1 tests passed)"]
    assert out[2].startswith(
        "This notebook's file was not found: only the questions checked so far are"
    )
    assert len(out) == 3 and "points" in out[2]


HTML = (
    "<!doctype html><html><head><title>Greetings</title></head><body><h1>Welcome</h1>"
    "<p>We are so glad that you came back to the shop again, "
    "and we hope you find what you need today.</p>"
    "<p>Hello, {}! Here is your basket.</p><p>Come back soon: we open at nine.</p></body></html>"
)


def verdict(kernel, capsys, expected: object, got: object) -> list[str]:
    """The lines check() prints for one test that expects `expected` and gets `got`."""
    kernel.update(EXPECTED=expected, GOT=got)
    run_cell("def test_value():\n    expect(GOT, EXPECTED)\n\ncheck('q1')", kernel)
    return capsys.readouterr().out.splitlines()[1:]


@pytest.mark.timeout(20)
def test_long_strings_show_where_they_first_differ(kernel, capsys):
    # the case
    expected, got = HTML.format("&lt;b&gt;Ann&lt;/b&gt;"), HTML.format("<b>Ann</b>")
    at = expected.index("&lt;")
    assert 280 < len(expected) < 320 and 190 < at < 210
    lines = verdict(kernel, capsys, expected, got)
    assert lines[0] == "  ✗ value: wrong result"
    assert (
        lines[1].startswith("      expected: …'") and "Hello, &lt;b&gt;Ann&lt;/b&gt;!" in lines[1]
    )
    assert lines[2].startswith("      got:      …'") and "Hello, <b>Ann</b>!" in lines[2]
    assert lines[3] == f"      differ:   from index {at} (lengths {len(expected)} and {len(got)})"
    # The same, as bytes on one line; and a difference at the very end still shows.
    lines = verdict(kernel, capsys, expected.encode(), got.encode())
    assert "b'" in lines[1] and "&lt;b&gt;" in lines[1] and "<b>Ann" in lines[2]
    lines = verdict(kernel, capsys, expected, expected + "!")
    assert lines[1].endswith("</html>'") and lines[2].endswith("</html>!'")
    n = len(expected)
    assert lines[3] == f"      differ:   from index {n} (lengths {n} and {n + 1})"


@pytest.mark.timeout(20)
def test_long_lists_and_dicts_show_where_their_reprs_differ(kernel, capsys):
    numbers = list(range(100))
    lines = verdict(kernel, capsys, numbers, numbers[:70] + [-70] + numbers[71:])
    assert ", 69, 70, 71," in lines[1] and ", 69, -70, 71," in lines[2]
    assert lines[3].startswith("      differ:   from character ") and lines[3].endswith(
        "of their reprs"
    )
    table = {f"header-{n}": f"value {n}" for n in range(30)}
    lines = verdict(kernel, capsys, table, {**table, "header-25": "value 52"})
    assert "'header-25': 'value 25'" in lines[1] and "'header-25': 'value 52'" in lines[2]


@pytest.mark.timeout(20)
def test_multi_line_text_and_bytes_show_the_lines_that_differ(kernel, capsys):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nServer: mine\r\n"
    expected = head + b"Content-Length: 5\r\nConnection: close\r\n\r\nhello"
    got = head + b"Content-Length: 6\r\nConnection: close\r\n\r\nhello!"
    assert verdict(kernel, capsys, expected, got) == [
        "  ✗ value: wrong result",
        "      expected (-) and got (+), the lines that differ:",
        "      at line 3:",
        "          b'Server: mine\\r\\n'",
        "        - b'Content-Length: 5\\r\\n'",
        "        + b'Content-Length: 6\\r\\n'",
        "          b'Connection: close\\r\\n'",
        "          b'\\r\\n'",
        "        - b'hello'",
        "        + b'hello!'",
    ]
    text = "\n".join(f"line {n}" for n in range(40))
    lines = verdict(kernel, capsys, text, text.replace("line 20", "line twenty"))
    assert "        - 'line 20\\n'" in lines and "        + 'line twenty\\n'" in lines


@pytest.mark.timeout(20)
def test_short_values_are_shown_whole(kernel, capsys):
    assert verdict(kernel, capsys, 200, "raised ValueError: bad (in parse, line 3)") == [
        "  ✗ value: wrong result",
        "      expected: 200",
        "      got:      'raised ValueError: bad (in parse, line 3)'",
    ]
    run_cell(
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "    def __eq__(self, other):\n"
        "        return type(other) is type(self) and other.x == self.x\n"
        "    def __repr__(self):\n"
        "        return f'Point({self.x})'\nold = Point(1)",
        kernel,
    )
    # the class cell run again: a new class, same repr
    run_cell("class Point(Point):\n    pass", kernel)
    lines = verdict(kernel, capsys, kernel["Point"](1), kernel["old"])
    assert lines[1:3] == ["      expected: Point(1)", "      got:      Point(1)"]
    assert lines[3].startswith("      differ:   not in how they print, but in their type or class")


@pytest.mark.timeout(20)
def test_an_exception_shows_where_and_who_called_and_the_docstring_hint(kernel, capsys):
    run_cell(
        """
def decode(text):
    return int(text, 36)

def get_url(short_id):
    return decode(short_id.upper() + "!")
""",
        kernel,
    )
    run_cell(
        '''
def test_lookup():
    """looking up a short id

    Hint: decode the id as it came, then look it up.
    """
    expect(get_url("ab"), 371)

def test_plain_assert():
    """an assertion with a hint

    Hint: compare bytes with bytes.
    """
    assert get_url.__name__ == "nope", "the function has the wrong name"

check("q5")
''',
        kernel,
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "  ✗ looking up a short id: your code raised ValueError: "
        "invalid literal for int() with base 36: 'AB!'"
    )
    assert lines[2].startswith("      in decode, line 3: return int(text, 36)")
    assert lines[3].startswith("      called from get_url, line 6: return decode(")
    assert lines[4] == "      hint:     decode the id as it came, then look it up."
    assert lines[5:] == [
        "  ✗ an assertion with a hint: the function has the wrong name",
        "      hint:     compare bytes with bytes.",
    ]


@pytest.mark.timeout(20)
def test_an_error_inside_the_tests_own_helper_is_not_blamed_on_the_learner(kernel, capsys):
    run_cell("def rules():\n    return ['/a', '/b']", kernel)
    run_cell(
        '''
def _flags(found):
    return sorted((rule.rule, rule.flag) for rule in found)

def test_flags():
    """each rule's flag

    Hint: return Rule objects, not strings.
    """
    _flags(rules())

check("q2")
''',
        kernel,
    )
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        "  ✗ each rule's flag: the test, on what your code returned, raised AttributeError: "
        "'str' object has no attribute 'rule'"
    )
    assert out[2] == "      hint:     return Rule objects, not strings."


@pytest.mark.timeout(180)
def test_lab_01_try_it_from_the_outside_says_what_is_wrong_in_one_line(tmp_path):
    """The lab's closing cell: the exchange when the server works, one line when it does not."""
    from kernels import kernel, run_code, text_of

    lab = ROOT / "labs" / "01_raw_socket_lab.ipynb"
    outside = next(
        c.source
        for c in nbformat.read(lab, as_version=4).cells
        if "wire.show(my_server" in c.source
    )
    solution = nbformat.read(ROOT / "solutions" / "01_raw_socket_lab.ipynb", as_version=4)
    # the answers and the given cells they read (not the tests), in order, as load_answers runs them
    answers = [
        c.source
        for c in solution.cells
        if c.cell_type == "code"
        and c.metadata.get("nbgrader")
        and not c.metadata["nbgrader"].get("grade")
    ]
    with kernel(tmp_path, tmp_path) as client:
        assert (
            text_of(
                run_code(
                    client,
                    "def make_handler(app):\n    raise NotImplementedError()\n"
                    "echo_app = None\n" + outside,
                )
            )
            == "Answer q6 and q7 first.\n"
        )
        for answer in answers:
            run_code(client, answer)
        works = text_of(run_code(client, outside))
        assert (
            works.startswith(">>> request")
            and "hello ~~~ python flask" in works
            and "Traceback" not in works
        )
        # A handle_connection that reads the request and closes without an answer.
        run_code(client, "def handle_connection(conn, addr, app):\n    conn.recv(65536)")
        broken = text_of(run_code(client, outside))
    assert broken.count("\n") == 1 and "Traceback" not in broken, broken
    assert broken.startswith("Your server gave no proper answer (ConnectionError: ")
    assert broken.rstrip().endswith(
        'Run check("q6") and check("q7") above: they show what is wrong.'
    )


@pytest.mark.timeout(20)
def test_a_question_that_fails_names_the_earlier_answer_it_uses_when_that_fails_too(kernel, capsys):
    run_cell("def read(data):\n    return data.upper()\n", kernel)  # a wrong answer to q1
    run_cell(
        """
def test_read():
    expect(read(b"ab"), b"ab", given=b"ab")
check("q1")
""",
        kernel,
    )
    # q2 is right, on q1's read
    run_cell("def serve_one(data):\n    return read(data) + b'!'\n", kernel)
    q2 = """
def test_serve_one():
    expect(serve_one(b"ab"), b"ab!", given=b"ab")
check("q2", uses={"q1": "read"})
"""
    capsys.readouterr()
    run_cell(q2, kernel)
    printed = capsys.readouterr().out
    assert "q2: failed" in printed
    assert "q2 uses your `read` from q1, which fails its own check: fix q1 first." in printed
    run_cell("def read(data):\n    return data\n", kernel)  # q1 fixed: q2 passes, and blames nobody
    run_cell(q2, kernel)
    assert "q2: passed" in (printed := capsys.readouterr().out) and "fix q1" not in printed


@pytest.mark.timeout(20)
def test_a_prerequisite_not_checked_yet_is_named(kernel, capsys):
    run_cell("def read(data):\n    return data.upper()\n", kernel)
    run_cell(
        """
def test_read_twice():
    expect(read(b"ab"), b"ab")
check("q2", uses={"q1": "read"})
""",
        kernel,
    )
    assert "q2 uses your `read` from q1: run q1's check first." in capsys.readouterr().out


@pytest.mark.timeout(20)
def test_a_name_missing_in_a_helper_of_the_test_cell_says_to_run_the_cells_above(kernel, capsys):
    """After a restart, a given cell not run again: the test cell's helper meets a NameError. That
    is "not answered yet", naming what is missing, not an error blamed on the learner."""
    run_cell(
        """
def environ_of(raw):
    return read_request(raw)
def test_reads():
    expect(environ_of(b"x"), b"x")
check("q1")
""",
        kernel,
    )
    printed = capsys.readouterr().out
    assert printed.startswith("q1: not answered yet."), printed
    assert (
        "`read_request` is not defined: run the cells above first (Run > Run All Above)" in printed
    )


@pytest.mark.timeout(20)
def test_a_question_not_answered_because_of_an_earlier_stub_names_it(kernel, capsys):
    run_cell("def read(data):\n    raise NotImplementedError()\n", kernel)  # q1: a stub
    run_cell("def test_read():\n    expect(read(b'a'), b'a')\ncheck('q1')", kernel)
    run_cell("def serve_one(data):\n    return read(data) + b'!'\n", kernel)  # q2: answered
    capsys.readouterr()
    run_cell(
        "def test_serve_one():\n    expect(serve_one(b'a'), b'a!')\n"
        "check('q2', uses={'q1': 'read'})",
        kernel,
    )
    printed = capsys.readouterr().out
    assert printed.startswith("q2: not answered yet."), printed
    assert "q2 uses your `read` from q1, which is not answered yet: answer q1 first." in printed


@pytest.mark.timeout(120)
@pytest.mark.parametrize("person", [True, False], ids=["jupyterlab", "nbgrader-like"])
def test_a_failed_check_raises_only_where_no_person_reads_it(person, tmp_path):
    """nbgrader scores a cell by whether it raises: under a program (nbclient, nbconvert: input not
    allowed) a failed check() raises its verdict; in JupyterLab it only prints it."""
    from kernels import kernel, run_code, text_of

    with kernel(tmp_path, tmp_path, cell_ids=person) as client:  # cell_ids=False: plain nbclient
        run_code(
            client,
            "from socket2flask.grading import check, expect\n"
            "def test_sum():\n    expect(1 + 1, 3, hint='add better')\ncheck('q1')",
            metadata={"tags": ["raises-exception"]},
        )
        outputs = run_code(client, "def test_fine():\n    expect(2, 2)\ncheck('q2')")
    failed = client.nb.cells[-2].outputs
    errors = [o for o in failed if o["output_type"] == "error"]
    assert "q1: failed" in text_of(failed) and "q2: passed" in text_of(outputs)
    assert [o for o in outputs if o["output_type"] == "error"] == []
    if person:
        assert errors == []
    else:
        # an AssertionError
        assert errors[0]["ename"] == "Verdict" and "add better" in errors[0]["evalue"]


@pytest.mark.timeout(120)
def test_the_raised_verdict_quotes_no_test_source(tmp_path):
    """Under nbgrader a failed check() raises; what it shows is the verdict alone, no traceback
    quoting the lines above check() (the end of a test cell, where hidden tests sit)."""
    from kernels import kernel, run_code

    with kernel(tmp_path, tmp_path, cell_ids=False) as client:
        outputs = run_code(
            client,
            "from socket2flask.grading import check, expect\n"
            "def test_sum():\n    secret = 'hidden input 42'\n"
            "    expect(len(secret), 3)\ncheck('q1')",
            metadata={"tags": ["raises-exception"]},
        )
    error = next(o for o in outputs if o["output_type"] == "error")
    assert error["ename"] == "Verdict" and "q1: failed" in "\n".join(error["traceback"])
    assert "hidden input 42" not in "\n".join(error["traceback"])


def test_an_empty_expected_value_against_a_long_one_shows_both_without_an_index():
    lines = check_module._compared({}, {str(n): n for n in range(40)})
    assert lines[0] == "expected: {}" and lines[1].startswith("got:      {'0': 0,")
    assert not [line for line in lines if line.startswith("differ:")]


@pytest.mark.timeout(20)
def test_a_name_missing_in_some_tests_only_still_says_to_run_the_cells_above(kernel, capsys):
    run_cell(
        """
def helper():
    return TOKEN
def test_fine():
    expect(1, 1)
def test_needs_token():
    expect(helper(), "t")
check("q1")
""",
        kernel,
    )
    printed = capsys.readouterr().out
    assert printed.startswith("q1: failed"), printed
    assert "`TOKEN` is not defined: run the cells above first (Run > Run All Above)" in printed
