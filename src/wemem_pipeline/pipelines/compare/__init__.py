"""Compare RSW, RMR, SWMR with the baseline defenses on one privacy-utility picture."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
