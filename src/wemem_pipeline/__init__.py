"""wemem-pipeline: membership leakage of iteratively pruned networks, measured and defended."""

__version__ = "0.1.0"
