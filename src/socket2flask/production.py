"""The production servers of step 5, as adapters (see `kinds`): waitress runs its own event loop
one poll at a time in our thread, with its worker threads tracked; gunicorn runs in a child process
that inherits our listening socket and dies with the kernel, however the kernel dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from .kinds import STOP_TIMEOUT, Adapter, WSGIApp, guard


class WaitressAdapter(Adapter):
    """ "waitress": its event loop in one of our threads; its worker threads are ours too (spawned
    through our `spawn`), so that stop() waits for them and names any that never returns."""

    name = "waitress"

    @classmethod
    def options(cls) -> set[str]:  # waitress's adjustments (threads=, connection_limit=, ...)
        from waitress.adjustments import Adjustments

        return {name for name, _ in Adjustments._params} - {"host", "port", "listen", "sockets"}

    def start(self, app: WSGIApp, options: dict) -> None:
        from waitress import wasyncore
        from waitress.adjustments import Adjustments
        from waitress.channel import HTTPChannel
        from waitress.server import create_server
        from waitress.task import ThreadedTaskDispatcher

        workers = ThreadedTaskDispatcher()  # it starts its threads through start_new_thread: ours
        workers.start_new_thread = lambda target, number: self.spawn(
            lambda: target(number), f"waitress worker {number}"
        )
        workers.set_thread_count(Adjustments(**options).threads)
        channels: dict = {}  # waitress's socket map: the listener, its wake-up trigger, connections
        httpd: Any = create_server(
            guard(app, self.events),
            map=channels,
            host=self.host,
            port=self.port,
            _dispatcher=workers,
            **options,
        )
        self.port = int(httpd.effective_port)

        def loop() -> None:
            while not self.stopping.is_set():  # one poll at a time, so that stop() ends the loop
                wasyncore.loop(timeout=1.0, map=channels, count=1)

        def close_connections() -> None:  # handle_close wakes a worker waiting to write to one
            for channel in list(channels.values()):
                if isinstance(channel, HTTPChannel):
                    channel.handle_close()

        # stop() runs these last first: the listener, the connections, the workers, and only then
        # the wake-up trigger (in close_all), which a worker finishing its task still pulls: not
        # httpd.close(), which closes the trigger too ("Bad file descriptor" from a late worker).
        self._undo.append(lambda: wasyncore.close_all(channels))
        self._undo.append(lambda: workers.shutdown(timeout=self.time_left()))
        self._undo += [close_connections, lambda: wasyncore.dispatcher.close(httpd)]
        polling = self.spawn(loop, "waitress loop")
        self._undo += [lambda: polling.join(self.time_left()), httpd.pull_trigger]  # wake it first


# gunicorn flags serve() sets itself, or that would break what it promises: a daemon or a reloader
# leaves our process group (and outlives the kernel), SO_REUSEPORT splits traffic between old and
# new servers (rule 1), a log file hides the "Worker ready" lines start() waits for, and a config
# file could set any of these.
_NOT_OURS = {
    "--bind",
    "--chdir",
    "--workers",
    "--log-level",
    "--no-control-socket",
    "--daemon",
    "--reload",
    "--reuse-port",
    "--pid",
    "--error-logfile",
    "--log-file",
    "--config",
    "--check-config",
    "--print-config",
    "--log-config",
    "--log-config-json",
}
# The write ends of every gunicorn's lifeline: a child forked by the kernel (multiprocessing, say)
# closes them, so that only the kernel holds them and gunicorn dies with it.
_lifelines: set[int] = set()


def _close_lifelines() -> None:
    for fd in _lifelines:
        os.close(fd)


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork() and no gunicorn
    os.register_at_fork(after_in_child=_close_lifelines)


class GunicornAdapter(Adapter):
    """ "gunicorn": "module:app" in worker processes (`workers=`, `app_dir=`, and gunicorn's own
    settings as keywords: `timeout=1` becomes `--timeout 1`)."""

    name = "gunicorn"

    @classmethod
    def options(cls) -> set[str]:
        """gunicorn's long flags, as keywords: --access-logfile is access_logfile=."""
        from gunicorn.config import KNOWN_SETTINGS

        flags = {flag for setting in KNOWN_SETTINGS for flag in setting.cli or ()}
        return {"workers", "app_dir"} | {
            flag[2:].replace("-", "_")
            for flag in flags
            if flag.startswith("--") and flag not in _NOT_OURS
        }

    def start(self, app: Any, options: dict) -> None:
        if not hasattr(os, "fork"):
            raise RuntimeError(
                "gunicorn needs fork(), which this system (Windows?) does not have; "
                "use kind='waitress' instead."
            )
        if not isinstance(app, str):
            raise TypeError(
                "gunicorn imports your app in its own worker processes: save it in a "
                "file and pass 'module:variable', with app_dir= the folder of that file."
            )
        # gunicorn inherits it (fd://) and never calls listen() again: the backlog is set here
        backlog = int(options.get("backlog", 2048))  # gunicorn's --backlog, and its default
        listener = socket.create_server((self.host, self.port), backlog=backlog)
        self.port = listener.getsockname()[1]
        # The lifeline: gunicorn holds the read end of a pipe whose only write end is ours. When
        # this process dies, however it dies (killed, crashed, out of memory), the read sees
        # end-of-file and socket2flask.lifeline kills gunicorn's whole process group.
        lifeline, our_end = os.pipe()
        _lifelines.add(our_end)
        options = dict(options)
        workers = int(options.pop("workers", 2))
        command = [
            sys.executable,
            "-m",
            "socket2flask.lifeline",
            str(lifeline),
            "gunicorn",
            app,
            "--bind",
            f"fd://{listener.fileno()}",
            "--workers",
            str(workers),
            "--log-level",
            "info",
            "--no-control-socket",
            "--config",  # our hook, which says when a worker has imported the app
            "python:socket2flask.lifeline",
            "--chdir",
            str(options.pop("app_dir", os.getcwd())),
        ]
        for key, value in options.items():  # gunicorn's own flags: timeout=1 -> --timeout 1
            flag = "--" + key.replace("_", "-")
            command += [flag] if value is True else [] if value is False else [flag, str(value)]
        # A session of its own: the kernel's interrupt (SIGINT to its group) does not reach it, and
        # stop() can end the whole group, arbiter and every worker.
        process = subprocess.Popen(
            command,
            pass_fds=[listener.fileno(), lifeline],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        listener.close()  # the child holds its own copies of both
        os.close(lifeline)
        self._undo.append(lambda: self._let_go(our_end))  # runs last: the group is gone by then
        booted = threading.Semaphore(0)  # released once per worker that has imported the app
        reaped: list[str] = []  # once stop() has begun: a line per worker gunicorn has reaped
        all_reaped = threading.Event()

        def read_log() -> None:
            for line in process.stderr or ():
                self.events.log.append(line.rstrip())
                if "Worker ready" in line:  # from lifeline.post_worker_init
                    booted.release()
                elif "Worker reaped" in line and self.stopping.is_set():  # lifeline.child_exit
                    reaped.append(line)
                    if len(reaped) == workers:
                        all_reaped.set()
                elif "[INFO]" not in line and not self.stopping.is_set():
                    # Warnings, errors and the workers' tracebacks; not what our own stop() causes
                    # ("Worker ... was sent SIGQUIT!" when a graceful stop takes too long).
                    self.events.errors.append(line.rstrip())
                    print(line, end="", file=sys.stderr, flush=True)
            all_reaped.set()  # the end of its log: gunicorn has exited, nothing is left to reap

        self.spawn(read_log, "gunicorn log")
        self._undo.append(lambda: self._end(process, all_reaped))
        deadline = time.monotonic() + 30
        for _ in range(workers):  # return when every worker is up: a measurement sees them all
            while not booted.acquire(timeout=0.05):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start:\n" + "\n".join(self.events.log))

    @staticmethod
    def _let_go(lifeline: int) -> None:
        _lifelines.discard(lifeline)
        os.close(lifeline)

    @staticmethod
    def _end(process: subprocess.Popen, all_reaped: threading.Event) -> None:
        # SIGTERM first: each worker finishes the reply it is writing, then exits. The arbiter reaps
        # them between naps of 0.1 s, and naps once more before it exits: we end it sooner.
        process.send_signal(signal.SIGTERM)
        if not all_reaped.wait(0.4):
            process.send_signal(signal.SIGINT)  # a reply still running: a quick shutdown
            all_reaped.wait(STOP_TIMEOUT + 3)
        os.killpg(process.pid, signal.SIGKILL)  # the whole group: arbiter and every worker
        process.wait()
