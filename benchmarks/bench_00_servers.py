"""serve() start -> first response and stop -> port free for each kind; the client's share."""

from __future__ import annotations

import os
import socket
import statistics
import time
from pathlib import Path

from common import highlight, progress, start

from socket2flask import plots, probe
from socket2flask.httpclient import Connection
from socket2flask.servers import KINDS

TITLE = "servers: start, stop, and the client's share"


def first_response_seconds(kind: str, out: Path) -> tuple[float, float]:
    """(serve() until the first 200 arrives, stop() until the port can be bound again)."""
    began = time.perf_counter()
    server = start(kind, out)
    with Connection(server.host, server.port) as conn:
        assert conn.request().status == 200
    started = time.perf_counter() - began
    began = time.perf_counter()
    server.stop()
    while True:  # the port is free once we can bind it ourselves
        try:
            socket.create_server((server.host, server.port)).close()
            break
        except OSError:
            time.sleep(0.0005)
    return started, time.perf_counter() - began


def start_stop(report: list[str], repeats: int, out: Path) -> None:
    report += [
        "## serve(): start to first response, stop to port free",
        "",
        f"Median of {repeats} runs (gunicorn: 3); the aim is ≤ 10 ms and ≤ 5 ms for the "
        "in-thread kinds.",
        "",
        "| kind | start → first 200 | stop → port free |",
        "|---|---:|---:|",
    ]
    medians: dict[str, tuple[float, float]] = {}
    for kind in KINDS:
        if kind == "gunicorn" and not hasattr(os, "fork"):
            continue
        runs = [
            first_response_seconds(kind, out) for _ in range(repeats if kind != "gunicorn" else 3)
        ]
        medians[kind] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
        started, stopped = map(plots.duration, medians[kind])
        progress(f"start/stop {kind}: {started} / {stopped}")
        report.append(f"| {kind} | {started} | {stopped} |")
    report.append("")
    in_thread = [k for k in medians if k != "gunicorn"]
    slowest_serve = max(medians[k][0] for k in in_thread)
    slowest_stop = max(medians[k][1] for k in in_thread)
    highlight(
        f"`serve()` to first response: at most {plots.duration(slowest_serve)} (median) for the "
        f"in-thread kinds; `stop()` to port free: at most {plots.duration(slowest_stop)}"
    )


def clients(report: list[str], n: int, out: Path) -> None:
    report += [
        "## The client's share: get vs session vs raw",
        "",
        f"{n} requests each, one client at a time. Ratio: p50 against `raw` on the same server.",
        "",
        "| server | client | p50 | p99 | req/s | p50 / raw p50 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    notes = []
    for kind in ("socket", "werkzeug", "waitress"):
        with start(kind, out) as server:
            results = {c: probe.measure(server.url, n, client=c) for c in probe.CLIENTS}
        raw = results["raw"].p50
        for client, result in results.items():
            report.append(
                f"| {kind} | {client} | {plots.duration(result.p50)} | "
                f"{plots.duration(result.p99)} | {result.rps:,.0f} | {result.p50 / raw:.1f}× |"
            )
        progress(
            f"clients on {kind}: "
            + ", ".join(f"{c} {plots.duration(r.p50)}" for c, r in results.items())
        )
        if kind == "socket":
            plots.plot_latency(results, title="one trivial server, three clients").savefig(
                out / "clients.png", dpi=plots.DPI
            )
            highlight(
                "the client's share on a trivial keep-alive server: "
                f"`raw` p50 {plots.duration(raw)}, "
                f"`session` {plots.duration(results['session'].p50)}, "
                f"`get` {plots.duration(results['get'].p50)}"
            )
            notes.append(
                f"On the trivial socket server `session` costs "
                f"{plots.duration(results['session'].p50 - raw)} more than `raw` at the "
                f"median: that is `requests`' own share of each call. `raw` p50 there: "
                f"{plots.duration(raw)} "
                f"(the aim is < 150 µs: {'met' if raw < 150e-6 else 'missed'})."
            )
    report += ["", *notes, "", "![clients](clients.png)", ""]


def run(report: list[str], quick: bool, out: Path) -> None:
    start_stop(report, 5 if quick else 21, out)
    clients(report, 200 if quick else 2000, out)
