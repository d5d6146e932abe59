"""A real JupyterLab and a real (headless) Chromium for the browser test, both cleaned up always.

`jupyterlab` starts `jupyter lab` on 127.0.0.1, on a port the OS picks, with a random token, and
with HOME, TMPDIR and every Jupyter, IPython and matplotlib directory inside a temp folder. It
serves a COPY of notebooks/ and labs/, so nothing the browser runs or saves can touch the committed
notebooks (the lab test types answers into its copy of a lab). One server for the whole run: the
lessons are independent, and each test shuts down its notebook's kernel when it is done. At the end
it shuts down the kernels and the server through Jupyter's REST API, then ends by pid whatever of
its process tree is still alive, and fails if anything survived.

`page` is a Chromium page (Playwright driving Debian's /usr/bin/chromium; `playwright install` is
never needed). Run it with `make test-browser`, which installs both.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "browser"
SERVED = ("notebooks", "labs")  # the folders JupyterLab serves (copies of them)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags that work as root on a machine without a network: no sandbox (root), no GPU, and none of
# Chromium's own background connections (they are refused here and slow every start).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# `make test-browser` sets this: there a missing Playwright or Chromium is a failure, not a skip.
REQUIRED = os.environ.get("S2F_BROWSER_TEST") == "required"

# JupyterLab settings for a test: every cell kept in the page (no windowing, so the test sees every
# output), no autosave, no news or update checks (no network, no pop-up over the notebook).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def _missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[browser]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    if reason is None:
        return
    if REQUIRED:
        raise pytest.UsageError(f"browser test: {reason}")
    here = Path(__file__).parent
    for item in items:  # a plain `pytest tests/` on a machine without the browser extra
        if here in Path(item.fspath).parents:  # this hook sees every test of the session: only ours
            item.add_marker(pytest.mark.skip(reason=f"{reason}; `make test-browser` installs it"))


# -------------------------------------------------------------------------------------------------
# Processes: the whole tree under one pid (jupyter_client starts each kernel in a session of its
# own, so a process group would miss them).


def _children_of(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children_of(current))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_of(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except OSError:
        return f"{pid}: (gone)"


# -------------------------------------------------------------------------------------------------
# JupyterLab


@dataclass
class Lab:
    url: str  # http://127.0.0.1:PORT/
    token: str
    root: Path  # the folder JupyterLab serves (copies of notebooks/ and labs/ are in it)
    log: Path  # JupyterLab's own output

    def api(self, method: str, path: str, timeout: float = 10) -> object:
        request = urllib.request.Request(
            self.url + path.lstrip("/"),
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def lab_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name, sub in [
        ("HOME", "home"),
        ("TMPDIR", "tmp"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "mpl"),
    ]:
        (base / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(base / sub)
    for name in ("JPY_PARENT_PID", "PYTEST_CURRENT_TEST", "JUPYTER_TOKEN", "JUPYTER_PORT"):
        env.pop(name, None)  # PYTEST_CURRENT_TEST would stop ipykernel capturing fd output
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for plugin, values in LAB_SETTINGS.items():
        path = base / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return env


def wait_for_port_file(runtime: Path, process: subprocess.Popen, timeout: float) -> dict:
    """JupyterLab writes jpserver-<pid>.json (with the real port) once it listens."""
    info_file = runtime / f"jpserver-{process.pid}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {process.returncode}")
        if info_file.exists():
            try:
                return json.loads(info_file.read_text())
            except json.JSONDecodeError:
                pass  # being written
        time.sleep(0.2)
    raise TimeoutError(f"jupyter lab did not start listening within {timeout:.0f} s")


def stop_lab(lab: Lab | None, process: subprocess.Popen) -> list[str]:
    """Shut down kernels, then the server; end by pid whatever is left. Returns what had to be
    killed."""
    tree = process_tree(process.pid) if process.poll() is None else []
    if lab is not None and process.poll() is None:
        try:
            for session in lab.api("GET", "api/sessions"):
                lab.api("DELETE", f"api/sessions/{session['id']}")
            for kernel in lab.api("GET", "api/kernels"):
                lab.api("DELETE", f"api/kernels/{kernel['id']}")
            lab.api("POST", "api/shutdown")
        except Exception as error:  # the server may be broken: fall through to signals
            print(f"REST shutdown of JupyterLab failed: {error!r}", file=sys.stderr)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    killed = []
    deadline = time.monotonic() + 5  # kernels get a moment to exit after their server
    while (
        left := [pid for pid in tree if pid != process.pid and alive(pid)]
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        killed.append(command_of(pid))
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return killed


# Package scope: both end when tests/browser is done, before any other test runs (Playwright's sync
# API keeps an event loop running in this thread, where other tests need asyncio.run()).
@pytest.fixture(scope="package")
def jupyterlab(tmp_path_factory) -> Iterator[Lab]:
    ours_before = set(process_tree(os.getpid()))
    base = tmp_path_factory.mktemp("jupyterlab")
    served = base / "served"
    for folder in SERVED:
        shutil.copytree(
            ROOT / folder,
            served / folder,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
    env = lab_env(base)
    token = secrets.token_hex(24)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        "--port=0",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={served}",
        # a safety net should this test process be killed before it can stop the server:
        # idle kernels end after 10 minutes, then the server after 15 without activity
        "--MappingKernelManager.cull_idle_timeout=600",
        "--ServerApp.shutdown_no_activity_timeout=900",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: read cell models
    ]
    if os.getuid() == 0:
        command.append("--allow-root")
    log = base / "jupyterlab.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=served,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    lab = None
    try:
        try:
            info = wait_for_port_file(Path(env["JUPYTER_RUNTIME_DIR"]), process, timeout=60)
        except Exception as error:
            raise RuntimeError(
                f"{error}; its log ends:\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            ) from error
        lab = Lab(url=f"http://127.0.0.1:{info['port']}/", token=token, root=served, log=log)
        deadline = time.monotonic() + 30
        while True:  # the port file comes a moment before the API answers
            try:
                lab.api("GET", "api/status", timeout=2)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield lab
    finally:
        killed = stop_lab(lab, process)
        assert not killed, f"these processes outlived JupyterLab and were killed: {killed}"
        # Chromium and Playwright's driver were closed before (browser_context depends on this).
        left = [
            command_of(pid) for pid in set(process_tree(os.getpid())) - ours_before if alive(pid)
        ]
        assert not left, f"the browser test left processes behind: {left}"


# -------------------------------------------------------------------------------------------------
# Chromium


@pytest.fixture(scope="package")
def browser_context(jupyterlab, tmp_path_factory):  # closed before JupyterLab stops
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            timeout=60_000,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        page.close()
