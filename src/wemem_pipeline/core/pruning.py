"""Magnitude pruning with ``torch.nn.utils.prune``, and the rounds that prune and fine-tune.

A *procedure* is a schedule of rounds; each round prunes the model to the round's sparsity
(if it is not there yet) and then trains it on its members, keeping the best epoch on dev:

- ``dense``: one round at sparsity 0, training from scratch for ``training.max_epochs``;
- ``one_shot``: one round at the target sparsity, with the whole iterative epoch budget;
- ``iterative``: lottery-ticket style without weight reset: round 0 fine-tunes the dense
  model, round i prunes to ``1 - (1 - s) ** (i / (R - 1))``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from .defenses.base import Defense
from .masks import measured_sparsity, prunable_parameters, pruned_count, refresh_pruned_weights
from .training import TrainConfig, TrainResult, accuracy, fit
from .validation import require_choice, require_int, require_number

SCOPES = ("global", "layer")
PROCEDURES = ("dense", "one_shot", "iterative")


@dataclass(frozen=True)
class PruningConfig:
    """Target sparsity ``sparsity`` reached in ``rounds`` prune/fine-tune rounds."""

    sparsity: float = 0.6
    rounds: int = 5
    scope: str = "global"
    epochs_per_round: int = 21

    def __post_init__(self) -> None:
        require_number("pruning.sparsity", self.sparsity, 0, 1, high_inclusive=False)
        # Round 0 fine-tunes the dense model and the last round reaches the target.
        require_int("pruning.rounds", self.rounds, 2)
        require_choice("pruning.scope", self.scope, SCOPES)
        require_int("pruning.epochs_per_round", self.epochs_per_round, 1)


def sparsity_schedule(sparsity: float, rounds: int) -> list[float]:
    """Cumulative sparsity per round: ``1 - (1 - s) ** (i / (R - 1))``; round 0 is dense."""
    schedule = [1.0 - (1.0 - sparsity) ** (i / (rounds - 1)) for i in range(rounds - 1)]
    return [*schedule, sparsity]  # exactly the target, whatever the float rounding


def prune_to_sparsity(model: nn.Module, sparsity: float, scope: str = "global") -> None:
    """Prune more weights by magnitude until ``sparsity`` of the prunable weights are zero.

    Counts are integers, so the measured sparsity matches the target to one weight (per
    layer with ``scope='layer'``); already-pruned weights stay pruned.
    """
    require_choice("pruning.scope", scope, SCOPES)
    refresh_pruned_weights(model)  # magnitudes must be the current weights
    parameters = prunable_parameters(model)
    if scope == "global":
        total = sum(module.weight.numel() for module, _ in parameters)
        extra = round(sparsity * total) - sum(pruned_count(m) for m, _ in parameters)
        if extra > 0:
            # The amount is relative to the weights that are still unpruned.
            prune.global_unstructured(parameters, pruning_method=prune.L1Unstructured, amount=extra)
        return
    for module, name in parameters:
        extra = round(sparsity * module.weight.numel()) - pruned_count(module)
        if extra > 0:
            prune.l1_unstructured(module, name, amount=extra)


def weights_left(model: nn.Module, sparsity: float, scope: str) -> dict[str, int]:
    """How many weights of each prunable layer (by module name) pruning to ``sparsity`` keeps.

    With ``scope='layer'`` the counts are exact; with ``global`` only their sum is known before
    training (which layers keep them depends on the trained magnitudes), so the whole model's
    count is given under the name ``""``.
    """
    names = {id(module): name for name, module in model.named_modules()}
    sizes = {names[id(module)]: module.weight.numel() for module, _ in prunable_parameters(model)}
    if scope == "global":
        total = sum(sizes.values())
        return {"": total - round(sparsity * total)}
    return {name: size - round(sparsity * size) for name, size in sizes.items()}


@dataclass(frozen=True)
class Round:
    """Prune to ``sparsity`` (nothing to do below the model's own), then train ``epochs``."""

    sparsity: float
    epochs: int


def schedule_of(procedure: str, pruning: PruningConfig, training: TrainConfig) -> list[Round]:
    """The rounds of ``procedure`` (one of :data:`PROCEDURES`; see the module docstring)."""
    require_choice("procedure", procedure, PROCEDURES)
    if procedure == "dense":
        return [Round(0.0, training.max_epochs)]
    if procedure == "one_shot":
        return [Round(pruning.sparsity, pruning.epochs_per_round * pruning.rounds)]
    sparsities = sparsity_schedule(pruning.sparsity, pruning.rounds)
    return [Round(sparsity, pruning.epochs_per_round) for sparsity in sparsities]


@dataclass(frozen=True)
class RoundRecord:
    """One round of one model."""

    round: int
    target_sparsity: float
    sparsity: float
    dev_accuracy: float
    test_accuracy: float
    epochs_run: int
    seconds: float
    members_seen: int  # distinct members trained on at least once in the round
    mean_uses: float  # times a member was trained on in the round, mean over members
    max_uses: int


def train_round(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    split: dict[str, np.ndarray],
    round_: Round,
    training: TrainConfig,
    *,
    scope: str,
    seed: int,
    round_index: int = 0,
    description: str = "round",
    defense: Defense | None = None,
) -> tuple[RoundRecord, TrainResult]:
    """One round, in place on ``model``: prune to ``round_.sparsity``, train on its members.

    ``split`` holds the model's ``member``, ``dev`` and ``test`` indices; training keeps the
    best epoch on dev (masks included) and stops after ``training.patience`` epochs without
    a better one. A ``defense`` plans the round's epochs (counted from 0 in every round).
    """
    start = time.perf_counter()
    if round_.sparsity > 0:
        prune_to_sparsity(model, round_.sparsity, scope)
    result = fit(
        model,
        features,
        labels,
        split["member"],
        split["dev"],
        dataclasses.replace(training, max_epochs=round_.epochs),
        seed=seed,
        description=description,
        defense=defense,
    )
    record = RoundRecord(
        round=round_index,
        target_sparsity=round_.sparsity,
        sparsity=measured_sparsity(model),
        dev_accuracy=result.best_dev_accuracy,
        test_accuracy=accuracy(model, features, labels, split["test"]),
        epochs_run=result.epochs_run,
        seconds=time.perf_counter() - start,
        members_seen=int((result.sample_uses > 0).sum()),
        mean_uses=float(result.sample_uses.mean()),
        max_uses=int(result.sample_uses.max()),
    )
    return record, result


def train_schedule(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    split: dict[str, np.ndarray],
    schedule: Sequence[Round],
    training: TrainConfig,
    *,
    scope: str,
    seed: int,
    description: str = "model",
    defense: Defense | None = None,
) -> Iterator[tuple[RoundRecord, TrainResult]]:
    """Every round of ``schedule`` in turn (see :func:`train_round`), yielded when done.

    Round ``i`` draws its batches with seed ``seed + i``. The caller sees the model between
    rounds, e.g. to record its outputs.
    """
    for round_index, round_ in enumerate(schedule):
        yield train_round(
            model,
            features,
            labels,
            split,
            round_,
            training,
            scope=scope,
            seed=seed + round_index,
            round_index=round_index,
            description=f"{description} round {round_index}",
            defense=defense,
        )
