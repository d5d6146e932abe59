"""The course in the JupyterLab learners use (headless Chromium driving its real UI).

- Every lesson (notebooks/0*.ipynb): open it, Run > Run All Cells, and fail on any error output (a
  traceback, except in a cell tagged `raises-exception`), on anything printed to stderr that the
  lesson does not show on purpose (EXPECTED_TRACEBACKS, EXPECTED_STDERR), on a cell left
  unfinished (`[*]`) or never run, and on a cell that makes a matplotlib figure but shows no image.
- One lab, as a learner works it: Run All Cells (every check says "not answered yet"), then type a
  wrong answer into one answer cell, run it and its test cell (check() must say the question
  failed, with a hint), then the right answer (from solutions/), run both again (it must pass).

One JupyterLab for all (conftest.py); each test shuts down its notebook's kernel when it is done.
Screenshots go to build/browser/: <notebook>-1-opened.png, -2-plot.png, -3-end.png (the lab:
-2-ran-all, -3-wrong-answer, -4-right-answer), and on failure <notebook>-FAILED.png with
<notebook>-FAILED.txt (the page's text of what went wrong).
Run with `make test-browser` (it installs Chromium and Playwright); see conftest.py.
"""

from __future__ import annotations

import ast
import json
import re
import time

import pytest

from .conftest import ROOT, SHOTS

# The lessons the browser test opens. A missing one FAILS (it is part of the course), never skips;
# test_every_lesson_is_listed fails when a lesson is added to notebooks/ but not here.
NOTEBOOKS = [
    "00_start_here",
    "01_raw_socket",
    "02_wsgi",
    "03_werkzeug",
    "04_mini_flask",
    "05_production",
    "06_flask_security",
    "07_async",
]

# Tracebacks a lesson prints ON PURPOSE (to stderr, not as an error output), by exception name, e.g.
# 00's broken app whose server-side traceback must show in the cell that made the request. Each one
# listed must appear (the lesson shows it), and any other is a failure.
EXPECTED_TRACEBACKS = {
    "00_start_here": ["ZeroDivisionError"],
    "01_raw_socket": [],
    # section 2: a str body on wsgiref, then on werkzeug (each server logs its AssertionError);
    # section 4: apps that fail before and after the headers, exc_info too late, a body that breaks
    "02_wsgi": [
        "AssertionError",
        "AssertionError",
        "KeyError",
        "KeyError",
        "LookupError",
        "ValueError",
    ],
    "03_werkzeug": [],
    "04_mini_flask": [],
    "05_production": [],
    "06_flask_security": [],
    "07_async": [],  # section 2's WsgiToAsgi failures are counted in the cell, not printed
}

# Anything else a lesson prints to stderr ON PURPOSE: a stderr output without a traceback must hold
# one of its notebook's fragments (or one of ANY_STDERR), else it is a failure.
EXPECTED_STDERR = {
    # section 5: wsgiref.validate's __del__ writes its message to stderr before it fails
    "02_wsgi": ["Iterator garbage collected without being closed"],
}
ANY_STDERR = ["Matplotlib is building the font cache"]  # a fresh MPLCONFIGDIR, once per run

# The lab the browser works as a learner (the quickest to run: its Run All takes about a second),
# the question it answers, and a wrong answer: it splits on any whitespace and never raises, so
# two of q1's visible tests pass and the others fail with their hints.
LAB = "01_raw_socket_lab"
QUESTION = "q1"
WRONG_ANSWER = "return tuple(part.decode() for part in line.split())"
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]  # what `make labs` puts in an answer

OPEN_TIMEOUT_MS = 90_000  # page load, kernel start
RUN_TIMEOUT_MS = 150_000  # Run All Cells to idle (the headless budget is 30 s; the UI adds some)
PLOT_TIMEOUT_MS = 30_000  # every image of a finished run loaded
CELL_TIMEOUT_MS = 60_000  # one answer cell and its test cell (check() gives each test 5 s)

# The state of the open notebook, read from JupyterLab's own models (window.jupyterapp) and its DOM.
# `index` counts every cell, markdown too: it is the cell's index in the .ipynb file.
STATE_JS = r"""() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const outputs = [];
    for (let i = 0; i < cell.model.outputs.length; i++) {
      const output = cell.model.outputs.get(i).toJSON();
      const data = output.data || {};
      for (const mime of Object.keys(data))  // images as their size: the state stays readable
        if (mime.startsWith('image/'))
          data[mime] = '<' + String(data[mime]).length + ' characters>';
      outputs.push(output);
    }
    // What the page shows, output by output (one .jp-OutputArea-child per output model).
    const shown = Array.from(cell.node.querySelectorAll('.jp-OutputArea-child')).map((child, i) => {
      const rendered = child.querySelector('.jp-OutputArea-output');
      return {type: outputs[i] ? outputs[i].output_type : '?',
              mime: rendered ? rendered.dataset.mimeType || '' : '',
              text: rendered ? rendered.textContent : ''};
    });
    const images = Array.from(cell.node.querySelectorAll('.jp-OutputArea-output img'));
    const prompt = cell.node.querySelector('.jp-InputArea-prompt');
    cells.push({
      index: index,
      count: cell.model.executionCount,
      prompt: prompt ? prompt.textContent.trim() : '',
      tags: cell.model.getMetadata('tags') || [],
      source: cell.model.sharedModel.getSource().slice(0, 300),
      outputs: outputs,
      shown: shown,
      images: images.filter(img => img.complete && img.naturalWidth > 0).length,
      images_loading: images.filter(img => !(img.complete && img.naturalWidth > 0)).length,
    });
  });
  return {
    path: panel.context.path,
    kernel: kernel ? kernel.status : 'none',
    indicator: (panel.node.querySelector('.jp-Notebook-ExecutionIndicator')
                || {dataset: {}}).dataset.status || '',
    active: panel.content.activeCellIndex,
    cells: cells,
  };
}"""

# Done: the kernel is idle, no cell is queued or running, and every code cell ran (or one failed,
# after which JupyterLab does not run the rest; it runs on after a cell tagged raises-exception).
DONE_JS = (
    "() => { const s = ("
    + STATE_JS
    + r""")();
  if (!s || s.kernel !== 'idle' || s.indicator !== 'idle') return false;
  if (s.cells.some(c => c.prompt.includes('*'))) return false;
  const failed = s.cells.some(c => !c.tags.includes('raises-exception')
                                   && c.outputs.some(o => o.output_type === 'error'));
  return failed || s.cells.every(c => c.count !== null);
}"""
)

# Every image in an output area has loaded and has a size.
IMAGES_LOADED_JS = r"""() => Array.from(window.jupyterapp.shell.currentWidget.node.querySelectorAll(
    '.jp-OutputArea-output img')).every(img => img.complete && img.naturalWidth > 0)"""

STDERR = "application/vnd.jupyter.stderr"  # JupyterLab renders stderr streams AND errors with it

# Calls that make a matplotlib figure: the course's plots.plot_latency/plot_sweep, and pyplot's own.
FIGURE_MAKERS = re.compile(
    r"(plots\.plot_\w+|plt\.(subplots?|subplot_mosaic|figure|plot|bar|barh|hist"
    r"|scatter|imshow|pie|step|stairs|errorbar|fill_between))"
)


# -------------------------------------------------------------------------------------------------
# What a run should show


def _parse(source: str) -> ast.Module | None:
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _calls(nodes) -> set[str]:
    """The dotted names of every function called in `nodes`."""
    found = set()
    for node in nodes:
        for call in ast.walk(node):
            if isinstance(call, ast.Call):
                try:
                    found.add(ast.unparse(call.func))
                except Exception:
                    pass
    return found


def plotting_cells(sources: dict[int, str]) -> set[int]:
    """The cells (by index) whose code, run at the top level, makes a matplotlib figure: it calls
    a figure maker (FIGURE_MAKERS), or a function of the notebook that does (`plot_some` in 02)."""
    trees = {index: tree for index, source in sources.items() if (tree := _parse(source))}
    defined = {
        node.name: node
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    makers: set[str] = set()
    while True:  # functions that call a figure maker, directly or through each other
        more = {
            name
            for name, node in defined.items()
            if any(FIGURE_MAKERS.fullmatch(call) or call in makers for call in _calls(node.body))
        }
        if more <= makers:
            break
        makers |= more
    plotting = set()
    for index, tree in trees.items():
        top = [
            node
            for node in tree.body
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]
        if any(FIGURE_MAKERS.fullmatch(call) or call in makers for call in _calls(top)):
            plotting.add(index)
    return plotting


def notebook_sources(relative: str) -> dict[int, str]:
    """The source of every code cell of a committed notebook, by index."""
    cells = json.loads((ROOT / relative).read_text(encoding="utf-8"))["cells"]
    return {
        index: "".join(cell["source"])
        for index, cell in enumerate(cells)
        if cell["cell_type"] == "code"
    }


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
    """(cell index, text) of each stderr stream the page shows with a traceback in it
    (not errors)."""
    return [
        (cell["index"], shown["text"])
        for cell in state["cells"]
        for shown in cell["shown"]
        if shown["mime"] == STDERR and shown["type"] == "stream" and "Traceback" in shown["text"]
    ]


def problems_in(state: dict, stem: str, plotting: set[int] = frozenset()) -> list[str]:
    """What is wrong with a finished run, each with the text of the output that shows it.
    `plotting`: the cells that make a figure, each of which must show an image
    (and no other may)."""
    problems = []
    for cell in state["cells"]:
        for output in cell["outputs"]:
            if output["output_type"] == "error" and "raises-exception" not in cell["tags"]:
                problems.append(
                    f"cell {cell['index']} raised {output['ename']}: {output['evalue']}\n"
                    f"--- its source:\n{cell['source']}\n--- its traceback:\n"
                    + re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output["traceback"]))
                )
    unfinished = [c["index"] for c in state["cells"] if "*" in c["prompt"]]
    if unfinished:
        problems.append(f"cells still running or queued ([*]): {unfinished}")
    not_run = [c["index"] for c in state["cells"] if c["count"] is None]
    if not_run:
        problems.append(f"cells that never ran: {not_run}")
    found = [
        (index, name, text)
        for index, text in stderr_tracebacks(state)
        for name in exception_names(text)
    ]
    expected = list(EXPECTED_TRACEBACKS.get(stem, []))
    for index, name, text in found:
        if name in expected:
            expected.remove(name)
        else:
            problems.append(
                f"cell {index} printed an unexpected traceback ({name}) to stderr:\n{text}"
            )
    allowed = EXPECTED_STDERR.get(stem, []) + ANY_STDERR
    problems += [
        f"cell {cell['index']} printed to stderr:\n{shown['text']}"
        for cell in state["cells"]
        for shown in cell["shown"]
        if shown["mime"] == STDERR
        and shown["type"] == "stream"
        and "Traceback" not in shown["text"]
        and not any(text in shown["text"] for text in allowed)
    ]
    problems += [
        f"cell {cell['index']} shows an output of error type:\n{shown['text']}"
        for cell in state["cells"]
        for shown in cell["shown"]
        if "error" in shown["mime"] and "raises-exception" not in cell["tags"]
    ]
    for name in expected:
        problems.append(
            f"the {name} traceback this lesson shows on purpose did not appear in the "
            f"page (stderr outputs with a traceback: {[name for _, name, _ in found]})"
        )
    by_index = {cell["index"]: cell for cell in state["cells"]}
    for index in sorted(plotting):
        cell = by_index.get(index)
        if cell is not None and cell["count"] is not None and not cell["images"]:
            problems.append(
                f"cell {index} makes a figure but shows no image (outputs: "
                f"{[o['output_type'] for o in cell['outputs']]}; {cell['images_loading']} "
                f"image(s) not loaded)\n--- its source:\n{cell['source']}"
            )
    for cell in state["cells"]:
        if cell["images"] and cell["index"] not in plotting:
            problems.append(
                f"cell {cell['index']} shows {cell['images']} image(s), but the test sees no "
                f"figure made in it (teach plotting_cells about it):\n{cell['source']}"
            )
    return problems


# -------------------------------------------------------------------------------------------------
# Driving the page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), timeout=15_000)


def wait_until(page, js: str, timeout_ms: int, what: str, arg=None) -> None:
    """Wait for `js` (called with `arg`) to be true in the page; on timeout, say what did
    not happen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_ms, polling=250)
    except PlaywrightTimeout:
        raise TimeoutError(f"{what} within {timeout_ms / 1000:.0f} s") from None


def open_notebook(page, lab, path: str) -> float:
    """Open `path` (relative to the served folder) in JupyterLab, alone in a workspace of its own,
    and wait for its kernel. Returns the seconds it took."""
    stem = path.rsplit("/", 1)[-1].removesuffix(".ipynb")
    for old in SHOTS.glob(f"{stem}-*"):  # screenshots and failure reports of an earlier run
        old.unlink()
    started = time.monotonic()
    page.goto(
        f"{lab.url}lab/workspaces/{stem}/tree/{path}?token={lab.token}", timeout=OPEN_TIMEOUT_MS
    )
    wait_until(
        page,
        "() => { const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        f" return p && p.context && p.context.path === '{path}'"
        " && p.sessionContext.session && p.sessionContext.session.kernel"
        " && p.sessionContext.session.kernel.status === 'idle'; }",
        OPEN_TIMEOUT_MS,
        f"{path} did not open with an idle kernel",
    )
    shot(page, f"{stem}-1-opened")
    ran_before = [c["index"] for c in page.evaluate(STATE_JS)["cells"] if c["count"] is not None]
    assert not ran_before, (
        f"{path} was committed with execution counts (cells {ran_before}): strip it"
    )
    return time.monotonic() - started


def run_all(page) -> tuple[dict, float]:
    """Run > Run All Cells, as a learner would; wait until it is done and every image has loaded.
    Returns the notebook's state (STATE_JS) and the seconds it took."""
    started = time.monotonic()
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    wait_until(page, DONE_JS, RUN_TIMEOUT_MS, "Run All Cells did not finish")
    wait_until(page, IMAGES_LOADED_JS, PLOT_TIMEOUT_MS, "the images of the outputs did not load")
    return page.evaluate(STATE_JS), time.monotonic() - started


def where_it_stopped(state: dict, dialogs: list[str]) -> str:
    """A few lines for the CI log: how far the run got, and the text of the cell it stopped in."""
    cells = state["cells"]
    lines = [
        f"kernel {state['kernel']}; {sum(c['count'] is not None for c in cells)} of {len(cells)} "
        f"code cells ran"
    ]
    stuck = [c for c in cells if "*" in c["prompt"]]
    for cell in stuck[:1]:
        outputs = "".join(
            o.get("text", "") for o in cell["outputs"] if o["output_type"] == "stream"
        )
        lines.append(
            f"running (or queued) from cell {cell['index']}: {cell['source'].splitlines()[0]!r}"
            f"\n--- its output so far:\n{outputs[-3000:]}"
        )
    lines += [f"dialog on the page: {text}" for text in dialogs]
    return "\n".join(lines)


def report_failure(page, lab, stem: str, error: BaseException, state: dict | None) -> None:
    """Save a screenshot and the page's text of what went wrong; add the gist to the error."""
    report = [f"{stem} failed: {error}"]
    try:
        shot(page, f"{stem}-FAILED")
        state = page.evaluate(STATE_JS) or state  # the page now, not when the run ended
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        if state:
            error.add_note(where_it_stopped(state, dialogs))
            report.append(where_it_stopped(state, dialogs))
        report.append("state: " + json.dumps(state, indent=1)[:30_000])
        report.append(
            "the notebook's text in the page:\n"
            + page.locator(".jp-NotebookPanel").first.inner_text(timeout=5_000)[:30_000]
        )
    except Exception as inner:
        report.append(f"(could not read the page: {inner!r})")
    report.append("JupyterLab log ends:\n" + lab.log_tail())
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"{stem}-FAILED.txt").write_text("\n\n".join(report))
    error.add_note(f"screenshot and page text: build/browser/{stem}-FAILED.png and .txt")


def shut_down_kernel(lab, path: str) -> None:
    """Shut down the notebook's session and kernel (its servers and threads end with it)."""
    for session in lab.api("GET", "api/sessions"):
        if session["path"] == path:
            lab.api("DELETE", f"api/sessions/{session['id']}")


# -------------------------------------------------------------------------------------------------
# The lessons


def test_every_lesson_is_listed():
    lessons = sorted(path.stem for path in (ROOT / "notebooks").glob("0*.ipynb"))
    assert lessons == sorted(NOTEBOOKS), f"notebooks/ has {lessons}; NOTEBOOKS lists {NOTEBOOKS}"
    assert sorted(EXPECTED_TRACEBACKS) == sorted(NOTEBOOKS)
    assert set(EXPECTED_STDERR) <= set(NOTEBOOKS)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_lesson_runs_in_jupyterlab(stem: str, jupyterlab, page):
    notebook = ROOT / "notebooks" / f"{stem}.ipynb"
    assert notebook.exists(), f"{notebook.relative_to(ROOT)} does not exist (the course needs it)"
    plotting = plotting_cells(notebook_sources(f"notebooks/{stem}.ipynb"))
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    path, state = f"notebooks/{stem}.ipynb", None
    try:
        opened = open_notebook(page, jupyterlab, path)
        state, ran = run_all(page)
        problems = problems_in(state, stem, plotting)
        assert not problems, "\n\n".join(problems)

        images = page.locator(".jp-OutputArea-output img")
        size = ""
        if images.count():
            plot = images.first
            plot.scroll_into_view_if_needed()
            size = ", the first {}x{} px".format(
                *plot.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            )
            shot(page, f"{stem}-2-plot")
        page.locator(".jp-Notebook .jp-Cell").last.scroll_into_view_if_needed()
        shot(page, f"{stem}-3-end")
        print(
            f"{stem}: opened in {opened:.1f} s, ran in {ran:.1f} s, "
            f"{len(state['cells'])} code cells, "
            f"{len(plotting)} plotting cell(s) showing {images.count()} image(s){size}"
        )
    except BaseException as error:
        if page_errors:
            error.add_note(f"errors in the page: {page_errors}")
        report_failure(page, jupyterlab, stem, error, state)
        raise
    finally:
        shut_down_kernel(jupyterlab, path)


# -------------------------------------------------------------------------------------------------
# A lab, as a learner works it


def lab_cells(relative: str, tests_only: bool = False) -> dict[str, int]:
    """grade_id -> cell index, for the cells of a lab (or solution) that have one (or, with
    `tests_only`, for its test cells: grade_id is then the question's id)."""
    cells = json.loads((ROOT / relative).read_text(encoding="utf-8"))["cells"]
    return {
        cell["metadata"]["nbgrader"]["grade_id"]: index
        for index, cell in enumerate(cells)
        if "grade_id" in cell["metadata"].get("nbgrader", {})
        and (cell["metadata"]["nbgrader"].get("grade") or not tests_only)
    }


def solution_of(question: str) -> str:
    """The answer between ### BEGIN SOLUTION and ### END SOLUTION in the solution's answer cell,
    dedented to column 0."""
    relative = f"solutions/{LAB}.ipynb"
    cell = json.loads((ROOT / relative).read_text(encoding="utf-8"))["cells"][
        lab_cells(relative)[f"{question}_answer"]
    ]
    lines = "".join(cell["source"]).splitlines()
    begin = [i for i, line in enumerate(lines) if line.strip() == "### BEGIN SOLUTION"]
    end = [i for i, line in enumerate(lines) if line.strip() == "### END SOLUTION"]
    assert len(begin) == len(end) == 1, f"{relative}: {question}_answer needs one marked answer"
    answer = lines[begin[0] + 1 : end[0]]
    indent = min(len(line) - len(line.lstrip()) for line in answer if line.strip())
    return "\n".join(line[indent:] for line in answer)


def with_answer(source: str, answer: str) -> str:
    """The answer cell's `source` with its stub replaced by `answer`, at the stub's indentation."""
    lines = source.splitlines()
    at = [i for i in range(len(lines) - 1) if [lines[i].strip(), lines[i + 1].strip()] == STUB]
    assert len(at) == 1, f"the answer cell should hold one stub {STUB}; it is:\n{source}"
    indent = lines[at[0]][: len(lines[at[0]]) - len(lines[at[0]].lstrip())]
    typed = [indent + line if line.strip() else "" for line in answer.splitlines()]
    return "\n".join(lines[: at[0]] + typed + lines[at[0] + 2 :])


CELL_SOURCE_JS = (
    "index => window.jupyterapp.shell.currentWidget.content.widgets[index]"
    ".model.sharedModel.getSource()"
)
CELL_TEXT_JS = (
    "index => { const area = window.jupyterapp.shell.currentWidget.content.widgets[index]"
    ".node.querySelector('.jp-OutputArea'); return area ? area.innerText : ''; }"
)
# Both cells ran again since `counts` (their execution counts before), and the kernel is idle.
RAN_AGAIN_JS = (
    "([answer, test, counts]) => { const s = ("
    + STATE_JS
    + r""")();
  if (!s || s.kernel !== 'idle' || s.indicator !== 'idle') return false;
  const byIndex = Object.fromEntries(s.cells.map(c => [c.index, c]));
  return [answer, test].every((index, i) => byIndex[index].count !== null
      && byIndex[index].count !== counts[i] && !byIndex[index].prompt.includes('*'));
}"""
)


def answer_and_check(page, answer_index: int, test_index: int, source: str) -> str:
    """Type `source` into the answer cell (select all, then the text), Shift+Enter to run it and
    move to the test cell, Shift+Enter to run that; wait for both. Returns what the test cell
    shows."""
    before = {c["index"]: c["count"] for c in page.evaluate(STATE_JS)["cells"]}
    cell = page.locator(".jp-Notebook .jp-Cell").nth(answer_index)
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)  # as typed: one input of the whole text (no auto-indent)
    typed = page.evaluate(CELL_SOURCE_JS, answer_index)
    assert typed == source, f"the answer cell holds, after typing:\n{typed}\nnot:\n{source}"
    page.keyboard.press("Shift+Enter")
    wait_until(
        page,
        "index => window.jupyterapp.shell.currentWidget.content.activeCellIndex === index",
        10_000,
        "Shift+Enter in the answer cell did not move to its test cell",
        arg=test_index,
    )
    page.keyboard.press("Shift+Enter")
    wait_until(
        page,
        RAN_AGAIN_JS,
        CELL_TIMEOUT_MS,
        "the answer cell and its test cell did not both run",
        arg=[answer_index, test_index, [before[answer_index], before[test_index]]],
    )
    state = page.evaluate(STATE_JS)
    both = [cell for cell in state["cells"] if cell["index"] in (answer_index, test_index)]
    problems = problems_in({**state, "cells": both}, LAB)  # no error, no traceback, both finished
    assert not problems, "\n\n".join(problems)
    page.locator(".jp-Notebook .jp-Cell").nth(test_index).scroll_into_view_if_needed()
    return page.evaluate(CELL_TEXT_JS, test_index)


@pytest.mark.timeout(300)
def test_lab_answered_in_jupyterlab(jupyterlab, page):
    path, state = f"labs/{LAB}.ipynb", None
    cells = lab_cells(path)
    answer_index, test_index = cells[f"{QUESTION}_answer"], cells[QUESTION]
    tests = lab_cells(path, tests_only=True)
    assert QUESTION in tests and len(tests) > 1, tests
    right_answer = solution_of(QUESTION)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        opened = open_notebook(page, jupyterlab, path)
        # The lab as given, Run All: it runs, and every check() says the question is not answered.
        state, ran = run_all(page)
        problems = problems_in(state, LAB, plotting_cells(notebook_sources(path)))
        shown = {
            cell["index"]: "".join(s["text"] for s in cell["shown"]) for cell in state["cells"]
        }
        problems += [
            f"cell {index} (the test cell of {grade_id}) shows, with nothing answered:\n"
            f"{shown.get(index)}"
            for grade_id, index in tests.items()
            if f"{grade_id}: not answered yet" not in shown.get(index, "")
        ]
        assert not problems, "\n\n".join(problems)
        shot(page, f"{LAB}-2-ran-all")

        stub_source = page.evaluate(CELL_SOURCE_JS, answer_index)
        wrong = answer_and_check(
            page, answer_index, test_index, with_answer(stub_source, WRONG_ANSWER)
        )
        shot(page, f"{LAB}-3-wrong-answer")
        assert re.search(rf"^{QUESTION}: failed ✗ \(\d+ of \d+ tests passed\)", wrong, re.M), wrong
        assert re.search(r"^\s+✗ .+: wrong result$", wrong, re.M), wrong
        assert re.search(r"^\s+hint: +\S", wrong, re.M), f"no hint under the failures:\n{wrong}"
        assert "Traceback" not in wrong, wrong

        right = answer_and_check(
            page, answer_index, test_index, with_answer(stub_source, right_answer)
        )
        shot(page, f"{LAB}-4-right-answer")
        assert re.search(rf"^{QUESTION}: passed ✓ \((\d+) of \1 tests passed\)", right, re.M), right
        assert "✗" not in right and "hint:" not in right, right
        print(
            f"{LAB}: opened in {opened:.1f} s, ran in {ran:.1f} s; {QUESTION} with a wrong answer: "
            f"{wrong.splitlines()[0]!r}; with the solution's: {right.splitlines()[0]!r}"
        )
    except BaseException as error:
        if page_errors:
            error.add_note(f"errors in the page: {page_errors}")
        report_failure(page, jupyterlab, LAB, error, state)
        raise
    finally:
        shut_down_kernel(jupyterlab, path)


# -------------------------------------------------------------------------------------------------
# The test of the test

BROKEN_CELLS = [
    # a traceback printed to stderr that no lesson expects
    "import sys, traceback\ntry:\n    {}['missing']\nexcept KeyError:\n    traceback.print_exc()",
    # a line on stderr that no lesson expects
    "print('a stray warning', file=sys.stderr)",
    # a figure made and dropped: no image shows
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nplt.close(fig)",
    # an uncaught exception: JupyterLab stops Run All here
    "1 / 0",
    "print('never runs')",
]


@pytest.mark.timeout(120)
def test_the_check_sees_errors_in_the_page(jupyterlab, page):
    """The detector is not blind: a notebook with a stray traceback, a figure that shows no image
    and an uncaught error fails it."""
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code) for code in BROKEN_CELLS],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    path = "selftest/selftest_broken.ipynb"
    (jupyterlab.root / "selftest").mkdir(exist_ok=True)
    nbformat.write(notebook, jupyterlab.root / path)
    try:
        open_notebook(page, jupyterlab, path)
        state, _ = run_all(page)
    finally:
        shut_down_kernel(jupyterlab, path)
    plotting = plotting_cells(dict(enumerate(BROKEN_CELLS)))
    assert plotting == {2}, plotting
    problems = "\n".join(problems_in(state, "broken", plotting))
    assert "cell 0 printed an unexpected traceback (KeyError)" in problems, problems
    assert "cell 1 printed to stderr:\na stray warning" in problems, problems
    assert "(ZeroDivisionError) to stderr" not in problems, "an error output counted as stderr"
    assert "cell 2 makes a figure but shows no image" in problems, problems
    assert "cell 3 raised ZeroDivisionError: division by zero" in problems, problems
    assert "cells that never ran: [4]" in problems, problems
    shown = [(item["type"], item["mime"]) for item in state["cells"][3]["shown"]]
    assert shown == [("error", STDERR)], f"the page shows the uncaught error as {shown}"
    # an expected traceback that is missing fails too
    assert (
        EXPECTED_TRACEBACKS["00_start_here"]
        and "ZeroDivisionError" in problems_in({"cells": []}, "00_start_here")[0]
    )


def test_plotting_cells():
    sources = {
        # defines, no figure yet
        0: "def helper(results):\n    return plots.plot_latency(results)\n",
        1: "x = 1\nhelper({'a': x})",  # calls it: a figure
        2: "fig, ax = plt.subplots()\nplt.close(fig)\nfig",
        3: "print(plots.duration(0.001))\nplt.close('all')",  # no figure made
        4: "%time y = 2\nplots.plot_sweep({})",  # magics are skipped
        5: "def outer():\n    return helper({})\n",
        6: "if True:\n    outer()",
    }
    assert plotting_cells(sources) == {1, 2, 4, 6}


def test_exception_names():
    text = (
        "[werkzeug server http://127.0.0.1:1] GET / failed\nTraceback (most recent call last):\n"
        '  File "x.py", line 1, in app\n    1 / 0\n    ~~^~~\nZeroDivisionError: division by zero\n'
        'Traceback (most recent call last):\n  File "y", line 2\n'
        "http.client.RemoteDisconnected: gone\n"
    )
    assert exception_names(text) == ["ZeroDivisionError", "RemoteDisconnected"]


def test_answers_go_in_place_of_the_stub():
    source = (
        'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nY = 1'
    )
    assert with_answer(source, "if x:\n    return 1\n\nreturn 2") == (
        'def f(x):\n    """Doc."""\n    if x:\n        return 1\n\n    return 2\n\nY = 1'
    )
    assert "### " not in solution_of(QUESTION) and "return" in solution_of(QUESTION)
