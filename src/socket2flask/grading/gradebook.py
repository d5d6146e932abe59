"""What the grader writes for the teacher: the gradebook (one CSV row per submission) and a JSON
report per submission, each written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .grader import Grade
from .notebook import Question, write_atomic


def write_gradebook(path: Path, qs: list[Question], grades: list[Grade]) -> None:
    """One CSV row per submission, written atomically: nobody ever reads half a gradebook."""
    text, top = io.StringIO(), sum(q.points for q in qs)
    header = ["submission", *(q.id for q in qs), "total", "max", "status", "sandbox", "reasons"]
    csv.writer(text).writerows([header] + [
        [g.name, *(f"{g.points[q.id]:g}" for q in qs), f"{sum(g.points.values()):g}", f"{top:g}", g.status,
         "bwrap" if g.sandboxed else "not sandboxed", "; ".join(g.reasons)] for g in grades])
    write_atomic(path, text.getvalue())


def write_report(folder: Path, qs: list[Question], g: Grade) -> None:
    """The JSON report of one submission, with each test's verdict, for the teacher."""
    report = {"submission": g.name, "status": g.status, "sandboxed": g.sandboxed,
              "total": sum(g.points.values()),
              "max": sum(q.points for q in qs), "seconds": round(g.seconds, 2), "reasons": g.reasons,
              "questions": {q.id: {"title": q.title, "points": g.points[q.id], "max": q.points,
                                   "tests": g.tests.get(q.id, [])} for q in qs}}
    write_atomic(folder / f"{g.name}.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
