"""How each kind of server starts in the background and stops again: one adapter per kind.

An adapter (Bottle's `ServerAdapter` is the model) binds, serves from daemon threads that it keeps
in `threads`, and undoes all of it in `stop()`. `servers.Server` owns what the notebook sees and
drives an adapter through `start()`, `stop()` and `threads`; adapters report to it through the small
`Events` protocol. Here: the base class, and the three kinds that are `socketserver` servers
(socket, wsgiref, werkzeug), served from our own select loop that stop() wakes at once. waitress and
gunicorn are in `production`.
"""

from __future__ import annotations

import inspect
import selectors
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, Protocol

CONNECTION_TIMEOUT = 10.0  # seconds a connection may stay silent before its thread drops it
STOP_TIMEOUT = 2.0  # seconds stop() waits for threads, connections and processes to end

WSGIApp = Callable[..., Iterable[bytes]]


class Events(Protocol):
    """What an adapter tells the notebook about; `servers.Server` is one."""

    log: deque[str]  # recent request lines and server messages
    errors: list[str]  # what `check()` will raise

    def report(self, summary: str) -> None: ...  # record the exception being handled, and print it


class Adapter:
    """One kind of server: `start()` serves in the background, `stop()` undoes it all."""

    name: ClassVar[str]  # the kind, as serve(kind=...) names it
    accepts: ClassVar[tuple[str, ...]] = ()  # the options of serve() that this kind takes

    def __init__(self, events: Events, host: str, port: int) -> None:
        self.events, self.host, self.port = events, host, port
        self.threads: set[threading.Thread] = set()  # every live thread that stop() waits for
        self.stopping = threading.Event()
        self.deadline = float("inf")  # set by stop(): every wait of stopping ends by then
        self._undo: list[Callable[[], None]] = []  # what stop() runs, last added first

    @classmethod
    def options(cls) -> set[str]:
        return set(cls.accepts)

    def start(self, app: Any, options: dict[str, Any]) -> None:
        """Bind (setting `self.port` to the port the OS picked) and serve in the background."""
        raise NotImplementedError

    def stop(self) -> None:
        """Undo everything start() did, all of it even if a part fails or is interrupted (the
        port must not stay open); every wait shares one deadline, STOP_TIMEOUT from now."""
        self.stopping.set()
        self.deadline = time.monotonic() + STOP_TIMEOUT
        interrupted: BaseException | None = None
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:  # one part failing must not keep the others (or the port) alive
                traceback.print_exc()
            except BaseException as error:  # Ctrl-C (Kernel > Interrupt): finish, then raise it
                interrupted = interrupted or error
        if interrupted:
            raise interrupted

    def time_left(self) -> float:
        """Seconds until the deadline of stop()."""
        return max(0.0, self.deadline - time.monotonic())

    def spawn(self, target: Callable[[], None], label: str) -> threading.Thread:
        """Run `target` in a daemon thread that stop() waits for; report it if it crashes."""

        def run() -> None:
            try:
                target()
            except Exception:
                if not self.stopping.is_set():  # a crash while stopping is expected noise
                    self.events.report(f"the {label} thread crashed")
            finally:
                self.threads.discard(thread)

        thread = threading.Thread(
            target=run, name=f"{label} http://{self.host}:{self.port}", daemon=True
        )
        self.threads.add(thread)
        thread.start()
        return thread


# -- socket, wsgiref and werkzeug ------------------------------------------------------------------
class SocketServerAdapter(Adapter):
    """Serve a `socketserver` server from our own loop, which stop() wakes at once with a byte on a
    socket pair (instead of serve_forever()'s 0.5 s polling), and track connections, so that stop()
    can close kept-alive ones: the threads blocked reading them then end, and none is left
    behind."""

    def serve(self, httpd: socketserver.TCPServer) -> None:
        self.port = httpd.server_address[1]
        connections: set[socket.socket] = set()
        all_closed = threading.Condition()
        shutdown_request = httpd.shutdown_request

        # in the loop, before conn's thread starts
        def track(conn: socket.socket, addr: Any) -> bool:
            conn.settimeout(CONNECTION_TIMEOUT)
            connections.add(conn)
            return True

        def untrack(conn: socket.socket) -> None:  # the last thing a connection's thread does
            shutdown_request(conn)
            with all_closed:
                connections.discard(conn)
                all_closed.notify_all()

        def close_connections() -> None:
            for conn in list(connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)  # a thread blocked reading it gets end-of-file
                except OSError:
                    pass
            with all_closed:
                all_closed.wait_for(lambda: not connections, self.time_left())

        wake_reader, wake_writer = socket.socketpair()
        selector = selectors.DefaultSelector()
        selector.register(httpd.socket, selectors.EVENT_READ)
        selector.register(wake_reader, selectors.EVENT_READ)

        def loop() -> None:
            try:
                while wake_reader not in [key.fileobj for key, _ in selector.select()]:
                    httpd.handle_request()  # never waits: timeout 0, and a connection is ready
            finally:
                selector.close()
                wake_reader.close()

        if isinstance(httpd, socketserver.ThreadingMixIn):  # stop() waits for connection threads
            httpd.process_request_thread = self._tracked(httpd.process_request_thread)
        httpd.verify_request, httpd.shutdown_request = track, untrack
        httpd.timeout = 0
        httpd.block_on_close = False  # server_close() must not join threads without a time limit
        httpd.handle_error = lambda conn, addr: self.events.report(f"error while serving {addr}")
        self._undo += [httpd.server_close, close_connections]
        accepting = self.spawn(loop, f"{self.name} accept loop")
        # These run first: wake the loop, and let it end before the connections are closed.
        self._undo += [
            lambda: accepting.join(self.time_left()),
            wake_writer.close,
            lambda: wake_writer.send(b"stop"),
        ]

    def _tracked(self, serve_connection: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        """`serve_connection`, keeping its thread in `threads` while it runs."""

        def serve_tracked(conn: socket.socket, addr: Any) -> None:
            thread = threading.current_thread()
            thread.name = f"connection from port {addr[1]} http://{self.host}:{self.port}"
            self.threads.add(thread)
            try:
                serve_connection(conn, addr)
            finally:
                self.threads.discard(thread)

        return serve_tracked


class SocketAdapter(SocketServerAdapter):
    """ "socket": your `handler(conn, addr)` in a thread per connection; conn is closed after."""

    name = "socket"

    def start(self, handler: Callable[[socket.socket, Any], None], options: dict) -> None:
        class Connection(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                handler(self.request, self.client_address)

        class ThreadingServer(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True  # SO_REUSEADDR: rebind at once, past TIME_WAIT connections
            # the listen backlog: socketserver's 5 drops bursts of connects, and step 7 opens a
            # thousand idle connections at once
            request_queue_size = 2048

        self.serve(ThreadingServer((self.host, self.port), Connection))


class _Quiet:
    """Mixin for wsgiref's and werkzeug's request handlers: no access log (rule 7)."""

    timeout = CONNECTION_TIMEOUT  # StreamRequestHandler puts it on the connection

    def log_message(self, *args: Any) -> None:  # wsgiref's access log
        pass

    def log(self, *args: Any) -> None:  # werkzeug's access log
        pass


class WsgirefAdapter(SocketServerAdapter):
    """ "wsgiref": the standard library's server, one request at a time unless `threaded=True`."""

    name = "wsgiref"
    accepts = ("threaded",)

    def start(self, app: WSGIApp, options: dict) -> None:
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        class ThreadedWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
            daemon_threads = True

        server_class = ThreadedWSGIServer if options.get("threaded") else WSGIServer
        handler = type("Handler", (_Quiet, WSGIRequestHandler), {})
        self.serve(
            make_server(self.host, self.port, guard(app, self.events), server_class, handler)
        )


class WerkzeugAdapter(SocketServerAdapter):
    """ "werkzeug": werkzeug's development server (`make_server`), threaded by default."""

    name = "werkzeug"

    @classmethod
    def options(cls) -> set[str]:  # make_server's own keywords, less those we set ourselves
        from werkzeug.serving import make_server

        return set(inspect.signature(make_server).parameters) - {
            "host",
            "port",
            "app",
            "request_handler",
            "fd",
        }

    def start(self, app: WSGIApp, options: dict) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        handler = type("Handler", (_Quiet, WSGIRequestHandler), {})
        self.serve(
            make_server(
                self.host,
                self.port,
                guard(app, self.events),
                request_handler=handler,
                **{"threaded": True, **options},
            )
        )


def guard(app: WSGIApp, events: Events) -> WSGIApp:
    """Log each request line; turn an exception into a traceback printed *before* a 500 is sent
    (a server that logs after sending loses the traceback when nbclient runs the notebook).

    A body that has a length (a list, a tuple) or is the server's own `wsgi.file_wrapper` reaches
    the server as the app returned it, so the server frames it as it would without us (a list of
    one item gets a Content-Length). Only other iterables are wrapped, to catch what they raise."""

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        line = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"
        if environ.get("QUERY_STRING"):
            line += "?" + environ["QUERY_STRING"]
        events.log.append(line)
        try:
            body = app(environ, start_response)
        except Exception:
            return failed(start_response, line)
        file_wrapper = environ.get("wsgi.file_wrapper")
        if hasattr(body, "__len__") or (
            isinstance(file_wrapper, type) and isinstance(body, file_wrapper)
        ):
            return body
        return watched(body, start_response, line)

    def watched(body: Iterable[bytes], start_response: Callable, line: str) -> Iterator[bytes]:
        try:
            # Not `yield from`: it would close the body too, and PEP 3333 wants close() called
            # once, by us, below.
            for chunk in body:  # noqa: UP028
                yield chunk
        except Exception:
            yield from failed(start_response, line)
        finally:
            if hasattr(body, "close"):
                body.close()

    def failed(start_response: Callable, line: str) -> list[bytes]:
        events.report(f"the app raised while answering {line}")
        message = b"Internal Server Error: the app raised an exception (see the notebook).\n"
        # With exc_info, start_response re-raises if the headers already went out (PEP 3333).
        start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(message)))],
            sys.exc_info(),
        )
        return [message]

    return guarded
