"""A model browser for lesson 06's red team: what a real browser does with cookies (Path, Secure,
HttpOnly, SameSite, Max-Age), with forms, with the frames a page asks for, and which scripts it
would run, written out in plain Python. It runs no JavaScript, and it visits loopback only: every
name that ends in .test (reserved for tests, RFC 6761) is this machine, 127.0.0.1.

    browser = Browser()
    page = browser.get("http://shortly.test:PORT/auth/login")
    page = browser.submit(page, name="ada", password="...")   # fills in and sends a form
    browser.scripts(page)          # what the page would run: inline scripts, handlers, javascript:
    browser.may_frame(page, "http://evil.test:PORT/")   # may another site show it in a frame?
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urljoin, urlsplit

import requests

LOOPBACK_NAMES = ("127.0.0.1", "localhost")  # and every name ending in .test
C0_AND_SPACE = "".join(chr(n) for n in range(0x21))  # what a browser strips from a URL's ends


@dataclass
class Cookie:
    name: str
    value: str
    host: str  # a host-only cookie: sent to this host alone (any port)
    path: str
    secure: bool  # sent over https only
    http_only: bool  # hidden from the page's scripts (document.cookie)
    same_site: str  # "Strict", "Lax", "None", or "" when the server did not say
    expires: float | None  # None: a session cookie, gone when the browser closes


@dataclass
class Page:
    url: str
    status: int
    headers: dict[str, str]  # one value per name, names in lower case
    text: str
    sent_cookies: str = ""  # the Cookie header this request carried

    @property
    def location(self) -> str | None:
        """Where a redirect points, as an absolute URL."""
        target = self.headers.get("location")
        return urljoin(self.url, target) if target else None


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""  # the text inside a <script>


class _Reader(HTMLParser):
    """Every element of a page, as the browser's parser sees it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.script: Element | None = None  # the <script> being read
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {name: value or "" for name, value in attrs}))
        self.script = self.elements[-1] if tag == "script" else None

    def handle_endtag(self, tag: str) -> None:
        self.script = None

    def handle_data(self, data: str) -> None:
        if self.script is not None:
            self.script.text += data


def elements(html: str) -> list[Element]:
    return _Reader(html).elements


def forms(html: str) -> list[tuple[Element, list[Element]]]:
    """Each <form> of a page, with its named <input> elements."""
    found: list[tuple[Element, list[Element]]] = []
    for element in elements(html):
        if element.tag == "form":
            found.append((element, []))
        elif element.tag == "input" and "name" in element.attrs and found:
            found[-1][1].append(element)
    return found


def site(url: str) -> tuple[str, str]:
    """What SameSite compares: the scheme and the registrable domain (here: the last two labels
    of the host name, or the whole IP address). Ports do not count."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.replace(".", "").isdigit():  # an IPv4 address is a site of its own
        return parts.scheme, host
    return parts.scheme, ".".join(host.split(".")[-2:])


def origin(url: str) -> str:
    """What the same-origin policy compares: scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def is_javascript(url: str) -> bool:
    """Whether a browser reads `url` as a javascript: URL: it strips control characters and
    spaces from both ends and ignores tabs and newlines anywhere ("java\tscript:" is one)."""
    cleaned = url.strip(C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    return cleaned.lower().startswith("javascript:")


def policy(page: Page) -> dict[str, list[str]]:
    """The page's Content-Security-Policy: {directive: [sources]}."""
    directives = (
        part.split() for part in page.headers.get("content-security-policy", "").split(";")
    )
    return {words[0].lower(): words[1:] for words in directives if words}


@dataclass
class Browser:
    """Cookies and requests as a browser does them; every request is a navigation (a link, a form,
    the address bar). `missing_same_site`: what a cookie without a SameSite attribute gets: "None"
    in Firefox and Safari, "Lax" in Chrome and Edge (which also let such a cookie go with a
    cross-site POST in its first two minutes; this model does not)."""

    missing_same_site: str = "None"
    jar: list[Cookie] = field(default_factory=list)

    def get(self, url: str, *, initiator: str | None = None) -> Page:
        """Open `url`: from a link on the page at `initiator` (another site's, perhaps), or typed
        into the address bar (None)."""
        return self.request("GET", url, initiator=initiator)

    def frame(self, page: Page) -> Page | None:
        """The page that `page`'s first <iframe> shows, or None if that page forbids being shown
        in a frame there. A frame is not a top-level navigation: SameSite=Lax cookies stay home."""
        source = next(e.attrs["src"] for e in elements(page.text) if e.tag == "iframe")
        framed = self.request("GET", urljoin(page.url, source), initiator=page.url, top_level=False)
        return framed if self.may_frame(framed, page.url) else None

    def submit(self, page: Page, **fields: str) -> Page:
        """Send the page's first form that has every field named in `fields`, filled in as the
        page filled it, then with `fields`: what a click on its button does, or a script calling
        form.submit()."""
        for form, inputs in forms(page.text):
            values = {e.attrs["name"]: e.attrs.get("value", "") for e in inputs}
            if set(fields) <= set(values):
                values.update(fields)
                action = urljoin(page.url, form.attrs.get("action", ""))
                if form.attrs.get("method", "get").lower() == "post":
                    return self.request("POST", action, values, initiator=page.url)
                query = urlencode(values)
                return self.request("GET", f"{action.split('?')[0]}?{query}", initiator=page.url)
        raise ValueError(f"no form on {page.url} has the fields {sorted(fields)}")

    def request(
        self,
        method: str,
        url: str,
        data: dict | None = None,
        *,
        initiator: str | None = None,
        top_level: bool = True,
    ) -> Page:
        """One request, with the cookies a browser would attach; the answer's cookies kept.
        `top_level`: the request loads the page in the tab (False: a frame in another page)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host not in LOOPBACK_NAMES and not host.endswith(".test"):
            raise ValueError(f"this browser visits loopback only, not {host!r}")
        headers = {"Host": parts.netloc}
        cookies = self.cookies_for(url, method, initiator, top_level)
        if cookies:
            headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in cookies)
        if method == "POST":  # browsers say where a form came from
            headers["Origin"] = origin(initiator) if initiator else "null"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = f"{parts.scheme}://127.0.0.1:{port}{parts.path or '/'}"
        answer = requests.request(
            method,
            target + (f"?{parts.query}" if parts.query else ""),
            data=data,
            headers=headers,
            allow_redirects=False,
            timeout=5,
        )
        in_foreign_frame = not top_level and initiator is not None and site(initiator) != site(url)
        for header in answer.raw.headers.getlist("Set-Cookie"):
            self.store(header, url, in_foreign_frame)
        page_headers = {name.lower(): value for name, value in answer.headers.items()}
        return Page(url, answer.status_code, page_headers, answer.text, headers.get("Cookie", ""))

    def store(self, header: str, url: str, in_foreign_frame: bool = False) -> None:
        """Keep (or delete) the cookie of one Set-Cookie header that came from `url`. A frame in
        another site's page may not set a cookie whose SameSite is Lax or Strict. (Only Max-Age
        sets an expiry here: Flask writes it beside Expires.)"""
        parts = urlsplit(url)
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            if morsel["secure"] and parts.scheme != "https":
                continue  # a Secure cookie set over plain http is refused
            same_site = morsel["samesite"].capitalize()
            if in_foreign_frame and (same_site or self.missing_same_site) != "None":
                continue
            expires = None
            if morsel["max-age"]:
                expires = time.time() + int(morsel["max-age"])
            default_path = parts.path.rsplit("/", 1)[0] or "/"
            cookie = Cookie(
                name,
                morsel.value,
                parts.hostname or "",
                morsel["path"] or default_path,
                bool(morsel["secure"]),
                bool(morsel["httponly"]),
                same_site,
                expires,
            )
            self.jar = [
                c for c in self.jar if (c.name, c.host, c.path) != (name, cookie.host, cookie.path)
            ]
            if expires is None or expires > time.time():  # Max-Age=0 deletes the cookie
                self.jar.append(cookie)

    def cookies_for(
        self,
        url: str,
        method: str = "GET",
        initiator: str | None = None,
        top_level: bool = True,
    ) -> list[Cookie]:
        """The cookies a request for `url` carries. `initiator`: the page that caused it (a link,
        a form), None for the address bar. A cross-site request carries a cookie only if its
        SameSite is None, or Lax and the request a top-level GET (following a link)."""
        parts = urlsplit(url)
        path = parts.path or "/"
        cross_site = initiator is not None and site(initiator) != site(url)
        chosen = []
        for cookie in self.jar:
            if cookie.host != parts.hostname or (cookie.secure and parts.scheme != "https"):
                continue
            if not (path == cookie.path or path.startswith(cookie.path.rstrip("/") + "/")):
                continue
            if cookie.expires is not None and cookie.expires <= time.time():
                continue
            same_site = cookie.same_site or self.missing_same_site
            lax_ok = same_site == "Lax" and method == "GET" and top_level
            if cross_site and not (same_site == "None" or lax_ok):
                continue
            chosen.append(cookie)
        return chosen

    def document_cookie(self, page: Page) -> str:
        """What the page's scripts read in document.cookie: its cookies that are not HttpOnly."""
        return "; ".join(
            f"{c.name}={c.value}" for c in self.cookies_for(page.url) if not c.http_only
        )

    @staticmethod
    def scripts(page: Page) -> list[str]:
        """The JavaScript this page would run: inline <script> elements, event handlers
        (onerror=...), and javascript: links (when clicked), unless its Content-Security-Policy
        forbids inline scripts (script-src, or else default-src, without 'unsafe-inline')."""
        sources = policy(page)
        allowed = sources.get("script-src", sources.get("default-src"))
        if allowed is not None and "'unsafe-inline'" not in allowed:
            return []
        found = []
        for element in elements(page.text):
            if element.tag == "script" and "src" not in element.attrs:
                found.append(element.text.strip())
            for name, value in element.attrs.items():
                if name.startswith("on"):
                    found.append(value)
                elif name in ("href", "src", "action") and is_javascript(value):
                    found.append(value)
        return found

    @staticmethod
    def may_frame(page: Page, parent_url: str) -> bool:
        """Whether a page at `parent_url` may show `page` in a frame: CSP frame-ancestors, or else
        X-Frame-Options (DENY, SAMEORIGIN), or else yes."""
        ancestors = policy(page).get("frame-ancestors")
        if ancestors is not None:
            same = origin(parent_url) == origin(page.url)
            return (
                "*" in ancestors
                or ("'self'" in ancestors and same)
                or origin(parent_url) in ancestors
            )
        option = page.headers.get("x-frame-options", "").upper()
        if option == "DENY":
            return False
        return option != "SAMEORIGIN" or origin(parent_url) == origin(page.url)
