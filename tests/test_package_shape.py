"""The shape docs/architecture.md gives the support package: small modules, imports one way only."""

from __future__ import annotations

import ast

from conftest import ROOT

PACKAGE = ROOT / "src" / "socket2flask"
# module -> the package's modules it may import (docs/architecture.md: servers stands alone, plots
# draws what probe returns, probe and wire share httpclient; no import runs back up). kinds,
# production and aio hold servers' adapters, one per kind; lifeline is the program gunicorn runs
# under.
ALLOWED = {
    "servers": {"kinds", "production", "aio"},
    "kinds": set(),
    "production": {"kinds"},
    "aio": {"kinds"},
    "lifeline": set(),
    "httpclient": set(),
    "probe": {"httpclient"},
    "wire": {"httpclient"},
    "plots": {"probe"},
    "apps": set(),
}


def imported_modules(path) -> set[str]:
    """The package's modules that `path` imports at run time (imports for type checkers only,
    under `if TYPE_CHECKING:`, run nothing)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("socket2flask."):
            names.add(node.module.split(".")[1])
    return names


def test_each_module_imports_only_what_the_design_allows():
    for module, allowed in ALLOWED.items():
        found = imported_modules(PACKAGE / f"{module}.py")
        assert found <= allowed, f"{module} imports {found - allowed}"


def test_the_bench_a_learner_reads_stays_within_its_size_budget():
    # DESIGN.md's first budget was 1,000 lines; issue 13 (an adapter per kind, options checked,
    # stragglers named, gunicorn's lifeline) raised it to 1,350 (docs/architecture.md); ruff's
    # format (issue 19: a call that does not fit in 100 columns gets a line per argument), to 1,500;
    # step 7's two kinds on an event loop (issue 18: asyncio and uvicorn), to 1,750.
    sizes = {
        m: len((PACKAGE / f"{m}.py").read_text(encoding="utf-8").splitlines()) for m in ALLOWED
    }
    assert sum(sizes.values()) <= 1750 and max(sizes.values()) <= 320, sizes
