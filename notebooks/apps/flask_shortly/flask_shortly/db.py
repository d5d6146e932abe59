"""One SQLite connection per request, kept in `g`: opened by the first query of a request, closed
when its app context ends (teardown), whether the view succeeded or raised. Flask's tutorial does
the same; step 3's Shortly opened a connection per query instead."""

from __future__ import annotations

import sqlite3

from flask import Flask, current_app, g
from werkzeug.security import generate_password_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    id INTEGER PRIMARY KEY, url TEXT NOT NULL, owner TEXT, clicks INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL);
"""


def get_db() -> sqlite3.Connection:
    """This request's connection: the same object for every query until the request ends."""
    if "db" not in g:
        # autocommit (isolation_level=None); wait up to 10 s for another thread's write
        g.db = sqlite3.connect(current_app.config["DATABASE"], timeout=10, isolation_level=None)
        g.db.row_factory = sqlite3.Row  # rows readable by column name: row["url"]
    return g.db


def close_db(error: BaseException | None = None) -> None:
    """Teardown: close the connection this request opened, if it opened one."""
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


def add_user(name: str, password: str) -> None:
    """Create or replace an account; the password is stored only as a salted scrypt hash."""
    get_db().execute(
        "INSERT OR REPLACE INTO users (name, password_hash) VALUES (?, ?)",
        (name, generate_password_hash(password)),
    )


def init_app(app: Flask) -> None:
    """Close each request's connection at teardown; create the tables if they are missing."""
    app.teardown_appcontext(close_db)
    with app.app_context():  # get_db() needs an app context: `g` and `current_app`
        get_db().executescript(SCHEMA)
