"""Each submission's kernel in a sandbox, with bubblewrap (`bwrap`: the sandbox Flatpak uses; Linux,
no root needed). Inside it the system is read-only, only the submission's own folder is writable,
the course's checkout, solutions and the teacher's bundle are out of sight, the network is its own
(the kernel's servers live on its own loopback, and nothing else is reachable), and every process
the submission starts dies when its grading ends (its own PID namespace, killed with the kernel).

TCP cannot cross into another network namespace, so the kernel talks to the grader over Unix
sockets in the submission's folder (jupyter_client's IPC transport). Without bwrap (macOS, Windows,
or a Linux without it) the kernel runs as a plain process, and the gradebook says "not sandboxed".
"""

from __future__ import annotations

import compileall
import json
import shutil
import sys
from pathlib import Path

KERNEL_NAME = "submission"
PACKAGE = Path(__file__).resolve().parents[1]  # socket2flask/, which the kernel must import
# ipykernel_launcher's start (the current folder, where a submission may write files, off sys.path
# while ipykernel loads), without the debugger: importing debugpy is 35 ms of every kernel's start.
LAUNCH = """import sys
if sys.path[0] == "":
    del sys.path[0]
sys.modules["debugpy"] = None
from ipykernel import kernelapp
kernelapp.launch_new_instance()"""


def available() -> bool:
    return sys.platform.startswith("linux") and shutil.which("bwrap") is not None


def write_kernel_spec(folder: Path, hidden: list[Path]) -> None:
    """Write `folder/kernels/submission/kernel.json`: this venv's ipykernel, inside bwrap when it is
    available, with `folder` writable and the `hidden` folders (and the checkout) out of sight."""
    kernel = [
        sys.executable,
        "-c",
        LAUNCH,
        "-f",
        "{connection_file}",
        "--IPKernelApp.capture_fd_output=False",  # os.write(1): the kernel's log, not ours
    ]
    spec = {
        "argv": _bwrap(folder, hidden) + kernel if available() else kernel,
        "display_name": "a submission",
        "language": "python",
        # An interrupt goes as a message: a signal to bwrap would not reach the kernel inside.
        "interrupt_mode": "message",
    }
    (folder / "kernels" / KERNEL_NAME).mkdir(parents=True, exist_ok=True)
    (folder / "kernels" / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))


def compile_ahead() -> None:
    """Write the bytecode of the course's code before a batch: kernels may not (a read-only
    sandbox, PYTHONDONTWRITEBYTECODE), so each would compile it again (0.05-0.1 s of lab 05). A
    folder that is not there, or files the grader may not write, are skipped."""
    for folder in (PACKAGE, PACKAGE.parents[1] / "notebooks"):  # notebooks/: the lessons' apps
        compileall.compile_dir(folder, quiet=2)


def _bwrap(folder: Path, hidden: list[Path]) -> list[str]:
    needed = [PACKAGE, Path(sys.prefix)]  # the package and the venv (read-only, as all the system)
    checkout = PACKAGE.parents[1]  # an editable install: src/socket2flask in the course's checkout
    if (checkout / "pyproject.toml").exists():
        hidden = [*hidden, checkout]  # all of it, solutions and tests and build/ included,
        needed.append(checkout / "notebooks")  # but the lessons' apps, which labs 03-05 import
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in hidden:  # an empty folder over each
        if path.is_dir():
            args += ["--tmpfs", str(path.resolve())]
    for path in needed:
        if path.exists():
            args += ["--ro-bind", str(path.resolve()), str(path.resolve())]
    args += [
        "--bind",
        str(folder),
        str(folder),  # the submission's own folder: work, home, tmp
        "--chdir",
        str(folder / "work"),
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        "--new-session",
        # ipykernel exits when its parent's pid changes; inside, that pid means nothing.
        "--unsetenv",
        "JPY_PARENT_PID",
        "--",
    ]
    return args
