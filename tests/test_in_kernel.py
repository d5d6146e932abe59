"""servers inside a real kernel, as JupyterLab drives it: re-run cells, and errors shown where the
request was made."""

from __future__ import annotations

import textwrap

import nbformat
import pytest
from kernels import execute_notebook, kernel, leaks, run_code, text_of

SERVE_CELL = textwrap.dedent("""
    from socket2flask.servers import serve, running
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]
    server = serve(app)
""")


TWO_SERVERS_CELL = SERVE_CELL + textwrap.dedent("""
    import requests
    second = serve(app, kind="waitress")
    print("answers:", [requests.get(s.url, timeout=5).text for s in (server, second)])
    print("running:", len(running()))
""")


@pytest.mark.timeout(120)
def test_twenty_reruns_of_one_cell_leave_exactly_one_server(tmp_path):
    with kernel(tmp_path, tmp_path) as client:
        before = leaks(client)
        for _ in range(20):
            run_code(client, SERVE_CELL, cell_id="cell-a")
        after = leaks(client)
        assert len(after["servers"]) == 1
        assert len(after["listening"]) == len(before["listening"]) + 1
        run_code(client, SERVE_CELL, cell_id="cell-b")  # another cell: its own server
        assert len(leaks(client)["servers"]) == 2
        run_code(client, "from socket2flask.servers import stop_all; stop_all()")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cell_ids", [True, False], ids=["jupyterlab", "without-cell-ids"])
def test_two_servers_in_one_cell_both_answer_and_a_rerun_replaces_both(tmp_path, cell_ids):
    """JupyterLab sends a cell id: servers of one run live together, a re-run replaces them all.
    Without cell ids (nbclient, VS Code), nothing is replaced; both still answer."""
    with kernel(tmp_path, tmp_path, cell_ids=cell_ids) as client:
        first = text_of(run_code(client, TWO_SERVERS_CELL, cell_id="two"))
        ports = text_of(run_code(client, "print(server.port, second.port)")).split()
        second = text_of(run_code(client, TWO_SERVERS_CELL, cell_id="two"))
        assert "answers: ['ok', 'ok']" in first and "running: 2" in first, first
        assert "answers: ['ok', 'ok']" in second, second
        assert f"running: {2 if cell_ids else 4}" in second, second
        still_open = run_code(
            client,
            f"import socket\nfor port in {ports}:\n"
            "    try: socket.create_connection(('127.0.0.1', port), 1)"
            ".close(); print('open', port)\n"
            "    except OSError: print('closed', port)",
        )
        expected = "closed" if cell_ids else "open"
        assert text_of(still_open).split().count(expected) == 2, text_of(still_open)
        run_code(client, "from socket2flask.servers import stop_all; stop_all()")


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
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                textwrap.dedent("""
            import requests
            from socket2flask.servers import serve
            def broken(environ, start_response):
                raise LookupError("a bug in the app")
            server = serve(broken)
        """)
            ),
            nbformat.v4.new_code_cell(
                "print('status', requests.get(server.url, timeout=5).status_code)"
            ),
            nbformat.v4.new_code_cell("server.check()", metadata={"tags": ["raises-exception"]}),
            nbformat.v4.new_code_cell("server.stop()"),
        ]
    )
    path = tmp_path / "error.ipynb"
    nbformat.write(nb, path)
    _, found, executed = execute_notebook(path, tmp_path / "kernel")
    request_cell, check_cell = executed.cells[1], executed.cells[2]
    stderr = "".join(o["text"] for o in request_cell.outputs if o.get("name") == "stderr")
    assert "LookupError: a bug in the app" in stderr and "Traceback" in stderr
    assert "status 500" in text_of(request_cell.outputs)
    errors = [o for o in check_cell.outputs if o["output_type"] == "error"]
    assert (
        errors and errors[0]["ename"] == "ServerError" and "a bug in the app" in errors[0]["evalue"]
    )
    assert not found


@pytest.mark.timeout(120)
def test_show_links_to_the_browser_url_and_renders_the_page_inline(tmp_path):
    with kernel(tmp_path, tmp_path) as client:
        run_code(
            client, SERVE_CELL.replace('"2"', '"23"').replace('b"ok"', 'b"<h1>it &amp; works</h1>"')
        )
        shown = run_code(
            client,
            "import os; os.environ['JUPYTERHUB_SERVICE_PREFIX'] = '/user/x/'\nserver.show('/page')",
        )
        page = shown[0]["data"]["text/html"]
        port = text_of(run_code(client, "print(server.port)")).strip()
        assert f'href="/user/x/proxy/{port}/page"' in page
        assert (
            f'srcdoc="&lt;base href=&quot;/user/x/proxy/{port}/&quot;&gt;'
            '&lt;h1&gt;it &amp;amp; works&lt;/h1&gt;"'
        ) in page
        assert "sandbox" in page
        run_code(client, "server.stop()")
