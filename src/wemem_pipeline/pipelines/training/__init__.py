"""Train the dense victim and shadow models."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
