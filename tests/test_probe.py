"""socket2flask.probe: percentiles, the three clients, errors, bounds, concurrency, sweeps."""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest
import requests
from conftest import hello_app, keepalive_handler, port_is_free

from socket2flask.probe import Latency, measure, sweep
from socket2flask.servers import serve


def test_percentiles_use_the_nearest_rank():
    result = Latency(samples=[i / 1000 for i in range(1, 101)], elapsed=2.0)
    assert (result.p50, result.p90, result.p99) == (0.050, 0.090, 0.099)
    assert result.percentile(100) == 0.100 and result.percentile(0) == 0.001
    assert math.isclose(result.mean, 0.0505) and result.rps == 50.0
    assert math.isnan(Latency(samples=[]).p50) and "p50=" in repr(result)


@pytest.mark.parametrize("client", ["get", "session", "raw"])
def test_each_client_counts_every_request(client):
    with serve(hello_app, kind="waitress") as server:
        result = measure(server.url + "/?a=1", n=30, client=client, warmup=3)
    assert len(result.samples) == 30 and result.errors == 0
    assert result.status_counts == Counter({200: 30})
    assert all(0 < s < 5 for s in result.samples) and result.rps > 0


def test_post_with_a_body_through_every_client():
    def echo(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        status = "200 OK" if (environ["REQUEST_METHOD"], body) == ("POST", b"ping") else "400 Bad"
        start_response(status, [("Content-Length", "0")])
        return [b""]

    with serve(echo, kind="werkzeug") as server:
        for client in ("get", "session", "raw"):
            result = measure(server.url, n=5, client=client, method="POST", data=b"ping", warmup=0)
            assert result.status_counts == Counter({200: 5}), client


@pytest.mark.parametrize("client", ["get", "session", "raw"])
def test_refused_connections_are_errors_not_exceptions(client):
    with serve(hello_app) as server:
        url = server.url
    assert port_is_free(server.port)
    result = measure(url, n=5, client=client, warmup=0, timeout=1)
    assert result.errors == 5 and result.samples == [] and "Connection" in result.first_error


@pytest.mark.parametrize("client", ["get", "session", "raw"])
def test_answers_that_are_not_http_are_errors_not_exceptions(client):
    def garbled(conn, addr):
        conn.recv(65536)
        conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    with serve(garbled, kind="socket") as server:
        result = measure(server.url, n=5, client=client, warmup=0, timeout=1)
    assert result.errors == 5 and result.samples == [] and result.first_error


@pytest.mark.timeout(20)  # far below max_seconds: a failing worker must not keep the caller waiting
@pytest.mark.parametrize(
    "client, bad, error",
    [
        ("session", {"headers": object()}, AttributeError),  # a bug in the caller's arguments
        ("get", {"jsn": {"a": 1}}, TypeError),  # a keyword requests does not know
        ("raw", {"headers": {"X-Price": "10 €"}}, UnicodeEncodeError),  # not latin-1
        # an OSError too
        ("session", {"headers": {"X-Count": 5}}, requests.exceptions.InvalidHeader),
    ],
)
def test_a_bug_in_a_request_is_raised_not_counted_as_an_error(client, bad, error):
    with serve(hello_app, kind="waitress") as server:
        with pytest.raises(error):
            measure(server.url, n=20, client=client, concurrency=4, max_seconds=60, **bad)


def test_a_url_without_a_scheme_is_raised_not_counted():
    with pytest.raises(requests.RequestException):  # InvalidSchema: an OSError, yet not the network
        measure("127.0.0.1:9/", n=5, client="session", warmup=0)


def test_the_raw_client_refuses_what_it_cannot_send():
    with serve(hello_app, kind="waitress") as server:
        for bad in ({"json": {"a": 1}}, {"params": {"q": "x"}}, {"cookies": {"c": "1"}}):
            with pytest.raises(TypeError, match="data= and headers="):
                measure(server.url, n=5, client="raw", method="POST", **bad)
        result = measure(server.url, n=5, client="raw", method="POST", data=None, headers=None)
    assert result.status_counts == Counter({200: 5})


def test_concurrency_splits_the_requests_between_clients():
    with serve(keepalive_handler, kind="socket") as server:
        result = measure(server.url, n=101, client="raw", concurrency=4)
    assert len(result.samples) == 101 and result.status_counts[200] == 101


def test_max_seconds_bounds_the_loop():
    def slow(environ, start_response):
        time.sleep(0.05)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    with serve(slow, kind="waitress") as server:
        started = time.perf_counter()
        result = measure(server.url, n=1000, client="raw", warmup=0, max_seconds=0.3)
    assert time.perf_counter() - started < 2 and result.truncated and len(result.samples) < 20


def test_bad_arguments_fail_fast():
    with pytest.raises(ValueError, match="unknown client"):
        measure("http://127.0.0.1:1", client="curl")
    for bad in ({"n": 0}, {"concurrency": 0}, {"warmup": -1}, {"timeout": 0}, {"max_seconds": 0}):
        with pytest.raises(ValueError):
            measure("http://127.0.0.1:1", **bad)


def test_sweep_measures_each_level():
    with serve(keepalive_handler, kind="socket") as server:
        by_level = sweep(server.url, concurrency=(1, 2, 4), n=40, client="raw", warmup=4)
    assert list(by_level) == [1, 2, 4]
    assert all(len(r.samples) == 40 and r.errors == 0 for r in by_level.values())


def test_raw_client_answers_a_trivial_server_within_milliseconds():
    """A sanity bound only: the raw client on a trivial server answers well within 5 ms at the
    median. The goal (p50 under 150 µs, issue 2) is measured and reported by make bench (bench_00),
    where a loaded machine cannot turn a test red."""
    with serve(keepalive_handler, kind="socket") as server:
        result = measure(server.url, n=300, client="raw")
    assert result.errors == 0 and len(result.samples) == 300
    assert result.p50 < 5e-3, f"raw p50 was {result.p50 * 1e3:.1f} ms"
