"""The apps the lessons and labs serve (bookshelf, Shortly), each in a folder of its own under
notebooks/apps/ with its templates and static files. Found from this file's own location (the
course installs this package from its checkout), never from the working directory, which differs
between a lesson, a lab and the grader's sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "notebooks" / "apps"


def use_app(name: str) -> Path:
    """The folder of app `name`, put on sys.path so that its modules import by their own names
    (`use_app("shortly")`, then `import shortly_parts`)."""
    folder = APPS / name
    if not folder.is_dir():
        raise FileNotFoundError(f"no app {name!r} in {APPS} (the course's notebooks/apps/)")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return folder
