"""Batch grading: each submission runs in a kernel of its own (own temporary folder, time and
resource limits), with the lab's own test cells in place of its own; a cell that kills or wedges
the kernel is skipped on a run from the top in a fresh kernel. Every submission gets a grade."""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, NamedTuple

from jupyter_client import AsyncKernelClient, AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from . import sandbox, tamper
from .check import MIME, NOT_ANSWERED, PASSED
from .gradebook import hide, summary
from .labclient import LabClient
from .notebook import Question, grading, is_test, loads, questions
from .runner import isolated_env

RUNS = 3  # a notebook runs at most this often: once, and once more per cell that broke the kernel
GRACE = 3  # seconds an interrupted kernel has to become idle before it counts as wedged
SETUP = "from socket2flask.grading.limits import begin_grading\nbegin_grading({}, {}, {}, {})"
CROWDED = ("can't start new thread", "Resource temporarily unavailable")  # threads, processes
# Before each test cell: check and expect from fresh copies of their files (tamper.py), whatever
# the cells above redefined or patched.
TEST_PREFIX = """import importlib.util as _s2f_util
_s2f_spec = _s2f_util.spec_from_file_location("_s2f_tamper_{token}", {tamper!r})
_s2f_tamper = _s2f_util.module_from_spec(_s2f_spec)
_s2f_spec.loader.exec_module(_s2f_tamper)
check, expect = _s2f_tamper.sealed_check({check!r}, {token!r}, {limit!r})
del _s2f_util, _s2f_spec, _s2f_tamper
"""


@dataclass
class Limits:  # for one submission: seconds, megabytes per kernel, and what it may not see
    cell: int = 30
    notebook: int = 300
    test: float | None = None  # None: the lab's own (check's default, or check(timeout=...))
    startup: int = 60
    memory_mb: int = 2048
    file_mb: int = 64
    hidden: tuple[Path, ...] = ()  # folders out of the sandbox's sight (solutions, the bundle)


@dataclass
class Grade:  # one submission's: points per question, a status and plain reasons
    name: str
    points: dict[str, float]
    status: str  # ok, errors (some cell failed), suspicious (tampering), unreadable, grader error
    reasons: list[str] = field(default_factory=list)
    tests: dict[str, list[dict]] = field(default_factory=dict)  # question -> each test's outcome
    seconds: float = 0.0
    sandboxed: bool = False  # its kernel ran inside bwrap


class _Step(NamedTuple):  # one cell to run, where it comes from, the question it answers or tests
    cell: NotebookNode
    where: str
    question: str | None
    is_test: bool


class _Client(LabClient):
    """JupyterLab's protocol, keeping only errors and check results (a submission may print
    megabytes); each cell's output reader ends the one before (nbclient leaves a timed-out cell's
    on: 4 s a cell)."""

    reader: asyncio.Task | None = None

    async def _async_poll_output_msg(self, *args: Any) -> None:
        if self.reader is not None:
            self.reader.cancel()  # done, or left on by a cell that timed out
        self.reader = asyncio.current_task()
        await super()._async_poll_output_msg(*args)

    def output(
        self, outs: list, msg: dict, display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        if msg["msg_type"] == "error" or MIME in msg["content"].get("data", {}):
            return super().output(outs, msg, display_id, cell_index)
        return None


class _KernelClient(AsyncKernelClient):
    """jupyter_client's client, ready once the kernel has answered on shell and iopub (its own
    wait then listens 0.2 s more, for messages that nbclient ignores anyway)."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or 60)
        while time.monotonic() < deadline:
            self.kernel_info()
            try:
                reply = await self.get_shell_msg(timeout=1)
                await self.get_iopub_msg(timeout=0.2)  # any message: iopub is connected too
            except Empty:
                if not await self.is_alive():
                    raise RuntimeError("the kernel died before it answered") from None
                continue
            if reply["msg_type"] == "kernel_info_reply":
                self._handle_kernel_info_reply(reply)
                return
        raise RuntimeError("the kernel did not answer in time")


async def grade(path: Path, name: str, lab: NotebookNode, limits: Limits) -> Grade:
    """Grade one submitted notebook with the tests of ``lab`` (a solution or bundle notebook)."""
    started, qs = time.monotonic(), questions(lab)
    zero = dict.fromkeys((q.id for q in qs), 0.0)
    try:
        data = path.read_bytes()
        if not data.strip():
            raise ValueError("the file is empty")
        submission = loads(data.decode("utf-8"))
    except (OSError, ValueError) as error:  # bad JSON and bad UTF-8 are ValueErrors too
        return Grade(name, zero, "unreadable", [f"not a notebook: {error}"])
    if (other := _other_lab(lab, submission)) is not None:
        return Grade(
            name, zero, "wrong lab", [f"this notebook is {other}, not the lab being graded"]
        )
    try:
        with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as tmp:
            folder = Path(tmp)
            for sub in ("work", "home", "tmp", "runtime"):
                (folder / sub).mkdir()
            (folder / "work" / path.name).write_bytes(data)  # the submission may look at itself
            steps, broke, deadline = _plan(lab, submission, qs), {}, started + limits.notebook
            signs: list[str] = []  # of tampering, from the grader's fresh check
            for _ in range(RUNS):  # from the top again, without each cell that broke the kernel
                results, trouble, broken_at = await _run_once(
                    steps, broke, limits, folder, deadline, signs
                )
                if broken_at is None:
                    break
                broke[broken_at] = trouble[broken_at]
    except Exception as error:  # a bug of ours must cost one row, not the batch
        return Grade(name, zero, "grader error", [f"{type(error).__name__}: {error}"])
    trouble.update(broke)
    points, reasons = _score(qs, steps, results, trouble)
    status = "suspicious" if signs else "errors" if trouble else "ok"
    return Grade(
        name,
        points,
        status,
        list(dict.fromkeys(signs)) + reasons,
        results,
        time.monotonic() - started,
        sandboxed=sandbox.available(),
    )


async def grade_all(
    submissions: dict[str, Path],
    lab: NotebookNode,
    limits: Limits,
    jobs: int,
    done: Callable[[Grade], None],
) -> list[Grade]:
    """Grade submissions (name -> path), ``jobs`` at a time; ``done`` hears of each one at once."""
    sandbox.compile_ahead()  # once for the batch, not in each kernel
    slots = asyncio.Semaphore(jobs)

    async def one(name: str, path: Path) -> Grade:
        async with slots:
            result = await grade(path, name, lab, limits)
        done(result)
        return result

    return list(await asyncio.gather(*(one(name, path) for name, path in submissions.items())))


def submission_names(paths: list[Path], lab: str = "") -> list[str]:
    """Each student's name: the file's (alice.ipynb), or its folder's when the file has the lab's
    name or another's (submitted/alice/02_wsgi_lab.ipynb); else the path from their shared
    folder."""
    full, stems = [p.resolve() for p in paths], [p.stem for p in paths]
    names = [
        p.parent.name if p.stem == Path(lab).stem or stems.count(p.stem) > 1 else p.stem
        for p in full
    ]
    shared = Path(os.path.commonpath([p.parent for p in full]))
    return (
        names
        if len(set(names)) == len(names)
        else [p.relative_to(shared).with_suffix("").as_posix() for p in full]
    )


def _other_lab(lab: NotebookNode, submission: NotebookNode) -> str | None:
    """The lab a submission was made from, when that is not ``lab`` (a teacher's mix-up)."""
    made_from, graded = (
        nb.metadata.get("socket2flask", {}).get("generated_from") for nb in (submission, lab)
    )
    return made_from if made_from and graded and made_from != graded else None


def _plan(lab: NotebookNode, submission: NotebookNode, qs: list[Question]) -> list[_Step]:
    """The cells to run: the submission's code cells in its order, the lab's version of each locked
    given cell, each test cell right after the last cell before it in the lab, wherever the student
    moved, deleted or copied it; and nothing after the last test cell, where no score can change."""
    owner = {
        grading(lab.cells[i])["grade_id"]: q.id for q in qs for i in [*q.answer_cells, q.test_cell]
    }
    place = {grading(c)["grade_id"]: i for i, c in enumerate(lab.cells) if "grade_id" in grading(c)}
    locked = {gid: lab.cells[i] for gid, i in place.items() if grading(lab.cells[i]).get("locked")}
    steps, seen = [], set()
    for n, cell in enumerate(submission.cells, 1):
        gid = grading(cell).get("grade_id")
        if gid in seen or (gid in locked and is_test(locked[gid])):
            continue  # a copy of a cell already run, or a test cell: the lab's goes in below
        if gid is not None:
            seen.add(gid)
        cell = locked.get(gid, cell)
        if cell.cell_type == "code":
            steps.append(_Step(cell, f"cell {n}", owner.get(gid), False))
    for gid, cell in locked.items():  # in the lab's order: each after what precedes it in the lab
        if gid in seen or cell.cell_type != "code":
            continue
        # After the last step that the lab puts before this cell (scratch cells have no place).
        earlier = [
            k
            for k, step in enumerate(steps)
            if place.get(grading(step.cell).get("grade_id"), len(lab.cells)) < place[gid]
        ]
        where = f"the tests of {gid}" if is_test(cell) else f"the lab's given cell {gid}"
        step = _Step(cell, where, owner.get(gid), is_test(cell))
        steps.insert(earlier[-1] + 1 if earlier else 0, step)
    last_test = max((k for k, step in enumerate(steps) if step.is_test), default=len(steps))
    return steps[: last_test + 1]


async def _run_once(
    steps: list[_Step],
    skip: dict[int, str],
    limits: Limits,
    folder: Path,
    deadline: float,
    signs: list[str],
) -> tuple[dict, dict[int, str], int | None]:
    """One run in a fresh kernel; stops at the first step that kills or wedges the kernel. Signs of
    tampering go to `signs`."""
    results: dict[str, list[dict]] = {}  # question -> each test's outcome
    trouble: dict[int, str] = {}  # step -> why it broke
    setup = SETUP.format(
        limits.test, limits.memory_mb, limits.notebook + limits.startup, limits.file_mb
    )
    token = secrets.token_hex(8)  # results that carry it came from the grader's fresh check
    prefix = TEST_PREFIX.format(
        token=token,
        tamper=str(Path(tamper.__file__)),
        limit=limits.test,
        check=str(Path(tamper.__file__).with_name("check.py")),
    )
    cells = [new_code_cell((prefix if s.is_test else "") + s.cell.get("source", "")) for s in steps]
    broken_at = None
    async with _kernel(
        new_notebook(cells=[new_code_cell(setup), *cells]), limits, folder
    ) as client:
        setup_cell = await client.async_execute_cell(client.nb.cells[0], 0)
        if setup_cell.outputs:  # any output of the setup cell is an error
            raise RuntimeError(
                f"the kernel could not start grading: {setup_cell.outputs[0].get('evalue')}"
            )
        for n, step in enumerate(steps):
            if n in skip:
                continue
            if (left := deadline - time.monotonic()) <= 0:
                trouble[n] = f"{step.where} did not run: the notebook used its {limits.notebook} s"
                continue
            # A test cell answers to the notebook's limit: each test has its own inside check().
            client.timeout = math.ceil(left if step.is_test else min(limits.cell, left))
            try:
                cell = await client.async_execute_cell(client.nb.cells[n + 1], n + 1)
            except (CellTimeoutError, DeadKernelError) as error:
                timed_out = isinstance(error, CellTimeoutError)
                trouble[n] = (
                    f"timed out after {client.timeout} s in {step.where}"
                    if timed_out
                    else f"{step.where} stopped the kernel (os._exit, a signal, or out of memory)"
                )
                if timed_out and await _interrupted(client):
                    continue
                broken_at = n
                break
            for out in cell.outputs:
                if out.output_type == "error" and any(words in out.evalue for words in CROWDED):
                    trouble[n] = (
                        f"{step.where} could not start a thread or process: too many at once"
                    )
                elif out.output_type == "error":
                    trouble[n] = f"{step.where} raised {out.ename}: {out.evalue}".removesuffix(
                        ": "
                    )[:300]
                elif step.is_test:
                    result = out.data[MIME]
                    results[step.question] = hide(step.cell.source, step.question, result["tests"])
                    if result.get("token") != token:
                        signs.append(f"{step.where}: results without the grader's seal (forged?)")
                    signs += result.get("signs", [])
    signs += tamper.unlike_the_log(results, token, folder / "kernel.log")
    return results, trouble, broken_at


async def _interrupted(client: _Client) -> bool:
    """Interrupt a cell that ran out of time; True if the kernel answers again within GRACE."""
    await client.km.interrupt_kernel()
    client.timeout = GRACE
    try:  # queued behind the interrupted cell: it runs only once the kernel is free again
        await client.async_execute_cell(new_code_cell("pass"), 0)
        return True
    except (CellTimeoutError, DeadKernelError):
        return False


@asynccontextmanager
async def _kernel(nb: NotebookNode, limits: Limits, folder: Path) -> AsyncIterator[_Client]:
    """A kernel living in ``folder`` (cwd, HOME, TMPDIR, runtime dir), in a sandbox where the
    system has bwrap (grading/sandbox.py), talking over Unix sockets there; killed at the end."""
    sandbox.write_kernel_spec(folder, list(limits.hidden))
    km = AsyncKernelManager(
        kernel_name=sandbox.KERNEL_NAME,
        client_factory=_KernelClient,
        transport="ipc",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder / "kernels")]),
        connection_file=str(folder / "runtime" / "kernel.json"),
    )
    client = _Client(
        nb, km=km, allow_errors=True, timeout=limits.cell, startup_timeout=limits.startup
    )
    env = {**isolated_env(folder), "MPLBACKEND": "Agg"}  # HOME: folder/home, and so on
    with open(folder / "kernel.log", "wb") as log:
        try:
            await client.async_start_new_kernel(
                cwd=str(folder / "work"), env=env, stdout=log, stderr=log
            )
            await client.async_start_new_kernel_client()
            yield client
        finally:
            if client.reader is not None:
                client.reader.cancel()
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                await _kill(km)


async def _kill(km: AsyncKernelManager) -> None:
    """Kill the kernel (in the sandbox, with all it started) and wait until it is gone, looking
    every 10 ms (jupyter_client: every 100 ms, after an interrupt that then lingers 100 ms)."""
    await km.provisioner.kill()
    for _ in range(500):  # 5 s at most, as jupyter_client waits
        if await km.provisioner.poll() is not None:
            await km.provisioner.wait()  # gone: forgotten, so nothing more is sent to it
            break
        await asyncio.sleep(0.01)
    await km.shutdown_kernel(now=True)  # the rest: its sockets and files


def _reason(tests: list[dict], own: list[str]) -> str:
    """Why a question got no points: what broke in its own cells first; then "not answered yet"
    (every test said so, or none ran); else the first test that did not pass."""
    if own:
        return own[0]
    if all(t["status"] == NOT_ANSWERED for t in tests):
        return "not answered yet"
    failed = next(t for t in tests if t["status"] != PASSED)
    if failed["hidden"]:  # its message is already the student-facing "a hidden test ... failed"
        return failed["message"]
    return f"{failed['test']}: {summary(failed['message'])}"


def _score(
    qs: list[Question], steps: list[_Step], results: dict, trouble: dict[int, str]
) -> tuple[dict[str, float], list[str]]:
    """Full points for a question whose tests all passed, else 0 and the first reason why; each
    trouble gives a reason, even in a question that kept its points."""
    points, reasons = {}, []
    for q in qs:
        tests = results.get(q.id, [])
        passed = bool(tests) and all(t["status"] == PASSED for t in tests)
        points[q.id] = float(q.points) if passed else 0.0
        if not points[q.id]:
            own = [why for n, why in sorted(trouble.items()) if steps[n].question == q.id]
            reasons.append(f"{q.id}: {_reason(tests, own)}")
    return points, reasons + [
        why for _, why in sorted(trouble.items()) if why not in " ".join(reasons)
    ]
