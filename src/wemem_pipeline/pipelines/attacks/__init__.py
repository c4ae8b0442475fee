"""Attack the victim of every stage with shadow-calibrated attacks."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
