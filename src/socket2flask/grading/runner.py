"""One runner for notebooks and code in real, isolated Jupyter kernels, shared by the tests,
`make course`, the benchmarks and the grader: each kernel gets its own HOME, TMPDIR, IPython and
Jupyter runtime folders under a root of its own, uses this venv's python (jupyter_client swaps
"python" in the kernelspec for sys.executable), hears JupyterLab's protocol (a cell id with every
execution), and is shut down at the end. `leaks()` finds what a notebook left behind."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat

from .labclient import LabClient

# Runs inside the kernel: what could outlive a notebook. Listening TCP sockets are read from /proc
# (Linux), so they include sockets opened by any library, not only by socket2flask.
LEAK_PROBE = r"""
import json as _json, os as _os, sys as _sys, threading as _threading
def _listening_inodes():
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        inodes |= {row.split()[9] for row in rows if row.split()[3] == "0A"}  # 0A = LISTEN
    mine = set()
    for fd in _os.listdir("/proc/self/fd"):
        try:
            target = _os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    return sorted(inodes & mine)
def _children():
    kids = []
    for pid in filter(str.isdigit, _os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == _os.getpid() and fields[0] != "Z":
            kids.append(int(pid))
    return kids
def _owner(thread):  # the module a thread's code comes from
    return getattr(getattr(thread, "_target", None), "__module__", None) or type(thread).__module__
_servers = _sys.modules.get("socket2flask.servers")
print("LEAKS" + _json.dumps({
    "listening": _listening_inodes() if _os.path.isdir("/proc") else [],
    "threads": sorted(t.name for t in _threading.enumerate() if t is not _threading.main_thread()
                      and not _owner(t).startswith(("ipykernel", "zmq", "jupyter_client"))),
    "servers": [repr(s) for s in _servers.running()] if _servers else [],
    "children": _children() if _os.path.isdir("/proc") else [],
}))
"""


def isolated_env(root: Path) -> dict[str, str]:
    """Environment for a kernel whose HOME, temp and Jupyter directories are all under `root`
    (Windows's names for them too: USERPROFILE, TEMP, TMP)."""
    env = dict(os.environ)
    for name, sub in [
        ("HOME", "home"),
        ("USERPROFILE", "home"),
        ("TMPDIR", "tmp"),
        ("TEMP", "tmp"),
        ("TMP", "tmp"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
    ]:
        path = root / sub
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env.pop("JPY_PARENT_PID", None)
    env.pop("PYTEST_CURRENT_TEST", None)  # ipykernel would not capture fd output under pytest
    env.setdefault("MPLCONFIGDIR", str(root / "mpl"))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@contextmanager
def kernel(
    root: Path, cwd: Path, cell_timeout: float = 60, cell_ids: bool = True
) -> Iterator[LabClient]:
    """A started kernel and its client, shut down afterwards. The client speaks JupyterLab's
    protocol (a cell id with every execution) unless `cell_ids=False` (nbclient, VS Code)."""
    client = LabClient(
        nbformat.v4.new_notebook(),
        timeout=cell_timeout,
        kernel_name="python3",
        startup_timeout=60,
        shutdown_kernel="immediate",
    )
    client.send_cell_ids = cell_ids
    with client.setup_kernel(env=isolated_env(root), cwd=str(cwd)):
        yield client


def run_code(
    client: LabClient, code: str, metadata: dict | None = None, cell_id: str | None = None
) -> list[dict]:
    """Execute `code` as one cell in the client's kernel and return the cell's outputs. The same
    `cell_id` twice is the same cell run again, as in JupyterLab; by default each call is a new
    cell."""
    cell = nbformat.v4.new_code_cell(code, metadata=metadata or {})
    if cell_id:
        cell.id = cell_id
    client.nb.cells.append(cell)
    client.execute_cell(cell, len(client.nb.cells) - 1)
    return cell.outputs


def text_of(outputs: list[dict]) -> str:
    """All stream text and plain-text results of some outputs, joined."""
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
        elif output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])))
    return "".join(parts)


def leaks(client: LabClient) -> dict:
    """What the kernel has open now: listening sockets, daemon threads, servers, child processes."""
    text = text_of(run_code(client, LEAK_PROBE))
    return json.loads(text.split("LEAKS", 1)[1].strip().splitlines()[0])


def new_leaks(before: dict, after: dict) -> dict:
    """What `after` has that `before` did not (listening sockets, threads, servers, children)."""
    return {
        key: sorted(set(after[key]) - set(before[key]))
        for key in after
        if set(after[key]) - set(before[key])
    }


def execute_notebook(
    path: Path, root: Path, cell_timeout: float = 60, cell_ids: bool = True
) -> tuple[float, dict, object]:
    """Run a notebook top to bottom in a fresh isolated kernel (cwd: the notebook's folder), as
    JupyterLab runs it (with cell ids; `cell_ids=False`: as nbclient and VS Code do).

    Returns (seconds, leaks, executed notebook). Raises nbclient's CellExecutionError on any error
    output, except in cells tagged `raises-exception`."""
    nb = nbformat.read(path, as_version=4)
    with kernel(root, path.parent, cell_timeout, cell_ids) as client:
        before = leaks(client)
        client.nb = nb
        started = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        seconds = time.perf_counter() - started
        # Stopped servers may need a moment to finish a thread; stop() itself waits for them.
        deadline = time.monotonic() + 2
        while (found := new_leaks(before, leaks(client))) and time.monotonic() < deadline:
            time.sleep(0.1)
    return seconds, found, nb
