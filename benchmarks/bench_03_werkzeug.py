"""Step 3: one small werkzeug app reached three ways, and Shortly's pages, as ratios.

The same `@Request.application` app is called (a) directly as WSGI with a prepared environ, the way
a WSGI server calls it (step 2's dispatch), (b) through `werkzeug.test.Client`, which builds the
environ and reads the response back, and (c) over loopback TCP from werkzeug's threaded server with
the raw keep-alive client. A bare step-2 WSGI app called directly is the anchor: how much do
werkzeug's Request and Response objects cost, and how much does the network add on top?
"""

from __future__ import annotations

import time
from io import BytesIO
from pathlib import Path

from common import highlight, progress
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request, Response

from socket2flask import plots, probe
from socket2flask.grading.notebook import load_answers
from socket2flask.probe import Latency
from socket2flask.servers import serve

TITLE = "werkzeug: direct WSGI call vs test Client vs loopback socket"
ROOT = Path(__file__).resolve().parent.parent


def bare_app(environ, start_response):
    """Step 2: a WSGI app written by hand, echoing ?a=."""
    body = ("hello " + environ.get("QUERY_STRING", "")).encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


@Request.application
def werkzeug_app(request: Request) -> Response:
    """The source notes' app: echo ?a= with werkzeug's Request and Response."""
    return Response("hello a=" + request.args.get("a", ""))


def time_calls(call, n: int, warmup: int = 200) -> Latency:
    for _ in range(warmup):
        call()
    samples = []
    began = time.perf_counter()
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return Latency(samples=samples, elapsed=time.perf_counter() - began)


def direct(app, path: str):
    """A call as a WSGI server makes it: a fresh copy of a prepared environ, the body joined."""
    template = EnvironBuilder(path=path).get_environ()

    def call() -> bytes:
        environ = dict(template, **{"wsgi.input": BytesIO(b"")})
        body = app(environ, lambda status, headers, exc_info=None: None)
        try:
            return b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()

    return call


def run(report: list[str], quick: bool, out: Path) -> None:
    n_calls, n_socket = (2000, 300) if quick else (20000, 3000)
    results: dict[str, Latency] = {
        "bare WSGI app, direct call (anchor)": time_calls(direct(bare_app, "/?a=1"), n_calls),
        "werkzeug app, direct call": time_calls(direct(werkzeug_app, "/?a=1"), n_calls),
    }
    client = Client(werkzeug_app)
    results["werkzeug app, test Client"] = time_calls(lambda: client.get("/?a=1"), n_calls)
    with serve(werkzeug_app, name="bench-03") as server:
        results["werkzeug app, loopback raw client"] = probe.measure(
            server.url + "/?a=1", n_socket, client="raw"
        )
        server.check()

    shortly = load_answers(ROOT / "solutions" / "03_werkzeug_lab.ipynb")
    with_tmp = out / "shortly-bench.sqlite3"
    with_tmp.unlink(missing_ok=True)
    app = shortly["create_app"]({"sqlite_path": with_tmp, "redis_url": None})
    shortly_client = Client(app)
    short_id = app.storage.insert_url("https://example.com/bench")
    results["Shortly details page, test Client"] = time_calls(
        lambda: shortly_client.get(f"/{short_id}+"), n_calls // 4, warmup=50
    )
    with serve(app, name="bench-03-shortly") as server:
        results["Shortly details page, loopback raw client"] = probe.measure(
            f"{server.url}/{short_id}+", n_socket, client="raw"
        )
        server.check()
    with_tmp.unlink(missing_ok=True)

    anchor = results["bare WSGI app, direct call (anchor)"].p50
    report += [
        f"## {TITLE}",
        "",
        "Median per request; ratio against a hand-written WSGI app called directly. "
        f"{n_calls:,} in-process calls, {n_socket:,} loopback requests.",
        "",
        "| how | p50 | p99 | p50 / anchor |",
        "|---|---:|---:|---:|",
    ]
    for label, result in results.items():
        report.append(
            f"| {label} | {plots.duration(result.p50)} | {plots.duration(result.p99)} | "
            f"{result.p50 / anchor:,.1f}× |"
        )
        progress(f"{label}: p50 {plots.duration(result.p50)}")
    client_p50 = results["werkzeug app, test Client"].p50
    highlight(
        f"one werkzeug app: {plots.duration(results['werkzeug app, direct call'].p50)} called "
        f"directly, {plots.duration(client_p50)} through the test Client, "
        f"{plots.duration(results['werkzeug app, loopback raw client'].p50)} over loopback (p50)"
    )
    socket_p50 = results["werkzeug app, loopback raw client"].p50
    report += [
        "",
        f"The same werkzeug app over loopback costs {socket_p50 / client_p50:.1f}× its "
        f"test-Client call and {socket_p50 / results['werkzeug app, direct call'].p50:.0f}× "
        "its direct call: the test client is the right tool for testing the app, not for "
        "measuring a server.",
        "",
        "![werkzeug](werkzeug_client_vs_socket.png)",
        "",
    ]
    figure = plots.plot_latency(
        {k: v for k, v in results.items() if not k.startswith("Shortly")},
        title="one werkzeug app: direct, test Client, loopback",
    )
    figure.savefig(out / "werkzeug_client_vs_socket.png", dpi=plots.DPI)
