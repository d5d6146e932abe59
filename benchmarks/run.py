"""make bench: every measurement of the course in one run, side by side, as ratios.

    python benchmarks/run.py --out build/bench [--quick]

Writes build/bench/REPORT.md (machine and versions first, then one table per section) and PNG plots.
Absolute times depend on the machine; the ratios between rows measured in the same run are what to
compare. Progress goes to the terminal as it runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from socket2flask import plots, probe
from socket2flask.httpclient import Connection
from socket2flask.servers import KINDS, serve

def hello_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def keepalive_handler(conn: socket.socket, addr) -> None:
    """The smallest correct keep-alive answer to GET requests: the floor for the raw client."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
        buffer = buffer.partition(b"\r\n\r\n")[2]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")


def gunicorn_app_dir() -> Path:
    """gunicorn imports its app by name: write `bench_app:app` into build/bench/app/."""
    folder = Path("build/bench/app").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench_app.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '5')])\n"
        "    return [b'hello']\n")
    return folder


def start(kind: str, **options):
    if kind == "socket":
        return serve(keepalive_handler, kind=kind, **options)
    if kind == "gunicorn":
        return serve("bench_app:app", kind=kind, app_dir=str(gunicorn_app_dir()), **options)
    return serve(hello_app, kind=kind, **options)


def first_response_seconds(kind: str) -> tuple[float, float]:
    """(serve() until the first 200 arrives, stop() until the port can be bound again)."""
    began = time.perf_counter()
    server = start(kind)
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


def section_start_stop(report: list[str], repeats: int) -> None:
    """(c) serve() start -> first response, and stop() -> port free, for each kind."""
    report += ["## serve(): start to first response, stop to port free", "",
               f"Median of {repeats} runs; the issue asks for ≤ 10 ms and ≤ 5 ms for in-thread kinds.",
               "", "| kind | start → first 200 | stop → port free |", "|---|---:|---:|"]
    for kind in KINDS:
        if kind == "gunicorn" and not hasattr(os, "fork"):
            continue
        runs = [first_response_seconds(kind) for _ in range(repeats if kind != "gunicorn" else 3)]
        start_median = statistics.median(r[0] for r in runs)
        stop_median = statistics.median(r[1] for r in runs)
        progress(f"start/stop {kind}: {plots.duration(start_median)} / {plots.duration(stop_median)}")
        report.append(f"| {kind} | {plots.duration(start_median)} | {plots.duration(stop_median)} |")
    report.append("")


def section_clients(report: list[str], n: int) -> None:
    """(b, by client) the same servers probed by get, session and raw clients."""
    report += ["## The client's share: get vs session vs raw", "",
               f"{n} requests each, one client at a time. Ratio: p50 against `raw` on the same server.",
               "", "| server | client | p50 | p99 | req/s | p50 / raw p50 |", "|---|---|---:|---:|---:|---:|"]
    notes = []
    for kind in ("socket", "werkzeug", "waitress"):
        with start(kind) as server:
            results = {c: probe.measure(server.url, n, client=c) for c in probe.CLIENTS}
        raw = results["raw"].p50
        for client, result in results.items():
            report.append(f"| {kind} | {client} | {plots.duration(result.p50)} | "
                          f"{plots.duration(result.p99)} | {result.rps:,.0f} | {result.p50 / raw:.1f}× |")
        progress(f"clients on {kind}: " + ", ".join(f"{c} {plots.duration(r.p50)}" for c, r in results.items()))
        if kind == "socket":
            plots.plot_latency(results, title="one trivial server, three clients").savefig(
                OUT / "clients.png", dpi=plots.DPI)
            gap = results["session"].p50 - raw
            notes.append(f"`session` costs {plots.duration(gap)} more than `raw` at the median on the "
                          f"trivial socket server: that is `requests`' own share of each call. "
                          f"`raw` p50 here: {plots.duration(raw)} (the issue asks < 150 µs).")
    report += ["", *notes, "", "![clients](clients.png)", ""]


def machine() -> list[str]:
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in
                         ("werkzeug", "flask", "waitress", "gunicorn", "requests", "nbclient"))
    return ["# From Socket to Flask: benchmark report", "",
            f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
            f"- Python {platform.python_version()}; {versions}",
            f"- run at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", ""]


def progress(message: str) -> None:
    print(f"[bench {time.perf_counter() - STARTED:6.1f} s] {message}", flush=True)


SECTIONS: list[tuple[str, Callable[[list[str], bool], None]]] = [
    ("start and stop", lambda report, quick: section_start_stop(report, 5 if quick else 21)),
    ("clients", lambda report, quick: section_clients(report, 200 if quick else 2000)),
]

STARTED = time.perf_counter()
OUT = Path("build/bench")


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/bench", type=Path)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for tests)")
    args = parser.parse_args()
    OUT = args.out
    OUT.mkdir(parents=True, exist_ok=True)
    report = machine()
    for title, run in SECTIONS:
        progress(f"section: {title}")
        run(report, args.quick)
    (OUT / "REPORT.md").write_text("\n".join(report) + "\n")
    progress(f"wrote {OUT / 'REPORT.md'}")


if __name__ == "__main__":
    main()
