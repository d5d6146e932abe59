"""The project installs itself: pyproject and environment.yml agree, the README gives the two
commands, CI runs the README's test command, and `make lab` serves JupyterLab on loopback only."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import tomllib

import pytest
import requests
from conftest import ROOT
from kernels import isolated_env, stop_process_group

CONDA_NAMES = {"redis-py": "redis"}  # conda-forge package name -> PyPI name


def normalise(requirement: str) -> tuple[str, str]:
    """('name', 'specifier') with markers, spaces and case removed."""
    requirement = requirement.split(";")[0].replace(" ", "").lower()
    name, spec = re.match(r"([a-z0-9_.\-]+)(.*)", requirement).groups()
    return CONDA_NAMES.get(name, name).replace("_", "-"), spec


def test_pyproject_and_environment_yml_pin_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = {
        normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]
    }
    lines = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1].splitlines()
    conda_side = {normalise(line.strip()[2:]) for line in lines if line.strip().startswith("- ")}
    conda_side -= {("pip", ""), ("python", ">=3.11")}
    assert pip_side == conda_side
    assert project["requires-python"] == ">=3.11"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert {"lab", "test", "course", "bench", "labs"} <= targets


def test_readme_has_binder_teachers_section_figures_block_and_its_images():
    readme = (ROOT / "README.md").read_text()
    assert (
        "[![Run on Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/"
        in readme
    )
    teachers = readme.split("## For teachers", 1)[1].split("\n## ", 1)[0]
    assert "(docs/jupyterhub.md)" in teachers and (ROOT / "docs" / "jupyterhub.md").exists()
    assert "<!-- bench:begin -->" in readme and "<!-- bench:end -->" in readme
    for image in re.findall(r"!\[[^]]*\]\(([^)]+\.png)\)", readme):
        assert (ROOT / image).exists(), f"README shows {image}, which is missing"
    for step in ("01_raw_socket", "02_wsgi", "03_werkzeug", "04_mini_flask", "05_production"):
        assert f"`{step}`" in readme and f"`{step}_lab`" in readme


def test_binder_builds_from_environment_yml_and_installs_the_package():
    post_build = (ROOT / "postBuild").read_text()
    assert os.access(ROOT / "postBuild", os.X_OK) and "pip install --no-deps ." in post_build
    assert "jupyter-server-proxy" in (ROOT / "environment.yml").read_text()


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses (hex, as in /proc) with a listening socket on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in open(table).read().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.timeout(180)
@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads /proc (Linux)")
def test_make_lab_serves_jupyterlab_on_loopback_only(tmp_path):
    port, token = free_port(), "s2f-test-token"
    lab = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "lab",
            f"LAB_ARGS=--no-browser --port={port} --ServerApp.token={token} "
            "--ServerApp.port_retries=0",
        ],
        cwd=ROOT,
        env=isolated_env(tmp_path),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                status = requests.get(
                    f"http://127.0.0.1:{port}/api/status", params={"token": token}, timeout=2
                )
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert status is not None and status.status_code == 200, lab.stderr and lab.poll()
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else
    finally:
        stop_process_group(lab)


def test_make_help_lists_every_target_and_lint_runs_before_the_tests():
    makefile = (ROOT / "Makefile").read_text()
    phony = {t for line in re.findall(r"^\.PHONY:(.*)$", makefile, re.M) for t in line.split()}
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    listed = set(re.findall(r"^make ([a-z-]+)", shown, re.M))
    assert phony <= listed, f"make help does not list {phony - listed}"
    assert re.search(r"^test: lint$", makefile, re.M), "make test runs make lint (ruff) first"
    assert "ruff format --check ." in makefile and "ruff check ." in makefile
