"""Load the dataset and split it among the victim and the shadow models."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
