"""Step 4, the mini-Flask: the lab's reference framework answers like Flask, byte for byte; the lab's
tests pass on it and catch plausible wrong answers; run() hands off to run_simple as Flask's does;
the lesson shows the global-request race, its fix, and the same answers on both frameworks."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from unittest import mock

import flask
import nbformat
import pytest
from conftest import ROOT
from kernels import kernel, text_of
from mutants.lab04 import GLOBAL_REQUEST
from werkzeug.test import Client

LESSON = ROOT / "notebooks" / "04_mini_flask.ipynb"
SOLUTION = ROOT / "solutions" / "04_mini_flask_lab.ipynb"
BOOKSHELF = ROOT / "notebooks" / "apps" / "bookshelf" / "bookshelf.py"
SHORTLY = ROOT / "notebooks" / "apps" / "shortly" / "shortly_app.py"
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$|^\s*### STUB ")


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def solution_cells() -> list:
    return nbformat.read(SOLUTION, as_version=4).cells


def answers() -> dict[str, str]:
    """grade_id -> source of every answer cell, in notebook order."""
    return {
        nbgrader(c)["grade_id"]: c.source for c in solution_cells() if nbgrader(c).get("solution")
    }


def question_tests(question: str, hidden: bool = True) -> str:
    """The test cell of a question without its final check() call: visible and hidden tests, or
    only the visible ones (what a learner's check() runs)."""
    [cell] = [c for c in solution_cells() if nbgrader(c).get("grade_id") == question]
    source = (
        cell.source
        if hidden
        else re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source, flags=re.S)
    )
    return re.sub(r"^check\(.*\Z", "", source, flags=re.M | re.S)  # the last call, over its lines


def expect(actual, expected, *, given=None, hint=""):
    assert actual == expected, f"given {given!r}: expected {expected!r}, got {actual!r} ({hint})"


def framework(overrides: dict[str, str] | None = None) -> dict:
    """The namespace left by the solution's answer cells (some replaced) and given code cells, run
    in order in this process."""
    namespace: dict = {"__name__": "step4_answers", "expect": expect}
    for cell in solution_cells():
        meta = nbgrader(cell)
        if meta.get("solution") or (
            meta.get("locked") and not meta.get("grade") and meta.get("grade_id") != "setup"
        ):
            source = (overrides or {}).get(meta["grade_id"], cell.source)
            exec(compile(source, f"{SOLUTION.name}:{meta['grade_id']}", "exec"), namespace)
    return namespace


def define_tests(namespace: dict, question: str, hidden: bool = True) -> None:
    exec(
        compile(question_tests(question, hidden), f"{SOLUTION.name}:{question}", "exec"), namespace
    )


def run_tests(namespace: dict, question: str, hidden: bool = True) -> dict[str, str | None]:
    """Run one question's test functions in the namespace: {test name: failure or None}."""
    define_tests(namespace, question, hidden)
    results = {}
    for name, function in list(namespace.items()):
        if (
            name.startswith("test_")
            and getattr(function, "__code__", None)
            and function.__code__.co_filename.endswith(f":{question}")
        ):
            try:
                function()
                results[name] = None
            except Exception as error:  # noqa: BLE001 - each failure is a result here
                results[name] = f"{type(error).__name__}: {error}"
    return results


QUESTIONS = [nbgrader(c)["grade_id"] for c in solution_cells() if nbgrader(c).get("grade")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("question", QUESTIONS)
def test_every_lab_test_passes_on_the_reference_answers(question):
    results = run_tests(framework(), question)
    assert results, f"{question} has no tests"
    assert not {k: v for k, v in results.items() if v}, results


SHARED_REQUEST = GLOBAL_REQUEST  # the naive global request, as in the mutant corpus

# Plausible wrong answers, each one edit of the reference: (question, answer cell, old, new, why).
WRONG = [
    (
        "q1",
        "q1_answer2",
        "_app_var.reset(self._token)",
        "_app_var.set(None)",
        "pop() forgets the outer context",
    ),
    (
        "q1",
        "q1_answer2",
        "for function in reversed(self.app.teardown_appcontext_funcs):",
        "for function in self.app.teardown_appcontext_funcs:",
        "teardown_appcontext in registration order",
    ),
    ("q2", "q2_answer", 'methods=methods | {"OPTIONS"}', "methods=methods", "no automatic OPTIONS"),
    (
        "q2",
        "q2_answer2",
        "code = exception.code if issubclass(exception, HTTPException) else None",
        "code = None",
        "HTTPException classes filed under None",
    ),
    (
        "q3",
        "q3_answer",
        "elif len(rv) == 2 and isinstance(rv[1], (Headers, dict, tuple, list)):",
        "elif False:",
        "a 2-tuple is always (body, status)",
    ),
    ("q3", "q3_answer2", "sort_keys=True", "sort_keys=False", "JSON keys in insertion order"),
    (
        "q3",
        "q3_answer",
        'rv.status = status            # "418 I\'m a teapot"',
        "rv.status_code = int(status.split()[0])",
        "a str status loses its reason phrase",
    ),
    (
        "q4",
        "q4_answer",
        "for cls in type(e).__mro__:",
        "for cls in (type(e),):",
        "handlers looked up for the exact class only",
    ),
    (
        "q4",
        "q4_answer",
        'if propagate if propagate is not None else (self.config["TESTING"] or self.debug):',
        "if False:",
        "exceptions never propagate while testing",
    ),
    (
        "q5",
        "q5_answer2",
        "for function in reversed(self.after_request_funcs):",
        "for function in self.after_request_funcs:",
        "after_request in registration order",
    ),
    (
        "q5",
        "q5_answer",
        "                _request_var.reset(token)\n",
        "",
        "the request stays bound after the response",
    ),
    (
        "q5",
        "q5_answer",
        "            except HTTPException as e:    # raised in dispatch_request, after before_request hooks\n"
        "                req.routing_exception = e",
        "            except HTTPException as e:    # raised in dispatch_request, after before_request hooks\n"
        "                raise",
        "a 404 raised before the before_request hooks run",
    ),
    (
        "q6",
        "q6_answer",
        "adapter, external = req.url_adapter, bool(_external)",
        "adapter, external = current_app.url_map.bind(req.host), bool(_external)",
        "url_for ignores SCRIPT_NAME (an app under a prefix)",
    ),
    (
        "q6",
        "q6_answer",
        "return werkzeug_redirect(location, code, Response=Response)",
        "return werkzeug_redirect(location, 302, Response=Response)",
        "redirect ignores its code",
    ),
    (
        "q7",
        "q7_answer",
        "port = int(port) if port or port == 0 else int(server_port or 5000)",
        "port = int(port or server_port or 5000)",
        "run(port=0) becomes 5000",
    ),
    (
        "q7",
        "q7_answer",
        'host = host or server_host or "127.0.0.1"',
        'host = host or "0.0.0.0"',
        "run() listens on every interface",
    ),
    (
        "q8",
        "q1_answer2",
        'current_app: "App" = LocalProxy(',
        SHARED_REQUEST + 'current_app: "App" = LocalProxy(',
        "a plain global request, shared by every thread",
    ),
    (
        "q9",
        "q9_answer",
        "return F.redirect(link_target, 302)",
        "return F.redirect(link_target, 301)",
        "a permanent redirect: browsers would skip the click counter",
    ),
    (
        "q9",
        "q9_answer",
        "click_count=storage.get_clicks(short_id)",
        "click_count=0",
        "the details page does not count clicks",
    ),
]


# Answers written from a statement's words that the hidden tests would fail: the visible tests
# alone (what a learner's check() runs) must catch them first.
VISIBLE = [
    (
        "q2",
        "q2_answer",
        'rule_object.provide_automatic_options = "OPTIONS" not in methods',
        'if "OPTIONS" not in methods:\n            rule_object.provide_automatic_options = True',
        "provide_automatic_options set only when True",
    ),
    (
        "q3",
        "q3_answer2",
        "data = args[0] if len(args) == 1 else (args or kwargs or None)",
        "data = args[0] if len(args) == 1 else (args or kwargs)",
        "jsonify() sends {} instead of null",
    ),
    (
        "q3",
        "q3_answer2",
        "indent = 2 if current_app.debug else None",
        "indent = None",
        "jsonify ignores debug mode",
    ),
    (
        "q6",
        "q6_answer",
        "adapter, external = req.url_adapter, bool(_external)",
        "adapter, external = current_app.url_map.bind(req.host), bool(_external)",
        "url_for ignores SCRIPT_NAME (an app under a prefix)",
    ),
]
# Right answers written another way: every test, visible and hidden, must pass.
RIGHT = [
    (
        "q3",
        "q3_answer2",
        "indent = 2 if current_app.debug else None",
        'indent = 2 if current_app.config["DEBUG"] else None',
        "debug mode read from the config",
    ),
    (
        "q3",
        "q3_answer2",
        "indent = 2 if current_app.debug else None",
        "indent = 2 if _app_var.get().app.debug else None",
        "debug mode read from the context variable",
    ),
]
# Issue 14 (truthful checks): every wrong answer is caught by the visible tests of its question,
# what a learner's check() runs; the hidden tests only vary the inputs.
CASES = [(*case, "wrong, caught by a visible test") for case in WRONG + VISIBLE] + [
    (*case, "right, passes every test") for case in RIGHT
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "question,cell,old,new,why,kind", CASES, ids=[f"{c[5]}: {c[4]}" for c in CASES]
)
def test_the_lab_tells_wrong_answers_from_right_ones(question, cell, old, new, why, kind):
    source = answers()[cell]
    assert old in source, f"the reference answer changed: update this case ({why})"
    results = run_tests(
        framework({cell: source.replace(old, new)}), question, hidden="visible" not in kind
    )
    failed = {name: message for name, message in results.items() if message}
    if kind.startswith("right"):
        assert not failed, f"{question}'s tests fail a right answer ({why}): {failed}"
    else:
        assert failed, (
            f"{question}'s {'visible ' * ('visible' in kind)}tests all pass with a wrong answer: {why}"
        )


# ------------------------------------------------------------------------------------------------
def flask_module_of(namespace: dict) -> types.ModuleType:
    return namespace["framework_module"]()


def load_module(
    path: Path, framework_module: types.ModuleType | None, name: str
) -> types.ModuleType:
    """Import an app file with `flask` meaning framework_module (None: the real Flask)."""
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    real = sys.modules["flask"]
    if framework_module is not None:
        sys.modules["flask"] = framework_module
    try:
        exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    finally:
        sys.modules["flask"] = real
    return module


def load_app(path: Path, framework_module: types.ModuleType | None, name: str):
    app = load_module(path, framework_module, name).app
    app.logger.disabled = True  # an app's expected crashes (the test app's /crash) stay quiet
    return app


def everything(app, request: dict) -> tuple:
    """Status, every header in order (but Date: a second may tick), and the body: stricter than
    the lab's comparison."""
    request = dict(request)
    response = Client(app).open(request.pop("path"), method=request.pop("method", "GET"), **request)
    headers = [(name, value) for name, value in response.headers.items() if name != "Date"]
    return response.status, headers, response.get_data()


@pytest.mark.timeout(120)
def test_the_test_app_gives_flasks_bytes_on_every_route(tmp_path):
    namespace = framework()
    define_tests(namespace, "q8")  # the hidden test app and its requests
    files, requests = namespace["Q8_TEST_APP"], namespace["Q8_TEST_REQUESTS"]
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    ours = load_app(tmp_path / "testapp.py", flask_module_of(namespace), "step4_testapp_ours")
    theirs = load_app(tmp_path / "testapp.py", None, "step4_testapp_flask")
    assert type(ours).__module__ == "step4_answers" and isinstance(theirs, flask.Flask)
    differences = [
        (r, everything(ours, r), everything(theirs, r))
        for r in requests
        if everything(ours, r) != everything(theirs, r)
    ]
    assert not differences, differences[:3]
    # Every route of the test app is exercised by some request.
    adapter = theirs.url_map.bind("localhost")
    hit = set()
    for request in requests:
        try:
            rule, _ = adapter.match(
                request["path"].split("?")[0] or "/", request.get("method", "GET"), return_rule=True
            )
            hit.add(rule.rule)
        except Exception:  # noqa: BLE001 - 404, 405, redirects: no rule to count
            pass
    routes = {rule.rule for rule in theirs.url_map.iter_rules()}
    assert routes - hit <= {"/static/<path:filename>"}, f"routes no request reaches: {routes - hit}"


def test_the_lessons_bookshelf_gives_flasks_bytes():
    namespace = framework()
    ours = load_app(BOOKSHELF, flask_module_of(namespace), "step4_bookshelf_ours")
    theirs = load_app(BOOKSHELF, None, "step4_bookshelf_flask")
    steps = [
        {"path": "/"},
        {"path": "/books/"},
        {"path": "/books"},
        {"path": "/books/1"},
        {"path": "/books/9"},
        {"path": "/books/", "method": "POST", "data": {"title": "Ubik", "year": "1969"}},
        {"path": "/books/", "method": "POST", "data": {"title": "?"}},
        {"path": "/api/books", "method": "POST", "json": {"title": "Solaris", "year": 1961}},
        {"path": "/api/books", "method": "POST", "data": "{", "content_type": "application/json"},
        {"path": "/api/books"},
        {"path": "/static/style.css"},
        {"path": "/books/1", "method": "HEAD"},
    ]
    for step in steps:
        assert everything(ours, step) == everything(theirs, step), step


def test_the_shortly_port_gives_flasks_bytes(tmp_path):
    namespace = framework()
    apps = [
        load_module(SHORTLY, module, f"step4_shortly_{label}").create_app(
            {"sqlite_path": tmp_path / f"{label}.sqlite3", "redis_url": None}
        )
        for label, module in (("ours", flask_module_of(namespace)), ("flask", None))
    ]
    assert type(apps[0]).__module__ == "step4_answers" and isinstance(apps[1], flask.Flask)
    steps = [
        {"path": "/"},
        {"path": "/", "method": "POST", "data": {"url": "https://example.com/?q=<x>"}},
        {"path": "/1"},
        {"path": "/1+"},
        {"path": "/", "method": "POST", "data": {"url": "nope"}},
        {"path": "/", "method": "POST"},
        {"path": "/zz"},
        {"path": "/Z"},
        {"path": "/1", "method": "PUT"},
        {"path": "/1+", "method": "HEAD"},
        {"path": "/static/style.css"},
        {"path": "/static/x.css"},
    ]
    for step in steps:
        assert everything(apps[0], step) == everything(apps[1], step), step


def run_simple_call(app, **arguments) -> tuple:
    with (
        mock.patch("werkzeug.serving.run_simple") as run_simple,
        mock.patch("flask.cli.show_server_banner"),
    ):
        app.run(**arguments)
    (host, port, wsgi_app), options = run_simple.call_args
    assert wsgi_app is app
    return host, port, options


@pytest.mark.parametrize(
    "server_name,arguments,expected",
    [
        (
            None,
            {},
            ("127.0.0.1", 5000, {"use_reloader": False, "use_debugger": False, "threaded": True}),
        ),
        (
            "example.test:8080",
            {},
            (
                "example.test",
                8080,
                {"use_reloader": False, "use_debugger": False, "threaded": True},
            ),
        ),
        (
            "example.test:8080",
            {"port": 0, "host": "127.0.0.1"},
            ("127.0.0.1", 0, {"use_reloader": False, "use_debugger": False, "threaded": True}),
        ),
        (
            None,
            {"debug": True, "use_reloader": False},
            ("127.0.0.1", 5000, {"use_reloader": False, "use_debugger": True, "threaded": True}),
        ),
    ],
)
def test_run_hands_off_to_run_simple_like_flask(server_name, arguments, expected):
    App = framework()["App"]
    ours, theirs = App("step4_run"), flask.Flask("step4_run")
    ours.config["SERVER_NAME"] = theirs.config["SERVER_NAME"] = server_name
    assert run_simple_call(ours, **arguments) == expected == run_simple_call(theirs, **arguments)


def test_lesson_and_solution_build_the_same_framework():
    """The lesson's framework cells (tagged miniflask) are the solution's answer cells of q1-q7, one
    for one and in order, without the markers."""
    lesson = [
        c.source
        for c in nbformat.read(LESSON, as_version=4).cells
        if "miniflask" in c.metadata.get("tags", [])
    ]
    framework_answers = re.compile(r"q[1-7]_answer\d*")
    solution = [
        "\n".join(line for line in source.splitlines() if not MARKER.match(line))
        for grade_id, source in answers().items()
        if framework_answers.fullmatch(grade_id)
    ]
    assert len(lesson) == len(solution) == 12
    for number, (ours, theirs) in enumerate(zip(lesson, solution), 1):
        assert ours.strip() == theirs.strip(), (
            f"framework cell {number} differs between lesson and solution"
        )


@pytest.mark.timeout(300)
def test_the_lesson_shows_the_race_the_fix_and_the_same_answers(run_notebook):
    _, leaks, nb = run_notebook(LESSON)  # the run that test_notebooks.py checks too
    assert not leaks
    text = "\n".join(text_of(cell.outputs) for cell in nb.cells if cell.cell_type == "code")
    naive = re.search(r"8 clients at a time: (\d+) of 40 answers wrong, for example", text)
    assert naive and int(naive.group(1)) > 0, "the global request must be seen corrupted"
    assert "8 clients at a time: 0 of 40 answers wrong" in text, "the ContextVar fix must hold"
    assert re.findall(r"mini-Flask: 0 of 40 answers wrong", text) and "Flask     : 0 of 40" in text
    counts = re.findall(r"(\d+) requests, (\d+) different", text)
    assert len(counts) >= 4 and all(different == "0" for _, different in counts), counts
    assert text.count("same: (") == 4 and "DIFFERENT" not in text, (
        "run() must hand off like Flask's"
    )
    assert "Hello from app.run()!" in text and re.search(
        r"Running on http://127\.0\.0\.1:\d+", text
    )
    assert "40 clicks, all 302: True; counted: 40" in text, "every concurrent click must be counted"
    assert (
        len(re.findall(r"mini-Flask / Flask\s+\d\.\d\d, quartiles \d\.\d\d-\d\.\d\d: ", text)) == 2
    )
    assert "binding the URL map to the host, with all it calls: " in text


@pytest.mark.timeout(300)
def test_every_cell_runs_again_after_run_all(tmp_path):
    """Run All, then every code cell but the first once more, in order, as a learner who goes back
    to a cell after the end: the last cells must not take away what earlier cells need (the work
    folder, the saved framework), and no cell may depend on running only once."""
    nb = nbformat.read(LESSON, as_version=4)
    code = [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    with kernel(tmp_path, LESSON.parent) as client:
        client.nb = nb
        for index, cell in code + code[1:]:
            client.execute_cell(cell, index)  # raises on any error output
    text = text_of(nb.cells[code[-2][0]].outputs)
    assert "than half of the median loopback request" in text
