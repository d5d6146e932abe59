"""Wrong answers to lab 05 (production: proxies, limits, shutdown, load), as learners write them."""

from mutants import Mutant

MUTANTS = [
    # q1 TrustedProxies
    Mutant(
        "q1_always_the_last_entry",
        "q1_answer",
        old="return entries[-self.proxies] if",
        new="return entries[-1] if",
        why="'the proxy appends its entry' read as 'take the last one', whatever `proxies` says",
    ),
    Mutant(
        "q1_empty_entries_kept",
        "q1_answer",
        old='entries = [entry.strip() for entry in (header or "").split(",") if entry.strip()]',
        new='entries = [entry.strip() for entry in (header or "").split(",")]',
        why="split and strip, but a trailing or doubled comma leaves an empty entry that is "
        "counted",
    ),
    Mutant(
        "q1_too_few_entries_take_the_leftmost",
        "q1_answer",
        old="return entries[-self.proxies] if len(entries) >= self.proxies else None",
        new="return entries[max(-self.proxies, -len(entries))] if entries else None",
        why="clamps the index instead of refusing: with 2 proxies and 1 entry, the client's own "
        "claim wins",
    ),
    Mutant(
        "q1_zero_proxies_not_special",
        "q1_answer",
        old='if self.proxies > 0 and environ.get("REMOTE_ADDR") in self.proxy_addresses:',
        new='if environ.get("REMOTE_ADDR") in self.proxy_addresses:',
        why="forgets proxies=0: entries[-0] is entries[0], the client's own claim",
    ),
    # q2 LimitedConnection, limited_handler
    Mutant(
        "q2_count_per_connection",
        "q2_answer",
        old="self.received, self.deadline = 0, None",
        new="self.deadline = None",
        why="resets the deadline after a response but not the byte count: keep-alive uploads "
        "add up",
    ),
    Mutant(
        "q2_deadline_from_connect",
        "q2_answer",
        old="self.deadline: float | None = None",
        new="self.deadline: float | None = time.monotonic() + request_timeout",
        why="starts the deadline when the connection opens: a client that waits before its "
        "request gets 408",
    ),
    Mutant(
        "q2_deadline_per_connection",
        "q2_answer",
        old="self.received, self.deadline = 0, None",
        new="self.received = 0",
        why="resets the byte count after a response but not the deadline: kept-alive requests "
        "share one",
    ),
    Mutant(
        "q2_deadline_restarted_by_the_response",
        "q2_answer",
        old="self.received, self.deadline = 0, None",
        new="self.received, self.deadline = 0, time.monotonic() + self.request_timeout",
        why="starts the next deadline when the response goes out: a kept-alive client that waits "
        "before its next request gets 408",
    ),
    Mutant(
        "q2_deadline_checked_after_recv",
        "q2_answer",
        old="        callers_timeout = self.conn.gettimeout()\n"
        "        if self.deadline is not None:\n"
        "            remaining = self.deadline - time.monotonic()\n"
        "            if remaining <= 0:\n"
        "                self.refused = True\n"
        '                raise TimeoutError(f"no complete request within '
        '{self.request_timeout} s")\n'
        "            if callers_timeout is not None:\n"
        "                remaining = min(callers_timeout, remaining)\n"
        "            self.conn.settimeout(remaining)\n"
        "        try:\n"
        "            chunk = self.conn.recv(size)\n"
        "        except TimeoutError:\n"
        "            if self.deadline is not None:  # mid-request: step 1 answers 408, "
        "then drains\n"
        "                self.refused = True\n"
        "            raise\n"
        "        finally:\n"
        "            self.conn.settimeout(callers_timeout)\n",
        new="        chunk = self.conn.recv(size)\n"
        "        if self.deadline is not None and time.monotonic() > self.deadline:\n"
        "            self.refused = True\n"
        '            raise TimeoutError(f"no complete request within {self.request_timeout} s")\n',
        why="checks the deadline when recv returns: a client that goes silent is answered only "
        "when step 1's own 10 s timeout ends",
    ),
    Mutant(
        "q2_deadline_per_recv",
        "q2_answer",
        old="            remaining = self.deadline - time.monotonic()\n",
        new="            remaining = self.request_timeout\n",
        why="gives each recv the whole request_timeout: a client sending a line now and then "
        "(slowloris) is never cut",
    ),
    Mutant(
        "q2_limit_itself_refused",
        "q2_answer",
        old="if self.received > self.max_request_bytes:",
        new="if self.received >= self.max_request_bytes:",
        why="off by one: a request of exactly max_request_bytes is refused",
    ),
    Mutant(
        "q2_limits_in_module_globals",
        "q2_answer",
        old="    def handler(conn: socket.socket, addr: Any) -> None:\n"
        "        handle_connection("
        "LimitedConnection(conn, max_request_bytes, request_timeout), addr, app)",
        new="    global LIMITS\n"
        "    LIMITS = (max_request_bytes, request_timeout)\n\n"
        "    def handler(conn: socket.socket, addr: Any) -> None:\n"
        "        handle_connection(LimitedConnection(conn, *LIMITS), addr, app)",
        why="step 1's style, module constants: the last limited_handler made sets the limits of "
        "all",
    ),
    Mutant(
        "q2_limit_enforced_while_draining",
        "q2_answer",
        old="if self.refused:\n            return self.conn.recv(size)",
        new="if False:\n            return self.conn.recv(size)",
        why="keeps counting after its own 413: the client's leftover bytes raise it again in "
        "close_gently",
    ),
    Mutant(
        "q2_callers_timeout_ignored",
        "q2_answer",
        old="            if callers_timeout is not None:\n"
        "                remaining = min(callers_timeout, remaining)\n",
        new="",
        why="gives recv what is left of the deadline even when step 1 asked for a shorter wait",
    ),
    Mutant(
        "q2_deadline_from_when_recv_began",
        "q2_answer",
        old="        callers_timeout = self.conn.gettimeout()\n",
        new="        callers_timeout = self.conn.gettimeout()\n"
        "        if self.deadline is None:  # the request starts with this recv\n"
        "            self.deadline = time.monotonic() + self.request_timeout\n",
        why="starts the deadline when the first recv begins: the wait for a request counts "
        "against it",
    ),
    Mutant(
        "q2_recv_given_five_times_what_is_left",
        "q2_answer",
        old="            self.conn.settimeout(remaining)\n",
        new="            self.conn.settimeout(remaining * 5)  # some slack\n",
        why="'some slack' for slow networks: a silent client is cut long after its deadline",
    ),
    Mutant(
        "q2_timeout_in_recv_not_a_refusal",
        "q2_answer",
        old="        except TimeoutError:\n"
        "            if self.deadline is not None:  # mid-request: step 1 answers 408, "
        "then drains\n"
        "                self.refused = True\n"
        "            raise\n",
        new="",
        why="marks a refusal only where it raises itself: after a 408 from the socket's own "
        "timeout, the drain is counted, and a 413 escapes",
    ),
    Mutant(
        "q2_limit_checked_before_counting",
        "q2_answer",
        old="        self.received += len(chunk)\n"
        "        if self.received > self.max_request_bytes:\n"
        "            self.refused = True\n"
        '            raise HTTPError(413, f"a request may be at most {self.max_request_bytes} '
        'bytes")\n',
        new="        if self.received > self.max_request_bytes:\n"
        "            self.refused = True\n"
        '            raise HTTPError(413, f"a request may be at most {self.max_request_bytes} '
        'bytes")\n'
        "        self.received += len(chunk)\n",
        why="compares before adding the chunk just received: a request that comes in one piece "
        "is never refused",
    ),
    Mutant(
        "q2_zero_timeout_instead_of_raise",
        "q2_answer",
        old="            if remaining <= 0:\n"
        "                self.refused = True\n"
        '                raise TimeoutError(f"no complete request within '
        '{self.request_timeout} s")\n',
        new="            remaining = max(remaining, 0.0)  # no time left: do not wait\n",
        why="gives recv no time instead of raising: a timeout of 0 still reads bytes that are "
        "waiting, and a silent client is closed without a 408",
    ),
    Mutant(
        "q2_own_deadline_not_a_refusal",
        "q2_answer",
        old="            if remaining <= 0:\n                self.refused = True\n",
        new="            if remaining <= 0:\n",
        why="marks refusals only for the 413: after its own 408 the drain still meets the "
        "deadline, and raises again",
    ),
    Mutant(
        "q2_fresh_start_after_100_continue",
        "q2_answer",
        old='        if not data.startswith(b"HTTP/1.1 1"):  # after a 100 Continue the same '
        "request goes on\n"
        "            self.received, self.deadline = 0, None",
        new="        self.received, self.deadline = 0, None",
        why="every sendall starts afresh, the interim 100 Continue too: an upload that asks "
        "first gets a fresh count and deadline for its body",
    ),
    Mutant(
        "q2_deadline_for_the_head_only",
        "q2_answer",
        old="        self.received += len(chunk)\n",
        new="        self.received += len(chunk)\n"
        '        if b"\\r\\n\\r\\n" in chunk:  # the head is in: the deadline was for the head\n'
        "            self.deadline = None\n",
        why="forgets the deadline once the head is in: a client that stops halfway through its "
        "body waits for step 1's 10 s",
    ),
    # q3 GracefulServer.shutdown
    Mutant(
        "q3_grace_ignored",
        "q3_answer",
        old="thread.join(max(0.0, deadline - time.monotonic()))",
        new="thread.join()",
        why="waits for every request however long it takes",
    ),
    Mutant(
        "q3_late_connections_not_cut",
        "q3_answer",
        old="conn.shutdown(socket.SHUT_RDWR)  # out of time: cut it",
        new="pass  # out of time: cut it",
        why="returns False after grace but leaves the late requests running",
    ),
    Mutant(
        "q3_listener_closed_last",
        "q3_answer",
        old="self.listener.close()  # new clients are refused from now on",
        new="pass  # new clients are refused from now on",
        why="stops the accept loop but leaves the listener open while waiting: the kernel still "
        "completes new connections, which nobody will ever serve",
    ),
    Mutant(
        "q3_each_thread_joined_with_full_grace",
        "q3_answer",
        old="thread.join(max(0.0, deadline - time.monotonic()))",
        new="thread.join(grace)",
        why="gives each thread the whole grace: with four late requests, shutdown takes 4x grace",
    ),
    Mutant(
        "q3_grace_shared_out",
        "q3_answer",
        old="thread.join(max(0.0, deadline - time.monotonic()))",
        new="thread.join(grace / len(still_open))",
        why="shares grace out evenly: idle connections end at once, but their share is lost, and "
        "a request that would have finished is cut",
    ),
    # q4 load_test, speedup, saturation
    Mutant(
        "q4_one_client_at_every_level",
        "q4_answer",
        old='results = probe.sweep(url, concurrency=levels, n=n, client="raw", warmup=4)',
        new='results = {level: probe.measure(url, n, client="raw", warmup=4) for level in levels}',
        why="loops over the levels but forgets to pass concurrency=: every level is one client",
    ),
    Mutant(
        "q4_the_example_levels_kept",
        "q4_answer",
        old='results = probe.sweep(url, concurrency=levels, n=n, client="raw", warmup=4)',
        new='results = probe.sweep(url, concurrency=(1, 4), n=n, client="raw", warmup=4)',
        why="the levels of the text's example written in, not the ones load_test is given",
    ),
    Mutant(
        "q4_errors_not_checked",
        "q4_answer",
        old="if result.errors or result.truncated or len(result.samples) < n:",
        new="if False:",
        why="returns the sweep as it is: a dead server 'measures' zero requests per second",
    ),
    Mutant(
        "q4_speedup_against_the_first_key",
        "q4_answer",
        old="base = results[min(results)].rps",
        new="base = results[next(iter(results))].rps",
        why="assumes the results come sorted, lowest level first",
    ),
    Mutant(
        "q4_gain_ignored",
        "q4_answer",
        old="if results[following].rps < gain * results[level].rps:",
        new="if results[following].rps < 1.25 * results[level].rps:",
        why="hard-codes the default 1.25 instead of the gain= argument",
    ),
    Mutant(
        "q4_no_return_when_it_keeps_growing",
        "q4_answer",
        old="            return level\n    return levels[-1]",
        new="            return level",
        why="forgets the case where throughput never stops growing: returns None",
    ),
    Mutant(
        "q4_saturation_in_key_order",
        "q4_answer",
        old="    levels = sorted(results)\n",
        new="    levels = list(results)\n",
        why="walks the levels in the order of the keys, which need not be sorted",
    ),
    Mutant(
        "q4_raises_only_when_nothing_answered",
        "q4_answer",
        old="if result.errors or result.truncated or len(result.samples) < n:",
        new="if not result.samples:",
        why="'measures nothing' read as 'no answer at all': a server failing most requests "
        "still gives numbers",
    ),
    # q5 choose_server, defend
    Mutant(
        "q5_64_kb_read_as_64000_bytes",
        "q5_answer",
        old='"max_request_body_size": 65536',
        new='"max_request_body_size": 64000',
        why="64 KB taken as 64,000 bytes: a 65,000-byte upload is refused",
    ),
    Mutant(
        "q5_largest_allowed_body_as_the_setting",
        "q5_answer",
        old='"max_request_body_size": 65536',
        new='"max_request_body_size": 65535',
        why="sets the largest body allowed, but waitress refuses bodies of the setting or more",
    ),
    Mutant(
        "q5_defend_measures_the_defaults_twice",
        "q5_answer",
        old='"yours": (kind, options)}',
        new='"yours": ("waitress", {})}',
        why="serves waitress as 'yours' but forgets to pass choose_server()'s options",
    ),
    Mutant(
        "q5_defend_labels_swapped",
        "q5_answer",
        old='contenders = {"waitress, defaults": ("waitress", {}), "yours": (kind, options)}',
        new='contenders = {"waitress, defaults": (kind, options), "yours": ("waitress", {})}',
        why="the two servers under each other's names: the plot credits the defaults",
    ),
    Mutant(
        "q5_defend_measures_without_load_test",
        "q5_answer",
        old="results[label] = load_test(server.url, levels=(4, 16), n=32)",
        new="results[label] = probe.sweep(server.url, concurrency=(4, 16), n=32, warmup=4)",
        why="probe.sweep called directly: defend skips q4's load_test, and its checks of failures",
    ),
]
