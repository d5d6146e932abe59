"""The hostile corpus (socket2flask/hostile.py) against the course's own servers: the step-1
reference server (lab 01's answers) and the step-2 reference WSGI server (lab 02's answers, with
its given step-1 reader). Every case gets the class the RFC calls for (our strict choice where it
allows two), nothing hangs, and slow clients do not starve a normal one.

benchmarks/bench_08_hostile.py runs the same corpus against gunicorn, waitress and werkzeug too.
"""

from __future__ import annotations

import pytest
from conftest import load_answers

from socket2flask.hostile import CASES, SLOW, conformant, matches, run_all, starved
from socket2flask.servers import serve


def test_the_corpus_is_large_and_says_where_the_rfc_says_it():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES), "case names are unique"
    for case in CASES:
        assert case.section.startswith("RFC "), case.name
        assert case.expected in ("2xx", "4xx", "400", "501", "505", "close"), case.name
    names = " ".join(case.name for case in CASES)
    for needed in (
        "CL.TE",
        "TE.CL",
        "xchunked",
        "obs-fold",
        "chunk size +5",
        "without Host",
        "two Host",
        "userinfo",
        "space before the colon",
        "NUL",
        "HTTP/2.0",
        "slowloris",
        "slow body",
    ):
        assert needed in names, needed


def step1_server(**limits: float):
    """The lab-01 reference server with an app that answers 200 and the body's length."""
    answers = load_answers("01_raw_socket_lab")
    answers.update(limits)  # the answers read their limits from their module's globals

    def app(request):
        return 200, [("Content-Type", "text/plain")], b"ok %d" % len(request.body)

    return serve(answers["make_handler"](app), kind="socket", name="hostile step 1")


def step2_server():
    """The lab-02 reference WSGI server (its given step-1 reader) with a trivial WSGI app."""
    answers = load_answers("02_wsgi_lab")

    def app(environ, start_response):
        body = b"ok %d" % len(environ["wsgi.input"].read())
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return serve(answers["make_handler"](app), kind="socket", name="hostile step 2")


def wrong(outcomes: dict, cases) -> list[str]:
    return [
        f"{case.name} ({case.section}): expected {case.expected}, got {outcomes[case.name]!r}"
        for case in cases
        if not matches(outcomes[case.name], case.expected)
    ]


@pytest.mark.timeout(120)
def test_step1_reference_server_answers_every_case_as_the_rfc_says():
    with step1_server(IDLE_TIMEOUT=1.0, REQUEST_TIMEOUT=1.0, LINGER_SECONDS=0.3) as server:
        outcomes = run_all(server.host, server.port, CASES, bound=5.0)
    problems = wrong(outcomes, CASES)
    assert not problems, "\n".join(problems)
    assert all(conformant(outcomes[case.name], case) for case in CASES)
    assert "hang" not in outcomes.values()


@pytest.mark.timeout(120)
def test_step1_slow_clients_do_not_starve_a_normal_one():
    with step1_server(IDLE_TIMEOUT=1.0, REQUEST_TIMEOUT=2.0, LINGER_SECONDS=0.3) as server:
        assert starved(server.host, server.port, slow=30, bound=5.0) == 200


# The step-2 server has no timeouts of its own (step 5 adds them, with LimitedConnection): a slow
# client holds its thread until it goes away. So its slow cases are not run here.
FAST = [case for case in CASES if case not in SLOW]


@pytest.mark.timeout(120)
def test_step2_reference_server_answers_every_fast_case_as_the_rfc_says():
    with step2_server() as server:
        outcomes = run_all(server.host, server.port, FAST, bound=5.0)
    problems = wrong(outcomes, FAST)
    assert not problems, "\n".join(problems)
    assert "hang" not in outcomes.values()


@pytest.mark.timeout(120)
def test_step2_slow_clients_do_not_starve_a_normal_one():
    with step2_server() as server:
        assert starved(server.host, server.port, slow=30, bound=5.0) == 200
