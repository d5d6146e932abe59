"""socket2flask.servers: every kind serves, stops fast, frees its port, and leaves nothing
behind."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import requests
from conftest import app_for, hello_app, port_is_free, server_threads

from socket2flask import servers
from socket2flask.servers import ServerError, serve

THREAD_KINDS = ["socket", "wsgiref", "werkzeug", "waitress"]
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="gunicorn needs fork()")


@pytest.fixture
def gunicorn_app(tmp_path):
    """A module gunicorn can import: 'app_module:app' in tmp_path, a route that raises, a slow
    one."""
    (tmp_path / "app_module.py").write_text(
        textwrap.dedent("""
        import os, time
        def app(environ, start_response):
            if environ["PATH_INFO"] == "/boom":
                raise RuntimeError("boom in a worker")
            if environ["PATH_INFO"] == "/slow":
                time.sleep(5)
            if environ["PATH_INFO"] == "/nap":  # a reply in flight: says so, then takes 0.1 s
                open(os.path.join(os.path.dirname(__file__), "napping"), "w").close()
                time.sleep(0.1)
            body = str(os.getpid()).encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
    """)
    )
    return tmp_path


@pytest.mark.parametrize("kind", THREAD_KINDS)
def test_each_thread_kind_serves_on_loopback_and_stops_fast(kind):
    server = serve(app_for(kind), kind=kind)
    assert server.host == "127.0.0.1" and server.port > 0 and server.kind == kind
    response = requests.get(server.url + "/?x=1", timeout=5)
    assert response.status_code == 200 and response.content.startswith(b"hello")
    session = requests.Session()  # a kept-alive connection that stop() must close
    session.get(server.url, timeout=5)
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 0.5
    assert not server.running and server not in servers.running()
    assert port_is_free(server.port)
    assert server_threads() == []
    session.close()


@needs_fork
def test_gunicorn_runs_workers_in_processes_and_reaps_them(gunicorn_app):
    server = serve("app_module:app", kind="gunicorn", app_dir=str(gunicorn_app), workers=2)
    pids = {requests.get(server.url, timeout=5).text for _ in range(20)}
    assert all(pid.isdigit() and int(pid) != os.getpid() for pid in pids)
    server.stop()
    assert port_is_free(server.port)
    for pid in pids:  # every worker is gone: exited and reaped by gunicorn's arbiter
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


@needs_fork
def test_gunicorn_stop_lets_the_reply_in_flight_finish(gunicorn_app):
    server = serve("app_module:app", kind="gunicorn", app_dir=str(gunicorn_app), workers=2)
    answers = []
    client = threading.Thread(
        target=lambda: answers.append(requests.get(server.url + "/nap", timeout=5)), daemon=True
    )
    client.start()
    deadline = time.monotonic() + 5
    while not (gunicorn_app / "napping").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    server.stop()  # SIGTERM: the worker finishes its reply; the arbiter is ended once it reaped all
    client.join(5)
    assert [answer.status_code for answer in answers] == [200]
    assert port_is_free(server.port)


@needs_fork
def test_gunicorn_worker_errors_are_shown_and_raised_by_check(gunicorn_app, capsys):
    with serve("app_module:app", kind="gunicorn", app_dir=str(gunicorn_app), workers=1) as server:
        assert requests.get(server.url + "/boom", timeout=5).status_code == 500
        deadline = time.monotonic() + 5
        while not server.errors and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(ServerError, match="boom in a worker"):
            server.check()
    assert "boom in a worker" in capsys.readouterr().err


@needs_fork
@pytest.mark.timeout(60)
def test_gunicorn_waits_for_every_worker_and_passes_its_own_options(gunicorn_app, capsys):
    with serve(
        "app_module:app", kind="gunicorn", app_dir=str(gunicorn_app), workers=3, timeout=1
    ) as server:
        assert sum("Booting worker" in line for line in server.log) == 3  # all up on return
        with pytest.raises(requests.RequestException):  # --timeout 1: the arbiter kills the worker
            requests.get(server.url + "/slow", timeout=10).raise_for_status()
    # stop() ends the thread that copies gunicorn's stderr into server.log only after its last
    # line: the arbiter may write "WORKER TIMEOUT" after the client already has its error.
    assert any("WORKER TIMEOUT" in line for line in server.log)
    capsys.readouterr()


@needs_fork
def test_gunicorn_with_an_app_that_fails_to_import_is_an_error_not_a_silent_server(tmp_path):
    (tmp_path / "broken_module.py").write_text("import no_such_module\n")
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="(?s)gunicorn did not start.*no_such_module"):
        serve("broken_module:app", kind="gunicorn", app_dir=str(tmp_path), workers=1)
    assert time.perf_counter() - started < 30  # the arbiter gave up, we did not wait it out
    assert servers.running() == [] and server_threads() == []


def test_gunicorn_needs_an_import_string():
    with pytest.raises(TypeError, match="module:variable"):
        serve(hello_app, kind="gunicorn")
    assert servers.running() == []


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of socket, wsgiref"):
        serve(hello_app, kind="nginx")


@pytest.mark.parametrize("kind", ["wsgiref", "werkzeug", "waitress"])
def test_app_error_prints_traceback_before_the_500_and_check_raises(kind, capsys):
    def broken(environ, start_response):
        raise ZeroDivisionError("the bug")

    with serve(broken, kind=kind) as server:
        response = requests.get(server.url + "/where?q=1", timeout=5)
        printed = capsys.readouterr().err  # already printed when the response arrived
        assert response.status_code == 500
        assert "ZeroDivisionError: the bug" in printed and "GET /where?q=1" in printed
        with pytest.raises(ServerError, match="the bug"):
            server.check()
        server.check()  # raised once; a second check has nothing new


def test_error_while_streaming_after_headers_aborts_the_response(capsys):
    def streams_then_breaks(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first part\n"
        raise ValueError("mid-stream")

    with serve(streams_then_breaks, kind="werkzeug") as server:
        with pytest.raises(requests.RequestException):
            requests.get(server.url, timeout=5).raise_for_status()
        with pytest.raises(ServerError, match="mid-stream"):
            server.check()


def test_socket_handler_error_is_reported_and_the_server_keeps_serving(capsys):
    def handler(conn, addr):
        request = conn.recv(1024)
        if b"/boom" in request:
            raise KeyError("handler bug")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    with serve(handler, kind="socket") as server:
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/boom", timeout=5)
        assert requests.get(server.url, timeout=5).text == "ok"
        with pytest.raises(ServerError, match="handler bug"):
            server.check()
    assert "KeyError" in capsys.readouterr().err


def test_log_keeps_recent_request_lines_quietly(capsys):
    with serve(hello_app) as server:
        for i in range(3):
            requests.get(f"{server.url}/page/{i}?n={i}", timeout=5)
        assert list(server.log)[-3:] == ["GET /page/0?n=0", "GET /page/1?n=1", "GET /page/2?n=2"]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # no access log lines (rule 7)


def test_same_name_replaces_the_earlier_server_20_times():
    ports = set()
    for _ in range(20):
        server = serve(hello_app, name="rerun")
        ports.add(server.port)
    assert len(servers.running()) == 1
    live = servers.running()[0]
    assert requests.get(live.url, timeout=5).status_code == 200
    assert sum(not port_is_free(port) for port in ports) == 1
    servers.stop_all()
    assert servers.running() == [] and server_threads() == []


def test_stop_is_idempotent_and_context_manager_stops():
    with serve(hello_app, kind="wsgiref") as server:
        assert server.running
    assert not server.running
    server.stop()
    assert "stopped" in repr(server)


def test_stop_does_not_hang_on_a_silent_client():
    """A client that connects and sends nothing holds a thread; stop() must still end it."""
    server = serve(hello_app, kind="werkzeug")
    silent = socket.create_connection((server.host, server.port), timeout=5)
    time.sleep(0.05)
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 0.5 and server_threads() == []
    silent.close()


def test_wsgiref_threaded_option_serves_concurrently():
    def slow(environ, start_response):
        time.sleep(0.3)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    from concurrent.futures import ThreadPoolExecutor

    with serve(slow, kind="wsgiref", threaded=True) as server:
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: requests.get(server.url, timeout=5), range(4)))
        assert time.perf_counter() - started < 1.0  # 4 x 0.3 s in parallel, not in a row


def test_atexit_stops_servers_in_a_real_process(tmp_path):
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        from socket2flask.servers import serve
        server = serve(lambda e, s: (s("200 OK", []), [b""])[1])
        print(server.port, flush=True)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert port_is_free(int(result.stdout.strip()))


# -- the server's own framing: serve() hands a body with a length to the server as it is ----------
def _bodies(environ, start_response):
    """One app, four bodies, chosen by the path: what a server frames differently."""
    path = environ["PATH_INFO"]
    headers = [("Content-Type", "text/plain")]
    if path == "/list-with-length":
        headers.append(("Content-Length", "5"))
    start_response("200 OK", headers)
    if path == "/generator":
        return (part for part in [b"hel", b"lo"])
    if path == "/file" and "wsgi.file_wrapper" in environ:
        return environ["wsgi.file_wrapper"](io.BytesIO(b"hello"))
    return [b"hello"]


def _framing(port: int, path: str) -> dict[str, str]:
    """The framing headers of one HTTP/1.1 response: Content-Length and Transfer-Encoding."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    fields = [line.split(":", 1) for line in head]
    return {
        name.lower(): value.strip()
        for name, value in fields
        if name.lower() in ("content-length", "transfer-encoding")
    }


@contextlib.contextmanager
def _bare(kind: str, app):
    """The server of `kind` on its own, without serve(): the framing to compare against."""
    if kind == "waitress":
        from waitress import wasyncore
        from waitress.server import create_server

        channels: dict = {}
        httpd = create_server(app, map=channels, host="127.0.0.1", port=0)
        stop = threading.Event()
        loop = threading.Thread(
            target=lambda: [
                wasyncore.loop(0.05, map=channels, count=1) for _ in iter(stop.is_set, True)
            ],
            daemon=True,
        )
        loop.start()
        try:
            yield int(httpd.effective_port)
        finally:
            stop.set()
            loop.join(5)
            httpd.task_dispatcher.shutdown(timeout=5)
            wasyncore.close_all(channels)
        return
    if kind == "wsgiref":
        from wsgiref.simple_server import make_server

        httpd = make_server("127.0.0.1", 0, app)
    else:
        from werkzeug.serving import make_server

        httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.mark.parametrize("kind", ["wsgiref", "werkzeug", "waitress"])
def test_framing_through_serve_equals_the_bare_servers(kind):
    paths = ["/list-without-length", "/list-with-length", "/generator", "/file"]
    with _bare(kind, _bodies) as port:
        bare = {path: _framing(port, path) for path in paths}
    with serve(_bodies, kind=kind) as server:
        ours = {path: _framing(server.port, path) for path in paths}
    assert ours == bare
    if kind != "werkzeug":  # werkzeug's dev server chunks every body without a length
        assert bare["/list-without-length"] == {"content-length": "5"}  # the server counted it


# -- what users type ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, options, valid",
    [
        ("wsgiref", {"thraeded": True}, "threaded"),
        ("socket", {"workers": 4}, "none"),
        ("werkzeug", {"thread": True}, "threaded"),
        ("waitress", {"thread": 4}, "threads"),
        ("gunicorn", {"worker": 4}, "workers"),
        # it would leave our process group: not an option
        ("gunicorn", {"daemon": True}, "workers"),
    ],
)
def test_an_unknown_option_is_a_type_error_naming_the_valid_ones(kind, options, valid):
    with pytest.raises(TypeError, match=f"unknown option.*{next(iter(options))}.*{valid}"):
        serve("app:app" if kind == "gunicorn" else hello_app, kind=kind, **options)
    assert servers.running() == []


def test_an_unknown_option_names_the_nearest_valid_one_first():
    # Shown where messages are cut short (check() keeps 300 characters), the guess must survive.
    with pytest.raises(TypeError) as raised:
        serve(hello_app, kind="waitress", max_body_size=65536)
    assert "(did you mean max_request_body_size?)" in str(raised.value)[:120], raised.value
    assert servers.running() == []


# -- stop() tells the truth -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["socket", "waitress"])
def test_a_handler_that_never_returns_is_named_by_stop_and_kept_visible(kind, capsys):
    entered, release = threading.Event(), threading.Event()

    def spins(conn, addr):  # a learner's loop that never sees the end of the connection
        entered.set()
        while not release.is_set():
            if not conn.recv(1024):
                time.sleep(0.001)  # "continue" would burn a core; the test needs only the loop

    def spinning_app(environ, start_response):
        entered.set()
        release.wait(30)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    server = serve(spins if kind == "socket" else spinning_app, kind=kind)
    client = socket.create_connection((server.host, server.port), timeout=5)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert entered.wait(5)
    server.stop()
    printed = capsys.readouterr().err
    assert "1 thread still running after 2 s: a handler that never returns?" in printed
    assert [t.is_alive() for t in server.stragglers] == [True]
    assert servers.running() == [server] and "1 thread(s) still running" in repr(server)
    assert port_is_free(server.port)  # the port is free all the same
    release.set()
    server.stragglers[0].join(5)
    assert server.stragglers == [] and servers.running() == []
    client.close()


def test_an_interrupted_stop_still_frees_the_port_and_raises_the_interrupt():
    server = serve(hello_app, kind="wsgiref")

    def interrupted() -> None:  # Kernel > Interrupt while stop() waits
        raise KeyboardInterrupt

    server._adapter._undo.append(interrupted)  # the step stop() runs first
    with pytest.raises(KeyboardInterrupt):
        server.stop()
    assert port_is_free(server.port) and servers.running() == [] and server_threads() == []


@pytest.mark.timeout(60)
def test_waitress_stops_without_a_late_worker_meeting_a_closed_trigger(caplog, capsys):
    """A worker that finishes its task while stop() runs pulls waitress's wake-up trigger: stop()
    closes the trigger last, so no "Bad file descriptor" reaches the cell (it did in about half of
    the runs when stop() closed the server, trigger included, before the workers)."""
    from socket2flask import probe

    def slow_app(environ, start_response):
        time.sleep(0.005)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    for _ in range(8):
        with serve(slow_app, kind="waitress") as server:
            assert probe.measure(server.url, n=64, concurrency=16, client="raw").errors == 0
    printed = capsys.readouterr()
    everything = printed.out + printed.err + caplog.text
    assert "Bad file descriptor" not in everything and "Exception when servicing" not in everything


def test_waitress_stops_a_worker_writing_to_a_client_that_does_not_read():
    def endless(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"x" * 65536 for _ in range(2000))  # 128 MB: far more than any socket buffer

    server = serve(endless, kind="waitress", threads=1)
    client = socket.create_connection((server.host, server.port), timeout=5)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    client.recv(100)  # the response has begun; then this client reads nothing more
    server.stop()
    assert server.stragglers == [] and server_threads() == []
    client.close()


@pytest.mark.parametrize("kind", ["wsgiref", "werkzeug", "waitress"])
def test_a_body_is_closed_once_even_when_the_client_leaves_mid_stream(kind):
    closed = []

    class Body:  # an iterator of its own, as werkzeug's ClosingIterator is
        def __init__(self) -> None:
            self.left = 2000

        def __iter__(self) -> Body:
            return self

        def __next__(self) -> bytes:
            self.left -= 1
            if self.left < 0:
                raise StopIteration
            return b"x" * 65536

        def close(self) -> None:
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    with serve(app, kind=kind) as server:
        client = socket.create_connection((server.host, server.port), timeout=5)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        client.recv(1000)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset, mid-stream
        deadline = time.monotonic() + 5
        while not closed and time.monotonic() < deadline:
            time.sleep(0.01)
    assert closed == [True]


# -- nothing outlives the kernel ------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@needs_fork
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads processes from /proc")
@pytest.mark.timeout(120)
def test_gunicorn_dies_with_its_kernel(gunicorn_app, tmp_path):
    from kernels import kernel, run_code, text_of

    with kernel(tmp_path / "kernel", gunicorn_app) as client:
        started = text_of(
            run_code(
                client,
                textwrap.dedent(f"""
            import os
            from socket2flask.servers import serve
            server = serve("app_module:app", kind="gunicorn", app_dir={str(gunicorn_app)!r})
            child = os.fork()  # a child of the kernel (multiprocessing forks so) outlives it
            if child == 0:
                time.sleep(30)
                os._exit(0)
            print(os.getpid(), server.port, child)
        """).replace("import os", "import os, time"),
            )
        ).split()
        kernel_pid, port, forked = int(started[0]), int(started[1]), int(started[2])
        children = subprocess.run(
            ["pgrep", "-f", "socket2flask.lifeline"], capture_output=True, text=True
        ).stdout.split()
        ours = [int(pid) for pid in children if _parent(int(pid)) == kernel_pid]
        assert len(ours) == 1
        group = [
            pid
            for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if _alive(pid) and _group(pid) == ours[0]
        ]
        assert len(group) == 3  # the arbiter and its two workers
        assert requests.get(f"http://127.0.0.1:{port}", timeout=5).status_code == 200
        os.kill(kernel_pid, signal.SIGKILL)  # what Kernel > Restart does
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and (any(map(_alive, group)) or not port_is_free(port)):
            time.sleep(0.05)
        assert [pid for pid in group if _alive(pid)] == []
        assert port_is_free(port)
        assert _alive(forked)  # it holds no lifeline: gunicorn died without waiting for it
        os.kill(forked, signal.SIGKILL)


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _group(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[2])
    except OSError:
        return -1
