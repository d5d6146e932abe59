"""On JupyterHub or Binder the browser is on another machine: `Server.browser_url` goes through the
Jupyter server's proxy. Simulated here with a real `jupyter server` running jupyter-server-proxy
under a hub-style base URL, and the environment variable a hub sets."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests
from conftest import hello_app
from kernels import isolated_env, stop_process_group
from test_environment import free_port

from socket2flask.servers import serve

PREFIX = "/user/ada/"


def redirecting_app(environ, start_response):
    """Echo what the app sees behind the proxy; /go redirects to an absolute path."""
    if environ["PATH_INFO"] == "/go":
        start_response("302 Found", [("Location", "/landed"), ("Content-Length", "0")])
        return [b""]
    body = (
        f"{environ['PATH_INFO']}?{environ['QUERY_STRING']} {environ.get('HTTP_X_FORWARDED_PREFIX')}"
    )
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body.encode()]


@pytest.fixture
def hub_server(tmp_path):
    """A jupyter server as a hub spawns one for a user: base URL /user/ada/, a token."""
    port, token = free_port(), "hub-test-token"
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={PREFIX}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={tmp_path}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    process = subprocess.Popen(
        command,
        env=isolated_env(tmp_path),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if session.get(f"{origin}{PREFIX}api/status", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, (
                "jupyter server did not start"
            )
            time.sleep(0.3)
        yield origin, session
    finally:
        stop_process_group(process, 15)


def test_browser_url_is_the_loopback_url_outside_a_hub(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    with serve(hello_app) as server:
        assert server.browser_url == server.url + "/"


@pytest.mark.timeout(120)
def test_a_served_app_answers_through_the_hub_proxy(hub_server, monkeypatch):
    origin, session = hub_server
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", PREFIX)
    with serve(redirecting_app) as server:
        assert server.browser_url == f"{PREFIX}proxy/{server.port}/"
        response = session.get(f"{origin}{server.browser_url}page?x=1", timeout=10)
        assert response.status_code == 200
        assert response.text == f"/page?x=1 {PREFIX}proxy/{server.port}"
        moved = session.get(f"{origin}{server.browser_url}go", timeout=10, allow_redirects=False)
        assert moved.headers["Location"] == f"{PREFIX}proxy/{server.port}/landed"
