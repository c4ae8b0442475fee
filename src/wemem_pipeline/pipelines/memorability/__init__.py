"""Score every sample of the victim and shadow pools by how much the models memorize it."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
