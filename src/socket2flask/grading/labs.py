"""Labs made from ``solutions/``: answers stubbed, outputs stripped, and hidden tests removed (in
``labs/``, for learners) or kept (in the teacher's bundle). Same solution in, same bytes out."""

from __future__ import annotations

import copy
from pathlib import Path

from nbformat import NotebookNode

from .notebook import (
    LabError,
    dumps,
    is_answer,
    is_test,
    problems,
    read,
    strip_hidden,
    stub_answer,
    write_atomic,
)

PATTERN = "*_lab.ipynb"


def lab_notebook(solution: NotebookNode, name: str, *, hidden_tests: bool = False) -> NotebookNode:
    """The learner's notebook made from a solution (with ``hidden_tests``: the teacher's copy)."""
    found = problems(solution)
    if found:
        raise LabError(
            f"{name} breaks the lab format (see CONTRIBUTING.md):\n  " + "\n  ".join(found)
        )
    nb = copy.deepcopy(solution)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timings that nbclient and JupyterLab record
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if is_answer(cell):
            cell.source = stub_answer(cell.source)
        elif is_test(cell) and not hidden_tests:
            cell.source = strip_hidden(cell.source)
    nb.metadata["socket2flask"] = {
        "generated_from": f"solutions/{name}",
        "hidden_tests": hidden_tests,
    }
    return nb


def sync_labs(solutions: Path, labs: Path, *, check_only: bool = False) -> list[str]:
    """Make ``labs/`` match ``solutions/``; return what was stale (with ``check_only``: only say it)."""
    wanted = {p.name: dumps(lab_notebook(read(p), p.name)) for p in sorted(solutions.glob(PATTERN))}
    stale = []
    for name, text in wanted.items():
        target = labs / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(f"{target} is out of date with {solutions / name}")
            if not check_only:
                write_atomic(target, text)
    for target in sorted(labs.glob("*.ipynb")) if labs.is_dir() else []:
        if target.name not in wanted:
            stale.append(f"{target} has no solution in {solutions}")
            if not check_only:
                target.unlink()
    return stale


def write_bundle(solutions: Path, out: Path) -> list[Path]:
    """The teacher's grading bundle: each lab with its hidden tests, one notebook per lab."""
    for path in sorted(solutions.glob(PATTERN)):
        write_atomic(out / path.name, dumps(lab_notebook(read(path), path.name, hidden_tests=True)))
    return sorted(out.glob(PATTERN))


def find_lab(spec: str, bundle: Path, solutions: Path) -> Path:
    """The notebook that grades lab ``spec``: a path, or a number (bundle first, then solutions)."""
    if spec.endswith(".ipynb"):
        return Path(spec)
    number = f"{int(spec):02d}" if spec.isdigit() else spec
    for folder in (bundle, solutions):
        hits = sorted(folder.glob(f"{number}_{PATTERN}"))
        if len(hits) == 1:
            return hits[0]
    raise LabError(
        f"no lab {spec!r} in {bundle} or {solutions}: pass the notebook's path with --lab"
    )
