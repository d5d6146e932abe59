"""The hostile corpus (socket2flask/hostile.py): each request, smuggling shapes, chunk-size
attacks, bad Host values, bad targets, bad header syntax, odd versions and slow clients, sent to the
course's two servers and to gunicorn, waitress and werkzeug, each answering the same trivial app.

Reported, not asserted: per server, the cases whose answer the RFC allows, the 2xx answers where
the RFC calls for an error, the cases with no answer and no close in bounded time ("hang"), and
whether 30 slowloris clients keep a normal request from being served. Our own servers are held to
the corpus by tests/test_hostile.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common import highlight, progress

from socket2flask.grading.notebook import load_answers
from socket2flask.hostile import CASES, conformant, error_required, exchange, matches, starved
from socket2flask.servers import serve

ROOT = Path(__file__).resolve().parent.parent

TITLE = "hostile requests: the RFC's answer, server by server"
BOUND = 5.0  # seconds to wait for an answer after the last byte
SLOW_BOUND = 15.0  # for slow clients: longer than the step-1 server's REQUEST_TIMEOUT (10 s)


def body_of(environ) -> bytes:
    """The request body as PEP 3333 lets an app read it: CONTENT_LENGTH bytes, or to the end when
    the server says the input is terminated (a chunked body); at most 1 MiB, as with a body
    limit."""
    if environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"].read(1 << 20)
    length = environ.get("CONTENT_LENGTH") or "0"
    return environ["wsgi.input"].read(min(int(length), 1 << 20)) if length.isdigit() else b""


def app(environ, start_response):
    """Reads the body, answers 200 and its length."""
    body = b"ok %d" % len(body_of(environ))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def step1_app(request):
    return 200, [("Content-Type", "text/plain")], b"ok %d" % len(request.body)


# werkzeug and waitress run in a child process of their own: a case that wedges one of them (a
# thread spinning on a 20-hex-digit chunk size, say) must not take the benchmark down with it.
CHILD = """
import logging, sys
sys.path.insert(0, sys.argv[2])
from bench_08_hostile import app
from socket2flask.servers import serve
logging.getLogger("waitress").setLevel(logging.CRITICAL)
options = {"threads": 4} if sys.argv[1] == "waitress" else {}
server = serve(app, kind=sys.argv[1], name="bench8 child", **options)
print(server.port, flush=True)
sys.stdin.read()  # until the parent closes our stdin (or kills us)
"""


class Child:
    """A werkzeug or waitress server in a child process, on 127.0.0.1."""

    def __init__(self, kind: str) -> None:
        import subprocess

        self.host = "127.0.0.1"
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, kind, str(Path(__file__).parent)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        self.port = int(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


def gunicorn_dir(out: Path) -> Path:
    folder = (out / "hostile_app").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    import inspect

    (folder / "hostile_app.py").write_text(
        inspect.getsource(body_of) + "\n\n" + inspect.getsource(app)
    )
    return folder


def servers(out: Path) -> dict:
    """label: a function that starts the server (one at a time: a hang in one must not cost
    another)."""
    found = {
        "step 1 (lab 01)": lambda: serve(
            load_answers(ROOT / "solutions" / "01_raw_socket_lab.ipynb")["make_handler"](step1_app),
            kind="socket",
            name="bench8 step 1",
        ),
        "step 2 (lab 02)": lambda: serve(
            load_answers(ROOT / "solutions" / "02_wsgi_lab.ipynb")["make_handler"](app),
            kind="socket",
            name="bench8 step 2",
        ),
        "werkzeug": lambda: Child("werkzeug"),
        "waitress (4 threads)": lambda: Child("waitress"),
    }
    if hasattr(os, "fork"):
        found["gunicorn (2 sync workers)"] = lambda: serve(
            "hostile_app:app",
            kind="gunicorn",
            workers=2,
            app_dir=str(gunicorn_dir(out)),
            name="bench8 gunicorn",
        )
    return found


def corpus(start) -> tuple[dict, int | str, int]:
    """({case: outcome}, the normal GET's status behind 30 slowloris clients, restarts): the fast
    cases one by one, on a fresh server after a hang; the slow ones side by side."""
    from concurrent.futures import ThreadPoolExecutor

    outcomes, restarts = {}, 0
    server = start()
    try:
        for case in CASES:
            if case.drip:
                continue
            outcomes[case.name] = exchange(server.host, server.port, case, BOUND)
            if outcomes[case.name] == "hang":
                server.stop()
                server, restarts = start(), restarts + 1
        slow = [case for case in CASES if case.drip]
        with ThreadPoolExecutor(len(slow)) as pool:
            found = pool.map(
                lambda case: exchange(server.host, server.port, case, SLOW_BOUND), slow
            )
            outcomes.update((case.name, outcome) for case, outcome in zip(slow, found))
        server.stop()
        server = start()
        behind = starved(server.host, server.port, slow=30, bound=BOUND)
    finally:
        server.stop()
    return outcomes, behind, restarts


def run(report: list[str], quick: bool, out: Path) -> None:
    outcomes: dict[str, dict[str, int | str]] = {}
    starving: dict[str, int | str] = {}
    restarted: dict[str, int] = {}
    for label, start in servers(out).items():
        if quick and not label.startswith("step"):  # the others hang on some cases: ~2 minutes
            continue
        outcomes[label], starving[label], restarted[label] = corpus(start)
        progress(
            f"hostile: {label}: {sum(conformant(outcomes[label][c.name], c) for c in CASES)}"
            f" of {len(CASES)} as the RFC allows"
        )

    labels = list(outcomes)
    highlight(
        "hostile corpus ("
        + f"{len(CASES)} requests), answers the RFC allows: "
        + ", ".join(
            f"{label} {sum(conformant(outcomes[label][c.name], c) for c in CASES)}"
            for label in labels
        )
    )
    report += [
        f"## {TITLE}",
        "",
        f"{len(CASES)} requests of `socket2flask/hostile.py`, each on a fresh connection, to "
        "each server answering a trivial app that reads the body. An answer is awaited "
        f"{BOUND:.0f} s after the last byte ({SLOW_BOUND:.0f} s for slow clients); none and no "
        'close is a hang. "RFC" counts the answers the RFC allows (where it allows two, such as '
        'Transfer-Encoding winning over Content-Length, either); "strict" those equal to our '
        'strict choice; "2xx for an error" the 2xx answers where the RFC requires an error. After '
        "a hang the server is restarted, so that one case cannot cost the next ones. Last column: "
        "the status of a normal GET sent behind 30 slowloris clients.",
        "",
        "| server | RFC | strict | 2xx for an error | hangs (restarts) "
        "| normal GET behind 30 slowloris |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label in labels:
        got = outcomes[label]
        rfc = sum(conformant(got[c.name], c) for c in CASES)
        strict = sum(matches(got[c.name], c.expected) for c in CASES)
        bad_2xx = sum(
            isinstance(got[c.name], int) and got[c.name] // 100 == 2 and error_required(c)
            for c in CASES
        )
        hangs = sum(got[c.name] == "hang" for c in CASES)
        behind = starving[label]
        report.append(
            f"| {label} | {rfc}/{len(CASES)} | {strict}/{len(CASES)} | {bad_2xx} | "
            f"{hangs} ({restarted[label]}) | "
            f"{behind if behind != 'hang' else 'starved (no answer)'} |"
        )
    report += [
        "",
        "Case by case (the first status, `closed` without an answer, or `hang`; "
        "**bold** where the RFC does not allow it):",
        "",
        "| case | RFC | expected | " + " | ".join(labels) + " |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    for case in CASES:
        cells = []
        for label in labels:
            outcome = outcomes[label][case.name]
            text = str(outcome)
            cells.append(text if conformant(outcome, case) else f"**{text}**")
        expected = case.expected + "".join(f" or {a}" for a in case.also)
        name = case.name.replace("|", "\\|")
        report.append(f"| {name} | {case.section} | {expected} | " + " | ".join(cells) + " |")
    report.append("")
