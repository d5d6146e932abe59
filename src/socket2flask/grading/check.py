"""Checks in the learner's kernel: ``check("q1")`` runs the ``test_*`` functions of its own cell, each
in a thread under a time limit (``join(timeout)``, not SIGALRM: Windows has none), and prints ✓, or ✗
with the input, the expected and the actual value and a hint; ``check_all()`` prints a score table.
In the kernel itself, tests see bytes, tuples and exceptions exactly as the learner's code made them.
"""

from __future__ import annotations

import ctypes
import inspect
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

TIME_LIMIT = 5.0  # seconds per test, unless check(..., timeout=) or the grader says otherwise
MIME = "application/vnd.socket2flask.check+json"  # how check() hands results to the grader
PASSED, FAILED, NOT_ANSWERED, TIMED_OUT, ERROR = "passed", "failed", "not answered", "timed out", "error"

_grading: dict[str, float | None] = {}  # set by begin_grading() in the grader's kernels
_checked: dict[str, tuple[list[Callable[[], object]], float]] = {}  # for check_all()
_NOTHING = object()
_LIBRARIES = (sys.prefix, sys.base_prefix, str(Path(__file__).parents[1]))  # not the learner's code


class Mismatch(AssertionError):
    """What ``expect`` raises: the input, the expected and actual values, and a hint."""

    def __init__(self, actual: object, expected: object, given: object, hint: str) -> None:
        super().__init__(f"expected {expected!r}, got {actual!r}")
        self.actual, self.expected, self.given, self.hint = actual, expected, given, hint


class _TimeUp(BaseException):
    """Raised in a test's thread when its time is up (BaseException: not caught by Exception)."""


@dataclass
class Outcome:  # the verdict on one test: what it checks, its status, a message (first line, details)
    test: str
    status: str
    message: str = ""


def expect(actual: object, expected: object, *, given: object = _NOTHING, hint: str = "") -> None:
    """Fail the test unless ``actual == expected``; ``given`` is the input the test used."""
    if actual != expected:
        raise Mismatch(actual, expected, given, hint)


def check(question: str, *, timeout: float | None = None) -> None:
    """Run the ``test_*`` functions defined in the calling cell, and print a verdict for each."""
    cell = inspect.currentframe().f_back  # type: ignore[union-attr]
    # IPython compiles each cell as a file of its own: the cell's tests share its file name.
    tests = sorted((f for name, f in cell.f_globals.items() if name.startswith("test_")
                    and inspect.isfunction(f) and f.__code__.co_filename == cell.f_code.co_filename),
                   key=lambda f: f.__code__.co_firstlineno)
    limit = _grading.get("time_limit") or timeout or TIME_LIMIT
    _checked[question] = (tests, limit)
    outcomes = [_run(test, limit) for test in tests]
    print(_report(question, outcomes))
    if _grading:
        from IPython.display import display

        display({MIME: {"question": question, "tests": [asdict(o) for o in outcomes]}}, raw=True)


def check_all() -> None:
    """Run the tests of every question checked so far once more, and print a score table."""
    if _grading:
        return  # the grader scores each question with its own copy of the tests
    rows = [(q, [_run(test, limit) for test in tests]) for q, (tests, limit) in _checked.items()]
    width = max((len(q) for q in _checked), default=0)
    for q, outcomes in rows:
        passed = sum(o.status == PASSED for o in outcomes)
        print(f"{q:<{width}}  {_headline(outcomes):<18}  {passed} of {len(outcomes)} tests")
    print(f"{sum(_headline(o) == 'passed ✓' for _, o in rows)} of {len(rows)} questions pass. (Only questions"
          " whose test cell ran are listed: run the whole notebook first, Run > Run All Cells.)")


def begin_grading(time_limit: float | None, memory_mb: int, cpu_s: int, file_mb: int) -> None:
    """In a grader's kernel, before any submitted code: report results, cap time, memory and files."""
    _grading.update(time_limit=time_limit)
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the grader's time limits still hold
        return
    caps = {"AS": memory_mb << 20, "CPU": cpu_s, "FSIZE": file_mb << 20}
    loadavg = Path("/proc/loadavg")  # Linux: "... running/total ..." tasks, all users'
    if loadavg.exists():  # room for 256 more processes or threads: a lab's worth, not a fork bomb's
        caps["NPROC"] = int(loadavg.read_text().split()[3].split("/")[1]) + 256
    for name, value in caps.items():
        which = getattr(resource, f"RLIMIT_{name}")
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(which, (value, value))  # hard too: the submission cannot lift it
        except (ValueError, OSError):
            pass  # this OS will not set that one (macOS and RLIMIT_AS): keep the others


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
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_TimeUp))
        return Outcome(_describe(test)[0], TIMED_OUT, f"timed out after {seconds:g} s (a loop that never ends?)")
    return _verdict(test, errors[0] if errors else None)


def _verdict(test: Callable[[], object], error: BaseException | None) -> Outcome:
    about, hint = _describe(test)
    tail = [f"hint:     {hint}"] if hint else []
    if error is None:
        return Outcome(about, PASSED)
    if isinstance(error, Mismatch):
        shown = [("input:   ", error.given), ("expected:", error.expected), ("got:     ", error.actual)]
        lines = ["wrong result"] + [f"{label} {_short(repr(v))}" for label, v in shown if v is not _NOTHING]
        return Outcome(about, FAILED, "\n".join(lines + ([f"hint:     {error.hint}"] if error.hint else tail)))
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(_LIBRARIES)]
    last = frames[-1] if frames else None
    in_test = last is not None and (last.filename, last.name) == (test.__code__.co_filename, test.__name__)
    if isinstance(error, NotImplementedError) or (isinstance(error, NameError) and in_test):
        return Outcome(about, NOT_ANSWERED, "not answered yet")  # a stub, or a name not defined yet
    if isinstance(error, AssertionError) and in_test:
        return Outcome(about, FAILED, "\n".join([str(error) or f"this was false: {last.line}", *tail]))
    if isinstance(error, SystemExit):
        return Outcome(about, ERROR, "your code called sys.exit(): return or raise instead")
    # Where, in the learner's code: the innermost frame, then who called it (not the whole trace).
    # Frames of the test's own cell (the test and its helpers) are the test's, not the learner's.
    yours = [f for f in frames if f.filename != test.__code__.co_filename]
    who = "your code" if yours else "the test, on what your code returned,"
    lines = [f"{who} raised {type(error).__name__}: {_short(str(error))}"]
    for n, frame in enumerate(reversed(yours[-3:])):
        lines.append(f"{'in' if n == 0 else 'called from'} {frame.name}, line {frame.lineno}: {frame.line}")
    return Outcome(about, ERROR, "\n".join(lines + tail))


def _report(question: str, outcomes: list[Outcome]) -> str:
    if not outcomes:
        return f"{question}: no tests found: define functions named test_... in this cell."
    if _headline(outcomes) == "not answered yet":
        return f"{question}: not answered yet. Write your answer above, run it, then this cell again."
    passed = sum(o.status == PASSED for o in outcomes)
    lines = [f"{question}: {_headline(outcomes)} ({passed} of {len(outcomes)} tests passed)"]
    for o in outcomes:
        first, *details = o.message.split("\n")
        lines.append(f"  ✓ {o.test}" if o.status == PASSED else f"  ✗ {o.test}: {first}")
        lines += [f"      {line}" for line in details]
    return "\n".join(lines)


def _headline(outcomes: list[Outcome]) -> str:
    statuses = {o.status for o in outcomes}
    if statuses == {PASSED}:
        return "passed ✓"
    return "not answered yet" if statuses == {NOT_ANSWERED} else "failed ✗"


def _describe(test: Callable[[], object]) -> tuple[str, str]:
    """What a test checks (its docstring's first line, else its name in words), and its hint (the
    docstring's "Hint: ..." to the end, shown whenever the test does not pass)."""
    doc = inspect.cleandoc(test.__doc__ or "")
    about = doc.splitlines()[0] if doc else test.__name__.removeprefix("test_").replace("_", " ")
    return about, " ".join(doc.partition("Hint:")[2].split())


def _short(text: str, limit: int = 300) -> str:
    """A long value cut in the middle, so that its start and its end both show."""
    return text if len(text) <= limit else f"{text[: limit - 60]} ... {text[-50:]}"
