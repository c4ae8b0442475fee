"""PPB: make the sorted posteriors of any two training samples look alike.

A member is recognisable by the *shape* of its posterior (one very confident class), whatever
the class. Each batch is split into two halves; the loss adds ``lambda`` times the KL
divergence between the softmax of the sorted logits of the i-th sample of the first half and
that of the i-th sample of the second, so confident and unconfident shapes are pulled
together.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..validation import require_number
from .base import Baseline, SampleGroup


@dataclass(frozen=True)
class PPBConfig:
    lambda_: float = 4.0
    section: str = "ppb"

    def __post_init__(self) -> None:
        require_number(f"{self.section}.lambda", self.lambda_, 0.0, float("inf"))


def sorted_posterior_divergence(logits: torch.Tensor) -> torch.Tensor:
    """Mean ``KL(first_i || second_i)`` between the two half-batches' sorted posteriors."""
    half = len(logits) // 2
    if half == 0:
        return logits.new_zeros(())
    log_p = torch.log_softmax(logits.sort(dim=1, descending=True).values, dim=1)
    first, second = log_p[:half], log_p[half : 2 * half]
    return (first.exp() * (first - second)).sum(dim=1).mean()


class PPB(Baseline):
    name, title, settings_class = "ppb", "PPB", PPBConfig
    search_space = {"lambda": {"low": 0.5, "high": 32.0, "log": True}}

    def loss(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        group: SampleGroup,
        epoch: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(inputs)
        sample_losses = nn.functional.cross_entropy(logits, targets, reduction="none")
        loss = sample_losses.mean() + self.config.lambda_ * sorted_posterior_divergence(logits)
        return loss, sample_losses.detach()
