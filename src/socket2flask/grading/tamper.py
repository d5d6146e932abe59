"""Signs that a submission tampered with its own grading. Tests run in the submission's process (as
in nbgrader and otter), so this makes tampering evident, not impossible.

Before each test cell the grader loads this module and `check` afresh from their files, under names
of its own: copies that no submitted cell can have patched, since none ran after they were made.
`sealed_check` removes the hooks that could watch the tests (IPython's event callbacks, trace and
profile hooks), and every result the fresh `check` reports carries the grader's token and the signs
found: hooks that were there, grading code that differs from its file, or a replaced way out of
the kernel (the display publisher, the session that sends messages, `display` itself). The same
record, with each test's status, goes straight to the kernel's log file too: the grader compares
the two, so that results rewritten on their way out show.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

OURS = ("IPython.", "ipykernel.", "matplotlib_inline.", "matplotlib.")  # hooks that belong there
LOG_MARK = "S2F-SEAL"  # starts each line the fresh check writes to the kernel's log


def fresh(path: str, name: str, package: str = "") -> ModuleType:
    """The module in `path`, executed anew as `name` (its relative imports from `package`)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def sealed_check(
    check_path: str, token: str, time_limit: float | None
) -> tuple[Callable, Callable]:
    """`check` and `expect` from a fresh copy of check.py, in grading mode, vouching for results.
    The labs' test tools are dropped from sys.modules: the test cell's own import reads them afresh
    from the (read-only) disk, whatever the cells above patched."""
    check = fresh(check_path, f"_s2f_check_{token}", "socket2flask.grading")
    found = _remove_hooks()
    for name in [name for name in sys.modules if name.startswith("socket2flask.labtools")]:
        del sys.modules[name]

    def seal(result: dict) -> dict:
        """The token and the signs, for the result; and the same, with each test's status, written
        straight to the kernel's log (fd 2), which the grader compares with what reached it."""
        signs = found + _changed(check)
        native = sys.modules[os.name]  # posix (or nt): where os.write comes from
        if os.write is not native.write or type(native.write) is not type(len):
            signs.append("os.write was replaced")
        record = {
            "token": token,
            "question": result["question"],
            "signs": signs,
            "statuses": [test["status"] for test in result["tests"]],
        }
        native.write(2, f"\n{LOG_MARK} {json.dumps(record)}\n".encode())
        return {"token": token, "signs": signs}

    check._grading.update(time_limit=time_limit, seal=seal)
    return check.check, check.expect


def _remove_hooks() -> list[str]:
    """Remove what could watch or change the tests as they run; say what was there."""
    signs = []
    if sys.gettrace() or sys.getprofile() or threading.gettrace() or threading.getprofile():
        signs.append("a trace or profile hook was set")
    sys.settrace(None)
    sys.setprofile(None)
    threading.settrace(None)
    threading.setprofile(None)
    from IPython import get_ipython

    shell = get_ipython()
    for event, callbacks in shell.events.callbacks.items() if shell else ():
        for callback in list(callbacks):
            if not getattr(callback, "__module__", "").startswith(OURS):
                signs.append(f"an IPython {event!r} hook was registered ({_name(callback)})")
                callbacks.remove(callback)
    return signs


def _changed(check: ModuleType) -> list[str]:
    """What differs from the code on disk: the grading modules, and the way results leave."""
    from IPython import get_ipython

    signs = []
    for name, module in list(sys.modules.items()):
        if name.startswith("socket2flask.grading."):
            copy = check if name.endswith(".check") else None
            signs += [f"{name}.{function} was changed" for function in _differing(module, copy)]
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    for obj, method in (
        (getattr(shell, "display_pub", None), "publish"),
        (getattr(kernel, "session", None), "send"),
    ):
        if obj is not None and (method in vars(obj) or _rewritten(getattr(type(obj), method))):
            signs.append(f"{type(obj).__name__}.{method} was replaced")
    import IPython.core.display_functions as shown
    import IPython.display

    if IPython.display.display is not shown.display or _rewritten(shown.display):
        signs.append("IPython's display() was replaced")
    return signs


def _differing(module: ModuleType, copy: ModuleType | None) -> list[str]:
    """The functions of `module` whose code is not that of its file (or of `copy`, loaded from
    it)."""
    path = getattr(module, "__file__", None)
    if not path:
        return []
    copy = copy or fresh(path, f"_s2f_copy_{module.__name__.replace('.', '_')}", module.__package__)
    differing = []
    for name, original in vars(copy).items():
        if not inspect.isfunction(original):
            continue
        now = vars(module).get(name)
        if not inspect.isfunction(now) or now.__code__.co_code != original.__code__.co_code:
            differing.append(name)
    return differing


def _rewritten(function: Callable) -> bool:
    """True when `function`'s code is not what its module's file defines under that name."""
    module = sys.modules.get(getattr(function, "__module__", ""), None)
    owner = getattr(function, "__qualname__", "").split(".")
    if module is None or not getattr(module, "__file__", None):
        return True
    original: object = fresh(
        module.__file__, f"_s2f_copy_{module.__name__.replace('.', '_')}", module.__package__ or ""
    )
    for part in owner:  # "ZMQDisplayPublisher.publish": the class, then its method
        original = getattr(original, part, None)
    code = getattr(original, "__code__", None)
    return code is None or code.co_code != function.__code__.co_code


def _name(callback: object) -> str:
    return f"{getattr(callback, '__module__', '?')}.{getattr(callback, '__qualname__', callback)}"


# -- in the grader ---------------------------------------------------------------------------------
def unlike_the_log(results: dict[str, list[dict]], token: str, log: Path) -> list[str]:
    """The signs the fresh check wrote to the kernel's log (tamper.py), and where the results that
    reached us differ from those it recorded there: rewritten on their way out, or written twice."""
    logged: dict[str, set[tuple]] = {}
    signs = []
    with open(log, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(LOG_MARK):
                try:
                    record = json.loads(line.removeprefix(LOG_MARK))
                except ValueError:  # not written by the fresh check
                    continue
                if record.get("token") == token:
                    logged.setdefault(record["question"], set()).add(tuple(record["statuses"]))
                    signs += record["signs"]
    for question, tests in results.items():
        if logged.get(question) != {tuple(test["status"] for test in tests)}:
            signs.append(
                f"{question}: the results that reached the grader are not those its check "
                "recorded (rewritten on their way out?)"
            )
    return signs
