"""(d) How long each notebook takes headless, in a fresh isolated kernel (the runner the tests and
make course use)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import highlight, progress

from socket2flask.grading.runner import execute_notebook

ROOT = Path(__file__).resolve().parent.parent

TITLE = "the course: headless run time of every notebook"
# Seconds each notebook may take headless on 2 cores (the issues' budgets); the others: 30.
BUDGETS = {
    "00_start_here": 15,
    "05_production": 60,
    "05_production_lab": 60,
    "06_flask_security": 40,
    "06_flask_security_lab": 40,
    "07_async": 60,
    "07_async_lab": 60,
}
# Seconds for all lessons and solutions together: 90 for steps 0-5 (issue 9), and the budgets of
# each later step's lesson and solution on top (issues 17 and 18).
LATER_STEPS = ("06_flask_security", "06_flask_security_lab", "07_async", "07_async_lab")
BUDGET = 90 + sum(BUDGETS[name] for name in LATER_STEPS)


def verdict(seconds: float, budget: float) -> str:
    return f"≤ {budget:g} s ({'met' if seconds <= budget else 'missed'})"


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
        "| notebook | seconds | budget | left behind |",
        "|---|---:|---|---|",
    ]
    total = 0.0
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="bench-course-") as tmp:
            seconds, leaks, _ = execute_notebook(path, Path(tmp), cell_timeout=120)
        total += seconds
        progress(f"{path.parent.name}/{path.stem}: {seconds:.1f} s")
        budget = verdict(seconds, BUDGETS.get(path.stem, 30))
        name = f"{path.parent.name}/{path.stem}"
        report.append(f"| {name} | {seconds:.1f} | {budget} | {leaks or 'nothing'} |")
    report += [
        "",
        f"All {len(paths)} notebooks: **{total:.0f} s**, budget {verdict(total, BUDGET)}.",
        "",
    ]
    if not quick:
        highlight(
            f"the whole course (every lesson and solution, {len(paths)} notebooks) runs headless "
            f"in {total:.0f} s"
        )
