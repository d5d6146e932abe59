"""Shortly on Flask itself (step 6): an app factory, configuration in layers, two blueprints, a
SQLite connection per request in `g`, accounts with hashed passwords, and the defences of lesson
06's red-team section, each of which the lesson can switch off to watch its attack work.

    use_app("flask_shortly")                      # this folder on sys.path
    from flask_shortly import create_app
    app = create_app({"SECRET_KEY": "..."})       # every defence on
    flask --app "flask_shortly:create_app()" run --debug   # with SHORTLY_SECRET_KEY set
    gunicorn -w 4 "flask_shortly:create_app()"   # 4 workers, one instance folder, one database

The layout is the Flask tutorial's: a project folder holding the package (this one), whose modules
are db (the connection in `g`), auth and links (the blueprints) and defences, and, beside the
package, the instance folder `instance/` (Flask's default: the settings and the database).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template

from socket2flask.apps import use_app

use_app("shortly")  # step 3's pieces (ids, URL checks, the converter, the stylesheet) on sys.path
from shortly_parts import SHORTLY_DIR, Base36Converter  # noqa: E402 (after use_app)

from . import auth, db, defences, links  # noqa: E402 (they import shortly_parts too)

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": None,  # from settings.py or SHORTLY_SECRET_KEY: never in the code
    "DATABASE": None,  # None: shortly.sqlite3 in the instance folder
    "DEFENCES": list(defences.ALL),  # lesson 06 switches some off to watch an attack work
}


def create_app(config: Mapping[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Shortly, configured in four layers, each overriding the one before: DEFAULTS, the file
    settings.py in the instance folder, environment variables SHORTLY_<KEY> (values read as JSON
    where they parse), and `config`. `instance_path`: the folder of the app's own files, the
    settings and the database (an absolute path). Its default is Flask's: `instance/` beside this
    package, the same for every call, so that the workers of a server (each calls create_app())
    read the same settings and share one database."""
    app = Flask(
        __name__,
        instance_path=instance_path,  # None: Flask's default, ../instance from this package
        instance_relative_config=True,  # from_pyfile reads the instance folder
        static_folder=str(SHORTLY_DIR / "static"),  # step 3's stylesheet
    )
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("settings.py", silent=True)  # silent: the file is optional
    app.config.from_prefixed_env("SHORTLY")  # SHORTLY_SECRET_KEY -> app.config["SECRET_KEY"]
    app.config.from_mapping(config or {})
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("Shortly needs a SECRET_KEY: in settings.py, or SHORTLY_SECRET_KEY")
    os.makedirs(app.instance_path, exist_ok=True)  # for the database (a refused app makes none)
    if not app.config["DATABASE"]:
        app.config["DATABASE"] = f"{app.instance_path}/shortly.sqlite3"

    app.url_map.converters["base36"] = Base36Converter  # before the blueprints' rules use it
    db.init_app(app)
    defences.init_app(app)
    app.register_blueprint(links.bp)
    app.register_blueprint(auth.bp, url_prefix="/auth")

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_template("404.html"), 404

    return app
