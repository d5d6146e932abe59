"""Wrong answers to lab 03 (werkzeug and Shortly), as learners write them."""

from mutants import Mutant

MUTANTS = [
    # q1: the URL map
    Mutant(
        "q1_regex_star",
        "q1_answer",
        old='regex = "[0-9a-z]{1,12}"',
        new='regex = "[0-9a-z]*"',
        why="`*` for `+`, and no length: an empty id matches, so /+ reaches the details view",
    ),
    Mutant(
        "q1_details_any_method",
        "q1_answer",
        old='Rule("/<base36:short_id>+", endpoint="short_link_details", methods=["GET"]),',
        new='Rule("/<base36:short_id>+", endpoint="short_link_details"),',
        why="methods only on the first short-link rule: PUT /1+ reaches the details view",
    ),
    # q2: the dispatcher
    Mutant(
        "q2_every_error_a_404",
        "q2_answer",
        old="        except HTTPException as error:\n            return error",
        new="        except HTTPException:\n            return NotFound()",
        why="answers 404 to every HTTP error: a wrong method is 404 instead of 405",
    ),
    Mutant(
        "q2_bugs_become_500",
        "q2_answer",
        old="        except HTTPException as error:\n            return error",
        new="        except HTTPException as error:\n            return error\n"
        "        except Exception:   # never crash\n"
        "            from werkzeug.exceptions import InternalServerError\n"
        "            return InternalServerError()",
        why="catches too much: a bug in a view is hidden behind a 500",
    ),
    # q3: static files
    Mutant(
        "q3_unknown_type_text_plain",
        "q3_answer",
        old='or "application/octet-stream"',
        new='or "text/plain"',
        why="a file of unknown type is labelled text/plain, not application/octet-stream",
    ),
    Mutant(
        "q3_no_prefix_check",
        "q3_answer",
        old="        if not request.path.startswith(prefix):\n            return NotFound()\n",
        new="",
        why="slices the prefix off without checking it: /public/hello.txt serves static/hello.txt",
    ),
    Mutant(
        "q3_read_then_check_the_link",
        "q3_answer",
        old="        if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:\n"
        "            return NotFound()   # a symbolic link that leads out of the root\n"
        '        with open(path, "rb") as file:\n'
        "            body = file.read()\n",
        new='        with open(path, "rb") as file:\n'
        "            body = file.read()\n"
        "        if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:\n"
        "            return NotFound()   # a symbolic link that leads out of the root\n",
        why="reads the file first, then checks where the link led: the secret was opened",
    ),
    Mutant(
        "q3_method_not_checked",
        "q3_answer",
        old='        if request.method not in ("GET", "HEAD"):\n'
        '            return MethodNotAllowed(valid_methods=["GET", "HEAD"])\n',
        new="",
        why="forgets the method: POST serves the file",
    ),
    # q4: base 36 and URLs
    Mutant(
        "q4_encode_zero_empty",
        "q4_answer",
        old="    while True:\n        number, digit = divmod(number, 36)\n"
        "        digits = BASE36_DIGITS[digit] + digits\n"
        "        if number == 0:\n            return digits",
        new="    while number > 0:\n        number, digit = divmod(number, 36)\n"
        "        digits = BASE36_DIGITS[digit] + digits\n    return digits",
        why="the usual loop: 0 is encoded as ''",
    ),
    Mutant(
        "q4_decode_dollar_anchor",
        "q4_answer",
        old='re.fullmatch("[0-9a-z]{1,12}", text)',
        new='re.match("^[0-9a-z]{1,12}$", text)',
        why="`$` also matches before a final newline: '1\\n' is accepted",
    ),
    Mutant(
        "q4_decode_any_length",
        "q4_answer",
        old='re.fullmatch("[0-9a-z]{1,12}", text)',
        new='re.fullmatch("[0-9a-z]+", text)',
        why="forgets the 12-character limit of an id",
    ),
    Mutant(
        "q4_url_length_off_by_one",
        "q4_answer",
        old="if len(text) > MAX_URL_LENGTH:",
        new="if len(text) >= MAX_URL_LENGTH:",
        why="off by one: a URL of exactly MAX_URL_LENGTH characters is refused",
    ),
    Mutant(
        "q4_only_spaces_refused",
        "q4_answer",
        old="if any(char.isspace() or not char.isprintable() for char in text):",
        new='if " " in text:',
        why="refuses spaces only: tabs, newlines and NUL pass (urlsplit silently drops some)",
    ),
    Mutant(
        "q4_urlsplit_not_guarded",
        "q4_answer",
        old="    try:\n        parts = urlsplit(text)\n        host = parts.hostname\n"
        "    except ValueError:\n"
        '        return "That is not a valid URL."\n',
        new="    parts = urlsplit(text)\n    host = parts.hostname\n",
        why="trusts urlsplit: an unclosed [ in the host raises ValueError instead of a message",
    ),
    # q5: SQLite storage
    Mutant(
        "q5_ids_in_decimal",
        "q5_answer",
        old="        return to_base36(number)",
        new="        return str(number)",
        why="forgets to encode the row id: the 10th URL gets '10', not 'a'",
    ),
    Mutant(
        "q5_one_connection_kept",
        "q5_answer",
        old="        with sqlite_connection(self.path) as db:"
        "   # one statement: atomic, whatever the threads do\n"
        "            db.execute(",
        new='        if not hasattr(self, "db"):   # connect once, reuse it\n'
        "            import sqlite3\n"
        "            self.db = sqlite3.connect(self.path, isolation_level=None)\n"
        "        if True:\n"
        "            self.db.execute(",
        why="a connection shared by the server's threads: sqlite3 refuses it in other threads",
    ),
    Mutant(
        "q5_insert_connection_kept",
        "q5_answer",
        old="        with sqlite_connection(self.path) as db:\n"
        '            db.execute("INSERT OR IGNORE INTO urls (url) VALUES (?)", (url,))\n'
        '            (number,) = db.execute("SELECT id FROM urls WHERE url = ?", (url,))'
        ".fetchone()",
        new='        if not hasattr(self, "db"):   # connect once, reuse it\n'
        "            import sqlite3\n"
        "            self.db = sqlite3.connect(self.path, isolation_level=None)\n"
        '        self.db.execute("INSERT OR IGNORE INTO urls (url) VALUES (?)", (url,))\n'
        '        (number,) = self.db.execute("SELECT id FROM urls WHERE url = ?", (url,))'
        ".fetchone()",
        why="insert_url keeps the connection of the first thread that called it: the server's "
        "other threads fail, and q7's socket answers 500 where the test client got a 302",
    ),
    Mutant(
        "q5_clicks_of_a_malformed_id_raise",
        "q5_answer",
        old="        try:\n            number = from_base36(short_id)\n"
        "        except ValueError:\n"
        "            return 0\n        with sqlite_connection(self.path) as db:\n"
        '            row = db.execute("SELECT clicks',
        new="        number = from_base36(short_id)\n"
        "        with sqlite_connection(self.path) as db:\n"
        '            row = db.execute("SELECT clicks',
        why="get_clicks lets from_base36's ValueError escape for a malformed id",
    ),
    Mutant(
        "q5_autoincrement",
        "q5_answer",
        old='"CREATE TABLE IF NOT EXISTS urls (id INTEGER PRIMARY KEY, "',
        new='"CREATE TABLE IF NOT EXISTS urls (id INTEGER PRIMARY KEY AUTOINCREMENT, "',
        why="AUTOINCREMENT counts the ignored insert of a URL stored again: "
        "the next new URL skips an id",
    ),
    Mutant(
        "q5_sql_by_formatting",
        "q5_answer",
        old='db.execute("INSERT OR IGNORE INTO urls (url) VALUES (?)", (url,))',
        new="db.execute(f\"INSERT OR IGNORE INTO urls (url) VALUES ('{url}')\")",
        why="formats the URL into the SQL: a quote in the URL breaks the statement",
    ),
    # q6: the views
    Mutant(
        "q6_url_not_stripped",
        "q6_answer",
        old='url = request.form.get("url", "").strip()',
        new='url = request.form.get("url", "")',
        why="forgets to strip the field: a URL pasted with a space around it is refused",
    ),
    Mutant(
        "q6_form_field_indexed",
        "q6_answer",
        old='url = request.form.get("url", "").strip()',
        new='url = request.form["url"].strip()',
        why="request.form['url']: a form without the field is werkzeug's bare 400, "
        "without the message",
    ),
    Mutant(
        "q6_follow_unknown_id",
        "q6_answer",
        old="        link_target = self.storage.get_url(short_id)\n"
        "        if link_target is None:\n"
        "            raise NotFound()\n        self.storage.increment_clicks(short_id)",
        new="        link_target = self.storage.get_url(short_id)\n"
        "        self.storage.increment_clicks(short_id)",
        why="follows an unknown id: redirect(None) crashes instead of a 404",
    ),
    Mutant(
        "q6_permanent_redirect",
        "q6_answer",
        old="return redirect(link_target, code=302)",
        new="return redirect(link_target, code=301)",
        why="a 301: browsers cache it and skip the counter",
    ),
    # q7: both ways
    Mutant(
        "q7_body_as_text",
        "q7_answer",
        old="via_socket.content)",
        new="via_socket.text)",
        why="characters, not bytes: the socket's body is a str",
    ),
    Mutant(
        "q7_redirects_followed",
        "q7_answer",
        old="data=data,\n                                      allow_redirects=False, timeout=5)",
        new="data=data, timeout=5)",
        why="requests follows the 302 and reports the page it leads to",
    ),
]
