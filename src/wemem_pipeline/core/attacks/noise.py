"""Gaussian copies of a batch of inputs: the queries of the attacks that nudge an input."""

from __future__ import annotations

import torch


def gaussian_copies(
    inputs: torch.Tensor, copies: int, scale: float, generator: torch.Generator
) -> torch.Tensor:
    """``copies`` perturbations ``x + scale * u`` (``u ~ N(0, I)``) of every input, copy by
    copy: row ``k * len(inputs) + i`` is the ``k``-th copy of input ``i``."""
    noise = torch.randn(
        (copies, *inputs.shape), generator=generator, device=inputs.device, dtype=inputs.dtype
    )
    return (inputs.unsqueeze(0) + scale * noise).flatten(0, 1)
