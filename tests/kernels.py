"""The tests' kernels: the package's runner (socket2flask.grading.runner: isolated kernels,
leak checks), and what only tests need (reading a lesson's printed text, ending process groups)."""

from __future__ import annotations

import os
import signal
import subprocess

from socket2flask.grading.runner import (  # noqa: F401 (the tests import them from here)
    LEAK_PROBE,
    execute_notebook,
    isolated_env,
    kernel,
    leaks,
    new_leaks,
    run_code,
    text_of,
)


def cell_texts(nb) -> list[tuple[str, str]]:
    """(source, printed text) of every code cell of an executed notebook."""
    return [(cell.source, text_of(cell.outputs)) for cell in nb.cells if cell.cell_type == "code"]


def output_of(texts: list[tuple[str, str]], fragment: str) -> str:
    """The printed text of the one code cell whose source contains `fragment`."""
    found = [text for source, text in texts if fragment in source]
    assert len(found) == 1, f"{len(found)} cells contain {fragment!r}"
    return found[0]


def stop_process_group(process: subprocess.Popen, seconds: float = 20) -> None:
    """End a process started with start_new_session=True, and everything it started: SIGTERM to
    the group, then SIGKILL if it is still there after `seconds`."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
