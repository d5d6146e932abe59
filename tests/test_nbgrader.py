"""Teachers can take every lab into nbgrader unchanged: nbgrader's own `generate_assignment` (which
validates the cell metadata) accepts each solution, and its student version matches our labs/ in
which cells are answers and what the test cells show (hidden tests removed in both)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from kernels import isolated_env

NBGRADER_VENV = ROOT / "build" / "test-venvs" / "nbgrader"  # its own venv: it pins its own Jupyter
FIXTURE = ROOT / "tests" / "fixtures" / "grading"
SOLUTIONS = sorted((ROOT / "solutions").glob("*_lab.ipynb")) + [FIXTURE / "solutions" / "00_request_lines_lab.ipynb"]


def lab_of(solution: Path) -> Path:
    return solution.parent.parent / "labs" / solution.name


@pytest.fixture(scope="session")
def nbgrader_bin() -> Path:
    """nbgrader installed in a venv of its own (made once, kept under build/)."""
    binary = NBGRADER_VENV / "bin"
    if not (binary / "nbgrader").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(NBGRADER_VENV)], check=True,
                       timeout=120)
        install = subprocess.run([str(binary / "python"), "-m", "pip", "install", "--quiet",
                                  "nbgrader>=0.9,<0.10"], capture_output=True, text=True, timeout=600)
        if install.returncode != 0:
            shutil.rmtree(NBGRADER_VENV, ignore_errors=True)
            pytest.skip(f"nbgrader could not be installed here: {install.stderr.strip()[-500:]}")
    return binary


def normalised(source: str) -> str:
    """Source with trailing spaces and runs of blank lines folded (nbgrader leaves one more blank
    line where it cut hidden tests)."""
    lines = [line.rstrip() for line in source.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def solution_lines(cell) -> set[str]:
    """The code lines between BEGIN SOLUTION and END SOLUTION in a solution cell, less those that
    learners see anyway: the cell's given code outside the markers, and its own `### STUB` lines."""
    region = r"### BEGIN SOLUTION\n(.*?)### END SOLUTION"
    lines = {line.strip() for block in re.findall(region, cell.source, re.S) for line in block.splitlines()}
    given = {line.strip() for line in re.sub(region, "", cell.source, flags=re.S).splitlines()}
    stub = {line.strip().removeprefix("### STUB").strip() for line in cell.source.splitlines()
            if line.strip().startswith("### STUB")}
    return lines - given - stub - {"", "raise NotImplementedError()"}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_nbgrader_generates_the_same_student_version_as_ours(solution, nbgrader_bin, tmp_path):
    name = solution.stem
    (tmp_path / "source" / name).mkdir(parents=True)
    shutil.copy(solution, tmp_path / "source" / name / solution.name)
    env = isolated_env(tmp_path / "env")
    env["PATH"] = f"{nbgrader_bin}{os.pathsep}{env['PATH']}"  # nbgrader runs alembic from there
    result = subprocess.run([str(nbgrader_bin / "nbgrader"), "generate_assignment", name, "--force",
                             f"--CourseDirectory.root={tmp_path}"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    theirs = nbformat.read(tmp_path / "release" / name / solution.name, as_version=4).cells
    ours = nbformat.read(lab_of(solution), as_version=4).cells
    source = nbformat.read(solution, as_version=4).cells
    grade_ids = [[c.metadata.get("nbgrader", {}).get("grade_id") for c in cells] for cells in (theirs, ours)]
    assert grade_ids[0] == grade_ids[1] and len(theirs) == len(ours) == len(source)
    for their, our, original in zip(theirs, ours, source):
        meta = original.metadata.get("nbgrader", {})
        if meta.get("solution"):  # an answer: no solution line survives, and a stub raises
            for version in (their, our):
                assert "NotImplementedError" in version.source
                kept = solution_lines(original) & {line.strip() for line in version.source.splitlines()}
                assert not kept, f"{meta['grade_id']}: solution lines left in: {kept}"
        else:  # markdown, given code and tests: identical, hidden tests gone from both
            assert normalised(their.source) == normalised(our.source), meta.get("grade_id")
            assert "HIDDEN TESTS" not in our.source
