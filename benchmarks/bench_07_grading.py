"""(e) Grading time: a batch of submissions, one kernel each, with --jobs 1 and --jobs 2."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import highlight, progress

ROOT = Path(__file__).resolve().parent.parent
TITLE = "grading: seconds per submission, --jobs 1 vs --jobs 2"
LABS = {"the small fixture lab (2 questions)": ROOT / "tests" / "fixtures" / "grading" / "solutions"
        / "00_request_lines_lab.ipynb", "lab 01 (7 questions, 138 fuzz cases)": ROOT / "solutions"
        / "01_raw_socket_lab.ipynb"}


def grade(folder: Path, lab: Path, jobs: int) -> tuple[float, list[float]]:
    """Wall seconds for the batch, and each submission's own seconds (from the progress lines)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "socket2flask.grading", "grade",
                             *map(str, sorted(folder.glob("*.ipynb"))), "--lab", str(lab),
                             "--jobs", str(jobs), "--out", str(folder / f"jobs{jobs}.csv")],
                            capture_output=True, text=True, timeout=900, cwd=ROOT)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    # progress lines end like "(ok, 2.3 s)"
    each = [float(line.rsplit(", ", 1)[1].removesuffix(" s)")) for line in result.stderr.splitlines()
            if line.startswith("[") and line.endswith(" s)")]
    return wall, each


def run(report: list[str], quick: bool, out: Path) -> None:
    count = 2 if quick else 10
    report += ["## Grading: a batch of submissions", "",
               f"{count} copies of a lab's solution (a class where everyone got it right), each graded "
               "in its own kernel with visible and hidden tests.", "",
               "| lab | --jobs | batch wall time | median per submission |", "|---|---:|---:|---:|"]
    for label, lab in list(LABS.items())[: 1 if quick else None]:
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
            folder = Path(tmp)
            for n in range(count):
                shutil.copy(lab, folder / f"student{n:02d}.ipynb")
            results = {jobs: grade(folder, lab, jobs) for jobs in (1, 2)}
        for jobs, (wall, each) in results.items():
            median = statistics.median(each)
            progress(f"grading {label}, --jobs {jobs}: {wall:.1f} s for {count}, median {median:.1f} s")
            report.append(f"| {label} | {jobs} | {wall:.1f} s | {median:.1f} s |")
        speedup = results[1][0] / results[2][0]
        highlight(f"grading {label}: median {statistics.median(results[1][1]):.1f} s per submission; "
                  f"{count} submissions take {results[1][0]:.0f} s with --jobs 1, {results[2][0]:.0f} s "
                  f"with --jobs 2 ({speedup:.2f}× as fast)")
    report.append("")
