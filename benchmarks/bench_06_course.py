"""(d) How long each notebook takes headless, in a fresh isolated kernel (the tests' runner)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import highlight, progress

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from kernels import execute_notebook  # noqa: E402  (the tests' notebook runner)

TITLE = "the course: headless run time of every notebook"
BUDGET = 90  # seconds for all lessons and solutions together (issue 9)


def run(report: list[str], quick: bool, out: Path) -> None:
    paths = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb")
    )
    if quick:
        paths = paths[:1]  # the tests only check that the section works
    report += [
        "## The course: headless run time of every notebook",
        "",
        "Cell execution time in a fresh isolated kernel (kernel start-up not included).",
        "",
        "| notebook | seconds | left behind |",
        "|---|---:|---|",
    ]
    total = 0.0
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="bench-course-") as tmp:
            seconds, leaks, _ = execute_notebook(path, Path(tmp), cell_timeout=120)
        total += seconds
        progress(f"{path.parent.name}/{path.stem}: {seconds:.1f} s")
        report.append(f"| {path.parent.name}/{path.stem} | {seconds:.1f} | {leaks or 'nothing'} |")
    report += [
        "",
        f"All {len(paths)} notebooks: **{total:.0f} s** (budget for the whole course: {BUDGET} s).",
        "",
    ]
    if not quick:
        highlight(
            f"the whole course (every lesson and solution, {len(paths)} notebooks) runs headless "
            f"in {total:.0f} s"
        )
