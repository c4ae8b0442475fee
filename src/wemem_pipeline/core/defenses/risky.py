"""Which members are "risky" (highly memorable): the RMR primitive."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..validation import ParameterError, require_choice, require_number

THRESHOLD_SCALES = ("normalized", "raw", "top_fraction")


@dataclass(frozen=True)
class RiskyConfig:
    """Risky members and their optimizer.

    ``threshold`` is read on ``scale``: ``normalized`` (the rank-normalized score in [0, 1]),
    ``raw`` (the estimator's value) or ``top_fraction`` (that share of the members with the
    highest scores). Risky batches use ``weight_decay_mem``; ``optimizer`` ``separate`` gives
    them their own optimizer (the reference), ``shared`` one optimizer for all batches with the
    extra decay added to the risky batches' loss as an L2 penalty (same gradient direction,
    shared Adam moments). ``decoupled`` uses AdamW-style decay in the separate optimizer.
    """

    threshold: float = 0.85
    scale: str = "normalized"
    weight_decay_mem: float = 0.1
    optimizer: str = "separate"
    decoupled: bool = False
    section: str = field(default="defenses.rmr", repr=False)  # names parameters in errors

    def __post_init__(self) -> None:
        section = self.section
        require_choice(f"{section}.scale", self.scale, THRESHOLD_SCALES)
        require_choice(f"{section}.optimizer", self.optimizer, ("separate", "shared"))
        low = -1 if self.scale == "raw" else 0
        require_number(f"{section}.threshold", self.threshold, low, 1)
        require_number(f"{section}.weight_decay_mem", self.weight_decay_mem, 0, float("inf"))
        if not isinstance(self.decoupled, bool):
            raise ParameterError(f"{section}.decoupled must be true or false")
        if self.decoupled and self.optimizer == "shared":
            raise ParameterError(f"{section}.decoupled needs {section}.optimizer='separate'")


def risky_mask(raw: np.ndarray, normalized: np.ndarray, config: RiskyConfig) -> np.ndarray:
    """Boolean mask over the members: score at or above the threshold on its scale."""
    if config.scale == "raw":
        return np.asarray(raw) >= config.threshold
    if config.scale == "normalized":
        return np.asarray(normalized) >= config.threshold
    count = round(config.threshold * len(raw))
    mask = np.zeros(len(raw), dtype=bool)
    # Highest raw score first; ties broken by position for reproducibility.
    mask[np.lexsort((np.arange(len(raw)), -np.asarray(raw)))[:count]] = True
    return mask
