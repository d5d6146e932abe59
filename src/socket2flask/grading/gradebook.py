"""What the grader writes, atomically: the gradebook, a CSV for a learning platform, a JSON report
and a feedback page per submission (a hidden test shows only its title), the class's summary."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from .check import PASSED
from .notebook import Question, strip_hidden, write_atomic

if TYPE_CHECKING:
    from .grader import Grade


def write_gradebook(path: Path, qs: list[Question], grades: list[Grade]) -> None:
    """A CSV row per submission (atomic: nobody ever reads half a gradebook); lms.csv beside it."""
    text, top = io.StringIO(), sum(q.points for q in qs)
    header = ["submission", *(q.id for q in qs), "total", "max", "status", "sandbox", "reasons"]
    csv.writer(text).writerows(
        [header]
        + [
            [
                g.name,
                *(f"{g.points[q.id]:g}" for q in qs),
                f"{sum(g.points.values()):g}",
                f"{top:g}",
                g.status,
                "bwrap" if g.sandboxed else "not sandboxed",
                "; ".join(g.reasons),
            ]
            for g in grades
        ]
    )
    write_atomic(path, text.getvalue())
    lms = io.StringIO()  # what a learning platform imports: student, points
    csv.writer(lms).writerows(
        [["student", "points"]] + [[g.name, f"{sum(g.points.values()):g}"] for g in grades]
    )
    write_atomic(path.with_name("lms.csv"), lms.getvalue())


def hide(source: str, question: str, tests: list[dict]) -> list[dict]:
    """Mark each test `hidden` by where the lab's test cell defines it; a student sees its title
    only."""
    found, visible = (
        re.findall(r"^def (test_\w+)\(", text, re.M) for text in (source, strip_hidden(source))
    )
    # each where it is defined last, as check() has it
    names = list(dict.fromkeys(reversed(found)))[::-1]
    for name, test in zip(names if len(names) == len(tests) else [""] * len(tests), tests):
        # all of them, should the cell and the results disagree
        test["hidden"] = name not in visible
        # hidden_message: in the teacher's JSON only
        if test["hidden"] and test["status"] != PASSED:
            test.update(
                hidden_message=test["message"],
                message=f"a hidden test of {question} failed: {test['test']}",
            )
    return tests


def summary(message: str) -> str:
    """A test's message on one line: its first line, then input, expected and got, cut short."""
    first, *details = message.splitlines() or [""]
    shown = [
        (label, value.strip())
        for label, _, value in (line.partition(": ") for line in details)
        if label in ("input", "expected", "got")
    ]
    return ", ".join([first] + [f"{label} {_cut(value, 57)}" for label, value in shown])


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def write_report(folder: Path, lab: str, qs: list[Question], g: Grade) -> None:
    """The JSON report of one submission (hidden_message: the teacher's alone); beside its folder,
    feedback/NAME.html to hand out: points per question, each test's verdict, visible tests'
    messages."""
    report = {
        "submission": g.name,
        "status": g.status,
        "sandboxed": g.sandboxed,
        "total": sum(g.points.values()),
        "max": sum(q.points for q in qs),
        "seconds": round(g.seconds, 2),
        "reasons": g.reasons,
        "questions": {
            q.id: {
                "title": q.title,
                "points": g.points[q.id],
                "max": q.points,
                "tests": g.tests.get(q.id, []),
            }
            for q in qs
        },
    }
    write_atomic(folder / f"{g.name}.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    page = [
        f"<!doctype html><meta charset=utf-8><title>{escape(g.name)}: {escape(lab)}</title>\n"
        f"<h1>{escape(lab)}: {report['total']:g} of {report['max']:g} points</h1>"
    ]
    for q in qs:
        page.append(
            f"<h2>{q.id} · {escape(q.title)}: {g.points[q.id]:g} of {q.points:g}</h2>\n<ul>"
        )
        for t in g.tests.get(q.id, []):
            said = (
                escape(t["message"])
                if t["hidden"]
                else f"{escape(t['test'])}<pre>{escape(t['message'])}</pre>"
            )
            page.append(f"<li>✓ {escape(t['test'])}" if t["status"] == PASSED else f"<li>✗ {said}")
        page.append("</ul>")
    if g.reasons:
        page += [
            "<h2>Why points were lost</h2>\n<ul>",
            *(f"<li>{escape(r)}" for r in g.reasons),
            "</ul>",
        ]
    write_atomic(folder.parent / "feedback" / f"{g.name}.html", "\n".join(page) + "\n")


def write_summary(folder: Path, lab: str, qs: list[Question], grades: list[Grade]) -> None:
    """summary.md (means, median, statuses) and summary.png: histograms of totals and of each
    question."""
    from matplotlib.figure import Figure  # no pyplot: no window; PNG through Agg

    totals, top = [sum(g.points.values()) for g in grades], sum(q.points for q in qs)
    means = {q.id: statistics.mean(g.points[q.id] for g in grades) for q in qs}
    figure = Figure(figsize=(10, 4))  # 1000 x 400 pixels at 100 dpi
    left, right = figure.subplots(1, 2)
    left.hist(totals, bins=10, range=(0, top))
    left.set(title="Totals", xlabel="points", ylabel="submissions")
    right.hist(
        [[100 * g.points[q.id] / q.points for g in grades] for q in qs],
        5,
        (0, 100),
        label=list(means),
    )
    right.set(title="Each question", xlabel="% of its points", ylabel="submissions")
    right.legend()
    figure.savefig(folder / "summary.png", dpi=100)
    statuses = ", ".join(
        f"{s} {[g.status for g in grades].count(s)}"
        for s in dict.fromkeys(g.status for g in grades)
    )
    write_atomic(
        folder / "summary.md",
        "\n".join(
            [
                f"# {lab}: {len(grades)} submission(s)",
                "",
                f"Total: mean {statistics.mean(totals):.2f}, median "
                f"{statistics.median(totals):g} of {top:g} points. Statuses: {statuses}.",
                "",
                "| question | title | mean points | % of max |",
                "|---|---|---:|---:|",
                *(
                    f"| {q.id} | {q.title} | {means[q.id]:.2f} of {q.points:g} "
                    f"| {100 * means[q.id] / q.points:.0f}% |"
                    for q in qs
                ),
                "",
                "![The totals, and each question's scores](summary.png)",
                "",
            ]
        ),
    )
