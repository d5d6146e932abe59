"""A small Flask app: a shelf of books, as HTML and as JSON.

It imports Flask and nothing else of it, so the very same file runs on Flask and on the course's
mini-Flask (notebooks/04_mini_flask.ipynb loads it both ways and compares every answer).
"""

from flask import Flask, abort, g, jsonify, redirect, render_template, request, url_for

app = Flask(__name__)
app.config.from_mapping(SHELF_NAME="My shelf")

BOOKS = {1: {"title": "Dune", "year": 1965}, 2: {"title": "Neuromancer", "year": 1984}}


@app.before_request
def who_is_asking():
    g.reader = request.headers.get("X-Reader", "guest")  # g lives for this request only


@app.after_request
def count_books(response):
    response.headers["X-Books"] = str(len(BOOKS))
    return response


@app.route("/")
def index():
    return redirect(url_for("shelf"))


@app.route("/books/", methods=["GET", "POST"])
def shelf():
    if request.method == "POST":  # a form: title and year
        book_id = max(BOOKS) + 1
        BOOKS[book_id] = {"title": request.form["title"], "year": int(request.form["year"])}
        return redirect(url_for("book", book_id=book_id), 303)
    return render_template("shelf.html", books=BOOKS)


@app.route("/books/<int:book_id>")
def book(book_id):
    if book_id not in BOOKS:
        abort(404)
    return render_template("book.html", book=BOOKS[book_id], book_id=book_id)


@app.route("/api/books", methods=["GET", "POST"])
def api_books():
    if request.method == "POST":  # JSON: {"title": ..., "year": ...}
        data = request.get_json()
        book_id = max(BOOKS) + 1
        BOOKS[book_id] = {"title": str(data["title"]), "year": int(data["year"])}
        return (
            {"id": book_id, **BOOKS[book_id]},
            201,
            {"Location": url_for("book", book_id=book_id)},
        )
    return jsonify(books=[{"id": k, **v} for k, v in sorted(BOOKS.items())])


@app.errorhandler(404)
def not_found(error):
    return render_template("404.html", path=request.path), 404


@app.errorhandler(KeyError)
def missing_field(error):
    return {"error": f"missing field {error.args[0]}"}, 400


@app.errorhandler(ValueError)
def bad_value(error):
    return {"error": str(error)}, 400
