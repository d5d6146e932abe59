"""Step 7 lesson: the demonstrations show what the text says they show.

Part one runs the lesson's own code in this process (its cells, read from the notebook) with
more inputs than the lesson gives: the WebSocket handshake and frames against RFC 6455 and the
`websockets` package, the WebSocket echo server by hand against the package's client, the small
ASGI server against uvicorn (and against step 1's server for the requests it refuses), the
coroutine handler against step 1's server, the WSGI app under `WsgiToAsgi` against the same app
on waitress (with the lesson's fresh context, and with uvicorn's `reset_contextvars`), section 3's
servers after a re-run of the set-up, and the idle plot on data we choose. Part two reads the
lesson's one run (shared with test_notebooks.py, which checks errors, time and leaks): one thread
for fifty connections, the naps, the lifespan, the idle-connection table (a row per server and
load, a thread per connection for step 1 only, who starves), the blocked loop, the frames on the
wire, the room, Flask's loops and Quart's pages. Behaviour only: no timing is asserted; what the
table and the traces must show holds by construction (a row's threads, who is starved, what runs
while the loop computes), and the lesson says so.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
import requests
from conftest import ROOT, prose
from kernels import output_of
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect
from websockets.utils import accept_key as websockets_accept_key

from socket2flask.apps import use_app
from socket2flask.httpclient import Connection
from socket2flask.reference import step1
from socket2flask.servers import serve

LESSON = ROOT / "notebooks" / "07_async.ipynb"
RFC_KEY, RFC_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3
SERVERS = ["step 1 (a thread each)", "waitress", "gunicorn sync, 2 workers", "uvicorn"]
LOADS = ["1 idle", "10 idle", "100 idle", "1,000 idle", "1,000 slow"]


# -- part one: the lesson's code, in this process ------------------------------------------------
def code_cell(fragment: str) -> str:
    """The source of the one code cell of the lesson that contains `fragment`."""
    cells = nbformat.read(LESSON, as_version=4).cells
    found = [c.source for c in cells if c.cell_type == "code" and fragment in c.source]
    assert len(found) == 1, f"{len(found)} code cells contain {fragment!r}"
    return found[0]


@pytest.fixture(scope="module")
def lesson() -> dict:
    """The lesson's set-up imports and the definitions part one tests, run in one namespace."""
    namespace: dict = {}
    for fragment in (
        "WORK_DIR = tempfile.TemporaryDirectory",  # the imports and the ASGI type names
        "async def read_request(reader: Reader)",
        "Step 1's handle_connection as a coroutine",
        "async def echo_asgi(",
        "def http_scope(request: step1.Request",
        "def asgi_server(app: Callable)",
        "def in_a_fresh_context(app: Callable)",
        "def accept_key(key: str)",
        "def encode_frame(",
        "async def websocket_echo(",
    ):
        exec(compile(code_cell(fragment), str(LESSON), "exec"), namespace)
    yield namespace
    namespace["WORK_DIR"].cleanup()


def decode(lesson: dict, frame: bytes) -> tuple[bool, int, bytes]:
    """The lesson's read_frame on bytes we have."""

    async def read() -> tuple[bool, int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(frame)
        reader.feed_eof()
        return await lesson["read_frame"](reader)

    return asyncio.run(read())


def test_the_accept_key_is_rfc_6455s_and_the_websockets_packages(lesson):
    assert lesson["accept_key"](RFC_KEY) == RFC_ACCEPT
    for _ in range(50):
        key = base64.b64encode(os.urandom(16)).decode()
        assert lesson["accept_key"](key) == websockets_accept_key(key)


def test_frames_in_every_length_form_agree_with_the_rfc_and_the_websockets_package(lesson):
    encode, text, binary = lesson["encode_frame"], lesson["TEXT"], lesson["BINARY"]
    rfc = bytes.fromhex("818537fa213d7f9f4d5158")  # RFC 6455 5.7: "Hello", masked
    assert encode(b"Hello", key=bytes.fromhex("37fa213d")) == rfc
    assert decode(lesson, rfc) == (True, 1, b"Hello")
    for size in (0, 1, 125, 126, 127, 65_535, 65_536, 70_000):
        payload = os.urandom(size)
        for opcode, kind in ((text, Opcode.TEXT), (binary, Opcode.BINARY)):
            ours = encode(payload, opcode)  # a server's frame: unmasked, as the package's
            assert ours == Frame(kind, payload).serialize(mask=False), size
            assert decode(lesson, ours) == (True, opcode, payload)
            masked = encode(payload, opcode, key=os.urandom(4))
            assert len(masked) == len(ours) + 4 and decode(lesson, masked)[2] == payload
            theirs = Frame(kind, payload).serialize(mask=True)  # the package's client frame
            assert decode(lesson, theirs) == (True, opcode, payload), size


def test_the_echo_server_by_hand_talks_to_the_websockets_client(lesson):
    with serve(lesson["websocket_echo"], kind="asyncio") as server:
        url = server.url.replace("http://", "ws://") + "/chat"
        with connect(url, open_timeout=5, close_timeout=2) as client:
            for message in ("Hello", "x" * 200, "é" * 40_000, os.urandom(70_000)):
                client.send(message)
                assert client.recv(timeout=5) == message
            assert client.ping().wait(timeout=5), "a ping gets its pong"
        refused = requests.get(server.url + "/chat", timeout=5)  # no Upgrade: not a handshake
        assert refused.status_code == 400
        server.check()


def test_the_small_asgi_server_answers_as_uvicorn_does(lesson):
    app = lesson["echo_asgi"]
    requests_to_send = [
        ("GET", "/", b""),
        ("GET", "/a%20b/c?x=1&y=%C3%A9", b""),
        ("POST", "/upload", os.urandom(3000)),
        ("PUT", "/echo?k", b"hi there"),
    ]
    with (
        serve(lesson["asgi_server"](app), kind="asyncio") as ours,
        serve(app, kind="uvicorn") as theirs,
        Connection.from_url(ours.url) as ours_conn,
        Connection.from_url(theirs.url) as theirs_conn,
    ):
        for method, target, body in requests_to_send:  # all on one kept-alive connection each
            a = ours_conn.request(method, target, body=body)
            b = theirs_conn.request(method, target, body=body)
            assert (a.status, a.body) == (b.status, b.body), target
            assert a.status == 200 and a.body.startswith(method.encode() + b" /"), a.body
        ours.check()
        theirs.check()


def test_the_small_asgi_server_refuses_what_step_1_refuses_without_a_traceback(lesson):
    refused = [
        b"GET / HTTP/1.1\r\n\r\n",  # no Host: 400
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",  # 505
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",  # 400
    ]
    with (
        serve(lesson["asgi_server"](lesson["echo_asgi"]), kind="asyncio") as ours,
        serve(step1.make_handler(step1.echo_app), kind="socket") as threaded,
    ):
        for raw in refused:
            answers = []
            for server in (ours, threaded):
                with Connection.from_url(server.url) as conn:
                    conn.send(raw)
                    answers.append(conn.read_response().status)
            assert answers[0] == answers[1] >= 400, raw
        ours.check()  # the app never saw them, and the handler did not raise


def test_the_coroutine_serves_step_1s_app_as_step_1s_server_does(lesson):
    def answer(url: str, raw: bytes) -> tuple[int, bytes]:
        with Connection.from_url(url) as conn:
            conn.send(raw)
            response = conn.read_response()
            return response.status, response.body

    cases = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /echo?a=python%20flask HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host: 400
        b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n",  # 501
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",  # 505
    ]
    with (
        serve(lesson["handle"], kind="asyncio") as looped,
        serve(step1.make_handler(step1.echo_app), kind="socket") as threaded,
    ):
        for raw in cases:
            assert answer(looped.url, raw) == answer(threaded.url, raw), raw
        chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        assert answer(looped.url, chunked)[0] == 501  # the lesson leaves chunked bodies to the lab
        with Connection.from_url(looped.url) as conn:  # kept alive: three answers, one connection
            bodies = [conn.request("GET", f"/echo?a={n}").body for n in range(3)]
        assert bodies == [b"hello ~~~ 0", b"hello ~~~ 1", b"hello ~~~ 2"]
        looped.check()


def test_the_wsgi_app_in_a_fresh_context_answers_like_the_wsgi_app(lesson):
    from asgiref.sync import SyncToAsync

    use_app("bookshelf")
    import bookshelf

    adapted_app = lesson["in_a_fresh_context"](lesson["WsgiToAsgi"](bookshelf.app))
    paths = ["/books/", "/books/1", "/api/books", "/books/99", "/static/style.css"] * 4
    try:
        with (
            serve(bookshelf.app, kind="waitress") as native,
            serve(adapted_app, kind="uvicorn") as adapted,
            Connection.from_url(native.url) as native_conn,
            Connection.from_url(adapted.url) as adapted_conn,
        ):
            for path in paths:  # 20 requests on one kept-alive connection each
                a, b = native_conn.request("GET", path), adapted_conn.request("GET", path)
                assert (a.status, a.body) == (b.status, b.body), path
            adapted.check()
    finally:  # asgiref's one thread for every sync call: end it, as the lesson's last cell does
        SyncToAsync.single_thread_executor.shutdown(wait=True)
        SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


def test_uvicorns_reset_contextvars_does_what_the_fresh_context_does(lesson):
    """The lesson says uvicorn's own setting is the same fix: 20 kept-alive requests, all 200."""
    from asgiref.sync import SyncToAsync

    use_app("bookshelf")
    import bookshelf

    try:
        with (
            serve(lesson["WsgiToAsgi"](bookshelf.app), kind="uvicorn", reset_contextvars=True) as s,
            Connection.from_url(s.url) as conn,
        ):
            statuses = [conn.request("GET", "/api/books").status for _ in range(20)]
            s.check()
        assert statuses == [200] * 20
    finally:
        SyncToAsync.single_thread_executor.shutdown(wait=True)
        SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


def test_section_3s_servers_start_after_a_rerun_of_the_set_up(lesson, tmp_path):
    """A re-run of the set-up cell makes a new, empty scratch folder: gunicorn's app file must be
    written where the servers start, not by an earlier cell."""
    namespace = {**lesson, "WORK": tmp_path / "first"}
    namespace["WORK"].mkdir()
    exec(compile(code_cell("def contenders()"), str(LESSON), "exec"), namespace)
    namespace["WORK"] = tmp_path / "after the re-run"  # the set-up again: a new, empty folder
    namespace["WORK"].mkdir()
    with contextlib.ExitStack() as stack:
        started = namespace["contenders"]()
        for server in started.values():
            stack.enter_context(server)
        assert "gunicorn sync, 2 workers" in started or not hasattr(os, "fork")
        for label, server in started.items():
            answer = requests.get(server.url, timeout=5)
            assert (answer.status_code, answer.text) == (200, "hello"), label


def test_the_idle_plot_labels_its_log_axis_and_leaves_out_what_a_starved_server_did_not_hold(
    lesson,
):
    import matplotlib

    matplotlib.use("Agg")
    namespace = dict(lesson)
    exec(compile(code_cell("class Held:"), str(LESSON), "exec"), namespace)
    held = namespace["Held"]
    counts = (1, 10, 100, 1000)
    fast = {("fast", f"{n:,} idle"): held(n, 0, 0.002 * n, 0.0001) for n in counts}
    starved = {("starved", f"{n:,} idle"): held(n, 0, 0.0, None) for n in counts}
    namespace.update(COUNTS=counts, idle=fast | starved)
    exec(compile(code_cell("fig, (tail, memory) = plt.subplots("), str(LESSON), "exec"), namespace)
    fig, tail, memory = namespace["fig"], namespace["tail"], namespace["memory"]
    fig.canvas.draw()
    labels = {label.get_text() for label in tail.get_yticklabels()}
    assert {"0.1", "1", "10", "100", "1000"} <= labels, labels  # 0.1 ms is not shown as "0"
    fast_line, starved_line = memory.get_lines()
    assert list(fast_line.get_ydata()) == pytest.approx([0.002, 0.02, 0.2, 2.0])
    assert all(math.isnan(value) for value in starved_line.get_ydata())


# -- part two: the lesson's own run ---------------------------------------------------------------
@pytest.fixture(scope="module")
def outputs(lesson_outputs) -> list[tuple[str, str]]:
    """(source, printed text) of every code cell of the lesson's one run, which left nothing."""
    return lesson_outputs("07_async")


@pytest.mark.timeout(300)
def test_one_thread_serves_every_connection_and_awaiting_overlaps(outputs):
    selected = output_of(outputs, "for line in serve_in_one_thread(")
    assert "the clients got [b'ONE', b'TWO', b'THREE']" in selected
    before, after = re.search(r"threads: (\d+) before, (\d+) after", selected).groups()
    assert before == after
    served = output_of(outputs, "CONNECTIONS = 50")
    answers = r"\s+500 answers over 50 connections, errors 0, from "
    assert re.search(rf"^asyncio{answers}1 thread", served, re.M)
    assert re.search(rf"^step 1, a thread each{answers}50 thread", served, re.M)
    assert "the asyncio server's one thread: asyncio loop http://127.0.0.1:" in served
    assert "HTTP/1.1 200 OK␍␊" in served and "hello ~~~ coroutines" in served
    napped = output_of(outputs, "def napping(")
    naps = dict(
        re.findall(r"^(.+?)\(0\.2\)\s+4 answers \[200, 200, 200, 200\] .*naps: (.*)$", napped, re.M)
    )
    assert naps["time.sleep"] == "> < > < > < > <"  # one thread, no await: one nap at a time
    waited = naps["await asyncio.sleep"].split()
    assert sorted(waited) == sorted("> > > > < < < <".split()) and waited[:2] == [">", ">"]
    kernel_loop = output_of(outputs, "async def where_am_i(")
    assert re.search(
        r"^the cell runs on <\w+EventLoop running=True .* in MainThread$", kernel_loop, re.M
    )
    assert "asyncio.run() cannot be called from a running event loop" in kernel_loop


@pytest.mark.timeout(300)
def test_asgi_by_hand_on_our_server_and_on_uvicorn(outputs):
    by_hand = output_of(outputs, "await echo_asgi(by_hand")
    assert "'type': 'http.response.start', 'status': 200" in by_hand
    assert "b\"POST /hello query=b'x=1' body=b'hi there'\\n\"" in by_hand
    both = output_of(outputs, "LIFESPAN_LOG.clear()")
    assert both.count("POST /hello query=b'x=1' body=b'hi there'␊") == 2
    assert both.count("HTTP/1.1 200 OK␍␊") == 2 and "server: uvicorn␍␊" in both
    assert "the app's lifespan log while uvicorn runs: ['lifespan.startup']" in both
    assert "and after stop(): ['lifespan.startup', 'lifespan.shutdown']" in both


@pytest.mark.timeout(300)
def test_wsgi_to_asgi_answers_like_waitress_and_costs_what_the_lesson_says(outputs):
    same = output_of(outputs, "same_answers(native, adapted, SHELF_PATHS)")
    verdicts = dict(re.findall(r"^(\S+)\s+waitress / uvicorn \+ WsgiToAsgi: (.*)$", same, re.M))
    assert verdicts == {
        "/books/": "200 / 200, same body",
        "/books/1": "200 / 200, same body",
        "/api/books": "200 / 200, same body",
        "/books/99": "404 / 404, same body",
    }
    costs = output_of(outputs, "def ten_ms(")
    threads = dict(re.findall(r"^(.+?)\s+a 10 ms app, 4 clients: .* in (\d+) thread", costs, re.M))
    assert threads["uvicorn + WsgiToAsgi"] == "1"  # asgiref's one thread for every call
    assert int(threads["waitress"]) > 1
    assert re.search(r"^uvicorn \+ WsgiToAsgi\s+the bookshelf's /api/books, 1 client", costs, re.M)
    bug = output_of(outputs, '("with reset_contextvars=True", {"reset_contextvars": True})')
    without, fixed = re.findall(r"^-> (\d+) failed(.*)$", bug, re.M)
    assert re.search(
        r"^without a fresh context, 20 requests on one connection:( \d{3}){20}$", bug, re.M
    )
    assert without[0] == "0" or without[1].startswith(", e.g. RuntimeError: CurrentThreadExecutor")
    assert re.search(
        r"^with reset_contextvars=True, 20 requests on one connection:( 200){20}$", bug, re.M
    )
    assert fixed == ("0", "")


def idle_table(outputs) -> dict[tuple[str, str], tuple[str, str, str]]:
    """{(server, load): (threads, memory, p99)} from the printed table."""
    text = output_of(outputs, 'idle[label, "1,000 slow"] = hold(')
    row = (
        r"^(.+?)\s+(\d[\d,]* (?:idle|slow))\s+threads\s+(\S+)\s+memory\s+(\S+(?: MiB)?)\s+p99 (.+)$"
    )
    rows = re.findall(row, text, re.M)
    return {(label, load): (threads, memory, p99) for label, load, threads, memory, p99 in rows}


@pytest.mark.timeout(300)
def test_the_idle_connection_table_has_a_row_per_server_and_load(outputs):
    table = idle_table(outputs)
    servers = [server for server in SERVERS if hasattr(os, "fork") or "gunicorn" not in server]
    assert set(table) == {(server, load) for server in servers for load in LOADS}
    measured = os.path.isdir("/proc")  # where the lesson reads threads and memory
    for (server, load), (threads, memory, p99) in table.items():
        assert re.fullmatch(r"[+-]\d+" if measured else "n/a", threads), (server, load, threads)
        assert re.fullmatch(r"[+-]\d+\.\d MiB" if measured else "n/a", memory), (server, load)
        assert p99 == "starved" or re.fullmatch(r"[\d.,]+ (µs|ms|s)( \(\d+ timed out\))?", p99)


@pytest.mark.timeout(300)
def test_a_thread_per_connection_for_step_1_and_none_for_the_others(outputs):
    table = idle_table(outputs)
    if not os.path.isdir("/proc"):  # the lesson reads threads from /proc: it says n/a elsewhere
        assert {threads for threads, _, _ in table.values()} == {"n/a"}
        return
    for load in LOADS:
        count = int(load.split()[0].replace(",", ""))
        step1_threads = int(table["step 1 (a thread each)", load][0])
        # one thread per connection, each while the connection is open (5 s: the lesson holds less)
        assert count * 0.9 <= step1_threads <= count + 2, (load, step1_threads)
        for server in ("waitress", "gunicorn sync, 2 workers", "uvicorn"):
            if (server, load) in table:
                assert int(table[server, load][0]) <= 0, (server, load)
    per_connection = output_of(outputs, "def per_connection(")
    assert re.search(
        r"^step 1 \(a thread each\): \+\d+ threads, \+[\d.]+ MiB for 1,000", per_connection, re.M
    )
    for server in ("waitress", "gunicorn sync, 2 workers"):  # starved: no cost per connection
        if (server, "1,000 idle") in table:
            assert f"{server}: starved, it did not hold the 1,000 connections" in per_connection


@pytest.mark.timeout(300)
def test_who_is_starved_is_what_each_design_allows(outputs):
    table = idle_table(outputs)
    starved = {key for key, (_, _, p99) in table.items() if p99 == "starved"}
    expected = {("waitress", load) for load in ("100 idle", "1,000 idle", "1,000 slow")}
    if ("gunicorn sync, 2 workers", "1 idle") in table:  # two workers: two idle clients fill them
        expected |= {("gunicorn sync, 2 workers", load) for load in LOADS[1:]}
    assert starved == expected
    text = output_of(outputs, 'idle[label, "1,000 slow"] = hold(')
    assert "total open connections reached the connection limit" in text  # waitress said so


@pytest.mark.timeout(300)
def test_cpu_work_in_the_coroutine_stops_the_loop_and_an_executor_does_not(outputs):
    text = output_of(outputs, 'for path in ("/work", "/work-in-executor"):')
    during = dict(
        re.findall(r"^(\S+)\s+answers to / during the 0.2 s of work:\s+(\d+)", text, re.M)
    )
    assert during["/work"] == "0"  # the loop's one thread was computing: by construction
    assert int(during["/work-in-executor"]) > 0


@pytest.mark.timeout(300)
def test_the_websocket_bytes_are_rfc_6455s(outputs):
    key = output_of(outputs, "def accept_key(key: str)")
    assert f"Sec-WebSocket-Key {RFC_KEY} -> Sec-WebSocket-Accept {RFC_ACCEPT}" in key
    assert "the websockets package computes the same: True" in key
    frames = output_of(outputs, "async def decode(frame: bytes)")
    assert "'Hello', masked with 37 fa 21 3d: 81 85 37 fa 21 3d 7f 9f 4d 51 58" in frames
    assert "read back: (True, 1, b'Hello')" in frames
    assert "a      5-byte payload: header 81 85 37 fa 21 3d" in frames
    assert "a    200-byte payload: header 81 fe 00 c8 37 fa 21 3d" in frames
    assert "a 70,000-byte payload: header 81 ff 00 00 00 00 00 01 11 70 37 fa 21 3d" in frames
    theirs = r"the websockets package's 'Hello': 81 85( [0-9a-f]{2}){9} -> \(True, 1, b'Hello'\)"
    assert re.search(theirs, frames)
    wire = output_of(outputs, "HANDSHAKE = (")
    assert "HTTP/1.1 101 Switching Protocols␍␊" in wire
    assert f"Sec-WebSocket-Accept: {RFC_ACCEPT}␍␊" in wire
    assert re.search(r"^>>> 81 85( [0-9a-f]{2}){9}\s+<<< 81 05 48 65 6c 6c 6f$", wire, re.M)
    assert re.search(r"^>>> 88 82( [0-9a-f]{2}){6}\s+<<< 88 02 03 e8$", wire, re.M)
    assert "the websockets client got back: Hello from the websockets package" in wire


@pytest.mark.timeout(300)
def test_the_echo_and_the_room_on_uvicorn(outputs):
    text = output_of(outputs, "MEMBERS = 20")
    assert "echo: hello, echo" in text
    assert "20 connections in the room; 20 of them heard 'hello, room', sent once" in text


@pytest.mark.timeout(300)
def test_flask_async_views_get_a_loop_each_and_quart_gives_the_same_pages(outputs):
    flask = output_of(outputs, "async def async_view()")
    seen = re.search(
        r"(\d+) calls of the async view \(warm-up included\) ran on (\d+) event loops, in (\d+) "
        r"threads, (\d+) of them waitress's",
        flask,
    )
    calls, loops, threads, of_waitress = (int(number) for number in seen.groups())
    assert calls == loops == threads == 320
    assert of_waitress == 0  # asgiref's threads: waitress's own waited meanwhile
    assert re.search(r"^Flask, /async view on waitress: p50", flask, re.M)
    pages = output_of(outputs, "same_answers(flask_shelf, quart_shelf, SHELF_PATHS)")
    verdicts = dict(
        re.findall(r"^(\S+)\s+Flask on waitress / Quart on uvicorn: (.*)$", pages, re.M)
    )
    assert verdicts == {
        "/books/": "200 / 200, same body",
        "/books/1": "200 / 200, same body",
        "/api/books": "200 / 200, same body",
        "/books/99": "404 / 404, same body",
    }
    assert "still running: [] | scratch folder kept for a re-run: True" in output_of(
        outputs, "SyncToAsync.single_thread_executor.shutdown"
    )


def test_the_lesson_plots_at_a_fixed_size_and_says_what_its_table_shows():
    source = code_cell("fig, (tail, memory) = plt.subplots(")
    assert "figsize=plots.FIGSIZE, dpi=plots.DPI" in source
    text = prose(LESSON)
    assert "with 10 or more the normal client is starved" in text
    assert "at most `connection_limit` of them (100)" in text
    assert "**no** request was answered while it ran, by construction" in text
