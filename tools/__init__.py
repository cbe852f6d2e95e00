"""Maintainer tools (notebook generation and execution, figures); not shipped in the wheel.

Run them from the repository root: `python tools/notebooks.py ...`, `python tools/figures.py ...`.
"""
