"""The auth blueprint, under /auth: log in with a name and a password, log out; and
`login_required`, which sends a visitor to the login page and, once logged in, back where they
were."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from .db import get_db
from .defences import defended

bp = Blueprint("auth", __name__)
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
NOBODY = generate_password_hash("no such user")


def login_required(view: Callable) -> Callable:
    """The view, for a logged-in user; anyone else goes to the login page first."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if "user" in session:
            return view(**kwargs)
        here = url_for(request.endpoint, **kwargs)  # built from our own URL map
        if not defended("redirect"):
            return redirect(url_for("auth.login", next=here))  # UNSAFE: anyone can write ?next=
        session["next"] = here  # kept on our side, where no other site can write it
        return redirect(url_for("auth.login"))

    return wrapped


def after_login() -> str:
    """Where a user who has just logged in goes next."""
    if not defended("redirect"):
        return request.args.get("next") or url_for("links.new_url")  # UNSAFE: any URL at all
    return session.get("next") or url_for("links.new_url")


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        name, password = request.form.get("name", ""), request.form.get("password", "")
        row = get_db().execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        stored = row["password_hash"] if row else NOBODY  # an unknown name costs the same time
        if check_password_hash(stored, password) and row is not None:
            target = after_login()
            session.clear()  # a new session for the new user: nothing of the visitor's is kept
            session["user"] = name
            return redirect(target)
        error = "Wrong name or password."
    return render_template("login.html", error=error), 401 if error else 200


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    return redirect(url_for("links.new_url"))
