"""Step 1 lesson: the demonstrations show what the text says they show.

test_notebooks.py already runs the lesson for errors, time and leaks; here we run it once more and
read its outputs: the notes' server fails on Python 3, the fixed one works, each bad request gets
its status, HEAD has no body, pipelined requests get two answers, a stalled client holds the
one-at-a-time server until its socket timeout, and where the text draws a conclusion from timings,
the conclusion printed is the one the printed numbers support. (No timing itself is asserted but
the lower bound that the one-at-a-time server cannot beat by construction.)
"""

from __future__ import annotations

import ast
import re

import pytest
from conftest import ROOT
from kernels import output_of

LESSON = ROOT / "notebooks" / "01_raw_socket.ipynb"
DURATION = r"-?[\d.,]+ (?:µs|ms|s)"  # as plots.duration prints it: "61 µs", "1,356 µs", "44 ms"


def seconds(duration: str) -> float:
    number, unit = duration.split()
    return float(number.replace(",", "")) * {"µs": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


@pytest.fixture(scope="module")
def outputs(lesson_outputs) -> list[tuple[str, str]]:
    return lesson_outputs(LESSON.stem)


@pytest.mark.timeout(180)
def test_the_notes_server_fails_on_python_3_and_the_client_sees_it(outputs):
    text = output_of(outputs, "def handle_request(client):")
    assert "TypeError" in text and "bytes-like object is required" in text
    assert "the client saw:" in text and ("aborted" in text or "closed" in text)


@pytest.mark.timeout(180)
def test_the_bytes_fix_answers_without_any_header(outputs):
    text = output_of(outputs, "def handle_request_bytes(")
    assert "200 'Hello, Seven' headers: {}" in text
    response = text.split("<<< response", 1)[1]
    assert "HTTP/1.1 200 OK␍␊\n␍␊\nHello, Seven" in response and "Content-Length" not in response


@pytest.mark.timeout(180)
def test_a_kept_connection_without_length_makes_the_client_wait(outputs):
    assert "the client gave up" in output_of(outputs, "def handle_forever_without_length(")


@pytest.mark.timeout(180)
def test_the_fixed_server_reads_every_post_body(outputs):
    assert "20 POSTs of 5,000 bytes now: {'200': 20}" in output_of(
        outputs, "def app(request: Request)"
    )


@pytest.mark.timeout(180)
def test_each_bad_request_gets_its_status(outputs):
    text = output_of(outputs, "bad_requests = {")
    statuses = dict(re.findall(r"^(.+?)\s+-> HTTP/1\.1 (\d{3})", text, re.M))
    assert statuses == {
        "not HTTP at all": "400",
        "version HTTP/2.0": "505",
        "method BREW": "501",
        "header without colon": "400",
        "20 KB header": "431",
        "Content-Length: ten": "400",
        "Content-Length: 10 GB": "413",
    }


@pytest.mark.timeout(180)
def test_head_has_a_length_and_no_body(outputs):
    response = output_of(outputs, 'wire.show(server, "HEAD"').split("<<< response", 1)[1]
    assert "Content-Length: 12␍␊" in response and response.rstrip().endswith("␍␊")


@pytest.mark.timeout(180)
def test_pipelined_requests_get_two_answers_in_order(outputs):
    text = output_of(outputs, "two_requests = (")
    assert text.count("HTTP/1.1 200 OK") == 2 and text.index("first") < text.index("second")


@pytest.mark.timeout(180)
def test_the_percent_decoding_examples(outputs):
    text = output_of(outputs, 'params={"a": "python flask"}, timeout=5).url')
    assert "a=python+flask" in text and text.count("hello ~~~ python flask") == 2 and "你好" in text


@pytest.mark.timeout(180)
def test_a_stalled_client_holds_the_one_at_a_time_server_until_its_timeout(outputs):
    text = output_of(outputs, "def time_request_behind_a_stalled_client(")
    waited = re.search(
        rf"one at a time \(0.5 s socket timeout\): the next client waited ({DURATION})", text
    )
    assert waited, text
    assert seconds(waited[1]) > 0.4  # it slept 50 ms of the 0.5 s timeout before starting the clock


@pytest.mark.timeout(180)
def test_a_failed_post_shows_what_requests_said(outputs):
    """Each kind of failure the notes' server causes is printed with its message (a reset)."""
    text = output_of(outputs, "def post_outcome(")
    counts = ast.literal_eval(re.search(r"20 POSTs of 5,000 bytes: (\{.*\})", text)[1])
    assert sum(counts.values()) == 20
    for name in set(counts) - {"200"}:
        message = re.search(rf"^  {name}: (.+)$", text, re.M)
        assert message, f"no message printed for {name}"
        if name == "ChunkedEncodingError":
            assert "reset" in message[1].lower()  # what the text says it is


@pytest.mark.timeout(180)
def test_the_werkzeug_conclusion_follows_from_the_printed_differences(outputs):
    text = output_of(outputs, "werkzeug_server = serve(")
    new_connection = seconds(re.search(rf"closing - keep-alive\)\s+({DURATION})", text)[1])
    werkzeug_extra = seconds(re.search(rf"werkzeug - closing\)\s+({DURATION})", text)[1])
    larger = "the new connection" if new_connection > werkzeug_extra else "werkzeug's extra Python"
    if (
        new_connection == werkzeug_extra
    ):  # equal once rounded: the notebook compared the exact values
        larger = "(the new connection|werkzeug's extra Python)"
    assert re.search(f"the larger of the two, this time: {larger}", text)


@pytest.mark.timeout(180)
def test_the_get_gap_is_split_and_the_conclusion_follows(outputs):
    text = output_of(outputs, "by_client = {")
    gap = seconds(re.search(rf"requests.get adds ({DURATION}) more", text)[1])
    connection = seconds(re.search(rf"server's new thread \(section 6\)\s+({DURATION})", text)[1])
    rest = seconds(re.search(rf"a new Session each call\s+({DURATION})", text)[1])
    # The parts add up, up to the rounding of the printed values (two or three significant digits).
    assert abs(connection + rest - gap) <= 0.05 * (abs(connection) + abs(rest) + abs(gap)) + 2e-6
    larger = "requests' own work" if rest > connection else "the new connection"
    if rest == connection:  # equal once rounded: the notebook compared the exact values
        larger = "(requests' own work|the new connection)"
    assert re.search(f"most of the gap is {larger}", text)
