"""(e) Grading time: a batch of submissions, one kernel each (inside bubblewrap where it exists),
with --jobs 2, beside the goal (at most 2 s per submission for labs 02-05, 3 s for lab 01) and
beside nbgrader's autograde of the same notebooks (not in quick mode: it needs its own venv)."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import highlight, progress

from socket2flask.grading import nbgrader_route as route
from socket2flask.grading.notebook import read

ROOT = Path(__file__).resolve().parent.parent
TITLE = "grading: median seconds per submission, --jobs 2, sandbox included"
FIXTURE = ROOT / "tests" / "fixtures" / "grading" / "solutions" / "00_request_lines_lab.ipynb"
GOALS = {"01": 3.0, "02": 2.0, "03": 2.0, "04": 2.0, "05": 2.0, "06": 2.0, "07": 2.0}  # s each
NBGRADER_VENV = ROOT / "build" / "test-venvs" / "nbgrader"  # shared with tests/test_nbgrader.py


def grade(folder: Path, lab: Path, jobs: int) -> tuple[float, list[float], bool]:
    """Wall seconds for the batch, each submission's own seconds, and whether it ran sandboxed."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "socket2flask.grading",
            "grade",
            *map(str, sorted(folder.glob("*.ipynb"))),
            "--lab",
            str(lab),
            "--jobs",
            str(jobs),
            "--out",
            str(folder / "out" / "gradebook.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    # progress lines end like "(ok, 2.3 s)"
    each = [
        float(line.rsplit(", ", 1)[1].removesuffix(" s)"))
        for line in result.stderr.splitlines()
        if line.startswith("[") and line.endswith(" s)")
    ]
    return wall, each, ",bwrap," in (folder / "out" / "gradebook.csv").read_text()


def nbgrader_seconds(folder: Path, lab: Path, count: int) -> float | None:
    """nbgrader's autograde of `count` copies of the solution `lab`: its wall seconds per submission
    (None where nbgrader cannot be installed)."""
    try:
        binary = route.install(NBGRADER_VENV)
    except RuntimeError as error:
        progress(f"nbgrader not timed: {error}")
        return None
    env = route.environment(binary, folder / "nbgrader-env")
    route.release(binary, env, folder / "course", lab)
    handed_in = {f"student{n:02d}": read(lab) for n in range(count)}  # the class we graded above
    _, seconds = route.autograde(binary, env, folder / "course", lab, handed_in)
    progress(f"nbgrader autograde of {lab.stem}: {seconds:.1f} s for {count}")
    return seconds / count


def run(report: list[str], quick: bool, out: Path) -> None:
    count = 2 if quick else 6
    labs = (
        {"00 (fixture)": FIXTURE}
        if quick
        else {number: next((ROOT / "solutions").glob(f"{number}_*_lab.ipynb")) for number in GOALS}
    )
    report += [
        "## Grading: a batch of submissions",
        "",
        f"{count} copies of a lab's solution (a class where everyone got it right), each graded "
        "in its own kernel with visible and hidden tests, 2 at a time.",
        "",
        "| lab | sandbox | batch wall time | median per submission | goal "
        "| batch wall time per submission | nbgrader autograde, per submission |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, lab in labs.items():
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
            folder = Path(tmp)
            for n in range(count):
                shutil.copy(lab, folder / f"student{n:02d}.ipynb")
            wall, each, sandboxed = grade(folder, lab, 2)
            theirs = None if quick else nbgrader_seconds(folder, lab, count)
        median, goal = statistics.median(each), GOALS.get(label[:2])
        verdict = "" if goal is None else f"≤ {goal:g} s ({'met' if median <= goal else 'missed'})"
        progress(f"grading lab {label}, --jobs 2: {wall:.1f} s for {count}, median {median:.1f} s")
        ours = wall / count
        against = "not timed" if theirs is None else f"{theirs:.1f} s ({theirs / ours:.1f}× ours)"
        report.append(
            f"| {label} | {'bwrap' if sandboxed else 'none'} | {wall:.1f} s | {median:.1f} s "
            f"| {verdict} | {ours:.1f} s | {against} |"
        )
        per_submission = f"median {median:.1f} s per submission with --jobs 2"
        nbgrader = "" if theirs is None else f"; nbgrader's autograde {theirs / ours:.1f}× as long"
        highlight(f"grading lab {label}: {per_submission} {verdict}{nbgrader}".rstrip())
    report += [
        "",
        "nbgrader autograde: the same copies through nbgrader's route (socket2flask.grading."
        "nbgrader_route, as docs/jupyterhub.md gives it), one at a time and without a sandbox, as "
        "nbgrader runs them: its wall time divided by the number of submissions, against ours "
        "(the batch's wall time divided by the number of submissions).",
        "",
    ]
