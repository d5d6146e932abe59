"""Checks and grades for the labs (docs/architecture.md), importing nothing else from socket2flask.

In a lab: ``from socket2flask.grading import check, check_all, expect``; for teachers:
``python -m socket2flask.grading labs | bundle | grade`` (``--help`` for each)."""

from .check import check, check_all, expect  # noqa: F401  (what a lab imports)
