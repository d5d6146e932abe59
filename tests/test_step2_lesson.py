"""Step 2 lesson: the demonstrations show what the text says they show.

test_notebooks.py already runs the lesson for errors, time and leaks; here we read the outputs of
that same run: CGI starts a process per request, the notes' code fails on Python 3 (a `print`
statement; a `str` body: 500 on wsgiref, a broken response on werkzeug), the given reader is shown
whole from its module, the environ is what PEP 3333 says, the lesson's server frames, fails and
closes as the text explains, the validator's messages are the ones the table reads, and the same
Flask app answers identically on two servers.
(Behaviour only: no timing is asserted.)
"""

from __future__ import annotations

import ast
import inspect
import re

import pytest
from conftest import ROOT
from kernels import output_of

from socket2flask.apps import use_app

LESSON = ROOT / "notebooks" / "02_wsgi.ipynb"


@pytest.fixture(scope="module")
def outputs(lesson_outputs) -> list[tuple[str, str]]:
    return lesson_outputs(LESSON.stem)


@pytest.mark.timeout(180)
def test_cgi_starts_a_process_per_request(outputs):
    text = output_of(outputs, "def cgi_request(")
    assert text.startswith("Status: 200 OK␍␊")
    assert len(set(re.findall(r"Hello from process (\d+)", text))) == 3


@pytest.mark.timeout(180)
def test_the_notes_code_fails_on_python_3(outputs):
    assert "Missing parentheses in call to 'print'" in output_of(outputs, "NOTES_SERVER = '''")
    text = output_of(outputs, 'return "hello web"  # a str, as in the notes')
    assert "wsgiref: 500" in text and "werkzeug: the request failed" in text
    assert (
        "write() argument must be a bytes instance" in text
        and "applications must write bytes" in text
    )


@pytest.mark.timeout(180)
def test_the_given_reader_is_shown_whole_from_its_one_module(outputs):
    """Every constant, class and function of notebooks/apps/request_reader/request_reader.py is
    shown by the lesson, as it is in the module (the lesson imports it, it holds no copy)."""
    use_app("request_reader")
    import request_reader

    source = inspect.getsource(request_reader)
    shown = "\n".join(text for _, text in outputs)
    parts = [
        ast.get_source_segment(source, node)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign | ast.FunctionDef | ast.ClassDef)
    ]
    missing = [part.splitlines()[0] for part in parts if part not in shown]
    assert not missing, f"the lesson does not show: {missing}"
    text = output_of(outputs, "too_long = ")
    assert "a request line over MAX_LINE (8,192 bytes): 414 URI Too Long" in text


@pytest.mark.timeout(180)
def test_the_environ_tables(outputs):
    wsgiref_table = output_of(outputs, "def show_environ(")
    assert re.search(r"QUERY_STRING\s+str\s+'a=python\+flask\+%E4%BD%A0%E5%A5%BD'", wsgiref_table)
    assert re.search(r"wsgi\.input\s+BufferedReader", wsgiref_table)
    ours = output_of(outputs, "def make_environ(")
    assert "PATH_INFO              str            '/cafÃ©/a/b'" in ours
    assert "HTTP_ACCEPT            str            'text/html,*/*'" in ours
    assert "PATH_INFO as the app should read it: /café/a/b" in ours


@pytest.mark.timeout(180)
def test_framing_chunked_for_http_11_until_close_for_http_10(outputs):
    text = output_of(outputs, "def countdown_app(")
    chunked, until_close = text.split(">>> request", 2)[1:]
    assert "Transfer-Encoding: chunked␍␊" in chunked and chunked.rstrip().endswith("0␍␊\n␍␊")
    assert "Connection: close␍␊" in until_close and "chunked" not in until_close
    assert until_close.rstrip().endswith("go!␊")


@pytest.mark.timeout(180)
def test_failures_before_and_after_the_head(outputs):
    text = output_of(outputs, "def fails_early(")
    assert "fails early: 500" in text
    response = text.split("<<< response", 1)[1].split("fails late:", 1)[0]
    assert "first part, ␍␊" in response and "0␍␊" not in response  # cut: no last chunk
    assert "fails late: the response ends with the last chunk 0␍␊␍␊: False" in text
    assert text.count("Traceback") == 2, "one request, so one traceback, per failing app"
    text = output_of(outputs, "def error_page_app(")
    assert "before the headers: 404 no such record" in text
    assert "after the headers: the status stays HTTP/1.1 200 OK" in text and "LookupError" in text
    assert "the response ends with the last chunk 0␍␊␍␊: False" in text


@pytest.mark.timeout(180)
def test_close_is_called_after_success_and_failure(outputs):
    text = output_of(outputs, "def tracked_app(")
    assert "/      ['iterated', 'closed']" in text and "/fail  ['iterated', 'closed']" in text


@pytest.mark.timeout(180)
def test_the_validator_messages_the_table_explains(outputs):
    assert "no AssertionError" in output_of(
        outputs, "checked = serve(wsgi_handler(validator(echo_app))"
    )
    text = output_of(outputs, "def validate_once(")
    for message in (
        "You should not return a string as your application iterator",
        "No Content-Type header found in headers ([])",
        "Environment missing required key: 'SERVER_NAME'",
        "Environment should not have the key: HTTP_CONTENT_LENGTH",
    ):
        assert f"AssertionError: {message}" in text
    werkzeug = output_of(outputs, "/built-by-werkzeug")
    assert "Environmental variable REMOTE_PORT is not a string: <class 'int'>" in werkzeug
    assert "Iterator garbage collected without being closed" in output_of(
        outputs, "sys.unraisablehook = keep_unraisable"
    )


@pytest.mark.timeout(180)
def test_middleware(outputs):
    assert "['GET /one -> 200 OK', 'GET /two -> 200 OK']" in output_of(
        outputs, "def logging_middleware("
    )
    assert re.search(
        r"Server-Timing: app;dur=\d+\.\d{3}", output_of(outputs, "def timing_middleware(")
    )
    mounted = output_of(outputs, "def where_app(")
    for line in (
        "/api/users/7   200  SCRIPT_NAME='/api' PATH_INFO='/users/7'",
        "/api           200  SCRIPT_NAME='/api' PATH_INFO=''",
        "/apix          404",
    ):
        assert line in mounted
    order = [line for line in output_of(outputs, "def traced(").splitlines() if line]
    assert order == [
        "logging: request in",
        "timing: request in",
        "mount: request in",
        "mount: response out (200 OK)",
        "timing: response out (200 OK)",
        "logging: response out (200 OK)",
    ]


@pytest.mark.timeout(180)
def test_four_servers_differ_as_the_text_says(outputs):
    rows = {line.split("  ")[0]: line for line in output_of(outputs, "contenders = {").splitlines()}
    assert "HTTP/1.1 200 OK" in rows["ours"] and "Connection: -" in rows["ours"]
    assert "HTTP/1.0 200 OK" in rows["wsgiref"] and "HTTP/1.0 200 OK" in rows["wsgiref threaded"]
    assert "HTTP/1.1 200 OK" in rows["werkzeug"] and "Connection: close" in rows["werkzeug"]
    assert "6 of 6 answers identical" in output_of(outputs, "matches = 0")


@pytest.mark.timeout(180)
def test_the_measurements_print_what_the_text_reads(outputs):
    names = (
        "step 1 (no WSGI)",
        "ours",
        "wsgiref",
        "wsgiref threaded",
        "werkzeug",
        "ours, new connection each time",
    )
    table = output_of(outputs, "def step1_handler(")
    assert all(
        re.search(rf"^{re.escape(name)} +Latency\(n=300, .*errors=0\)$", table, re.M)
        for name in names
    )
    shares = output_of(outputs, "wsgi_share = ")
    for line in (
        "WSGI's share on our server:",
        "a new connection (and thread) costs:",
        "wsgiref threaded minus wsgiref:",
        "starting and joining one thread:",
    ):
        assert re.search(rf"^{re.escape(line)} +-?[\d,.]+ (µs|ms|s)", shares, re.M), line
    sweep = output_of(outputs, "probe.sweep(")
    for name in names[1:5]:  # each server's own conclusion, computed from its own numbers
        assert re.search(rf"^{re.escape(name)} +1 client: .* 4 vs 1: \d+\.\d\d×$", sweep, re.M), (
            name
        )
