"""The labs through nbgrader, as docs/jupyterhub.md tells a teacher to run them: a course folder
with the course's nbgrader_config.py, `generate_assignment`, students' notebooks where `nbgrader
collect` puts them, `autograde`, `generate_feedback`. nbgrader pins its own Jupyter, so it lives in
a venv of its own; its "python3" kernel is this venv's python (with socket2flask). Used by
tests/test_nbgrader.py and by make bench (bench_07: nbgrader's time beside ours)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nbformat import NotebookNode

from .notebook import dumps, write_atomic
from .runner import isolated_env

REQUIREMENT = "nbgrader>=0.9,<0.10"
# The course's nbgrader_config.py, as docs/jupyterhub.md gives it (a test checks that it does).
CONFIG = """\
c = get_config()
# Feedback without hidden tests: autograde puts them back into each test cell; take them out again.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Errors as one line: a full traceback would quote the lines above check("qN"), hidden tests too.
c.Execute.extra_arguments = [
    "--HistoryManager.hist_file=:memory:",
    "--InteractiveShell.xmode=Minimal",
]
"""


def install(venv: Path) -> Path:
    """nbgrader in a venv of its own (made once); its bin/ folder. RuntimeError if pip fails."""
    binary = venv / "bin"
    if (binary / "nbgrader").exists():
        return binary
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
    pip = [str(binary / "python"), "-m", "pip", "install", "--quiet", REQUIREMENT]
    result = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f"nbgrader could not be installed: {result.stderr.strip()[-500:]}")
    return binary


def environment(binary: Path, root: Path) -> dict[str, str]:
    """An isolated environment (HOME and the rest under `root`) where nbgrader's Jupyter finds this
    venv's python as its "python3" kernel."""
    env = isolated_env(root)
    env["PATH"] = f"{binary}{os.pathsep}{env['PATH']}"  # nbgrader runs alembic from there
    for name in ("JUPYTER_PATH", "JUPYTER_DATA_DIR"):
        env.pop(name, None)
    # A kernel in HOME's data folder is found first only when Jupyter is told not to prefer its
    # own environment's (jupyter_core prefers it inside a venv or conda env).
    env["JUPYTER_PREFER_ENV_PATH"] = "0"
    register = [sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"]
    register += ["--display-name", "Python 3 (socket2flask)"]
    subprocess.run(register, env=env, check=True, capture_output=True, timeout=120)
    return env


def nbgrader(binary: Path, args: list[str], env: dict, course: Path, timeout: float = 600) -> str:
    """Run `nbgrader ARGS` in the course folder; what it printed. RuntimeError if it fails."""
    result = subprocess.run(
        [str(binary / "nbgrader"), *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {args[0]}: {result.stdout[-2000:]}{result.stderr[-4000:]}")
    return result.stdout + result.stderr


def release(binary: Path, env: dict, course: Path, solution: Path) -> Path:
    """`generate_assignment` for one lab (course/source/NAME/): the student version it writes."""
    name = solution.stem
    (course / "source" / name).mkdir(parents=True, exist_ok=True)
    shutil.copy(solution, course / "source" / name / solution.name)
    if not (course / "nbgrader_config.py").exists():
        (course / "nbgrader_config.py").write_text(CONFIG)
    nbgrader(binary, ["generate_assignment", name, "--force"], env, course)
    return course / "release" / name / solution.name


def autograde(
    binary: Path, env: dict, course: Path, solution: Path, handed_in: dict[str, NotebookNode]
) -> tuple[str, float]:
    """Students' notebooks (student -> notebook) where `nbgrader collect` puts them, then
    `autograde`: what it logged, and its wall seconds."""
    name = solution.stem
    for student, notebook in handed_in.items():
        write_atomic(course / "submitted" / student / name / solution.name, dumps(notebook))
    started = time.perf_counter()
    log = nbgrader(binary, ["autograde", name], env, course)
    return log, time.perf_counter() - started
