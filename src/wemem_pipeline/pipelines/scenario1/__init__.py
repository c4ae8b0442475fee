"""Scenario 1: RSW (restricted sliding window) against data reuse."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
