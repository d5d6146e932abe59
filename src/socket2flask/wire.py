"""See the bytes: one request through a recording relay, with every byte of both directions kept.

    show(server)                                   # what `requests` sends, what the server answers
    show(server, raw=b"GET / HTTP/1.0\\r\\n\\r\\n")   # exactly these bytes, even malformed ones
    exchange(server, "POST", "/echo", body=b"hi")  # -> Exchange(request=b"...", response=b"...")

The relay listens on loopback, forwards one connection to the server and records what passes, so it
shows what really crossed TCP, whichever client sent it and whatever kind of server answered.
"""

from __future__ import annotations

import selectors
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from .httpclient import Connection, ProtocolError, build_request


@dataclass
class Exchange:
    request: bytes  # every byte the client sent
    response: bytes  # every byte the server sent back

    def show(self, limit: int = 2000) -> None:
        print(f">>> request, {len(self.request)} bytes, client to server")
        print(visible(self.request, limit))
        print(f"<<< response, {len(self.response)} bytes, server to client")
        print(visible(self.response, limit))


def visible(data: bytes, limit: int = 2000) -> str:
    r"""Bytes as text with line ends made visible: "\r\n" shows as ␍␊ and a bare "\n" as ␊;
    bytes that are not printable ASCII show as \xNN; after `limit` bytes, how many were left out."""
    marks = {"\r": "␍", "\n": "␊\n"}
    text = data[:limit].decode("ascii", "backslashreplace")  # non-ASCII bytes become \xNN
    shown = "".join(marks.get(c) or (c if c.isprintable() else f"\\x{ord(c):02x}") for c in text)
    if len(data) > limit:
        shown += f"\n... ({len(data) - limit} more bytes)"
    return shown


def _relay(
    listener: socket.socket, upstream: tuple[str, int], record: Exchange, timeout: float
) -> None:
    """Accept one client, connect it to `upstream`, and copy bytes both ways until both are done."""
    selector = selectors.DefaultSelector()
    try:
        client, _ = listener.accept()
        server = socket.create_connection(upstream, timeout=timeout)
    except OSError:
        listener.close()
        return
    pairs = {client: (server, "request"), server: (client, "response")}
    for sock in pairs:
        selector.register(sock, selectors.EVENT_READ)
    try:
        while selector.get_map():
            events = selector.select(timeout)
            if not events:  # both sides silent for `timeout` seconds: stop recording
                break
            for key, _ in events:
                source = key.fileobj
                target, direction = pairs[source]  # type: ignore[index]
                try:
                    data = source.recv(65536)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if data:
                    setattr(record, direction, getattr(record, direction) + data)
                    target.sendall(data)
                else:  # this side finished sending: pass the end-of-file on
                    selector.unregister(source)
                    try:
                        target.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
    finally:
        selector.close()
        for sock in (client, server, listener):
            sock.close()


def exchange(
    url_or_server: Any,
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    raw: bytes | None = None,
    client: str = "requests",
    timeout: float = 5.0,
) -> Exchange:
    """Send one request through a recording relay and return the exact bytes of both directions.

    client "requests" sends what the `requests` library sends; "raw" sends our minimal request;
    `raw=` sends exactly the bytes given, malformed or not, and reads whatever comes back."""
    if client not in ("requests", "raw"):
        raise ValueError(f"unknown client {client!r}; choose 'requests' or 'raw'")
    url = getattr(url_or_server, "url", url_or_server)
    target = urlsplit(url)
    upstream = (target.hostname or "127.0.0.1", target.port or 80)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(timeout)
    record = Exchange(b"", b"")
    relay = threading.Thread(
        target=_relay, args=(listener, upstream, record, timeout), daemon=True, name="wire relay"
    )
    relay.start()
    relay_port = listener.getsockname()[1]
    host = f"{upstream[0]}:{upstream[1]}"  # the Host the client would send without the relay
    if raw is None and client == "requests":
        with requests.Session() as session:  # closing it closes the connection, ending the relay
            session.request(
                method,
                f"http://127.0.0.1:{relay_port}{path}",
                data=body or None,
                headers={"Host": host, **(headers or {})},
                timeout=timeout,
                allow_redirects=False,  # one exchange: show the 3xx, do not follow it
            )
    else:
        with Connection("127.0.0.1", relay_port, timeout) as conn:
            conn.send(raw if raw is not None else build_request(method, path, host, headers, body))
            sent_method = raw.split(b" ", 1)[0].decode("latin-1") if raw is not None else method
            try:
                conn.read_response(head=sent_method == "HEAD")
            except (OSError, ProtocolError):  # no or malformed answer: the bytes tell the story
                pass
    relay.join(timeout + 1)
    return record


def show(
    url_or_server: Any,
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    raw: bytes | None = None,
    client: str = "requests",
    limit: int = 2000,
    timeout: float = 5.0,
) -> None:
    """Print one exchange with CR LF made visible (see `exchange` for the arguments)."""
    exchange(
        url_or_server, method, path, headers, body, raw=raw, client=client, timeout=timeout
    ).show(limit)
