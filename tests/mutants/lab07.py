"""Wrong answers to lab 07 (async: event loops, ASGI and WebSockets), as learners write them."""

from mutants import Mutant

MUTANTS = [
    # q1 echo_forever, serve_client
    Mutant(
        "q1_accepted_socket_left_blocking",
        "q1_answer",
        old="                    conn.setblocking(False)\n",
        new="",
        why="only the listener made non-blocking: accept() returns a blocking socket, and a send() "
        "to a client that does not read stops the whole loop",
    ),
    Mutant(
        "q1_outbox_dropped_at_eof",
        "q1_answer",
        old="            client.outbox += data\n",
        new="            client.outbox += data\n            if not data:\n"
        "                client.outbox.clear()  # the client is gone\n",
        why="recv() gave b'': the client is gone, so why send it anything? (It only closed its "
        "side: it still reads.)",
    ),
    Mutant(
        "q1_reset_not_caught",
        "q1_answer",
        old="    except OSError:  # reset by the client: nothing more can be read or sent\n"
        "        client.outbox.clear()\n        client.reading = False\n",
        new="",
        why="only the 'buffer full' case handled: a client that resets its connection makes "
        "recv() raise, and the loop dies with it",
    ),
    Mutant(
        "q1_always_asking_to_write",
        "q1_answer",
        old="    wanted = selectors.EVENT_READ if client.reading else 0\n",
        new="    wanted = selectors.EVENT_READ | selectors.EVENT_WRITE if client.reading else 0\n",
        why="registered for writing too, so as never to miss a chance to send: a socket with room "
        "is always writable, and the loop spins (a whole CPU core) while every client is idle",
    ),
    Mutant(
        "q1_closed_without_unregister",
        "q1_answer",
        old="    if not wanted:\n        selector.unregister(conn)\n        conn.close()\n",
        new="    if not wanted:\n        conn.close()  # closing it is enough\n",
        why="the connection closed but left in the selector: the next one may get its file "
        "descriptor, and register() raises KeyError",
    ),
    # q2 read_request, keep_alive, make_async_handler
    Mutant(
        "q2_one_read_per_request",
        "q2_answer",
        old='await reader.readuntil(b"\\r\\n\\r\\n")\n',
        new="await reader.read(65536)  # the whole request at once\n"
        '            head, _, rest = head.partition(b"\\r\\n\\r\\n")\n'
        '            head += b"\\r\\n\\r\\n"\n',
        why="one read() for the whole request: the next pipelined requests came in the same "
        "read, and are lost with the rest of it",
    ),
    Mutant(
        "q2_body_from_the_same_read",
        "q2_answer",
        old="request.body = await reader.readexactly(length)",
        new="request.body = await reader.read(length)",
        why="read(length) for the body, as for a file: it returns what has come so far, maybe "
        "less than length",
    ),
    Mutant(
        "q2_idle_timeout_hard_coded",
        "q2_answer",
        old="async with asyncio.timeout(IDLE_TIMEOUT):",
        new="async with asyncio.timeout(5.0):",
        why="the number written in place of the constant: the test's IDLE_TIMEOUT is never read",
    ),
    Mutant(
        "q2_connection_kept_after_an_error",
        "q2_answer",
        old="                await writer.drain()\n                return\n"
        "            if request is None:",
        new="                await writer.drain()\n                continue\n"
        "            if request is None:",
        why="after the 400 the loop reads the next request, as after any answer: the connection "
        "stays open",
    ),
    Mutant(
        "q2_incomplete_read_not_caught",
        "q2_answer",
        old="    except asyncio.IncompleteReadError:\n"
        '        raise HTTPError(400, "the connection ended in the middle of a request")'
        " from None\n",
        new="",
        why="readexactly's exception left to the server: a request cut short gets no 400",
    ),
    Mutant(
        "q2_connection_tokens_case_sensitive",
        "q2_answer",
        old="tokens = {token.strip().lower() for token",
        new="tokens = {token.strip() for token",
        why="'Connection: Close' is not 'close': header values are compared as sent",
    ),
    Mutant(
        "q2_no_drain",
        "q2_answer",
        old='head=request.method == "HEAD"))\n            await writer.drain()\n',
        new='head=request.method == "HEAD"))\n',
        why="write() without drain(): the answers go out anyway, so why wait? A client that does "
        "not read makes them pile up in the server's memory",
    ),
    # q3 app
    Mutant(
        "q3_first_body_message_only",
        "q3_answer",
        old="    body = bytearray()\n    while True:\n        message = await receive()\n"
        '        body += message.get("body", b"")\n'
        '        if not message.get("more_body", False):\n            return bytes(body)\n',
        new='    message = await receive()\n    return message.get("body", b"")\n',
        why="one receive() for the body, as if it always came in one piece",
    ),
    Mutant(
        "q3_count_in_one_message",
        "q3_answer",
        old="    for line in range(1, int(values[0]) + 1):\n"
        '        await send({"type": "http.response.body", "body": b"%d\\n" % line, '
        '"more_body": True})\n'
        '    await send({"type": "http.response.body", "body": b""})\n',
        new='    lines = b"".join(b"%d\\n" % line for line in range(1, int(values[0]) + 1))\n'
        '    await send({"type": "http.response.body", "body": lines})\n',
        why="the lines joined first and sent in one message: nothing streams",
    ),
    Mutant(
        "q3_header_value_a_str",
        "q3_answer",
        old='(b"content-length", b"%d" % len(body))',
        new='(b"content-length", str(len(body)))',
        why="the length as a str, as in WSGI: ASGI's headers are bytes, names and values",
    ),
    Mutant(
        "q3_header_names_capitalized",
        "q3_answer",
        old='headers = [(b"content-type", content_type), ',
        new='headers = [(b"Content-Type", content_type), ',
        why="header names written as in HTTP's examples: ASGI wants them in lower case",
    ),
    # q4 build_scope, make_asgi_handler
    Mutant(
        "q4_http_version_with_its_prefix",
        "q4_answer",
        old='request.version.removeprefix("HTTP/")',
        new="request.version",
        why='http_version copied from the request line: ASGI wants "1.1", not "HTTP/1.1"',
    ),
    Mutant(
        "q4_chunk_size_in_decimal",
        "q4_answer2",
        old='b"%x\\r\\n%s\\r\\n" % (len(body), body)',
        new='b"%d\\r\\n%s\\r\\n" % (len(body), body)',
        why="the chunk's size written in decimal: a chunk of 25 bytes says 0x25, 37 bytes",
    ),
    Mutant(
        "q4_no_last_chunk",
        "q4_answer2",
        old='            data += b"" if more else b"0\\r\\n\\r\\n"\n',
        new="",
        why="the stream just stops: without the last chunk the client waits for more",
    ),
    Mutant(
        "q4_empty_body_as_a_chunk",
        "q4_answer2",
        old='            data += b"%x\\r\\n%s\\r\\n" % (len(body), body) if body else b""\n',
        new='            data += b"%x\\r\\n%s\\r\\n" % (len(body), body)\n',
        why="every body message framed as a chunk, the empty ones too: an empty chunk is the last "
        "chunk, so the body ends early, or the last chunk goes twice and spoils the next answer",
    ),
    Mutant(
        "q4_no_drain",
        "q4_answer2",
        old="        self.writer.write(data)\n        await self.writer.drain()\n",
        new="        self.writer.write(data)\n",
        why="write() without drain() in send(): the app never waits for a client that does not "
        "read, and every answer piles up in the server's memory",
    ),
    # q5 build_environ, WsgiToAsgi
    Mutant(
        "q5_wsgi_app_on_the_loop",
        "q5_answer2",
        old="await asyncio.to_thread(self.run_wsgi, environ)",
        new="self.run_wsgi(environ)",
        why="the WSGI app called straight from the coroutine: while it runs, the loop runs "
        "nothing else",
    ),
    Mutant(
        "q5_body_never_closed",
        "q5_answer2",
        old="        try:\n            for chunk in result:\n                written += chunk\n"
        "        finally:\n"
        '            if hasattr(result, "close"):\n                result.close()\n',
        new="        for chunk in result:\n            written += chunk\n",
        why="the body read, never closed: PEP 3333's close() is for the server to call",
    ),
    Mutant(
        "q5_repeated_header_overwritten",
        "q5_answer",
        old='environ[key] = f"{environ[key]}, {text}" if key in environ else text',
        new="environ[key] = text",
        why="one key per header, the last value kept: a header sent twice loses its first values",
    ),
    Mutant(
        "q5_body_read_on_the_loop",
        "q5_answer2",
        old="await asyncio.to_thread(self.run_wsgi, environ)\n"
        '        await send({"type": "http.response.start", "status": status, '
        '"headers": headers})\n'
        '        await send({"type": "http.response.body", "body": data})\n\n'
        "    def run_wsgi(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], "
        "bytes]:\n"
        '        """In a worker thread: call the WSGI app, read its whole body, close it."""\n'
        "        started: list = []\n"
        "        written = bytearray()\n\n"
        "        def start_response(status: str, headers: list, exc_info=None) -> Callable:\n"
        "            started[:] = [status, headers]\n"
        "            return written.extend  # write(data), for the old apps that use it\n\n"
        "        result: Iterable[bytes] = self.wsgi_app(environ, start_response)\n",
        new="await self.run_wsgi(environ)\n"
        '        await send({"type": "http.response.start", "status": status, '
        '"headers": headers})\n'
        '        await send({"type": "http.response.body", "body": data})\n\n'
        "    async def run_wsgi(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], "
        "bytes]:\n"
        '        """Call the WSGI app in a worker thread; read its body, close it."""\n'
        "        started: list = []\n"
        "        written = bytearray()\n\n"
        "        def start_response(status: str, headers: list, exc_info=None) -> Callable:\n"
        "            started[:] = [status, headers]\n"
        "            return written.extend  # write(data), for the old apps that use it\n\n"
        "        result = await asyncio.to_thread(self.wsgi_app, environ, start_response)\n",
        why="only the app's call sent to a thread (it is what blocks, surely): its body, a "
        "generator that does the work as it is read, is read on the loop",
    ),
    Mutant(
        "q5_header_names_as_the_app_wrote_them",
        "q5_answer2",
        old='fields = [(name.lower().encode("latin-1"), value.encode("latin-1"))',
        new='fields = [(name.encode("latin-1"), value.encode("latin-1"))',
        why="the WSGI app's headers passed on as it wrote them ('Content-Type'): ASGI wants the "
        "names in lower case",
    ),
    # q6 accept_key, handshake
    Mutant(
        "q6_connection_must_be_exactly_upgrade",
        "q6_answer",
        old='"upgrade" not in tokens("connection")',
        new='request.headers.get("connection") != "Upgrade"',
        why="Connection compared with the RFC's example: Firefox's 'keep-alive, Upgrade' is "
        "refused",
    ),
    Mutant(
        "q6_key_decoded_before_hashing",
        "q6_answer",
        old='hashlib.sha1((key + GUID).encode("ascii"))',
        new='hashlib.sha1(base64.b64decode(key) + GUID.encode("ascii"))',
        why="the key decoded from base 64 first: the RFC hashes the key as sent",
    ),
    Mutant(
        "q6_wrong_version_gets_400",
        "q6_answer",
        old='return 426, [("Sec-WebSocket-Version", "13")]',
        new="return 400, []",
        why="another version is one more malformed request: the client is not told which version "
        "to speak",
    ),
    Mutant(
        "q6_key_not_validated",
        "q6_answer",
        old="base64.b64decode(key, validate=True)",
        new="base64.b64decode(key)",
        why="b64decode as usual: it skips what is not base 64, so a key with a stray character "
        "still gives 16 bytes",
    ),
    # q7 read_frame, encode_frame, echo_session
    Mutant(
        "q7_unmasked_frames_accepted",
        "q7_answer",
        old="        if not second & 0x80:\n"
        '            raise FrameError(1002, "a client\'s frame must be masked")\n',
        new="",
        why="a lenient parser: a client's frame without a mask is read as if it had one",
    ),
    Mutant(
        "q7_size_checked_after_the_payload",
        "q7_answer",
        old="        if length > MAX_FRAME_BYTES:\n"
        '            raise FrameError(1009, f"a payload of {length} bytes: {MAX_FRAME_BYTES} at '
        'most")\n        key = await reader.readexactly(4)\n'
        "        masked = await reader.readexactly(length)\n",
        new="        key = await reader.readexactly(4)\n"
        "        masked = await reader.readexactly(length)\n        if length > MAX_FRAME_BYTES:\n"
        '            raise FrameError(1009, f"a payload of {length} bytes: {MAX_FRAME_BYTES} at '
        'most")\n',
        why="the payload read, then measured: the server waits for (and keeps) what it refuses",
    ),
    Mutant(
        "q7_seven_bit_length_up_to_126",
        "q7_answer",
        old="if length <= 125:",
        new="if length <= 126:",
        why="7 bits hold up to 127, so why not 126? Because 126 and 127 mean 'the length follows'",
    ),
    Mutant(
        "q7_ping_echoed_as_a_ping",
        "q7_answer",
        old="        if frame.opcode == PING:\n"
        "            frame = Frame(True, PONG, frame.payload)\n        elif",
        new="        if",
        why="an echo server echoes everything: a ping comes back as a ping, never a pong",
    ),
    Mutant(
        "q7_signed_16_bit_length",
        "q7_answer",
        old='struct.unpack("!H", await reader.readexactly(2))',
        new='struct.unpack("!h", await reader.readexactly(2))',
        why='"!h" for 2 bytes, as "!B" is 1: but h is signed, and lengths from 32,768 up are '
        "read as negative numbers",
    ),
    Mutant(
        "q7_fin_always_set",
        "q7_answer",
        old="    first = (0x80 if frame.fin else 0) | frame.opcode\n",
        new="    first = 0x80 | frame.opcode  # FIN: a frame is a message\n",
        why="FIN set on every frame: the first frame of a message in several frames ends it",
    ),
    Mutant(
        "q7_no_drain",
        "q7_answer",
        old="        writer.write(encode_frame(frame))\n        await writer.drain()\n",
        new="        writer.write(encode_frame(frame))\n",
        why="write() without drain(): the echoes of a client that does not read pile up in the "
        "server's memory",
    ),
]
