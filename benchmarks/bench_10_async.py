"""Step 7: idle connections. Clients that connect and say nothing (a browser's spare connections,
a phone gone to sleep, a slowloris attacker), and beside them one normal kept-alive client asking
for a 5-byte "hello": its p50 and p99, and the memory and threads that the idle connections add
to the server's process(es), on four servers:

- the step-1 server (lab 01's answer): a thread per connection;
- waitress (4 threads): one select loop holds the connections, 4 threads run the app;
- gunicorn (2 sync workers): each worker process reads one connection at a time;
- uvicorn: one event loop (in one thread) holds every connection.

Each server runs in a child process of its own, a fresh one for each (server, number of idle
connections) pair: its memory and threads are then the server's alone (in this process, memory
freed by one cell would be reused by the next, and the idle clients' sockets would count), and no
cell inherits the state of the one before. A normal client whose first request gets no answer in
TIMEOUT is "starved": it is not measured further (each request would cost TIMEOUT).
"""

from __future__ import annotations

import logging
import math
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common import hello_asgi, highlight, progress, start

from socket2flask import plots, probe
from socket2flask.httpclient import Connection
from socket2flask.reference import step1
from socket2flask.servers import Server, serve

HERE = Path(__file__).resolve().parent
TITLE = "step 7: idle connections, a thread per connection against one event loop"
ANCHOR = "uvicorn"
TIMEOUT = 1.0  # seconds a request may wait for its answer (a normal one takes well under 1 ms)
FAST = 0.100  # capacity's bar: every answer, with p99 under 100 ms
CONNECT_TIMEOUT = 1.5  # for one connection: more than the second a SYN waits to be sent again
MAX_SECONDS = 5.0  # for the normal client's n requests (a tenth of that is plenty)
START_SECONDS = 40.0  # for a child to start its server (gunicorn waits up to 30 s for workers)


def hello(request: object) -> tuple[int, list[tuple[str, str]], bytes]:
    """The step-1 server's app: the same answer as common.hello_app."""
    return 200, [("Content-Type", "text/plain")], b"hello"


# How each server holds connections, for the tables
HOW = {
    "step 1": "a thread per connection",
    "waitress": "4 threads",
    "gunicorn": "2 sync workers",
    ANCHOR: "one event loop",
}


def starters(out: Path) -> dict[str, Callable[[], Server]]:
    """name: a function starting that server (gunicorn only where fork() exists)."""
    found: dict[str, Callable[[], Server]] = {
        "step 1": lambda: serve(step1.make_handler(hello), kind="socket", name="bench10 step 1"),
        "waitress": lambda: start("waitress", out, name="bench10 waitress"),
    }
    if hasattr(os, "fork"):
        found["gunicorn"] = lambda: start("gunicorn", out, workers=2, name="bench10 gunicorn")
    found[ANCHOR] = lambda: serve(
        hello_asgi, kind="uvicorn", lifespan="off", name="bench10 uvicorn"
    )
    return found


# The child: start one server, print its port, serve until the parent closes our stdin.
CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from bench_10_async import serve_until_stdin_closes
serve_until_stdin_closes(sys.argv[2], sys.argv[3])
"""


def serve_until_stdin_closes(name: str, out: str) -> None:
    """In the child process: serve `name` until the parent closes our stdin (or kills us)."""
    # waitress warns when it reaches its connection_limit (100): the report shows what it costs
    logging.getLogger("waitress").setLevel(logging.ERROR)
    with starters(Path(out))[name]() as server:
        print(server.port, flush=True)
        sys.stdin.read()


@contextmanager
def server_process(name: str, out: Path) -> Iterator[tuple[str, int]]:
    """`name`'s server in a child process: yields (its URL, the child's pid); stops it on exit."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(HERE), name, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with selectors.DefaultSelector() as ready:  # its port, or end-of-file if it died
            ready.register(child.stdout, selectors.EVENT_READ)
            if not ready.select(START_SECONDS):
                raise TimeoutError(f"{name} did not start in {START_SECONDS:g} s")
        port = child.stdout.readline().strip()  # "" if the child died: its error is above
        if not port.isdigit():
            raise RuntimeError(f"{name} did not start (its error, if any, is above)")
        yield f"http://127.0.0.1:{port}", child.pid
    finally:
        child.stdin.close()  # the child stops its server and exits
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()


def still_idle(held: list[socket.socket]) -> int:
    """How many of `held` the server has neither closed nor answered: nothing to read on them."""
    if not held:
        return 0
    with selectors.DefaultSelector() as selector:
        for conn in held:
            selector.register(conn, selectors.EVENT_READ)
        return len(held) - len(selector.select(timeout=0))


def descendants(pid: int) -> list[int]:
    """Every process started under `pid` (gunicorn's master and its workers), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()  # after "(command name)"
        except OSError:  # the process ended while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, waiting = [], list(children.get(pid, []))
    while waiting:
        child = waiting.pop()
        found.append(child)
        waiting += children.get(child, [])
    return found


def usage(pids: list[int]) -> tuple[int, int]:
    """(resident memory in bytes, threads) summed over `pids`, from /proc/<pid>/status."""
    memory = threads = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        status = dict(line.split(":", 1) for line in lines if ":" in line)
        memory += int(status.get("VmRSS", "0").split()[0]) * 1024  # in kB; none if a zombie
        threads += int(status["Threads"])
    return memory, threads


@dataclass
class Cell:
    """One server beside `count` idle connections."""

    count: int
    connected: int  # idle connections the kernel took (accepted, or waiting in the backlog)
    idle_after: int  # of those, still open and unanswered after the measurement
    result: probe.Latency | None  # None: the first request got no answer in TIMEOUT
    memory: int  # bytes of resident memory the idle connections added to the server
    threads: int  # threads they added

    @property
    def starved(self) -> bool:
        return self.result is None or self.result.errors > 0 or not self.result.samples

    @property
    def p99(self) -> float:
        return float("nan") if self.starved or self.result is None else self.result.p99


def normal_client(url: str, n: int, rounds: int) -> probe.Latency | None:
    """`rounds` rounds of n requests from one kept-alive client each, and the round whose p99 is
    the median (a busy moment of this shared machine spoils one round, not the figure); a round
    with an error instead; None when the first request gets no answer in TIMEOUT."""
    with Connection.from_url(url, TIMEOUT) as first:
        try:
            first.request("GET", "/")
        except probe.NETWORK_ERRORS:
            return None
    done = []
    for _ in range(rounds):
        result = probe.measure(
            url, n, client="raw", warmup=5, timeout=TIMEOUT, max_seconds=MAX_SECONDS
        )
        if result.errors or not result.samples:
            return result
        done.append(result)
    return sorted(done, key=lambda result: result.p99)[len(done) // 2]


def measure_cell(name: str, out: Path, count: int, n: int, rounds: int) -> Cell:
    with server_process(name, out) as (url, pid):
        memory, threads = usage([pid, *descendants(pid)])  # gunicorn: its master and workers
        with probe.idle_connections(url, count, timeout=CONNECT_TIMEOUT) as held:
            result = normal_client(url, n, rounds)
            memory_after, threads_after = usage([pid, *descendants(pid)])
            idle_after = still_idle(held)
    return Cell(
        count, len(held), idle_after, result, memory_after - memory, threads_after - threads
    )


def run_all(out: Path, counts: tuple[int, ...], n: int, rounds: int) -> dict[str, dict[int, Cell]]:
    """Every server beside each number of idle connections, every server in turn at each
    number, so that a busy moment of the machine hits all of them alike."""
    cells: dict[str, dict[int, Cell]] = {name: {} for name in starters(out)}
    for count in counts:
        for name in cells:
            cells[name][count] = measure_cell(name, out, count, n, rounds)
        progress(
            f"idle {count}: "
            + ", ".join(f"{name} {verdict(by[count])}" for name, by in cells.items())
        )
    return cells


def verdict(cell: Cell) -> str:
    return "starved" if cell.starved else f"p99 {plots.duration(cell.p99)}"


def capacity(by_count: dict[int, Cell]) -> int | None:
    """The largest tested number of idle connections beside which (and beside every smaller
    number tested) the normal client got every answer with p99 under FAST; None: not even 0."""
    best = None
    for count in sorted(by_count):
        cell = by_count[count]
        if cell.starved or cell.p99 >= FAST:
            break
        best = count
    return best


def ratio(a: float, b: float) -> str:
    return "n/a" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.1f}×"


def megabytes(size: int) -> str:
    return f"{size / 1e6:+.1f} MB"


def capacity_text(by_count: dict[int, Cell]) -> str:
    best, top = capacity(by_count), max(by_count)
    if best is None:
        return "none"
    return f"≥ {best:,}" if best == top else f"{best:,}"


def plot(cells: dict[str, dict[int, Cell]], out: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    fig, (tail, memory) = plt.subplots(
        1, 2, figsize=plots.FIGSIZE, dpi=plots.DPI, layout="constrained"
    )
    fig.suptitle("one normal client beside idle connections")
    counts = sorted({count for by in cells.values() for count in by})
    places = range(len(counts))  # evenly spaced: 0, 1, 10, 100, 1000
    for index, (color, (name, by)) in enumerate(zip(plots.COLORS, cells.items())):
        label = f"{name} ({HOW[name]})"
        tail.plot(places, [by[count].p99 * 1e3 for count in counts], "o-", color=color, label=label)
        # starved: an x at the timeout, a little apart from the other servers' x
        apart = 0.1 * (index - (len(cells) - 1) / 2)
        starved = [place + apart for place, count in zip(places, counts) if by[count].starved]
        tail.plot(starved, [TIMEOUT * 1e3] * len(starved), "x", color=color, markersize=10)
        added = [by[count].memory / 1e6 for count in counts]
        memory.plot(places, added, "o-", color=color, label=label)
    for axis in (tail, memory):
        axis.set_xticks(list(places), [f"{count:,}" for count in counts])
        axis.set_xlabel("idle connections")
        axis.grid(True, alpha=0.3)
    tail.set_yscale("log")
    tail.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    tail.set(ylabel="p99 (ms, log scale)", title=f"p99 (x: starved, no answer in {TIMEOUT:g} s)")
    memory.set(ylabel="memory added (MB)", title="resident memory the idle connections added")
    tail.legend(fontsize="small")
    fig.savefig(out / "idle_connections.png", dpi=plots.DPI)
    plt.close(fig)


def run(report: list[str], quick: bool, out: Path) -> None:
    counts = (0, 10, 1000) if quick else (0, 1, 10, 100, 1000)
    n, rounds = (100, 1) if quick else (1000, 5)
    began = time.perf_counter()
    cells = run_all(out, counts, n, rounds)
    progress(f"idle connections: measured in {time.perf_counter() - began:.1f} s")
    top = max(counts)
    anchor = cells[ANCHOR]
    report += [
        f"## {TITLE[0].upper()}{TITLE[1:]}",
        "",
        f"Beside 0 to {top:,} idle connections (connected, nothing sent), one normal client sends "
        f"{n} requests on a kept-alive connection (the raw client, after 5 untimed ones) for a "
        f"5-byte `hello`, {rounds} time(s): the round with the median p99 is shown. *Starved*: "
        f"its first request got no answer in {TIMEOUT:g} s, or a later one failed. *Capacity*: "
        "the largest number of idle connections tested beside which (and beside every smaller "
        f"number) the normal client got every answer with p99 under {FAST * 1e3:.0f} ms. "
        "*Connected*: the idle connections the kernel took (accepted, or waiting in the listen "
        "backlog); *still idle*: those the server had neither closed nor answered after the "
        "measurement. Memory (resident) and threads: what the idle connections added to the "
        "server's processes (each server runs in a fresh child process for each cell; gunicorn: "
        "its master and workers too). Ratios: against the same server with no idle connection, "
        f"and against {ANCHOR} beside as many, measured in this run.",
        "",
        f"| server | capacity | starved from | p99 beside {top:,} idle | × its own with none "
        f"| × {ANCHOR}'s | memory for {top:,} idle | × {ANCHOR}'s | threads added |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, by in cells.items():
        cell, first = by[top], starved_from(by)
        report.append(
            f"| {name} ({HOW[name]}) | {capacity_text(by)} | "
            f"{'' if first is None else f'{first:,}'} | {verdict(cell).removeprefix('p99 ')} | "
            f"{ratio(cell.p99, by[0].p99)} | {ratio(cell.p99, anchor[top].p99)} | "
            f"{megabytes(cell.memory)} | {ratio(cell.memory, anchor[top].memory)} | "
            f"{cell.threads:+,} |"
        )
    report += [
        "",
        *explanation(),
        "",
        "Every cell:",
        "",
        "| server | idle | connected | still idle | p50 | p99 | × its own with none "
        f"| × {ANCHOR}'s | memory | threads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, by in cells.items():
        for count, cell in by.items():
            p50 = "" if cell.starved or cell.result is None else plots.duration(cell.result.p50)
            report.append(
                f"| {name} | {count:,} | {cell.connected:,} | {cell.idle_after:,} | {p50} | "
                f"{verdict(cell).removeprefix('p99 ')} | {ratio(cell.p99, by[0].p99)} | "
                f"{ratio(cell.p99, anchor[count].p99)} | {megabytes(cell.memory)} | "
                f"{cell.threads:+,} |"
            )
    plot(cells, out)
    report += ["", "![p99 and memory beside idle connections](idle_connections.png)", ""]
    highlight(headline(cells, top))


def explanation() -> list[str]:
    """How each server holds an idle connection: what the figures above come from."""
    from waitress.adjustments import Adjustments

    return [
        "How each server holds an idle connection. The step-1 server: a thread of its own, "
        "blocked in `recv`, which costs memory and a thread but no time (until threads or memory "
        f"run out, or its IDLE_TIMEOUT of {step1.IDLE_TIMEOUT:g} s closes the connection). "
        "waitress: its select loop holds connections cheaply, but stops accepting new ones at its "
        f"`connection_limit` ({Adjustments.connection_limit} by default): the normal client then "
        "waits in the kernel's listen backlog. gunicorn's sync worker: reads one connection until "
        "a whole request has come, so as many idle connections as workers leave none to answer; "
        "the others wait in the listen backlog (the *connected* column shows how many it took). "
        "uvicorn: one event loop, and a small object per connection, no thread.",
    ]


def starved_from(by_count: dict[int, Cell]) -> int | None:
    """The smallest tested number of idle connections beside which the normal client starved."""
    return min((count for count, cell in by_count.items() if cell.starved), default=None)


def headline(cells: dict[str, dict[int, Cell]], top: int) -> str:
    """The README's line: each server's p99 beside `top` idle connections, and what they cost,
    against the anchor's; or from how many on it starved. Then each server's capacity."""
    anchor = cells[ANCHOR][top]
    parts = []
    for name in sorted(cells, key=lambda name: name != ANCHOR):  # the anchor first
        cell = cells[name][top]
        if cell.starved:
            parts.append(
                f"{name} ({HOW[name]}) starved beside {starved_from(cells[name]):,} or more"
            )
            continue
        p99, memory = plots.duration(cell.p99), megabytes(cell.memory)
        if name != ANCHOR:
            p99 += f" ({ratio(cell.p99, anchor.p99)} {ANCHOR}'s)"
            memory += f" ({ratio(cell.memory, anchor.memory)} {ANCHOR}'s)"
        threads = f"{cell.threads:+,} threads" if cell.threads else "no thread added"
        parts.append(f"{name} ({HOW[name]}) {p99}, {memory}, {threads}")
    capacities = ", ".join(f"{name} {capacity_text(by)}" for name, by in cells.items())
    return (
        f"beside {top:,} idle connections, a normal client's p99: "
        + "; ".join(parts)
        + f". Idle capacity (every answer, p99 under {FAST * 1e3:.0f} ms): {capacities}"
    )
