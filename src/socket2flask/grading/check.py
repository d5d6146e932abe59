"""Checks in the learner's kernel: ``check("q1")`` runs the ``test_*`` functions of its own cell,
each in a thread under a time limit (``join(timeout)``, not SIGALRM: Windows has none), and prints
✓, or ✗ with the input, the expected and the actual value (or where they differ) and a hint;
``check_all()`` prints every question of the lab with its points, as the grader counts them on the
visible tests. In the kernel itself, tests see bytes, tuples and exceptions exactly as the learner's
code made them.
"""

from __future__ import annotations

import ctypes
import difflib
import inspect
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

TIME_LIMIT = 5.0  # seconds per test, unless check(..., timeout=) or the grader says otherwise
WIDE, DIFF_LINES = 100, 16  # a longer value shows where it differs (a window, or a diff of lines)
MIME = "application/vnd.socket2flask.check+json"  # how check() hands results to the grader
PASSED, FAILED, NOT_ANSWERED, TIMED_OUT, ERROR = (
    "passed",
    "failed",
    "not answered",
    "timed out",
    "error",
)

_grading: dict[str, float | None] = {}  # set by begin_grading() in the grader's kernels
_checked: dict[str, tuple[list[Callable[[], object]], float]] = {}  # for check_all()
_NOTHING = object()
_LIBRARIES = (sys.prefix, sys.base_prefix, str(Path(__file__).parents[1]))  # not the learner's code


class Mismatch(AssertionError):
    """What ``expect`` raises: the input, the expected and actual values, and a hint."""

    def __init__(self, actual: object, expected: object, given: object, hint: str) -> None:
        super().__init__(f"expected {expected!r}, got {actual!r}")
        self.actual, self.expected, self.given, self.hint = actual, expected, given, hint


class Verdict(AssertionError):
    """What a failed check() raises where no person reads it. IPython shows only the verdict, not a
    traceback, which would quote the lines above check(): the end of the tests, hidden ones too."""

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


class _TimeUp(BaseException):
    """Raised in a test's thread when its time is up (BaseException: not caught by Exception)."""


@dataclass
class Outcome:  # the verdict on one test: what it checks, its status, a message (1st line, details)
    test: str
    status: str
    message: str = ""


def expect(actual: object, expected: object, *, given: object = _NOTHING, hint: str = "") -> None:
    """Fail the test unless ``actual == expected``; ``given`` is the input the test used."""
    if actual != expected:
        raise Mismatch(actual, expected, given, hint)


def check(
    question: str, *, timeout: float | None = None, uses: dict[str, str] | None = None
) -> None:
    """Run the ``test_*`` functions defined in the calling cell, and print a verdict for each.
    ``uses`` names the earlier answers this question calls (``{"q4": "read_request"}``): when it
    fails and one of those fails its own visible tests, the verdict says to fix that one first."""
    cell = inspect.currentframe().f_back  # type: ignore[union-attr]
    # IPython compiles each cell as a file of its own: the cell's tests share its file name.
    tests = sorted(
        (
            f
            for name, f in cell.f_globals.items()
            if name.startswith("test_")
            and inspect.isfunction(f)
            and f.__code__.co_filename == cell.f_code.co_filename
        ),
        key=lambda f: f.__code__.co_firstlineno,
    )
    limit = _grading.get("time_limit") or timeout or TIME_LIMIT
    _checked[question] = (tests, limit)
    outcomes = [_run(test, limit) for test in tests]
    report = _report(question, outcomes, _failing_prerequisites(question, outcomes, uses or {}))
    print(report)
    if _grading:
        from IPython.display import display

        result = {"question": question, "tests": [asdict(o) for o in outcomes]}
        if "seal" in _grading:  # the grader's fresh copy (tamper.py): its token, and what it found
            result.update(_grading["seal"](result))
        display({MIME: result}, raw=True)
    elif _run_by_a_program() and not _headline(outcomes).startswith("passed"):
        # nbgrader (and any grader that scores a cell by whether it raises) must see the failure.
        raise Verdict(report)


def _run_by_a_program() -> bool:
    """True in a kernel that no person drives: its execute requests allow no input (nbclient,
    nbconvert, nbgrader's autograde). JupyterLab, Notebook and VS Code allow it; there, and outside
    a kernel, a failed check() only prints its verdict."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    request = kernel.get_parent("shell") if kernel else {}
    is_execution = request.get("header", {}).get("msg_type") == "execute_request"
    return is_execution and not request["content"].get("allow_stdin")


def check_all() -> None:
    """Run the tests of every question checked so far once more; print every question of the lab
    with its points, all or nothing as the grader counts them (here on the visible tests only)."""
    if _grading:
        return  # the grader scores each question with its own copy of the tests
    lab = _lab(inspect.currentframe().f_back.f_globals)  # type: ignore[union-attr]
    rows = []  # (question, title, points won, points, how it went)
    for q, title, points in lab or [(q, "", 0.0) for q in _checked]:
        tests, limit = _checked.get(q, ([], 0.0))
        state = _headline([_run(test, limit) for test in tests]) if q in _checked else "not run yet"
        won = points if state.startswith("passed") else 0.0
        rows.append((q, title, won, points, state))
    wide = [max((len(row[n]) for row in rows), default=0) for n in (0, 1)]
    for q, title, won, points, state in rows:
        score = f"{title:<{wide[1]}}  {won:>3g} of {points:<3g}  " if lab else ""
        print(f"{q:<{wide[0]}}  {score}{state}")
    if lab:
        won, points = sum(r[2] for r in rows), sum(r[3] for r in rows)
        print(f"{won:g} of {points:g} points on the visible tests.")
    else:
        print(
            "This notebook's file was not found: only the questions checked so far are listed, and"
            " without their points. Save the notebook next to where the kernel runs to see them."
        )
    if waiting := [q for q, *_ in rows if q not in _checked]:
        print(f"Not run yet: {', '.join(waiting)}. Run their test cells, or Run > Run All Cells.")


def _run(test: Callable[[], object], seconds: float) -> Outcome:
    """Run one test in a daemon thread, and wait for it ``seconds`` at most."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            test()
        except BaseException as error:  # every failure, even SystemExit, becomes a verdict
            errors.append(error)

    thread = threading.Thread(target=target, name=f"check {test.__name__}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        # Python cannot kill a thread, but CPython can raise an exception in it at its next
        # bytecode: a pure-Python loop stops now, a blocking call (sleep, recv) when it returns.
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(_TimeUp)
        )
        return Outcome(
            _describe(test)[0],
            TIMED_OUT,
            f"timed out after {seconds:g} s (a loop that never ends?)",
        )
    return _verdict(test, errors[0] if errors else None)


def _verdict(test: Callable[[], object], error: BaseException | None) -> Outcome:
    about, hint = _describe(test)
    tail = [f"hint:     {hint}"] if hint else []
    if error is None:
        return Outcome(about, PASSED)
    if isinstance(error, Mismatch):
        lines = ["wrong result"]
        if error.given is not _NOTHING:
            lines.append(f"input:    {_short(repr(error.given))}")
        lines += _compared(error.expected, error.actual)
        return Outcome(
            about, FAILED, "\n".join(lines + ([f"hint:     {error.hint}"] if error.hint else tail))
        )
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if not f.filename.startswith(_LIBRARIES)
    ]
    last = frames[-1] if frames else None
    in_tests_cell = last is not None and last.filename == test.__code__.co_filename
    if isinstance(error, NotImplementedError):
        return Outcome(about, NOT_ANSWERED, "not answered yet")  # a stub
    if isinstance(error, NameError) and in_tests_cell:  # the test, or a helper in its cell
        return Outcome(about, NOT_ANSWERED, f"`{error.name}` is not defined")
    if isinstance(error, AssertionError) and in_tests_cell:  # the test's, or its helper's
        return Outcome(
            about, FAILED, "\n".join([str(error) or f"this was false: {last.line}", *tail])
        )
    if isinstance(error, SystemExit):
        return Outcome(about, ERROR, "your code called sys.exit(): return or raise instead")
    # Where, in the learner's code: the innermost frame, then who called it (not the whole trace).
    # Frames of the test's own cell (the test and its helpers) are the test's, not the learner's.
    yours = [f for f in frames if f.filename != test.__code__.co_filename]
    who = "your code" if yours else "the test, on what your code returned,"
    lines = [f"{who} raised {type(error).__name__}: {_short(str(error))}"]
    for n, frame in enumerate(reversed(yours[-3:])):
        lines.append(
            f"{'in' if n == 0 else 'called from'} {frame.name}, line {frame.lineno}: {frame.line}"
        )
    return Outcome(about, ERROR, "\n".join(lines + tail))


def _failing_prerequisites(
    question: str, outcomes: list[Outcome], uses: dict[str, str]
) -> list[str]:
    """When a question fails, the earlier answers it calls that fail their own tests (run again now,
    since the learner may have changed them), or have not been checked yet; when it is not
    answered, those that are not answered either (a stub of q5 inside q6's answer)."""
    headline = _headline(outcomes)
    if headline.startswith("passed"):
        return []
    if headline == "not answered yet":
        return [
            f"{question} uses your `{name}` from {earlier}, which is not answered yet: "
            f"answer {earlier} first."
            for earlier, name in uses.items()
            if earlier in _checked
            and all(
                _run(test, _checked[earlier][1]).status == NOT_ANSWERED
                for test in _checked[earlier][0]
            )
        ]
    lines = []
    for earlier, name in uses.items():
        if earlier not in _checked:
            lines.append(
                f"{question} uses your `{name}` from {earlier}: run {earlier}'s check first."
            )
            continue
        tests, limit = _checked[earlier]
        if any(_run(test, limit).status != PASSED for test in tests):
            lines.append(
                f"{question} uses your `{name}` from {earlier}, which fails its own check: "
                f"fix {earlier} first."
            )
    return lines


def _report(question: str, outcomes: list[Outcome], first: Iterable[str] = ()) -> str:
    """The verdict as printed: a headline, the notes to read first, then each test."""
    if not outcomes:
        return f"{question}: no tests found: define functions named test_... in this cell."
    notes = list(first)
    undefined = sorted({o.message for o in outcomes if o.message.endswith("is not defined")})
    if undefined:  # a cell above was not run (after a restart), or a name is misspelt
        notes.insert(
            0,
            f"{', '.join(undefined)}: run the cells above first (Run > Run All Above); if "
            "you wrote it, check its spelling too.",
        )
    if _headline(outcomes) == "not answered yet":
        head = (
            f"{question}: not answered yet. Write your answer above, run it, then this cell again."
        )
        return "\n".join([head, *(f"  {note}" for note in notes)])
    lines = [f"{question}: {_headline(outcomes)}", *(f"  {note}" for note in notes)]
    for o in outcomes:
        headline, *details = o.message.split("\n")
        lines.append(f"  ✓ {o.test}" if o.status == PASSED else f"  ✗ {o.test}: {headline}")
        lines += [f"      {line}" for line in details]
    return "\n".join(lines)


def _headline(outcomes: list[Outcome]) -> str:
    statuses, passed = {o.status for o in outcomes}, sum(o.status == PASSED for o in outcomes)
    if statuses == {NOT_ANSWERED}:
        return "not answered yet"
    verdict = "passed ✓" if statuses == {PASSED} else "failed ✗"
    return f"{verdict} ({passed} of {len(outcomes)} tests passed)"


def _describe(test: Callable[[], object]) -> tuple[str, str]:
    """What a test checks (its docstring's first line, else its name in words), and its hint (the
    docstring's "Hint: ..." to the end, shown whenever the test does not pass)."""
    doc = inspect.cleandoc(test.__doc__ or "")
    about = doc.splitlines()[0] if doc else test.__name__.removeprefix("test_").replace("_", " ")
    return about, " ".join(doc.partition("Hint:")[2].split())


def _compared(expected: object, actual: object) -> list[str]:
    """Both values in full when short. Else where they differ: for text or bytes of several lines,
    the lines that differ (a diff); otherwise a window around the first difference, and its
    index."""
    x, y = repr(expected), repr(actual)
    # Unequal values that print alike: say so (e.g. a class defined again by a re-run cell).
    if x == y:
        return [
            f"expected: {_short(x)}",
            f"got:      {_short(y)}",
            "differ:   not in how they print, but"
            " in their type or class (a cell that defines it ran again? run the cells in order)",
        ]
    if len(x) <= WIDE and len(y) <= WIDE:
        return [f"expected: {x}", f"got:      {y}"]
    text = type(expected) is type(actual) and isinstance(expected, (str, bytes))
    if text and max(len(expected.splitlines()), len(actual.splitlines())) > 1:  # type: ignore[union-attr]
        lines = [[repr(line) for line in value.splitlines(True)] for value in (expected, actual)]  # type: ignore
        # [2:]: no ---/+++ lines
        diff = [
            f"at line {d.split()[1][1:].split(',')[0]}:"
            if d.startswith("@@")
            else f"  {d[0]} {d[1:]}"
            for d in list(difflib.unified_diff(*lines, n=1, lineterm=""))[2:]
        ]
        more = ["  ..."] if len(diff) > DIFF_LINES else []
        return ["expected (-) and got (+), the lines that differ:", *diff[:DIFF_LINES], *more]
    if text:  # the index in the text itself, and windows of it shown as str or bytes
        x, y = expected, actual  # type: ignore[assignment]
    at = next((n for n, (a, b) in enumerate(zip(x, y)) if a != b), min(len(x), len(y)))
    start, show = max(0, at - 30), repr if text else str
    windows = [
        ("…" if start else "") + show(v[start : start + 80]) + ("…" if len(v) > start + 80 else "")
        for v in (x, y)
    ]
    where = (
        f"index {at} (lengths {len(x)} and {len(y)})" if text else f"character {at} of their reprs"
    )
    if min(len(x), len(y)) <= WIDE and at <= 1:  # one short value, unlike from the start: no index
        return [f"expected: {windows[0]}", f"got:      {windows[1]}"]
    return [f"expected: {windows[0]}", f"got:      {windows[1]}", f"differ:   from {where}"]


def _lab(names: dict) -> list[tuple[str, str, float]] | None:
    """The questions (id, title, points) of the lab this kernel runs, from its notebook file: the
    one VS Code or JupyterLab names, else the newest in the kernel's folder (the notebook's, in
    Jupyter); each time, only a lab whose test cells define the tests that check() ran."""
    from .notebook import questions, read  # nbformat: imported only now

    named = [
        Path(p) for p in (names.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")) if p
    ]
    here = sorted(Path().glob("*.ipynb"), key=lambda p: p.lstat().st_mtime, reverse=True)
    for path in named + here:
        try:
            nb = read(path)
            found = {q.id: q for q in questions(nb)}
        except Exception:  # unreadable, or not a notebook: another file
            continue
        if found and all(
            q in found
            and all(f"def {t.__name__}(" in nb.cells[found[q].test_cell].source for t in tests)
            for q, (tests, _) in _checked.items()
        ):
            return [(q.id, q.title, q.points) for q in found.values()]
    return None


def _short(text: str, limit: int = 300) -> str:
    """A long value cut in the middle, so that its start and its end both show."""
    return text if len(text) <= limit else f"{text[: limit - 60]} ... {text[-50:]}"
