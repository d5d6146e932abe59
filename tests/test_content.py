"""Lesson text checked against what it describes (issue 16): every lesson that describes werkzeug's
debugger says the same thing (a console behind the PIN and the trusted-host check); the gunicorn
default that lesson 05 quotes is the installed one; lesson 05's nginx sample has its certificate
and, where an `nginx` binary exists, nginx accepts it; the errata page covers every source note and
every lesson that cites the notes links to it; lesson 02's request reader answers 414 to a
request line too long and accepts HTTP/1.2, as lab 01 teaches. (Behaviour only: no timing.)
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from socket2flask.apps import use_app

NOTEBOOKS = ROOT / "notebooks"
NOTES = Path("/work/shared/source-notes")  # where they were read from; the names are also below
NOTE_FILES = [
    "000_d77a61be8d958d2e.txt",
    "001_ab4189de8e7abca6.txt",
    "002_bc18717b742c7ef5.txt",
    "003_c40d616485b5f24c.txt",
    "004_82810800b2ed94f6.txt",
]
ERRATA = NOTEBOOKS / "notes_errata.md"

# The one description of werkzeug's debugger: a Python console, the PIN, and the trusted hosts.
DEBUGGER = (
    "a Python console in the server process, open to anyone who has its PIN and sends a "
    "trusted `Host` header"
)
# ...and what the lessons said before, each wrong or incomplete (issue 16, items 1 and 2).
WRONG_DEBUGGER = [
    "runs any Python code it is sent",
    "which run any code\nthey are sent",
    "which run any code they are sent",
    "lets whoever sees an error page run Python",
]


def lesson(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)


def markdown(nb: nbformat.NotebookNode) -> str:
    """All the markdown cells of a notebook, joined, with line breaks folded into spaces."""
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return re.sub(r"[ \n]+", " ", text)


LESSONS = sorted(path.stem for path in NOTEBOOKS.glob("0*.ipynb"))


# -- the debugger, described once -----------------------------------------------------------------
@pytest.mark.parametrize("stem", LESSONS)
def test_every_lesson_describes_the_debugger_the_same_way(stem):
    nb = lesson(stem)
    raw = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for wrong in WRONG_DEBUGGER:
        assert wrong not in raw, f"{stem} still says {wrong!r}"
    text = markdown(nb)
    # A lesson that says what the debugger does (a console, a shell, running code) uses the
    # sentence.
    describes = re.search(r"debugger[^.]*(console|shell|run[s]? [^.]*(code|Python))", text, re.I)
    if describes:
        assert DEBUGGER in text, f"{stem} describes the debugger without the shared sentence"


def test_the_lessons_that_warn_about_the_debugger_all_carry_the_sentence():
    for stem in ("01_raw_socket", "03_werkzeug", "04_mini_flask", "05_production"):
        assert DEBUGGER in markdown(lesson(stem)), stem


def test_the_trusted_hosts_are_the_installed_werkzeugs():
    """Lesson 03 names werkzeug's trusted hosts, and the version that brought the check."""
    from werkzeug.debug import DebuggedApplication

    text = markdown(lesson("03_werkzeug"))
    assert "werkzeug 3.0.3" in text and "CVE-2024-34069" in text
    trusted = DebuggedApplication(lambda environ, start_response: [], evalex=True).trusted_hosts
    assert trusted == [".localhost", "127.0.0.1"]
    assert "`localhost` and every name that ends in `.localhost`, `127.0.0.1`" in text


# -- gunicorn's default, quoted as installed ------------------------------------------------------
def test_forwarded_allow_ips_default_is_the_installed_gunicorns():
    text = markdown(lesson("05_production"))
    quoted = re.findall(r"`forwarded_allow_ips`, by default `([^`]+)`", text)
    assert len(quoted) == 1, "lesson 05 should quote forwarded_allow_ips's default once"
    env = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}  # the default, unset
    installed = subprocess.run(
        [sys.executable, "-c", "import gunicorn.config as c; print(c.ForwardedAllowIPS.default)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert quoted[0] == installed


# -- the nginx sample -----------------------------------------------------------------------------
def nginx_sample() -> str:
    blocks = re.findall(
        r"```nginx\n(.*?)```",
        "\n".join(c.source for c in lesson("05_production").cells if c.cell_type == "markdown"),
        re.S,
    )
    assert len(blocks) == 1, "lesson 05 should have one nginx sample"
    return blocks[0]


def test_the_nginx_sample_has_its_certificate():
    sample = nginx_sample()
    assert re.search(r"listen\s+443\s+ssl\s*;", sample)
    assert re.search(r"^\s*ssl_certificate\s+\S+;", sample, re.M)
    assert re.search(r"^\s*ssl_certificate_key\s+\S+;", sample, re.M)


def test_nginx_accepts_the_sample(tmp_path):
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if nginx is None:
        pytest.skip(
            "no nginx binary on this machine (apt-get install nginx-light to run this test)"
        )
    sample = nginx_sample()
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = shutil.which("openssl")
    if openssl:  # a throwaway self-signed certificate, so that nginx can load the files it names
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=shortly.example",
                "-keyout",
                str(key),
                "-out",
                str(certificate),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        sample = re.sub(r"(ssl_certificate\s+)\S+;", rf"\g<1>{certificate};", sample)
        sample = re.sub(r"(ssl_certificate_key\s+)\S+;", rf"\g<1>{key};", sample)
    else:  # with a variable in the name, nginx loads the files per connection, not at start
        sample = re.sub(r"(ssl_certificate(?:_key)?\s+)\S+;", r"\g<1>$ssl_server_name.pem;", sample)
    version = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=30).stderr
    temp = [f"client_body_temp_path {tmp_path}/body;", f"proxy_temp_path {tmp_path}/proxy;"]
    temp += [
        f"{module}_temp_path {tmp_path}/{module};"
        for module in ("fastcgi", "uwsgi", "scgi")
        if f"--without-http_{module}_module" not in version
    ]
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n{chr(10).join(temp)}\naccess_log off;\n{sample}}}\n"
    )
    result = subprocess.run(
        [
            nginx,
            "-t",
            "-q",
            "-c",
            str(config),
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# -- the errata -----------------------------------------------------------------------------------
def test_the_errata_name_every_note():
    text = ERRATA.read_text(encoding="utf-8")
    assert text.startswith("# Errata for the source notes · 笔记勘误")
    for name in NOTE_FILES:
        assert name in text, name
    if NOTES.is_dir():  # the notes themselves, where this machine has them: no file left out
        assert sorted(p.name for p in NOTES.glob("00*.txt")) == NOTE_FILES


def test_the_errata_point_to_lessons_that_exist():
    text = ERRATA.read_text(encoding="utf-8")
    headings = {
        stem: {
            line.lstrip("#").strip()
            for c in lesson(stem).cells
            if c.cell_type == "markdown"
            for line in c.source.splitlines()
            if line.startswith("#")
        }
        for stem in LESSONS
    }
    cited = re.findall(r"\]\((0\d_\w+)\.ipynb\), \*([^*]+)\*", text)
    assert len(cited) >= 20, "each erratum names a lesson and a section"
    for stem, heading in cited:
        assert stem in headings, stem
        assert heading in headings[stem], f"{stem} has no section {heading!r}"


@pytest.mark.parametrize("stem", LESSONS)
def test_lessons_that_cite_the_notes_link_the_errata(stem):
    text = markdown(lesson(stem))
    if re.search(r"\bthe (source )?notes\b", text, re.I):
        assert "](notes_errata.md)" in text, f"{stem} cites the notes without linking the errata"


# -- the request reader of lesson 02 and lab 02 (notebooks/apps/request_reader/) ------------------
@pytest.fixture(scope="module")
def reader() -> dict:
    """The request reader's module, as lesson 02 and lab 02 load it."""
    use_app("request_reader")
    import request_reader

    return vars(request_reader)


def answer(reader: dict, raw: bytes):
    """The Request read from `raw`, or the status of the BadRequest it raised."""
    try:
        return reader["read_request"](io.BufferedReader(io.BytesIO(raw)))
    except reader["BadRequest"] as error:
        return error.status


def test_the_given_reader_answers_414_to_a_request_line_too_long(reader):
    raw = b"GET /" + b"a" * (reader["MAX_LINE"] + 100) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert answer(reader, raw) == "414 URI Too Long"
    header = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (reader["MAX_LINE"] + 100) + b"\r\n\r\n"
    assert answer(reader, header).startswith("431 ")  # a header line too long is still a 431


def test_the_given_reader_accepts_http_1_2_and_refuses_other_versions(reader):
    request = answer(reader, b"GET /a HTTP/1.2\r\nHost: x\r\n\r\n")
    assert not isinstance(request, str), request
    assert (request.method, request.target, request.version) == ("GET", "/a", "HTTP/1.2")
    assert request.keep_alive, "HTTP/1.2 is read as HTTP/1.1: the connection stays open"
    assert answer(reader, b"GET / HTTP/2.0\r\n\r\n").startswith("505 ")
    assert answer(reader, b"GET / HTTP/0.9\r\n\r\n").startswith("505 ")
    assert answer(reader, b"GET / HTTP/1.x\r\n\r\n").startswith("400 ")


# -- issue 16, items 4 to 6: key points, answers, predictions, times, setup ------------------------
CJK = re.compile(r"[\u3400-\u9fff]")
KEY_POINTS = "> **Key points · 本节要点**"
ANSWER = "<details><summary>Answer · 答案</summary>"
PREDICT = "**Predict, then run** · 先预测，再运行"
README = ROOT / "README.md"


def headings(source: str) -> list[int]:
    """The lines of a markdown source that are `## ` headings (not inside a code fence)."""
    found, fence = [], False
    for number, line in enumerate(source.split("\n")):
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("## "):
            found.append(number)
    return found


def sections(nb: nbformat.NotebookNode) -> list[tuple[str, list]]:
    """(heading, cells) of every `## ` section: from its heading's cell up to the next one."""
    starts = [
        n
        for n, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and c.source.startswith("## ")
    ]
    return [
        (nb.cells[s].source.split("\n")[0], nb.cells[s:e])
        for s, e in zip(starts, starts[1:] + [len(nb.cells)])
    ]


@pytest.mark.parametrize("stem", LESSONS)
def test_every_section_heading_opens_its_cell(stem):
    """So that a section can end with a cell of its own: no `## ` heading in the middle of a
    cell."""
    for cell in lesson(stem).cells:
        if cell.cell_type == "markdown":
            assert headings(cell.source) in ([], [0]), (
                f"{stem}: a heading inside {cell.source[:60]!r}"
            )


@pytest.mark.parametrize("stem", LESSONS)
def test_every_section_ends_with_bilingual_key_points(stem):
    found = sections(lesson(stem))
    assert len(found) >= 5, stem
    for heading, cells in found:
        last = cells[-1]
        assert last.cell_type == "markdown" and last.source.startswith(KEY_POINTS), (
            f"{stem}, {heading!r} does not end with its key points"
        )
        bullets = [line[4:] for line in last.source.splitlines() if line.startswith("> - ")]
        english = [b for b in bullets if not CJK.search(b)]
        chinese = [b for b in bullets if CJK.search(b)]
        assert bullets == english + chinese, f"{stem}, {heading!r}: English first, then Chinese"
        assert 3 <= len(english) <= 5 and len(chinese) == len(english), f"{stem}, {heading!r}"
        assert all(re.search(r"[A-Za-z]{3,}", b) for b in english)
        assert sum(c.source.startswith(KEY_POINTS) for c in cells) == 1, f"{stem}, {heading!r}"


@pytest.mark.parametrize("stem", LESSONS)
def test_every_self_check_question_has_an_answer_in_both_languages(stem):
    cells = [
        c
        for c in lesson(stem).cells
        if c.cell_type == "markdown" and "**Check yourself**" in c.source
    ]
    assert len(cells) == 1, stem
    text = cells[0].source.split("**Check yourself**", 1)[1]
    parts = re.split(r"^\d+\. ", text, flags=re.M)[1:]  # each question with what follows it
    assert len(parts) >= 3, stem
    for number, part in enumerate(parts, 1):
        assert part.count(ANSWER) == 1, f"{stem}, question {number} has no answer"
        answer = part.split(ANSWER, 1)[1].split("</details>", 1)
        assert len(answer) == 2, f"{stem}, question {number}: the answer is not closed"
        paragraphs = [p.strip() for p in answer[0].split("\n\n") if p.strip()]
        assert any(not CJK.search(p) and len(p.split()) >= 8 for p in paragraphs), (
            f"{stem} {number}: English"
        )
        assert any(len(CJK.findall(p)) >= 10 for p in paragraphs), f"{stem} {number}: Chinese"


@pytest.mark.parametrize("stem", LESSONS)
def test_every_lesson_asks_for_predictions_before_its_demos(stem):
    cells = lesson(stem).cells
    prompts = [
        n for n, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith(PREDICT)
    ]
    assert 2 <= len(prompts) <= 4, f"{stem} has {len(prompts)} prompts"
    for n in prompts:
        assert n + 1 < len(cells) and cells[n + 1].cell_type == "code", (
            f"{stem}: a prompt before no code"
        )
        question = cells[n].source.split(PREDICT, 1)[1]
        assert re.search(r"[A-Za-z]{3,}", question) and CJK.search(question), (
            f"{stem}: English and Chinese"
        )


def test_the_first_exchange_is_also_shown_with_curl_and_the_browser():
    nb = lesson("00_start_here")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "curl -v http://127.0.0.1:PORT/" in text and "server.port" in text
    assert "**Network** tab" in text and "*Timing*" in text and "*Headers*" in text
    for stem in LESSONS:  # curl runs in a cell only where it is installed
        for cell in lesson(stem).cells:
            if cell.cell_type == "code" and re.search(r"""["']curl["']""", cell.source):
                assert 'shutil.which("curl")' in cell.source, stem


def readme_times() -> dict[str, int]:
    rows = re.findall(
        r"^\| [^|]+ \| `(0\d_\w+)` \|.*\| (\d+) min(?: \+ lab)? \|[^|]*\|$",
        README.read_text(encoding="utf-8"),
        re.M,
    )
    return {stem: int(minutes) for stem, minutes in rows}


@pytest.mark.parametrize("stem", LESSONS)
def test_the_time_in_each_introduction_is_the_readmes(stem):
    intro = lesson(stem).cells[0].source
    stated = re.findall(r"^\| \*\*Time\*\* \| about (\d+) minutes", intro, re.M)
    assert len(stated) == 1, f"{stem} states no time in its introduction"
    assert readme_times()[stem] == int(stated[0])


def test_the_readme_has_routes_for_windows_and_for_a_package_mirror():
    text = README.read_text(encoding="utf-8")
    assert "WSL2" in text and "wsl --install" in text and "fork()" in text
    assert (
        "PIP_INDEX_URL=" in text
        and "make lab" in text
        and "pip config set global.index-url" in text
    )
