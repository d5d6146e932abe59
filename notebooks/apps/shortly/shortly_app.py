"""Shortly, step 3's URL shortener, ported to Flask's API.

The same file runs on Flask and on the course's mini-Flask (notebooks/04_mini_flask.ipynb loads it
both ways). What changed from step 3's werkzeug version: views are functions registered with
@app.route instead of methods found with getattr; they read the global `request` instead of taking
it as an argument; templates get `url_for` from the framework instead of a lambda we passed in;
Flask's /static route replaces SharedDataMiddleware; a 404 handler replaces the try/except around
matching. The templates and the stylesheet are step 3's own, beside this file (or in $SHORTLY_DIR,
for a copy of this file elsewhere).

    app = create_app({"sqlite_path": "links.sqlite3"})    # or {"redis_url": "redis://..."}
    gunicorn "shortly_app:create_app()"                    # a factory: nothing runs at import
"""

import os
import re
import sqlite3
import tempfile
from contextlib import closing
from urllib.parse import urlsplit

from flask import Flask, abort, redirect, render_template, request, url_for
from werkzeug.routing import BaseConverter

SHORTLY_DIR = os.environ.get("SHORTLY_DIR") or os.path.dirname(os.path.abspath(__file__))
BASE36_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
MAX_URL_LENGTH = 2048


# -- step 3's pieces, unchanged ----------------------------------------------------------------
def base36_encode(number: int) -> str:
    """0 -> '0', 35 -> 'z', 36 -> '10'."""
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = BASE36_DIGITS[digit] + digits
        if number == 0:
            return digits


def base36_decode(text: str) -> int:
    if not re.fullmatch("[0-9a-z]{1,12}", text):
        raise ValueError(f"not a base-36 id: {text!r}")
    return int(text, 36)


def validate_url(text: str) -> str | None:
    """None if `text` is an http(s) URL worth shortening, else a message for the user."""
    if not text:
        return "Please enter a URL."
    if len(text) > MAX_URL_LENGTH:
        return f"That URL is {len(text):,} characters long; the limit is {MAX_URL_LENGTH:,}."
    if any(char.isspace() or not char.isprintable() for char in text):
        return "A URL cannot contain spaces or control characters."
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return "That is not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "Only http:// and https:// URLs can be shortened."
    if not host:
        return "That URL has no host name."
    return None


class SqliteStorage:
    """Short links in one SQLite file; a connection per operation, so any thread may call it."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS urls (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "url TEXT NOT NULL UNIQUE, clicks INTEGER NOT NULL DEFAULT 0)"
            )

    def _connect(self):
        return closing(sqlite3.connect(self.path, timeout=10, isolation_level=None))

    def insert_url(self, url: str) -> str:
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO urls (url) VALUES (?)", (url,))
            (number,) = db.execute("SELECT id FROM urls WHERE url = ?", (url,)).fetchone()
        return base36_encode(number)

    def _column(self, short_id: str, column: str):
        with self._connect() as db:
            row = db.execute(
                f"SELECT {column} FROM urls WHERE id = ?", (base36_decode(short_id),)
            ).fetchone()
        return row[0] if row else None

    def get_url(self, short_id: str) -> str | None:
        return self._column(short_id, "url")

    def get_clicks(self, short_id: str) -> int:
        return self._column(short_id, "clicks") or 0

    def increment_clicks(self, short_id: str) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE urls SET clicks = clicks + 1 WHERE id = ?", (base36_decode(short_id),)
            )


class RedisStorage:
    """Short links in a Redis server, with the werkzeug tutorial's keys (under a prefix)."""

    def __init__(self, url: str, prefix: str = "shortly:") -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self.prefix = prefix

    def insert_url(self, url: str) -> str:
        reverse_key = self.prefix + "reverse-url:" + url
        if (known := self.redis.get(reverse_key)) is not None:
            return known
        short_id = base36_encode(self.redis.incr(self.prefix + "last-url-id"))
        self.redis.set(self.prefix + "url-target:" + short_id, url)
        if not self.redis.set(reverse_key, short_id, nx=True):  # another thread was quicker
            return self.redis.get(reverse_key)
        return short_id

    def get_url(self, short_id: str) -> str | None:
        return self.redis.get(self.prefix + "url-target:" + short_id)

    def increment_clicks(self, short_id: str) -> None:
        self.redis.incr(self.prefix + "click-count:" + short_id)

    def get_clicks(self, short_id: str) -> int:
        return int(self.redis.get(self.prefix + "click-count:" + short_id) or 0)


class Base36Converter(BaseConverter):
    """A URL part made of 0-9 and a-z, at most 12 of them."""

    regex = "[0-9a-z]{1,12}"


# -- the app, on Flask's API ---------------------------------------------------------------------
def create_app(config: dict | None = None) -> Flask:
    """Shortly, configured. Keys: redis_url (default: $REDIS_URL), sqlite_path (default: a new
    file in a temporary folder)."""
    config = dict(config or {})
    app = Flask(
        __name__,
        template_folder=os.path.join(SHORTLY_DIR, "templates"),
        static_folder=os.path.join(SHORTLY_DIR, "static"),
    )
    app.url_map.converters["base36"] = Base36Converter  # before the rules that use it
    redis_url = config.get("redis_url", os.environ.get("REDIS_URL"))
    if redis_url:
        storage = RedisStorage(redis_url)
    else:
        storage = SqliteStorage(
            config.get("sqlite_path")
            or os.path.join(tempfile.mkdtemp(prefix="shortly-"), "shortly.sqlite3")
        )
    app.config["STORAGE"] = storage

    @app.route("/", methods=["GET", "POST"])
    def new_url():
        error, url = None, ""
        if request.method == "POST":
            url = request.form.get("url", "").strip()
            error = validate_url(url)
            if error is None:
                short_id = storage.insert_url(url)
                return redirect(url_for("short_link_details", short_id=short_id))
        return render_template("new_url.html", error=error, url=url), 400 if error else 200

    @app.route("/<base36:short_id>")
    def follow_short_link(short_id: str):
        link_target = storage.get_url(short_id)
        if link_target is None:
            abort(404)
        storage.increment_clicks(short_id)
        return redirect(link_target, 302)

    @app.route("/<base36:short_id>+")
    def short_link_details(short_id: str):
        link_target = storage.get_url(short_id)
        if link_target is None:
            abort(404)
        return render_template(
            "short_link_details.html",
            short_id=short_id,
            link_target=link_target,
            link_host=urlsplit(link_target).hostname,
            click_count=storage.get_clicks(short_id),
        )

    @app.errorhandler(404)
    def not_found(error):
        return render_template("404.html"), 404

    return app
