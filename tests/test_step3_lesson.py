"""Step 3 lesson: the demonstrations show what the text says they show, and the processes the lesson
starts outside the kernel stop with it.

test_notebooks.py already runs the lesson for errors, time and leaks; here we read the outputs of
that same run: Flask's `run` is shown by its code lines (not its docstring); `run_simple` blocks and
the reloader kills the cell; each serving child prints the same debugger PIN, after the reload too;
the apps are compared in-process and the servers over loopback; Shortly's pieces are displayed
from the files that define them, not pasted into cells. And in kernels of our own, the
`Background` helper's processes stop when their cell runs again and when the kernel shuts down.
(Behaviour only: no timing is asserted.)
"""

from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from kernels import isolated_env, output_of, run_code, text_of

from socket2flask.grading.labclient import LabClient

LESSON = ROOT / "notebooks" / "03_werkzeug.ipynb"


@pytest.fixture(scope="module")
def outputs(lesson_outputs) -> list[tuple[str, str]]:
    return lesson_outputs(LESSON.stem)


@pytest.mark.timeout(180)
def test_flasks_run_is_shown_by_its_code_lines_only(outputs):
    lines = output_of(outputs, "inspect.getsource(flask.Flask.run)").splitlines()
    assert any(line.startswith("run_simple(") for line in lines), lines
    assert any(line.startswith("options.setdefault(") for line in lines), lines
    for line in lines:
        ast.parse(line)  # each one is a line of Python, none a fragment of the docstring


@pytest.mark.timeout(180)
def test_run_simple_blocks_and_the_reloader_kills_the_cell(outputs):
    text = output_of(outputs, "await run_in_throwaway_kernel(")
    blocking, reloading = text.split("run_simple(..., use_reloader=True) in a kernel printed:")
    assert "Running on http://127.0.0.1:" in blocking and "run_simple returned after" in blocking
    assert "Restarting with stat" in reloading and "SystemExit: 1" in reloading
    assert "ZMQError: Address already in use" in reloading


@pytest.mark.timeout(180)
def test_each_serving_child_prints_the_same_pin_also_after_the_reload(outputs):
    started = output_of(outputs, 'dev = Background("dev-server"')
    assert len(re.findall(r"calls run_simple", started)) == 2 and "Debugger PIN:" in started
    reloaded = output_of(outputs, "os.utime(DEV_SCRIPT)")
    before, after = re.findall(r"pid (\d+), parent pid \d+: child", reloaded)
    assert before != after
    pins = ast.literal_eval(re.search(r"so far: (\[.*?\])", reloaded).group(1))
    assert len(pins) == 2 and len(set(pins)) == 1 and "all the same: True" in reloaded


@pytest.mark.timeout(180)
def test_apps_are_compared_in_process_and_servers_over_loopback(outputs):
    in_process = output_of(outputs, "def direct_call(")
    for label in (
        "bare WSGI app (step 2)",
        "Request/Response app (the notes')",
        "Shortly details page",
        "one read",
        "one write",
    ):
        assert re.search(rf"{re.escape(label)}.*median\s+[\d.]+ [µm]?s", in_process), label
    assert "Request/Response instead of the bare app:" in in_process
    loopback = output_of(outputs, "over_loopback = {")
    assert loopback.count("statuses {200: 200}") == 3, loopback


@pytest.mark.timeout(180)
def test_no_click_is_lost_in_a_race(outputs):
    text = output_of(outputs, "race_id = shortly_app.storage.insert_url(")
    sent, counted = re.search(r"= (\d+) clicks sent, all 302: True; counted: (\d+)", text).groups()
    assert sent == counted


# Shortly's pieces are shown from the files that define them (notebooks/apps/shortly/), not pasted
SHOWN = {
    "show(to_base36, from_base36)": ("def to_base36(", "def from_base36("),
    "show(validate_url)": ("def validate_url(",),
    "show(MemoryStorage)": ("class MemoryStorage",),
    "show(number_or_none, sqlite_connection, SqliteStorage)": ("class SqliteStorage",),
    "show(RedisStorage)": ("class RedisStorage",),
    "show(WerkzeugApp)": ("class WerkzeugApp", "def dispatch_request("),
    "show(storage_from_config)": ("def storage_from_config(",),
}


def test_shortlys_pieces_are_imported_and_shown_not_copied():
    code = "\n".join(
        c.source for c in nbformat.read(LESSON, as_version=4).cells if c.cell_type == "code"
    )
    for definitions in SHOWN.values():
        for definition in definitions:
            assert definition not in code, f"the lesson defines {definition!r} again"
    assert 'use_app("shortly")' in code and 'Path("apps"' not in code


@pytest.mark.timeout(180)
def test_each_piece_of_shortly_is_displayed_from_its_file(outputs):
    for cell, definitions in SHOWN.items():
        shown = output_of(outputs, cell)
        for definition in definitions:
            assert definition in shown, (cell, shown[:300])


def helper_source(fragment: str) -> str:
    cells = nbformat.read(LESSON, as_version=4).cells
    found = [cell.source for cell in cells if cell.cell_type == "code" and fragment in cell.source]
    assert len(found) == 1, fragment
    return found[0]


def alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc (Linux)")
@pytest.mark.timeout(180)
def test_background_processes_stop_on_a_rerun_and_when_the_kernel_shuts_down(tmp_path):
    """A kernel shut down the normal way (JupyterLab's Shut Down, or a restart) runs its exit
    handlers: Background's processes, in sessions of their own, must not outlive it."""
    sleeper = "[sys.executable, '-c', 'import time; print(\"up\", flush=True); time.sleep(120)']"
    client = LabClient(
        nbformat.v4.new_notebook(),
        timeout=60,
        kernel_name="python3",
        startup_timeout=60,
        shutdown_kernel="graceful",
    )
    with client.setup_kernel(env=isolated_env(tmp_path), cwd=str(tmp_path)):
        run_code(
            client,
            "import os, re, sys, tempfile, time\nfrom pathlib import Path\n"
            "WORK = Path(tempfile.mkdtemp())",
        )
        for helper in ("def stop_session(", "def wait_for_output(", "class Background"):
            run_code(client, helper_source(helper))
        first = text_of(
            run_code(
                client,
                f"first = Background('sleeper', {sleeper})\n"
                "first.wait_for('up')\nprint(first.process.pid)",
            )
        )
        second = text_of(
            run_code(
                client,
                f"second = Background('sleeper', {sleeper})\n"
                "second.wait_for('up')\nprint(second.process.pid)",
            )
        )
        first_pid, second_pid = int(first.strip()), int(second.strip())
        assert not alive(first_pid), "a new Background of the same name must stop the earlier one"
        assert alive(second_pid)
    deadline = time.monotonic() + 10
    while alive(second_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(second_pid):
        os.kill(second_pid, 9)
        pytest.fail("the Background process outlived its kernel")
