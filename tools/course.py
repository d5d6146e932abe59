"""make course: every lesson and solution executed headless and rendered to HTML, with an index.

    python tools/course.py --out build/course [--only 01]

Each notebook runs in a fresh isolated kernel (the same runner as the tests and the grader: own HOME
and temp folders, leak checks); the HTML needs nothing from the network. Exit code 1 if any notebook
failed.
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
import time
from pathlib import Path

import mistune
import nbformat
from nbconvert import HTMLExporter

from socket2flask.grading.runner import execute_notebook  # the tests' runner too

ROOT = Path(__file__).resolve().parent.parent

STEPS = {
    "00": "Start here",
    "01": "Raw socket",
    "02": "WSGI and wsgiref",
    "03": "werkzeug",
    "04": "A mini-Flask",
    "05": "Production",
    "06": "Flask: state, security and HTTPS",
    "07": "Async: asyncio, ASGI and WebSockets",
}


def notebooks(only: str | None) -> list[Path]:
    found = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb")
    )
    return [p for p in found if not only or only in p.stem]


def render(nb: nbformat.NotebookNode, title: str) -> str:
    exporter = HTMLExporter(
        template_name="lab",
        template_file=str(ROOT / "tools" / "course_template" / "offline.html.j2"),
    )
    nb.metadata["title"] = title
    return exporter.from_notebook_node(nb)[0]


def build(path: Path, out: Path) -> dict:
    """Run one notebook and write its HTML; the row of the index that describes it."""
    with tempfile.TemporaryDirectory(prefix="course-") as tmp:
        started = time.perf_counter()
        try:
            seconds, leaks, nb = execute_notebook(path, Path(tmp), cell_timeout=120)
            status = f"left behind: {leaks}" if leaks else "ok"
        except Exception as error:  # noqa: BLE001 (the index says what broke; the build goes on)
            seconds, nb = time.perf_counter() - started, nbformat.read(path, as_version=4)
            status = f"failed: {type(error).__name__}: {str(error).strip().splitlines()[-1][:200]}"
    target = out / path.parent.name / f"{path.stem}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(nb, path.stem), encoding="utf-8")
    return {"path": path, "html": target.relative_to(out), "seconds": seconds, "status": status}


def index(rows: list[dict], out: Path) -> None:
    lines = [
        "<!doctype html><meta charset='utf-8'><title>From Socket to Flask</title>",
        "<style>"
        "body{font:16px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        ".bad{color:#b00}</style>",
        "<h1>From Socket to Flask</h1>",
        "<p>Build a Python web framework layer by layer: raw socket, WSGI, werkzeug, a mini-Flask, "
        "production servers. Every page below was executed headless for this build.</p>",
        "<table><tr><th>step</th><th>notebook</th><th>kind</th>"
        "<th>run time</th><th>status</th></tr>",
    ]
    for row in rows:
        step = row["path"].stem[:2]
        kind = "solution" if row["path"].parent.name == "solutions" else "lesson"
        css = "" if row["status"] == "ok" else " class='bad'"
        lines.append(
            f"<tr><td>{step} {html.escape(STEPS.get(step, ''))}</td>"
            f"<td><a href='{row['html'].as_posix()}'>{html.escape(row['path'].stem)}</a></td>"
            f"<td>{kind}</td><td>{row['seconds']:.1f} s</td>"
            f"<td{css}>{html.escape(row['status'])}</td></tr>"
        )
    total = sum(r["seconds"] for r in rows)
    lines.append(f"</table><p>Total run time: {total:.1f} s.</p>")
    glossary = ROOT / "notebooks" / "glossary.md"
    if glossary.exists():
        (out / "glossary.html").write_text(
            "<!doctype html><meta charset='utf-8'><title>Glossary</title>"
            + mistune.html(glossary.read_text(encoding="utf-8")),
            encoding="utf-8",
        )
        lines.append("<p><a href='glossary.html'>Glossary (English / 简体中文)</a></p>")
    (out / "index.html").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/course", type=Path)
    parser.add_argument("--only", help="build only notebooks whose name contains this")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in notebooks(args.only):
        print(f"[course] {path.relative_to(ROOT)} ...", end=" ", flush=True)
        rows.append(build(path, args.out))
        print(f"{rows[-1]['seconds']:.1f} s {rows[-1]['status']}", flush=True)
    index(rows, args.out)
    print(
        f"[course] wrote {args.out / 'index.html'}: {len(rows)} notebooks, "
        f"{sum(r['seconds'] for r in rows):.1f} s in all"
    )
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
