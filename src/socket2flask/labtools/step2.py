"""The tools of lab 02's tests. For q4 (`respond`): run the learner's `respond` for one request on a
pair of connected sockets, and parse what the client side received. For q5 (`make_handler`): call
the learner's connection handler once, without a server (`handle_once`).

A test cell wraps `send_through` with the learner's own functions, looked up when a test runs:

    def send_through(app, raw_request):
        return step2.send_through(app, raw_request, respond=respond,
                                  make_environ=make_environ, read_request=read_request)
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

GET11 = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
GET10 = b"GET / HTTP/1.0\r\n\r\n"
NO_HEAD = "no complete head: a status line and headers, each ending with CR LF, then a blank line"


@dataclass
class Reply:
    """What the client side of the socket received, parsed; `complete` is False for a cut body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    complete: bool = True
    keep_alive: bool | None = None  # what respond() returned
    raw: bytes = b""  # every byte received
    log: str = ""  # what respond() wrote to wsgi.errors (the tracebacks of failing apps)

    def header(self, name: str) -> str | None:
        """The first header called `name` (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def parse_reply(raw: bytes, method: str = "GET") -> Reply:
    """Parse one HTTP/1.1 response, framed by Content-Length, chunked, or until the close.
    AssertionError, saying what was received, when it has no complete head."""
    head, blank, rest = raw.partition(b"\r\n\r\n")
    received = f"the client received {raw[:200]!r}"
    if not blank:
        raise AssertionError(f"{received}\n{NO_HEAD}")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, status = status_line.partition(" ")
    if version != "HTTP/1.1" or not status[:3].isdigit():
        raise AssertionError(f"{received}\nthe status line starts with 'HTTP/1.1 ' and a status")
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    reply = Reply(int(status[:3]), headers, raw=raw)
    length = reply.header("Content-Length")
    coding = (reply.header("Transfer-Encoding") or "").lower()
    if method == "HEAD" or reply.status in (204, 304):
        reply.body = rest
    elif "chunked" in coding:
        reply.body, reply.complete = dechunk(rest)
    elif length is not None:
        reply.body, reply.complete = rest[: int(length)], len(rest) >= int(length)
    else:
        reply.body = rest  # until the close
    return reply


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """A chunked body's bytes, and whether it ended with its last chunk (size 0, then CR LF)."""
    body = b""
    while True:
        size_line, crlf, data = data.partition(b"\r\n")
        try:
            size = int(size_line, 16)
        except ValueError:  # cut short (or garbage): no next chunk
            return body, False
        if not crlf:
            return body, False
        if size == 0:
            return body, data.startswith(b"\r\n")
        body, data = body + data[:size], data[size + 2 :]


def send_through(
    app: Callable,
    raw_request: bytes,
    *,
    respond: Callable,
    make_environ: Callable,
    read_request: Callable,
) -> Reply:
    """Run `respond(conn, request, app, environ)` (the learner's q4) for one request, read with
    `read_request` and made an environ by `make_environ` (q1), on a socket pair; return what the
    client side received, parsed, with what respond returned as `keep_alive`."""
    request = read_request(io.BytesIO(raw_request))
    environ = make_environ(request)
    log = io.StringIO()
    environ["wsgi.errors"] = log  # the tracebacks of failing apps go here, not on screen
    server_side, client_side = socket.socketpair()
    server_side.settimeout(5)  # as serve() gives each connection a timeout
    client_side.settimeout(5)
    received: list[bytes] = []
    # Read while respond() writes, so that a big body cannot block it.
    reader = threading.Thread(target=_read_all, args=(client_side, received), daemon=True)
    reader.start()
    try:
        keep_alive = respond(server_side, request, app, environ)
    finally:
        server_side.close()  # the reader sees the end of the stream and stops
        reader.join(5)
        client_side.close()
    reply = parse_reply(b"".join(received), request.method)
    reply.keep_alive, reply.log = keep_alive, log.getvalue()
    return reply


def handle_once(
    handler: Callable[[socket.socket, tuple], None], raw_request: bytes = GET11
) -> bytes:
    """Call a connection handler (what the learner's make_handler(app) returns) in this thread, on
    one loopback TCP connection whose client sends `raw_request`, then closes its sending side;
    return what the client received. No server runs: an exception from the handler (a stub's
    NotImplementedError included, in make_handler or in the respond it calls) is raised here, in
    the test, and no server thread prints its traceback."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client_side = socket.create_connection(listener.getsockname()[:2], timeout=5)
        server_side, client_address = listener.accept()
    server_side.settimeout(5)  # as serve() gives each connection a timeout
    received: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(client_side, received), daemon=True)
    reader.start()
    try:
        client_side.sendall(raw_request)
        client_side.shutdown(socket.SHUT_WR)  # no more requests: the handler's loop ends
        handler(server_side, client_address)
    finally:
        server_side.close()  # the reader sees the end of the stream and stops
        reader.join(5)
        client_side.close()
    return b"".join(received)


def _read_all(sock: socket.socket, received: list[bytes]) -> None:
    """Everything until the other side closes (or 5 s of silence), into `received`."""
    try:
        data = sock.recv(65536)
        while data:
            received.append(data)
            data = sock.recv(65536)
    except OSError:
        pass


# Apps the tests (and a learner trying an answer) send through respond().
def hello_app(environ: dict, start_response: Callable) -> list[bytes]:
    """A body with its Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def countdown_app(environ: dict, start_response: Callable) -> Iterator[bytes]:
    """A generator, without a Content-Length: chunked for HTTP/1.1, until the close for 1.0."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"3"
    yield b"2"
    yield b"1"


def fails_late_app(environ: dict, start_response: Callable) -> Iterator[bytes]:
    """A generator that fails after its first bytes, once the head has gone out."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first part"
    raise KeyError("a bug after the first bytes")
