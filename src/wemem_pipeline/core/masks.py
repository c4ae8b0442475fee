"""Pruning masks as ``torch.nn.utils.prune`` keeps them: which weights count, and their state.

Masks live in the modules (``weight_orig`` * ``weight_mask``), so pruned weights stay zero
through fine-tuning and a saved state dict carries its masks. This module knows nothing of
schedules or training, so the defenses can use it as well as the pruning procedures.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune


def prunable_parameters(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The weights of every convolution and linear layer (biases and norms stay dense)."""
    return [
        (module, "weight")
        for module in model.modules()
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))
    ]


def pruned_count(module: nn.Module) -> int:
    """How many of ``module``'s weights its mask sets to zero."""
    if not prune.is_pruned(module):
        return 0
    mask = getattr(module, "weight_mask", None)
    return 0 if mask is None else int((mask == 0).sum())


def refresh_pruned_weights(model: nn.Module) -> None:
    """Recompute ``weight = weight_orig * weight_mask`` in every pruned module.

    ``torch.nn.utils.prune`` refreshes ``weight`` only in a forward pass, so after loading a
    state dict (or a functional call) it still holds other values until then.
    """
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                hook(module, None)


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
