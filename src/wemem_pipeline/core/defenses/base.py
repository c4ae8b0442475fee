"""The defense interface used by the one training loop.

A defense decides, for every fine-tuning epoch, which member samples are trained on and in
which *groups*; each group has its own optimizer settings. The loop steps through the groups
in the order given, each group's samples shuffled into batches, and lets the defense take
each batch's step. Base (no defense) is one group holding every member, every epoch, and
plain cross-entropy steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class GroupOptimizer:
    """Optimizer settings of one group; ``None`` keeps the training configuration's value."""

    weight_decay: float | None = None
    decoupled: bool = False  # AdamW-style decay instead of L2 added to the gradient


@dataclass(frozen=True)
class SampleGroup:
    """Samples (dataset rows) trained together in one epoch.

    ``optimizer`` names the optimizer that steps on this group's batches; ``l2_penalty`` adds
    ``l2_penalty * ||theta||^2`` to the loss of those batches (a coupled weight decay of
    ``2 * l2_penalty`` on top of the optimizer's own).
    """

    name: str
    indices: np.ndarray
    optimizer: str = "all"
    l2_penalty: float = 0.0


class Defense:
    """What the training loop asks of a defense; one instance serves one model in all rounds.

    A WeMem defense plans the epochs (``optimizers``, ``plan_epoch``). A baseline that changes
    the objective overrides ``loss`` (DP-SGD, which changes the gradient, ``train_step``); one
    that needs non-member data for its own
    training reads it in ``start``; one that changes what the model answers at inference
    (HAMP) wraps the model in ``inference_model``; DP-SGD swaps BatchNorm in ``prepare``.
    """

    name = "defense"

    def optimizers(self) -> dict[str, GroupOptimizer]:
        """Optimizer settings by name; the loop creates one optimizer for each."""
        return {"all": GroupOptimizer()}

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        """The groups of epoch ``epoch`` (0-based within a fine-tuning run), in step order."""
        raise NotImplementedError

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model to fine-tune (called once per model, before its first round)."""
        return model

    def start(
        self,
        model: nn.Module,
        features: torch.Tensor,
        labels: torch.Tensor,
        dev_indices: torch.Tensor | None,
    ) -> None:
        """Called at the start of every fine-tuning run with the whole dataset."""

    def loss(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        group: SampleGroup,
        epoch: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch loss to minimise and the per-sample cross-entropy losses (detached).

        The default is plain cross-entropy, plus the group's ``l2_penalty``.
        """
        sample_losses = nn.functional.cross_entropy(model(inputs), targets, reduction="none")
        loss = sample_losses.mean()
        if group.l2_penalty:
            loss = loss + group.l2_penalty * sum(p.square().sum() for p in model.parameters())
        return loss, sample_losses.detach()

    def train_step(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        group: SampleGroup,
        epoch: int,
    ) -> torch.Tensor:
        """One optimizer step on a batch's :meth:`loss`; returns the per-sample losses."""
        loss, sample_losses = self.loss(model, inputs, targets, group, epoch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return sample_losses

    def inference_model(self, model: nn.Module) -> nn.Module:
        """The model as it answers queries (its outputs are what attacks see)."""
        return model

    def summary(self) -> dict[str, Any]:
        """Facts about this model's defense for the report (e.g. risky members, epsilon)."""
        return {}


class NoDefense(Defense):
    """Base: every member, every epoch, one optimizer."""

    name = "base"

    def __init__(self, members: np.ndarray):
        self.members = np.asarray(members, dtype=np.int64)

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        return [SampleGroup("all", self.members)]
