"""Magnitude pruning with ``torch.nn.utils.prune``: schedules, masks, and the two procedures.

Masks live in the modules (``weight_orig`` * ``weight_mask``), so pruned weights stay zero
through fine-tuning and a saved state dict carries its masks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from .defenses.base import Defense
from .training import TrainConfig, TrainResult, accuracy, fit
from .validation import require_choice, require_int, require_number

SCOPES = ("global", "layer")


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


def prunable_parameters(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The weights of every convolution and linear layer (biases and norms stay dense)."""
    return [
        (module, "weight")
        for module in model.modules()
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))
    ]


def _mask(module: nn.Module) -> torch.Tensor:
    return getattr(module, "weight_mask", None) if prune.is_pruned(module) else None


def _pruned_count(module: nn.Module) -> int:
    mask = _mask(module)
    return 0 if mask is None else int((mask == 0).sum())


def refresh_pruned_weights(model: nn.Module) -> None:
    """Recompute ``weight = weight_orig * weight_mask`` in every pruned module.

    ``torch.nn.utils.prune`` refreshes ``weight`` only in a forward pass, so after loading a
    state dict it still holds the old values until then.
    """
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                hook(module, None)


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
        extra = round(sparsity * total) - sum(_pruned_count(m) for m, _ in parameters)
        if extra > 0:
            # The amount is relative to the weights that are still unpruned.
            prune.global_unstructured(parameters, pruning_method=prune.L1Unstructured, amount=extra)
        return
    for module, name in parameters:
        extra = round(sparsity * module.weight.numel()) - _pruned_count(module)
        if extra > 0:
            prune.l1_unstructured(module, name, amount=extra)


def measured_sparsity(model: nn.Module) -> float:
    """Fraction of prunable weights that are exactly zero."""
    refresh_pruned_weights(model)
    parameters = prunable_parameters(model)
    zeros = sum(int((module.weight == 0).sum()) for module, _ in parameters)
    return zeros / sum(module.weight.numel() for module, _ in parameters)


def load_pruned_state(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Load a state dict that may hold pruning masks into a freshly built ``model``."""
    names = dict(model.named_modules())
    for key in state_dict:
        if key.endswith(".weight_mask"):
            module = names[key[: -len(".weight_mask")]]
            if not prune.is_pruned(module):
                prune.identity(module, "weight")
    model.load_state_dict(state_dict)
    refresh_pruned_weights(model)
    return model


@dataclass(frozen=True)
class RoundRecord:
    """One prune/fine-tune round of one model."""

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


RoundCallback = Callable[[int, nn.Module, TrainResult], None]


def iterative_prune(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    split: dict[str, np.ndarray],
    pruning: PruningConfig,
    training: TrainConfig,
    *,
    seed: int,
    description: str = "iterative",
    defense: Defense | None = None,
    on_round: RoundCallback | None = None,
) -> list[RoundRecord]:
    """Lottery-ticket-style pruning without weight reset, in place on ``model``.

    Round 0 fine-tunes the dense model; round i prunes to ``schedule[i]`` and fine-tunes up
    to ``pruning.epochs_per_round`` epochs, keeping the best-on-dev checkpoint with its masks.
    ``split`` holds the model's ``member``, ``dev`` and ``test`` indices. A ``defense`` plans
    every round's fine-tuning epochs (counted from 0 in each round). ``on_round`` sees the
    model and the round's training result after every round (to record outputs and reuse).
    """
    config = _with_epochs(training, pruning.epochs_per_round)
    records = []
    for round_index, target in enumerate(sparsity_schedule(pruning.sparsity, pruning.rounds)):
        record, result = prune_and_finetune(
            model,
            features,
            labels,
            split,
            target,
            pruning.scope,
            config,
            seed=seed + round_index,
            round_index=round_index,
            description=f"{description} round {round_index}",
            defense=defense,
        )
        records.append(record)
        if on_round is not None:
            on_round(round_index, model, result)
    return records


def one_shot_prune(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    split: dict[str, np.ndarray],
    pruning: PruningConfig,
    training: TrainConfig,
    *,
    seed: int,
    description: str = "one-shot",
) -> RoundRecord:
    """Prune once to the target and fine-tune with the iterative run's whole epoch budget."""
    config = _with_epochs(training, pruning.epochs_per_round * pruning.rounds)
    record, _ = prune_and_finetune(
        model,
        features,
        labels,
        split,
        pruning.sparsity,
        pruning.scope,
        config,
        seed=seed,
        description=description,
    )
    return record


def prune_and_finetune(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    split: dict[str, np.ndarray],
    target: float,
    scope: str,
    config: TrainConfig,
    *,
    seed: int,
    round_index: int = 0,
    description: str = "fine-tune",
    defense: Defense | None = None,
) -> tuple[RoundRecord, TrainResult]:
    """Prune ``model`` to ``target`` sparsity (if > 0), then fine-tune it on its members."""
    start = time.perf_counter()
    if target > 0:
        prune_to_sparsity(model, target, scope)
    result = fit(
        model,
        features,
        labels,
        split["member"],
        split["dev"],
        config,
        seed=seed,
        description=description,
        defense=defense,
    )
    record = RoundRecord(
        round=round_index,
        target_sparsity=target,
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


def _with_epochs(training: TrainConfig, max_epochs: int) -> TrainConfig:
    return dataclasses.replace(training, max_epochs=max_epochs)
