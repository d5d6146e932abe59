"""Lab 04's tools: lesson 04's framework, read from the lesson itself, and `load_app`.

The framework lives in one place: the cells of notebooks/04_mini_flask.ipynb tagged "miniflask"
(lesson 05 joins the same cells into miniflask.py). Lab 04 runs the cells it gives in the lab's own
namespace, as if they had been typed there, so that their code sees the learner's classes and
context variables; the lab's solution runs the cells it asks for, its reference answers. Tests and
benchmarks take the whole framework as a module (`lesson_module`).

The lesson is found from this package's own location (`socket2flask.apps.APPS`), never from the
working directory: in the grader's sandbox that is a temporary folder.

`use_current_parts` lets a learner fix one part and run only its cell and a test cell: the lab's
classes are built from each other (`Scaffold(Routes, Hooks)`, `App(Dispatch, ...)`), and a class
keeps the bases it was made with until its own cell runs again.
"""

from __future__ import annotations

import ast
import json
import linecache
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from socket2flask.apps import APPS

LESSON = APPS.parent / "04_mini_flask.ipynb"
TAG = "miniflask"  # the tag of the framework's cells


@dataclass(frozen=True)
class Cell:
    """One framework cell of the lesson: its id, the section it belongs to, its code, and the
    names it defines (classes, functions, variables)."""

    id: str
    section: str
    source: str
    names: tuple[str, ...]


def framework_cells(lesson: Path = LESSON) -> list[Cell]:
    """The lesson's cells tagged "miniflask", in the lesson's order."""
    cells, section = [], ""
    for cell in json.loads(lesson.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])  # a list of lines in the file, or one str
        if cell["cell_type"] == "markdown":
            section = _last_heading(source) or section
        elif TAG in cell["metadata"].get("tags", []):
            cells.append(Cell(cell.get("id", ""), section, source, _defined(source)))
    return cells


def cells_defining(*names: str) -> list[Cell]:
    """The framework cells that define any of `names`, each once, in the lesson's order."""
    cells = framework_cells()
    missing = set(names) - {name for cell in cells for name in cell.names}
    if missing:
        raise KeyError(f"no cell of {LESSON.name} tagged {TAG!r} defines {sorted(missing)}")
    return [cell for cell in cells if set(cell.names) & set(names)]


def lesson_source(*names: str) -> str:
    """The code of the framework cells that define `names`, joined as lesson 05 joins them."""
    return "\n\n\n".join(cell.source for cell in cells_defining(*names))


def run_lesson_cells(namespace: dict, *names: str, show: bool = False) -> None:
    """Run the framework cells that define `names` in `namespace` (a notebook's `globals()`), as if
    they had been typed there. With `show`, print each cell's code first, with its section."""
    for cell in cells_defining(*names):
        if show:
            print(f"# {LESSON.name}, {cell.section} (run here):\n\n{cell.source}\n")
        _run(cell, namespace)


def lesson_module(name: str = "miniflask") -> types.ModuleType:
    """The whole framework as a new module, registered in sys.modules under `name`."""
    module = types.ModuleType(name)
    sys.modules[name] = module  # typing and dataclasses look a module up by its name
    for cell in framework_cells():
        _run(cell, module.__dict__)
    return module


def load_module(
    source: str,
    framework: types.ModuleType | None = None,
    name: str = "labapp",
    root_path: str | None = None,
) -> types.ModuleType:
    """Run a Flask app's source as a new module, with `flask` meaning `framework` (None: the real
    Flask), then put the real `flask` back. The module is named `<name>_on_<framework>`, and its
    file is root_path/<name>.py, so that the app finds its templates in root_path."""
    label = framework.__name__ if framework else "flask"
    module = types.ModuleType(f"{name}_on_{label}")
    module.__file__ = f"{root_path or '.'}/{name}.py"
    sys.modules[module.__name__] = module  # Flask(__name__) finds the file through sys.modules
    real_flask = sys.modules.get("flask")
    if framework is not None:
        sys.modules["flask"] = framework
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    finally:
        if real_flask is None:
            sys.modules.pop("flask", None)
        else:
            sys.modules["flask"] = real_flask
    return module


def load_app(
    source: str,
    framework: types.ModuleType | None = None,
    name: str = "labapp",
    root_path: str | None = None,
):
    """The `app` of a Flask app's source, run by load_module on `framework` (None: Flask)."""
    return load_module(source, framework, name, root_path).app


def use_current_parts(namespace: dict) -> list[str]:
    """Make the notebook's classes use the current version of the parts they are built from.

    A class keeps the classes it was made from: after a fix to `Routes` and a new run of its cell,
    `Scaffold(Routes, Hooks)`, made earlier, still inherits the old `Routes`, and `App` still has
    the old `Request` as its `request_class`. For each class defined in `namespace` (a notebook's
    `globals()`), each base class and each class attribute that is a class of the notebook since
    replaced by a newer one of the same name now is that newer one, as if every cell had run again
    in order. The class itself stays the same object, so its subclasses follow. Returns what
    changed ("Scaffold: Routes"), most often nothing."""
    module = namespace.get("__name__")
    current = {
        name: value
        for name, value in namespace.items()
        if isinstance(value, type) and value.__module__ == module and value.__name__ == name
    }

    def newest(part: type) -> type:
        """The notebook's current class named as `part`, if `part` is a class of the notebook (made
        at its top level, not inside a function or a class)."""
        if part.__module__ != module or part.__qualname__ != part.__name__:
            return part
        return current.get(part.__name__, part)

    changed = []
    for cls in current.values():
        bases = tuple(newest(base) for base in cls.__bases__)
        stale = [old.__name__ for old, new in zip(cls.__bases__, bases) if old is not new]
        if stale and cls not in bases:  # `class Routes(Routes)` extends the old one on purpose
            try:
                cls.__bases__ = bases  # the MRO of cls and of its subclasses is computed again
                changed.append(f"{cls.__name__}: {', '.join(stale)}")
            except TypeError:  # an impossible order of bases: left as it is, as a new run fails
                pass
        for name, value in list(vars(cls).items()):
            if isinstance(value, type) and newest(value) is not value:
                setattr(cls, name, newest(value))  # request_class = Request, an older Request
                changed.append(f"{cls.__name__}.{name}")
    return changed


def _run(cell: Cell, namespace: dict) -> None:
    """Run one cell's code in `namespace`. Its file name, kept in linecache as IPython keeps a
    cell's, names the lesson and the cell: a traceback through it shows the lesson's lines."""
    filename = f"{LESSON} (cell {cell.id})"
    linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
    exec(compile(cell.source, filename, "exec"), namespace)


def _last_heading(markdown: str) -> str:
    """The last heading of a markdown cell ("### 3.2 What an app records"), without its #s."""
    headings = [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("#")]
    return headings[-1] if headings else ""


def _defined(source: str) -> tuple[str, ...]:
    """The names a cell's top-level statements define: classes, functions, assigned variables."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [target.id for target in targets if isinstance(target, ast.Name)]
    return tuple(names)
