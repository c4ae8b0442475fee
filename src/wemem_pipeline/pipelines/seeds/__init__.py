"""The aggregate of a multi-seed run (``evaluation.seeds``); see ``runs/seed_branches.py``."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
