"""Run a Python program's command line in this process, and end this whole process group the
moment the process that started us dies, however it dies (a kernel restart is a SIGKILL):

    python -m socket2flask.lifeline FD MODULE ARGS...    # FD: the read end of a pipe

The parent keeps the pipe's only write end and never writes. A read on our end blocks until that
end closes, which the operating system does when the parent exits or is killed: then we kill our
process group (we lead it: the parent starts us with start_new_session=True), so no worker forked
by MODULE outlives the kernel either. `servers` starts gunicorn this way, with the hook below.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading


def die_with_parent(fd: int) -> None:
    # Signals go to the main thread, at once: the program's own handlers (gunicorn's SIGTERM) run
    # there, and a signal delivered to this thread would wait for the main thread's next wake-up.
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    while os.read(fd, 1):  # b"" means end-of-file: the parent is gone
        pass
    os.killpg(0, signal.SIGKILL)


def post_worker_init(worker: object) -> None:
    """gunicorn's hook, run in each worker once it has imported the app (servers passes
    `--config python:socket2flask.lifeline`): the line servers waits for, so that an app that
    fails to import is an error in the cell, not a server that never answers."""
    worker.log.info("Worker ready (pid: %s)", worker.pid)  # type: ignore[attr-defined]


def child_exit(server: object, worker: object) -> None:
    """gunicorn's hook, run in the arbiter once it has reaped a worker: servers' stop() ends the
    arbiter once every worker is reaped, instead of waiting out its naps."""
    server.log.info("Worker reaped (pid: %s)", worker.pid)  # type: ignore[attr-defined]


if __name__ == "__main__":
    fd, module, *args = sys.argv[1:]
    threading.Thread(target=die_with_parent, args=(int(fd),), daemon=True).start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
