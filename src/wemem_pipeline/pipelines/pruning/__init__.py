"""Prune every dense model one-shot and iteratively, recording each round."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
