"""RelaxLoss (Chen et al., ICLR 2022): do not let the training loss fall below ``alpha``.

Members stand out because their loss is much lower than non-members'. While the batch's mean
loss is above ``alpha`` the model descends as usual; below it, even epochs take a gradient
*ascent* step back towards ``alpha`` (the loss ``|CE - alpha|``) and odd epochs flatten the
posterior: correctly classified samples are trained towards a soft label that keeps their
true-class probability and spreads the rest evenly over the other classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..validation import require_number
from .base import Baseline, SampleGroup


@dataclass(frozen=True)
class RelaxLossConfig:
    alpha: float = 0.5
    section: str = "relaxloss"

    def __post_init__(self) -> None:
        require_number(f"{self.section}.alpha", self.alpha, 0.0, float("inf"), low_inclusive=False)


def flattened_targets(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Soft labels: the true class keeps its probability, the others share the rest evenly.

    Misclassified samples keep their one-hot label.
    """
    probability = torch.softmax(logits.detach(), dim=1)
    num_classes = logits.shape[1]
    true = probability.gather(1, targets[:, None])
    soft = ((1.0 - true) / (num_classes - 1)).expand(-1, num_classes).clone()
    soft.scatter_(1, targets[:, None], true)
    one_hot = nn.functional.one_hot(targets, num_classes).to(soft.dtype)
    correct = (probability.argmax(dim=1) == targets)[:, None]
    return torch.where(correct, soft, one_hot)


def relaxed_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float, epoch: int
) -> tuple[torch.Tensor, str]:
    """The loss to minimise and which of ``descent``, ``ascent``, ``flatten`` it is."""
    cross_entropy = nn.functional.cross_entropy(logits, targets)
    if cross_entropy.item() > alpha:
        return cross_entropy, "descent"
    if epoch % 2 == 0:
        return (cross_entropy - alpha).abs(), "ascent"
    soft = flattened_targets(logits, targets)
    return -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1).mean(), "flatten"


class RelaxLoss(Baseline):
    name, title, settings_class = "relaxloss", "RelaxLoss", RelaxLossConfig
    search_space = {"alpha": {"low": 0.05, "high": 2.0, "log": True}}

    def loss(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        group: SampleGroup,
        epoch: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(inputs)
        loss, _ = relaxed_loss(logits, targets, self.config.alpha, epoch)
        return loss, nn.functional.cross_entropy(logits.detach(), targets, reduction="none")
