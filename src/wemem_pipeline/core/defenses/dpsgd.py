"""DP-SGD (Abadi et al. 2016) during fine-tuning, with Opacus's privacy accountant.

Every batch's per-example gradients are clipped to ``max_grad_norm``, summed, and Gaussian
noise of standard deviation ``noise_multiplier * max_grad_norm`` is added before the step.
Per-example gradients come from ``torch.func`` (``vmap`` over ``grad``), which sees through
the pruning masks (the parameters are ``weight_orig``, the mask is applied in the forward
pass); Opacus's own hooks expect a module's parameter to be called ``weight``. The privacy
spent is tracked by Opacus's RDP accountant over every step of every round, at
``delta = 1 / members`` (each step samples ``batch / members`` of the data; batches are
shuffled, not Poisson-sampled, as with Opacus's default data loader replaced by ours). Models
with BatchNorm, whose per-example gradients are undefined, are converted the Opacus way
(``ModuleValidator.fix``: GroupNorm, freshly initialised, so the dense model's BatchNorm
statistics do not carry over).

The epsilon covers the fine-tuning only: the dense model the rounds start from was trained
without DP on the same members.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from opacus.accountants import RDPAccountant
from opacus.validators import ModuleValidator
from torch import nn
from torch.func import functional_call, grad, vmap

from ..validation import require_number
from .base import NoDefense, SampleGroup


@dataclass(frozen=True)
class DPSGDConfig:
    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    section: str = "dpsgd"

    def __post_init__(self) -> None:
        positive = {"low_inclusive": False}
        require_number(
            f"{self.section}.noise_multiplier", self.noise_multiplier, 0.0, 1e6, **positive
        )
        require_number(f"{self.section}.max_grad_norm", self.max_grad_norm, 0.0, 1e6, **positive)


def per_example_gradients(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``{parameter name: (batch, *shape)}`` gradients of each example's cross-entropy."""
    parameters = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = dict(model.named_buffers())

    def example_loss(params, example, target):
        logits = functional_call(model, (params, buffers), (example.unsqueeze(0),))
        return nn.functional.cross_entropy(logits, target.unsqueeze(0))

    from ..pruning import refresh_pruned_weights  # pruning imports the defenses

    gradients = vmap(grad(example_loss), in_dims=(None, 0, 0))(parameters, inputs, targets)
    # The pruning hooks ran inside vmap and left functorch wrappers in ``module.weight``.
    refresh_pruned_weights(model)
    return gradients


def clipped_noisy_gradient(
    gradients: dict[str, torch.Tensor],
    max_grad_norm: float,
    noise_multiplier: float,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Clip each example's whole gradient to ``max_grad_norm``, sum, add noise, average."""
    batch = next(iter(gradients.values())).shape[0]
    norms = torch.sqrt(sum(g.flatten(1).square().sum(dim=1) for g in gradients.values()))
    scale = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
    result = {}
    for name, g in gradients.items():
        summed = torch.einsum("b,b...->...", scale, g)
        noise = torch.randn(summed.shape, generator=generator, device="cpu").to(summed)
        result[name] = (summed + noise_multiplier * max_grad_norm * noise) / batch
    return result


class DPSGD(NoDefense):
    name = "dpsgd"

    def __init__(self, members: np.ndarray, config: DPSGDConfig, seed: int = 0):
        super().__init__(members)
        self.config = config
        self.accountant = RDPAccountant()
        self.delta = 1.0 / len(self.members)
        self.generator = torch.Generator().manual_seed(seed)

    def prepare(self, model: nn.Module) -> nn.Module:
        return model if ModuleValidator.is_valid(model) else ModuleValidator.fix(model)

    def train_step(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        group: SampleGroup,
        epoch: int,
    ) -> torch.Tensor:
        noisy = clipped_noisy_gradient(
            per_example_gradients(model, inputs, targets),
            self.config.max_grad_norm,
            self.config.noise_multiplier,
            self.generator,
        )
        optimizer.zero_grad(set_to_none=True)
        for name, parameter in model.named_parameters():
            if name in noisy:
                parameter.grad = noisy[name]
        optimizer.step()
        self.accountant.step(
            noise_multiplier=self.config.noise_multiplier,
            sample_rate=len(inputs) / len(self.members),
        )
        with torch.no_grad():
            return nn.functional.cross_entropy(model(inputs), targets, reduction="none")

    def epsilon(self) -> float:
        if not self.accountant.history:
            return 0.0
        return float(self.accountant.get_epsilon(delta=self.delta))

    def summary(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon(), "delta": self.delta}
