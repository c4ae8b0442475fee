"""Adversarial regularization (Nasr et al., CCS 2018): train against a live membership attack.

An inference model ``h`` sees a posterior and the one-hot label and predicts membership. For
every batch, ``h`` first takes ``inner_steps`` steps telling the batch's members from as many
reference non-members (the model's dev samples); then the model takes a step on
``CE + lambda * mean log h(member)``, lowering what the attack can gain on its members.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..validation import require_int, require_number
from .base import Baseline, DefenseContext, SampleGroup


@dataclass(frozen=True)
class AdvRegConfig:
    lambda_: float = 1.0
    inner_steps: int = 7
    attack_lr: float = 1e-3
    section: str = "advreg"

    def __post_init__(self) -> None:
        require_number(f"{self.section}.lambda", self.lambda_, 0.0, float("inf"))
        require_int(f"{self.section}.inner_steps", self.inner_steps, 1)
        require_number(f"{self.section}.attack_lr", self.attack_lr, 0.0, 1.0, low_inclusive=False)


def _attack_inputs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    one_hot = nn.functional.one_hot(targets, logits.shape[1]).to(logits.dtype)
    return torch.cat([torch.softmax(logits, dim=1), one_hot], dim=1)


class AdversarialRegularization(Baseline):
    name, title, settings_class = "advreg", "AdvReg", AdvRegConfig
    search_space = {"lambda": {"low": 0.1, "high": 10.0, "log": True}}

    def __init__(self, context: DefenseContext, config: AdvRegConfig):
        super().__init__(context, config)
        torch.manual_seed(context.seed)
        self.attack = nn.Sequential(
            nn.Linear(2 * context.num_classes, 64), nn.ReLU(), nn.Linear(64, 1)
        )
        # Made at the first start(): a process's first optimizer imports torch._dynamo
        # (~1 s), which a run whose settings are only checked (a refused one) need not pay.
        self.attack_optimizer: torch.optim.Optimizer | None = None
        self.reference: tuple[torch.Tensor, torch.Tensor] | None = None
        self.generator = torch.Generator().manual_seed(context.seed)

    def start(self, model, features, labels, dev_indices) -> None:
        if dev_indices is None or len(dev_indices) == 0:
            raise ValueError("advreg needs the model's dev samples as reference non-members")
        self.reference = (features[dev_indices], labels[dev_indices])
        self.attack.to(features.device)
        if self.attack_optimizer is None:  # one for every round: its moments carry over
            lr = self.config.attack_lr
            self.attack_optimizer = torch.optim.Adam(self.attack.parameters(), lr=lr)

    def _reference_batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        features, labels = self.reference
        rows = torch.randint(len(labels), (size,), generator=self.generator).to(labels.device)
        return features[rows], labels[rows]

    def loss(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        group: SampleGroup,
        epoch: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        reference_inputs, reference_targets = self._reference_batch(len(inputs))
        with torch.no_grad():
            member_view = _attack_inputs(model(inputs), targets)
            reference_view = _attack_inputs(model(reference_inputs), reference_targets)
        views = torch.cat([member_view, reference_view])
        is_member = torch.cat([torch.ones(len(inputs)), torch.zeros(len(inputs))]).to(views)
        for _ in range(self.config.inner_steps):
            self.attack_optimizer.zero_grad(set_to_none=True)
            attack_loss = nn.functional.binary_cross_entropy_with_logits(
                self.attack(views).squeeze(1), is_member
            )
            attack_loss.backward()
            self.attack_optimizer.step()

        logits = model(inputs)
        sample_losses = nn.functional.cross_entropy(logits, targets, reduction="none")
        attack_gain = nn.functional.logsigmoid(
            self.attack(_attack_inputs(logits, targets)).squeeze(1)
        ).mean()
        loss = sample_losses.mean() + self.config.lambda_ * attack_gain
        return loss, sample_losses.detach()
