"""A small HTTP/1.1 client on a raw socket: one keep-alive connection, exact bytes, nothing hidden.

`probe` (client "raw") uses it to time a server without `requests`' own cost, and `wire` uses it to
read exactly one response. A response body is framed as RFC 9112 section 6.3 says: none for HEAD,
1xx, 204 and 304; chunked transfer coding; Content-Length; else everything until the server closes.
Every read has a timeout, so a silent server raises `TimeoutError` instead of hanging.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD_BYTES = (
    64 * 1024
)  # a status line plus headers larger than this is not a response we accept


class ProtocolError(Exception):
    """The server sent bytes that are not a valid HTTP/1.x response."""


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called `name` (case-insensitive), or `default`."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    @property
    def will_close(self) -> bool:
        """Whether the server ends the connection after this response."""
        tokens = (self.header("Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens


def build_request(
    method: str, target: str, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one request: request line, Host, the given headers, Content-Length, body."""
    fields = {"Host": host, **(headers or {})}
    if body or method in ("POST", "PUT", "PATCH"):
        fields.setdefault("Content-Length", str(len(body)))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode("latin-1") + b"\r\n" + body


class Connection:
    """One TCP connection to an HTTP server, reused for as many requests as the server allows."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()

    @classmethod
    def from_url(cls, url: str, timeout: float = 5.0) -> Connection:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, timeout)

    def request(
        self,
        method: str = "GET",
        target: str = "/",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        """Send one request and read its response; reconnect first if the server closed."""
        self.send(build_request(method, target, f"{self.host}:{self.port}", headers, body))
        response = self.read_response(head=method == "HEAD")
        if response.will_close:
            self.close()
        return response

    def send(self, data: bytes) -> None:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            # Our requests go out in one sendall; NODELAY keeps a small one from waiting on Nagle.
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer.clear()
        self._sock.sendall(data)

    def read_response(self, *, head: bool = False) -> Response:
        """Read one complete response; interim 1xx responses (100 Continue) are skipped."""
        while True:
            version, status, reason, headers = self._read_head()
            if not (100 <= status < 200) or status == 101:
                break
        response = Response(version, status, reason, headers, b"")
        if head or status in (204, 304) or 100 <= status < 200:
            return response
        encoding = (response.header("Transfer-Encoding") or "").lower()
        length = response.header("Content-Length")
        if "chunked" in encoding:
            response.body = self._read_chunked()
        elif length is not None:
            if not length.strip().isdigit():
                raise ProtocolError(f"bad Content-Length: {length!r}")
            response.body = self._read_exact(int(length))
        else:
            response.body = self._read_to_close()
        return response

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------
    def _fill(self) -> bool:
        """Receive more bytes into the buffer; False when the server has closed."""
        if self._sock is None:
            raise ProtocolError("not connected")
        chunk = self._sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def _read_line(self, limit: int = MAX_HEAD_BYTES) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > limit:
                raise ProtocolError("line too long")
            if not self._fill():
                raise ProtocolError("connection closed in the middle of a line")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _read_head(self) -> tuple[str, int, str, list[tuple[str, str]]]:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise ProtocolError("response head too large")
            if not self._fill():
                raise ProtocolError("connection closed before a complete response head")
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not (code.isdigit() and len(code) == 3):
            raise ProtocolError(f"bad status line: {lines[0]!r}")
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolError(f"bad header line: {line!r}")
            headers.append((name, value.strip()))
        return version, int(code), reason, headers

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise ProtocolError(
                    f"connection closed after {len(self._buffer)} of {size} body bytes"
                )
        body = bytes(self._buffer[:size])
        del self._buffer[:size]
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_text = self._read_line().split(b";")[0].strip()  # drop chunk extensions
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size: {size_text!r}") from None
            if size == 0:
                while self._read_line():  # trailer fields, up to the blank line
                    pass
                return bytes(body)
            body += self._read_exact(size)
            if self._read_exact(2) != b"\r\n":
                raise ProtocolError("chunk data not followed by CR LF")

    def _read_to_close(self) -> bytes:
        while self._fill():
            pass
        body = bytes(self._buffer)
        self._buffer.clear()
        self.close()
        return body
