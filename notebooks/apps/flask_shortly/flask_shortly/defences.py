"""The defences of lesson 06's red-team section, each with a name that the app's config can leave
out of DEFENCES, so that the lesson can show its attack working before the fix. A real app has no
such switch: it has every defence, always. Each `if not defended(...)` branch is the unsafe code
that the defence replaces, kept beside it so that you can compare the two."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, Response, abort, current_app, request, session
from shortly_parts import validate_url

ALL = ("autoescape", "url_schemes", "redirect", "samesite", "csrf_token", "headers")
# Scripts, styles, images, forms only from this site; no plugins, no <base>; no framing at all.
CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # they must change nothing, so they need no token


def defended(name: str) -> bool:
    """Whether this app has the defence `name` (the config's DEFENCES)."""
    return name in current_app.config["DEFENCES"]


def init_app(app: Flask) -> None:
    """Install the defences that the config names."""
    unknown = set(app.config["DEFENCES"]) - set(ALL)
    if unknown:
        raise ValueError(f"unknown defences {sorted(unknown)}; the defences are {ALL}")
    if "autoescape" not in app.config["DEFENCES"]:
        # UNSAFE: what `|safe`, Markup() or a template named *.jinja2 quietly do in a real app
        app.jinja_env.autoescape = False
    if "samesite" in app.config["DEFENCES"]:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # Flask's default: no SameSite attribute
    app.jinja_env.globals["csrf_token"] = csrf_token  # every form: {{ csrf_token() }}
    app.before_request(check_csrf_token)
    app.after_request(security_headers)


def check_url(url: str) -> str | None:
    """None if Shortly may store `url` as a link's target, else a message for the user."""
    if not defended("url_schemes"):
        return None if ":" in url else "That is not a URL."  # UNSAFE: javascript:, data:, ...
    return validate_url(url)  # step 3's check: http:// and https:// only


def csrf_token() -> str:
    """This session's CSRF token, made on first use; each form sends it back in a hidden field."""
    if not defended("csrf_token"):
        return ""
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


def check_csrf_token() -> None:
    """Before each request that may change something: 403 unless the form carries the token of
    this session (another site can make a browser send our cookie, but cannot read our pages)."""
    if not defended("csrf_token") or request.method in SAFE_METHODS:
        return
    expected = session.get("csrf_token", "")
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, "This form is missing its CSRF token, or has another session's.")


def security_headers(response: Response) -> Response:
    """After each request: what the browser must refuse to do with our pages."""
    if defended("headers"):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"  # a text file is never a page
        response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors, for older browsers
        if request.is_secure:  # HSTS means something only when it arrived over HTTPS
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response
