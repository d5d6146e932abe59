"""How each kind of server starts in the background and stops again (the engine of `servers`).

socket, wsgiref and werkzeug are all `socketserver` servers: we run them from our own select loop,
which stop() wakes at once. waitress runs its own event loop one poll at a time; gunicorn runs in a
child process that inherits our listening socket. Each starter binds, sets `server.port` to the port
the OS picked, and adds to `server._stoppers` what stop() must undo, in reverse order.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .servers import Server

CONNECTION_TIMEOUT = 10.0  # seconds a connection may stay silent before its thread drops it
STOP_TIMEOUT = 2.0  # seconds stop() waits for a thread or process before moving on

WSGIApp = Callable[..., Iterable[bytes]]


def _start_thread(server: Server, target: Callable[[], None], label: str) -> None:
    def run() -> None:
        try:
            target()
        except Exception:
            if server.running:  # a crash while stopping is expected noise; one while serving is not
                server.report(f"the {label} thread crashed")

    thread = threading.Thread(target=run, name=f"{label} {server.url}", daemon=True)
    thread.start()
    server._stoppers.append(lambda: thread.join(STOP_TIMEOUT))


# -- socket, wsgiref and werkzeug ------------------------------------------------------------------
def _run_socketserver(server: Server, httpd: Any) -> None:
    """Serve from our own loop, which stop() wakes at once with a byte on a socket pair (instead of
    serve_forever()'s 0.5 s polling), and track connections, so that stop() can close kept-alive
    ones: the threads blocked reading them then end, and none is left behind."""
    server.port = httpd.server_address[1]
    connections: set[socket.socket] = set()
    all_closed = threading.Condition()
    shutdown_request = httpd.shutdown_request

    def track(conn: socket.socket, addr: Any) -> bool:  # in the loop, before conn's thread starts
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
            all_closed.wait_for(lambda: not connections, STOP_TIMEOUT)

    wake_reader, wake_writer = socket.socketpair()
    selector = selectors.DefaultSelector()
    selector.register(httpd.socket, selectors.EVENT_READ)
    selector.register(wake_reader, selectors.EVENT_READ)

    def loop() -> None:
        while wake_reader not in [key.fileobj for key, _ in selector.select()]:
            httpd.handle_request()  # never waits: timeout 0, and a connection is ready

    httpd.verify_request, httpd.shutdown_request = track, untrack
    httpd.timeout = 0
    httpd.block_on_close = False  # server_close() must not join threads without a time limit
    httpd.handle_error = lambda conn, addr: server.report(f"error while serving {addr}")
    server._stoppers += [httpd.server_close, close_connections, selector.close, wake_reader.close]
    _start_thread(server, loop, f"{server.kind} accept loop")
    server._stoppers += [wake_writer.close, lambda: wake_writer.send(b"stop")]  # these run first


def _start_socket(server: Server, handler: Callable[[socket.socket, Any], None], _: dict) -> None:
    class Connection(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            handler(self.request, self.client_address)

    class ThreadingServer(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True  # SO_REUSEADDR: rebind at once, past old connections' TIME_WAIT
        request_queue_size = 128  # the listen backlog; socketserver's 5 drops bursts of connects

    _run_socketserver(server, ThreadingServer((server.host, server.port), Connection))


class _Quiet:
    """Mixin for wsgiref's and werkzeug's request handlers: no access log (rule 7)."""

    timeout = CONNECTION_TIMEOUT  # StreamRequestHandler puts it on the connection

    def log_message(self, *args: Any) -> None:  # wsgiref's access log
        pass

    def log(self, *args: Any) -> None:  # werkzeug's access log
        pass


def _start_wsgiref(server: Server, app: WSGIApp, options: dict) -> None:
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class ThreadedWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    server_class = ThreadedWSGIServer if options.pop("threaded", False) else WSGIServer
    handler = type("Handler", (_Quiet, WSGIRequestHandler), {})
    _run_socketserver(server, make_server(server.host, server.port, _guard(app, server),
                                          server_class, handler))


def _start_werkzeug(server: Server, app: WSGIApp, options: dict) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    handler = type("Handler", (_Quiet, WSGIRequestHandler), {})
    options.setdefault("threaded", True)
    _run_socketserver(server, make_server(server.host, server.port, _guard(app, server),
                                          request_handler=handler, **options))


def _guard(app: WSGIApp, server: Server) -> WSGIApp:
    """Log each request line; turn an exception into a traceback printed *before* a 500 is sent
    (a server that logs after sending loses the traceback when nbclient runs the notebook)."""

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING")
        line = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}" + (f"?{query}" * bool(query))
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


# -- waitress (threads around an event loop) and gunicorn (processes) ----------------------------
def _start_waitress(server: Server, app: WSGIApp, options: dict) -> None:
    from waitress import wasyncore
    from waitress.server import create_server

    channels: dict = {}  # waitress's socket map: the listener, its wake-up trigger, connections
    httpd: Any = create_server(_guard(app, server), map=channels, host=server.host,
                               port=server.port, **options)
    server.port = int(httpd.effective_port)

    def loop() -> None:
        while server.running:  # one poll at a time, so that stop() can end the loop
            wasyncore.loop(timeout=1.0, map=channels, count=1)

    server._stoppers.append(lambda: wasyncore.close_all(channels))
    server._stoppers.append(lambda: httpd.task_dispatcher.shutdown(timeout=STOP_TIMEOUT))
    _start_thread(server, loop, "waitress loop")
    server._stoppers.append(httpd.pull_trigger)  # runs first: wakes the loop's poll at once


def _start_gunicorn(server: Server, app: Any, options: dict) -> None:
    if not hasattr(os, "fork"):
        raise RuntimeError("gunicorn needs fork(), which this system (Windows?) does not have; "
                           "use kind='waitress' instead.")
    if not isinstance(app, str):
        raise TypeError("gunicorn imports your app in its own worker processes: save it in a file "
                        "and pass 'module:variable', with app_dir= the folder of that file.")
    listener = socket.create_server((server.host, server.port))  # gunicorn inherits it (fd://)
    server.port = listener.getsockname()[1]
    workers = int(options.pop("workers", 2))
    command = [sys.executable, "-m", "gunicorn", app, "--bind", f"fd://{listener.fileno()}",
               "--workers", str(workers), "--log-level", "info", "--no-control-socket",
               "--chdir", str(options.pop("app_dir", os.getcwd()))]
    for key, value in options.items():  # the rest as gunicorn's own flags: timeout=1 -> --timeout 1
        flag = "--" + key.replace("_", "-")
        command += [flag] if value is True else [] if value is False else [flag, str(value)]
    # A session of its own, so that stop() can kill the whole group: arbiter and every worker.
    process = subprocess.Popen(command, pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    listener.close()  # the child holds its own copy
    booted = threading.Semaphore(0)  # released once per worker that has started

    def read_log() -> None:
        for line in process.stderr or ():
            server.log.append(line.rstrip())
            if "Booting worker" in line:
                booted.release()
            elif "[INFO]" not in line:  # warnings, errors and the tracebacks of the workers
                server.errors.append(line.rstrip())
                print(line, end="", file=sys.stderr, flush=True)

    def stop() -> None:
        # SIGTERM first: a worker finishes the reply it is writing. Idle sync workers notice it only
        # after their next poll (a second or more), so SIGINT follows: a quick shutdown.
        for sig, seconds in ((signal.SIGTERM, 0.3), (signal.SIGINT, STOP_TIMEOUT + 3)):
            process.send_signal(sig)
            try:
                process.wait(seconds)
                return
            except subprocess.TimeoutExpired:
                pass
        os.killpg(process.pid, signal.SIGKILL)  # the whole group: arbiter and every worker
        process.wait()

    _start_thread(server, read_log, "gunicorn log")
    server._stoppers.append(stop)  # runs before the log thread's join: that thread ends with it
    deadline = time.monotonic() + 30
    for _ in range(workers):  # return when every worker is up, so that a measurement sees them all
        while not booted.acquire(timeout=0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + "\n".join(server.log))


STARTERS: dict[str, Callable[[Server, Any, dict], None]] = {
    "socket": _start_socket, "wsgiref": _start_wsgiref, "werkzeug": _start_werkzeug,
    "waitress": _start_waitress, "gunicorn": _start_gunicorn,
}
