"""Step 2: the lab's WSGI server (the reference answer, loaded in-process) against wsgiref, threaded
wsgiref and werkzeug, with the same app and the raw keep-alive client; a step-1 style server that
answers without WSGI is the floor, and a Flask app on top shows what a framework adds."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from common import hello_app, highlight, keepalive_handler, progress

from socket2flask import plots, probe
from socket2flask.grading.notebook import load_answers
from socket2flask.servers import Server, serve

TITLE = "step 2: our WSGI server vs wsgiref, threaded wsgiref and werkzeug"
LAB = Path(__file__).resolve().parent.parent / "solutions" / "02_wsgi_lab.ipynb"


def step2_answers() -> dict:
    """The lab's reference answers, with the step-1 reader they build on (a locked cell imports it
    from its one module, notebooks/apps/request_reader/)."""
    return load_answers(LAB)


def servers(app, make_handler) -> dict[str, Server]:
    return {
        "ours (step 2)": serve(make_handler(app), kind="socket", name="bench ours"),
        "wsgiref": serve(app, kind="wsgiref", name="bench wsgiref"),
        "wsgiref threaded": serve(
            app, kind="wsgiref", threaded=True, name="bench wsgiref threaded"
        ),
        "werkzeug": serve(app, kind="werkzeug", name="bench werkzeug"),
    }


def flask_app():
    from flask import Flask

    app = Flask("bench")
    app.add_url_rule("/", "hello", lambda: "hello")
    return app


def thread_cost(n: int = 200) -> float:
    """The median time to start a thread that does nothing and wait for it to end."""
    times = []
    for _ in range(n):
        began = time.perf_counter()
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def table(report: list[str], results: dict[str, probe.Latency], anchor: str) -> None:
    base = results[anchor]
    report += [
        f"| server | p50 | p99 | req/s | p50 / {anchor} | req/s / {anchor} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        report.append(
            f"| {name} | {plots.duration(r.p50)} | {plots.duration(r.p99)} | {r.rps:,.0f} | "
            f"{r.p50 / base.p50:.2f}× | {r.rps / base.rps:.2f}× |"
        )
    report.append("")


def run(report: list[str], quick: bool, out: Path) -> None:
    answers = step2_answers()
    n = 300 if quick else 3000
    levels = (1, 2, 4) if quick else (1, 2, 4, 8)
    report += [
        "## Step 2: one WSGI app on four servers",
        "",
        f"The same trivial app on each server, {n} requests with the raw keep-alive client, one "
        "at a time. `step 1 (no WSGI)` answers from a raw socket handler: the floor. Ratios are "
        "against our server, measured in this run. wsgiref answers HTTP/1.0 and werkzeug's dev "
        "server sends `Connection: close`, so with them every request opens a new connection "
        "(and, on the threaded ones, starts a new thread); `ours, new connection each time` "
        "asks our server for the same (`Connection: close`).",
        "",
    ]
    running = servers(hello_app, answers["make_handler"])
    running["step 1 (no WSGI)"] = serve(keepalive_handler, kind="socket", name="bench step 1")
    try:
        latency = {
            name: probe.measure(server.url, n, client="raw") for name, server in running.items()
        }
        latency["ours, new connection each time"] = probe.measure(
            running["ours (step 2)"].url, n, client="raw", headers={"Connection": "close"}
        )
        running.pop("step 1 (no WSGI)").stop()
        swept = {
            name: probe.sweep(server.url, concurrency=levels, n=n // 2, client="raw", warmup=10)
            for name, server in running.items()
        }
    finally:
        for server in running.values():
            server.stop()
    progress(
        "step 2 latency: " + ", ".join(f"{k} {plots.duration(v.p50)}" for k, v in latency.items())
    )
    table(report, latency, "ours (step 2)")
    ours = latency["ours (step 2)"].p50
    highlight(
        f"the step-2 lab's WSGI server: p50 {plots.duration(ours)}, against wsgiref "
        f"{latency['wsgiref'].p50 / ours:.1f}× and werkzeug's dev server "
        f"{latency['werkzeug'].p50 / ours:.1f}× that (raw client, one at a time)"
    )
    gap = latency["wsgiref threaded"].p50 - latency["wsgiref"].p50
    thread = thread_cost()
    if gap > thread:
        reading = (
            "so the gap holds more than the thread's own start (the new thread also waits for the "
            "GIL, and socketserver does some bookkeeping for it)."
        )
    else:
        reading = "so in this run the thread's own start covers the gap."
    report += [
        f"wsgiref threaded minus wsgiref: {plots.duration(gap)} at the median; starting and "
        f"joining one thread that does nothing, measured directly: {plots.duration(thread)}; "
        + reading,
        "",
    ]
    groups = {
        "wsgi_latency_ours.png": (
            "step 1 (no WSGI)",
            "ours (step 2)",
            "ours, new connection each time",
        ),
        "wsgi_latency_libraries.png": ("wsgiref", "wsgiref threaded", "werkzeug"),
    }
    titles = {
        "wsgi_latency_ours.png": "step 1 and our WSGI server, kept or new connection (raw client)",
        "wsgi_latency_libraries.png": (
            "wsgiref, threaded wsgiref, werkzeug: a new connection per request"
        ),
    }
    for file, names in groups.items():
        plots.plot_latency({name: latency[name] for name in names}, title=titles[file]).savefig(
            out / file, dpi=plots.DPI
        )
    plots.plot_sweep(swept, title="throughput and p99 against concurrent clients").savefig(
        out / "wsgi_sweep.png", dpi=plots.DPI
    )
    report += [
        f"Throughput by concurrent clients ({n // 2} requests per level; client and servers "
        "share one Python process):",
        "",
        "| server | " + " | ".join(f"{c} client{'s' * (c > 1)}" for c in levels) + " |",
        "|---|" + "---:|" * len(levels),
    ]
    for name, by_level in swept.items():
        report.append(
            f"| {name} | " + " | ".join(f"{by_level[c].rps:,.0f} req/s" for c in levels) + " |"
        )
    report += [
        "",
        "![latency, ours](wsgi_latency_ours.png)",
        "",
        "![latency, libraries](wsgi_latency_libraries.png)",
        "",
        "![sweep](wsgi_sweep.png)",
        "",
    ]

    report += ["A Flask app (one route) on the same four servers, same client:", ""]
    running = servers(flask_app(), answers["make_handler"])
    try:
        on_flask = {
            name: probe.measure(server.url, n, client="raw") for name, server in running.items()
        }
    finally:
        for server in running.values():
            server.stop()
    table(report, on_flask, "ours (step 2)")
    flask_share = on_flask["ours (step 2)"].p50 - latency["ours (step 2)"].p50
    report += [
        f"Flask's own share on our server: {plots.duration(flask_share)} per request "
        "at the median.",
        "",
    ]
    progress(
        f"step 2 with Flask: ours {plots.duration(on_flask['ours (step 2)'].p50)}, "
        f"werkzeug {plots.duration(on_flask['werkzeug'].p50)}"
    )
