"""make course renders executed notebooks to HTML that needs nothing from the network."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.timeout(300)
def test_course_build_renders_offline_html_with_an_index(tmp_path):
    result = subprocess.run(
        [sys.executable, "tools/course.py", "--only", "00_start", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    page = (tmp_path / "notebooks" / "00_start_here.html").read_text()
    assert "data:image/png;base64" in page or "image/png" in page  # the executed plot is inside
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', page), (
        "fetches from the web"
    )
    index = (tmp_path / "index.html").read_text()
    assert "notebooks/00_start_here.html" in index and ">ok<" in index
