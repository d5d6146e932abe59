"""Step 3 lab: the reference answers pass every test, visible and hidden; given code sits in locked
cells, so that answer cells hold only what the learner writes, and Shortly's shared pieces come
from its own modules (notebooks/apps/shortly/), not from copies; and plausible wrong answers are
caught, each with a message that says what to do (checked on check()'s own printed output).

The tests run in this process, without a kernel: the solution's answers and given cells are loaded
with the package's `load_answers`; a wrong answer is run on top, and the question's test cell is
run in that namespace (visible tests only, unless told), with its `check(...)`, exactly as a
learner would see it.
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from conftest import ROOT

from socket2flask.grading.notebook import grading, load_answers, read, strip_hidden, stub_answer
from socket2flask.servers import stop_all

SOLUTION = ROOT / "solutions" / "03_werkzeug_lab.ipynb"
QUESTIONS = ("q1", "q2", "q3", "q4", "q5", "q6", "q7")


def cells() -> list:
    return read(SOLUTION).cells


def question_cell(question: str) -> str:
    return next(c.source for c in cells() if grading(c).get("grade_id") == question)


def lab_namespace(override: str = "") -> dict:
    """The solution's answers and given cells, loaded by `load_answers`, then `override`: code
    that replaces an answer with a wrong one."""
    namespace = load_answers(SOLUTION)
    if override:
        exec(compile(override, "<wrong answer>", "exec", dont_inherit=True), namespace)
    return namespace


def report(question: str, override: str = "", hidden: bool = False) -> str:
    """What check(question) prints after `override`: the visible tests (with `hidden`: all)."""
    namespace = lab_namespace(override)
    source = question_cell(question) if hidden else strip_hidden(question_cell(question))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(source, f"<check {question}>", "exec", dont_inherit=True), namespace)
    finally:
        stop_all()  # a wrong answer may leave a server running: that is its test's business
    return printed.getvalue()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_reference_answers_pass_every_test(question):
    text = report(question, hidden=True)
    assert text.startswith(f"{question}: passed ✓"), text


def test_seven_questions_worth_100_points_each_with_visible_and_hidden_tests():
    graded = [c for c in cells() if grading(c).get("grade")]
    assert [grading(c)["grade_id"] for c in graded] == list(QUESTIONS)
    assert sum(grading(c)["points"] for c in graded) == 100
    for cell in graded:
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert "def test_" in visible and "def test_" in hidden, grading(cell)["grade_id"]


def test_headings_and_answer_cells_look_like_the_other_labs():
    """`## q1 · Title (N points)`; an answer cell holds what the learner writes, with nbgrader's
    `# YOUR CODE HERE`; code the learner only uses is in locked given cells."""
    headings = [c.source.splitlines()[0] for c in cells() if c.source.startswith("## q")]
    assert [h.split(" · ")[0] for h in headings] == [f"## q{n}" for n in range(1, 8)], headings
    given = [c for c in cells() if grading(c).get("locked") and not grading(c).get("grade")]
    assert {grading(c)["grade_id"] for c in given} >= {"given_storage", "given_shortly"}
    assert all(c.source.startswith("# Given:") for c in given if grading(c)["grade_id"] != "setup")
    for cell in cells():
        if grading(cell).get("solution"):
            stub = stub_answer(cell.source)
            assert "# YOUR CODE HERE" in stub, grading(cell)["grade_id"]
            # nothing but imports, constants and the definitions to write (no given class or helper)
            assert "class RedisStorage" not in stub and "def dispatch_request" not in stub
            assert len(stub.splitlines()) <= 40, (grading(cell)["grade_id"], len(stub.splitlines()))


def test_shortlys_shared_pieces_come_from_its_modules_wherever_the_kernel_runs(
    monkeypatch, tmp_path
):
    """The given cells import what the lesson and step 4 share from notebooks/apps/shortly/, found
    through the course's package (`use_app`), not from copies, nor from a guess at the working
    directory: the grader's kernel runs in a temporary folder."""
    code = "\n".join(c.source for c in cells() if c.cell_type == "code")
    for copy in (
        "class RedisStorage",
        "def sqlite_connection",
        "class WerkzeugApp",
        "SHORTLY_DIR =",
    ):
        assert copy not in code, copy
    given = {grading(c)["grade_id"]: c.source for c in cells() if grading(c).get("locked")}
    assert all('use_app("shortly")' in given[name] for name in ("given_storage", "given_shortly"))
    monkeypatch.chdir(tmp_path)
    namespace = lab_namespace()
    import shortly_parts
    import werkzeug_app

    assert namespace["sqlite_connection"] is shortly_parts.sqlite_connection
    assert issubclass(namespace["ShortlyBase"], werkzeug_app.WerkzeugApp)
    assert (shortly_parts.SHORTLY_DIR / "templates" / "layout.html").is_file()


WRONG_IDS = """  # plain INSERT, no UNIQUE(url): the same URL gets a new id each time
class SqliteStorage(SqliteStorage):
    def __init__(self, path):
        self.path = str(path)
        with sqlite_connection(self.path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS urls "
                       "(id INTEGER PRIMARY KEY, url TEXT, clicks INTEGER DEFAULT 0)")
    def insert_url(self, url):
        with sqlite_connection(self.path) as db:
            return to_base36(db.execute("INSERT INTO urls (url) VALUES (?)", (url,)).lastrowid)
"""

# Plausible wrong answers: (question, code run after the reference answers, what check() must say).
WRONG = {
    "q1: any case and length in the converter": (
        "q1",
        """
class Base36Converter(BaseConverter):
    regex = "[0-9a-zA-Z]+"
""",
        ["GET /ABC", "expected: 'NotFound'", "hint:     use a converter whose regex"],
    ),
    "q1: the converter not registered": (
        "q1",
        """
def make_url_map():
    return Map([Rule("/", endpoint="new_url", methods=["GET", "POST"]),
                Rule("/<base36:short_id>", endpoint="follow_short_link", methods=["GET"])])
""",
        ["your code raised LookupError", "hint:     register the converter"],
    ),
    "q1: short links without methods": (
        "q1",
        """
def make_url_map():
    return Map([
        Rule("/", endpoint="new_url", methods=["GET", "POST"]),
        Rule("/<base36:short_id>", endpoint="follow_short_link"),
        Rule("/<base36:short_id>+", endpoint="short_link_details"),
        Rule("/static/<path:filename>", endpoint="static", build_only=True),
    ], converters={"base36": Base36Converter})
""",
        ["DELETE /4c", "methods=['GET']"],
    ),
    "q2: only NotFound caught, without @Request.application": (
        "q2",
        """
def make_dispatcher(url_map, views):
    def app(environ, start_response):
        request = Request(environ)
        try:
            endpoint, values = url_map.bind_to_environ(environ).match()
            response = views[endpoint](request, **values) if endpoint in views else NotFound()
        except NotFound as error:
            response = error
        return response(environ, start_response)
    return app
""",
        ["your code raised MethodNotAllowed", "hint:     wrap matching and the view call"],
    ),
    "q2: every HTTP error answered 404": (
        "q2",
        """
def make_dispatcher(url_map, views):
    @Request.application
    def app(request):
        try:
            endpoint, values = url_map.bind_to_environ(request.environ).match()
            return views[endpoint](request, **values) if endpoint in views else NotFound()
        except HTTPException:
            return NotFound()
    return app
""",
        [
            "POST /page/1",
            "got:      (404, [''])",
            "return that exception as it is, not a NotFound()",
        ],
    ),
    "q2: a missing view raises KeyError": (
        "q2",
        """
def make_dispatcher(url_map, views):
    @Request.application
    def app(request):
        endpoint, values = url_map.bind_to_environ(request.environ).match()
        return views[endpoint](request, **values)
    return app
""",
        [
            "your code raised KeyError: 'missing'",
            "hint:     look the view up with views.get(endpoint)",
        ],
    ),
    "q2: a missing view is a server error": (
        "q2",
        """
from werkzeug.exceptions import InternalServerError
def make_dispatcher(url_map, views):
    @Request.application
    def app(request):
        try:
            endpoint, values = url_map.bind_to_environ(request.environ).match()
            if endpoint not in views:
                raise InternalServerError()
            return views[endpoint](request, **values)
        except HTTPException as error:
            return error
    return app
""",
        ["GET /missing", "got:      500", "hint:     an endpoint with no entry in views is a 404"],
    ),
    "q2: matched without the method": (
        "q2",
        """
def make_dispatcher(url_map, views):
    @Request.application
    def app(request):
        try:
            endpoint, values = url_map.bind("x").match(request.path)
            return views[endpoint](request, **values) if endpoint in views else NotFound()
        except HTTPException as error:
            return error
    return app
""",
        ["POST /page/1", "bind_to_environ"],
    ),
    "q2: values not passed to the view": (
        "q2",
        """
def make_dispatcher(url_map, views):
    @Request.application
    def app(request):
        try:
            endpoint, values = url_map.bind_to_environ(request.environ).match()
            return views[endpoint](request)
        except HTTPException as error:
            return error
    return app
""",
        ["your code raised TypeError", "views[endpoint](request, **values)"],
    ),
    "q3: a naive join": (
        "q3",
        """
def static_files(root, prefix="/static/"):
    @Request.application
    def app(request):
        path = os.path.join(root, request.path[len(prefix):])
        if not os.path.isfile(path):
            return NotFound()
        with open(path, "rb") as file:
            return Response(file.read(), content_type=mimetypes.guess_type(path)[0] or "text/plain")
    return app
""",
        ["GET /static/../secret.txt", "got:      200", "safe_join"],
    ),
    "q3: folders opened": (
        "q3",
        """
def static_files(root, prefix="/static/"):
    @Request.application
    def app(request):
        if request.method not in ("GET", "HEAD"):
            return MethodNotAllowed(valid_methods=["GET", "HEAD"])
        path = safe_join(os.fspath(root), request.path.removeprefix(prefix))
        if path is None or not os.path.exists(path):
            return NotFound()
        with open(path, "rb") as file:
            return Response(file.read(), content_type=mimetypes.guess_type(path)[0] or "text/plain")
    return app
""",
        ["your code raised IsADirectoryError", "hint:     check os.path.isfile(path)"],
    ),
    "q3: safe_join but links followed": (
        "q3",
        """
def static_files(root, prefix="/static/"):
    @Request.application
    def app(request):
        if request.method not in ("GET", "HEAD"):
            return MethodNotAllowed(valid_methods=["GET", "HEAD"])
        if not request.path.startswith(prefix):
            return NotFound()
        path = safe_join(os.fspath(root), request.path[len(prefix):])
        if path is None or not os.path.isfile(path):
            return NotFound()
        with open(path, "rb") as file:
            return Response(file.read(), content_type=mimetypes.guess_type(path)[0] or "text/plain")
    return app
""",
        ["GET /static/innocent.txt", "got:      (200, 'the secret')", "os.path.realpath"],
    ),
    "q4: int(text, 36) trusted": (
        "q4",
        """
def from_base36(text):
    return int(text, 36)
""",
        ["returned 13368 instead of raising ValueError"],
    ),
    "q4: 0 encoded as nothing": (
        "q4",
        """
def to_base36(number):
    if number < 0:
        raise ValueError(number)
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = BASE36_DIGITS[digit] + digits
    return digits
""",
        ["expected: '0'", "0 itself is '0'"],
    ),
    "q4: only the scheme checked": (
        "q4",
        """
def validate_url(text):
    return None if text.startswith(("http://", "https://")) else "Only http(s) URLs."
""",
        ["validate_url('http://') returned None", "hint:     check in the order of the question"],
    ),
    "q5: one connection for all threads": (
        "q5",
        """
class SqliteStorage(SqliteStorage):
    def __init__(self, path):
        super().__init__(path)
        import sqlite3
        self.db = sqlite3.connect(self.path, isolation_level=None)
    def increment_clicks(self, short_id):
        self.db.execute("UPDATE urls SET clicks = clicks + 1 WHERE id = ?",
                        (from_base36(short_id),))
""",
        ["4 threads clicking", "ProgrammingError", "connect in each call"],
    ),
    "q5: ids not kept for the same URL": (
        "q5",
        WRONG_IDS,
        ["insert a, b, a", "got:      ['1', '2', '3']", "UNIQUE(url), INSERT OR IGNORE"],
    ),
    "q5: a malformed id raises": (
        "q5",
        """
class SqliteStorage(SqliteStorage):
    def get_url(self, short_id):
        with sqlite_connection(self.path) as db:
            number = from_base36(short_id)
            row = db.execute("SELECT url FROM urls WHERE id = ?", (number,)).fetchone()
        return row[0] if row else None
""",
        [
            "your code raised ValueError",
            "get_url of an id that from_base36 refuses is None (catch its ValueError)",
        ],
    ),
    "q6: a bad URL answered 200": (
        "q6",
        """
class ShortlyApp(ShortlyApp):
    def new_url(self, request):
        error, url = None, ""
        if request.method == "POST":
            url = request.form.get("url", "").strip()
            error = validate_url(url)
            if error is None:
                return redirect(self.url_for(request, "short_link_details",
                                             short_id=self.storage.insert_url(url)))
        return self.render(request, "new_url.html", error=error, url=url)
""",
        ["POST / url=ftp://example.com/", "render new_url.html with status=400"],
    ),
    "q6: clicks not counted": (
        "q6",
        """
class ShortlyApp(ShortlyApp):
    def follow_short_link(self, request, short_id):
        link_target = self.storage.get_url(short_id)
        if link_target is None:
            raise NotFound()
        return redirect(link_target, code=302)
""",
        ["GET /1+ after 3 clicks", "self.storage.increment_clicks"],
    ),
    "q6: a permanent redirect": (
        "q6",
        """
class ShortlyApp(ShortlyApp):
    def follow_short_link(self, request, short_id):
        link_target = self.storage.get_url(short_id)
        if link_target is None:
            raise NotFound()
        self.storage.increment_clicks(short_id)
        return redirect(link_target, code=301)
""",
        ["got:      (301,", "code=302"],
    ),
    "q6: unknown ids not refused": (
        "q6",
        """
class ShortlyApp(ShortlyApp):
    def short_link_details(self, request, short_id):
        link_target = self.storage.get_url(short_id)
        return self.render(request, "short_link_details.html", short_id=short_id,
                           link_target=link_target, link_host=urlsplit(link_target).hostname,
                           click_count=self.storage.get_clicks(short_id))
""",
        ["GET /zz and /zz+ (unknown)", "got:      (404, 200)", "raise NotFound()"],
    ),
    "q7 after q5's ids not kept for the same URL": (
        "q7",
        WRONG_IDS,
        ["the Location headers", "check q5 (a URL stored before"],
    ),
    "q7 after q5's connection kept for later calls": (
        "q7",
        """
class SqliteStorage(SqliteStorage):
    def insert_url(self, url):
        if not hasattr(self, "db"):
            import sqlite3
            self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("INSERT OR IGNORE INTO urls (url) VALUES (?)", (url,))
        (number,) = self.db.execute("SELECT id FROM urls WHERE url = ?", (url,)).fetchone()
        return to_base36(number)
""",
        [
            "q7 uses your `SqliteStorage` from q5",
            "got:      500",
            "check q5 (an sqlite3 connection",
        ],
    ),
    "q7: redirects followed": (
        "q7",
        """
def answers_both_ways(app, method, path, data=None):
    def essentials(status, headers, body):
        return status, headers.get("Content-Type"), headers.get("Location"), body
    via_client = Client(app).open(path, method=method, data=data)
    with serve(app) as server:
        via_socket = requests.request(method, server.url + path, data=data, timeout=5)
    return {"client": essentials(via_client.status_code, via_client.headers, via_client.get_data()),
            "socket": essentials(via_socket.status_code, via_socket.headers, via_socket.content)}
""",
        ["POST / to Shortly over the socket", "allow_redirects=False"],
    ),
    "q7: every header compared": (
        "q7",
        """
def answers_both_ways(app, method, path, data=None):
    via_client = Client(app).open(path, method=method, data=data)
    with serve(app) as server:
        via_socket = requests.request(method, server.url + path, data=data,
                                      allow_redirects=False, timeout=5)
    return {"client": (via_client.status_code, dict(via_client.headers), via_client.get_data()),
            "socket": (via_socket.status_code, dict(via_socket.headers), via_socket.content)}
""",
        ["the socket's answer also has Date and Server headers"],
    ),
    "q7: the server left running": (
        "q7",
        """
_right = answers_both_ways
def answers_both_ways(app, method, path, data=None):
    serve(app, name="left-running")
    return _right(app, method, path, data)
""",
        ["servers started by answers_both_ways and still running", "with serve(app) as server:"],
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("what", WRONG)
def test_a_wrong_answer_is_caught_with_a_message_that_helps(what):
    question, code, needed = WRONG[what]
    text = report(question, code)
    assert f"{question}: failed ✗" in text, (
        f"the visible tests of {question} let this pass: {what}\n{text}"
    )
    for fragment in needed:
        assert fragment in text, f"{what}: no {fragment!r} in what check() printed:\n{text}"
    assert "Traceback" not in text


# Wrong answers whose failure must not blame another part:
# (question, code, what check() must not say).
NOT_BLAMED = {
    "q6: an unknown id followed is not blamed on new_url": (
        "q6",
        """
class ShortlyApp(ShortlyApp):
    def follow_short_link(self, request, short_id):
        self.storage.increment_clicks(short_id)
        return redirect(self.storage.get_url(short_id) or "/", code=302)
""",
        "store a URL only",
    ),
    "q7: a server-thread error is not blamed on redirects": (
        "q7",
        WRONG["q7 after q5's connection kept for later calls"][1],
        "allow_redirects",
    ),
    "q2: a 404 for every error is not blamed on bind_to_environ": (
        "q2",
        WRONG["q2: every HTTP error answered 404"][1],
        "bind_to_environ",
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("what", NOT_BLAMED)
def test_a_hint_names_the_function_at_fault(what):
    question, code, wrong_blame = NOT_BLAMED[what]
    text = report(question, code)
    assert f"{question}: failed ✗" in text and wrong_blame not in text, f"{what}:\n{text}"


@pytest.mark.timeout(120)
def test_the_hidden_traversal_test_names_the_leaks_first():
    """The grader's gradebook shows the first line of a failure and what came back: for the static
    handler, the paths that leaked must come first."""
    text = report("q3", WRONG["q3: safe_join but links followed"][1], hidden=True)
    hidden = text.split("40+ attacks", 1)[1]
    got = re.search(r"got:\s+(.*)", hidden).group(1)
    assert got.startswith("['GET /static/link.txt: 200 LEAKED THE SECRET'"), text
