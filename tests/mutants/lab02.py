"""Wrong answers to lab 02 (the WSGI server), as learners write them."""

from mutants import Mutant

MUTANTS = [
    # q1 make_environ
    Mutant(
        "path_decoded_as_utf8",
        "q1_answer",
        old='unquote(path, encoding="latin-1")',
        new="unquote(path)",
        why="unquote's default is UTF-8: /caf%C3%A9 becomes '/café', not the latin-1 text of its "
        "bytes",
    ),
    Mutant(
        "remote_port_an_int",
        "q1_answer",
        old='"REMOTE_PORT": str(client_address[1]),',
        new='"REMOTE_PORT": client_address[1],',
        why="SERVER_PORT is made a str, REMOTE_PORT forgotten: wsgiref.validate rejects the "
        "environ",
    ),
    Mutant(
        "underscore_headers_kept",
        "q1_answer",
        old='if "_" in name or key == "TRANSFER_ENCODING":',
        new='if key == "TRANSFER_ENCODING":',
        why="X_User passes for X-User: the spoofing rule is skipped",
    ),
    Mutant(
        "transfer_encoding_kept",
        "q1_answer",
        old='if "_" in name or key == "TRANSFER_ENCODING":',
        new='if "_" in name:',
        why="the body was de-chunked, but the app still sees HTTP_TRANSFER_ENCODING: chunked",
    ),
    # q2 StartResponse
    Mutant(
        "reason_phrase_required",
        "q2_answer",
        old=r"[1-5][0-9][0-9] [^\r\n]*",
        new=r"[1-5][0-9][0-9] [^\r\n]+",
        why="'+' instead of '*': the empty reason of '599 ' is refused, which the statement allows",
    ),
    Mutant(
        "hop_by_hop_allowed",
        "q2_answer",
        old="            if is_hop_by_hop(name):\n"
        '                raise ValueError(f"{name} is a hop-by-hop header: '
        'only the server may send it")\n',
        new="",
        why="the hop-by-hop rule is forgotten: an app can send Connection or Transfer-Encoding",
    ),
    Mutant(
        "headers_not_copied",
        "q2_answer",
        old="self.status, self.headers = status, list(headers)",
        new="self.status, self.headers = status, headers",
        why="stores the app's own list: the app changing it later changes the response",
    ),
    Mutant(
        "write_accepts_str",
        "q2_answer",
        old="        if type(data) is not bytes:\n",
        new="        if False:\n",
        why="write() hands a str to send(): no check of the type",
    ),
    # q3 run_app
    Mutant(
        "missing_start_response_unnoticed",
        "q3_answer",
        old="    if start_response.status is None:\n"
        '        raise RuntimeError("the app returned without calling start_response()")\n',
        new="",
        why="an app that never calls start_response returns (None, None, b'') instead of raising",
    ),
    Mutant(
        "empty_chunk_needs_a_status",
        "q3_answer",
        old="            if chunk and start_response.status is None:",
        new="            if start_response.status is None:",
        why="any chunk before start_response raises, even b'' (a generator may call it after "
        "yielding b'')",
    ),
    # q4 respond
    Mutant(
        "head_sent_at_an_empty_chunk",
        "q4_answer",
        old='        if not data:\n            return\n        head = b""',
        new='        head = b""',
        why="the head goes out at the first chunk even if empty: a failure after b'' cannot be a "
        "500",
    ),
    Mutant(
        "head_request_gets_a_body",
        "q4_answer",
        old='return self.request.method != "HEAD" and not status.startswith(NO_BODY)',
        new="return not status.startswith(NO_BODY)",
        why="HEAD is forgotten: the body goes out after the head",
    ),
    Mutant(
        "connection_close_ignored",
        "q4_answer",
        old="self.keep_alive = request.keep_alive",
        new="self.keep_alive = True",
        why="keep-alive for everyone: a client's Connection: close is not honoured",
    ),
    Mutant(
        "short_content_length_unnoticed",
        "q4_answer",
        old="        elif self.length is not None and self.sent < self.length:\n"
        '            raise RuntimeError(f"the app sent {self.sent} '
        'of its Content-Length of {self.length}")\n',
        new="",
        why="an app that promises 10 bytes and sends 3: the connection is kept, the client waits",
    ),
    Mutant(
        "only_lists_get_a_length",
        "q4_answer",
        old="if isinstance(result, (list, tuple)) and all(",
        new="if isinstance(result, list) and all(",
        why="a tuple body is forgotten: it goes out chunked, without the Content-Length it could "
        "have",
    ),
    Mutant(
        "only_204_has_no_body",
        "q4_answer",
        old='NO_BODY = ("1", "204", "304")',
        new='NO_BODY = ("204",)',
        why="304 Not Modified (and 1xx) forgotten: its response gets a chunked body",
    ),
    # q5 make_handler
    Mutant(
        "new_stream_per_request",
        "q5_answer",
        old='with conn.makefile("rb") as stream:\n'
        "                while (request := next_request(conn, stream)) is not None:",
        new='while (request := next_request(conn, conn.makefile("rb"))) is not None:\n'
        "                if True:",
        why="a new makefile per request: bytes of a pipelined request buffered by the old one are "
        "lost",
    ),
    Mutant(
        "disconnects_escape",
        "q5_answer",
        old="        except (ConnectionError, TimeoutError):\n            pass",
        new="        except TimeoutError:\n            pass",
        why="only a timeout is caught: a client that resets its connection leaves an exception "
        "behind",
    ),
    # q6 TimingMiddleware
    Mutant(
        "exc_info_dropped",
        "q6_answer",
        old="headers + [timing], exc_info)",
        new="headers + [timing])",
        why="the wrapper's start_response does not pass exc_info on: an error page cannot replace",
    ),
    Mutant(
        "write_not_returned",
        "q6_answer",
        old="            return start_response(status, headers",
        new="            start_response(status, headers",
        why="the wrapper calls the server's start_response but forgets to return its write "
        "callable",
    ),
    # q7 PrefixMount
    Mutant(
        "script_name_replaced",
        "q7_answer",
        old='"SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + prefix,',
        new='"SCRIPT_NAME": prefix,',
        why="the prefix replaces SCRIPT_NAME instead of extending it: mounted under /outer, /outer "
        "is lost",
    ),
    Mutant(
        "no_segment_boundary",
        "q7_answer",
        old='if path == prefix or path.startswith(prefix + "/"):',
        new="if path.startswith(prefix):",
        why="/apix goes to the app mounted at /api",
    ),
]
