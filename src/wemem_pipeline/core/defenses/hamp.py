"""HAMP (Chen & Pattabiraman, NDSS 2024): high-entropy training and random-looking outputs.

Training: the one-hot label becomes a soft label whose entropy is ``gamma`` times the largest
possible (``log C``), keeping the true class most likely, and the loss rewards high-entropy
predictions (``- alpha * H(p)``), so members are not fitted with overconfident outputs.
Inference: the model answers every query with the posterior it gives a *random* input,
rearranged so that its classes keep the query's ranking. Labels (and accuracy) are
unchanged; the confidence values carry no information about the query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..validation import require_number
from .base import Baseline, DefenseContext, SampleGroup


@dataclass(frozen=True)
class HAMPConfig:
    gamma: float = 0.5
    alpha: float = 0.001
    section: str = "hamp"

    def __post_init__(self) -> None:
        open_unit = {"low_inclusive": False, "high_inclusive": False}
        require_number(f"{self.section}.gamma", self.gamma, 0.0, 1.0, **open_unit)
        require_number(f"{self.section}.alpha", self.alpha, 0.0, float("inf"))


def label_entropy(confidence: float, num_classes: int) -> float:
    """Entropy of ``[confidence, (1 - confidence) / (C - 1), ...]``."""
    rest = (1.0 - confidence) / (num_classes - 1)
    terms = [confidence] + [rest] * (num_classes - 1)
    return -sum(p * math.log(p) for p in terms if p > 0)


def soft_label_confidence(num_classes: int, gamma: float) -> float:
    """The largest true-class probability whose soft label has entropy >= gamma log C.

    The entropy falls from ``log C`` at ``1/C`` to 0 at 1, so bisection finds it.
    """
    target = gamma * math.log(num_classes)
    low, high = 1.0 / num_classes, 1.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (
            (middle, high) if label_entropy(middle, num_classes) >= target else (low, middle)
        )
    return low


def soft_labels(targets: torch.Tensor, num_classes: int, gamma: float) -> torch.Tensor:
    confidence = soft_label_confidence(num_classes, gamma)
    labels = torch.full(
        (len(targets), num_classes), (1.0 - confidence) / (num_classes - 1), device=targets.device
    )
    return labels.scatter_(1, targets[:, None], confidence)


class RandomPosteriorOutputs(nn.Module):
    """``model`` answering with the sorted posterior of a random input in the query's order."""

    def __init__(self, model: nn.Module, low: float, high: float, seed: int):
        super().__init__()
        self.model, self.low, self.high, self.seed = model, low, high, seed

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator(device=inputs.device).manual_seed(self.seed)
        noise = torch.rand(inputs.shape, generator=generator, device=inputs.device)
        random_inputs = self.low + (self.high - self.low) * noise.to(inputs.dtype)
        posterior = torch.softmax(self.model(inputs), dim=1)
        replacement = torch.softmax(self.model(random_inputs), dim=1)
        values = replacement.sort(dim=1, descending=True).values
        ranks = posterior.argsort(dim=1, descending=True)
        modified = torch.empty_like(posterior).scatter_(1, ranks, values)
        return modified.clamp_min(1e-12).log()


class HAMP(Baseline):
    name, title, settings_class = "hamp", "HAMP", HAMPConfig
    search_space = {"gamma": {"low": 0.1, "high": 0.95}}

    def __init__(self, context: DefenseContext, config: HAMPConfig):
        super().__init__(context, config)
        self.feature_range = (0.0, 1.0)

    def start(self, model, features, labels, dev_indices) -> None:
        self.feature_range = (features.min().item(), features.max().item())

    def loss(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        group: SampleGroup,
        epoch: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(inputs)
        log_p = torch.log_softmax(logits, dim=1)
        soft = soft_labels(targets, self.context.num_classes, self.config.gamma)
        entropy = -(log_p.exp() * log_p).sum(dim=1)
        loss = -(soft * log_p).sum(dim=1).mean() - self.config.alpha * entropy.mean()
        return loss, nn.functional.cross_entropy(logits.detach(), targets, reduction="none")

    def inference_model(self, model: nn.Module) -> nn.Module:
        return RandomPosteriorOutputs(model, *self.feature_range, seed=self.context.seed)
