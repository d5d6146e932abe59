"""Step 3: Shortly on real storage: the reference answers of solutions/03_werkzeug_lab, and the
one home of Shortly's shared pieces, notebooks/apps/shortly/shortly_parts.py (which the lesson
shows, the lab imports, and step 4's Flask port, shortly_app.py, is built on).

Every storage test runs on SQLite (a file in tmp_path) and on Redis: a real `redis-server` process
that this file starts on a free loopback port (keeping nothing on disk) and kills at the end. Where
the redis-server program is missing, the Redis variants are skipped with a message saying exactly
that; CI installs it (Debian's redis-server package). No storage is mocked.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import ROOT, load_answers
from werkzeug.test import Client

from socket2flask.apps import use_app
from socket2flask.servers import serve

use_app("shortly")
import shortly_parts  # noqa: E402 (its folder is on sys.path from the line above)

SHORTLY_DIR = ROOT / "notebooks" / "apps" / "shortly"
LONG = "https://werkzeug.palletsprojects.com/en/stable/tutorial/"
NO_REDIS = (
    "SKIPPED because the redis-server program is not installed on this machine "
    "(Debian: apt-get install redis-server); the SQLite variants still ran"
)


@pytest.fixture(scope="module")
def answers() -> dict:
    return load_answers("03_werkzeug_lab")


# -- a private redis-server ------------------------------------------------------------------------
def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> str:
    """redis://127.0.0.1:PORT/0 of a redis-server started for this module, killed at the end.
    Port 0 is impossible for redis-server (it would not tell us its port): pick a free port and
    try again on another if someone took it in between."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(NO_REDIS)
    folder = tmp_path_factory.mktemp("redis")
    for _ in range(5):
        port = _free_port()
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
                "--logfile",
                str(folder / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None and not _ping(port):
            time.sleep(0.02)
        if process.poll() is None and _ping(port):
            break
        _stop(process)  # most likely the port was taken in between: try another one
    else:
        raise RuntimeError("redis-server did not start:\n" + (folder / "redis.log").read_text())
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


def _flush(url: str) -> None:
    import redis

    with redis.Redis.from_url(url) as client:
        client.flushdb()


@pytest.fixture(params=["sqlite", "redis"])
def config(request, tmp_path) -> dict:
    """create_app's config for each storage, on an empty store."""
    if request.param == "sqlite":
        return {"sqlite_path": tmp_path / "shortly.sqlite3", "redis_url": None}
    url = request.getfixturevalue("redis_url")
    _flush(url)
    return {"redis_url": url}


@pytest.fixture
def storage(answers, config):
    app = answers["create_app"](config)
    yield app.storage
    getattr(app.storage, "close", lambda: None)()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def parts_storage(request, tmp_path):
    """Each storage of shortly_parts, empty."""
    if request.param == "memory":
        yield shortly_parts.MemoryStorage()
        return
    if request.param == "sqlite":
        yield shortly_parts.SqliteStorage(tmp_path / "parts.sqlite3")
        return
    url = request.getfixturevalue("redis_url")
    _flush(url)
    storage = shortly_parts.RedisStorage(url)
    yield storage
    storage.close()


# -- the storage contract --------------------------------------------------------------------------
def test_shortly_parts_storages_keep_the_contract(parts_storage):
    test_storage_contract(parts_storage)


def test_shortly_parts_storages_count_every_click_from_many_threads(parts_storage):
    short_id = parts_storage.insert_url(LONG)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(parts_storage.insert_url, [LONG + "race"] * 8))
        list(pool.map(lambda _: parts_storage.increment_clicks(short_id), range(200)))
    assert len(set(ids)) == 1 and parts_storage.get_clicks(short_id) == 200


def test_storage_contract(storage):
    ids = [storage.insert_url(f"https://example.com/{n}") for n in range(40)]
    assert ids[:3] == ["1", "2", "3"] and ids[35] == "10" and ids[-1] == "14"
    assert storage.insert_url("https://example.com/0") == "1"  # the same URL keeps its id
    assert storage.get_url("10") == "https://example.com/35"
    assert storage.get_url("zzz") is None and storage.get_clicks("zzz") == 0
    assert storage.get_clicks("1") == 0
    storage.increment_clicks("1")
    storage.increment_clicks("1")
    assert storage.get_clicks("1") == 2
    odd = "https://x.example/?q=');DROP TABLE urls;--&n=O'Brien&k=url-target:1"
    assert storage.get_url(storage.insert_url(odd)) == odd


@pytest.mark.timeout(120)
def test_concurrent_clicks_through_a_threaded_server_are_all_counted(answers, config):
    app = answers["create_app"](config)
    with serve(app, name="step3-clicks") as server:
        details = requests.post(
            server.url, data={"url": LONG}, allow_redirects=False, timeout=5
        ).headers["Location"]
        link = details.removesuffix("+")

        def click(times: int) -> list[int]:
            with requests.Session() as session:
                return [
                    session.get(server.url + link, allow_redirects=False, timeout=10).status_code
                    for _ in range(times)
                ]

        with ThreadPoolExecutor(8) as pool:
            statuses = [s for batch in pool.map(click, [25] * 8) for s in batch]
        page = requests.get(server.url + details, timeout=5).text
        server.check()
    assert statuses == [302] * 200
    assert re.search(r'class="clicks">(\d+)<', page).group(1) == "200"
    assert app.storage.get_clicks(link.lstrip("/")) == 200


# -- the app, end to end ---------------------------------------------------------------------------
def test_shortly_end_to_end(answers, config):
    client = Client(answers["create_app"](config))
    form = client.get("/")
    assert form.status_code == 200 and 'name="url"' in form.text
    assert '<link rel="stylesheet" href="/static/style.css">' in form.text

    created = client.post("/", data={"url": LONG})
    assert (created.status_code, created.headers["Location"]) == (302, "/1+")
    assert client.post("/", data={"url": f"  {LONG} "}).headers["Location"] == "/1+"

    for _ in range(3):
        followed = client.get("/1")
    assert (followed.status_code, followed.headers["Location"]) == (302, LONG)
    details = client.get("/1+")
    assert details.status_code == 200 and details.mimetype == "text/html"
    assert re.search(r'class="clicks">(\d+)<', details.text).group(1) == "3"
    assert "werkzeug.palletsprojects.com" in details.text and LONG in details.text

    for bad, message in [
        ("ftp://example.com/", "Only http:// and https:// URLs"),
        ("", "Please enter a URL."),
        ("javascript:alert(1)", "Only http://"),
        ("https://a.example/\r\nSet-Cookie: x=1", "spaces or control characters"),
    ]:
        refused = client.post("/", data={"url": bad})
        assert refused.status_code == 400 and message in refused.text, bad
    assert client.get("/2").status_code == 404  # nothing bad was stored

    assert client.get("/zz").status_code == 404 and "Page not found" in client.get("/zz+").text
    assert client.get("/UPPER").status_code == 404
    not_allowed = client.delete("/1")
    assert not_allowed.status_code == 405
    assert sorted(not_allowed.headers["Allow"].split(", ")) == ["GET", "HEAD"]  # a set: any order
    css = client.get("/static/style.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert client.get("/static/%2e%2e/templates/layout.html").status_code == 404


def test_test_client_and_socket_give_the_same_answers(answers, config):
    app = answers["create_app"](config)
    for method, path, data in [
        ("POST", "/", {"url": LONG}),
        ("GET", "/1", None),
        ("GET", "/1+", None),
        ("POST", "/", {"url": "nope"}),
        ("GET", "/nope", None),
        ("PUT", "/1", None),
    ]:
        both = answers["answers_both_ways"](app, method, path, data)
        assert both["client"] == both["socket"], (method, path)


def test_create_app_uses_redis_when_REDIS_URL_is_set(answers, redis_url, monkeypatch, tmp_path):
    _flush(redis_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    app = answers["create_app"]({"sqlite_path": tmp_path / "unused.sqlite3"})
    try:
        assert type(app.storage).__name__ == "RedisStorage"
        assert Client(app).post("/", data={"url": LONG}).headers["Location"] == "/1+"
        import redis

        with redis.Redis.from_url(redis_url, decode_responses=True) as direct:
            assert direct.get("shortly:url-target:1") == LONG
    finally:
        app.storage.close()
    monkeypatch.delenv("REDIS_URL")
    assert (
        type(answers["create_app"]({"sqlite_path": tmp_path / "s.sqlite3"}).storage).__name__
        == "SqliteStorage"
    )


# -- the templates are shared with steps 4 and 5: they must render under real Flask too -----------
def test_templates_render_under_real_flask(answers):
    import flask

    app = flask.Flask(
        "shortly_on_flask",
        template_folder=str(SHORTLY_DIR / "templates"),
        static_folder=str(SHORTLY_DIR / "static"),
    )
    app.url_map.converters["base36"] = answers["Base36Converter"]

    @app.route("/", methods=["GET", "POST"])
    def new_url():
        return flask.render_template("new_url.html", url="<x>", error="Please enter a URL.")

    @app.route("/<base36:short_id>")
    def follow_short_link(short_id):
        return flask.redirect("https://example.com/")

    @app.route("/<base36:short_id>+")
    def short_link_details(short_id):
        return flask.render_template(
            "short_link_details.html",
            short_id=short_id,
            link_target="https://example.com/a?b=<c>",
            link_host="example.com",
            click_count=7,
        )

    @app.errorhandler(404)
    def not_found(error):
        return flask.render_template("404.html"), 404

    client = app.test_client()
    form = client.get("/").get_data(as_text=True)
    assert 'action="/"' in form and "Please enter a URL." in form and 'value="&lt;x&gt;"' in form
    details = client.get("/4c+").get_data(as_text=True)
    assert '<a href="/4c">/4c</a>' in details and 'class="clicks">7<' in details
    assert "&lt;c&gt;" in details and "<c>" not in details
    assert client.get("/static/style.css").status_code == 200
    missing = client.get("/NOPE")
    assert missing.status_code == 404 and "Page not found" in missing.get_data(as_text=True)


# -- shortly_parts: ids, URL validation, configuration ------------------------------------------
def test_ids_in_base_36_and_their_errors():
    assert [shortly_parts.to_base36(n) for n in (0, 1, 35, 36, 1295, 1296)] == [
        "0", "1", "z", "10", "zz", "100"
    ]  # fmt: skip
    assert all(shortly_parts.from_base36(shortly_parts.to_base36(n)) == n for n in range(3000))
    assert shortly_parts.from_base36("zzzzzzzzzzzz") == 36**12 - 1
    for bad in ["", "Z", " 1", "1_0", "-1", "4c\n", "1234567890abc", "é"]:
        with pytest.raises(ValueError, match=re.escape(repr(bad))):  # the message names the text
            shortly_parts.from_base36(bad)
    with pytest.raises(ValueError):
        shortly_parts.to_base36(-1)
    converter = shortly_parts.Base36Converter
    assert all(re.fullmatch(converter.regex, t) for t in ("0", "4c", "z" * 12))
    assert not any(re.fullmatch(converter.regex, t) for t in ("", "A", "z" * 13, "4c+"))


URLS = [
    "https://palletsprojects.com/p/werkzeug/", "http://127.0.0.1:5000/", "https://[::1]:8080/x",
    "https://例子.测试/路径", "", "example.com", "ftp://example.com/", "javascript:alert(1)",
    "http://", "http:///path-only", "https://a.example/x\r\nSet-Cookie: a=b", "https://a.b/\tx",
    "\x00http://x.example", "http://[::1", "https://" + "a" * 2040, "https://" + "a" * 2041,
]  # fmt: skip


def test_validate_url_checks_and_words_as_the_lab_asks(answers):
    """The same checks and messages as the lab's reference answer (q4)."""
    assert [shortly_parts.validate_url(url) for url in URLS] == [
        answers["validate_url"](url) for url in URLS
    ]
    assert shortly_parts.validate_url("") == "Please enter a URL."
    assert shortly_parts.validate_url(URLS[0]) is None


def test_storage_from_config(monkeypatch, tmp_path, redis_url):
    monkeypatch.delenv("REDIS_URL", raising=False)
    chosen = shortly_parts.storage_from_config({"sqlite_path": tmp_path / "a.sqlite3"})
    assert isinstance(chosen, shortly_parts.SqliteStorage) and (tmp_path / "a.sqlite3").is_file()
    fresh = shortly_parts.storage_from_config({})  # a new file in a new temporary folder
    assert isinstance(fresh, shortly_parts.SqliteStorage) and fresh.path != chosen.path
    shutil.rmtree(Path(fresh.path).parent)

    class LabStorage(shortly_parts.MemoryStorage):  # lab 03 passes its own SqliteStorage class
        def __init__(self, path) -> None:
            super().__init__()
            self.path = path

    mine = shortly_parts.storage_from_config({"sqlite_path": "x.db"}, sqlite_storage=LabStorage)
    assert isinstance(mine, LabStorage) and mine.path == "x.db"
    monkeypatch.setenv("REDIS_URL", redis_url)
    on_redis = shortly_parts.storage_from_config({"sqlite_path": tmp_path / "b.sqlite3"})
    assert isinstance(on_redis, shortly_parts.RedisStorage)
    on_redis.close()
    no_redis = shortly_parts.storage_from_config({"redis_url": None, "sqlite_path": tmp_path / "c"})
    assert isinstance(no_redis, shortly_parts.SqliteStorage)


def test_shortly_app_runs_from_a_copy_in_another_folder(tmp_path, monkeypatch):
    """Step 5 copies shortly_app.py where gunicorn's workers import it, and runs in another
    working directory: its pieces, templates and stylesheet are still found (from the package)."""
    import importlib.util

    copy = tmp_path / "elsewhere" / "shortly_app.py"
    copy.parent.mkdir()
    copy.write_bytes((SHORTLY_DIR / "shortly_app.py").read_bytes())
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("shortly_app_copy", copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.create_app({"sqlite_path": tmp_path / "links.sqlite3", "redis_url": None})
    client = app.test_client()
    created = client.post("/", data={"url": LONG})
    assert (created.status_code, created.headers["Location"]) == (302, "/1+")
    assert client.get("/1").headers["Location"] == LONG
    assert 'class="clicks">1<' in client.get("/1+").get_data(as_text=True)
    assert client.get("/static/style.css").status_code == 200
    assert client.post("/", data={"url": "ftp://x"}).status_code == 400
    assert client.get("/ZZ").status_code == 404
