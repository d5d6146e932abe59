"""The lab format (CONTRIBUTING.md, "How to write a lab"): read and write notebooks, find the
questions (test cells, with the answer cells before them), solution markers, stubs, hidden tests."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = "### STUB"  # "### STUB <code>": a line of the question's own stub
DEFAULT_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")  # nbgrader's own
SCHEMA_VERSION = 3  # of nbgrader's cell metadata
_GRADE_ID = re.compile(r"[A-Za-z0-9_\-]+")  # what nbgrader accepts


class LabError(ValueError):
    """A notebook that breaks the lab format; the message names the file and the cells."""


@dataclass
class Question:  # one graded question: its test cell and the answer cells before it (indexes)
    id: str
    points: float
    title: str
    test_cell: int
    answer_cells: list[int]


def loads(text: str) -> NotebookNode:
    """Parse a notebook as written: no validation, so no random cell ids and no warnings."""
    data = json.loads(text)
    cells = data.get("cells") if isinstance(data, dict) else None
    if (
        not isinstance(cells, list)
        or data.get("nbformat") != 4
        or not all(
            isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw") for c in cells
        )
    ):
        raise ValueError("not a Jupyter notebook in format 4")
    return nbformat.v4.to_notebook(data)


def read(path: Path) -> NotebookNode:
    return loads(Path(path).read_text(encoding="utf-8"))


def dumps(nb: NotebookNode) -> str:
    """The notebook as Jupyter writes it (sorted keys, one-space indent): same input, same bytes."""
    return nbformat.v4.writes(nb) + "\n"


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a file so that a reader sees the old content or the new, never half of it. `mode`:
    its permissions (mkstemp's 0o600 by default: grades are private; course files pass 0o644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):  # only when writing failed
            os.unlink(tmp)


def grading(cell: NotebookNode) -> dict:
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def is_answer(cell: NotebookNode) -> bool:
    return bool(grading(cell).get("solution"))


def is_test(cell: NotebookNode) -> bool:
    return bool(grading(cell).get("grade")) and not is_answer(cell)


def questions(nb: NotebookNode) -> list[Question]:
    """The questions in notebook order, each with the answer cells that come before its tests."""
    found, answers = [], []
    for i, cell in enumerate(nb.cells):
        if is_answer(cell):
            answers.append(i)
        elif is_test(cell):
            meta, title = grading(cell), cell.metadata.get("socket2flask", {}).get("title", "")
            found.append(
                Question(meta.get("grade_id", ""), meta.get("points", 0), title, i, answers)
            )
            answers = []
    return found


def stub_answer(source: str) -> str:
    """An answer cell as the learner gets it: each solution replaced by nbgrader's stub at the
    marker's indentation, or, when the cell has ``### STUB <code>`` lines, by those lines alone."""
    lines, out = source.splitlines(), []
    own_stub = any(line.strip().startswith(STUB) for line in lines)
    regions = _regions(source, BEGIN_SOLUTION, END_SOLUTION)
    starts, cut = {b for b, _ in regions}, {n for b, e in regions for n in range(b, e + 1)}
    for n, line in enumerate(lines):
        indent = line[: len(line) - len(line.lstrip())]
        if n in starts and not own_stub:
            out += [indent + stub for stub in DEFAULT_STUB]
        elif line.strip().startswith(STUB):
            out.append(indent + line.strip().removeprefix(STUB).removeprefix(" "))
        elif n not in cut:
            out.append(line)
    return "\n".join(out)


def strip_hidden(source: str) -> str:
    """A test cell without its hidden tests and their markers."""
    hidden = {n for b, e in _regions(source, BEGIN_HIDDEN, END_HIDDEN) for n in range(b, e + 1)}
    kept = "\n".join(line for n, line in enumerate(source.splitlines()) if n not in hidden)
    return re.sub(r"\n{4,}", "\n\n\n", kept)  # at most two blank lines in a row, as PEP 8 has it


def _regions(source: str, begin: str, end: str) -> list[tuple[int, int]]:
    """(first, last) line of each marked region; ValueError when the markers do not pair."""
    spans, start = [], None
    for n, line in enumerate(source.splitlines()):
        marker = line.strip()
        if marker == begin and start is None:
            start = n
        elif marker == end and start is not None:
            spans.append((start, n))
            start = None
        elif marker in (begin, end):
            raise ValueError(f"line {n + 1}: {marker!r} without its pair")
    if start is not None:
        raise ValueError(f"line {start + 1}: {begin!r} is never closed by {end!r}")
    return spans


def problems(nb: NotebookNode) -> list[str]:
    """Everything in a solution notebook that breaks the lab format, as readable sentences."""
    seen: set[str] = set()
    found = [
        f"cell {n}: {why}"
        for n, cell in enumerate(nb.cells, 1)
        for why in _cell_problems(nb, cell, seen)
    ]
    if not questions(nb):
        found.append("no test cell: a lab needs at least one question")
    return found


def _cell_problems(nb: NotebookNode, cell: NotebookNode, seen: set[str]) -> Iterator[str]:
    meta, src = grading(cell), cell.get("source", "")
    if nb.get("nbformat_minor", 0) >= 5 and not cell.get("id"):
        yield "no cell id (open and save the notebook in Jupyter to add one)"
    kind = "answer" if is_answer(cell) else "test" if is_test(cell) else "locked" if meta else ""
    allowed = {"answer": (BEGIN_SOLUTION, END_SOLUTION, STUB), "test": (BEGIN_HIDDEN, END_HIDDEN)}
    for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN, STUB):
        if marker in src and marker not in allowed.get(kind, ()):
            yield f"{marker!r} has no place in a {kind or 'plain (no nbgrader metadata)'} cell"
    if not meta:
        return
    gid = meta.get("grade_id", "")
    if gid in seen or not _GRADE_ID.fullmatch(gid):
        yield f"grade_id {gid!r} " + (
            "is used twice" if gid in seen else "needs letters, digits, _, -"
        )
    seen.add(gid)
    if meta.get("schema_version") != SCHEMA_VERSION:
        yield f"nbgrader schema_version must be {SCHEMA_VERSION}"
    flags = {"answer": (True, False, False), "test": (False, True, True)}.get(
        kind, (False, False, True)
    )
    if tuple(meta.get(key, False) for key in ("solution", "grade", "locked")) != flags:
        yield "a {} cell needs solution={}, grade={}, locked={}".format(kind, *flags)
    try:  # _regions raises ValueError for markers that do not pair
        if kind == "answer" and cell.cell_type != "code":
            yield "answer cells must be code cells"
        elif kind == "answer" and not _regions(src, BEGIN_SOLUTION, END_SOLUTION):
            yield f"an answer cell needs {BEGIN_SOLUTION!r} ... {END_SOLUTION!r}"
        elif kind == "answer" and "NotImplementedError" not in stub_answer(src):
            yield "its stub must raise NotImplementedError, so that check() says 'not answered yet'"
        elif kind == "test":
            yield from _test_problems(cell, meta, gid, src)
    except ValueError as error:
        yield str(error)


def _test_problems(cell: NotebookNode, meta: dict, gid: str, src: str) -> Iterator[str]:
    if not isinstance(meta.get("points"), (int, float)) or meta["points"] <= 0:
        yield "a test cell needs points > 0"
    if not cell.metadata.get("socket2flask", {}).get("title"):
        yield "a test cell needs a title in its metadata: socket2flask.title"
    if not re.search(r"^def test_\w+\(", strip_hidden(src), re.M):
        yield "no visible test: a top-level 'def test_...():' outside the hidden tests"
    if not re.search(rf"^check\(\s*['\"]{re.escape(gid)}['\"]", src, re.M):
        yield f"the cell must end with check({gid!r})"


def load_answers(path: Path) -> dict:
    """Run a solution notebook's answer cells and the code it gives learners (setup and locked given
    cells, not its tests) in this process, in order, and return the namespace they leave: the
    reference code, for tests and benchmarks to call directly. Answer cells only define things."""
    import sys
    import types

    # A real module in sys.modules: dataclasses and typing look their module up by name.
    module = types.ModuleType(f"answers_{path.stem}")
    sys.modules[module.__name__] = module
    for cell in read(path).cells:
        metadata = grading(cell)
        if cell.cell_type == "code" and metadata and not metadata.get("grade"):
            # dont_inherit: not this file's `from __future__` imports
            code = compile(
                cell.source, f"{path.name}:{metadata.get('grade_id')}", "exec", dont_inherit=True
            )
            exec(code, module.__dict__)
    return module.__dict__
