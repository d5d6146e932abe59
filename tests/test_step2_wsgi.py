"""Step 2: the lab's reference WSGI server (solutions/02_wsgi_lab.ipynb, loaded in-process) passes
wsgiref.validate for every app of a battery, answers a Flask app byte for byte like werkzeug's
server, and rejects malformed requests; the lesson and the lab import the given reader from its one
module (notebooks/apps/request_reader/)."""

from __future__ import annotations

import ast
import gc
import inspect
import os
import socket
import sys
import warnings
from wsgiref.validate import WSGIWarning, validator

import nbformat
import pytest
import requests
from conftest import ROOT, load_answers
from kernels import kernel, run_code, text_of

from socket2flask.apps import use_app
from socket2flask.grading.notebook import strip_hidden, stub_answer
from socket2flask.httpclient import Connection, ProtocolError
from socket2flask.servers import serve

LAB = ROOT / "solutions" / "02_wsgi_lab.ipynb"
LESSON = ROOT / "notebooks" / "02_wsgi.ipynb"


@pytest.fixture(scope="module")
def lab() -> dict:
    """The reference answers, with the given reader they build on (a locked cell)."""
    return load_answers("02_wsgi_lab")


def defined_names(path) -> set[str]:
    """The functions and classes that the code cells of a notebook define."""
    cells = nbformat.read(path, as_version=4).cells
    trees = [ast.parse(cell.source) for cell in cells if cell.cell_type == "code"]
    return {
        node.name
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }


def test_the_given_reader_has_one_source_that_lesson_and_lab_import(lab):
    """Step 1's reader lives in notebooks/apps/request_reader/request_reader.py only: lesson and lab
    import it (neither defines any of its functions or classes), and the lab's server runs the
    module's own functions."""
    use_app("request_reader")
    import request_reader

    reader = {
        name
        for name, value in vars(request_reader).items()
        if (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == request_reader.__name__
    }
    assert {"read_request", "BadRequest", "Request", "read_body", "read_chunked"} <= reader
    for path in (LESSON, LAB):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        assert 'use_app("request_reader")' in code and "from request_reader import" in code, path
        assert not defined_names(path) & reader, f"{path.name} defines its own copy"
    for name in ("read_request", "BadRequest", "Request"):
        assert lab[name] is getattr(request_reader, name), name


# -- a battery of apps: well-behaved ones, and ones at fault before or after their headers ------
CLOSED: list[str] = []


class Closing:
    """A body with close(), which can fail halfway."""

    def __init__(self, name: str, parts: list[bytes], fail: bool = False) -> None:
        self.name, self.parts, self.fail = name, parts, fail

    def __iter__(self):
        yield from self.parts
        if self.fail:
            raise ValueError("failed halfway")

    def close(self) -> None:
        CLOSED.append(self.name)


def plain(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def generator(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(3):
        yield b"part %d\n" % i


def writer(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"w1,")
    write(b"w2,")
    return [b"iter"]


def echo(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


def closing(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing("closing", [b"a", b"b"])


def file_wrapper(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](open(FILE, "rb"), 8192)


def error_page(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise KeyError("missing")
    except KeyError:
        start_response("404 Not Found", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"not here"]


def no_content(environ, start_response):
    start_response("204 No Content", [])
    return []


def fails_before_start(environ, start_response):
    raise ValueError("before start_response")


def fails_after_start(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    raise ValueError("after start_response, before any body")


def fails_in_close(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing("fails halfway", [], fail=True)


def str_body(environ, start_response):  # the source notes' bug
    start_response("200 OK", [("Content-Type", "text/html")])
    return "hello web"


def bad_status(environ, start_response):
    start_response(200, [("Content-Type", "text/plain")])
    return [b"x"]


def hop_by_hop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [b"x"]


def fails_after_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first part"
    raise ValueError("after the first body bytes")


def short_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return [b"abc"]


FILE = ""  # set by the fixture below
# app -> (status, body) for GET; None for the body: any body
WELL_BEHAVED = {
    plain: (200, b"hello"),
    generator: (200, b"part 0\npart 1\npart 2\n"),
    writer: (200, b"w1,w2,iter"),
    closing: (200, b"ab"),
    error_page: (404, b"not here"),
    no_content: (204, b""),
    file_wrapper: (200, None),
    echo: (200, b""),
}
AT_FAULT_BEFORE_HEADERS = [
    fails_before_start,
    fails_after_start,
    fails_in_close,
    str_body,
    bad_status,
    hop_by_hop,
]
AT_FAULT_AFTER_HEADERS = [fails_after_body, short_body]


@pytest.fixture
def data_file(tmp_path):
    global FILE
    FILE = str(tmp_path / "data.bin")
    with open(FILE, "wb") as f:
        f.write(os.urandom(200_000))
    yield FILE
    FILE = ""


@pytest.fixture
def referee(capsys):
    """Run the server under strict rules: WSGIWarning is an error; report what wsgiref.validate
    printed for unclosed bodies, and every traceback the server printed to wsgi.errors."""
    found = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda info: found.append(str(info.exc_value))
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        yield lambda: (gc.collect(), found + [capsys.readouterr().err])[1]
    sys.unraisablehook = hook


def serve_checked(lab: dict, app):
    return serve(lab["make_handler"](validator(app)), kind="socket", name="step2 under test")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("app", list(WELL_BEHAVED), ids=lambda app: app.__name__)
def test_well_behaved_apps_pass_validate_on_the_solution_server(lab, app, data_file, referee):
    status, body = WELL_BEHAVED[app]
    if body is None:
        body = open(data_file, "rb").read()
    with serve_checked(lab, app) as server, Connection(server.host, server.port) as conn:
        for method, version_body in [
            ("GET", b""),
            ("POST", b"payload" * 100),
            ("HEAD", b""),
            ("GET", b""),
        ]:
            response = conn.request(method, "/path?q=1", body=version_body)
            assert response.status == status, (method, response)
            expected = b"" if method == "HEAD" else (version_body if app is echo else body)
            assert response.body == expected, (method, response.body[:100])
            assert not response.will_close, "a well-behaved app keeps the connection"
        server.check()
    with serve_checked(lab, app) as server:  # HTTP/1.0: no chunked, close-delimited when needed
        assert _raw(server, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 %d" % status)
        server.check()
    *unclosed, printed = referee()
    assert not unclosed, unclosed
    assert "Traceback" not in printed, printed


@pytest.mark.timeout(60)
@pytest.mark.parametrize("app", AT_FAULT_BEFORE_HEADERS, ids=lambda app: app.__name__)
def test_apps_at_fault_before_their_headers_get_500_and_the_server_serves_on(lab, app, referee):
    CLOSED.clear()
    with serve_checked(lab, app) as server, Connection(server.host, server.port) as conn:
        for _ in range(2):  # the same connection serves the next request
            response = conn.request("GET", "/")
            assert response.status == 500 and response.body.startswith(b"500 Internal Server Error")
        server.check()  # the app's error was handled: nothing escaped the server's handler
    found = referee()
    assert found[:-1] == [], found
    assert "Traceback" in found[-1], "the app's traceback should be printed to wsgi.errors"
    if app is fails_in_close:
        assert CLOSED == ["fails halfway"] * 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize("app", AT_FAULT_AFTER_HEADERS, ids=lambda app: app.__name__)
def test_apps_at_fault_after_their_headers_get_a_closed_connection(lab, app, referee):
    with serve_checked(lab, app) as server:
        raw = _raw(server, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # returns when the server closes
        assert raw.startswith(b"HTTP/1.1 200 OK") and not raw.endswith(b"0\r\n\r\n"), raw
        with Connection(server.host, server.port) as conn, pytest.raises(ProtocolError):
            conn.request()  # the client notices a broken body
        assert _raw(server, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 OK")  # serves on
        server.check()
    assert referee()[:-1] == []


def _raw(server, data: bytes) -> bytes:
    """Send raw bytes; everything the server sends until it closes (5 s at most)."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


# -- a real Flask app: the same bytes on the solution server and on werkzeug's ---------------------
def flask_app():
    from flask import Flask, Response, abort, jsonify, redirect, request, stream_with_context

    app = Flask("step2")

    @app.get("/")
    def index():
        return "<h1>Hello, web!</h1>"

    @app.get("/hello/<name>")
    def hello(name):
        return f"hello ~~~ {name} {request.args.get('a', '')}"

    @app.post("/form")
    def form():
        return f"{request.form['title']}|{','.join(request.form.getlist('tag'))}"

    @app.post("/json")
    def total():
        data = request.get_json()
        return jsonify(name=data["name"], total=sum(data["numbers"]))

    @app.post("/upload")
    def upload():
        return f"{len(request.get_data())} bytes"

    @app.get("/stream")
    def stream():
        return Response(stream_with_context(f"line {i}\n" for i in range(3)), mimetype="text/plain")

    @app.get("/go")
    def go():
        return redirect("/hello/x")

    @app.get("/teapot")
    def teapot():
        abort(418)

    return app


FLASK_CASES = [
    ("GET", "/", {}),
    ("GET", "/hello/%E4%BD%A0%E5%A5%BD?a=%20b+c", {}),
    ("POST", "/form", {"data": {"title": "Über", "tag": ["wsgi", "http"]}}),
    ("POST", "/json", {"json": {"name": "Ada", "numbers": [1, 2, 3.5]}}),
    ("POST", "/upload", {"data": (part for part in [b"a" * 1000, b"b" * 500])}),  # sent chunked
    ("GET", "/stream", {}),
    ("GET", "/go", {"allow_redirects": False}),
    ("GET", "/teapot", {}),
    ("GET", "/missing", {}),
    ("DELETE", "/", {}),
    ("HEAD", "/", {}),
]


@pytest.mark.timeout(60)
def test_a_flask_app_gives_the_same_bytes_on_the_solution_server_and_on_werkzeug(lab):
    app = flask_app()
    answers = {}
    with (
        serve(lab["make_handler"](app), kind="socket", name="ours") as ours,
        serve(app, kind="werkzeug", name="werkzeug") as theirs,
    ):
        for name, server in (("ours", ours), ("werkzeug", theirs)):
            with requests.Session() as session:
                answers[name] = []
                for method, path, options in FLASK_CASES:
                    if "data" in options and not isinstance(options["data"], dict):
                        options = {**options, "data": iter([b"a" * 1000, b"b" * 500])}
                    r = session.request(method, server.url + path, timeout=5, **options)
                    answers[name].append(
                        (
                            method,
                            path,
                            r.status_code,
                            r.content,
                            r.headers.get("Content-Type"),
                            r.headers.get("Location"),
                        )
                    )
        ours.check()
    for mine, theirs_ in zip(answers["ours"], answers["werkzeug"]):
        assert mine == theirs_
    assert answers["ours"][4][3] == b"1500 bytes", "the chunked upload reached the app whole"


# -- malformed requests: the right 4xx, the connection closed, the server unharmed ---------------
MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
    ),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),  # a too-long request line (RFC 9112 §3)
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 400),
    # issue 16: RFC 9112 to the letter (socket2flask/hostile.py has many more)
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host in HTTP/1.1 (section 3.2)
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", 400),
    (b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),  # section 6.1
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad\r\n\r\n", 400),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "raw, status", MALFORMED, ids=lambda v: repr(v)[:30] if isinstance(v, bytes) else str(v)
)
def test_malformed_requests_get_their_4xx_and_a_closed_connection(lab, raw, status):
    with serve(lab["make_handler"](plain), kind="socket", name="step2 malformed") as server:
        answer = _raw(server, raw)
        assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:80]
        assert b"\r\nConnection: close\r\n" in answer
        assert requests.get(server.url, timeout=5).text == "hello"
        server.check()


# -- the lab's own tests are real: each plausible wrong answer fails its question -----------------
# (question, what is wrong, text in the reference answer, the wrong text put in its place)
WRONG_ANSWERS = [
    # q1 make_environ
    ("q1", "PATH_INFO decoded as UTF-8", 'unquote(path, encoding="latin-1")', "unquote(path)"),
    ("q1", "QUERY_STRING decoded", '"QUERY_STRING": query,', '"QUERY_STRING": unquote(query),'),
    (
        "q1",
        "Content-Type with HTTP_ prefix",
        'if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):',
        "if False:",
    ),
    (
        "q1",
        "SERVER_PORT an int",
        '"SERVER_PORT": str(server_address[1]),',
        '"SERVER_PORT": server_address[1],',
    ),
    (
        "q1",
        "underscore headers kept",
        'if "_" in name or key == "TRANSFER_ENCODING":',
        'if key == "TRANSFER_ENCODING":',
    ),
    (
        "q1",
        "Transfer-Encoding kept",
        'if "_" in name or key == "TRANSFER_ENCODING":',
        'if "_" in name:',
    ),
    (
        "q1",
        "repeated header: last one wins",
        'environ["HTTP_" + key] += "," + value',
        'environ["HTTP_" + key] = value',
    ),
    (
        "q1",
        "wsgi.input as bytes",
        '"wsgi.input": io.BytesIO(request.body),',
        '"wsgi.input": request.body,',
    ),
    ("q1", "absolute form ignored", 'if target.startswith(("http://", "https://")):', "if False:"),
    # q2 StartResponse
    ("q2", "never re-raises exc_info", "raise exc_info[1].with_traceback(exc_info[2])", "pass"),
    ("q2", "hop-by-hop allowed", "if is_hop_by_hop(name):", "if False:"),
    (
        "q2",
        "second call always raises",
        "elif self.status is not None:",
        "if self.status is not None and not self.headers_sent:",
    ),
    (
        "q2",
        "status not checked",
        'if type(status) is not str or not re.fullmatch(r"[1-5][0-9][0-9] [^\\r\\n]*", status):',
        "if False:",
    ),
    (
        "q2",
        "header tuples not checked",
        "if type(header) is not tuple or len(header) != 2 or not all(",
        "if False and not all(",
    ),
    ("q2", "write accepts str", "if type(data) is not bytes:", "if False:"),
    # q3 run_app
    (
        "q3",
        "close() only on success",
        '    finally:\n        if hasattr(result, "close"):\n            result.close()',
        "    except Exception:\n"
        "        raise\n"
        '    if hasattr(result, "close"):\n'
        "        result.close()",
    ),
    (
        "q3",
        "write() ignored",
        "start_response = StartResponse(chunks.append)",
        "start_response = StartResponse()",
    ),
    (
        "q3",
        "missing start_response not noticed",
        'raise RuntimeError("the app returned without calling start_response()")',
        "pass",
    ),
    # q4 respond
    (
        "q4",
        "head sent at the first chunk even if empty",
        '        if not data:\n            return\n        head = b""',
        '        head = b""',
    ),
    (
        "q4",
        "never chunked",
        'elif self.body_allowed and self.request.version == "HTTP/1.1":',
        "elif False:",
    ),
    (
        "q4",
        "close() never called",
        'if hasattr(result, "close"):\n            try:',
        "if False:\n            try:",
    ),
    (
        "q4",
        "500 even after the head",
        "        if writer.start_response.headers_sent:\n            return False  # too late",
        "        if False:\n            return False  # too late",
    ),
    (
        "q4",
        "HEAD gets a body",
        'return self.request.method != "HEAD" and not status.startswith(NO_BODY)',
        "return not status.startswith(NO_BODY)",
    ),
    (
        "q4",
        "short Content-Length not noticed",
        'raise RuntimeError(f"the app sent {self.sent} of its Content-Length of {self.length}")',
        "pass",
    ),
    (
        "q4",
        "keep-alive ignores Connection: close",
        "self.keep_alive = request.keep_alive",
        "self.keep_alive = True",
    ),
    ("q4", "no length for list bodies", "writer.known_length = sum(map(len, result))", "pass"),
    # q5 make_handler
    (
        "q5",
        "a new makefile per request (loses pipelined bytes)",
        'with conn.makefile("rb") as stream:\n'
        "                while (request := next_request(conn, stream)) is not None:",
        'while (request := next_request(conn, conn.makefile("rb"))) is not None:\n'
        "                if True:",
    ),
    (
        "q5",
        "BadRequest not answered",
        "    except BadRequest as error:\n        body = ",
        "    except ZeroDivisionError as error:\n        body = ",
    ),
    (
        "q5",
        "disconnects escape",
        "except (ConnectionError, TimeoutError):\n            pass",
        "except ZeroDivisionError:\n            pass",
    ),
    (
        "q5",
        "one request per connection",
        "if not respond(conn, request, app, environ):",
        "if respond(conn, request, app, environ) or True:",
    ),
    # q6 TimingMiddleware
    (
        "q6",
        "a generator with try/finally",
        "        result = self.app(environ, timed_start_response)\n        return ClosingIterable(",
        "        result = self.app(environ, timed_start_response)\n"
        "        def gen():\n"
        "            try:\n"
        "                yield from result\n"
        "            finally:\n"
        "                if hasattr(result, 'close'): result.close()\n"
        "                self.timings.append((environ.get('PATH_INFO', ''),"
        " time.perf_counter() - began))\n"
        "        return gen()\n"
        "        return ClosingIterable(",
    ),
    (
        "q6",
        "timing recorded at start_response",
        "        result = self.app(environ, timed_start_response)\n"
        "        return ClosingIterable(result, lambda: self.timings.append(",
        "        result = self.app(environ, timed_start_response)\n"
        "        self.timings.append((environ.get('PATH_INFO', ''), time.perf_counter() - began))\n"
        "        return ClosingIterable(result, lambda: None or (",
    ),
    (
        "q6",
        "inner close() not called",
        '            if hasattr(self.iterable, "close"):\n                self.iterable.close()',
        "            pass",
    ),
    (
        "q6",
        "exc_info dropped",
        "headers + [timing], exc_info)",
        "headers + [timing])",
    ),
    # q7 PrefixMount
    (
        "q7",
        "no segment boundary",
        'if path == prefix or path.startswith(prefix + "/"):',
        "if path.startswith(prefix):",
    ),
    (
        "q7",
        "first match, not longest",
        "for prefix in sorted(self.mounts, key=len, reverse=True):",
        "for prefix in self.mounts:",
    ),
    (
        "q7",
        "SCRIPT_NAME not kept",
        '"SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + prefix,',
        '"SCRIPT_NAME": prefix,',
    ),
]


# Mistakes a learner must see fail before handing the lab in: a visible test catches every one
# (issue 14, truthful checks: what check() says is what the grade will be; tests/mutants/lab02.py
# proves it on the grader itself).
CAUGHT_BY_VISIBLE_TESTS = {(question, what) for question, what, *_ in WRONG_ANSWERS}


@pytest.mark.timeout(300)
def test_the_lab_tests_catch_plausible_wrong_answers(tmp_path):
    cells = nbformat.read(LAB, as_version=4).cells
    answers = {
        c.metadata["nbgrader"]["grade_id"].removesuffix("_answer"): c.source
        for c in cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    tests = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    assert CAUGHT_BY_VISIBLE_TESTS <= {(question, what) for question, what, *_ in WRONG_ANSWERS}
    missed = []
    with kernel(tmp_path, tmp_path) as client:
        for cell in cells:  # the whole solution once: every question passes
            if cell.cell_type == "code" and "check_all()" not in cell.source:
                output = text_of(run_code(client, cell.source))
                question = cell.metadata.get("nbgrader", {}).get("grade_id")
                assert question not in tests or f"{question}: passed ✓" in output, output[-2000:]
        for question, what, right, wrong in WRONG_ANSWERS:
            assert right in answers[question], (
                f"{question} ({what}): the answer no longer has {right!r}"
            )
            run_code(client, answers[question].replace(right, wrong, 1))
            verdict = text_of(run_code(client, tests[question]))
            if f"{question}: failed" not in verdict:
                missed.append(f"{question}, {what}: {verdict[-300:]}")
            if (question, what) in CAUGHT_BY_VISIBLE_TESTS:
                verdict = text_of(run_code(client, strip_hidden(tests[question])))
                if f"{question}: failed" not in verdict:
                    missed.append(f"{question}, {what}, visible tests only: {verdict[-300:]}")
            run_code(client, answers[question])  # the right answer again, for the next ones
    assert not missed, "wrong answers that pass:\n" + "\n".join(missed)


@pytest.mark.timeout(120)
def test_q5_before_q4_says_not_answered_yet_without_a_servers_traceback(tmp_path):
    """A learner who runs q5's check while q4's respond is still a stub: every q5 test first calls
    the handler once without a server, so the stub's NotImplementedError reaches check() ("not
    answered yet") and no server thread prints a traceback."""
    cells = nbformat.read(LAB, as_version=4).cells
    with kernel(tmp_path, tmp_path) as client:
        for cell in cells:
            if cell.cell_type != "code":
                continue
            question = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            source = stub_answer(cell.source) if question == "q4_answer" else cell.source
            if question == "q5":
                output = text_of(run_code(client, strip_hidden(source)))
                break
            if question not in ("q1", "q2", "q3", "q4"):  # the answers and given cells only
                run_code(client, source)
    assert "not answered yet" in output, output[-2000:]
    assert "Traceback" not in output and "NotImplementedError" not in output, output[-2000:]
