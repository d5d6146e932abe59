"""Step 1's request reader, compacted: the one lesson 02 shows and lab 02 builds its server on.

`read_request(stream)` reads one HTTP/1.x request from a buffered binary stream such as
`conn.makefile("rb")` and returns a `Request`, or None when the client closed the connection
between requests. Anything malformed raises `BadRequest`, whose `.status` is the answer to send.
It keeps the rules of RFC 9112 that guard against requests two servers would read differently
(a request-target of visible ASCII, one valid Host, no control byte in a header value, strict
body framing). Lesson 02, section 4, explains it part by part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO

MAX_LINE = 8 * 1024  # bytes in the request line (longer: 414) or in one header line (longer: 431)
MAX_HEADERS = 100
MAX_BODY = 10 * 1024 * 1024
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # what a method or a header name may contain
VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")  # a well-formed HTTP-version (RFC 9112 section 2.3)
TARGET = re.compile(r"[\x21-\x7e]+")  # a request-target: visible ASCII, no whitespace (9112 3.2)
HOST = re.compile(  # an IP literal or a registered name, then an optional port (RFC 9110 7.2)
    r"(\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::[0-9]*)?"
)
# Control bytes, which a header value may not hold (a tab it may)
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# A chunk's size line (RFC 9112 7.1): hex digits (8 at most here), then extensions (7.1.1, checked
# and ignored: ";name", or ";name=value" with a token or a quoted string as value), then CR LF.
TOKEN_BYTES = TOKEN.pattern.encode()
QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
EXTENSION = rb"[ \t]*;[ \t]*%b(?:[ \t]*=[ \t]*(?:%b|%b))?" % (TOKEN_BYTES, TOKEN_BYTES, QUOTED)
CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,8})(?:" + EXTENSION + rb")*\r\n")
EMPTY_LINES = (b"\r\n", b"\n")


class BadRequest(Exception):
    """The bytes are not a request we accept: answer `status` and close the connection."""

    def __init__(self, message: str, status: str = "400 Bad Request") -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str  # "GET"
    target: str  # "/a%20b?x=1", exactly as sent
    version: str  # "HTTP/1.1"
    headers: list[tuple[str, str]]  # in order, as sent; bytes decoded as latin-1
    body: bytes = b""  # already read (and de-chunked)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called `name` (case-insensitive), or `default`."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    def values(self, name: str) -> list[str]:
        """The values of every header called `name` (case-insensitive), in order."""
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def keep_alive(self) -> bool:
        """Whether the client wants the connection kept open after this request."""
        tokens = ",".join(self.values("Connection")).lower()
        if self.version != "HTTP/1.0":  # HTTP/1.1, or a later HTTP/1.x read as 1.1
            return "close" not in tokens
        return "keep-alive" in tokens


def read_line(stream: BinaryIO, too_long: str = "431 Request Header Fields Too Large") -> bytes:
    """One line, with its line ending; b"" at the end of the stream."""
    line = stream.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BadRequest("line too long", too_long)
    if line and not line.endswith(b"\n"):
        raise BadRequest("connection closed in the middle of a line")
    return line


def read_request(stream: BinaryIO) -> Request | None:
    """Read one request from a buffered stream (`conn.makefile("rb")`); None when the client has
    closed the connection between requests. Raises BadRequest for anything malformed."""
    line = read_line(stream, "414 URI Too Long")  # a request line too long: 414, not 431
    while line in EMPTY_LINES:  # RFC 9112: a server should ignore empty lines before a request
        line = read_line(stream, "414 URI Too Long")
    if not line:
        return None
    method, target, version = parse_request_line(line)
    request = Request(method, target, version, headers=read_headers(stream))
    hosts = request.values("Host")
    if len(hosts) > 1 or not all(HOST.fullmatch(host) for host in hosts):
        raise BadRequest(f"one valid Host is required, not {hosts}")  # RFC 9112 section 3.2
    if not hosts and version != "HTTP/1.0":
        raise BadRequest("an HTTP/1.1 request needs a Host")
    request.body = read_body(stream, request)
    return request


def parse_request_line(line: bytes) -> tuple[str, str, str]:
    """(method, target, version); BadRequest if malformed, 505 for a version other than HTTP/1.x."""
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3:
        raise BadRequest(f"bad request line {line!r}")
    method, target, version = parts
    authority = target.partition("://")[2].partition("/")[0]  # of an absolute-form target
    well_formed = (
        TOKEN.fullmatch(method) and TARGET.fullmatch(target) and VERSION.fullmatch(version)
    )
    if not well_formed or "@" in authority:  # user@ in a target: RFC 9110 section 4.2.4
        raise BadRequest(f"bad request line {line!r}")
    if not version.startswith("HTTP/1."):  # HTTP/1.2 is HTTP/1 too (RFC 9110 section 2.5)
        raise BadRequest(f"unsupported version {version!r}", "505 HTTP Version Not Supported")
    return method, target, version


def read_headers(stream: BinaryIO) -> list[tuple[str, str]]:
    """The header lines up to the blank line: (name, value) pairs, in order, repeats kept."""
    headers: list[tuple[str, str]] = []
    line = read_line(stream)
    while line not in EMPTY_LINES:
        name, colon, value = line.decode("latin-1").partition(":")
        value = value.strip(" \t\r\n")
        if not colon or not TOKEN.fullmatch(name) or CONTROL.search(value):
            raise BadRequest(f"bad header line: {line!r}")
        if len(headers) >= MAX_HEADERS:
            raise BadRequest(f"one header line too many: {line!r}")
        headers.append((name, value))
        line = read_line(stream)
    return headers


def read_body(stream: BinaryIO, request: Request) -> bytes:
    """The body, framed by Transfer-Encoding or Content-Length (RFC 9112 section 6)."""
    lengths = set(request.values("Content-Length"))
    if request.values("Transfer-Encoding"):
        check_codings(request, lengths)
        return read_chunked(stream)
    if not lengths:
        return b""
    if len(lengths) > 1:
        raise BadRequest("Content-Length headers that disagree")
    length = lengths.pop()
    if not (length.isascii() and length.isdigit()):
        raise BadRequest("bad Content-Length")
    if int(length) > MAX_BODY:
        raise BadRequest("body too large", "413 Content Too Large")
    body = stream.read(int(length))
    if len(body) < int(length):
        raise BadRequest("connection closed before the end of the body")
    return body


def check_codings(request: Request, lengths: set[str]) -> None:
    """Refuse a Transfer-Encoding this reader cannot frame (RFC 9112 sections 6.1 and 6.3): with a
    Content-Length, in HTTP/1.0, or not ending in exactly one `chunked` (400); and any coding in
    front of the final `chunked`, which it does not implement (501). Every line counts."""
    codings = []
    for value in request.values("Transfer-Encoding"):
        codings += [coding.strip().lower() for coding in value.split(",") if coding.strip()]
    if lengths or request.version == "HTTP/1.0":
        raise BadRequest(f"cannot frame a body with Transfer-Encoding {codings}")
    if codings[-1:] != ["chunked"] or codings.count("chunked") > 1:
        raise BadRequest(f"cannot frame a body with Transfer-Encoding {codings}")
    if len(codings) > 1:  # gzip, chunked
        raise BadRequest(f"transfer codings not implemented: {codings}", "501 Not Implemented")


def read_chunked(stream: BinaryIO) -> bytes:
    """A chunked body, de-chunked; its trailer section is read and dropped (RFC 9112 7.1)."""
    body = bytearray()
    size = read_chunk_size(stream)
    while size > 0:
        if len(body) + size > MAX_BODY:
            raise BadRequest("body too large", "413 Content Too Large")
        body += stream.read(size)
        if stream.read(2) != b"\r\n":
            raise BadRequest("chunk data not followed by CR LF")
        size = read_chunk_size(stream)
    line = read_line(stream)
    while line != b"\r\n":  # the trailer section (RFC 9112 7.1.2)
        name, colon, _ = line.partition(b":")
        if not colon or not line.endswith(b"\r\n") or not TOKEN.fullmatch(name.decode("latin-1")):
            raise BadRequest(f"bad trailer line {line[:40]!r}")
        line = read_line(stream)
    return bytes(body)


def read_chunk_size(stream: BinaryIO) -> int:
    """The size on a chunk's size line, read strictly: no sign, no space, no 0x, no bare LF."""
    line = read_line(stream)
    match = CHUNK_LINE.fullmatch(line)
    if match is None:
        raise BadRequest(f"bad chunk size line {line[:40]!r}")
    return int(match[1], 16)
