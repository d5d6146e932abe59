"""Wrong answers to lab 06 (Flask: state, security and HTTPS), as learners write them."""

from mutants import Mutant

MUTANTS = [
    # q1 mac, sign, verify
    Mutant(
        "q1_signatures_compared_with_eq",
        "q1_answer",
        old='if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8")):',
        new="if signature != expected:",
        why="== on the signatures: right or wrong the same, but its time leaks how much is right",
    ),
    Mutant(
        "q1_compare_digest_answer_ignored",
        "q1_answer",
        old='if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8")):',
        new='hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8"))\n'
        "    if signature != expected:",
        why="compare_digest is called as asked, but the decision is still =='s",
    ),
    Mutant(
        "q1_compare_digest_on_str",
        "q1_answer",
        old='if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8")):',
        new="if not hmac.compare_digest(signature, expected):",
        why="compare_digest on two str: a token with a non-ASCII character raises TypeError",
    ),
    Mutant(
        "q1_signature_decoded_then_compared",
        "q1_answer",
        old='if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8")):',
        new="try:\n        given = b64decode(signature)\n    except ValueError:\n"
        "        return None\n    if not hmac.compare_digest(given, b64decode(expected)):",
        why="the bytes compared, not the text: another spelling of the same signature passes",
    ),
    Mutant(
        "q1_max_age_itself_expired",
        "q1_answer",
        old="if now - int(timestamp) > max_age:",
        new="if now - int(timestamp) >= max_age:",
        why="'at most max_age seconds old' read as 'younger than max_age'",
    ),
    # q2 SignedCookieSessions
    Mutant(
        "q2_cookie_readable_by_scripts",
        "q2_answer",
        old="httponly=True",
        new="httponly=False",
        why="HttpOnly left out: any XSS in the site can read the session cookie",
    ),
    Mutant(
        "q2_always_secure",
        "q2_answer",
        old="secure=flask.request.is_secure",
        new="secure=True",
        why="Secure on every cookie: over plain HTTP the browser would never send it back",
    ),
    Mutant(
        "q2_cookie_on_every_response",
        "q2_answer",
        old="        if not session.modified:\n",
        new="        if False:\n",
        why="save_session writes the cookie even when the view only read the session",
    ),
    # q3 csrf_token, csrf_protect
    Mutant(
        "q3_origin_not_checked",
        "q3_answer",
        old="if origin is not None and origin != request.host_url",
        new="if False and origin != request.host_url",
        why="the token alone: a cross-origin POST that carries a leaked token goes through",
    ),
    Mutant(
        "q3_origin_ends_with_the_host",
        "q3_answer",
        old='if origin is not None and origin != request.host_url.rstrip("/"):',
        new="if origin is not None and not origin.endswith(request.host):",
        why="the host compared, not the origin: https://localhost or another port passes",
    ),
    Mutant(
        "q3_only_post_checked",
        "q3_answer",
        old="if request.method not in CHANGES:",
        new='if request.method != "POST":',
        why="only POST is protected: a DELETE from another site needs no token",
    ),
    Mutant(
        "q3_origin_checked_on_post_only",
        "q3_answer",
        old="if origin is not None and origin != request.host_url",
        new='if request.method == "POST" and origin is not None and origin != request.host_url',
        why="'browsers send Origin with every POST' read as 'only POSTs have an Origin to check'",
    ),
    Mutant(
        "q3_origin_written_with_http",
        "q3_answer",
        old='origin != request.host_url.rstrip("/")',
        new='origin != "http://" + request.host',
        why="the scheme written by hand: the app's own origin over HTTPS is refused",
    ),
    Mutant(
        "q3_form_token_read_on_post_only",
        "q3_answer",
        old='request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")',
        new='request.form.get("csrf_token", "") if request.method == "POST" '
        'else request.headers.get("X-CSRF-Token", "")',
        why="forms POST, scripts PUT: a PATCH or PUT that sends the form field is refused",
    ),
    # q4 safe_url, render_comments
    Mutant(
        "q4_autoescape_off",
        "q4_answer",
        old="Environment(autoescape=True)",
        new="Environment()",
        why="plain Jinja's Environment does not escape by default (Flask's .html templates do)",
    ),
    Mutant(
        "q4_scheme_case_sensitive",
        "q4_answer",
        old='scheme[1].lower() in ("http", "https")',
        new='scheme[1] in ("http", "https")',
        why="HTTPS://... is refused: the scheme is compared as typed",
    ),
    Mutant(
        "q4_tabs_kept",
        "q4_answer",
        old='url = re.sub("[\\t\\n\\r]", "", url.strip(C0_AND_SPACE))',
        new="url = url.strip(C0_AND_SPACE)",
        why="java<TAB>script: is not seen as javascript:, but the browser removes the tab",
    ),
    Mutant(
        "q4_scheme_of_letters_only",
        "q4_answer",
        old='r"([A-Za-z][A-Za-z0-9+.\\-]*):"',
        new='r"([A-Za-z]+):"',
        why="a scheme may hold digits, + - and . too: web+evil: and view-source: pass for relative",
    ),
    # q5 is_safe_redirect
    Mutant(
        "q5_backslash_allowed",
        "q5_answer",
        old=' or "\\\\" in target:',
        new=":",
        why="only '//' is refused: /\\evil.test, which browsers read as //evil.test, goes through",
    ),
    Mutant(
        "q5_never_decoded",
        "q5_answer",
        old="decoded = unquote(target)",
        new="decoded = target",
        why="the target is checked as sent: /%2F%2Fevil.test is a redirect off-site once decoded",
    ),
    Mutant(
        "q5_ascii_controls_only",
        "q5_answer",
        old="if any(char.isspace() or not char.isprintable() for char in target):",
        new="if any(ord(char) <= 0x20 for char in target):",
        why="only ASCII controls and space: DEL and Unicode spaces pass",
    ),
    # q6 Accounts
    Mutant(
        "q6_unknown_names_never_locked",
        "q6_answer",
        old="stored = self.hashes.get(name, self.dummy_hash)",
        new="if name not in self.hashes:\n            raise LoginRefused(WRONG)\n"
        "        stored = self.hashes[name]",
        why="an unknown name is refused before counting: the lock then tells which names exist",
    ),
    Mutant(
        "q6_lock_never_ends",
        "q6_answer",
        old="if now < self.locked_until.get(name, now):",
        new="if name in self.locked_until:",
        why="the lock is noted, but its end never read",
    ),
    # q7 server_context, tls_handler, fetch
    Mutant(
        "q7_conn_wrapped_not_a_duplicate",
        "q7_answer",
        old="context.wrap_socket(conn.dup(), server_side=True)",
        new="context.wrap_socket(conn, server_side=True)",
        why="wrap_socket detaches conn: stop() cannot shut an idle TLS connection down",
    ),
    Mutant(
        "q7_handshake_errors_escape",
        "q7_answer",
        old="except (ssl.SSLError, OSError):",
        new="except ValueError:",
        why="a client that does not trust the certificate makes the handler raise in the server",
    ),
    Mutant(
        "q7_verify_false",
        "q7_answer",
        old="verify=cafile",
        new="verify=False",
        why="the client trusts any certificate: whoever is on the path can pose as the server",
    ),
]
