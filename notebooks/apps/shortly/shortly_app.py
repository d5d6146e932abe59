"""Shortly, step 3's URL shortener, ported to Flask's API.

The same file runs on Flask and on the course's mini-Flask (notebooks/04_mini_flask.ipynb loads it
both ways). What changed from step 3's werkzeug version: views are functions registered with
@app.route instead of methods found with getattr; they read the global `request` instead of taking
it as an argument; templates get `url_for` from the framework instead of a lambda we passed in;
Flask's /static route replaces SharedDataMiddleware; a 404 handler replaces the try/except around
matching. What did not change comes from shortly_parts.py, beside this file: ids, URL validation,
the converter, the storages, and the folder of step 3's templates and stylesheet.

    app = create_app({"sqlite_path": "links.sqlite3"})    # or {"redis_url": "redis://..."}
    gunicorn "shortly_app:create_app()"                    # a factory: nothing runs at import
"""

from urllib.parse import urlsplit

from flask import Flask, abort, redirect, render_template, request, url_for

from socket2flask.apps import use_app

# Shortly's folder on sys.path, found from the installed course package: this works for a copy of
# this file in another folder too (step 5 copies it where gunicorn's workers import it).
use_app("shortly")
from shortly_parts import (  # noqa: E402 (the folder must be on sys.path first)
    SHORTLY_DIR,
    Base36Converter,
    storage_from_config,
    validate_url,
)


# -- the app, on Flask's API ---------------------------------------------------------------------
def create_app(config: dict | None = None) -> Flask:
    """Shortly, configured. Keys: redis_url (default: $REDIS_URL), sqlite_path (default: a new
    file in a temporary folder)."""
    config = dict(config or {})
    app = Flask(
        __name__,
        template_folder=str(SHORTLY_DIR / "templates"),
        static_folder=str(SHORTLY_DIR / "static"),
    )
    app.url_map.converters["base36"] = Base36Converter  # before the rules that use it
    storage = storage_from_config(config)
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
