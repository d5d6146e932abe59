"""Run any kind of server in the background of the kernel, and stop it again in milliseconds.

    server = serve(app)                      # werkzeug's threaded server on 127.0.0.1, a free port
    server = serve(handler, kind="socket")   # handler(conn, addr) in a thread per connection
    server.url, server.log, server.check(), server.stop()

Servers run in daemon threads (gunicorn: a child process) on loopback, port 0: the OS picks a free
port and we read it back. Running a cell again (same JupyterLab cell id, or same `name=`) stops the
server it started before. An exception inside an app is printed in the cell that made the request
*before* the 500 goes out, and `check()` raises it.
"""

from __future__ import annotations

import atexit
import html
import os
import sys
import threading
import traceback
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

from .kinds import STARTERS

KINDS = ("socket", "wsgiref", "werkzeug", "waitress", "gunicorn")


class ServerError(Exception):
    """Raised by `Server.check()` when code running inside the server raised an exception."""


class Server:
    """A server running in the background; `stop()` it, or use it in a `with` block."""

    def __init__(self, kind: str, host: str, port: int, name: str | None) -> None:
        self.kind, self.host, self.port, self.name = kind, host, port, name
        self.log: deque[str] = deque(maxlen=200)  # recent request lines and tracebacks
        self.errors: list[str] = []  # tracebacks that check() has not raised yet
        self._stoppers: list[Callable[[], None]] = []  # run last-first by stop()
        self._stopped = threading.Event()

    url = property(lambda self: f"http://{self.host}:{self.port}")
    running = property(lambda self: not self._stopped.is_set())

    @property
    def browser_url(self) -> str:
        """The URL for your browser. Locally that is `url`. On JupyterHub or Binder the browser runs
        on another machine, where 127.0.0.1 is not this kernel's machine: there, go through the
        Jupyter server's own proxy (jupyter-server-proxy) under the hub's prefix for this user."""
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
        return f"{prefix.rstrip('/')}/proxy/{self.port}/" if prefix else f"{self.url}/"

    def show(self, path: str = "/", height: int = 300) -> None:
        """In a notebook: a link for your browser, and the page itself, fetched here and shown
        inline (sandboxed), so that it works wherever the browser is."""
        from IPython.display import HTML, display

        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                page = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:  # a 404 or 500 page is still a page to show
            page = error.read().decode("utf-8", "replace")
        link = self.browser_url.rstrip("/") + path
        page = f'<base href="{self.browser_url}">' + page  # its stylesheet and links, from the server
        display(HTML(f'<p>Open <a href="{link}" target="_blank">{html.escape(link)}</a></p>'
                     f'<iframe sandbox srcdoc="{html.escape(page)}" style="width: 100%; '
                     f'height: {height}px; border: 1px solid #ccc"></iframe>'))

    def report(self, summary: str) -> None:
        """Record the exception being handled and print it in the cell that is running now."""
        text = f"{summary}\n{traceback.format_exc()}"
        self.errors.append(text)
        self.log.append(text)
        # A server thread prints into the output of the cell running now, i.e. the one waiting for
        # this response; flush, so that the text arrives while that cell is still running.
        print(f"[{self.kind} server {self.url}] {text}", file=sys.stderr, flush=True)

    def check(self) -> None:
        """Raise `ServerError` if code inside the server raised since the last check."""
        errors, self.errors = self.errors, []
        if errors:
            raise ServerError(f"{len(errors)} error(s) inside {self!r}:\n" + "\n".join(errors))

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
_live: dict[int, Server] = {}  # id(server) -> every server not stopped yet
_by_key: dict[str, Server] = {}  # "name:..." or "cell:..." -> the server that key started last


def serve(app_or_handler: Any, *, kind: str = "werkzeug", host: str = "127.0.0.1", port: int = 0,
          name: str | None = None, **options: Any) -> Server:
    """Start a server in the background; return once it accepts connections.

    "socket" calls `handler(conn, addr)` in a thread per connection and closes `conn` after;
    "wsgiref", "werkzeug" and "waitress" serve a WSGI app (wsgiref: one request at a time unless
    `threaded=True`); "gunicorn" runs "module:app" in worker processes (`workers=`, `app_dir=`).
    Other options go to the server itself (waitress: `threads=`, ...).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    key = f"name:{name}" if name else _cell_key()
    if key and key in _by_key:
        _by_key[key].stop()  # a re-run cell replaces its server instead of piling up another
    server = Server(kind, host, port, name)
    try:
        STARTERS[kind](server, app_or_handler, options)  # binds; sets server.port to the real one
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
    """'cell:<id>' for the JupyterLab cell running now; None elsewhere (there, use name=)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    cell_id = kernel and kernel.get_parent("shell").get("metadata", {}).get("cellId")
    return f"cell:{cell_id}" if cell_id else None
