"""Attack a stored model (a catalog version or a state-dict file) with the project's shadows."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
