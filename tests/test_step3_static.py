"""Step 3: static files. The lab's reference `static_files` refuses a traversal corpus through the
test client and over a real socket, and the facts the lesson teaches about werkzeug hold: a naive
join leaks, `safe_join` refuses names but not symbolic links, `SharedDataMiddleware` follows them.
The secret is a temp file with a random canary; no real system file is ever asked for."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from conftest import load_answers
from werkzeug.exceptions import NotFound
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.security import safe_join
from werkzeug.test import Client

from socket2flask.httpclient import Connection
from socket2flask.servers import serve


@pytest.fixture
def site(tmp_path) -> tuple[Path, Path, str]:
    """(site, site/static, canary): the canary is the content of site/secret.txt, outside
    static/."""
    site = tmp_path.resolve() / "site"
    (site / "static" / "css").mkdir(parents=True)
    (site / "static" / "hello.txt").write_text("hello\n")
    (site / "static" / "css" / "a.css").write_text("a {}\n")
    canary = "CANARY-" + secrets.token_hex(8)
    (site / "secret.txt").write_text(canary)
    (site / "static" / "link.txt").symlink_to(site / "secret.txt")
    return site, site / "static", canary


def corpus(site: Path) -> list[str]:
    secret = str(site / "secret.txt")
    dots = ["..", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "./..", "css/../.."]
    paths = [f"/static/{d}/secret.txt" for d in dots] + [f"/static/{d}%2fsecret.txt" for d in dots]
    paths += [
        "/static/" + secret,
        "/static//" + secret,
        "/static/" + secret.replace("/", "%2f"),
        "/static/%2f" + secret.lstrip("/"),
        "/static/css/%2e%2e/%2e%2e/secret.txt",
        "/static/..",
        "/static/../",
        "/static/..%5csecret.txt",
        "/static/%252e%252e/secret.txt",
        "/static/%c0%ae%c0%ae/secret.txt",
        "/static/..;/secret.txt",
        "/static/link.txt",
        "/static/../static/../secret.txt",
        "/static/css/..//../secret.txt",
        "/static/../secret.txt%00",
        "/static/hello.txt%00/../../secret.txt",
    ]
    return paths


def test_reference_static_files_refuses_every_attack_both_ways(site):
    root_site, root, canary = site
    app = load_answers("03_werkzeug_lab")["static_files"](root)
    paths = corpus(root_site)
    assert len(paths) >= 30
    client = Client(app)
    assert client.get("/static/css/a.css").text == "a {}\n"
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 404 and canary not in answer.get_data(as_text=True), path
    with serve(app, name="step3-static") as server:
        for path in paths:
            if "%00" in path:
                continue  # a raw NUL is no valid request-line byte; the test client sent it above
            with Connection(server.host, server.port, timeout=5) as conn:
                answer = conn.request("GET", path)
            assert answer.status == 404 and canary.encode() not in answer.body, path
        server.check()


def test_a_naive_join_leaks_and_safe_join_refuses_names_but_not_links(site):
    root_site, root, canary = site

    def naive(environ, start_response):
        path = os.path.join(root, environ["PATH_INFO"].removeprefix("/static/"))
        with open(path, "rb") as file:
            body = file.read()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    leaked = [
        p
        for p in (
            "/static/../secret.txt",
            "/static/%2e%2e%2fsecret.txt",
            "/static/" + str(root_site / "secret.txt"),
        )
        if canary in Client(naive).get(p).get_data(as_text=True)
    ]
    assert len(leaked) == 3
    assert safe_join(str(root), "../secret.txt") is None
    assert safe_join(str(root), str(root_site / "secret.txt")) is None
    assert safe_join(str(root), "link.txt") == f"{root}/link.txt"  # a name check only


def test_shared_data_middleware_refuses_traversal_but_follows_links(site):
    root_site, root, canary = site
    client = Client(SharedDataMiddleware(NotFound(), {"/static": str(root)}))
    for path in corpus(root_site):
        answer = client.get(path)
        if path == "/static/link.txt":
            assert canary in answer.get_data(as_text=True)  # the lesson's warning
        else:
            assert canary not in answer.get_data(as_text=True), path
