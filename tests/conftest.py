"""Shared fixtures: small apps and handlers, and a guard that no test leaves a server running."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from socket2flask import servers
from socket2flask.grading import notebook

ROOT = Path(__file__).resolve().parent.parent


def hello_app(environ, start_response):
    """A trivial WSGI app: 'hello' plus the query string."""
    body = b"hello " + environ.get("QUERY_STRING", "").encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def keepalive_handler(conn: socket.socket, addr) -> None:
    """A tiny keep-alive HTTP/1.1 handler for the "socket" kind: answers 'hello' to each request."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        body = b"" if head.startswith(b"HEAD ") else b"hello"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body)


APPS = {"socket": keepalive_handler}


def app_for(kind: str):
    return APPS.get(kind, hello_app)


@pytest.fixture(scope="session")
def run_notebook(tmp_path_factory):
    """Execute a notebook once per test session (kernels.execute_notebook), and share the result:
    (seconds, leaks, executed notebook). The notebook tests and the lesson tests read one run."""
    from kernels import execute_notebook

    done: dict[Path, tuple] = {}

    def run(path: Path) -> tuple:
        if path not in done:
            done[path] = execute_notebook(path, tmp_path_factory.mktemp(path.stem))
        return done[path]

    return run


@pytest.fixture(scope="session")
def lesson_outputs(run_notebook):
    """(source, printed text) of every code cell of a lesson, from the session's one run of it,
    which must leave nothing behind: `lesson_outputs("02_wsgi")`."""
    from kernels import cell_texts

    def outputs(name: str) -> list[tuple[str, str]]:
        _, leaks, nb = run_notebook(ROOT / "notebooks" / f"{name}.ipynb")
        assert not leaks, leaks
        return cell_texts(nb)

    return outputs


@pytest.fixture(autouse=True)
def no_servers_left():
    """Every test must stop the servers it starts."""
    yield
    left = servers.running()
    servers.stop_all()
    assert not left, f"the test left servers running: {left}"


def port_is_free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def server_threads() -> list[str]:
    """Names of live threads that belong to servers (ours or the per-connection ones)."""
    return [
        t.name
        for t in threading.enumerate()
        if "http://127.0.0.1" in t.name
        or "process_request_thread" in t.name
        or t.name.startswith("waitress")
    ]


def load_answers(name: str) -> dict:
    """The reference answers of `solutions/<name>.ipynb`, loaded in this process."""
    return notebook.load_answers(ROOT / "solutions" / f"{name}.ipynb")


def prose(path: Path) -> str:
    """The markdown cells of the notebook at `path` as one text, every run of whitespace one space:
    what a lesson says, whatever its line breaks."""
    cells = notebook.read(path).cells
    return " ".join(" ".join(c.source.split()) for c in cells if c.cell_type == "markdown")
