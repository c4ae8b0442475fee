"""The defense interface used by the one training loop.

A defense decides, for every fine-tuning epoch, which member samples are trained on and in
which *groups*; each group has its own optimizer settings. The loop steps through the groups
in the order given, each group's samples shuffled into batches, and lets the defense take
each batch's step. Base (no defense) is one group holding every member, every epoch, and
plain cross-entropy steps.

Every defense is built the same way, ``Defense.from_settings(settings, context)``: its
parameter section and a :class:`DefenseContext` with what it may need of the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..validation import ParameterError, from_mapping

Settings = Mapping[str, Any] | None  # a defense's parameter section


@dataclass(frozen=True)
class DefenseContext:
    """What a defense may use besides its settings, for one model.

    ``labels`` are every sample's labels (dataset rows); ``mem_scores`` is the model's pool's
    score table (``sample_index``, ``raw_score``, ``score``), or None where none was computed.
    """

    members: np.ndarray
    labels: np.ndarray
    num_classes: int
    mem_scores: pd.DataFrame | None = None
    base_weight_decay: float = 0.0
    seed: int = 0

    def member_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Raw and rank-normalized mem-scores of the members, in the order of ``members``."""
        if self.mem_scores is None:
            raise ParameterError("this defense needs mem-scores: run the memorability pipeline")
        table = self.mem_scores.set_index("sample_index")
        members = np.asarray(self.members, dtype=np.int64)
        missing = np.setdiff1d(members, table.index.to_numpy())
        if len(missing):
            raise ParameterError(
                f"the mem-scores have no score for {len(missing)} training samples (e.g. "
                f"{missing[:5].tolist()}); they were computed for another split or dataset: "
                "rerun the memorability pipeline (or import scores that cover the pool)"
            )
        rows = table.loc[members]
        return rows["raw_score"].to_numpy(float), rows["score"].to_numpy(float)


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
    the objective overrides ``loss`` (DP-SGD, which changes the gradient and samples its own
    batches, ``train_step`` and ``batches``); one
    that needs non-member data for its own
    training reads it in ``start``; one that changes what the model answers at inference
    (HAMP) wraps the model in ``inference_model``; DP-SGD swaps BatchNorm in ``prepare``.
    """

    name = "defense"
    title = "Defense"  # how reports name it
    # True: the defense also trains the dense model the prune rounds start from (from its
    # initialisation), so that what it guarantees covers the whole training (DP-SGD, whole).
    trains_dense = False
    # What autotune searches by default: a dotted setting name -> ``{low, high, log}`` (a
    # number range) or ``{choices: [...]}``; see core/search_space.py. Empty: not tunable.
    search_space: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, context: DefenseContext, section: str) -> Defense:
        """The defense for ``context.members``; ``section`` names the settings in errors."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, GroupOptimizer]:
        """Optimizer settings by name; the loop creates one optimizer for each."""
        return {"all": GroupOptimizer()}

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        """The groups of epoch ``epoch`` (0-based within a fine-tuning run), in step order."""
        raise NotImplementedError

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model to fine-tune (called once per model, before its first round)."""
        return model

    def batches(
        self, samples: torch.Tensor, batch_size: int, generator: torch.Generator
    ) -> Iterator[torch.Tensor]:
        """A group's batches in one epoch: its samples shuffled and cut into ``batch_size``
        (DP-SGD samples its own)."""
        shuffled = samples[torch.randperm(len(samples), generator=generator)]
        yield from shuffled.split(batch_size)

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

    def idle_parts(self, epochs: int) -> list[str]:
        """Parts of this defense that will not act in rounds of ``epochs`` epochs, in words
        (e.g. an empty risky group); checked when its training starts."""
        return []


class NoDefense(Defense):
    """Base: every member, every epoch, one optimizer."""

    name = "base"
    title = "Base"

    def __init__(self, members: np.ndarray):
        self.members = np.asarray(members, dtype=np.int64)

    @classmethod
    def from_settings(cls, settings: Settings, context: DefenseContext, section: str) -> Defense:
        if settings:
            raise ParameterError(f"{section}: the base defense takes no settings, got {settings}")
        return cls(context.members)

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        return [SampleGroup("all", self.members)]


class Baseline(NoDefense):
    """A baseline defense: every member every epoch, with its own step or answers.

    It is set by one settings dataclass, ``settings_class``, and built as
    ``cls(context, config)``; it overrides ``loss`` (or ``train_step``), and maybe ``start``,
    ``prepare`` or ``inference_model``.
    """

    settings_class: type

    def __init__(self, context: DefenseContext, config: Any):
        super().__init__(context.members)
        self.context, self.config = context, config

    @classmethod
    def from_settings(cls, settings: Settings, context: DefenseContext, section: str) -> Defense:
        return cls(context, from_mapping(cls.settings_class, section, settings))
