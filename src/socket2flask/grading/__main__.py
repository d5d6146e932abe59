"""The command line: make labs/ and the reference modules from solutions/, write the teacher's
bundle, grade submissions."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from .gradebook import write_gradebook, write_report, write_summary
from .grader import Grade, Limits, grade_all, submission_names
from .labs import find_lab, lab_notebook, sync_labs, write_bundle
from .notebook import LabError, questions, read


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except LabError as error:
        print(error, file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m socket2flask.grading", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="{labs,bundle,grade}")
    labs = commands.add_parser(
        "labs", help="regenerate labs/ and the reference modules (socket2flask/reference/)"
    )
    labs.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 naming each stale file"
    )
    labs.add_argument("--labs", type=Path, default=Path("labs"))
    bundle = commands.add_parser(
        "bundle", help="write the teacher's bundle: each lab with its hidden tests"
    )
    bundle.add_argument("--out", type=Path, default=Path("build/grader"))
    grade = commands.add_parser("grade", help="grade submitted notebooks into build/grades/NN/")
    grade.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION.ipynb")
    grade.add_argument(
        "--lab", required=True, help="lab number (01), or its solution or bundle notebook"
    )
    grade.add_argument(
        "--bundle", type=Path, default=Path("build/grader"), help="looked in first for --lab"
    )
    grade.add_argument(
        "--out", type=Path, help="the gradebook (build/grades/NN/gradebook.csv); all else beside it"
    )
    grade.add_argument(
        "--json", type=Path, help="folder of the JSON reports (json/); feedback/ beside it"
    )
    grade.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once"
    )
    grade.add_argument("--cell-timeout", type=int, default=30, help="seconds per cell")
    grade.add_argument(
        "--test-timeout", type=float, help="seconds per test (default: the lab's own)"
    )
    grade.add_argument("--notebook-timeout", type=int, default=300, help="seconds per submission")
    grade.add_argument("--memory-mb", type=int, default=2048, help="address space per kernel")
    for command, run in ((labs, _labs), (bundle, _bundle), (grade, _grade)):
        command.add_argument("--solutions", type=Path, default=Path("solutions"))
        command.set_defaults(run=run)
    return parser


def _labs(args: argparse.Namespace) -> int:
    stale = sync_labs(args.solutions, args.labs, check_only=args.check)
    for line in stale:
        print(
            f"stale: {line} (run `make labs`, commit what it writes)"
            if args.check
            else f"updated: {line}",
            file=sys.stderr,
        )
    return 1 if args.check and stale else 0


def _bundle(args: argparse.Namespace) -> int:
    written = write_bundle(args.solutions, args.out)
    print(
        f"{len(written)} lab(s) with hidden tests in {args.out}: "
        "for the teacher, never for learners."
    )
    return 0


def _grade(args: argparse.Namespace) -> int:
    path = find_lab(args.lab, args.bundle, args.solutions)
    lab = read(path)
    if not lab.metadata.get("socket2flask", {}).get("hidden_tests"):  # a solution, not the bundle
        lab = lab_notebook(lab, path.name, hidden_tests=True)
    qs, paths = questions(lab), list(dict.fromkeys(args.submissions))
    submissions = dict(zip(submission_names(paths, path.name), paths))
    folder = args.out.parent if args.out else Path("build/grades") / path.name.split("_")[0]
    out, reports = args.out or folder / "gradebook.csv", args.json or folder / "json"
    limits = Limits(
        cell=args.cell_timeout,
        notebook=args.notebook_timeout,
        test=args.test_timeout,
        memory_mb=args.memory_mb,
        hidden=(path.parent, args.bundle, args.solutions),
    )
    top, graded = sum(q.points for q in qs), {}

    def done(g: Grade) -> None:
        graded[g.name] = g
        write_gradebook(out, qs, [graded[n] for n in submissions if n in graded])
        write_report(reports, path.stem, qs, g)
        print(
            f"[{len(graded)}/{len(submissions)}] {g.name}: {sum(g.points.values()):g} of {top:g} "
            f"({g.status}, {g.seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )

    print(
        f"Grading {len(submissions)} submission(s) of {path.name}, {args.jobs} at a time",
        file=sys.stderr,
    )
    grades = asyncio.run(grade_all(submissions, lab, limits, max(1, args.jobs), done))
    write_summary(folder, path.stem, qs, grades)
    print(
        f"Gradebook: {out}; reports in {reports}/ (feedback/ beside it); the rest in {folder}/",
        file=sys.stderr,
    )
    return 1 if any(g.status == "grader error" for g in grades) else 0


if __name__ == "__main__":
    sys.exit(main())
