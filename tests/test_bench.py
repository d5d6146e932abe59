"""make bench runs end to end (quick mode) and writes its report and plots."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.timeout(600)
def test_bench_quick_writes_a_report(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "REPORT.md").read_text()
    assert report.startswith("# From Socket to Flask: benchmark report") and "Python 3." in report
    assert "| werkzeug |" in report and (tmp_path / "clients.png").exists()
    # step 7: idle-connection capacity and p99 beside 1,000 idle connections, one row per server
    assert "p99 beside 1,000 idle" in report and (tmp_path / "idle_connections.png").exists()
    rows = [line for line in report.splitlines() if line.startswith("| ")]
    for server in ("step 1 (", "waitress (", "gunicorn (", "uvicorn ("):
        assert any(row.startswith(f"| {server}") for row in rows), server
    assert "beside 1,000 idle connections" in (tmp_path / "HIGHLIGHTS.md").read_text()
