"""What the benchmark sections share: the trivial apps, starting any kind, progress lines."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from socket2flask.servers import Server, serve

STARTED = time.perf_counter()
HIGHLIGHTS: list[str] = []  # one line per headline figure, for the README (run.py --readme)


def progress(message: str) -> None:
    print(f"[bench {time.perf_counter() - STARTED:6.1f} s] {message}", flush=True)


def highlight(line: str) -> None:
    """A headline figure of this run: it goes into HIGHLIGHTS.md and, with --readme, the README."""
    HIGHLIGHTS.append(line)


def hello_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


async def hello_asgi(scope: dict, receive, send) -> None:
    """The same answer as an ASGI app (uvicorn)."""
    if scope["type"] != "http":  # lifespan: nothing to start
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


async def keepalive_coroutine(reader, writer) -> None:
    """keepalive_handler below, as a coroutine (the asyncio kind)."""
    while True:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:  # the client closed
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        await writer.drain()


def keepalive_handler(conn: socket.socket, addr) -> None:
    """The smallest correct keep-alive answer to GET requests: the floor for the raw client."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
        buffer = buffer.partition(b"\r\n\r\n")[2]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")


def gunicorn_app_dir(out: Path) -> Path:
    """gunicorn imports its app by name: write `bench_app:app` into OUT/app/."""
    folder = (out / "app").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench_app.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '5')])\n"
        "    return [b'hello']\n"
    )
    return folder


def start(kind: str, out: Path, **options) -> Server:
    """A trivial 'hello' server of any kind (the socket and asyncio kinds get a keep-alive
    raw handler, uvicorn an ASGI app)."""
    if kind == "socket":
        return serve(keepalive_handler, kind=kind, **options)
    if kind == "asyncio":
        return serve(keepalive_coroutine, kind=kind, **options)
    if kind == "uvicorn":
        return serve(hello_asgi, kind=kind, **options)
    if kind == "gunicorn":
        return serve("bench_app:app", kind=kind, app_dir=str(gunicorn_app_dir(out)), **options)
    return serve(hello_app, kind=kind, **options)
