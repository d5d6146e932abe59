"""The tools of lab 06's tests: tampered tokens, a stand-in for `hmac.compare_digest`, the Flask
apps the questions plug into, a page read as a browser reads it, a certificate authority made for
the lab, a quiet server. A test cell imports what it uses, and passes the learner's functions in:
`session_app(SignedCookieSessions(clock=clock), "a secret")`."""

from __future__ import annotations

import hmac
import itertools
import re
import secrets
import string
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from flask import Flask, redirect, render_template_string, request, session

from socket2flask.servers import Server, serve

SHORTLY = "http://shortly.test"  # the site of the redirect tests (their test client's base URL)
C0_AND_SPACE = "".join(chr(n) for n in range(0x21))  # what browsers strip from a URL's ends
B64_DIGITS = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"  # URL-safe


class FakeClock:
    """A clock the tests move by hand: `clock()` is the time, `clock.advance(seconds)` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- q1: tokens tampered with ----------------------------------------------------------------------
def bit_flips(token: str) -> list[str]:
    """The token with one of the 7 low bits of one of its characters flipped, in every way."""
    flips = [(n, 1 << bit) for n in range(len(token)) for bit in range(7)]  # (where, which bit)
    return [token[:n] + chr(ord(token[n]) ^ mask) + token[n + 1 :] for n, mask in flips]


def truncations(token: str) -> list[str]:
    """Every shorter piece of the token that starts at its beginning or ends at its end."""
    return [token[:n] for n in range(len(token))] + [token[n:] for n in range(1, len(token))]


def reorderings(token: str) -> list[str]:
    """The token's '.'-separated fields in every other order."""
    fields = token.split(".")
    return [".".join(order) for order in itertools.permutations(fields) if list(order) != fields]


def respelled(token: str) -> str:
    """The token with the 2 unused bits of its last character changed: to a base 64 decoder the
    same bytes (for a 32-byte signature), but another text."""
    return token[:-1] + B64_DIGITS[B64_DIGITS.index(token[-1]) ^ 1]


@contextmanager
def compare_digest_refusing(namespace: dict, about: str | None = None) -> Iterator[None]:
    """While the block runs, hmac.compare_digest answers False: to every call, or, with `about`,
    to the calls that have `about` (str or UTF-8 bytes) on a side: a decision made by it follows,
    one made by `==` does not. It is replaced however the learner reached it (`hmac.compare_digest`,
    `secrets.compare_digest`, or a name imported into `namespace`)."""
    original = hmac.compare_digest

    def spy(a, b) -> bool:
        refused = about is None or about in (a, b) or about.encode("utf-8") in (a, b)
        return original(a, b) and not refused  # compares first: raises as the real one does

    imported = [name for name, value in namespace.items() if value is original]
    hmac.compare_digest = secrets.compare_digest = spy
    namespace.update(dict.fromkeys(imported, spy))
    try:
        yield
    finally:
        hmac.compare_digest = secrets.compare_digest = original
        namespace.update(dict.fromkeys(imported, original))


# -- q2: an app that keeps its state in the session ------------------------------------------------
def session_app(interface: object, secret_key: str | bytes) -> Flask:
    """A Flask app whose sessions are `interface`'s. /login/NAME, /whoami, /count, /logout."""
    app = Flask("lab06_sessions")
    app.testing = True  # an exception in your code reaches the test, not a 500 page
    app.secret_key = secret_key
    app.session_interface = interface  # type: ignore[assignment]

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "welcome"

    @app.route("/whoami")
    def whoami() -> str:
        return session.get("user", "anonymous")  # reads the session, changes nothing

    @app.route("/count")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.route("/logout")
    def logout() -> str:
        session.clear()
        return "bye"

    return app


def set_cookies(response) -> dict[str, dict[str, str]]:
    """Set-Cookie headers as {name: {"value": ..., "httponly": "", "path": "/", ...}}."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        (name, _, value), *attributes = [part.strip().partition("=") for part in header.split(";")]
        cookies[name] = {"value": value} | {key.lower(): setting for key, _, setting in attributes}
    return cookies


# -- q3: a form that changes state -----------------------------------------------------------------
TRANSFER_FORM = """<form method="post" action="/transfer">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <input name="to"> <input name="amount"> <button>Send</button>
</form>"""


def transfer_app(csrf_protect: Callable[[Flask], Flask]) -> Flask:
    """A Flask app (Flask's own sessions) protected by the learner's `csrf_protect`: GET /transfer
    shows the form; any other method on /transfer is the transfer, which answers "done"."""
    app = Flask("lab06_csrf")
    app.testing = True  # an exception in your code reaches the test, not a 500 page
    app.secret_key = "lab 06, csrf"

    @app.route("/transfer", methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"])
    def transfer() -> str:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return render_template_string(TRANSFER_FORM)
        return "done"

    return csrf_protect(app)


def form_token(html: str) -> str | None:
    """The value of the form's hidden csrf_token field, or None."""
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    return match[1] if match else None


# -- q4: a page, as a browser reads it -------------------------------------------------------------
def browser_scheme(url: str) -> str | None:
    """The scheme a browser finds in an attribute's URL (WHATWG URL standard: strip C0 controls
    and spaces at both ends, remove every tab and newline), in lower case; None if it has none."""
    url = re.sub("[\t\n\r]", "", url.strip(C0_AND_SPACE))
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", url)
    return match[1].lower() if match else None


class _Reader(HTMLParser):
    """The elements (tag, attributes as a browser decodes them) and the text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_page(html: str) -> tuple[list[tuple[str, dict]], str]:
    """(elements, text) of a page: each element's tag and attributes, and all the text shown."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.elements, "".join(reader.text)


SAFE_SCHEMES = (None, "http", "https")  # None: a relative URL
HARMLESS = {"author": "Ada", "website": "https://ada.test/", "text": "Nice link, thanks!"}


def xss_problems(render: Callable[[list[dict]], str], comments: list[dict]) -> list[str]:
    """What a browser must not find in `render(comments)`: elements or attributes that as many
    harmless comments do not make, a link to another scheme than http(s), a text not as typed."""
    elements, text = read_page(render(comments))
    expected, _ = read_page(render([HARMLESS] * len(comments)))
    problems = []
    shape = [(tag, sorted(attrs)) for tag, attrs in elements]
    harmless = [(tag, sorted(attrs)) for tag, attrs in expected]
    if shape != harmless:
        extra = [item for item in shape if item not in harmless] or shape
        problems.append(f"elements or attributes that harmless comments do not make: {extra[:3]}")
    for tag, attrs in elements:
        for name, value in attrs.items():
            if name in ("href", "src") and browser_scheme(value or "") not in SAFE_SCHEMES:
                problems.append(f"<{tag} {name}={value!r}>: a browser runs that")
    for comment in comments:
        for field in ("author", "text"):
            if comment[field] not in text:
                problems.append(f"the {field} {comment[field]!r} is not shown as typed")
    return problems


# -- q5: Shortly's login, which sends you back where you were --------------------------------------
def redirect_app(is_safe_redirect: Callable[[str], bool]) -> Flask:
    """Shortly's /login?next=TARGET, the login left out: to TARGET if it is safe, else to /."""
    app = Flask("lab06_redirect")
    app.testing = True  # an exception in your code reaches the test, not a 500 page

    @app.route("/login")
    def login():
        target = request.args.get("next", "")
        return redirect(target if is_safe_redirect(target) else "/")

    return app


def landing(location: str, page: str = SHORTLY + "/login") -> str:
    """scheme://host/path a browser on `page` goes to for `Location: location` (WHATWG rules)."""
    cleaned = re.sub("[\t\n\r]", "", location.strip(C0_AND_SPACE)).replace("\\", "/")
    parts = urlsplit(urljoin(page, cleaned))
    return f"{parts.scheme}://{parts.hostname}{parts.path}"


def follow_next(is_safe_redirect: Callable[[str], bool], target: str) -> str:
    """Where Shortly's /login?next=TARGET sends a browser, through `redirect_app`."""
    client = redirect_app(is_safe_redirect).test_client()
    response = client.get("/login", query_string={"next": target}, base_url=SHORTLY)
    if response.status_code not in (301, 302, 303, 307, 308):
        raise AssertionError(f"/login?next=... answered {response.status_code}, not a redirect")
    return landing(response.headers["Location"])


# -- q6: where a password could hide ---------------------------------------------------------------
def strings_in(thing: object, depth: int = 4) -> list[str]:
    """Every str (bytes as latin-1) in an object's attributes, dicts, lists, sets, 4 levels deep."""
    if isinstance(thing, (str, bytes)):
        return [thing.decode("latin-1") if isinstance(thing, bytes) else thing]
    if depth == 0:
        return []
    if isinstance(thing, dict):
        items = [*thing.keys(), *thing.values()]
    elif isinstance(thing, (list, tuple, set, frozenset)):
        items = list(thing)
    elif hasattr(thing, "__dict__") and not isinstance(thing, type):
        items = list(vars(thing).values())
    else:
        return []
    return [text for item in items for text in strings_in(item, depth - 1)]


# -- q7: a certificate authority for the lab -------------------------------------------------------
@contextmanager
def tls_files() -> Iterator[tuple[str, str, str]]:
    """(certfile, cafile, other_cafile), removed after: the key and certificate of 127.0.0.1 and
    localhost in one PEM file, the CA that signed it, and another CA, which did not."""
    import trustme

    ca, other = trustme.CA(), trustme.CA()
    with tempfile.TemporaryDirectory(prefix="lab06-tls-") as folder:
        files = [Path(folder) / name for name in ("server.pem", "ca.pem", "other-ca.pem")]
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        leaf.private_key_and_cert_chain_pem.write_to_path(files[0])
        ca.cert_pem.write_to_path(files[1])
        other.cert_pem.write_to_path(files[2])
        yield str(files[0]), str(files[1]), str(files[2])


@contextmanager
def serve_quietly(handler: Callable, name: str) -> Iterator[tuple[Server, list[str]]]:
    """serve(handler, kind="socket") as (server, errors): what `handler` raises is kept in
    `errors`, one line each, for no_error_in to report, not printed in the cell as a traceback."""
    errors: list[str] = []

    def quiet(conn, addr) -> None:
        try:
            handler(conn, addr)
        except Exception as error:  # a wrong answer's: the test says it in one line
            errors.append(f"{type(error).__name__}: {error}")

    with serve(quiet, kind="socket", name=name) as server:
        yield server, errors


def no_error_in(errors: list[str]) -> None:
    """AssertionError, in one line, if the handler of serve_quietly raised (`errors`)."""
    if errors:
        raise AssertionError(f"your handler raised, in the server: {errors[0]}")
