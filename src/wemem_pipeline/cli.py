"""Kedro looks for a project's own commands here; they live in :mod:`.runs.cli`."""

from .runs.cli import clean, cli, error_block, run

__all__ = ["clean", "cli", "error_block", "run"]
