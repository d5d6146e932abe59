"""The limits of a grader's kernel, set by its first cell before any submitted code runs: the time
of each test, memory, CPU, file size, processes, and how much printed text leaves the kernel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .check import _grading


def begin_grading(time_limit: float | None, memory_mb: int, cpu_s: int, file_mb: int) -> None:
    """In a grader's kernel, before any submitted code: report results, cap time, memory, files, and
    what is printed."""
    _grading.update(time_limit=time_limit)
    _cap_printed(10_000)
    _cap_errors(10_000)
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the grader's time limits still hold
        return
    caps = {"AS": memory_mb << 20, "CPU": cpu_s, "FSIZE": file_mb << 20}
    loadavg = Path("/proc/loadavg")  # Linux: "... running/total ..." tasks, all users'
    if loadavg.exists():  # room for 256 more processes or threads: a lab's worth, not a fork bomb's
        caps["NPROC"] = int(loadavg.read_text().split()[3].split("/")[1]) + 256
    for name, value in caps.items():
        which = getattr(resource, f"RLIMIT_{name}")
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(which, (value, value))  # hard too: the submission cannot lift it
        except (ValueError, OSError):
            pass  # this OS will not set that one (macOS and RLIMIT_AS): keep the others


def _cap_printed(limit: int) -> None:
    """At most `limit` characters of printed text per message: a submission printing megabytes must
    not grow the grader (ipykernel's OutStream gathers what is printed into messages here)."""
    from ipykernel.iostream import OutStream

    gather = OutStream._flush_buffers

    def capped(self: OutStream) -> Iterator[tuple[object, str]]:
        for parent, text in gather(self):
            yield parent, text[:limit]

    OutStream._flush_buffers = capped  # type: ignore[method-assign]


def _cap_errors(limit: int) -> None:
    """An exception's message cut to `limit` characters before IPython shows it: ipykernel sends
    it twice (the error message and the execute reply), and a submission may raise megabytes. An
    exception class whose str() ignores its args is not cut."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:  # not in a kernel (a test calling begin_grading directly)
        return

    def capped(shell, etype, value, tb, tb_offset=None):  # IPython's custom-exception signature
        text = str(value)
        if len(text) > limit:
            value.args = (f"{text[:limit]}... ({len(text):,} characters in all)",)
        if isinstance(value, MemoryError) or text == "can't start new thread":
            # Used up: formatting a traceback needs memory; without, IPython would send no error.
            shell._showtraceback(etype, value, [f"{etype.__name__}: {text}"])
        else:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)

    shell.set_custom_exc((Exception,), capped)
