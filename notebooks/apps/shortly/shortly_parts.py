"""Shortly's pieces that do not depend on a web framework: base 36 ids, URL validation, the URL
converter, and three storages with the same four methods (in memory, in SQLite, in Redis).

Step 3 (notebooks/03_werkzeug.ipynb) explains each piece and builds Shortly on werkzeug with them;
step 4's port to Flask's API (shortly_app.py, beside this file) imports them unchanged. A notebook
imports this module by its own name after `socket2flask.apps.use_app("shortly")`.

The storage interface, as every Shortly view uses it:

    insert_url(url) -> str          the id of `url`: ids 1, 2, ... in base 36; a URL stored
                                    before gets its old id back
    get_url(short_id) -> str|None   the URL, or None for an unknown or malformed id
    increment_clicks(short_id)      one more click, never lost when threads race
    get_clicks(short_id) -> int     the clicks so far; 0 for an unknown or malformed id

storage_from_config(config) picks one the way every Shortly's create_app(config) does.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import threading
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.routing import BaseConverter

SHORTLY_DIR = Path(__file__).resolve().parent  # Shortly's templates/ and static/ are here
BASE36_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
MAX_URL_LENGTH = 2048  # what most browsers and servers accept in a URL


# -- ids -----------------------------------------------------------------------------------------
class Base36Converter(BaseConverter):
    """A URL part that is a Shortly id, 1 to 12 characters of 0-9 and a-z; the view receives it
    as a str. Anything else matches no rule: a 404 before any view runs."""

    regex = "[0-9a-z]{1,12}"


def to_base36(number: int) -> str:
    """0 -> '0', 35 -> 'z', 36 -> '10'; ValueError for a negative number."""
    if number < 0:
        raise ValueError(f"to_base36 needs a number >= 0, got {number}")
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = BASE36_DIGITS[digit] + digits
        if number == 0:
            return digits


def from_base36(text: str) -> int:
    """The number of an id: ValueError for anything but what Base36Converter accepts (1 to 12
    characters of 0-9a-z). int(text, 36) alone would accept " 1", "1_0" and "Z"; and in a regular
    expression, $ also matches before a final newline: re.fullmatch checks the whole text."""
    if not isinstance(text, str) or not re.fullmatch(Base36Converter.regex, text):
        raise ValueError(f"not a base-36 id: {text!r}")
    return int(text, 36)


# -- what users type ---------------------------------------------------------------------------
def validate_url(text: str) -> str | None:
    """None if `text` is an http(s) URL worth shortening, else a message for the user."""
    if not text:
        return "Please enter a URL."
    if len(text) > MAX_URL_LENGTH:
        return f"That URL is {len(text):,} characters long; the limit is {MAX_URL_LENGTH:,}."
    # urlsplit silently drops tabs and newlines: refuse them before it sees them
    if any(char.isspace() or not char.isprintable() for char in text):
        return "A URL cannot contain spaces or control characters."
    try:
        parts = urlsplit(text)
        host = parts.hostname  # raises ValueError too, for a bad [IPv6] address
    except ValueError:
        return "That is not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "Only http:// and https:// URLs can be shortened."
    if not host:
        return "That URL has no host name."
    return None


def number_or_none(short_id: str) -> int | None:
    """The number of a well-formed id, None for anything else (no stored link has that id)."""
    try:
        return from_base36(short_id)
    except ValueError:
        return None


# -- storages ------------------------------------------------------------------------------------
class MemoryStorage:
    """Short links in two dicts, for one process; a lock makes each operation atomic."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.ids: dict[str, str] = {}  # url -> id: the same URL gets the same id
        self.clicks: dict[str, int] = {}
        self.lock = threading.Lock()  # the server runs each request in a thread of its own

    def insert_url(self, url: str) -> str:
        with self.lock:
            if url not in self.ids:
                short_id = to_base36(len(self.urls) + 1)
                self.urls[short_id] = url
                self.ids[url] = short_id
            return self.ids[url]

    def get_url(self, short_id: str) -> str | None:
        return self.urls.get(short_id)

    def increment_clicks(self, short_id: str) -> None:
        with self.lock:  # read, add one, write back: another thread must not come in between
            self.clicks[short_id] = self.clicks.get(short_id, 0) + 1

    def get_clicks(self, short_id: str) -> int:
        return self.clicks.get(short_id, 0)


def sqlite_connection(path: str | Path) -> closing:
    """A new connection to the SQLite file `path`, closed after its `with` block. Autocommit
    (isolation_level=None): each statement is saved at once; timeout: wait up to 10 s for
    another thread's write instead of failing."""
    return closing(sqlite3.connect(path, timeout=10, isolation_level=None))


class SqliteStorage:
    """Short links in one SQLite file. An sqlite3 connection belongs to the thread that made it,
    and the server is threaded: each operation opens a connection of its own."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with sqlite_connection(self.path) as db:
            # INTEGER PRIMARY KEY numbers rows 1, 2, ...; without AUTOINCREMENT, an insert that
            # is ignored uses up no number. UNIQUE(url): the database keeps one row per URL.
            db.execute(
                "CREATE TABLE IF NOT EXISTS urls (id INTEGER PRIMARY KEY, "
                "url TEXT NOT NULL UNIQUE, clicks INTEGER NOT NULL DEFAULT 0)"
            )

    def insert_url(self, url: str) -> str:
        with sqlite_connection(self.path) as db:
            # threads inserting the same URL at once: one row wins, every thread reads its id
            db.execute("INSERT OR IGNORE INTO urls (url) VALUES (?)", (url,))
            (number,) = db.execute("SELECT id FROM urls WHERE url = ?", (url,)).fetchone()
        return to_base36(number)

    def _read(self, column: str, short_id: str) -> str | int | None:
        """One column of the row of `short_id`; None when there is no such row."""
        number = number_or_none(short_id)
        if number is None:
            return None
        with sqlite_connection(self.path) as db:
            # `column` comes from this class, never from a user: only values take placeholders
            row = db.execute(f"SELECT {column} FROM urls WHERE id = ?", (number,)).fetchone()
        return None if row is None else row[0]

    def get_url(self, short_id: str) -> str | None:
        return self._read("url", short_id)

    def increment_clicks(self, short_id: str) -> None:
        number = number_or_none(short_id)
        if number is None:
            return
        with sqlite_connection(self.path) as db:  # one statement: no click lost between threads
            db.execute("UPDATE urls SET clicks = clicks + 1 WHERE id = ?", (number,))

    def get_clicks(self, short_id: str) -> int:
        return self._read("clicks", short_id) or 0


class RedisStorage:
    """Short links in a Redis server, with the werkzeug tutorial's keys (under a prefix)."""

    def __init__(self, url: str, prefix: str = "shortly:") -> None:
        import redis  # only when Redis is used: the other storages need no Redis client

        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self.prefix = prefix

    def insert_url(self, url: str) -> str:
        reverse_key = self.prefix + "reverse-url:" + url
        known = self.redis.get(reverse_key)
        if known is not None:
            return known
        short_id = to_base36(self.redis.incr(self.prefix + "last-url-id"))
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

    def close(self) -> None:
        self.redis.close()


def storage_from_config(config: dict, sqlite_storage: type = SqliteStorage):
    """The storage a Shortly config asks for: Redis at config["redis_url"] (default: the
    environment variable REDIS_URL; None: no Redis), else `sqlite_storage` (lab 03 passes yours)
    on the file config["sqlite_path"] (default: a new file in a new temporary folder)."""
    redis_url = config.get("redis_url", os.environ.get("REDIS_URL"))
    if redis_url:
        return RedisStorage(redis_url)
    path = config.get("sqlite_path")
    if not path:
        path = Path(tempfile.mkdtemp(prefix="shortly-")) / "shortly.sqlite3"
    return sqlite_storage(path)
