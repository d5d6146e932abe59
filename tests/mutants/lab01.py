"""Wrong answers to lab 01 (the raw-socket server), as learners write them."""

from mutants import Mutant

MUTANTS = [
    Mutant(
        "content_length_in_characters",
        "q5_answer",
        old='fields.append(("Content-Length", str(len(body))))',
        new='fields.append(("Content-Length", str(len(body.decode("utf-8", "replace")))))',
        why="counts characters, not bytes: a body with é is cut short",
    ),
    # q1
    Mutant(
        "only_http_1_0_and_1_1",
        "q1_answer",
        old='if not version.startswith(b"HTTP/1."):',
        new='if version not in (b"HTTP/1.0", b"HTTP/1.1"):',
        why="lists the versions they know: HTTP/1.2 gets 505 instead of being read as 1.1",
    ),
    Mutant(
        "methods_upper_cased",
        "q1_answer",
        old="if method.decode() not in METHODS:",
        new="if method.decode().upper() not in METHODS:",
        why="'be lenient': get is taken for GET, though methods are case-sensitive",
    ),
    Mutant(
        "target_bytes_not_checked",
        "q1_answer",
        old=r'if not re.fullmatch(rb"[\x21-\x7e]+", target):',
        new="if not target:",
        why="checks only that a target is there: control bytes and raw UTF-8 get through",
    ),
    # q2
    Mutant(
        "plus_is_a_space_in_the_path",
        "q2_answer",
        old='return unquote(path, errors="replace"), query',
        new='return unquote(path.replace("+", " "), errors="replace"), query',
        why="the query's rule ('+' is a space) applied to the path too",
    ),
    Mutant(
        "blank_query_values_dropped",
        "q2_answer",
        old='parse_qs(query_string, keep_blank_values=True, errors="replace")',
        new='parse_qs(query_string, errors="replace")',
        why="parse_qs with its defaults: 'b=' disappears",
    ),
    # q3
    Mutant(
        "max_headers_off_by_one",
        "q3_answer",
        old="if len(lines) > MAX_HEADERS:",
        new="if len(lines) >= MAX_HEADERS:",
        why="'at most MAX_HEADERS' read as fewer than: exactly 100 lines get 431",
    ),
    Mutant(
        "content_length_isdigit",
        "q3_answer",
        old='if not re.fullmatch(r"[0-9]+", text):',
        new="if not text.isdigit():",
        why="str.isdigit() accepts '²', and int('²') then raises ValueError",
    ),
    Mutant(
        "second_host_allowed",
        "q3_answer",
        old='        if key == "host" and key in headers:\n'
        '            raise HTTPError(400, "more than one Host header")\n',
        new="",
        why="every repeated name is combined, Host too (two hosts: which one is meant?)",
    ),
    # q4
    Mutant(
        "next_request_dropped",
        "q4_answer",
        old="del buffer[:length]",
        new="buffer.clear()",
        why="the buffer emptied after each request: a pipelined request is lost",
    ),
    Mutant(
        "a_new_timeout_for_each_recv",
        "q4_answer",
        old="            if not receive(conn, buffer, deadline):\n"
        '                raise HTTPError(400, "the connection ended in the middle',
        new="            if not receive(conn, buffer, time.monotonic() + REQUEST_TIMEOUT):\n"
        '                raise HTTPError(400, "the connection ended in the middle',
        why="a timeout per recv: a client sending a byte now and then holds the thread forever",
    ),
    Mutant(
        "no_100_continue",
        "q4_answer",
        old="    if expects and (1 if length is None else length) > len(buffer):\n"
        '        conn.sendall(b"HTTP/1.1 100 Continue\\r\\n\\r\\n")\n',
        new="",
        why="Expect: 100-continue ignored: curl waits a second before each upload",
    ),
    Mutant(
        "silence_is_408",
        "q4_answer",
        old="        except TimeoutError:\n            return None",
        new='        except TimeoutError:\n            raise HTTPError(408, "nothing came")',
        why="an idle kept-alive connection answered 408 Request Timeout, though no request began",
    ),
    # issue 16: RFC 9112 to the letter (Host, Transfer-Encoding, chunked bodies)
    Mutant(
        "host_value_not_checked",
        "q3_answer",
        old='        if key == "host" and not HOST.fullmatch(value):\n'
        '            raise HTTPError(400, f"not a valid Host: {value[:40]!r}")\n',
        new="",
        why="only a missing or repeated Host is refused: 'Host: user@evil' or an empty one gets "
        "through",
    ),
    Mutant(
        "userinfo_accepted",
        "q2_answer",
        old=' or not parts.netloc or "@" in parts.netloc:',
        new=" or not parts.netloc:",
        why="urlsplit reads http://user@host/ happily: the user name is taken for part of the host",
    ),
    Mutant(
        "transfer_encoding_with_http_1_0",
        "q3_answer",
        old='        if version == "HTTP/1.0":  # RFC 9112 6.1: faulty framing\n'
        '            raise HTTPError(400, "Transfer-Encoding in an HTTP/1.0 request")\n',
        new="",
        why="chunked is read whatever the version: an HTTP/1.0 proxy in front frames it otherwise",
    ),
    Mutant(
        "transfer_encoding_wins_silently",
        "q3_answer",
        old='        if "content-length" in headers:  # RFC 9112 6.1: refuse (or let TE win); '
        "we refuse\n"
        '            raise HTTPError(400, "both Transfer-Encoding and Content-Length")\n',
        new="",
        why="TE wins, as RFC 9112 allows, but the lab states the strict choice (400): CL.TE "
        "smuggling",
    ),
    Mutant(
        "chunked_anywhere_in_the_value",
        "q3_answer",
        old='        if codings[-1:] != ["chunked"] or codings.count("chunked") > 1:'
        "  # RFC 9112 6.3\n",
        new='        if not headers["transfer-encoding"].lower().endswith("chunked"):\n',
        why="a suffix test: xchunked is read as chunked, and so is chunked, chunked",
    ),
    Mutant(
        "unknown_coding_ignored",
        "q3_answer",
        old="        if len(codings) > 1:  # RFC 9112 6.1: a transfer coding we do not implement\n",
        new="        if False:\n",
        why="gzip, chunked de-chunked and handed over as if plain: the app gets gzip bytes",
    ),
    Mutant(
        "chunk_size_with_int16",
        "q4_answer",
        old="        match = CHUNK_LINE.fullmatch(size_line)"
        '  # hex digits only: int(x, 16) accepts "+a", " a"\n'
        "        if not match:\n"
        '            raise HTTPError(400, f"not a chunk size: {size_line[:40]!r}")\n'
        "        size = int(match[1], 16)\n",
        new="        try:\n"
        '            size = int(size_line.split(b";")[0], 16)  # extensions after ";" ignored\n'
        "        except ValueError:\n"
        '            raise HTTPError(400, f"not a chunk size: {size_line[:40]!r}") from None\n',
        why="int(x, 16) accepts '+5', ' 5', '0x5' and '1_0': two servers read two different bodies",
    ),
    Mutant(
        "chunk_data_crlf_not_checked",
        "q4_answer",
        old='        if buffer[size:size + 2] != b"\\r\\n":\n'
        '            raise HTTPError(400, "chunk data must be followed by CR LF")\n',
        new="",
        why="the two bytes after the data are skipped unseen: 'helloXX' is a chunk of 5",
    ),
    Mutant(
        "trailer_not_read",
        "q4_answer",
        old="    trailer, trailer_bytes = [], 0"
        "  # RFC 9112 7.1.2: field lines up to an empty line, dropped\n"
        "    while field_line := line(MAX_HEAD_BYTES, 431):\n"
        "        trailer.append(field_line)\n"
        "        trailer_bytes += len(field_line) + 2\n"
        "        if trailer_bytes > MAX_HEAD_BYTES:\n"
        '            raise HTTPError(431, f"the trailer is longer than {MAX_HEAD_BYTES} bytes")\n'
        "    parse_headers(trailer)\n",
        new="",
        why="stops at the chunk of size 0: a trailer field is read as the next request",
    ),
    # q5
    Mutant(
        "content_length_always_added",
        "q5_answer",
        old="elif status >= 200 and status not in (204, 304):",
        new="else:",
        why="a Content-Length on every response, 204 and 304 included",
    ),
    Mutant(
        "headers_made_a_dict",
        "q5_answer",
        old="fields = list(headers.items()) if isinstance(headers, dict) else list(headers)",
        new="fields = list(dict(headers).items())",
        why="a dict is simpler to search: two Set-Cookie headers become one",
    ),
    Mutant(
        "header_values_not_checked",
        "q5_answer",
        old=r"""    for name, value in fields:  # a CR LF in a value would start a header of its own
        if not TOKEN.fullmatch(name.encode("latin-1", "replace")) or re.search(
                r"[\x00-\x08\x0a-\x1f\x7f]", value):
            raise ValueError(f"bad response header {name!r}: {value!r}")
""",
        new="",
        why="trusts the application's headers: a value with CR LF injects a header",
    ),
    # q6
    Mutant(
        "http_1_0_kept_alive",
        "q6_answer",
        old='keep_alive = "close" not in tokens and (\n'
        '            request.version != "HTTP/1.0" or "keep-alive" in tokens\n'
        "        )",
        new='keep_alive = "close" not in tokens',
        why="keep-alive is the default of HTTP/1.1 only: an HTTP/1.0 client waits for the close",
    ),
    Mutant(
        "app_connection_close_ignored",
        "q6_answer",
        old='            if any(n.lower() == "connection" and "close" in v.lower()'
        " for n, v in fields):\n"
        "                keep_alive = False\n            elif not keep_alive:",
        new="            if not keep_alive:",
        why="only the request's Connection header is read, not the application's",
    ),
    Mutant(
        "plain_close_after_an_error",
        "q6_answer",
        old="            close_gently(conn)\n            return\n        except OSError:",
        new="            conn.close()\n            return\n        except OSError:",
        why="close() with an unread body resets the connection: the 413 never arrives",
    ),
    # q7
    Mutant(
        "echo_answers_any_method",
        "q7_answer",
        old='if request.path == "/echo" and request.method in ("GET", "HEAD"):',
        new='if request.path == "/echo":',
        why="routes on the path only: PUT /echo gets the echo instead of 404",
    ),
    Mutant(
        "one_connection_at_a_time",
        "q7_answer",
        old="    def handler(conn: socket.socket, addr: Any) -> None:\n"
        "        handle_connection(conn, addr, app)",
        new="    import threading\n\n"
        "    lock = threading.Lock()\n\n"
        "    def handler(conn: socket.socket, addr: Any) -> None:\n"
        "        with lock:  # 'to be thread-safe'\n"
        "            handle_connection(conn, addr, app)",
        why="a lock around the whole connection: the threads serve one client after another",
    ),
]
