"""Measure a server from the kernel: latency percentiles, throughput, errors, under load.

    result = measure(server.url, n=200, client="session")   # -> Latency
    result.p50, result.p99, result.rps, result.errors
    by_load = sweep(server.url, concurrency=(1, 2, 4, 8))   # -> {concurrency: Latency}
    with idle_connections(server.url, 1000):                 # 1,000 clients that say nothing
        measure(server.url)                                  # ... and one that asks

Three clients show how much of a latency belongs to the client itself:
"get" opens a new connection per request (`requests.get`), "session" keeps one open
(`requests.Session`), and "raw" is our small keep-alive socket client (`httpclient`), which adds
only tens of microseconds. Every loop is bounded by a count and by `max_seconds`. Network errors
are counted in `errors`; any other exception is a bug, and `measure` raises it.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any
from urllib.parse import urlsplit

import requests

from .httpclient import Connection, ProtocolError

CLIENTS = ("get", "session", "raw")
# What the network can do to a request: refused, reset, timed out, or garbled. Not OSError as a
# whole: requests raises an OSError for a bad URL or header too, which is the caller's bug.
NETWORK_ERRORS = (
    ConnectionError,
    TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ProtocolError,
)


@dataclass
class Latency:
    """What `measure` saw: one latency per answered request, in seconds, in the order sent."""

    samples: list[float]
    errors: int = 0  # requests that got no response (refused, reset, timed out)
    status_counts: Counter = field(default_factory=Counter)
    elapsed: float = 0.0  # wall-clock seconds for all timed requests
    truncated: bool = False  # True when max_seconds ran out before n requests
    first_error: str = ""

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of the samples, by the nearest-rank method."""
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        rank = min(max(1, math.ceil(q / 100 * len(ordered))), len(ordered))
        return ordered[rank - 1]

    p50 = property(lambda self: self.percentile(50))
    p90 = property(lambda self: self.percentile(90))
    p99 = property(lambda self: self.percentile(99))
    mean = property(lambda self: fmean(self.samples) if self.samples else float("nan"))

    @property
    def rps(self) -> float:
        """Answered requests per second of wall-clock time."""
        return len(self.samples) / self.elapsed if self.elapsed else 0.0

    def __repr__(self) -> str:
        text = (
            f"Latency(n={len(self.samples)}, p50={self.p50 * 1e6:,.0f} µs, "
            f"p99={self.p99 * 1e6:,.0f} µs, {self.rps:,.0f} req/s, errors={self.errors}"
        )
        return text + (", stopped by max_seconds)" if self.truncated else ")")


def _client(
    kind: str, url: str, method: str, timeout: float, options: dict[str, Any]
) -> tuple[Callable[[], int], Callable[[], None]]:
    """A function sending one request and returning its status, and one closing the client."""
    if kind == "get":
        return (
            lambda: _close_and_status(requests.request(method, url, timeout=timeout, **options)),
            lambda: None,
        )
    if kind == "session":
        session = requests.Session()
        return (
            lambda: _close_and_status(session.request(method, url, timeout=timeout, **options)),
            session.close,
        )
    if kind == "raw":
        if unsupported := sorted(set(options) - {"data", "headers"}):
            raise TypeError(f"client 'raw' sends only data= and headers=, not {unsupported}")
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = Connection.from_url(url, timeout)
        body = options.get("data") or b""
        if isinstance(body, str):
            body = body.encode()
        headers = options.get("headers")
        return lambda: conn.request(method, target, headers, body).status, conn.close
    raise AssertionError(kind)


def _close_and_status(response: requests.Response) -> int:
    response.close()  # the body is already read; closing returns the connection to its pool
    return response.status_code


def measure(
    url: str,
    n: int = 200,
    *,
    client: str = "session",
    concurrency: int = 1,
    warmup: int = 20,
    method: str = "GET",
    timeout: float = 5.0,
    max_seconds: float = 30.0,
    **request_kwargs: Any,
) -> Latency:
    """Send `n` requests (after `warmup` untimed ones) from `concurrency` threads, each with its own
    client, and time each. Extra keyword arguments (headers=, data=, ...) go to every request."""
    if n < 1 or concurrency < 1 or warmup < 0 or timeout <= 0 or max_seconds <= 0:
        raise ValueError("n, concurrency must be >= 1; warmup >= 0; timeout, max_seconds > 0")
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; choose one of {', '.join(CLIENTS)}")
    result = Latency(samples=[])
    lock = threading.Lock()
    began: list[float] = []  # when the timed part started, read by the barrier's last arrival
    start = threading.Barrier(concurrency + 1, action=lambda: began.append(time.perf_counter()))
    failures: list[Exception] = []  # bugs in the workers, raised again in the caller's thread

    def worker(send: Callable[[], int], close: Callable[[], None], count: int) -> None:
        try:
            for _ in range(-(-warmup // concurrency)):  # warm-up share, rounded up
                _timed(send)
            start.wait()
            for _ in range(count):
                if time.perf_counter() - began[0] > max_seconds:
                    result.truncated = True
                    break
                seconds, status, error = _timed(send)
                with lock:
                    if error:
                        result.errors += 1
                        result.first_error = result.first_error or error
                    else:
                        result.samples.append(seconds)
                        result.status_counts[status] += 1
        except Exception as error:
            failures.append(error)
            start.abort()  # the caller, waiting at the barrier, learns at once
        finally:
            close()

    shares = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]
    # The clients are made here, so that a bad argument raises in the caller's thread.
    jobs = [(*_client(client, url, method, timeout, request_kwargs), share) for share in shares]
    threads = [threading.Thread(target=worker, args=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout=max_seconds)
    except threading.BrokenBarrierError:
        if not failures:
            raise TimeoutError(f"warm-up against {url} did not finish in {max_seconds} s") from None
    for thread in threads:
        thread.join(max_seconds + timeout)
    if failures:
        raise failures[0]
    result.elapsed = time.perf_counter() - began[0]
    return result


def _timed(send: Callable[[], int]) -> tuple[float, int, str]:
    began = time.perf_counter()
    try:
        status = send()
    except NETWORK_ERRORS as error:  # counted; anything else is a bug, and raises
        return time.perf_counter() - began, 0, f"{type(error).__name__}: {error}"
    return time.perf_counter() - began, status, ""


def sweep(
    url: str, concurrency: Iterable[int] = (1, 2, 4, 8, 16), n: int = 200, **measure_kwargs: Any
) -> dict[int, Latency]:
    """`measure` at each level of concurrency: how throughput and tail latency respond to load."""
    return {level: measure(url, n, concurrency=level, **measure_kwargs) for level in concurrency}


@contextmanager
def idle_connections(
    url: str, count: int, *, send: bytes = b"", timeout: float = 5.0
) -> Iterator[list[socket.socket]]:
    """Open `count` connections to `url` that send `send` (nothing: idle; half a request: slow)
    and then wait, each holding whatever the server gives a connection (a thread, a coroutine, a
    worker); close them all on leaving. Yields those that connected in `timeout` each, stopping
    at the first that does not (the server's backlog is full and nobody accepts)."""
    _make_room_for(count)
    parts = urlsplit(url)
    with ExitStack() as closing:
        held: list[socket.socket] = []
        for _ in range(count):
            try:
                conn = socket.create_connection((parts.hostname, parts.port or 80), timeout)
            except NETWORK_ERRORS:  # a full backlog nobody empties: the rest would wait too
                break
            closing.callback(conn.close)
            conn.sendall(send)
            held.append(conn)
        yield held


def _make_room_for(count: int) -> None:
    """Raise this process's open-file limit (each connection is a file, twice when the server is in
    the same process) up to the system's hard limit; say so plainly when it is too low."""
    try:
        import resource  # not on Windows, where the limit is high already
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * count + 256  # both ends of each connection, and the files already open
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise OSError(f"{count} connections need {needed} open files; this system allows {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
