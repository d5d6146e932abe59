"""The course in the JupyterLab learners use: open each lesson in the real UI (headless Chromium),
Run > Run All Cells, wait for the kernel and the latency plot, and fail on any error output.

Screenshots go to build/browser/: <notebook>-1-opened.png, -2-plot.png, -3-end.png, and on failure
<notebook>-FAILED.png with <notebook>-FAILED.txt (the page's text of what went wrong).
Run with `make test-browser` (it installs Chromium and Playwright); see conftest.py.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from .conftest import ROOT, SHOTS

# The lessons the browser test opens. A missing one FAILS (it is part of the course), never skips.
NOTEBOOKS = ["00_start_here", "01_raw_socket"]

# Tracebacks a lesson prints ON PURPOSE (to stderr, not as an error output), by exception name, e.g.
# 00's broken app whose server-side traceback must show in the cell that made the request. Each one
# listed must appear (the lesson shows it), and any other is a failure.
EXPECTED_TRACEBACKS = {
    "00_start_here": ["ZeroDivisionError"],
    "01_raw_socket": [],
}

OPEN_TIMEOUT_MS = 90_000     # page load, kernel start
RUN_TIMEOUT_MS = 150_000     # Run All Cells to idle (the headless budget is 30 s; the UI adds some)
PLOT_TIMEOUT_MS = 30_000

# The state of the open notebook, read from JupyterLab's own models (window.jupyterapp) and its DOM.
STATE_JS = r"""() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const outputs = [];
    for (let i = 0; i < cell.model.outputs.length; i++) outputs.push(cell.model.outputs.get(i).toJSON());
    // What the page shows, output by output (one .jp-OutputArea-child per output model).
    const shown = Array.from(cell.node.querySelectorAll('.jp-OutputArea-child')).map((child, i) => {
      const rendered = child.querySelector('.jp-OutputArea-output');
      return {type: outputs[i] ? outputs[i].output_type : '?',
              mime: rendered ? rendered.dataset.mimeType || '' : '',
              text: rendered ? rendered.textContent : ''};
    });
    const prompt = cell.node.querySelector('.jp-InputArea-prompt');
    cells.push({
      index: index,
      count: cell.model.executionCount,
      prompt: prompt ? prompt.textContent.trim() : '',
      tags: cell.model.getMetadata('tags') || [],
      source: cell.model.sharedModel.getSource().slice(0, 300),
      outputs: outputs,
      shown: shown,
    });
  });
  return {
    path: panel.context.path,
    kernel: kernel ? kernel.status : 'none',
    indicator: (panel.node.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}}).dataset.status || '',
    cells: cells,
  };
}"""

# Done: the kernel is idle, no cell is queued or running, and every code cell ran (or one failed,
# after which JupyterLab does not run the rest).
DONE_JS = "() => { const s = (" + STATE_JS + r""")();
  if (!s || s.kernel !== 'idle' || s.indicator !== 'idle') return false;
  if (s.cells.some(c => c.prompt.includes('*'))) return false;
  const failed = s.cells.some(c => c.outputs.some(o => o.output_type === 'error'));
  return failed || s.cells.every(c => c.count !== null);
}"""

# Every image in an output area (the latency plots) has loaded and has a size.
PLOT_JS = r"""() => { const images = Array.from(window.jupyterapp.shell.currentWidget.node.querySelectorAll(
    '.jp-OutputArea-output img'));
  return images.length > 0 && images.every(img => img.complete && img.naturalWidth > 0); }"""

STDERR = "application/vnd.jupyter.stderr"  # JupyterLab renders stderr streams AND errors with it


def exception_names(text: str) -> list[str]:
    """The exception name that ends each 'Traceback (most recent call last):' in `text`."""
    names = []
    for block in text.split("Traceback (most recent call last):")[1:]:
        for line in block.splitlines():
            match = re.match(r"([A-Za-z_][\w.]*)(:|$)", line)
            if match and not line.startswith((" ", "\t")):
                names.append(match.group(1).rsplit(".", 1)[-1])
                break
    return names


def stderr_tracebacks(state: dict) -> list[tuple[int, str]]:
    """(cell index, text) of each stderr stream the page shows with a traceback in it (not errors)."""
    return [(cell["index"], shown["text"]) for cell in state["cells"] for shown in cell["shown"]
            if shown["mime"] == STDERR and shown["type"] == "stream" and "Traceback" in shown["text"]]


def problems_in(state: dict, stem: str) -> list[str]:
    """What is wrong with a finished run, each with the text of the output that shows it."""
    problems = []
    for cell in state["cells"]:
        for output in cell["outputs"]:
            if output["output_type"] == "error" and "raises-exception" not in cell["tags"]:
                problems.append(f"cell {cell['index']} raised {output['ename']}: {output['evalue']}\n"
                                f"--- its source:\n{cell['source']}\n--- its traceback:\n"
                                + re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output["traceback"])))
    not_run = [c["index"] for c in state["cells"] if c["count"] is None]
    if not_run:
        problems.append(f"cells that never ran: {not_run}")
    found = [(index, name, text) for index, text in stderr_tracebacks(state)
             for name in exception_names(text)]
    expected = list(EXPECTED_TRACEBACKS.get(stem, []))
    for index, name, text in found:
        if name in expected:
            expected.remove(name)
        else:
            problems.append(f"cell {index} printed an unexpected traceback ({name}) to stderr:\n{text}")
    problems += [f"cell {cell['index']} shows an output of error type:\n{shown['text']}"
                 for cell in state["cells"] for shown in cell["shown"] if "error" in shown["mime"]]
    for name in expected:
        problems.append(f"the {name} traceback this lesson shows on purpose did not appear in the "
                        f"page (stderr outputs with a traceback: {[name for _, name, _ in found]})")
    return problems


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), timeout=15_000)


def wait_until(page, js: str, timeout_ms: int, what: str) -> None:
    """Wait for `js` to be true in the page; on timeout, say what did not happen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, timeout=timeout_ms, polling=250)
    except PlaywrightTimeout:
        raise TimeoutError(f"{what} within {timeout_ms / 1000:.0f} s") from None


def open_and_run_all(page, lab, path: str) -> dict:
    """Open `path` (relative to the served folder) in JupyterLab, Run > Run All Cells, wait until it
    is done. Returns the notebook's state (STATE_JS) and how long it took."""
    stem = path.rsplit("/", 1)[-1].removesuffix(".ipynb")
    for old in SHOTS.glob(f"{stem}-*"):  # screenshots and failure reports of an earlier run
        old.unlink()
    started = time.monotonic()
    # A workspace of its own, so that JupyterLab opens this notebook alone.
    page.goto(f"{lab.url}lab/workspaces/{stem}/tree/{path}?token={lab.token}", timeout=OPEN_TIMEOUT_MS)
    wait_until(page, "() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
               f" return p && p.context && p.context.path === '{path}'"
               " && p.sessionContext.session && p.sessionContext.session.kernel"
               " && p.sessionContext.session.kernel.status === 'idle'; }",
               OPEN_TIMEOUT_MS, f"{path} did not open with an idle kernel")
    opened = time.monotonic() - started
    shot(page, f"{stem}-1-opened")
    ran_before = [c["index"] for c in page.evaluate(STATE_JS)["cells"] if c["count"] is not None]
    assert not ran_before, f"{path} was committed with execution counts (cells {ran_before}): strip it"

    # Run > Run All Cells, as a learner would.
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    wait_until(page, DONE_JS, RUN_TIMEOUT_MS, "Run All Cells did not finish")
    state = page.evaluate(STATE_JS)
    state["seconds"] = {"open": round(opened, 1), "run": round(time.monotonic() - started - opened, 1)}
    return state


def where_it_stopped(state: dict, dialogs: list[str]) -> str:
    """A few lines for the CI log: how far the run got, and the text of the cell it stopped in."""
    cells = state["cells"]
    lines = [f"kernel {state['kernel']}; {sum(c['count'] is not None for c in cells)} of {len(cells)} "
             f"code cells ran"]
    stuck = [c for c in cells if "*" in c["prompt"]]
    for cell in stuck[:1]:
        outputs = "".join(o.get("text", "") for o in cell["outputs"] if o["output_type"] == "stream")
        lines.append(f"running (or queued) from cell {cell['index']}: {cell['source'].splitlines()[0]!r}"
                     f"\n--- its output so far:\n{outputs[-3000:]}")
    lines += [f"dialog on the page: {text}" for text in dialogs]
    return "\n".join(lines)


def report_failure(page, lab, stem: str, error: BaseException, state: dict | None) -> None:
    """Save a screenshot and the page's text of what went wrong; add the gist to the error."""
    report = [f"{stem} failed: {error}"]
    try:
        shot(page, f"{stem}-FAILED")
        state = state or page.evaluate(STATE_JS)
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        if state:
            error.add_note(where_it_stopped(state, dialogs))
            report.append(where_it_stopped(state, dialogs))
        report.append("state: " + json.dumps(state, indent=1)[:30_000])
        report.append("the notebook's text in the page:\n"
                      + page.locator(".jp-NotebookPanel").first.inner_text(timeout=5_000)[:30_000])
    except Exception as inner:
        report.append(f"(could not read the page: {inner!r})")
    report.append("JupyterLab log ends:\n" + lab.log_tail())
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"{stem}-FAILED.txt").write_text("\n\n".join(report))
    error.add_note(f"screenshot and page text: build/browser/{stem}-FAILED.png and .txt")


def shut_down_kernel(lab, path: str) -> None:
    for session in lab.api("GET", "api/sessions"):
        if session["path"] == path:
            lab.api("DELETE", f"api/sessions/{session['id']}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_lesson_runs_in_jupyterlab(stem: str, jupyterlab, page):
    notebook = ROOT / "notebooks" / f"{stem}.ipynb"
    assert notebook.exists(), f"{notebook.relative_to(ROOT)} does not exist (the course needs it)"
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    path, state = f"notebooks/{stem}.ipynb", None
    try:
        state = open_and_run_all(page, jupyterlab, path)
        problems = problems_in(state, stem)
        assert not problems, "\n\n".join(problems)

        wait_until(page, PLOT_JS, PLOT_TIMEOUT_MS, "no latency plot image rendered")
        images = page.locator(".jp-OutputArea-output img")
        plot = images.first
        plot.scroll_into_view_if_needed()
        width, height = plot.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        shot(page, f"{stem}-2-plot")
        page.locator(".jp-Notebook .jp-Cell").last.scroll_into_view_if_needed()
        shot(page, f"{stem}-3-end")
        print(f"{stem}: opened in {state['seconds']['open']} s, ran in {state['seconds']['run']} s, "
              f"{len(state['cells'])} code cells, {images.count()} plot(s), the first {width}x{height} px")
    except BaseException as error:
        if page_errors:
            error.add_note(f"errors in the page: {page_errors}")
        report_failure(page, jupyterlab, stem, error, state)
        raise
    finally:
        shut_down_kernel(jupyterlab, path)


BROKEN_CELLS = [
    # a traceback printed to stderr that no lesson expects
    "import sys, traceback\ntry:\n    {}['missing']\nexcept KeyError:\n    traceback.print_exc()",
    # an uncaught exception: JupyterLab stops Run All here
    "1 / 0",
    "print('never runs')",
]


@pytest.mark.timeout(120)
def test_the_check_sees_errors_in_the_page(jupyterlab, page):
    """The detector is not blind: a notebook with a stray traceback and an uncaught error fails it."""
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code) for code in BROKEN_CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = "selftest/selftest_broken.ipynb"
    (jupyterlab.root / "selftest").mkdir(exist_ok=True)
    nbformat.write(notebook, jupyterlab.root / path)
    try:
        state = open_and_run_all(page, jupyterlab, path)
    finally:
        shut_down_kernel(jupyterlab, path)
    problems = "\n".join(problems_in(state, "broken"))
    assert "cell 0 printed an unexpected traceback (KeyError)" in problems, problems
    assert "(ZeroDivisionError) to stderr" not in problems, "an error output counted as stderr"
    assert "cell 1 raised ZeroDivisionError: division by zero" in problems, problems
    assert "cells that never ran: [2]" in problems, problems
    shown = [(item["type"], item["mime"]) for item in state["cells"][1]["shown"]]
    assert shown == [("error", STDERR)], f"the page shows the uncaught error as {shown}"
    assert EXPECTED_TRACEBACKS["00_start_here"] and "ZeroDivisionError" in problems_in(
        {"cells": []}, "00_start_here")[0]  # an expected traceback that is missing fails too


def test_exception_names():
    text = ("[werkzeug server http://127.0.0.1:1] GET / failed\nTraceback (most recent call last):\n"
            '  File "x.py", line 1, in app\n    1 / 0\n    ~~^~~\nZeroDivisionError: division by zero\n'
            "Traceback (most recent call last):\n  File \"y\", line 2\nhttp.client.RemoteDisconnected: gone\n")
    assert exception_names(text) == ["ZeroDivisionError", "RemoteDisconnected"]
