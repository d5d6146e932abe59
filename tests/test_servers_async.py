"""The step-7 kinds ("asyncio", "uvicorn") keep the promises of every kind: loopback, port 0, errors
shown and raised by check(), a stop that closes every connection and leaves no thread or port; and
`probe.idle_connections`, which step 7 measures them with."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import pytest
import requests
from conftest import port_is_free, server_threads

from socket2flask import servers
from socket2flask.probe import idle_connections, measure
from socket2flask.servers import ServerError, serve


async def shout(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo each line in capitals, until the client closes or stays silent for 5 s."""
    while True:
        async with asyncio.timeout(5):
            line = await reader.readline()
        if not line:
            return
        writer.write(line.upper())
        await writer.drain()


async def hello(scope: dict, receive, send) -> None:
    """An ASGI app: /boom raises, anything else says hello."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/boom":
        raise ZeroDivisionError("the bug")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-kind", b"asgi")]})
    await send({"type": "http.response.body", "body": b"hello"})


def ask(port: int, line: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(line)
        return conn.recv(100)


def test_asyncio_kind_serves_many_connections_from_one_thread_and_stops_them_all():
    server = serve(shout, kind="asyncio")
    assert server.host == "127.0.0.1" and server.port > 0
    threads_before = threading.active_count()
    with idle_connections(server.url, 200) as held:
        assert len(held) == 200
        assert ask(server.port, b"hi\n") == b"HI\n"
        assert threading.active_count() == threads_before  # no thread per connection
        started = time.perf_counter()
        server.stop()
        assert time.perf_counter() - started < 1.0
        assert all(conn.recv(1) == b"" for conn in held)  # each one closed by the server
    assert port_is_free(server.port) and server_threads() == [] and servers.running() == []


def test_asyncio_kind_shows_a_handler_exception_and_check_raises_it(capsys):
    async def broken(reader, writer):
        await reader.readline()
        raise KeyError("the bug")

    with serve(broken, kind="asyncio") as server:
        assert ask(server.port, b"hi\n") == b""  # the connection is closed, nothing sent
        with pytest.raises(ServerError, match="the bug"):
            server.check()
    assert "the handler raised" in capsys.readouterr().err


def test_asyncio_kind_names_a_handler_that_blocks_the_loop(capsys):
    async def blocking(reader, writer):
        await reader.readline()
        time.sleep(3)  # not awaited: the whole loop stops with it

    server = serve(blocking, kind="asyncio")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"x\n")
        time.sleep(0.2)
        started = time.perf_counter()
        server.stop()
    assert time.perf_counter() - started < 3.0  # stop() gave up at its deadline, and said why
    assert "still running" in capsys.readouterr().err
    assert server.stragglers and "asyncio loop" in server.stragglers[0].name
    server.stragglers[0].join(5)
    assert server_threads() == [] and port_is_free(server.port)


def server_side_nodelay(server_port: int, client: socket.socket) -> int:
    """TCP_NODELAY on the server's end of `client`'s connection: the server runs in this process,
    so its socket is one of our open files."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            candidate = socket.socket(fileno=os.dup(int(fd)))
        except OSError:  # not a socket
            continue
        with candidate:
            try:
                ours = candidate.getsockname()[1] == server_port
                if ours and candidate.getpeername() == client.getsockname():
                    return candidate.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            except (OSError, TypeError, IndexError):  # not a connected TCP socket
                continue
    raise AssertionError("the server's end of the connection was not found")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads open files from /proc")
@pytest.mark.parametrize("kind, app", [("asyncio", shout), ("uvicorn", hello)])
def test_step7_kinds_turn_nagle_off_on_every_connection(kind, app):
    """Without TCP_NODELAY a response written in two parts (uvicorn: headers, then body) waits
    for the client's delayed ACK: 40 ms for each kept-alive request."""
    with serve(app, kind=kind) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(100)  # answered: the server's end exists now
            assert server_side_nodelay(server.port, client) == 1


def test_uvicorn_kind_serves_an_asgi_app_and_closes_kept_alive_connections():
    server = serve(hello, kind="uvicorn")
    assert server.host == "127.0.0.1" and server.port > 0
    session = requests.Session()  # a kept-alive connection that stop() must close
    response = session.get(server.url, timeout=5)
    assert response.text == "hello" and response.headers["x-kind"] == "asgi"
    assert measure(server.url, n=20, warmup=0, client="raw").errors == 0
    assert "GET /" in server.log
    server.stop()
    assert not server.running and port_is_free(server.port)
    assert server_threads() == [] and servers.running() == []
    session.close()


def test_uvicorn_kind_shows_an_app_exception_before_its_500(capsys):
    with serve(hello, kind="uvicorn") as server:
        response = requests.get(server.url + "/boom", timeout=5)
        assert response.status_code == 500 and "see the notebook" in response.text
        with pytest.raises(ServerError, match="ZeroDivisionError: the bug"):
            server.check()
    assert "the app raised while answering GET /boom" in capsys.readouterr().err


def test_uvicorn_kind_takes_uvicorn_settings_and_refuses_what_would_escape():
    with serve(hello, kind="uvicorn", timeout_keep_alive=1, server_header=False) as server:
        assert "server" not in requests.get(server.url, timeout=5).headers
    for escape in ("workers", "reload", "uds", "log_config"):
        with pytest.raises(TypeError, match="the options of 'uvicorn' are"):
            serve(hello, kind="uvicorn", **{escape: 2})
    assert servers.running() == []


def test_uvicorn_kind_that_cannot_start_says_so_and_leaves_nothing(capsys):
    async def no_start(scope, receive, send):  # lifespan "on": a failed startup stops uvicorn
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(RuntimeError, match="uvicorn did not start"):
        serve(no_start, kind="uvicorn", lifespan="on")
    assert server_threads() == [] and servers.running() == []
    capsys.readouterr()


def test_idle_connections_hold_a_thread_each_on_the_threaded_kind_and_close_them():
    def handler(conn: socket.socket, addr) -> None:
        while conn.recv(100):  # reads until the client closes
            pass

    with serve(handler, kind="socket") as server:
        before = threading.active_count()
        with idle_connections(server.url, 50, send=b"GET / HTTP/1.1\r\n") as held:
            deadline = time.monotonic() + 5
            while threading.active_count() < before + 50 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(held) == 50 and threading.active_count() == before + 50
        deadline = time.monotonic() + 5  # closed on leaving: every thread gets end-of-file
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert threading.active_count() == before


def test_idle_connections_stop_at_a_full_backlog_nobody_empties():
    listener = socket.create_server(("127.0.0.1", 0), backlog=1)  # never accepts
    with listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.perf_counter()
        with idle_connections(url, 50, timeout=0.5) as held:
            assert 1 <= len(held) < 50
        assert time.perf_counter() - started < 5  # one connect waited, not each of the rest


def test_asyncio_kind_that_cannot_start_leaves_no_loop_running(monkeypatch):
    async def refuse(*args, **kwargs):
        raise OSError("no server today")

    monkeypatch.setattr(asyncio, "start_server", refuse)
    with pytest.raises(OSError, match="no server today"):
        serve(shout, kind="asyncio")
    assert server_threads() == [] and servers.running() == []


def test_asyncio_kind_stops_a_waiting_connection_without_a_traceback(caplog):
    """Python 3.11's streams log "Exception in callback ..." for a connection task that stop()
    cancelled, unless the task ends normally."""
    with serve(shout, kind="asyncio") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(b"hi\n")
            assert conn.recv(10) == b"HI\n"  # kept alive: the handler waits for the next line
            server.stop()
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text
