"""Run any kind of server in the background of the kernel, and stop it again in milliseconds.

    server = serve(app)                      # werkzeug's threaded server on 127.0.0.1, a free port
    server = serve(handler, kind="socket")   # handler(conn, addr) in a thread per connection
    server = serve(handle, kind="asyncio")   # await handle(reader, writer), one event loop
    server = serve(asgi_app, kind="uvicorn") # an ASGI app (step 7)
    server.url, server.log, server.check(), server.stop()

Servers run in daemon threads (gunicorn: a child process) on loopback, port 0: the OS picks a free
port and we read it back. Running a cell again stops the servers its previous run started (a cell is
known by the id JupyterLab sends; elsewhere, give `name=`). An exception inside an app is printed in
the cell that made the request *before* the 500 goes out, and `check()` raises it.
"""

from __future__ import annotations

import atexit
import difflib
import html
import os
import sys
import threading
import traceback
import urllib.error
import urllib.request
from collections import deque
from typing import Any

from .aio import AsyncioAdapter, UvicornAdapter
from .kinds import STOP_TIMEOUT, Adapter, SocketAdapter, WerkzeugAdapter, WsgirefAdapter
from .production import GunicornAdapter, WaitressAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    adapter.name: adapter
    for adapter in (
        SocketAdapter,
        WsgirefAdapter,
        WerkzeugAdapter,
        WaitressAdapter,
        GunicornAdapter,
        AsyncioAdapter,
        UvicornAdapter,
    )
}
KINDS = tuple(ADAPTERS)


class ServerError(Exception):
    """Raised by `Server.check()` when code running inside the server raised an exception."""


class Server:
    """A server running in the background; `stop()` it, or use it in a `with` block."""

    def __init__(self, kind: str, host: str, port: int, name: str | None) -> None:
        self.kind, self.host, self.name = kind, host, name
        self.log: deque[str] = deque(maxlen=200)  # recent request lines and tracebacks
        self.errors: list[str] = []  # tracebacks that check() has not raised yet
        self._adapter = ADAPTERS[kind](self, host, port)  # how this kind starts and stops
        self._stopped = threading.Event()
        self._stopping = threading.Lock()  # a second stop() waits for the first to finish
        self._left_running: list[threading.Thread] = []  # threads that outlived stop()

    @property
    def port(self) -> int:
        return self._adapter.port  # the port the OS picked, once started

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return not self._stopped.is_set()

    @property
    def stragglers(self) -> list[threading.Thread]:
        """Threads of this server still alive after `stop()` (a handler that never returns)."""
        return [thread for thread in self._left_running if thread.is_alive()]

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
        # its stylesheet and links, from the server
        page = f'<base href="{self.browser_url}">' + page
        display(
            HTML(
                f'<p>Open <a href="{link}" target="_blank">{html.escape(link)}</a></p>'
                f'<iframe sandbox srcdoc="{html.escape(page)}" style="width: 100%; '
                f'height: {height}px; border: 1px solid #ccc"></iframe>'
            )
        )

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
        """Stop accepting, close open connections, wait for the threads; safe to call twice.
        A thread still running after STOP_TIMEOUT is named, and kept in `stragglers`."""
        with self._stopping:
            if self._stopped.is_set():
                return
            self._stopped.set()
            try:
                self._adapter.stop()
            finally:  # even when interrupted: wait for the threads, say which outlived stop()
                for thread in list(self._adapter.threads):
                    thread.join(self._adapter.time_left())
                self._left_running = [t for t in list(self._adapter.threads) if t.is_alive()]
        if self._left_running:
            count = len(self._left_running)
            print(
                f"{self!r}: {count} thread{'s' * (count > 1)} still running after "
                f"{STOP_TIMEOUT:g} s: a handler that never returns? ({self._left_running[0].name})",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        state = "running" if self.running else "stopped"
        if not self.running and self.stragglers:
            state += f", {len(self.stragglers)} thread(s) still running"
        return f"<Server{label} {self.kind} {self.url} {state}>"


_lock = threading.Lock()
_started: list[
    Server
] = []  # every server serve() started, until it has stopped and its threads ended
_by_name: dict[str, Server] = {}  # name= -> the server started last with that name
_by_cell: dict[str, tuple[str, list[Server]]] = {}  # cell id -> (its last run, that run's servers)


def serve(
    app_or_handler: Any,
    *,
    kind: str = "werkzeug",
    host: str = "127.0.0.1",
    port: int = 0,
    name: str | None = None,
    **options: Any,
) -> Server:
    """Start a server in the background; return once it accepts connections.

    "socket" calls `handler(conn, addr)` in a thread per connection and closes `conn` after;
    "wsgiref", "werkzeug" and "waitress" serve a WSGI app (wsgiref: one request at a time unless
    `threaded=True`); "gunicorn" runs "module:app" in worker processes (`workers=`, `app_dir=`).
    Other options go to the server itself (waitress: `threads=`, ...); an unknown one is an error.

    Running a cell again stops what its previous run started (in JupyterLab, which sends the
    cell's id); a new server with the same `name=` replaces the last one, from any cell. Servers
    started by one run of a cell all live together.
    """
    if kind not in ADAPTERS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if unknown := set(options) - ADAPTERS[kind].options():
        valid = sorted(ADAPTERS[kind].options())
        # The nearest valid names first: a long list of options may be cut short where shown.
        nearest = [
            near for name in sorted(unknown) for near in difflib.get_close_matches(name, valid, 1)
        ]
        guess = f" (did you mean {', '.join(nearest)}?)" if nearest else ""
        raise TypeError(
            f"serve(kind={kind!r}) got unknown option(s) {', '.join(sorted(unknown))}{guess}; "
            f"the options of {kind!r} are: {', '.join(valid) or 'none'}"
        )
    cell = _cell_run()
    for earlier in _replaced_by(name, cell):
        earlier.stop()  # a re-run replaces its servers instead of piling up more
    server = Server(kind, host, port, name)
    try:
        server._adapter.start(app_or_handler, options)  # binds; learns the port the OS picked
    except BaseException:
        server.stop()
        raise
    with _lock:
        _started.append(server)
        if name:
            _by_name[name] = server
        if cell:
            _by_cell[cell[0]][1].append(server)
    return server


def running() -> list[Server]:
    """Every server started by `serve()` and not stopped yet, and every stopped one whose threads
    are still running (see `Server.stragglers`)."""
    with _lock:
        _started[:] = [s for s in _started if s.running or s.stragglers]
        return list(_started)


def stop_all() -> None:
    for server in running():
        server.stop()


atexit.register(stop_all)


def _replaced_by(name: str | None, cell: tuple[str, str] | None) -> list[Server]:
    """The servers a new one replaces: when a cell runs again, every server its previous run
    started; and the last server started with the same `name`, from whichever cell."""
    replaced = []
    with _lock:
        if name and name in _by_name:
            replaced.append(_by_name[name])
        if cell:
            cell_id, run = cell
            earlier_run, earlier = _by_cell.get(cell_id, (run, []))
            if earlier_run != run:  # a new run of the cell; servers of one run live together
                replaced += earlier
                earlier = []
            _by_cell[cell_id] = (run, earlier)
    return replaced


def _cell_run() -> tuple[str, str] | None:
    """(cell id, execution) of the JupyterLab cell running now: the id JupyterLab sends with each
    execution, and the id of that execute request. None outside JupyterLab (use name= there)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    request = kernel.get_parent("shell") if kernel else {}
    cell_id = request.get("metadata", {}).get("cellId")
    return (cell_id, request["header"]["msg_id"]) if cell_id else None
