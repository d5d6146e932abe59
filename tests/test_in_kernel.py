"""servers inside a real kernel, as JupyterLab drives it: re-run cells, and errors shown where the
request was made."""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

from kernels import LEAK_PROBE, execute_notebook, isolated_env, kernel, leaks, run_code, text_of

SERVE_CELL = textwrap.dedent("""
    from socket2flask.servers import serve, running
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]
    server = serve(app)
""")


def execute_as_jupyterlab(client, code: str, cell_id: str) -> dict:
    """Send an execute_request carrying the cell id in its metadata, as JupyterLab does."""
    message = client.session.msg("execute_request", {"code": code, "silent": False,
                                 "store_history": True, "user_expressions": {},
                                 "allow_stdin": False, "stop_on_error": True},
                                 metadata={"cellId": cell_id})
    client.shell_channel.send(message)
    while True:
        reply = client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
            return reply["content"]


def probe_leaks(client) -> dict:
    printed: list[str] = []
    client.execute_interactive(LEAK_PROBE, timeout=30, output_hook=lambda message: printed.append(
        message["content"].get("text", "")))
    return json.loads("".join(printed).split("LEAKS", 1)[1])


@pytest.mark.timeout(120)
def test_twenty_reruns_of_one_cell_leave_exactly_one_server(tmp_path):
    manager, client = start_new_kernel(kernel_name="python3", env=isolated_env(tmp_path),
                                       cwd=str(tmp_path))
    try:
        before = probe_leaks(client)
        for _ in range(20):
            assert execute_as_jupyterlab(client, SERVE_CELL, "cell-a")["status"] == "ok"
        after = probe_leaks(client)
        assert len(after["servers"]) == 1
        assert len(after["listening"]) == len(before["listening"]) + 1
        execute_as_jupyterlab(client, SERVE_CELL, "cell-b")  # another cell: its own server
        assert len(probe_leaks(client)["servers"]) == 2
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.timeout(120)
def test_listening_sockets_do_not_pile_up_under_reruns(tmp_path):
    with kernel(tmp_path, tmp_path) as client:
        run_code(client, SERVE_CELL.replace("serve(app)", "serve(app, name='same')"))
        before = leaks(client)
        for _ in range(20):
            run_code(client, SERVE_CELL.replace("serve(app)", "serve(app, name='same')"))
        after = leaks(client)
        assert len(after["listening"]) == len(before["listening"])
        assert len(after["servers"]) == 1
        run_code(client, "from socket2flask.servers import stop_all; stop_all()")


@pytest.mark.timeout(120)
def test_app_error_shows_in_the_requesting_cell_and_check_raises(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(textwrap.dedent("""
            import requests
            from socket2flask.servers import serve
            def broken(environ, start_response):
                raise LookupError("a bug in the app")
            server = serve(broken)
        """)),
        nbformat.v4.new_code_cell("print('status', requests.get(server.url, timeout=5).status_code)"),
        nbformat.v4.new_code_cell("server.check()", metadata={"tags": ["raises-exception"]}),
        nbformat.v4.new_code_cell("server.stop()"),
    ])
    path = tmp_path / "error.ipynb"
    nbformat.write(nb, path)
    _, found, executed = execute_notebook(path, tmp_path / "kernel")
    request_cell, check_cell = executed.cells[1], executed.cells[2]
    stderr = "".join(o["text"] for o in request_cell.outputs if o.get("name") == "stderr")
    assert "LookupError: a bug in the app" in stderr and "Traceback" in stderr
    assert "status 500" in text_of(request_cell.outputs)
    errors = [o for o in check_cell.outputs if o["output_type"] == "error"]
    assert errors and errors[0]["ename"] == "ServerError" and "a bug in the app" in errors[0]["evalue"]
    assert not found


@pytest.mark.timeout(120)
def test_show_links_to_the_browser_url_and_renders_the_page_inline(tmp_path):
    with kernel(tmp_path, tmp_path) as client:
        run_code(client, SERVE_CELL.replace('"2"', '"23"').replace('b"ok"', 'b"<h1>it &amp; works</h1>"'))
        shown = run_code(client, "import os; os.environ['JUPYTERHUB_SERVICE_PREFIX'] = '/user/x/'\n"
                                 "server.show('/page')")
        page = shown[0]["data"]["text/html"]
        port = text_of(run_code(client, "print(server.port)")).strip()
        assert f'href="/user/x/proxy/{port}/page"' in page
        assert f'srcdoc="&lt;base href=&quot;/user/x/proxy/{port}/&quot;&gt;&lt;h1&gt;it &amp;amp; works&lt;/h1&gt;"' in page
        assert "sandbox" in page
        run_code(client, "server.stop()")
