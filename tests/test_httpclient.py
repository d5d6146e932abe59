"""socket2flask.httpclient: framing by Content-Length, chunks and close; keep-alive; bad bytes."""

from __future__ import annotations

import socket
import time

import pytest

from socket2flask.httpclient import Connection, ProtocolError, build_request
from socket2flask.servers import serve


def scripted(*responses: bytes, close_after: bool = False):
    """A socket handler that answers the n-th request on a connection with responses[n]."""
    connections = []

    def handler(conn, addr):
        connections.append(addr)
        buffer = b""
        for response in responses:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer.partition(b"\r\n\r\n")[2]
            conn.sendall(response)
        if not close_after:
            conn.recv(1)  # hold the connection open until the client goes

    return handler, connections


def fetch(*responses: bytes, method: str = "GET", count: int = 1, close_after: bool = False):
    handler, connections = scripted(*responses, close_after=close_after)
    with serve(handler, kind="socket") as server, Connection(server.host, server.port) as conn:
        results = [conn.request(method, "/") for _ in range(count)]
    return results, connections


def test_content_length_body_and_headers():
    [response], _ = fetch(b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc")
    assert (response.status, response.reason, response.body) == (201, "Created", b"abc")
    assert response.header("x-a") == "b" and response.header("missing", "d") == "d"


def test_chunked_body_with_extensions_and_trailers():
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n"
    )
    [response], _ = fetch(raw)
    assert response.body == b"Wikipedia in \r\n\r\nchunks."


def test_body_until_close_when_no_length():
    [response], _ = fetch(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", close_after=True)
    assert response.body == b"until the end" and response.will_close


def test_head_and_204_have_no_body_even_with_a_length():
    [head], _ = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", method="HEAD")
    assert head.body == b"" and head.header("Content-Length") == "10"
    [empty], _ = fetch(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    assert empty.status == 204 and empty.body == b""


def test_interim_100_continue_is_skipped():
    [response], _ = fetch(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    assert (response.status, response.body) == (200, b"ok")


def test_keep_alive_reuses_one_connection():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    responses, connections = fetch(ok, ok, ok, count=3)
    assert [r.body for r in responses] == [b"ok"] * 3 and len(connections) == 1


def test_reconnects_after_connection_close():
    closing = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    responses, connections = fetch(closing, count=3, close_after=True)
    assert [r.body for r in responses] == [b"ok"] * 3 and len(connections) == 3


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"HTTP/2 200 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed after 5 of 10"),
        (b"HTTP/1.1 200 OK\r\n", "closed before a complete response head"),
    ],
)
def test_malformed_responses_raise_protocol_error(raw, message):
    with pytest.raises(ProtocolError, match=message):
        fetch(raw, close_after=True)


def test_a_silent_server_times_out():
    def silent(conn, addr):
        conn.recv(65536)
        time.sleep(1)

    with serve(silent, kind="socket") as server:
        with Connection(server.host, server.port, timeout=0.2) as conn:
            with pytest.raises(socket.timeout):
                conn.request()


def test_build_request_is_exact_bytes():
    assert build_request("POST", "/x?a=1", "h:1", {"X-Y": "z"}, b"hi") == (
        b"POST /x?a=1 HTTP/1.1\r\nHost: h:1\r\nX-Y: z\r\nContent-Length: 2\r\n\r\nhi"
    )
    assert build_request("GET", "/", "h:1") == b"GET / HTTP/1.1\r\nHost: h:1\r\n\r\n"
