"""Seeds for every random choice of a run, derived from the run's one ``seed``."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, *keys: str | int) -> int:
    """A stable 31-bit seed for one purpose, e.g. ``(seed, "init", model name)``."""
    words = [seed] + [zlib.crc32(str(key).encode()) for key in keys]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)
