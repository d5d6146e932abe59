"""A corpus of hostile and tricky HTTP/1.1 requests, each with what RFC 9112 / RFC 9110 call for.

Used by tests/test_hostile.py (against the step-1 and step-2 reference servers) and by
benchmarks/bench_08_hostile.py (the same, and gunicorn, waitress and werkzeug, side by side); a
learner can aim it at a server of their own. A corpus, not part of the package's size budget.

Each `Case` is (name, raw bytes, expected class, RFC section, also, drip):

- expected: what our servers answer, the RFC's requirement or, where the RFC allows a choice, the
  strict one. "2xx", "400", "501", "505": that status (class); "4xx": any client error; "close":
  a slow or silent client, to be answered 408 or closed without an answer, in bounded time.
- also: other answers the RFC allows too (a server that gives one of them is still conformant):
  for Transfer-Encoding with Content-Length, RFC 9112 section 6.1 allows Transfer-Encoding to win.
- drip: for a slow client, seconds between pieces of `DRIP_BYTES` bytes (0: all at once).

`exchange()` sends a case on a fresh connection (a timeout on every socket operation) and returns
the first final status, "closed" (no answer, connection closed or reset) or "hang" (neither
within the bound). `starved()` tells whether slow clients keep a normal one from being served.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

DRIP_BYTES = 8


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expected: str
    section: str
    also: tuple[str, ...] = ()
    drip: float = 0.0


H = b"Host: t\r\n"


def get(
    target: bytes = b"/", headers: bytes = H, version: bytes = b"HTTP/1.1", method: bytes = b"GET"
) -> bytes:
    return method + b" " + target + b" " + version + b"\r\n" + headers + b"\r\n"


def post(headers: bytes, body: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"POST / " + version + b"\r\n" + headers + b"\r\n" + body


def chunked(body: bytes, headers: bytes = H + b"Transfer-Encoding: chunked\r\n") -> bytes:
    return post(headers, body)


CHUNKS = b"5\r\nhello\r\n0\r\n\r\n"

CASES: list[Case] = [
    # -- smuggling shapes: two framings, or one that two servers read differently ------------------
    Case(
        "CL.TE: Content-Length then Transfer-Encoding",
        post(H + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nX"),
        "400",
        "RFC 9112 6.1, 6.3 (3), 11.2",
        also=("2xx",),
    ),
    Case(
        "TE.CL: Transfer-Encoding then Content-Length",
        post(H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"0\r\n\r\n"),
        "400",
        "RFC 9112 6.1, 6.3 (3)",
        also=("2xx",),
    ),
    Case(
        "two different Content-Lengths",
        post(H + b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
        "400",
        "RFC 9112 6.3 (5); RFC 9110 8.6",
    ),
    Case(
        "Content-Length: +5",
        post(H + b"Content-Length: +5\r\n", b"hello"),
        "400",
        "RFC 9112 6.3 (5); RFC 9110 8.6",
    ),
    Case(
        "Content-Length: -1",
        post(H + b"Content-Length: -1\r\n", b""),
        "400",
        "RFC 9112 6.3 (5); RFC 9110 8.6",
    ),
    Case(
        "Content-Length: 0x5",
        post(H + b"Content-Length: 0x5\r\n", b"hello"),
        "400",
        "RFC 9112 6.3 (5); RFC 9110 8.6",
    ),
    Case(
        "Content-Length: 1_0",
        post(H + b"Content-Length: 1_0\r\n", b"0123456789"),
        "400",
        "RFC 9112 6.3 (5)",
    ),
    Case(
        "Transfer-Encoding folded (obs-fold)",
        post(H + b"Transfer-Encoding:\r\n chunked\r\n", CHUNKS),
        "400",
        "RFC 9112 5.2",
        also=("2xx",),
    ),
    Case(
        "Transfer-Encoding : chunked (space before colon)",
        post(H + b"Transfer-Encoding : chunked\r\n", CHUNKS),
        "400",
        "RFC 9112 5.1",
    ),
    Case(
        "Transfer-Encoding: CHUNKED (names are case-insensitive)",
        chunked(CHUNKS, H + b"Transfer-Encoding: CHUNKED\r\n"),
        "2xx",
        "RFC 9112 7",
    ),
    Case(
        "Transfer-Encoding:\\tchunked  (whitespace around)",
        chunked(CHUNKS, H + b"Transfer-Encoding:\tchunked  \r\n"),
        "2xx",
        "RFC 9112 5.1",
    ),
    Case(
        "Transfer-Encoding: chunked, identity",
        chunked(CHUNKS, H + b"Transfer-Encoding: chunked, identity\r\n"),
        "400",
        "RFC 9112 6.3 (4)",
    ),
    Case(
        "Transfer-Encoding: xchunked",
        chunked(CHUNKS, H + b"Transfer-Encoding: xchunked\r\n"),
        "400",
        "RFC 9112 6.3 (4)",
    ),
    Case(
        "Transfer-Encoding: identity",
        chunked(CHUNKS, H + b"Transfer-Encoding: identity\r\n"),
        "400",
        "RFC 9112 6.3 (4)",
    ),
    Case(
        "Transfer-Encoding: (empty)",
        chunked(CHUNKS, H + b"Transfer-Encoding: \r\n"),
        "400",
        "RFC 9112 6.3 (4)",
    ),
    Case(
        "Transfer-Encoding: gzip, chunked (unknown coding)",
        chunked(CHUNKS, H + b"Transfer-Encoding: gzip, chunked\r\n"),
        "501",
        "RFC 9112 6.1, 7",
        also=("400",),
    ),
    Case(
        "Transfer-Encoding in HTTP/1.0",
        post(b"Transfer-Encoding: chunked\r\n", CHUNKS, b"HTTP/1.0"),
        "400",
        "RFC 9112 6.1",
    ),
    Case(
        "Transfer-Encoding and Content-Length in HTTP/1.0",
        post(b"Transfer-Encoding: chunked\r\nContent-Length: 15\r\n", CHUNKS, b"HTTP/1.0"),
        "400",
        "RFC 9112 6.1",
    ),
    # -- chunk sizes and chunked framing ----------------------------------------------------------
    Case(
        "chunked, a valid body",
        chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "2xx",
        "RFC 9112 7.1",
    ),
    Case("chunk size +5", chunked(b"+5\r\nhello\r\n0\r\n\r\n"), "400", "RFC 9112 7.1"),
    Case("chunk size 0x5", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), "400", "RFC 9112 7.1"),
    Case(
        "chunk size ' 5' (leading space)",
        chunked(b" 5\r\nhello\r\n0\r\n\r\n"),
        "400",
        "RFC 9112 7.1",
    ),
    Case(
        "chunk size '5 ' (trailing space, no extension)",
        chunked(b"5 \r\nhello\r\n0\r\n\r\n"),
        "400",
        "RFC 9112 7.1",
    ),
    Case("chunk size -5", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), "400", "RFC 9112 7.1"),
    Case("chunk size 1_0", chunked(b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n"), "400", "RFC 9112 7.1"),
    Case(
        "chunk size of 20 hex digits",
        chunked(b"f" * 20 + b"\r\nhello\r\n0\r\n\r\n"),
        "4xx",
        "RFC 9112 7.1",
    ),
    Case(
        "chunk size 0005, A (leading zeros, upper case)",
        chunked(b"0005\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n"),
        "2xx",
        "RFC 9112 7.1",
    ),
    Case(
        "chunk extensions, with BWS and a quoted-string",
        chunked(b'5 ; a = b ;c="x \\"y\\""\r\nhello\r\n0;end\r\n\r\n'),
        "2xx",
        "RFC 9112 7.1.1",
    ),
    Case(
        "chunk extension of 10 KB",
        chunked(b"5;a=" + b"b" * 10_000 + b"\r\nhello\r\n0\r\n\r\n"),
        "4xx",
        "RFC 9112 7.1.1",
    ),
    Case(
        "chunk extension with no name",
        chunked(b"5;\r\nhello\r\n0\r\n\r\n"),
        "400",
        "RFC 9112 7.1.1",
    ),
    Case(
        "chunk data not followed by CRLF", chunked(b"5\r\nhelloXX0\r\n\r\n"), "400", "RFC 9112 7.1"
    ),
    Case(
        "chunk-size line ended by a bare LF",
        chunked(b"5\nhello\r\n0\r\n\r\n"),
        "400",
        "RFC 9112 7.1, 2.2",
    ),
    Case(
        "a trailer section",
        chunked(b"5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n"),
        "2xx",
        "RFC 9112 7.1.2",
    ),
    Case(
        "a trailer line with no colon",
        chunked(b"5\r\nhello\r\n0\r\nnot a field\r\n\r\n"),
        "400",
        "RFC 9112 7.1.2, 5",
        also=("2xx",),
    ),
    # -- Host -------------------------------------------------------------------------------------
    Case("HTTP/1.1 without Host", get(headers=b""), "400", "RFC 9112 3.2"),
    Case("two Host lines", get(headers=b"Host: a\r\nHost: b\r\n"), "400", "RFC 9112 3.2"),
    Case("two identical Host lines", get(headers=b"Host: t\r\nHost: t\r\n"), "400", "RFC 9112 3.2"),
    Case("Host: (empty)", get(headers=b"Host:\r\n"), "400", "RFC 9112 3.2; RFC 9110 4.2.1"),
    Case("Host: a b", get(headers=b"Host: a b\r\n"), "400", "RFC 9112 3.2; RFC 9110 7.2"),
    Case(
        "Host: user@t (userinfo)",
        get(headers=b"Host: user@t\r\n"),
        "400",
        "RFC 9112 3.2; RFC 9110 7.2",
    ),
    Case("Host: t/x", get(headers=b"Host: t/x\r\n"), "400", "RFC 9112 3.2; RFC 9110 7.2"),
    Case("Host: [::1]:8080", get(headers=b"Host: [::1]:8080\r\n"), "2xx", "RFC 9110 7.2"),
    Case("HTTP/1.0 without Host", get(headers=b"", version=b"HTTP/1.0"), "2xx", "RFC 9112 3.2"),
    # -- request-target ---------------------------------------------------------------------------
    Case("a space in the target", get(b"/a b"), "400", "RFC 9112 3, 3.2"),
    Case("a tab in the target", get(b"/a\tb"), "400", "RFC 9112 3, 3.2"),
    Case("a control byte in the target", get(b"/a\x01b"), "400", "RFC 9112 3.2"),
    Case("DEL in the target", get(b"/a\x7fb"), "400", "RFC 9112 3.2"),
    Case("raw UTF-8 in the target", get("/é".encode()), "400", "RFC 9112 3.2; RFC 3986 3.3"),
    Case(
        "absolute form naming another host than Host",
        get(b"http://other.example/x"),
        "2xx",
        "RFC 9112 3.2.2",
    ),
    Case("absolute form with userinfo", get(b"http://user@t/x"), "400", "RFC 9110 4.2.4"),
    # -- header syntax ----------------------------------------------------------------------------
    Case("a space before the colon", get(headers=H + b"X-Foo : bar\r\n"), "400", "RFC 9112 5.1"),
    Case(
        "obs-fold in a header",
        get(headers=H + b"X: a\r\n b\r\n"),
        "400",
        "RFC 9112 5.2",
        also=("2xx",),
    ),
    Case(
        "a bare CR in a value",
        get(headers=H + b"X: a\rb\r\n"),
        "400",
        "RFC 9112 2.2",
        also=("2xx",),
    ),
    Case("NUL in a value", get(headers=H + b"X: a\x00b\r\n"), "400", "RFC 9110 5.5", also=("2xx",)),
    Case("a header line with no colon", get(headers=H + b"X y\r\n"), "400", "RFC 9112 5"),
    Case(
        "whitespace before the first header",
        b"GET / HTTP/1.1\r\n Host: t\r\n\r\n",
        "400",
        "RFC 9112 2.2",
    ),
    # -- versions ---------------------------------------------------------------------------------
    Case("HTTP/1.2 (read as 1.1)", get(version=b"HTTP/1.2"), "2xx", "RFC 9110 2.5; RFC 9112 2.3"),
    Case(
        "HTTP/2.0 in an HTTP/1 request line",
        get(version=b"HTTP/2.0"),
        "505",
        "RFC 9110 15.6.6",
        also=("400",),
    ),
    Case("HTTP/1 (malformed version)", get(version=b"HTTP/1"), "400", "RFC 9112 2.3, 3"),
    Case("http/1.1 (lower case)", get(version=b"http/1.1"), "400", "RFC 9112 2.3"),
    Case("HTTP/1.10", get(version=b"HTTP/1.10"), "400", "RFC 9112 2.3"),
    # -- slow clients: answered 408 or closed, in bounded time ------------------------------------
    Case(
        "slowloris: a head that never ends",
        b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-a: b\r\n" * 60,
        "close",
        "RFC 9112 9.5; RFC 9110 15.5.9",
        drip=0.1,
    ),
    Case(
        "a slow body (Content-Length: 100)",
        post(H + b"Content-Length: 100\r\n", b"x" * 60),
        "close",
        "RFC 9112 9.5; RFC 9110 15.5.9",
        drip=0.2,
    ),
    Case(
        "a slow chunked body",
        chunked(b"1\r\nx\r\n" * 80),
        "close",
        "RFC 9112 9.5; RFC 9110 15.5.9",
        drip=0.1,
    ),
    Case("connect, then silence", b"", "close", "RFC 9112 9.5", drip=0.1),
]

SLOW = [case for case in CASES if case.expected == "close"]


def matches(outcome: int | str, expected: str) -> bool:
    """Whether an outcome (a status, "closed" or "hang") is of the expected class."""
    if expected == "close":
        return outcome in ("closed", 408)
    if not isinstance(outcome, int):
        return False
    if expected.endswith("xx"):
        return outcome // 100 == int(expected[0])
    return outcome == int(expected)


def conformant(outcome: int | str, case: Case) -> bool:
    """Whether the outcome is one the RFC allows (ours, or one of the `also` choices)."""
    return any(matches(outcome, expected) for expected in (case.expected, *case.also))


def error_required(case: Case) -> bool:
    """The RFC calls for an error here, and allows no 2xx."""
    return case.expected not in ("2xx", "close") and "2xx" not in case.also


def exchange(host: str, port: int, case: Case, bound: float = 5.0) -> int | str:
    """Send `case` on a fresh connection; the first final status, "closed" or "hang"."""
    sock = socket.create_connection((host, port), timeout=bound)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if case.drip:
                pieces = [
                    case.raw[i : i + DRIP_BYTES] for i in range(0, len(case.raw), DRIP_BYTES)
                ] or [b""]
                for piece in pieces:
                    sock.sendall(piece)
                    if answered(sock):
                        break  # the server answered (or closed) already: read it below
                    time.sleep(case.drip)
            else:
                sock.sendall(case.raw)
        except OSError:
            pass  # refused before all was sent: its answer may still be there
        return first_status(sock, bound)
    finally:
        sock.close()


def answered(sock: socket.socket) -> bool:
    """Whether the server has sent something, or closed (without consuming it)."""
    import select

    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def first_status(sock: socket.socket, bound: float) -> int | str:
    data, deadline = b"", time.monotonic() + bound
    while True:
        while b"\r\n\r\n" in data:  # skip interim (1xx) responses
            head, _, rest = data.partition(b"\r\n\r\n")
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            if len(parts) < 2 or not parts[1].isdigit():
                return f"not a response: {head[:40]!r}"
            if not parts[1].startswith(b"1"):
                return int(parts[1])
            data = rest
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "hang"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return "hang"
        except OSError:
            return "closed"
        if not chunk:
            return "closed"
        data += chunk


def starved(host: str, port: int, slow: int = 20, bound: float = 5.0) -> int | str:
    """Open `slow` slowloris connections (a head begun, then a header line every 0.2 s), then send
    one normal GET: its status ("hang" if it had none within `bound` s: starved)."""
    stop = threading.Event()
    socks = []

    def drip(sock: socket.socket) -> None:
        while not stop.wait(0.2):
            try:
                sock.sendall(b"X-a: b\r\n")
            except OSError:
                return

    threads = []
    try:
        for _ in range(slow):
            sock = socket.create_connection((host, port), timeout=bound)
            socks.append(sock)
            try:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
            except OSError:
                continue
            thread = threading.Thread(target=drip, args=(sock,), daemon=True)
            thread.start()
            threads.append(thread)
        time.sleep(0.3)
        return exchange(host, port, Case("a normal GET", get(), "2xx", ""), bound)
    finally:
        stop.set()
        for thread in threads:
            thread.join(1)
        for sock in socks:
            sock.close()


def run_all(
    host: str,
    port: int,
    cases: list[Case],
    bound: float = 5.0,
    slow_bound: float | None = None,
    workers: int = 8,
) -> dict[str, int | str]:
    """{case name: outcome}: the fast cases one after another (a server with few workers is not
    blamed for another case), the slow ones side by side."""
    from concurrent.futures import ThreadPoolExecutor

    outcomes = {case.name: exchange(host, port, case, bound) for case in cases if not case.drip}
    slow = [case for case in cases if case.drip]
    with ThreadPoolExecutor(max(1, min(workers, len(slow)))) as pool:
        for case, outcome in zip(
            slow, pool.map(lambda c: exchange(host, port, c, slow_bound or bound), slow)
        ):
            outcomes[case.name] = outcome
    return outcomes
