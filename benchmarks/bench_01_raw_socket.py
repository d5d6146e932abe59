"""Step 1: the lab's reference server (keep-alive, a thread per connection, on `socket`) against
waitress serving a trivial WSGI app, both probed with the raw keep-alive client in the same run."""

from __future__ import annotations

import logging
from pathlib import Path

from common import hello_app, highlight, progress

from socket2flask import plots, probe
from socket2flask.grading.notebook import load_answers
from socket2flask.servers import serve

TITLE = "step 1: the raw-socket server vs waitress"
SOLUTION = Path(__file__).resolve().parent.parent / "solutions" / "01_raw_socket_lab.ipynb"


def reference_answers() -> dict:
    """The lab's reference answers, loaded in this process."""
    return load_answers(SOLUTION)


def hello(request: object) -> tuple[int, list[tuple[str, str]], bytes]:
    """The same answer as common.hello_app, for the step-1 server's app(request) interface."""
    return 200, [("Content-Type", "text/plain")], b"hello"


def run(report: list[str], quick: bool, out: Path) -> None:
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" under load
    handler = reference_answers()["make_handler"](hello)
    n = 500 if quick else 5000
    levels = (1, 4) if quick else (1, 2, 4, 8)
    with (
        serve(handler, kind="socket", name="bench step 1") as ours,
        serve(hello_app, kind="waitress", name="bench waitress") as waitress,
    ):
        results = {"step 1": {}, "waitress": {}}
        for level in levels:
            for label, server in (("step 1", ours), ("waitress", waitress)):
                results[label][level] = probe.measure(
                    server.url, n, client="raw", concurrency=level
                )
            progress(
                f"step 1 vs waitress, {level} client(s): "
                + ", ".join(f"{k} {plots.duration(v[level].p50)}" for k, v in results.items())
            )
        ours.check()
    report += [
        "## Step 1: the lab's raw-socket server vs waitress",
        "",
        f"The reference answer of `solutions/01_raw_socket_lab.ipynb` (`make_handler`: "
        f"keep-alive, full RFC 9112 parsing, a thread per connection) and waitress, both "
        f"answering `hello`; {n} requests per row with the raw keep-alive client. "
        "Ratios: step 1 / waitress (p50: lower is better; throughput: higher is better).",
        "",
        "| clients | step 1 p50 | waitress p50 | p50 ratio | step 1 req/s | waitress req/s "
        "| throughput ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        a, b = results["step 1"][level], results["waitress"][level]
        report.append(
            f"| {level} | {plots.duration(a.p50)} | {plots.duration(b.p50)} | "
            f"{a.p50 / b.p50:.2f} | {a.rps:,.0f} | {b.rps:,.0f} | {a.rps / b.rps:.2f} |"
        )
        if a.errors or b.errors:
            report.append(f"| {level} | errors: step 1 {a.errors}, waitress {b.errors} | | | | | |")
    one, top = results["step 1"][levels[0]], results["waitress"][levels[0]]
    highlight(
        f"the step-1 lab's raw-socket server against waitress, one raw keep-alive client: p50 "
        f"{one.p50 / top.p50:.2f}× waitress's, throughput {one.rps / top.rps:.2f}× ("
        f"{plots.duration(one.p50)} vs {plots.duration(top.p50)})"
    )
    plots.plot_latency(
        {label: sweep[1] for label, sweep in results.items()}, title="one client, raw keep-alive"
    ).savefig(out / "step1_latency.png", dpi=plots.DPI)
    plots.plot_sweep(results, title="step 1 vs waitress").savefig(
        out / "step1_sweep.png", dpi=plots.DPI
    )
    report += [
        "",
        "![step 1 latency](step1_latency.png)",
        "",
        "![step 1 sweep](step1_sweep.png)",
        "",
    ]
