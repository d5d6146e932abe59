"""Step 3: what the lesson shows of werkzeug's development server, checked in a subprocess (never in
the test process): run_simple on 127.0.0.1 and port 0 blocks; the reloader re-executes the script
and restarts it on a change, on the same port; the debugger's console runs code only after the
PIN."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

SCRIPT = """
import os
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

@Request.application
def app(request):
    if request.path == "/boom":
        secret_number = 42
        return Response(str(secret_number / 0))
    return Response(f"{os.getpid()} {os.getppid()}")

if __name__ == "__main__":
    print("started", os.getpid(), flush=True)
    run_simple("127.0.0.1", 0, app, use_debugger=True, use_reloader=True, reloader_interval=0.1)
    print("run_simple returned", flush=True)
"""


class Output:
    """The lines a child process prints, read in a thread."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(
            target=lambda: self.lines.extend(line.rstrip() for line in process.stdout), daemon=True
        )
        self.thread.start()

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in:\n" + "\n".join(self.lines))


@pytest.mark.timeout(90)
def test_reloader_and_debugger_in_a_subprocess(tmp_path):
    script = tmp_path / "dev.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    output = Output(process)
    try:
        url = output.wait_for(r"Running on (http://127\.0\.0\.1:\d+)").group(1)
        pin = output.wait_for(r"Debugger PIN: ([\d-]+)").group(1)
        child, parent = map(int, requests.get(url, timeout=5).text.split())
        assert parent == process.pid and child != process.pid  # re-executed: the child serves
        assert process.poll() is None  # run_simple is still blocking in the parent

        crash = requests.get(url + "/boom", timeout=5)
        assert crash.status_code == 500 and "ZeroDivisionError" in crash.text
        secret = re.search(r'SECRET = "(\w+)"', crash.text).group(1)
        frame = re.findall(r'<div class="frame" id="frame-(\d+)"', crash.text)[-1]
        # The answer is wrapped in a marker no process id or page text can contain by chance.
        command = {
            "__debugger__": "yes",
            "cmd": "'ran:%d:ran' % (secret_number * 2)",
            "frm": frame,
            "s": secret,
        }
        with requests.Session() as browser:
            assert "ran:84:ran" not in browser.get(url, params=command, timeout=5).text  # no PIN
            unlock = browser.get(
                url,
                params={"__debugger__": "yes", "cmd": "pinauth", "pin": pin, "s": secret},
                timeout=5,
            )
            assert unlock.json()["auth"] is True
            assert "ran:84:ran" in browser.get(url, params=command, timeout=5).text

        os.utime(script)  # the reloader restarts the child on the same port
        output.wait_for(r"Detected change in .*dev\.py")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                new_child = int(requests.get(url, timeout=5).text.split()[0])
                if new_child != child:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        assert new_child != child
        deadline = time.monotonic() + 15
        while len(pins := re.findall(r"Debugger PIN: ([\d-]+)", "\n".join(output.lines))) < 2:
            assert time.monotonic() < deadline, output.lines
            time.sleep(0.02)
        assert pins == [pin, pin]  # the new child derived the same PIN: it is not random
        assert "run_simple returned" not in output.lines
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(10)
        output.thread.join(10)
        process.stdout.close()
