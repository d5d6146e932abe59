"""Step 6 lab: the reference answers pass every test, visible and hidden; every visible test has a
title and a hint; the hidden fuzz sets are as large as issue 17 asks; each attack works against the
unfixed code; and plausible wrong answers are caught, each with a message that points at the
mistake (checked on check()'s own printed output).

The tests run in this process, without a kernel, as lab_runs.py says.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
from pathlib import Path

import pytest
from conftest import ROOT
from lab_runs import cell_of, check_output, defined_tests

from socket2flask.grading.notebook import grading, load_answers, read, strip_hidden
from socket2flask.labtools import step6

SOLUTION = ROOT / "solutions" / "06_flask_security_lab.ipynb"
LAB = ROOT / "labs" / "06_flask_security_lab.ipynb"
QUESTIONS = ("q1", "q2", "q3", "q4", "q5", "q6", "q7")


def report(question: str, changes=(), hidden: bool = False, path=SOLUTION) -> str:
    """What check(question) prints after its answer cell is run with `changes`, a list of (text in
    the reference answer, what the learner wrote instead); with `hidden`, the hidden tests too."""
    in_answer = [(f"{question}_answer", right, wrong) for right, wrong in changes]
    return check_output(path, question, in_answer, hidden)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_reference_answers_pass_every_test(question):
    text = report(question, hidden=True)
    assert text.startswith(f"{question}: passed ✓"), text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_generated_lab_says_not_answered_yet(question):
    assert report(question, path=LAB).startswith(f"{question}: not answered yet."), question


def test_seven_questions_worth_100_points_each_with_visible_and_hidden_tests():
    graded = [c for c in read(SOLUTION).cells if grading(c).get("grade")]
    assert [grading(c)["grade_id"] for c in graded] == list(QUESTIONS)
    assert sum(grading(c)["points"] for c in graded) == 100
    for cell in graded:
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert "def test_" in visible and "def test_" in hidden, grading(cell)["grade_id"]


def test_every_test_has_a_title_and_every_visible_test_a_hint():
    """The grader names a failed hidden test by its title; check() shows a visible test's hint."""
    missing = []
    for question in QUESTIONS:
        source = cell_of(SOLUTION, question)
        visible = {f.name for f in defined_tests(strip_hidden(source))}
        for function in defined_tests(source):
            doc = ast.get_docstring(function) or ""
            if not doc.strip():
                missing.append(f"{question} {function.name}: no title")
            elif function.name in visible and "\nHint: " not in doc:
                missing.append(f"{question} {function.name}: no Hint: paragraph")
    assert not missing, missing


def _constant(question: str, name: str) -> list:
    """A list literal the test cell of `question` assigns to `name`."""
    for node in ast.parse(cell_of(SOLUTION, question)).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == name:
            return ast.literal_eval(node.value)
    raise LookupError(name)


def test_the_hidden_fuzz_sets_are_as_large_as_issue_17_asks():
    payloads, attacks = _constant("q4", "HIDDEN_PAYLOADS"), _constant("q5", "HIDDEN_ATTACKS")
    origins = _constant("q3", "HIDDEN_ORIGINS")
    assert len(set(payloads)) == len(payloads) >= 30
    assert len(set(attacks)) == len(attacks) >= 20
    assert len(set(origins)) == len(origins) >= 10
    # the shapes issue 17 names, in the hidden sets or the visible tests of the same question
    q4, q5 = cell_of(SOLUTION, "q4"), cell_of(SOLUTION, "q5")
    for shape in ("vbscript:", "data:", "JAVASCRIPT:", r"\x01", r"\t", "&#x6A;", "%6A"):
        assert shape in q4, shape
    for shape in ("//evil", r"/\\evil", r"\\\\evil", "/%2F%2Fevil", "/%5Cevil", "https:evil"):
        assert shape in q5, shape
    assert "http://evil" in q5 and "https://shortly.test@evil" in q5
    hidden_q1 = cell_of(SOLUTION, "q1").partition("### BEGIN HIDDEN TESTS")[2]
    for tampering in ("bit_flips", "truncations", "reorderings", 'b"not " + key', "1690000020"):
        assert tampering in hidden_q1, tampering


def test_the_tampering_tools_make_what_they_say():
    token = "YWxpY2U.1700000000.miUsxff9htxcMRvvqVq3OM7oGTF8RRDMHMK8Zn7Zvuo"
    flips = step6.bit_flips(token)
    assert len(flips) == 7 * len(token) and token not in flips
    assert all(sum(a != b for a, b in zip(flip, token)) == 1 for flip in flips)
    pieces = step6.truncations(token)
    assert len(pieces) == 2 * len(token) - 1 and token not in pieces
    signature, other = token.rpartition(".")[2], step6.respelled(token).rpartition(".")[2]
    assert other != signature and base64.urlsafe_b64decode(other + "=") == (
        base64.urlsafe_b64decode(signature + "=")
    )
    assert sorted(step6.reorderings(token)) == sorted(
        ".".join(order)
        for order in (
            ("1700000000", "YWxpY2U", token[19:]),
            ("1700000000", token[19:], "YWxpY2U"),
            ("YWxpY2U", token[19:], "1700000000"),
            (token[19:], "YWxpY2U", "1700000000"),
            (token[19:], "1700000000", "YWxpY2U"),
        )
    )


def test_each_attack_works_against_the_unfixed_code():
    """The lab's attacks are real: the given unsafe page runs the payloads, an unchecked redirect
    leaves the site, a form without protection takes a cross-origin POST."""
    with contextlib.redirect_stdout(io.StringIO()):
        answers = load_answers(SOLUTION)
    render_unsafe = answers["render_unsafe"]
    payloads = _constant("q4", "HIDDEN_PAYLOADS")
    comments = [{"author": p, "website": p, "text": p} for p in payloads]
    flagged = [c for c in comments if step6.xss_problems(render_unsafe, [c])]
    assert len(flagged) >= 30, [c["text"] for c in comments if c not in flagged]
    assert step6.xss_problems(answers["render_comments"], comments) == []
    for attack in ("//evil.test", "https://evil.test/login", "https://shortly.test@evil.test"):
        assert not step6.follow_next(lambda target: True, attack).startswith(step6.SHORTLY + "/")
        assert step6.follow_next(answers["is_safe_redirect"], attack) == step6.SHORTLY + "/"
    for protect, status in ((unprotected, 200), (answers["csrf_protect"], 403)):
        client = step6.transfer_app(protect).test_client()
        client.get("/transfer")
        answer = client.post("/transfer", data={"to": "mallory"}, headers={"Origin": "null"})
        assert answer.status_code == status


def unprotected(app):
    """The form's app as it was before q3: a csrf_token() for its template, and no check."""
    app.jinja_env.globals["csrf_token"] = lambda: "none"
    return app


def test_labtools_step6_stays_within_the_size_of_a_module_a_learner_reads():
    assert len(Path(step6.__file__).read_text(encoding="utf-8").splitlines()) <= 300


# Plausible wrong answers: what the learner did -> (question, [(right text, wrong text), ...],
# what check() must print, so that the learner is told what went wrong).
COMPARE = 'if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8")):'
LOOP = """    while True:
        if not target.startswith("/") or target.startswith("//") or "\\\\" in target:
            return False
        if any(char.isspace() or not char.isprintable() for char in target):
            return False
        decoded = unquote(target)
        if decoded == target:
            return True
        target = decoded  # shorter each round: the loop ends"""
ONCE = """    for text in (target, unquote(target)):
        if not text.startswith("/") or text.startswith("//") or "\\\\" in text:
            return False
        if any(char.isspace() or not char.isprintable() for char in text):
            return False
    return True"""
WRONG = {
    # q1 mac, sign, verify
    "q1: == instead of compare_digest": (
        "q1",
        [(COMPARE, "if signature != expected:")],
        "verify's decision did not come from hmac.compare_digest",
    ),
    "q1: compare_digest called, its answer ignored": (
        "q1",
        [
            (
                COMPARE,
                'hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8"))\n'
                "    if signature != expected:",
            )
        ],
        "verify's decision did not come from hmac.compare_digest",
    ),
    "q1: compare_digest on str": (
        "q1",
        [(COMPARE, "if not hmac.compare_digest(signature, expected):")],
        "encode both sides to bytes",
    ),
    "q1: the timestamp not signed": (
        "q1",
        [
            (
                'return f"{payload}.{mac(payload, key)}"',
                "return f\"{payload}.{mac(payload.split('.')[0], key)}\"",
            ),
            ("expected = mac(payload, key)", 'expected = mac(payload.split(".")[0], key)'),
        ],
        "the TIMESTAMP is inside what the MAC covers",
    ),
    "q1: the signature decoded, bytes compared": (
        "q1",
        [
            (
                COMPARE,
                "try:\n        given = b64decode(signature)\n    except ValueError:\n"
                "        return None\n    if not hmac.compare_digest(given, b64decode(expected)):",
            )
        ],
        "decoding it first accepts other spellings",
    ),
    "q1: a token of exactly max_age refused": (
        "q1",
        [("if now - int(timestamp) > max_age:", "if now - int(timestamp) >= max_age:")],
        "refuse when now - TIMESTAMP > max_age",
    ),
    "q1: no expiry": (
        "q1",
        [("    if now - int(timestamp) > max_age:\n        return None  # expired\n", "")],
        "verified 0, 59, 60, 61 and 3600 s later",
    ),
    "q1: the timestamp kept as a float": (
        "q1",
        [("{int(now)}", "{now}")],
        "str(int(now))",
    ),
    # q2 SignedCookieSessions
    "q2: a plain dict for the session": (
        "q2",
        [("return SecureCookieSession(data if", "return dict(data if")],
        "return SecureCookieSession(data) from open_session",
    ),
    "q2: no HttpOnly": ("q2", [("httponly=True", "httponly=False")], "httponly=True"),
    "q2: always Secure": (
        "q2",
        [("secure=flask.request.is_secure", "secure=True")],
        "secure=flask.request.is_secure",
    ),
    "q2: never Secure": (
        "q2",
        [("secure=flask.request.is_secure", "secure=False")],
        "a request that came over HTTPS",
    ),
    "q2: a cookie on every response": (
        "q2",
        [
            (
                "        if not session.modified:\n            return  # nothing",
                "        if False:\n            return  # nothing",
            )
        ],
        "return at once if not session.modified",
    ),
    "q2: clear() leaves the cookie": (
        "q2",
        [('response.delete_cookie(name, path="/")\n            return', "pass")],
        "response.delete_cookie",
    ),
    "q2: any JSON taken for a session": (
        "q2",
        [
            (
                "SecureCookieSession(data if isinstance(data, dict) else {})",
                "SecureCookieSession(data)",
            )
        ],
        "not a JSON object",
    ),
    "q2: the real clock": (
        "q2",
        [
            (
                "value = verify(token, key_of(app), self.clock(),",
                "value = verify(token, key_of(app), time.time(),",
            )
        ],
        "self.clock()",
    ),
    # q3 csrf_token, csrf_protect
    "q3: Origin not checked": (
        "q3",
        [
            (
                "if origin is not None and origin != request.host_url",
                "if False and origin != request.host_url",
            )
        ],
        "differs from request.host_url",
    ),
    "q3: origin null let through": (
        "q3",
        [("if origin is not None and origin !=", 'if origin not in (None, "null") and origin !=')],
        "'null': 200",
    ),
    "q3: the origin's end compared with the host": (
        "q3",
        [
            (
                'if origin is not None and origin != request.host_url.rstrip("/"):',
                "if origin is not None and not origin.endswith(request.host):",
            )
        ],
        "'https://localhost': 200",
    ),
    "q3: the Origin checked on POST only": (
        "q3",
        [
            (
                "if origin is not None and origin != request.host_url",
                'if request.method == "POST" and origin is not None and origin != request.host_url',
            )
        ],
        "not only for POST",
    ),
    "q3: the origin written with http://": (
        "q3",
        [
            (
                'origin != request.host_url.rstrip("/")',
                'origin != "http://" + request.host',
            )
        ],
        "take the scheme from the request too",
    ),
    "q3: the form's token read on POST only": (
        "q3",
        [
            (
                'request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")',
                'request.form.get("csrf_token", "") if request.method == "POST" '
                'else request.headers.get("X-CSRF-Token", "")',
            )
        ],
        "for every method in CHANGES",
    ),
    "q3: compare_digest called, its answer ignored": (
        "q3",
        [
            (
                "if not expected or not hmac.compare_digest(given.encode(), expected.encode()):",
                "hmac.compare_digest(given.encode(), expected.encode())\n"
                "        if not expected or given != expected:",
            )
        ],
        "csrf_protect's decision did not come from hmac.compare_digest",
    ),
    "q3: only POST checked": (
        "q3",
        [("if request.method not in CHANGES:", 'if request.method != "POST":')],
        "for every method in CHANGES",
    ),
    "q3: tokens compared with ==": (
        "q3",
        [("not hmac.compare_digest(given.encode(), expected.encode())", "given != expected")],
        "not ==",
    ),
    "q3: a new token for every form": (
        "q3",
        [('    if "csrf_token" not in session:\n        session', "    if True:\n        session")],
        "returns it every time after",
    ),
    "q3: no token in the session lets an empty one through": (
        "q3",
        [("if not expected or not hmac", "if not hmac")],
        "an empty one, no session token",
    ),
    "q3: the header ignored": (
        "q3",
        [
            (
                'request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")',
                'request.form.get("csrf_token", "")',
            )
        ],
        'request.headers.get("X-CSRF-Token")',
    ),
    "q3: csrf_token not given to templates": (
        "q3",
        [('app.jinja_env.globals["csrf_token"] = csrf_token', "pass")],
        "app.jinja_env.globals",
    ),
    "q3: the origin compared with its final slash": (
        "q3",
        [('origin != request.host_url.rstrip("/")', "origin != request.host_url")],
        "without its final",
    ),
    # q4 safe_url, render_comments
    "q4: autoescape left off": (
        "q4",
        [("Environment(autoescape=True)", "Environment(autoescape=False)")],
        "Environment(autoescape=True)",
    ),
    "q4: |safe kept on the text": (
        "q4",
        [("{{ comment.text }}</li>", "{{ comment.text|safe }}</li>")],
        "no |safe on comment.text",
    ),
    "q4: the scheme compared as typed": (
        "q4",
        [('scheme[1].lower() in ("http", "https")', 'scheme[1] in ("http", "https")')],
        "compare the scheme in lower case (HTTP: is http:)",
    ),
    "q4: only whitespace stripped": (
        "q4",
        [("url.strip(C0_AND_SPACE))", "url.strip())")],
        "url.strip(C0_AND_SPACE)",
    ),
    "q4: tabs and newlines kept": (
        "q4",
        [
            (
                'url = re.sub("[\\t\\n\\r]", "", url.strip(C0_AND_SPACE))',
                "url = url.strip(C0_AND_SPACE)",
            )
        ],
        "remove every tab",
    ),
    "q4: only javascript: refused": (
        "q4",
        [('scheme[1].lower() in ("http", "https")', 'scheme[1].lower() != "javascript"')],
        "data:text/html",
    ),
    "q4: a scheme of letters only": (
        "q4",
        [('r"([A-Za-z][A-Za-z0-9+.\\-]*):"', 'r"([A-Za-z]+):"')],
        "web+evil:x",
    ),
    "q4: the href not quoted": (
        "q4",
        [('<a href="{{ link }}">', "<a href={{ link }}>")],
        "elements or attributes that harmless comments do not make",
    ),
    "q4: an empty href for an unsafe website": (
        "q4",
        [('else "#" %}', 'else "" %}')],
        "expected: ['#']",
    ),
    # q5 is_safe_redirect
    "q5: backslashes allowed": (
        "q5",
        [(' or "\\\\" in target:', ":")],
        'refuse when "\\\\" in target (a backslash anywhere)',
    ),
    "q5: not decoded": (
        "q5",
        [("decoded = unquote(target)", "decoded = target")],
        "urllib.parse.unquote",
    ),
    "q5: decoded once only": ("q5", [(LOOP, ONCE)], "until unquote changes nothing"),
    "q5: whitespace allowed": (
        "q5",
        [("char.isspace() or not char.isprintable()", "not char.isprintable()")],
        "str.isspace",
    ),
    "q5: ASCII controls only": (
        "q5",
        [
            (
                "if any(char.isspace() or not char.isprintable() for char in target):",
                "if any(ord(char) <= 0x20 for char in target):",
            )
        ],
        "str.isprintable",
    ),
    "q5: only the first character checked": (
        "q5",
        [(' or target.startswith("//")', "")],
        'starts with a single "/"',
    ),
    # q6 Accounts
    "q6: another message for an unknown name": (
        "q6",
        [
            (
                "stored = self.hashes.get(name, self.dummy_hash)",
                'if name not in self.hashes:\n            raise LoginRefused("No such user.")\n'
                "        stored = self.hashes[name]",
            )
        ],
        "for an unknown name too",
    ),
    "q6: the password kept as it is": (
        "q6",
        [
            (
                "self.hashes[name] = generate_password_hash(password, method=self.hash_method)",
                "self.hashes[name] = password",
            ),
            ("if check_password_hash(stored, password)", "if stored == password"),
        ],
        "never the password",
    ),
    "q6: the hash method ignored": (
        "q6",
        [
            (
                "self.hashes[name] = generate_password_hash(password, method=self.hash_method)",
                "self.hashes[name] = generate_password_hash(password)",
            )
        ],
        "method=self.hash_method",
    ),
    "q6: the lock never ends": (
        "q6",
        [("if now < self.locked_until.get(name, now):", "if name in self.locked_until:")],
        "until self.clock() reaches it",
    ),
    "q6: unknown names not counted": (
        "q6",
        [
            (
                "stored = self.hashes.get(name, self.dummy_hash)",
                "if name not in self.hashes:\n            raise LoginRefused(WRONG)\n"
                "        stored = self.hashes[name]",
            )
        ],
        "whether or not the name is registered",
    ),
    "q6: a success does not reset the count": (
        "q6",
        [("            self.failures.pop(name, None)\n            return", "            return")],
        "a successful login resets",
    ),
    "q6: no fresh count after the lock": (
        "q6",
        [("self.failures[name] = 0  # after the lock", "pass  # after the lock")],
        "starts again from zero failures",
    ),
    "q6: attempts while locked extend the lock": (
        "q6",
        [
            (
                "            raise LoginRefused(LOCKED)",
                "            self.locked_until[name] = now + self.lockout_seconds\n"
                "            raise LoginRefused(LOCKED)",
            )
        ],
        "until self.clock() reaches it",
    ),
    # q7 server_context, tls_handler, fetch
    "q7: conn wrapped, not a duplicate": (
        "q7",
        [
            (
                "context.wrap_socket(conn.dup(), server_side=True)",
                "context.wrap_socket(conn, server_side=True)",
            )
        ],
        "wrap conn.dup(), not conn",
    ),
    "q7: a failed handshake not caught": (
        "q7",
        [("except (ssl.SSLError, OSError):", "except ValueError:")],
        "your handler raised, in the server: SSLError",
    ),
    "q7: only SSLError caught": (
        "q7",
        [("except (ssl.SSLError, OSError):", "except ssl.SSLError:")],
        "a TimeoutError (an OSError) ends the connection",
    ),
    "q7: no time limit on the handshake": (
        "q7",
        [("conn.settimeout(handshake_timeout)  # for", "pass  # for")],
        "conn.settimeout(handshake_timeout) before wrap_socket",
    ),
    "q7: verify=False": (
        "q7",
        [("verify=cafile", "verify=False")],
        "fetch trusts cafile only",
    ),
    "q7: no lowest version": (
        "q7",
        [
            (
                "context.minimum_version = ssl.TLSVersion.TLSv1_2",
                "context.minimum_version = ssl.TLSVersion.TLSv1",
            )
        ],
        "context.minimum_version",
    ),
}


# Right answers that are not the reference's: they must pass every test, visible and hidden.
RIGHT = {
    "q1: the lesson's way, the whole re-signed token compared": (
        "q1",
        [
            (
                COMPARE,
                'if not hmac.compare_digest(f"{payload}.{expected}".encode(), token.encode()):',
            )
        ],
    ),
    "q1: compare_digest imported by name": (
        "q1",
        [
            (
                COMPARE,
                "from hmac import compare_digest\n\n    "
                + COMPARE.replace("hmac.compare_digest", "compare_digest"),
            )
        ],
    ),
    "q3: the origin built from the request's scheme and host": (
        "q3",
        [
            (
                'origin != request.host_url.rstrip("/")',
                'origin != f"{request.scheme}://{request.host}"',
            )
        ],
    ),
    "q3: secrets.compare_digest": (
        "q3",
        [("not hmac.compare_digest(given", "not secrets.compare_digest(given")],
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("what", RIGHT)
def test_other_right_answers_pass_every_test(what):
    question, changes = RIGHT[what]
    text = report(question, changes, hidden=True)
    assert text.startswith(f"{question}: passed ✓"), f"{what}:\n{text}"


def test_every_wrong_or_right_answer_changes_the_reference_answer():
    changed = {what: WRONG[what][:2] for what in WRONG} | RIGHT
    for what, (question, changes) in changed.items():
        answer = cell_of(SOLUTION, f"{question}_answer")
        for right, _ in changes:
            assert answer.count(right) == 1, f"{what}: not once in the answer: {right!r}"


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated")  # wrong answers' own
@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
@pytest.mark.parametrize("what", WRONG)
def test_a_wrong_answer_is_caught_with_a_message_that_helps(what):
    question, changes, shown = WRONG[what]
    text = report(question, changes)
    assert f"{question}: failed ✗" in text, (
        f"the visible tests of {question} let this pass: {what}\n{text}"
    )
    assert shown in text, f"{what}: no {shown!r} in what check() printed:\n{text}"
    assert "Traceback" not in text  # on stdout, nor on stderr (a server thread's)
