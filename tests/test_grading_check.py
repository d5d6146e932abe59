"""check() and check_all() as a learner sees them, without a kernel.

Each "cell" is compiled under a file name of its own and its lines put in linecache, as IPython
does, so that check() finds the tests defined in the cell that calls it and no others.
"""

from __future__ import annotations

import importlib
import itertools
import linecache
import threading
import time

import pytest

# The module, not the function: `from socket2flask.grading import check` gives the function.
check_module = importlib.import_module("socket2flask.grading.check")

_cells = itertools.count(1)

ANSWER = '''
def parse(line):
    method, target, version = line.split(b" ")
    return method, target, version
'''


def run_cell(source: str, namespace: dict) -> None:
    """Run code as IPython runs a cell: a file name of its own, and its lines in linecache."""
    filename = f"<cell {next(_cells)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)


@pytest.fixture
def kernel(monkeypatch) -> dict:
    """A fresh 'kernel namespace' with the checks imported, and no results left from other tests."""
    monkeypatch.setattr(check_module, "_checked", {})
    namespace: dict = {}
    run_cell("from socket2flask.grading import check, check_all, expect", namespace)
    return namespace


@pytest.mark.timeout(20)
def test_a_failed_expectation_shows_input_expected_got_and_hint(kernel, capsys):
    run_cell(ANSWER, kernel)
    run_cell('''
def test_simple():
    """a simple GET"""
    line = b"GET / HTTP/1.1"
    expect(parse(line), ("GET", "/", "HTTP/1.1"), given=line, hint="decode the bytes first")

def test_same_bytes():
    expect(parse(b"GET / HTTP/1.1"), (b"GET", b"/", b"HTTP/1.1"))

check("q1")
''', kernel)
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
    run_cell("def test_a():\n    parse(b'x')\n\ndef test_b():\n    unknown_yet(1)\n\ncheck('q1')", kernel)
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
    while any(t.name.startswith("check ") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name.startswith("check ") for t in threading.enumerate()), "the runaway test kept running"


@pytest.mark.timeout(20)
def test_errors_show_a_short_excerpt_of_the_learners_code(kernel, capsys):
    run_cell(ANSWER, kernel)
    run_cell('''
def test_short_line():
    parse(b"GET /")

def test_plain_assert():
    assert parse(b"A B C") == 3

def test_assert_with_message():
    assert False, "should have raised ValueError"

def test_exit():
    import sys
    sys.exit(1)

check("q2")
''', kernel)
    out = capsys.readouterr().out
    assert "✗ short line: your code raised ValueError: not enough values to unpack" in out
    assert "      in parse, line 3: method, target, version = line.split(b\" \")" in out
    assert "✗ plain assert: this was false: assert parse(b\"A B C\") == 3" in out
    assert "✗ assert with message: should have raised ValueError" in out
    assert "✗ exit: your code called sys.exit()" in out
    assert "Traceback" not in out and "AssertionError" not in out


@pytest.mark.timeout(20)
def test_check_runs_only_the_tests_of_its_own_cell(kernel, capsys):
    run_cell(ANSWER, kernel)
    run_cell("def test_first():\n    pass\n\ncheck('q1')", kernel)
    run_cell("def test_second():\n    raise AssertionError('q2 fails')\n\ncheck('q2')", kernel)
    out = capsys.readouterr().out
    assert "q1: passed ✓ (1 of 1 tests passed)" in out and "q2: failed ✗ (0 of 1 tests passed)" in out
    run_cell("check('q3')", kernel)
    assert "no tests found" in capsys.readouterr().out


@pytest.mark.timeout(20)
def test_check_all_reruns_every_checked_question_into_a_table(kernel, capsys):
    run_cell("check_all()", kernel)
    assert capsys.readouterr().out.startswith("0 of 0 questions pass. (Only questions whose test cell ran")
    run_cell("def parse(line):\n    raise NotImplementedError()", kernel)
    run_cell("def test_it():\n    expect(parse(b'a b c'), (b'a', b'b', b'c'))\n\ncheck('q1')", kernel)
    run_cell("def test_true():\n    pass\n\ncheck('q2')", kernel)
    run_cell(ANSWER, kernel)  # the learner answers q1 afterwards: check_all() sees the new answer
    capsys.readouterr()
    run_cell("check_all()", kernel)
    assert capsys.readouterr().out.splitlines() == [
        "q1  passed ✓            1 of 1 tests",
        "q2  passed ✓            1 of 1 tests",
        "2 of 2 questions pass. (Only questions whose test cell ran are listed: run the whole notebook"
        " first, Run > Run All Cells.)",
    ]


@pytest.mark.timeout(20)
def test_an_exception_shows_where_and_who_called_and_the_docstring_hint(kernel, capsys):
    run_cell('''
def decode(text):
    return int(text, 36)

def get_url(short_id):
    return decode(short_id.upper() + "!")
''', kernel)
    run_cell('''
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
''', kernel)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  ✗ looking up a short id: your code raised ValueError: invalid literal for int() with base 36: 'AB!'"
    assert lines[2].startswith("      in decode, line 3: return int(text, 36)")
    assert lines[3].startswith("      called from get_url, line 6: return decode(")
    assert lines[4] == "      hint:     decode the id as it came, then look it up."
    assert lines[5:] == ["  ✗ an assertion with a hint: the function has the wrong name",
                         "      hint:     compare bytes with bytes."]


@pytest.mark.timeout(20)
def test_an_error_inside_the_tests_own_helper_is_not_blamed_on_the_learner(kernel, capsys):
    run_cell("def rules():\n    return ['/a', '/b']", kernel)
    run_cell('''
def _flags(found):
    return sorted((rule.rule, rule.flag) for rule in found)

def test_flags():
    """each rule's flag

    Hint: return Rule objects, not strings.
    """
    _flags(rules())

check("q2")
''', kernel)
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  ✗ each rule's flag: the test, on what your code returned, raised AttributeError: 'str' object has no attribute 'rule'"
    assert out[2] == "      hint:     return Rule objects, not strings."
