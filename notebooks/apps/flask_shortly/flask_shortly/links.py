"""The links blueprint: shorten a URL, follow a short link, its details page, and editing a link
you own. Every route is registered on the app with the blueprint, its endpoints named
"links.<function>"."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from shortly_parts import number_or_none, to_base36

from .auth import login_required
from .db import get_db
from .defences import check_url

bp = Blueprint("links", __name__)


def find_link(short_id: str) -> dict:
    """The link's row as a dict, or a 404 for an id that no link has."""
    number = number_or_none(short_id)
    if number is None:
        abort(404)
    row = get_db().execute("SELECT * FROM links WHERE id = ?", (number,)).fetchone()
    if row is None:
        abort(404)
    return dict(row)


@bp.route("/", methods=["GET", "POST"])
def new_url():
    error, url = None, ""
    if request.method == "POST":
        url = request.form.get("url", "").strip()
        error = check_url(url)
        if error is None:
            cursor = get_db().execute(
                "INSERT INTO links (url, owner) VALUES (?, ?)", (url, session.get("user"))
            )
            return redirect(url_for("links.details", short_id=to_base36(cursor.lastrowid)))
    return render_template("new_url.html", error=error, url=url), 400 if error else 200


@bp.route("/<base36:short_id>")
def follow(short_id: str):
    link = find_link(short_id)
    get_db().execute("UPDATE links SET clicks = clicks + 1 WHERE id = ?", (link["id"],))
    return redirect(link["url"], 302)


@bp.route("/<base36:short_id>+")
def details(short_id: str):
    link = find_link(short_id)
    host = urlsplit(link["url"]).hostname
    return render_template("details.html", short_id=short_id, link=link, host=host)


@bp.route("/<base36:short_id>/edit", methods=["GET", "POST"])
@login_required
def edit(short_id: str):
    link, error = find_link(short_id), None
    if link["owner"] != session["user"]:
        abort(403)
    if request.method == "POST":
        link["url"] = request.form.get("url", "").strip()
        error = check_url(link["url"])
        if error is None:
            get_db().execute("UPDATE links SET url = ? WHERE id = ?", (link["url"], link["id"]))
            return redirect(url_for("links.details", short_id=short_id))
    return render_template("edit.html", short_id=short_id, link=link, error=error)
