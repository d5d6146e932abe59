"""socket2flask.plots (fixed size, units) and socket2flask.wire (exact bytes, every kind)."""

from __future__ import annotations

import io
import os
import textwrap

import matplotlib.pyplot as plt
import pytest
from conftest import app_for

from socket2flask import plots, wire
from socket2flask.probe import Latency
from socket2flask.servers import serve


def png_size(figure) -> tuple[int, int]:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=plots.DPI)
    header = buffer.getvalue()[16:24]  # the PNG IHDR chunk: width and height, big-endian
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


def fake(p50: float, n: int = 100) -> Latency:
    return Latency(samples=[p50 * (0.8 + 0.4 * i / n) for i in range(n)], elapsed=n * p50)


@pytest.mark.parametrize("scale", [60e-6, 1.2e-3, 0.5])
def test_latency_plot_has_a_fixed_size_and_readable_units(scale):
    figure = plots.plot_latency(
        {"a": fake(scale), "b": fake(scale * 3), "empty": Latency([])}, title="t"
    )
    assert png_size(figure) == (1000, 400)
    hist, cdf = figure.axes
    unit = "µs" if scale * 3 * 1.2 < 1e-3 else "ms"
    assert unit in hist.get_xlabel() and "fraction" in cdf.get_ylabel()
    assert "p50" in hist.get_legend().get_texts()[0].get_text()
    assert plt.get_fignums() == []  # pyplot must not show it a second time


def test_sweep_plot_has_a_fixed_size_and_labelled_axes():
    results = {"one": {1: fake(1e-4), 2: fake(2e-4), 4: fake(4e-4)}, "two": {1: fake(1e-3)}}
    figure = plots.plot_sweep(results)
    assert png_size(figure) == (1000, 400)
    rate, tail = figure.axes
    assert "requests/s" in rate.get_ylabel() and "p99" in tail.get_ylabel()
    assert [t.get_text() for t in rate.get_xticklabels()] == ["1", "2", "4"]


def test_sweep_plot_of_failed_requests_still_draws():
    failed = {
        1: Latency(samples=[], errors=5, elapsed=1.0),
        2: Latency(samples=[], errors=5, elapsed=1.0),
    }
    assert png_size(plots.plot_sweep({"down": failed})) == (1000, 400)


def test_duration_reads_like_a_person_wrote_it():
    assert [
        plots.duration(s) for s in (61e-6, 1.234e-3, 0.04, 1.5, float("nan"), -123e-6, -2e-3)
    ] == ["61 µs", "1.2 ms", "40 ms", "1.5 s", "n/a", "-123 µs", "-2.0 ms"]


def test_visible_shows_line_ends_and_odd_bytes():
    assert wire.visible(b"GET / HTTP/1.1\r\nA: b\r\n\r\n") == "GET / HTTP/1.1␍␊\nA: b␍␊\n␍␊\n"
    assert wire.visible(b"bare\nlf\ttab\xff") == "bare␊\nlf\\x09tab\\xff"
    assert wire.visible(b"x" * 10, limit=4) == "xxxx\n... (6 more bytes)"


KINDS = ["socket", "wsgiref", "werkzeug", "waitress"] + (
    ["gunicorn"] if hasattr(os, "fork") else []
)


@pytest.mark.parametrize("kind", KINDS)
def test_exchange_records_exact_bytes_for_every_kind(kind, tmp_path):
    if kind == "gunicorn":
        (tmp_path / "hello_module.py").write_text(
            textwrap.dedent("""
            def app(environ, start_response):
                start_response("200 OK", [("Content-Length", "5")])
                return [b"hello"]
        """)
        )
        server = serve("hello_module:app", kind=kind, app_dir=str(tmp_path), workers=1)
    else:
        server = serve(app_for(kind), kind=kind)
    with server:
        request = b"GET /?x HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        recorded = wire.exchange(server, raw=request)
        assert recorded.request == request
        assert recorded.response.startswith(b"HTTP/1.") and recorded.response.endswith(
            b"hello" + (b" x" if kind not in ("socket", "gunicorn") else b"")
        )
        through_requests = wire.exchange(server.url, path="/?y")
        assert b"User-Agent: python-requests" in through_requests.request
        assert f"Host: 127.0.0.1:{server.port}".encode() in through_requests.request


def test_exchange_shows_the_answer_to_a_malformed_request():
    with serve(app_for("werkzeug"), kind="werkzeug") as server:
        recorded = wire.exchange(server, raw=b"NONSENSE\xff\r\n\r\n")
    assert recorded.request == b"NONSENSE\xff\r\n\r\n"
    # With no HTTP version on the request line, http.server answers as HTTP/0.9 would: no status
    # line and no headers, just the body of a 400 page. wire shows it as it is.
    assert (
        recorded.response.startswith(b"<!DOCTYPE HTML>") and b"Error code: 400" in recorded.response
    )


def test_exchange_of_a_post_body_and_head(capsys):
    with serve(app_for("waitress"), kind="waitress") as server:
        post = wire.exchange(server, "POST", "/form", body=b"a=1", client="raw")
        assert post.request.endswith(b"\r\n\r\na=1") and b"Content-Length: 3" in post.request
        wire.show(server, path="/shown")
    with serve(app_for("socket"), kind="socket") as server:
        head = wire.exchange(server, "HEAD", "/", client="raw")  # must not wait for a body
        assert head.response.endswith(b"\r\n\r\n")
    out = capsys.readouterr().out
    assert ">>> request" in out and "GET /shown HTTP/1.1␍␊" in out and "<<< response" in out


def test_exchange_refuses_an_unknown_client(capsys):
    with serve(app_for("socket"), kind="socket") as server:
        with pytest.raises(ValueError, match="'requests' or 'raw'"):
            wire.exchange(server, client="rwa")
        with pytest.raises(ValueError, match="'rwa'"):
            wire.show(server, client="rwa")
    assert capsys.readouterr().out == ""


def test_exchange_with_nothing_listening_returns_empty_bytes():
    with serve(app_for("wsgiref"), kind="wsgiref") as server:
        url = server.url
    recorded = wire.exchange(url, raw=b"GET / HTTP/1.1\r\n\r\n", timeout=1)
    assert recorded.response == b""


def test_exchange_shows_a_redirect_instead_of_following_it():
    def moved(environ, start_response):
        start_response("302 Found", [("Location", "/elsewhere"), ("Content-Length", "0")])
        return [b""]

    with serve(moved, kind="werkzeug") as server:
        recorded = wire.exchange(server)
    assert (
        recorded.response.startswith(b"HTTP/1.1 302")
        and b"Location: /elsewhere" in recorded.response
    )
    assert recorded.request.count(b"GET ") == 1
