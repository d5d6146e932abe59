"""make bench: every measurement of the course in one run, side by side, as ratios.

    python benchmarks/run.py --out build/bench [--quick] [--only NAME]

Each `benchmarks/bench_*.py` module is a section: it has a TITLE and `run(report, quick, out)`,
which appends Markdown to `report` and may save PNG plots into `out`. The sections run in file-name
order and the report (machine and versions first) goes to OUT/REPORT.md. Absolute times depend on
the machine; compare the ratios between rows measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sections import `common` from this folder

from common import HIGHLIGHTS, progress  # noqa: E402

README_BLOCK = re.compile(r"(<!-- bench:begin -->\n).*?(<!-- bench:end -->)", re.S)


def update_readme(readme: Path, machine_line: str) -> None:
    """Put this run's headline figures between the README's bench markers (nothing typed by
    hand)."""
    block = "\n".join(
        [f"Measured by `make bench` on {machine_line}:", "", *(f"- {h}" for h in HIGHLIGHTS), ""]
    )
    text = readme.read_text(encoding="utf-8")
    if not README_BLOCK.search(text):
        raise SystemExit(f"{readme} has no <!-- bench:begin --> ... <!-- bench:end --> block")
    readme.write_text(
        README_BLOCK.sub(lambda m: m.group(1) + block + m.group(2), text), encoding="utf-8"
    )


def machine() -> list[str]:
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("werkzeug", "flask", "waitress", "gunicorn", "requests", "nbclient")
    )
    return [
        "# From Socket to Flask: benchmark report",
        "",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs",
        f"- Python {platform.python_version()}; {versions}",
        f"- run at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/bench", type=Path)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (used by the tests)")
    parser.add_argument("--only", help="run only the sections whose file name contains this")
    parser.add_argument(
        "--readme", type=Path, help="also write the headline figures into this README"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = machine()
    for path in sorted(HERE.glob("bench_*.py")):
        if args.only and args.only not in path.stem:
            continue
        section = importlib.import_module(path.stem)
        progress(f"section {path.stem}: {section.TITLE}")
        section.run(report, args.quick, args.out)
    (args.out / "REPORT.md").write_text("\n".join(report) + "\n")
    (args.out / "HIGHLIGHTS.md").write_text("".join(f"- {h}\n" for h in HIGHLIGHTS))
    progress(f"wrote {args.out / 'REPORT.md'} and HIGHLIGHTS.md")
    if args.readme:
        update_readme(
            args.readme, report[2].removeprefix("- machine: ") + ", " + report[3].removeprefix("- ")
        )
        progress(f"updated the figures in {args.readme}")


if __name__ == "__main__":
    main()
