"""Step 4, the mini-Flask. Its framework exists once, in lesson 04's cells tagged "miniflask": those
cells, joined, are a working module (lesson 05 saves them as miniflask.py), and lab 04 runs each of
them once, as a given part or as the reference answer of the question that asks for it, under a
stub with the same names and signatures. That framework answers like Flask, byte for byte; the
lab's tests pass on it and catch plausible wrong answers; run() hands off to run_simple as Flask's
does; the lesson shows the global-request race, its fix, and the same answers on both frameworks."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path
from unittest import mock

import flask
import pytest
from conftest import ROOT
from kernels import kernel, run_code, text_of
from mutants import Mutant, mutated
from mutants.lab04 import MUTANTS, written
from werkzeug.test import Client

from socket2flask.grading.notebook import (
    dumps,
    grading,
    load_answers,
    read,
    strip_hidden,
    stub_answer,
)
from socket2flask.labtools.step4 import framework_cells, lesson_module, load_module

LESSON = ROOT / "notebooks" / "04_mini_flask.ipynb"
SOLUTION = ROOT / "solutions" / "04_mini_flask_lab.ipynb"
BOOKSHELF = ROOT / "notebooks" / "apps" / "bookshelf" / "bookshelf.py"
SHORTLY = ROOT / "notebooks" / "apps" / "shortly" / "shortly_app.py"


def solution_cells() -> list:
    return read(SOLUTION).cells


def question_tests(question: str, hidden: bool = True) -> str:
    """The test cell of a question without its final check() call: visible and hidden tests, or
    only the visible ones (what a learner's check() runs)."""
    [cell] = [c for c in solution_cells() if grading(c).get("grade_id") == question]
    source = (
        cell.source
        if hidden
        else re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source, flags=re.S)
    )
    return re.sub(r"^check\(.*\Z", "", source, flags=re.M | re.S)  # the last call, over its lines


def expect(actual, expected, *, given=None, hint=""):
    assert actual == expected, f"given {given!r}: expected {expected!r}, got {actual!r} ({hint})"


def framework(tmp_path: Path | None = None, mutant: Mutant | None = None) -> dict:
    """The namespace that the solution's given and answer cells leave (load_answers), with one
    answer changed by `mutant`; `expect` is this file's, which raises a plain AssertionError."""
    if mutant is None:
        namespace = load_answers(SOLUTION)
    else:
        path = tmp_path / SOLUTION.name
        path.write_text(dumps(mutated(read(SOLUTION), mutant)), encoding="utf-8")
        namespace = load_answers(path)
    namespace["expect"] = expect
    return namespace


def define_tests(namespace: dict, question: str, hidden: bool = True) -> None:
    code = compile(question_tests(question, hidden), f"{SOLUTION.name}:{question}", "exec")
    exec(code, namespace)


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


QUESTIONS = [grading(c)["grade_id"] for c in solution_cells() if grading(c).get("grade")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("question", QUESTIONS)
def test_every_lab_test_passes_on_the_reference_answers(question):
    results = run_tests(framework(), question)
    assert results, f"{question} has no tests"
    assert not {k: v for k, v in results.items() if v}, results


# Plausible wrong answers, each caught by the tests of one question: the lab's mutants (by name),
# and a few more.
BY_NAME = {mutant.name: mutant for mutant in MUTANTS}
WRONG = [
    ("q1", BY_NAME["pop_sets_none"]),
    ("q1", BY_NAME["teardown_appcontext_in_registration_order"]),
    (
        "q2",
        written(
            "no_automatic_options",
            "q2_answer",
            'methods=methods | {"OPTIONS"}',
            "methods=methods",
            "no automatic OPTIONS",
        ),
    ),
    ("q2", BY_NAME["http_exception_class_under_none"]),
    ("q3", BY_NAME["two_tuple_always_status"]),
    (
        "q3",
        written(
            "json_in_insertion_order",
            "q3_answer2",
            "sort_keys=True",
            "sort_keys=False",
            "JSON keys in insertion order",
        ),
    ),
    ("q3", BY_NAME["str_status_loses_reason"]),
    ("q4", BY_NAME["handlers_for_exact_class_only"]),
    ("q4", BY_NAME["never_propagate"]),
    ("q5", BY_NAME["after_request_in_registration_order"]),
    ("q5", BY_NAME["request_not_reset"]),
    ("q5", BY_NAME["routing_error_before_hooks"]),
    ("q6", BY_NAME["url_for_ignores_prefix"]),
    ("q6", BY_NAME["redirect_ignores_code"]),
    ("q7", BY_NAME["port_zero_becomes_5000"]),
    ("q7", BY_NAME["binds_every_interface"]),
    ("q8", BY_NAME["request_in_a_global"]),
    ("q9", BY_NAME["permanent_redirect"]),
    ("q9", BY_NAME["details_without_clicks"]),
]
# Answers written from a statement's words that the hidden tests would fail: the visible tests
# alone (what a learner's check() runs) must catch them first.
VISIBLE = [
    (
        "q2",
        written(
            "automatic_options_only_when_true",
            "q2_answer",
            'rule_object.provide_automatic_options = "OPTIONS" not in methods',
            'if "OPTIONS" not in methods:\n'
            "            rule_object.provide_automatic_options = True",
            "provide_automatic_options set only when True",
        ),
    ),
    (
        "q3",
        written(
            "jsonify_nothing_is_an_empty_dict",
            "q3_answer2",
            "data = args[0] if len(args) == 1 else (args or kwargs or None)",
            "data = args[0] if len(args) == 1 else (args or kwargs)",
            "jsonify() sends {} instead of null",
        ),
    ),
    (
        "q3",
        written(
            "jsonify_ignores_debug",
            "q3_answer2",
            "indent = 2 if current_app.debug else None",
            "indent = None",
            "jsonify ignores debug mode",
        ),
    ),
    ("q6", BY_NAME["url_for_ignores_prefix"]),
]
# Right answers written another way: every test, visible and hidden, must pass.
RIGHT = [
    (
        "q3",
        written(
            "debug_from_the_config",
            "q3_answer2",
            "indent = 2 if current_app.debug else None",
            'indent = 2 if current_app.config["DEBUG"] else None',
            "debug mode read from the config",
        ),
    ),
    (
        "q3",
        written(
            "debug_from_the_context_variable",
            "q3_answer2",
            "indent = 2 if current_app.debug else None",
            "indent = 2 if _app_var.get().app.debug else None",
            "debug mode read from the context variable",
        ),
    ),
]
# Issue 14 (truthful checks): every wrong answer is caught by the visible tests of its question,
# what a learner's check() runs; the hidden tests only vary the inputs.
CASES = [(*case, "wrong, caught by a visible test") for case in WRONG + VISIBLE] + [
    (*case, "right, passes every test") for case in RIGHT
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "question,answer,kind", CASES, ids=[f"{kind}: {answer.why}" for _, answer, kind in CASES]
)
def test_the_lab_tells_wrong_answers_from_right_ones(question, answer, kind, tmp_path):
    namespace = framework(tmp_path, answer)
    results = run_tests(namespace, question, hidden="visible" not in kind)
    failed = {name: message for name, message in results.items() if message}
    if kind.startswith("right"):
        assert not failed, f"{question}'s tests fail a right answer ({answer.why}): {failed}"
    else:
        which = "visible tests" if "visible" in kind else "tests"
        assert failed, f"{question}'s {which} all pass with a wrong answer: {answer.why}"


# -- one framework: lesson 04's cells, which the lab gives or asks for ---------------------------
def runs_lesson_cells(source: str) -> list[str]:
    """The names passed to run_lesson_cells(globals(), ...) in a cell's code, if it calls it."""
    return [
        argument.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "run_lesson_cells"
        for argument in node.args[1:]
    ]


def signatures(source: str) -> dict[str, tuple[str, str]]:
    """Every class and function a piece of code defines, at any depth (methods too): its
    signature (a class's bases; a function's decorators, arguments and return annotation), and,
    for a function that is not a stub (given code), its whole code."""
    found = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                found[prefix + child.name] = (ast.dump(ast.Tuple(child.bases)), "")
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef):
                parts = [*child.decorator_list, child.args, child.returns or ast.Tuple([])]
                stub = "NotImplementedError" in ast.unparse(child.body[-1])
                found[prefix + child.name] = (
                    ast.dump(ast.Tuple(parts)),
                    "" if stub else ast.dump(child),
                )

    visit(ast.parse(source), "")
    return found


def test_the_lesson_framework_is_one_module_as_lesson_05_joins_it(monkeypatch):
    """Lesson 05 joins the cells tagged "miniflask" into miniflask.py: joined, they must make a
    module with Flask's names, whose App is the framework's (and so must lesson_module)."""
    source = "\n\n\n".join(cell.source for cell in framework_cells(LESSON))
    joined = types.ModuleType("step4_joined")
    monkeypatch.setitem(sys.modules, joined.__name__, joined)
    exec(compile(source, "miniflask.py", "exec"), joined.__dict__)
    names = framework()["FLASK_API"]  # what lab 04's framework_module() exports: Flask's names
    for module in (joined, lesson_module("step4_lesson_module")):
        assert all(hasattr(module, name) for name in names), module
        assert module.Flask is module.App and module.App.__module__ == module.__name__
    assert 100 <= len(source.splitlines()) < 1000  # lesson 05 prints it as a 3-digit count


def test_the_lab_runs_each_framework_cell_once_as_given_or_as_reference():
    """Every framework cell of the lesson is run by exactly one cell of the solution, in the
    lesson's order: a given cell (locked), or the reference answer of the question that asks for
    it. (That no notebook repeats its code is test_code_model's to check.)"""
    by_name = {name: cell.id for cell in framework_cells(LESSON) for name in cell.names}
    run = []
    for cell in solution_cells():
        if grading(cell) and not grading(cell).get("grade"):  # a given cell, or an answer
            run += list(dict.fromkeys(by_name[name] for name in runs_lesson_cells(cell.source)))
    assert run == [cell.id for cell in framework_cells(LESSON)]


@pytest.mark.parametrize(
    "cell",
    [c for c in solution_cells() if grading(c).get("solution") and runs_lesson_cells(c.source)],
    ids=lambda c: grading(c)["grade_id"],
)
def test_each_stub_has_the_names_and_signatures_of_the_lesson_code_it_asks_for(cell):
    """The learner's stub defines what the lesson's cells define, with the same signatures; the
    parts it gives (not stubs) are the lesson's code exactly."""
    names = runs_lesson_cells(cell.source)
    lesson = "\n\n\n".join(c.source for c in framework_cells(LESSON) if set(c.names) & set(names))
    stub, ours = signatures(stub_answer(cell.source)), signatures(lesson)
    assert stub.keys() == ours.keys()
    for name, (signature, given) in stub.items():
        assert signature == ours[name][0], f"{name}: another signature than the lesson's"
        assert not given or given == ours[name][1], f"{name}: given code that is not the lesson's"


# -- the framework answers like Flask -------------------------------------------------------------
def module_of(path: Path, framework_module, name: str):
    """The app file at `path`, run as a module on `framework_module` (None: Flask)."""
    return load_module(path.read_text(encoding="utf-8"), framework_module, name, str(path.parent))


def load(path: Path, framework_module, name: str):
    """The app of the file at `path` on `framework_module` (None: Flask), its logger quiet (the
    test app's /crash is expected)."""
    app = module_of(path, framework_module, name).app
    app.logger.disabled = True
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
    ours = load(tmp_path / "testapp.py", namespace["framework_module"](), "step4_testapp")
    theirs = load(tmp_path / "testapp.py", None, "step4_testapp")
    assert type(ours).__module__ == namespace["__name__"] and isinstance(theirs, flask.Flask)
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
    ours = load(BOOKSHELF, framework()["framework_module"](), "step4_bookshelf")
    theirs = load(BOOKSHELF, None, "step4_bookshelf")
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
        module_of(SHORTLY, framework_module, "step4_shortly").create_app(
            {"sqlite_path": tmp_path / f"{label}.sqlite3", "redis_url": None}
        )
        for label, framework_module in (("ours", namespace["framework_module"]()), ("flask", None))
    ]
    assert type(apps[0]).__module__ == namespace["__name__"] and isinstance(apps[1], flask.Flask)
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
    nb = read(LESSON)
    code = [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    with kernel(tmp_path, LESSON.parent) as client:
        client.nb = nb
        for index, cell in code + code[1:]:
            client.execute_cell(cell, index)  # raises on any error output
    text = text_of(nb.cells[code[-2][0]].outputs)
    assert "than half of the median loopback request" in text


# -- a fix reaches the classes made from the part it fixes ---------------------------------------
@pytest.mark.timeout(300)
def test_a_fixed_part_reaches_the_classes_made_earlier_from_it(tmp_path):
    """A learner runs the lab in order with a wrong `Routes` (q2) and a wrong `RequestCycle` (q5):
    `Scaffold(Routes, Hooks)`, `Dispatch(RequestCycle, Finalizing)` and the given `App` are made
    from them. Then they fix each part and run only its cell and the test cell: the check passes
    (each test cell calls use_current_parts), for q8 too, whose App was made before the fix."""
    wrong = {
        "q2_answer": BY_NAME["route_without_return_view"],
        "q5_answer": BY_NAME["routing_error_before_hooks"],
    }
    cells = {grading(c)["grade_id"]: c for c in solution_cells() if grading(c)}
    verdicts = {}
    with kernel(tmp_path, tmp_path) as client:

        def run(cell, source: str) -> str:
            """Run `source` as `cell` (its id: the same cell run again, as in JupyterLab)."""
            return text_of(run_code(client, source, cell_id=cell.id))

        for cell in solution_cells():
            grade_id = grading(cell).get("grade_id", "")
            if cell.cell_type != "code" or "check_all()" in cell.source:
                continue
            if grade_id in wrong:
                run(cell, cell.source.replace(wrong[grade_id].old, wrong[grade_id].new))
            elif grade_id in ("q2", "q5", "q8"):
                verdicts[f"{grade_id} before"] = run(cell, strip_hidden(cell.source))
            elif not grading(cell).get("grade"):  # (the other questions' tests: not needed)
                run(cell, cell.source)
        for answer, questions in [("q2_answer", ["q2"]), ("q5_answer", ["q5", "q8"])]:
            run(cells[answer], cells[answer].source)  # the right answer, in the same cell
            for question in questions:
                verdicts[f"{question} after"] = run(
                    cells[question], strip_hidden(cells[question].source)
                )
    for question in ("q2", "q5", "q8"):
        assert "passed ✓" not in verdicts[f"{question} before"], verdicts[f"{question} before"]
        assert f"{question}: passed ✓" in verdicts[f"{question} after"], verdicts
