"""The tools of lab 07's tests (solutions/07_async_lab.ipynb); the learner's answers come in as
arguments. What a wrong answer raises inside a server is said in one line, never as a traceback."""

from __future__ import annotations

import asyncio
import http.client
import io
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from http import HTTPStatus
from typing import Any

from socket2flask.reference.step1 import Request, parse_headers, parse_request_line, parse_target
from socket2flask.servers import Server, serve

WAIT = 1.0  # seconds a client waits for what a right answer sends at once (a bound, not a timing)


def one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip().rstrip(":")


def small(sock: socket.socket) -> socket.socket:
    """`sock`, with buffers of 64 KiB each way: what its peer does not read soon fills them."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, 65536)
    return sock


# -- q1: the learner's selectors loop, in a thread of the test -------------------------------------
class echo_server(AbstractContextManager):  # noqa: N801 (`with echo_server(echo_forever) as s`)
    """`echo_forever(listener, wake)` in a thread; `stop()` makes `wake` readable, waits for it."""

    def __init__(self, echo_forever: Callable[[socket.socket, socket.socket], None]) -> None:
        self.listener = small(socket.socket())  # small buffers, which each connection inherits
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self.wake, self._waker = socket.socketpair()
        self.errors: list[BaseException] = []  # what echo_forever raised
        self.thread = threading.Thread(target=self._run, args=(echo_forever,), daemon=True)
        self.thread.start()
        self.thread.join(0.02)  # a stub (or a crash at once) is known before any client waits

    def _run(self, echo_forever: Callable[[socket.socket, socket.socket], None]) -> None:
        try:
            echo_forever(self.listener, self.wake)
        except BaseException as error:  # said in one line by no_error_in()
            self.errors.append(error)

    def client(self, small_buffers: bool = False) -> socket.socket:
        """A new connection (with small buffers: what it does not read soon fills them)."""
        no_error_in(self.errors)
        sock = small(socket.socket()) if small_buffers else socket.socket()
        sock.settimeout(WAIT)
        sock.connect(("127.0.0.1", self.port))
        return sock

    def stop(self, check: bool = True) -> None:
        """Make `wake` readable, wait for echo_forever; with `check`, fail if it raised or hung."""
        with suppress(OSError):
            self._waker.send(b"!")
        self.thread.join(WAIT)
        for sock in (self.listener, self.wake, self._waker):
            sock.close()
        if check:
            no_error_in(self.errors)
        if check and self.thread.is_alive():
            raise AssertionError(f"echo_forever did not return within {WAIT:g} s of `wake`")

    def __exit__(self, kind: type | None, error: BaseException | None, *_: object) -> None:
        self.stop(check=kind is None)
        if isinstance(error, (AssertionError, OSError)):
            no_error_in(self.errors)  # the server's own error says more than the client's symptom


def received(sock: socket.socket, size: int) -> bytes:
    """Up to `size` bytes from `sock`: fewer if it closes or stays silent for WAIT seconds."""
    data = bytearray()
    with suppress(TimeoutError, ConnectionError):
        while len(data) < size and (chunk := sock.recv(min(size - len(data), 1 << 20))):
            data += chunk
    return bytes(data)


# -- q2, q4, q6, q7: a handler under serve(kind="asyncio"), and HTTP/1.1 clients -------------------
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextmanager
def serve_quietly(handler: Handler, name: str) -> Iterator[Server]:
    """serve(handler, kind="asyncio"); the handler's error, if any, is raised after the block."""
    errors: list[BaseException] = []

    async def quiet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (Exception, asyncio.CancelledError) as error:  # cancelled: stop() at the end
            if not isinstance(error, (asyncio.CancelledError, ConnectionError)):
                errors.append(error)

    with serve(quiet, kind="asyncio", name=name) as server:
        try:
            yield server
        finally:  # after a failure too: the server's own error, if any, says more than its symptom
            server.stop()
            no_error_in(errors)


def no_error_in(errors: list[BaseException]) -> None:
    if errors and isinstance(errors[0], NotImplementedError):
        raise errors[0]
    if errors:
        raise AssertionError(f"your code raised, in the server: {one_line(errors[0])}")


class _Reader(io.BufferedReader):
    def close(self) -> None:  # http.client closes what it read a response from: not this one
        pass


class HTTPClient(AbstractContextManager):
    """One HTTP/1.1 connection: send(bytes); response(): (status, headers, body), None if closed."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = _Reader(socket.SocketIO(self.sock, "rb"))  # every response, one buffer

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except ConnectionError as error:  # the server closed (and reset) the connection
            raise AssertionError(f"the server closed the connection: {one_line(error)}") from None

    def begin(self) -> http.client.HTTPResponse | None:
        """The next response's head, read; its body is left to read."""
        response = http.client.HTTPResponse(self)  # type: ignore[arg-type]
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionError):
            return None
        except (TimeoutError, http.client.HTTPException) as error:  # silence, or no status line
            raise AssertionError(f"no HTTP response: {one_line(error)}") from None
        return response

    def makefile(self, mode: str) -> Any:  # what http.client.HTTPResponse reads from
        return self.file

    def response(self) -> tuple[int, dict[str, str], bytes] | None:
        response = self.begin()
        if response is None:
            return None
        try:
            body = response.read()
        except TimeoutError:
            raise AssertionError(f"the body of a {response.status} did not end") from None
        except (http.client.HTTPException, ValueError) as error:  # ValueError: a chunk's size
            raise AssertionError(f"the body is not framed right: {one_line(error)}") from None
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, body

    def closed(self) -> bool:
        """True if the server closes within WAIT seconds (with nothing more sent)."""
        try:
            return self.file.read(1) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True


def get(path: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    """A GET request's bytes: GET path version, Host, and the given header lines."""
    return "\r\n".join([f"GET {path} {version}", "Host: lab07", *headers, "", ""]).encode("latin-1")


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: lab07", f"Content-Length: {len(body)}", *headers]
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + body


def backpressure(handler: Handler, data: bytes, name: str) -> str:
    """What the server does while a client with small buffers sends `data`, reading nothing: "read
    it all" (answers pile up), "stopped reading" (in `writer.drain()`), "closed the connection"."""
    in_drain = threading.Event()  # set while the handler waits in writer.drain()

    async def small_buffers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        small(writer.get_extra_info("socket"))

        async def watched_drain() -> None:  # what the handler's `await writer.drain()` runs
            in_drain.set()
            await asyncio.StreamWriter.drain(writer)  # raises only once the connection is gone
            in_drain.clear()

        writer.drain = watched_drain  # type: ignore[method-assign]
        await handler(reader, writer)

    with serve_quietly(small_buffers, name) as server, small(socket.socket()) as sock:
        sock.connect(("127.0.0.1", server.port))
        sock.settimeout(0.02)  # short: whether the server waits in drain() settles it
        sent, stalls = 0, 0
        while sent < len(data):
            try:
                sent += sock.send(data[sent : sent + 65536])
            except TimeoutError:  # no room for 0.02 s: the server read nothing meanwhile
                stalls += 1  # and stopped for good if it waits in drain(), or did for WAIT in all
                if in_drain.is_set() or stalls * 0.02 >= WAIT:
                    return "stopped reading"
            except OSError:
                return "closed the connection"
    return "read it all"


def wrong_keys(got: dict, expected: dict) -> dict[str, tuple[Any, Any]]:
    """{key: (expected value, value got)} where they differ; "(missing)" for a key one lacks."""
    keys = [*expected, *(key for key in got if key not in expected)]
    pairs = {key: (expected.get(key, "(missing)"), got.get(key, "(missing)")) for key in keys}
    return {key: pair for key, pair in pairs.items() if pair[0] != pair[1]}


# -- q3, q5: an ASGI app called directly -----------------------------------------------------------
def http_scope(method: str, path: str, query: bytes = b"", headers: tuple = (), **more) -> dict:
    """An ASGI HTTP scope, as a server on 127.0.0.1:8000 makes it for a client on port 50000."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "query_string": query,
            "root_path": "", "headers": [(n.lower(), v) for n, v in headers],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), **more}  # fmt: skip


class Sent:
    """What an ASGI app sent for one HTTP request: status, headers (names in lower case, as str),
    body parts (one per http.response.body message) and whether the last one ended the body."""

    def __init__(self, messages: list[dict]) -> None:
        starts = [m for m in messages if m.get("type") == "http.response.start"]
        if len(starts) != 1 or messages[0] is not starts[0]:
            raise AssertionError(f"send() got {messages[:2]}: one http.response.start comes first")
        pairs = starts[0].get("headers", [])
        in_bytes = all(len(p) == 2 and all(isinstance(x, bytes) for x in p) for p in pairs)
        if not in_bytes or any(name != name.lower() for name, _ in pairs):
            raise AssertionError(f"headers must be pairs of bytes, names in lower case: {pairs}")
        self.status = starts[0].get("status")
        self.headers = {name.decode().lower(): value.decode() for name, value in pairs}
        bodies = messages[1:]
        if any(m.get("type") != "http.response.body" for m in bodies):
            raise AssertionError(f"after the start, send() got {bodies}")
        self.parts = [m.get("body", b"") for m in bodies]
        self.more = [m.get("more_body", False) for m in bodies]
        self.complete = bool(bodies) and self.more[-1] is False
        self.body = b"".join(self.parts)


async def called(app: Callable, scope: dict, body_parts: list[bytes]) -> list[dict]:
    """What `app` sends; `receive` gives `body_parts` (more_body but the last), then disconnect."""
    incoming = [{"type": "http.request", "body": part, "more_body": n < len(body_parts) - 1}
                for n, part in enumerate(body_parts)]  # fmt: skip
    messages: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(0)  # a real receive waits for the network
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        await asyncio.sleep(0)
        messages.append(message)

    await app(scope, receive, send)
    return messages


def call_asgi(app: Callable, scope: dict, body_parts: tuple[bytes, ...] = (b"",)) -> Sent:
    """What `app` sent for `scope` and a body in `body_parts`, run on an event loop of its own."""
    return Sent(asyncio.run(asyncio.wait_for(called(app, scope, list(body_parts)), WAIT)))


# -- q6, q7: a WebSocket server: the learner's handshake, then echo_session -----------------------
def websocket_handler(handshake: Callable, session: Handler) -> Handler:
    """serve()'s handler: answer the upgrade as `handshake` says; after a 101, run `session`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        request_line, *lines = head[:-4].split(b"\r\n")
        method, target, version = parse_request_line(request_line)
        path, query = parse_target(target)
        request = Request(method, target, version, path, query, headers=parse_headers(lines))
        status, headers = handshake(request)
        fields = "".join(f"{name}: {value}\r\n" for name, value in headers)
        phrase = HTTPStatus(status).phrase
        writer.write(f"HTTP/1.1 {status} {phrase}\r\n{fields}\r\n".encode("latin-1"))
        if status == 101:
            await session(reader, writer)

    return handle
