"""The tools of lab 05's tests (solutions/05_production_lab.ipynb), one group per question. The
learner's answers come in as arguments: `limited_handler` (q2), the `GracefulServer` class (q3),
`choose_server` (q5). Each wait ends as soon as what it waits for has happened."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests

from socket2flask.probe import Latency
from socket2flask.reference.step1 import Request, make_handler
from socket2flask.servers import KINDS, Server, serve

# q2: the step-1 server with the learner's limits ------------------------------------------------

WAIT_FOR_ANSWER = "wait for the answer"  # in converse()'s pieces: send on once a response came
STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def hello_app(request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
    """The q2 tests' app, for step 1: 'hello', the path and how many body bytes came."""
    body = f"hello {request.path} {len(request.body)}".encode()
    return 200, [("Content-Type", "text/plain")], body


@contextmanager
def serving(
    limited_handler: Callable, max_request_bytes: int, request_timeout: float, name: str
) -> Iterator[Server]:
    """limited_handler(hello_app, ...) under serve(kind="socket"). What escapes the handler is
    collected, and raised once the server has stopped (stop() waits for every connection)."""
    handler = limited_handler(hello_app, max_request_bytes, request_timeout)
    escaped: list[BaseException] = []

    def guarded(conn: socket.socket, addr: Any) -> None:
        try:
            handler(conn, addr)
        except BaseException as error:
            escaped.append(error)

    with serve(guarded, kind="socket", name=name) as server:
        yield server
    if escaped and isinstance(escaped[0], NotImplementedError):
        raise escaped[0]
    if escaped:
        raise AssertionError(
            f"{type(escaped[0]).__name__} escaped from the step-1 server: {escaped[0]}. After a "
            "refusal, step 1 answers and then drains what the client still sends (close_gently): "
            "let recv pass everything through from then on (a TimeoutError from the socket's own "
            "recv in the middle of a request is a refusal too)"
        ) from None


def converse(port: int, pieces: list, responses: int, timeout: float = 3.0) -> tuple[list, float]:
    """Send `pieces` from a thread: bytes, a float (a pause, in seconds) or WAIT_FOR_ANSWER (until
    one more response has begun); read until `responses` responses have begun or the server closes.
    Returns (their status codes, seconds until then); when fewer came, the list ends with what
    happened instead."""
    began, done, answered = time.monotonic(), threading.Event(), threading.Semaphore(0)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send() -> None:
            try:
                for piece in pieces:
                    if done.is_set():
                        return
                    if piece is WAIT_FOR_ANSWER:
                        if not answered.acquire(timeout=timeout):
                            return
                    elif isinstance(piece, float):
                        time.sleep(piece)
                    else:
                        sock.sendall(piece)
            except OSError:
                pass  # the server closed first; its answer is what we read

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        data, ending, seen = b"", f"no response within {timeout:g} s", 0
        while seen < responses and time.monotonic() - began < timeout:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                ending = "the server reset the connection"
                break
            if not chunk:
                ending = "the server closed the connection"
                break
            data += chunk
            count = len(STATUS_LINE.findall(data))
            if count > seen:  # a response has begun: the sender may go on
                answered.release(count - seen)
                seen = count
        took = time.monotonic() - began
        done.set()
        sender.join(timeout)
    got: list = [int(code) for code in STATUS_LINE.findall(data)]
    return (got if len(got) >= responses else got + [ending]), took


def get(path: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode()


def post(size: int) -> bytes:
    return b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size


def drained(
    limited_handler: Callable,
    max_request_bytes: int,
    announced: int,
    first: int,
    more: int,
    request_timeout: float = 2.0,
) -> str:
    """A POST announcing `announced` bytes sends `first` of them; once the answer has come, `more`
    bytes. Returns the start of the answer's status line."""
    head = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % announced
    answer = b""
    with serving(limited_handler, max_request_bytes, request_timeout, "q2 drain") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
            sock.sendall(head + b"x" * first)  # past the limit, or short of it and then silent
            try:
                answer = sock.recv(65536)  # answered; only now does the client send the rest,
                sock.sendall(b"x" * more)  # so all of it reaches step 1's close_gently
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):  # until the server closes: it has read it all
                    pass
            except OSError:  # no answer within 3 s, or the server cut the connection
                pass
    return answer[:12].decode("latin-1") if answer else "no response within 3 s"


# q3: graceful shutdown ---------------------------------------------------------------------------

HOLD_SECONDS = 3.0  # the longest a request to /?hold waits to be released


class Sleepy:
    """The q3 tests' app, for step 1: /?sleep=0.2 sleeps 0.2 s; /?hold waits until release() (3 s
    at most). Counts the requests that reach it, so that a test waits for them, not for a guess."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.released = threading.Event()

    def __call__(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        self.entered.release()
        if "hold" in request.query:
            self.released.wait(HOLD_SECONDS)
            return 200, [("Content-Type", "text/plain")], b"held"
        seconds = float(request.query.get("sleep", ["0"])[0])
        time.sleep(seconds)
        return 200, [("Content-Type", "text/plain")], f"slept {seconds}".encode()

    def wait_until_inside(self, count: int = 1) -> None:
        """Wait until `count` more requests have reached the app."""
        for _ in range(count):
            if not self.entered.acquire(timeout=5):
                raise AssertionError("a request did not reach the app within 5 s: does it serve?")

    def release(self) -> None:
        self.released.set()


@contextmanager
def graceful_server(server_class: Callable) -> Iterator[tuple[Any, Sleepy]]:
    """(server_class(make_handler(app)), app): the learner's GracefulServer running step 1's
    handler around a fresh Sleepy app; aborted, and every held request released, at the end."""
    app = Sleepy()
    server = server_class(make_handler(app))
    try:
        yield server, app
    finally:
        server.abort()  # whatever shutdown did or did not do
        app.release()


def in_background(function: Callable, *args: Any) -> tuple[threading.Thread, list]:
    """Run function(*args) in a thread; the list gets its result (or the exception it raised)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(function(*args))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def fetch(url: str) -> tuple[int, str] | str:
    """(status, body) of a GET, or the name of the error the client got."""
    try:
        answer = requests.get(url, timeout=5)
        return answer.status_code, answer.text
    except requests.RequestException as error:
        return type(error).__name__


def shutdown_timed(server: Any, grace: float) -> tuple[object, float]:
    """(what server.shutdown(grace) returned or raised, seconds it took)."""
    began = time.monotonic()
    try:
        result = server.shutdown(grace)
    except NotImplementedError:
        raise
    except Exception as error:
        result = f"shutdown raised {type(error).__name__}: {error}"
    return result, time.monotonic() - began


def refused(port: int, seconds: float, still: Callable[[], bool]) -> str:
    """Connect to `port` once, then again and again while still() is true (`seconds` at most):
    "refused" once the server refuses, else "connected" (or the name of another error)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return "refused"
        except ConnectionResetError:  # the listener closed during this very handshake
            if time.monotonic() < deadline:
                continue  # the next try is refused
            return "ConnectionResetError"
        except OSError as error:
            return type(error).__name__
        if not still() or time.monotonic() >= deadline:
            return "connected"
        time.sleep(0.01)


# q4 and q5: load ---------------------------------------------------------------------------------


class Workload:
    """An app that waits `wait` seconds (as for a database), reads the body, and counts the calls
    and the most that ran at once (`peak`). With `gather=n`, each call also waits until n calls
    have been in at once (`patience` seconds at most): it holds exactly as long as a test needs."""

    def __init__(self, wait: float = 0.005, gather: int = 0, patience: float = 1.0) -> None:
        self.wait, self.gather, self.patience = wait, gather, patience
        self.calls, self.active, self.peak = 0, 0, 0
        self.changed = threading.Condition()

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self.changed:
            self.calls += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.changed.notify_all()
        try:
            time.sleep(self.wait)
            with self.changed:
                self.changed.wait_for(self._gathered, timeout=self.patience)
        finally:
            with self.changed:
                self.active -= 1
        answer = b"got %d bytes" % len(body)
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))]
        )
        return [answer]

    def _gathered(self) -> bool:
        return self.peak >= self.gather


@contextmanager
def quiet_waitress() -> Iterator[None]:
    """waitress logs 'Task queue depth' when requests wait for a thread: a real saturation signal
    (see the lesson), but the tests measure that themselves: keep it out of their output."""
    logger = logging.getLogger("waitress.queue")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def made_up(rates: dict[int, float], n: int = 100) -> dict[int, Latency]:
    """Latency results with the given throughputs (requests/s), as if measured."""
    return {level: Latency(samples=[0.001] * n, elapsed=n / rate) for level, rate in rates.items()}


class WatchedLoadTest:
    """Stands in for the learner's `load_test`, and gives each call a Workload of its own: `app`
    runs the requests of the call under way in it, so the tests see how many ran at once during
    each measurement, whatever server (or port) served them. (Calls one after the other, as
    defend makes them: two at once would share the Workload of the later one.)"""

    def __init__(self, load_test: Callable, wait: float) -> None:
        self.load_test, self.wait = load_test, wait
        self.running = Workload(wait)  # the call under way's (before the first: one of its own)
        self.calls: list[tuple[dict, Workload, str]] = []  # (what it returned, its Workload, url)

    def __call__(self, url: str, *args: Any, **kwargs: Any) -> dict:
        self.running = Workload(self.wait)
        results = self.load_test(url, *args, **kwargs)
        self.calls.append((results, self.running, url))
        return results

    def app(self, environ: dict, start_response: Callable) -> list[bytes]:
        return self.running(environ, start_response)

    def calls_that_returned(self, results: dict) -> list[tuple[Workload, str]] | None:
        """(Workload, url) of the call that returned each level's Latency in `results` (one call
        for all, or one per level), or None if some level's came from no call."""
        found = []
        for result in results.values():
            calls = [
                (workload, url)
                for returned, workload, url in self.calls
                if any(result is measured for measured in returned.values())  # itself, not equal
            ]
            if not calls:
                return None
            found.append(calls[0])
        return found or None


@contextmanager
def watching_load_test(notebook: dict[str, Any], wait: float) -> Iterator[WatchedLoadTest]:
    """While inside, the lab's `load_test` (in `notebook`, its globals()) is a WatchedLoadTest."""
    if "load_test" not in notebook:
        raise NameError("name 'load_test' is not defined", name="load_test")  # check() explains
    watched = WatchedLoadTest(notebook["load_test"], wait)
    notebook["load_test"] = watched
    try:
        yield watched
    finally:
        notebook["load_test"] = watched.load_test


def listening(url: str) -> bool:
    """Whether a server still accepts connections at `url`."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except OSError:
        return False
    return True


def serve_choice(choose_server: Callable[[], tuple[str, dict]], app: Callable, name: str) -> Server:
    """serve(app) as choose_server() says."""
    kind, options = choose_server()
    assert kind in KINDS and kind != "socket", f"{kind!r} is not a server that runs a WSGI app"
    # Said here, once for every test: making gunicorn serve the app would not make it fit.
    assert kind != "gunicorn", "choose_server: gunicorn needs fork(), which Windows does not have"
    return serve(app, kind=kind, name=name, **options)
