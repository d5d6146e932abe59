"""Run any kind of server in the background of the kernel, and stop it again in milliseconds.

    server = serve(app)                      # werkzeug's threaded server, 127.0.0.1, a free port
    server = serve(handler, kind="socket")   # our accept loop: handler(conn, addr) per connection
    server.url, server.log, server.check(), server.stop()

Every server runs in daemon threads (gunicorn: a child process) and binds loopback on port 0, so the
OS picks a free port that we read back. Running the same cell again (same JupyterLab cell id, or the
same `name=`) stops the server that cell started before. An exception inside an app is printed in the
cell that made the request *before* the 500 goes out, and `check()` raises it.
"""

from __future__ import annotations

import atexit
import os
import selectors
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

KINDS = ("socket", "wsgiref", "werkzeug", "waitress", "gunicorn")
CONNECTION_TIMEOUT = 10.0  # seconds a connection may stay silent before its server thread drops it
STOP_TIMEOUT = 2.0  # seconds stop() waits for threads to finish before giving up on them

WSGIApp = Callable[..., Iterable[bytes]]
Handler = Callable[[socket.socket, Any], None]


class ServerError(Exception):
    """Raised by `Server.check()` when code running inside the server raised an exception."""


class Server:
    """A server running in the background; `stop()` it, or use it as a context manager."""

    def __init__(self, kind: str, name: str | None) -> None:
        self.kind, self.name = kind, name
        self.host, self.port = "127.0.0.1", 0
        self.log: deque[str] = deque(maxlen=200)  # recent request lines and tracebacks
        self.errors: list[str] = []  # tracebacks not yet raised by check()
        self._stoppers: list[Callable[[], None]] = []
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return not self._stopped.is_set()

    def report(self, summary: str) -> None:
        """Record the exception being handled and print it in the cell that is running now."""
        text = f"{summary}\n{traceback.format_exc()}"
        self.errors.append(text)
        self.log.append(text)
        # A thread that no cell started writes to the current cell's output; flush so the traceback
        # arrives while the requesting cell is still waiting for its response.
        print(f"[{self.kind} server {self.url}] {text}", file=sys.stderr, flush=True)

    def check(self) -> None:
        """Raise `ServerError` if code inside the server raised since the last check."""
        errors, self.errors = self.errors, []
        if errors:
            raise ServerError(f"{len(errors)} error(s) inside {self!r}:\n\n" + "\n".join(errors))

    def stop(self) -> None:
        """Stop accepting, close open connections, wait for the threads; safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for stop_part in reversed(self._stoppers):
            try:
                stop_part()
            except Exception:  # one part failing must not keep the others (or the port) alive
                traceback.print_exc()
        with _lock:
            _live.pop(id(self), None)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<Server{label} {self.kind} {self.url} {'running' if self.running else 'stopped'}>"


_lock = threading.Lock()
_live: dict[int, Server] = {}  # id(server) -> server, every server not yet stopped
_by_key: dict[str, Server] = {}  # "name:..." or "cell:..." -> the server that key started last


def serve(app_or_handler: Any, *, kind: str = "werkzeug", host: str = "127.0.0.1", port: int = 0,
          name: str | None = None, **options: Any) -> Server:
    """Start a server in the background and return once it accepts connections.

    kind "socket" calls `handler(conn, addr)` in a thread per connection and closes `conn` after;
    "wsgiref", "werkzeug" and "waitress" serve a WSGI app in threads (`threaded=True` makes wsgiref
    use a thread per request); "gunicorn" runs `"module:app"` in a child process (`workers=`,
    `app_dir=`). Other options go to the server (waitress: `threads=`, ...).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    key = f"name:{name}" if name else _cell_key()
    if key and (earlier := _by_key.get(key)) is not None:
        earlier.stop()  # re-running a cell replaces its server instead of piling up another
    server = Server(kind, name)
    server.host, server.port = host, port
    try:
        _STARTERS[kind](server, app_or_handler, options)  # binds, and sets server.port to the real one
    except BaseException:
        server.stop()
        raise
    with _lock:
        _live[id(server)] = server
        if key:
            _by_key[key] = server
    return server


def running() -> list[Server]:
    """Every server started by `serve()` and not stopped yet."""
    with _lock:
        return list(_live.values())


def stop_all() -> None:
    for server in running():
        server.stop()


atexit.register(stop_all)


def _cell_key() -> str | None:
    """'cell:<id>' for the JupyterLab cell running now; None outside such a kernel (then use name=)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None:
        return None
    cell_id = kernel.get_parent("shell").get("metadata", {}).get("cellId")
    return f"cell:{cell_id}" if cell_id else None


# -- running in threads ----------------------------------------------------------------------------
def _start_thread(server: Server, target: Callable[[], None], label: str) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except Exception:
            if server.running:  # a crash while stopping is expected noise; one while serving is not
                server.report(f"the {label} thread crashed")

    thread = threading.Thread(target=run, name=f"{label} {server.url}", daemon=True)
    thread.start()
    server._stoppers.append(lambda: thread.join(STOP_TIMEOUT))
    return thread


def _select_loop(server: Server, listener: socket.socket, on_ready: Callable[[], None]) -> None:
    """Call `on_ready` each time `listener` has a connection waiting, until the server stops.

    stop() writes one byte to a socket pair that the loop also watches, so it wakes at once instead
    of polling every 0.5 s as `serve_forever()` does.
    """
    wake_reader, wake_writer = socket.socketpair()
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_reader, selectors.EVENT_READ)

    def loop() -> None:
        try:
            while server.running:
                ready = [key.fileobj for key, _ in selector.select()]
                if wake_reader in ready:
                    break
                on_ready()
        finally:
            selector.close()
            wake_reader.close()

    def wake() -> None:
        wake_writer.send(b"x")
        wake_writer.close()

    _start_thread(server, loop, f"{server.kind} accept loop")
    server._stoppers.append(wake)  # stoppers run last-first: wake, then join the loop thread


def _shutdown(conn: socket.socket) -> None:
    """End a connection at once; a thread blocked reading it wakes up with end-of-file."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# -- the kinds -------------------------------------------------------------------------------------
def _listen(server: Server) -> socket.socket:
    """A listening socket on server.host and server.port (0: the OS picks); reads the port back."""
    listener = socket.create_server((server.host, server.port))  # no SO_REUSEPORT (rule 1)
    server.port = listener.getsockname()[1]
    return listener


def _start_socket(server: Server, handler: Handler, options: dict) -> None:
    listener = _listen(server)
    connections: dict[socket.socket, threading.Thread] = {}
    listener.setblocking(False)  # never block in accept() if a client gave up after select()

    def handle(conn: socket.socket, addr: Any) -> None:
        try:
            handler(conn, addr)
        except Exception:
            server.report(f"handler {getattr(handler, '__name__', handler)} raised for {addr}")
        finally:
            connections.pop(conn, None)
            conn.close()

    def accept() -> None:
        try:
            conn, addr = listener.accept()
        except (BlockingIOError, ConnectionError):
            return
        conn.settimeout(CONNECTION_TIMEOUT)  # also turns the accepted socket back to blocking
        thread = threading.Thread(target=handle, args=(conn, addr), daemon=True,
                                  name=f"socket conn {server.url}")
        connections[conn] = thread
        thread.start()

    def close_connections() -> None:
        for conn, thread in list(connections.items()):
            _shutdown(conn)
            thread.join(STOP_TIMEOUT)

    server._stoppers += [listener.close, close_connections]
    _select_loop(server, listener, accept)


def _guard(app: WSGIApp, server: Server) -> WSGIApp:
    """Wrap a WSGI app: remember request lines, and turn an exception into a printed traceback and
    a 500, printed *before* the 500 is sent (a server that logs afterwards loses it in nbclient)."""

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        line = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"
        if environ.get("QUERY_STRING"):
            line += "?" + environ["QUERY_STRING"]
        server.log.append(line)
        body: Iterable[bytes] = ()
        try:
            body = app(environ, start_response)
            yield from body
        except Exception:
            server.report(f"the app raised while answering {line}")
            message = b"Internal Server Error: the app raised an exception (see the notebook).\n"
            # With exc_info, start_response re-raises if the headers already went out (PEP 3333).
            start_response("500 Internal Server Error", [("Content-Type", "text/plain"),
                           ("Content-Length", str(len(message)))], sys.exc_info())
            yield message
        finally:
            if hasattr(body, "close"):
                body.close()

    return guarded


class _QuietHandler:
    """Mixin for socketserver request handlers: a timeout on each connection, no access log."""

    timeout = CONNECTION_TIMEOUT

    def log_message(self, *args: Any) -> None:  # wsgiref's access log (rule 7: quiet by default)
        pass

    def log(self, *args: Any) -> None:  # werkzeug's access log
        pass


def _run_socketserver(server: Server, httpd: Any) -> None:
    """Serve a socketserver-based server (wsgiref, werkzeug) from our select loop."""
    connections: set[socket.socket] = set()
    closed = threading.Condition()
    shutdown_request = httpd.shutdown_request

    def track(conn: socket.socket, addr: Any) -> bool:  # in the loop thread, before conn's thread
        connections.add(conn)
        return True

    def untrack(conn: socket.socket) -> None:  # the last thing the connection's thread does
        shutdown_request(conn)
        with closed:
            connections.discard(conn)
            closed.notify_all()

    def close_connections() -> None:
        """Unblock every thread waiting on a kept-alive connection, and wait for them to end."""
        for conn in list(connections):
            _shutdown(conn)
        with closed:
            closed.wait_for(lambda: not connections, STOP_TIMEOUT)

    httpd.verify_request, httpd.shutdown_request = track, untrack
    httpd.timeout = 0  # handle_request() must never wait: our loop already saw a connection ready
    httpd.block_on_close = False  # server_close() must not join threads without a time limit
    server._stoppers += [httpd.server_close, close_connections]
    _select_loop(server, httpd.socket, httpd.handle_request)


def _start_wsgiref(server: Server, app: WSGIApp, options: dict) -> None:
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Handler(_QuietHandler, WSGIRequestHandler):
        pass

    class ThreadedWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    server_class = ThreadedWSGIServer if options.pop("threaded", False) else WSGIServer
    httpd = make_server(server.host, server.port, _guard(app, server), server_class, Handler)
    server.port = httpd.server_port
    _run_socketserver(server, httpd)


def _start_werkzeug(server: Server, app: WSGIApp, options: dict) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(_QuietHandler, WSGIRequestHandler):
        pass

    options.setdefault("threaded", True)
    httpd = make_server(server.host, server.port, _guard(app, server), request_handler=Handler,
                        **options)
    server.port = httpd.port
    _run_socketserver(server, httpd)


def _start_waitress(server: Server, app: WSGIApp, options: dict) -> None:
    from waitress.server import create_server
    from waitress import wasyncore

    channels: dict = {}  # waitress's socket map: the listener, the wake-up trigger, connections
    httpd: Any = create_server(_guard(app, server), map=channels, host=server.host,
                               port=server.port, **options)
    server.port = int(httpd.effective_port)

    def loop() -> None:
        while server.running:  # one poll at a time, so a stop() that pulls the trigger ends it
            wasyncore.loop(timeout=1.0, map=channels, count=1)

    def close() -> None:
        httpd.task_dispatcher.shutdown(timeout=STOP_TIMEOUT)
        wasyncore.close_all(channels)

    server._stoppers.append(close)
    _start_thread(server, loop, "waitress loop")
    server._stoppers.append(httpd.pull_trigger)  # runs first: wakes the poll in the loop thread


def _start_gunicorn(server: Server, app: Any, options: dict) -> None:
    if not hasattr(os, "fork"):
        raise RuntimeError("gunicorn needs fork(), which this system (Windows?) does not have; "
                           "use kind='waitress' instead.")
    if not isinstance(app, str):
        raise TypeError("gunicorn imports your app in its own worker processes: save it in a file "
                        "and pass 'module:variable', with app_dir= the folder of that file.")
    listener = _listen(server)  # we bind, so we know the port; gunicorn inherits the socket
    command = [sys.executable, "-m", "gunicorn", "--bind", f"fd://{listener.fileno()}",
               "--workers", str(options.pop("workers", 2)), "--graceful-timeout", "2",
               "--log-level", "info", "--no-control-socket", "--chdir", str(options.pop("app_dir", os.getcwd())), app]
    # A new session, so stop() can signal gunicorn's whole process group and reap every worker.
    process = subprocess.Popen(command, pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    listener.close()  # the child holds its own copy of the listening socket
    booted = threading.Event()

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.log.append(line.rstrip())
            if "Booting worker" in line:
                booted.set()
            elif "[ERROR]" in line or "Traceback" in line or line.startswith(" "):
                print(line, end="", file=sys.stderr, flush=True)

    def stop() -> None:
        try:
            process.send_signal(signal.SIGINT)  # quick shutdown (SIGTERM would wait for idle workers)
            process.wait(STOP_TIMEOUT + 3)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            process.wait()

    _start_thread(server, read_stderr, "gunicorn log")
    server._stoppers.append(stop)  # runs before the join of the log thread, which ends with gunicorn
    deadline = time.monotonic() + 30
    while not booted.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start:\n" + "\n".join(server.log))


_STARTERS: dict[str, Callable[[Server, Any, dict], None]] = {
    "socket": _start_socket, "wsgiref": _start_wsgiref, "werkzeug": _start_werkzeug,
    "waitress": _start_waitress, "gunicorn": _start_gunicorn,
}
