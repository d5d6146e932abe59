"""The tools of lab 01's test cells. Each takes the learner's function it runs (read_request,
handle_connection) and, to shorten the lab's limits (IDLE_TIMEOUT...), the notebook's globals()."""

from __future__ import annotations

import select
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from socket2flask.servers import Server, serve

# Frames in these files are not the learner's: Python's own, installed libraries, this package.
NOT_YOURS = (sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[1]))
PAUSE = 0.002  # seconds between two pieces a test sends: each comes in a recv() of its own
QUIET = 0.3  # seconds of silence after a response that show a connection kept open
CLOSED = None  # in hostile(): the server closed without an answer (fine for some inputs)


def result_of(function: Callable, *args: Any, **kwargs: Any) -> Any:
    """What `function(*args, **kwargs)` gives, as one value a test can compare and show: its
    result, the status of the lab's HTTPError it raises (400...), or "raised ValueError: ... (in
    parse_target, line 3)". A stub's NotImplementedError goes up, and so does a NameError."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise
    except NameError as error:  # raised anew here: check() says to run the cells above first
        raise NameError(f"name {error.name!r} is not defined", name=error.name) from error
    except Exception as error:
        if any(kind.__name__ == "HTTPError" for kind in type(error).__mro__):
            return error.status  # type: ignore[attr-defined]
        frames = traceback.extract_tb(error.__traceback__)
        yours = [frame for frame in frames if not frame.filename.startswith(NOT_YOURS)]
        where = f" (in {yours[-1].name}, line {yours[-1].lineno})" if yours else ""
        return f"raised {type(error).__name__}: {error}{where}"


@contextmanager
def patched(notebook: dict[str, Any], **values: float) -> Iterator[None]:
    """Set some of the lab's constants (IDLE_TIMEOUT=0.3, ...) in `notebook` while a test runs."""
    saved = {name: notebook[name] for name in values if name in notebook}
    notebook.update(values)
    try:
        yield
    finally:
        for name in values:
            notebook.pop(name, None)
        notebook.update(saved)


@contextmanager
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The (client, server) ends of a fresh TCP connection on loopback, closed afterwards."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
    with client, server:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each piece leaves at once
        server.settimeout(5)
        yield client, server


class Spy:
    """A socket that keeps what each send() and sendall() sent, and sees its reader want more."""

    def __init__(self, sock: socket.socket, expected: int = 0) -> None:
        self._sock, self._expected, self._received = sock, expected, 0
        self.sends: list[bytes] = []
        self.wants_more = threading.Event()  # set by a recv() once `expected` bytes have come

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def recv(self, size: int, *flags: int) -> bytes:
        if self._received >= self._expected:
            self.wants_more.set()
        data = self._sock.recv(size, *flags)
        self._received += len(data)
        return data

    def send(self, data: bytes, *flags: int) -> int:
        self.sends.append(bytes(data))
        return self._sock.send(data, *flags)

    def sendall(self, data: bytes, *flags: int) -> None:
        self.sends.append(bytes(data))
        self._sock.sendall(data, *flags)


# -- q4: read_request on one end of a connection, pieces sent from the other ---------------------
def request_from(
    read_request: Callable,
    pieces: list[bytes],
    buffer: bytearray | None = None,
    then_close: bool = True,
    pause: float = PAUSE,
) -> Any:
    """Send `pieces` on a fresh connection, `pause` s apart, then close (if `then_close`): what
    result_of(read_request, ...) gives on the other end. (Short limits: `with patched(...)`.)"""
    stop = threading.Event()  # set once the result is known: no more pieces, no more waiting

    def send() -> None:
        with suppress(OSError):  # the server end closed first
            for piece in pieces:
                if stop.wait(pause):
                    return
                client.sendall(piece)
            if then_close:
                client.shutdown(socket.SHUT_WR)

    with tcp_pair() as (client, server):
        sender = threading.Thread(target=send, daemon=True, name="drip")
        sender.start()
        try:
            return result_of(read_request, server, bytearray() if buffer is None else buffer)
        finally:
            stop.set()
            with suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)  # ends a sendall() the server no longer reads
            sender.join(5)


def requests_at_once(read_request: Callable, cases: list[list[bytes]], pause: float) -> list:
    """request_from(read_request, pieces, pause=pause) for each case, all at the same time."""
    with ThreadPoolExecutor(len(cases)) as pool:
        return list(pool.map(lambda pieces: request_from(read_request, pieces, pause=pause), cases))


def expecting_100(read_request: Callable, head: bytes, body: bytes) -> tuple[Any, bytes]:
    """Like curl: send `head`, wait for an interim answer (until bytes come, read_request wants the
    body or returns, or 1 s), then `body`. Returns (what read_request gave, what came before)."""
    seen = []
    with tcp_pair() as (client, server):
        spy = Spy(server, expected=len(head))

        def client_side() -> None:
            with suppress(OSError):  # the server end closed first
                client.sendall(head)
                for _ in range(100):  # 1 s at most
                    if spy.wants_more.is_set() or select.select([client], [], [], 0.01)[0]:
                        break
                if select.select([client], [], [], 0.1)[0]:  # what it sent first is here by now
                    seen.append(client.recv(1024))
                client.sendall(body)

        thread = threading.Thread(target=client_side, daemon=True, name="expects 100")
        thread.start()
        try:
            got = result_of(read_request, spy, bytearray())
        finally:
            with suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)  # read_request is done: the client waits no more
            thread.join(5)
    return got, b"".join(seen)


def split_response(data: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    """b"HTTP/1.1 200 OK\\r\\nA: b\\r\\n\\r\\nbody" -> ("HTTP/1.1 200 OK", [("A", "b")], b"body").
    Anything but bytes (what result_of says went wrong) comes back as (str(data), [], b"")."""
    if not isinstance(data, bytes):
        return str(data), [], b""
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return f"no empty line (\\r\\n\\r\\n) ends the head in {data[:200]!r}", [], b""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = [line.partition(":") for line in lines]
    return status_line, [(name.strip(), value.strip()) for name, _, value in fields], body


def responses(data: bytes) -> list[tuple[int | str, dict[str, str], bytes]]:
    """What a server sent, as (status, headers with lower-case names, body) triples framed by
    Content-Length; bytes that are not end the list as ("not a whole response: ...", {}, b"")."""
    found: list[tuple[int | str, dict[str, str], bytes]] = []
    while data:
        status_line, fields, rest = split_response(data)
        headers = {name.lower(): value for name, value in fields}
        status, length = (status_line.split(" ") + [""])[1], headers.get("content-length", "0")
        numbers = status.isascii() and status.isdigit() and length.isascii() and length.isdigit()
        if not numbers or len(rest) < int(length):  # no status line, or a body cut short
            found.append((f"not a whole response: {data[:80]!r}", {}, b""))
            break
        found.append((int(status), headers, rest[: int(length)]))
        data = rest[int(length) :]
    return found


# -- q6: handle_connection on one connection, under serve(), against hostile clients -------------
def converse(
    handle_connection: Callable, notebook: dict, raw: bytes, app: Callable, spy: bool = False
) -> tuple[bytes, bool, list[bytes]]:
    """Send `raw`, half-close, run handle_connection on the other end in this thread (on a Spy if
    `spy`). Returns (all it sent, whether it left the socket open, what each send sent if `spy`)."""
    with patched(notebook, IDLE_TIMEOUT=1.0, REQUEST_TIMEOUT=1.0, LINGER_SECONDS=0.5):
        with tcp_pair() as (client, server):
            client.sendall(raw)
            client.shutdown(socket.SHUT_WR)
            conn = Spy(server) if spy else server
            handle_connection(conn, ("127.0.0.1", 0), app)
            left_open = server.fileno() != -1
            server.close()
            received = b""
            while chunk := client.recv(65536):
                received += chunk
    return received, left_open, conn.sends if isinstance(conn, Spy) else []


@contextmanager
def serving(handle_connection: Callable, app: Callable, name: str) -> Iterator[Server]:
    """serve(kind="socket") with handle_connection(conn, addr, app) on each connection. What
    handle_connection raises is kept, and raised here afterwards (a stub: "not answered yet")."""
    errors: list[BaseException] = []
    connections: list[Any] = []

    def handler(conn: socket.socket, addr: Any) -> None:
        connections.append(addr)
        try:
            handle_connection(conn, addr, app)
        except BaseException as error:
            errors.append(error)
            if not isinstance(error, NotImplementedError):
                traceback.print_exc()  # the learner's bug, shown in the test's cell

    with serve(handler, kind="socket", name=name) as server:
        server.connections = connections  # type: ignore[attr-defined]  (each accepted address)
        yield server
    if errors:
        raise errors[0]


def talk(port: int, pieces: list[bytes | float], end: str) -> tuple[list, bool]:
    """Send `pieces` (bytes; a float is a pause, cut short once the server answers), then `end`:
    "wait", "shut" (half-close) or "reset" (abort). Returns read_statuses() (reset: [], True)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each piece leaves at once
        with suppress(OSError):  # refused early: its answer may still be waiting to be read
            for piece in pieces:
                if not isinstance(piece, float):
                    sock.sendall(piece)
                elif select.select([sock], [], [], piece)[0]:
                    break  # an answer, or the end: no use sending more
        if end == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return [], True
        with suppress(OSError):  # reset already: read_statuses says so
            if end == "shut":
                sock.shutdown(socket.SHUT_WR)
        return read_statuses(sock, time.monotonic() + 3)


def read_statuses(sock: socket.socket, deadline: float) -> tuple[list, bool]:
    """The statuses of what the server sends until it closes, or is QUIET once something came, and
    whether it closed. Bytes not a whole response, or an error, end the list as a string."""
    data, closed, failure = b"", False, []
    try:
        while not closed and time.monotonic() < deadline:
            sock.settimeout(QUIET if data else max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            data, closed = data + chunk, not chunk
    except TimeoutError:
        pass  # quiet: the connection is kept open
    except OSError as error:
        closed, failure = True, [type(error).__name__]
    return [status for status, _, _ in responses(data)] + failure, closed


def hostile(handle_connection: Callable, notebook: dict, cases: list, app: Callable) -> list[str]:
    """What goes wrong, one line each, when many clients at once send the cases (what, pieces, end,
    allowed first statuses, must it close?) to handle_connection(conn, addr, app) under serve()."""
    with patched(notebook, IDLE_TIMEOUT=1.0, REQUEST_TIMEOUT=0.3, LINGER_SECONDS=0.5):
        try:
            with serving(handle_connection, app, "hostile clients") as server:
                with ThreadPoolExecutor(min(32, len(cases))) as pool:
                    results = list(pool.map(lambda c: talk(server.port, c[1], c[2]), cases))
        except NotImplementedError:
            raise
        except BaseException as error:
            why = "its traceback is printed above): it must answer or close, never raise"
            return [f"handle_connection raised {type(error).__name__}: {error} ({why}"]
    problems = []
    for (what, _, _, allowed, closes), (statuses, closed) in zip(cases, results):
        first = next((status for status in statuses if status != 100), CLOSED)
        if first not in allowed or 500 in statuses:
            want = " or ".join(sorted("a clean close" if s is CLOSED else str(s) for s in allowed))
            problems.append(f"{what}: got {statuses or 'no answer'}, expected {want}")
        elif any(isinstance(status, str) for status in statuses):
            problems.append(f"{what}: {statuses}")
        elif closes is True and not closed:
            problems.append(f"{what}: answered {first} but left the connection open")
        elif closes is False and closed:
            problems.append(f"{what}: answered {first} but closed a keep-alive connection")
    return problems
