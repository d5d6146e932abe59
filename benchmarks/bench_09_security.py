"""(f) Step 6's costs: HTTPS with and without keep-alive against plain HTTP, on lab 01's server, and
a password hash with pbkdf2 and scrypt against one SHA-256, all measured in this run."""

from __future__ import annotations

import hashlib
import socket
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
import trustme
from common import highlight, progress
from werkzeug.security import generate_password_hash

from socket2flask import plots
from socket2flask.reference.step1 import echo_app, make_handler
from socket2flask.servers import serve

TITLE = "step 6: the TLS handshake's cost, and a password hash's"


def median_seconds(call: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def timed_gets(url: str, ca_file: str, n: int) -> tuple[float, float]:
    """Median seconds of a GET on a kept-alive connection, and on a new connection each time.
    verify= on every call: a REQUESTS_CA_BUNDLE in the environment would override session.verify."""
    with requests.Session() as session:
        session.get(url, timeout=5, verify=ca_file)  # opens the connection that is then kept
        kept = median_seconds(lambda: session.get(url, timeout=5, verify=ca_file), n)
    new = median_seconds(lambda: requests.get(url, timeout=5, verify=ca_file), n)
    return kept, new


def plain_handler(conn: socket.socket, addr: object) -> None:
    """Lab 01's handler, with Nagle's algorithm off as real servers have it: TLS 1.3 sends its
    session tickets in a write of their own, and Nagle would hold the response back behind them
    (about 40 ms a new connection: lesson 06 shows it)."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    make_handler(echo_app)(conn, addr)


def tls_handler(context: ssl.SSLContext) -> Callable[[socket.socket, object], None]:
    """The same, on each connection wrapped in TLS (the handshake happens on first read). A dup of
    the connection is wrapped: serve() keeps the original, to close it when it stops."""

    def handler(conn: socket.socket, addr: object) -> None:
        with context.wrap_socket(conn.dup(), server_side=True) as tls:
            tls.settimeout(5)
            plain_handler(tls, addr)

    return handler


def connections(report: list[str], n: int) -> None:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        ca_file = Path(tmp, "ca.pem")
        authority.cert_pem.write_to_path(str(ca_file))
        with (
            serve(make_handler(echo_app), kind="socket") as plain,
            serve(tls_handler(context), kind="socket") as tls,
        ):
            for scheme, server in (("http", plain), ("https", tls)):
                url = f"{scheme}://127.0.0.1:{server.port}/"
                kept, new = timed_gets(url, str(ca_file), n)
                rows[f"{scheme}, kept alive"] = kept
                rows[f"{scheme}, a new connection each time"] = new
    anchor = rows["http, kept alive"]
    report += [
        "## HTTPS: what the handshake costs",
        "",
        f"Median of {n} GETs with `requests` to lab 01's reference server, plain and behind TLS "
        "(a certificate from a `trustme` CA, as in lesson 06). Ratio: against plain HTTP kept "
        "alive.",
        "",
        "| connection | p50 | ratio |",
        "|---|---:|---:|",
        *(f"| {k} | {plots.duration(v)} | {v / anchor:.1f}× |" for k, v in rows.items()),
        "",
    ]
    new, kept = rows["https, a new connection each time"], rows["https, kept alive"]
    progress(f"https: new connection {plots.duration(new)}, kept alive {plots.duration(kept)}")
    highlight(
        f"HTTPS on lab 01's server: a new connection per request costs {new / kept:.1f}× a "
        f"kept-alive one ({plots.duration(new)} vs {plots.duration(kept)}, p50)"
    )


def password_hashes(report: list[str], n: int) -> None:
    password = "correct horse battery staple"
    costs = {
        "SHA-256 (never for passwords)": median_seconds(
            lambda: hashlib.sha256(password.encode()).hexdigest(), n * 100
        ),
        "pbkdf2 (werkzeug's default rounds)": median_seconds(
            lambda: generate_password_hash(password, method="pbkdf2"), n
        ),
        "scrypt (werkzeug's default)": median_seconds(
            lambda: generate_password_hash(password, method="scrypt"), n
        ),
    }
    anchor = costs["SHA-256 (never for passwords)"]
    report += [
        "## Password hashing: one hash",
        "",
        "Median time of one hash; ratio against one SHA-256. An attacker who stole the hashes pays "
        "the same price per guess.",
        "",
        "| hash | one hash | ratio |",
        "|---|---:|---:|",
        *(f"| {k} | {plots.duration(v)} | {v / anchor:,.0f}× |" for k, v in costs.items()),
        "",
    ]
    scrypt = costs["scrypt (werkzeug's default)"]
    progress(f"hashes: scrypt {plots.duration(scrypt)}, sha256 {plots.duration(anchor)}")
    highlight(
        f"a password hash with scrypt (werkzeug's default) costs {scrypt / anchor:,.0f}× one "
        f"SHA-256 ({plots.duration(scrypt)} vs {plots.duration(anchor)})"
    )


def run(report: list[str], quick: bool, out: Path) -> None:
    connections(report, 10 if quick else 200)
    password_hashes(report, 2 if quick else 10)
