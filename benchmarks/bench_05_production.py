"""Step 5: every server of the course on the same trivial app, throughput and p99 against the number
of concurrent clients, as ratios against waitress measured in the same run.

The servers: the step-1 and step-2 reference servers (the labs' answers, in-process: step 1's from
the module `make labs` generates from lab 01's solution, step 2's loaded from its notebook),
wsgiref (one request at a time, and threaded), werkzeug's development server, waitress (4 threads)
and gunicorn (2 pre-forked sync workers, in processes of their own). All are probed with the raw
keep-alive client, level by level, every server in turn at each level, so that a busy moment of the
machine hits all of them alike.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from common import hello_app, highlight, progress, start

from socket2flask import plots, probe
from socket2flask.grading.notebook import load_answers
from socket2flask.reference import step1
from socket2flask.servers import Server, serve

TITLE = "step 5: the course's own servers and the production ones, against concurrency"
SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
ANCHOR = "waitress"


def hello(request: object) -> tuple[int, list[tuple[str, str]], bytes]:
    """The same answer as common.hello_app, for the step-1 server's app(request) interface."""
    return 200, [("Content-Type", "text/plain")], b"hello"


def contenders(out: Path) -> dict[str, Server]:
    """Every server, each answering `hello` (gunicorn only where fork() exists)."""
    running = {
        "step 1 (lab 01)": serve(step1.make_handler(hello), kind="socket", name="bench5 step 1"),
        "step 2 (lab 02)": serve(
            load_answers(SOLUTIONS / "02_wsgi_lab.ipynb")["make_handler"](hello_app),
            kind="socket",
            name="bench5 step 2",
        ),
        "wsgiref": start("wsgiref", out, name="bench5 wsgiref"),
        "wsgiref threaded": start("wsgiref", out, threaded=True, name="bench5 wsgiref threaded"),
        "werkzeug": start("werkzeug", out, name="bench5 werkzeug"),
        ANCHOR: start("waitress", out, name="bench5 waitress"),
    }
    if hasattr(os, "fork"):
        # serve() returns once both workers are up, so every measurement sees them both
        running["gunicorn (2 workers)"] = start("gunicorn", out, workers=2, name="bench5 gunicorn")
    return running


def run(report: list[str], quick: bool, out: Path) -> None:
    # waitress logs "Task queue depth" whenever requests wait for one of its 4 threads: a real
    # saturation signal (the lesson teaches it), but here p99 and throughput measure it already.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    n = 200 if quick else 2000
    levels = (1, 4) if quick else (1, 2, 4, 8, 16)
    running = contenders(out)
    results: dict[str, dict[int, probe.Latency]] = {label: {} for label in running}
    try:
        for level in levels:
            for label, server in running.items():
                results[label][level] = probe.measure(
                    server.url, n, client="raw", concurrency=level, warmup=2 * level
                )
            progress(
                f"production, {level} client(s): "
                + ", ".join(f"{label} {results[label][level].rps:,.0f}/s" for label in running)
            )
    finally:
        for server in running.values():
            server.stop()
    if not hasattr(os, "fork"):
        report.append("(gunicorn needs fork(), which this system does not have: not measured.)")

    report += [
        "## Step 5: every server, one trivial app, against concurrency",
        "",
        f"`hello` on each server, {n} requests per cell with the raw keep-alive client; the "
        "client and the in-process servers share one Python process (and its GIL), gunicorn's "
        f"workers run in processes of their own. Ratios are against {ANCHOR} (4 threads) at the "
        "same number of clients, measured in this run: throughput (higher is better) and p99 "
        "(lower is better).",
        "",
        "| server | clients | req/s | p99 | req/s / "
        + ANCHOR
        + " | p99 / "
        + ANCHOR
        + " | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, by_level in results.items():
        for level, result in by_level.items():
            anchor = results[ANCHOR][level]
            report.append(
                f"| {label} | {level} | {result.rps:,.0f} | {plots.duration(result.p99)} | "
                f"{result.rps / anchor.rps:.2f} | {result.p99 / anchor.p99:.2f} | {result.errors} |"
            )
    plots.plot_sweep(
        results, title="one trivial app on every server (raw keep-alive client)"
    ).savefig(out / "production_sweep.png", dpi=plots.DPI)
    report += ["", "![every server against concurrency](production_sweep.png)", ""]
    top = max(levels)
    if not quick:
        ratios = ", ".join(
            f"{label} {results[label][top].rps / results[ANCHOR][top].rps:.2f}×"
            for label in results
            if label != ANCHOR
        )
        highlight(f"{top} clients on one trivial app, throughput against waitress's: {ratios}")
