"""Step 5 lab: the reference answers pass every test, visible and hidden, in a real kernel; and
each plausible wrong answer fails its question, with a message that points at the mistake.

The tests of the lab measure shapes on real servers (more clients, more throughput), so this file
runs them as the grader does: the whole solution once in one kernel, then, for each wrong answer,
the wrong answer cell and the question's test cell, then the right answer again.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, load_answers
from kernels import kernel, run_code, text_of
from mutants.lab05 import MUTANTS

from socket2flask.grading.notebook import read

LAB = ROOT / "solutions" / "05_production_lab.ipynb"

# One wrong answer is also a mutant of the lab's corpus: its text is taken from there.
CHECKED_AFTER_RECV = next(m for m in MUTANTS if m.name == "q2_deadline_checked_after_recv")

# (question, what is wrong, text in the reference answer, the wrong text put in its place,
#  a piece of the verdict that must show, so that the learner is told what went wrong)
WRONG_ANSWERS = [
    # q1 TrustedProxies
    (
        "q1",
        "takes the first entry (the client's own claim)",
        "return entries[-self.proxies] if",
        "return entries[0] if",
        "take the LAST entry",
    ),
    (
        "q1",
        "believes any peer",
        'if self.proxies > 0 and environ.get("REMOTE_ADDR") in self.proxy_addresses:',
        "if self.proxies > 0:",
        "change nothing",
    ),
    (
        "q1",
        "always the last entry, whatever the number of proxies",
        "entries[-self.proxies] if",
        "entries[-1] if",
        "entries[-proxies]",
    ),
    (
        "q1",
        "entries not stripped",
        'entries = [entry.strip() for entry in (header or "").split(",") if entry.strip()]',
        'entries = [entry for entry in (header or "").split(",") if entry]',
        "strip",
    ),
    (
        "q1",
        "too few entries: the leftmost is taken",
        "return entries[-self.proxies] if len(entries) >= self.proxies else None",
        "return entries[max(-self.proxies, -len(entries))] if entries else None",
        "expected:",
    ),
    (
        "q1",
        "empty entries counted",
        'for entry in (header or "").split(",") if entry.strip()]',
        'for entry in (header or "").split(",")]',
        "drop the empty entries",
    ),
    (
        "q1",
        "proxies=0 not special",
        'if self.proxies > 0 and environ.get("REMOTE_ADDR")',
        'if environ.get("REMOTE_ADDR")',
        "entries[-0] is entries[0]",
    ),
    (
        "q1",
        "X-Forwarded-Proto ignored",
        'environ["wsgi.url_scheme"] = scheme',
        "pass",
        "wsgi.url_scheme",
    ),
    # q2 LimitedConnection, limited_handler
    (
        "q2",
        "a request of exactly the limit refused",
        "if self.received > self.max_request_bytes:",
        "if self.received >= self.max_request_bytes:",
        "exactly the limit is fine",
    ),
    (
        "q2",
        "the count is per connection",
        "self.received, self.deadline = 0, None",
        "self.deadline = None",
        "the count is per request",
    ),
    (
        "q2",
        "the deadline is per connection",
        "self.received, self.deadline = 0, None",
        "self.received = 0",
        "its own deadline",
    ),
    (
        "q2",
        "the deadline starts at connect",
        "self.deadline: float | None = None",
        "self.deadline: float | None = time.monotonic() + request_timeout",
        "first byte",
    ),
    (
        "q2",
        "no deadline at all",
        "if self.deadline is not None:\n            remaining",
        "if False:\n            remaining",
        "408",
    ),
    (
        "q2",
        "the deadline checked only when recv returns",  # the lab's mutant of that name
        CHECKED_AFTER_RECV.old,
        CHECKED_AFTER_RECV.new,
        "step 1's own timeout is 10 s",
    ),
    (
        "q2",
        "each recv gets the whole request_timeout",
        "remaining = self.deadline - time.monotonic()",
        "remaining = self.request_timeout",
        "not a fresh request_timeout",
    ),
    (
        "q2",
        "the limit is enforced while step 1 drains",
        "if self.refused:\n            return self.conn.recv(size)",
        "if False:\n            return self.conn.recv(size)",
        "escaped from the step-1 server",
    ),
    (
        "q2",
        "step 1's module-wide limit patched instead",
        "handle_connection(LimitedConnection(conn, max_request_bytes, request_timeout), addr, app)",
        "step1.MAX_BODY_BYTES = max_request_bytes\n        handle_connection(conn, addr, app)",
        "q2: failed",
    ),
    (
        "q2",
        "step 1's shorter timeout ignored",
        "            if callers_timeout is not None:\n"
        "                remaining = min(callers_timeout, remaining)\n",
        "",
        "or the caller's own timeout if that is shorter",
    ),
    (
        "q2",
        "the deadline counted from when the first recv began",
        "        callers_timeout = self.conn.gettimeout()\n",
        "        callers_timeout = self.conn.gettimeout()\n"
        "        if self.deadline is None:\n"
        "            self.deadline = time.monotonic() + self.request_timeout\n",
        "nor when the recv that waited for that byte began",
    ),
    (
        "q2",
        "the socket's own timeout at the deadline not taken as a refusal",
        "            if self.deadline is not None:  # mid-request: step 1 answers 408, "
        "then drains\n"
        "                self.refused = True\n",
        "",
        "escaped from the step-1 server",
    ),
    # q3 GracefulServer.shutdown
    (
        "q3",
        "idle connections are waited for",
        "conn.shutdown(socket.SHUT_RD)  # waiting",
        "pass  # waiting",
        "idle thread",
    ),
    (
        "q3",
        "everything cut at once",
        "        deadline = time.monotonic() + grace\n",
        "        self.abort()\n        return True\n",
        "busy thread finish",
    ),
    (
        "q3",
        "the listener closed only at the end",
        "self.listener.close()  # new clients are refused from now on",
        "pass",
        "close the listener first",
    ),
    (
        "q3",
        "grace ignored",
        "thread.join(max(0.0, deadline - time.monotonic()))",
        "thread.join()",
        "at most `grace` seconds",
    ),
    (
        "q3",
        "each thread joined with the whole grace",
        "thread.join(max(0.0, deadline - time.monotonic()))",
        "thread.join(grace)",
        "not `grace` for each thread",
    ),
    (
        "q3",
        "grace shared out between the connections",
        "thread.join(max(0.0, deadline - time.monotonic()))",
        "thread.join(grace / len(still_open))",
        "grace is not shared out",
    ),
    # q4 load_test, speedup, saturation
    (
        "q4",
        "one client at a time at every level",
        'results = probe.sweep(url, concurrency=levels, n=n, client="raw", warmup=4)',
        'results = {level: probe.measure(url, n, client="raw", warmup=4) for level in levels}',
        "really concurrent",
    ),
    (
        "q4",
        "the example's levels written in",
        'results = probe.sweep(url, concurrency=levels, n=n, client="raw", warmup=4)',
        'results = probe.sweep(url, concurrency=(1, 4), n=n, client="raw", warmup=4)',
        "the levels and with the n it is given",
    ),
    (
        "q4",
        "errors not checked",
        "if result.errors or result.truncated or len(result.samples) < n:",
        "if False:",
        "RuntimeError",
    ),
    (
        "q4",
        "speed-up against the first key, not the lowest level",
        "base = results[min(results)].rps",
        "base = results[next(iter(results))].rps",
        "LOWEST level",
    ),
    (
        "q4",
        "saturation one level too far",
        "            return level\n    return levels[-1]",
        "            return following\n    return levels[-1]",
        "stopped growing at 2",
    ),
    (
        "q4",
        "gain ignored",
        "if results[following].rps < gain * results[level].rps:",
        "if results[following].rps < 1.25 * results[level].rps:",
        "1.25 is only the default",
    ),
    (
        "q4",
        "no return when throughput keeps growing",
        "            return level\n    return levels[-1]",
        "            return level",
        "return the highest level",
    ),
    # q5 choose_server, defend
    (
        "q5",
        "waitress with its defaults",
        'return "waitress", {"threads": 16, "max_request_body_size": 65536}',
        'return "waitress", {}',
        "how many threads",
    ),
    (
        "q5",
        "werkzeug's development server",
        'return "waitress", {"threads": 16, "max_request_body_size": 65536}',
        'return "werkzeug", {}',
        "before calling the app",
    ),
    ("q5", "eight threads", '"threads": 16,', '"threads": 8,', "how many threads"),
    (
        "q5",
        "the limit one byte too high",
        '"max_request_body_size": 65536',
        '"max_request_body_size": 65537',
        "exactly that setting allowed",
    ),
    (
        "q5",
        "64 KB read as 64,000 bytes",
        '"max_request_body_size": 65536',
        '"max_request_body_size": 64000',
        "65535: 413",
    ),
    (
        "q5",
        "defend's labels swapped",
        '"waitress, defaults": ("waitress", {}), "yours": (kind, options)}',
        '"waitress, defaults": (kind, options), "yours": ("waitress", {})}',
        "16 in the server labelled 'waitress, defaults'",
    ),
    (
        "q5",
        "defend without load_test",
        "results[label] = load_test(server.url, levels=(4, 16), n=32)",
        "results[label] = probe.sweep(server.url, concurrency=(4, 16), n=32, warmup=4)",
        "return what your load_test(server.url, ...) returned",
    ),
    (
        "q5",
        "gunicorn, which Windows cannot run",
        'return "waitress", {"threads": 16, "max_request_body_size": 65536}',
        'return "gunicorn", {"workers": 16}',
        "fork()",
    ),
]


def test_every_wrong_answer_changes_the_reference_answer():
    answers = {
        c.metadata["nbgrader"]["grade_id"].removesuffix("_answer"): c.source
        for c in nbformat.read(LAB, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for question, what, right, _, _ in WRONG_ANSWERS:
        assert answers[question].count(right) == 1, (
            f"{question} ({what}): not once in the answer: {right!r}"
        )


def test_the_step_1_server_is_lab_01s_reference_answer_imported_not_copied():
    """Lab 05 says its step-1 server is lab 01's reference answer, unchanged: it imports it from
    the module generated from lab 01's solution (fresh), and defines none of it itself."""
    import ast

    from socket2flask.grading.labs import reference_module
    from socket2flask.reference import step1

    solution_01 = ROOT / "solutions" / "01_raw_socket_lab.ipynb"
    generated = reference_module(read(solution_01), solution_01.name)
    assert Path(step1.__file__).read_text(encoding="utf-8") == generated, (
        "src/socket2flask/reference/step1.py is stale: run `make labs`"
    )
    defined_by_step1 = {
        node.name
        for node in ast.parse(generated).body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }
    imported, defined = set(), set()
    for cell in nbformat.read(LAB, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module == "socket2flask.reference.step1":
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not is_test_cell(cell):
                defined.add(node.name)
    assert imported == {"HTTPError", "handle_connection"}, imported
    assert all(hasattr(step1, name) for name in imported), imported
    assert not defined & defined_by_step1, f"lab 05 copies step 1's {defined & defined_by_step1}"
    given = "\n".join(c.source for c in nbformat.read(LAB, as_version=4).cells)
    assert "Given (lab 01's reference answer, unchanged)" in given
    assert "inspect.getsource(step1." in given  # shown where it matters, not pasted


def is_test_cell(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("grade"))


def test_load_answers_gives_the_reference_code_with_the_given_step_1_server():
    answers = load_answers("05_production_lab")
    for name in (
        "TrustedProxies",
        "LimitedConnection",
        "limited_handler",
        "GracefulServer",
        "load_test",
        "speedup",
        "saturation",
        "choose_server",
        "defend",
        "handle_connection",
        "HTTPError",
        "ConnectionServer",
    ):
        assert callable(answers[name]), name
    assert answers["choose_server"]() == (
        "waitress",
        {"threads": 16, "max_request_body_size": 65536},
    )


@pytest.mark.timeout(900)
def test_the_solution_passes_and_plausible_wrong_answers_fail_with_a_helpful_verdict(tmp_path):
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
    given = "\n\n\n".join(
        c.source
        for c in cells
        if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("given_")
    )
    # step 1's module constants, put back after each wrong answer (one of them patches them)
    keep_step1 = (
        "from socket2flask.reference import step1 as _step1\n"
        "_constants = {k: v for k, v in vars(_step1).items() if k.isupper()}"
    )
    restore_step1 = "vars(_step1).update(_constants)"
    missed = []
    with kernel(tmp_path, tmp_path) as client:
        run_code(client, keep_step1)
        # the whole solution once (not the plot and the score): every question passes
        for cell in cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader"):
                output = text_of(run_code(client, cell.source))
                question = cell.metadata["nbgrader"]["grade_id"]
                assert question not in tests or f"{question}: passed ✓" in output, output[-3000:]
        for question, what, right, wrong, shown in WRONG_ANSWERS:
            run_code(client, answers[question].replace(right, wrong, 1))
            verdict = text_of(run_code(client, tests[question]))
            if f"{question}: failed" not in verdict or shown not in verdict:
                missed.append(f"{question}, {what} (looked for {shown!r}):\n{verdict[-1500:]}")
            run_code(client, restore_step1)  # a wrong answer may have changed them
            run_code(client, given)
            run_code(client, answers[question])  # the right answer again, for the next ones
        run_code(client, "from socket2flask.servers import stop_all\nstop_all()")
    assert not missed, (
        "wrong answers not caught, or caught without the message that helps:\n" + "\n".join(missed)
    )
