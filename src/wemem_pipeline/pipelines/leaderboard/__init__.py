"""Every defense on every dataset: the leaderboard of the comparison runs."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
