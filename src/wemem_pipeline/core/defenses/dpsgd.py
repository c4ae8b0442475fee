"""DP-SGD (Abadi et al. 2016) with Poisson-sampled batches and an RDP privacy accountant.

Every batch's per-example gradients are clipped to ``max_grad_norm``, summed, and Gaussian
noise of standard deviation ``noise_multiplier * max_grad_norm`` is added before the step.
For a model of Linear layers (the MLPs) each example's gradient norm is computed from the
layer inputs and output gradients, masks included, and the clipped sum from one more
backward pass, without materialising per-example gradients; other models get per-example
gradients from ``torch.func`` (``vmap`` over ``grad``). Both see through the pruning masks
(the parameters are ``weight_orig``, the mask is applied in the forward pass), which
Opacus's own hooks do not: they expect a module's parameter to be called ``weight``.

Batches are Poisson-sampled, as the accountant assumes: each of an epoch's
``round(members / batch_size)`` steps takes every member independently with probability
``q = batch_size / members`` (batch sizes vary, an empty batch is a noise-only step), and the
noisy sum is divided by the expected batch size ``q * members``. The privacy spent is the RDP
accountant's (Opacus's analysis of the sampled Gaussian mechanism, at orders from 1.01 up)
over every step, at ``delta = 1 / members``. ``scope`` says what it covers: ``finetune``, the
prune rounds only (the dense model they start from was trained without DP on the same members,
so the epsilon is no guarantee for the model), or ``whole``, where the defense also trains the
dense model from its initialisation, and the epsilon covers every step the model ever took.

Models with BatchNorm, whose per-example gradients are undefined, are converted the Opacus way
(``ModuleValidator.fix``: GroupNorm, freshly initialised, so the dense model's BatchNorm
statistics do not carry over).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ..masks import refresh_pruned_weights
from ..validation import require_choice, require_number
from .base import Baseline, DefenseContext, SampleGroup

# What the epsilon covers, by ``scope``, as the summary (and the reports) say it.
COVERS = {"finetune": "prune rounds", "whole": "dense training and every prune round"}
# Rényi orders of the accountant: Opacus's defaults (1.1 to 63) and finer ones near 1, where
# the bound of a small noise multiplier lies.
_ORDERS = (
    [1 + x / 100 for x in range(1, 10)] + [1 + x / 10 for x in range(1, 100)] + list(range(12, 64))
)


@dataclass(frozen=True)
class DPSGDConfig:
    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    scope: str = "whole"  # whole: dense training and the prune rounds; finetune: the rounds
    section: str = "dpsgd"

    def __post_init__(self) -> None:
        positive = {"low_inclusive": False}
        require_number(
            f"{self.section}.noise_multiplier", self.noise_multiplier, 0.0, 1e6, **positive
        )
        require_number(f"{self.section}.max_grad_norm", self.max_grad_norm, 0.0, 1e6, **positive)
        require_choice(f"{self.section}.scope", self.scope, tuple(COVERS))

    @property
    def trains_dense(self) -> bool:
        """Whether the defense also trains the dense model (``scope: whole``)."""
        return self.scope == "whole"


def epsilon_bound(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> float | None:
    """Epsilon at ``delta`` of ``steps`` Poisson-sampled Gaussian steps (RDP accountant).

    None when the accountant gives no bound: an infinite one, or one found at its smallest
    order, where a smaller order might give another (the noise is too small for it).
    """
    if steps == 0:
        return 0.0
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    rdp = compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=steps, orders=_ORDERS)
    with warnings.catch_warnings():  # the smallest-order case is reported as None instead
        warnings.simplefilter("ignore", UserWarning)
        epsilon, order = get_privacy_spent(orders=_ORDERS, rdp=rdp, delta=delta)
    if not math.isfinite(epsilon) or order == _ORDERS[0]:
        return None
    return float(epsilon)


def poisson_steps(members: int, batch_size: int) -> tuple[float, int]:
    """The sampling rate ``q`` and the steps of an epoch over ``members``."""
    return min(1.0, batch_size / members), max(1, round(members / batch_size))


def per_example_gradients(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``{parameter name: (batch, *shape)}`` gradients of each example's cross-entropy."""
    parameters = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = dict(model.named_buffers())

    def example_loss(params, example, target):
        logits = functional_call(model, (params, buffers), (example.unsqueeze(0),))
        return nn.functional.cross_entropy(logits, target.unsqueeze(0))

    gradients = vmap(grad(example_loss), in_dims=(None, 0, 0))(parameters, inputs, targets)
    # The pruning hooks ran inside vmap and left functorch wrappers in ``module.weight``.
    refresh_pruned_weights(model)
    return gradients


def clip_scales(squared_norms: torch.Tensor, max_grad_norm: float) -> torch.Tensor:
    """Per-example factors ``min(1, C / ||g_i||)`` that clip each gradient to norm ``C``."""
    return (max_grad_norm / (squared_norms.sqrt() + 1e-6)).clamp(max=1.0)


def noisy_mean(
    summed: dict[str, torch.Tensor],
    batch: float,
    max_grad_norm: float,
    noise_multiplier: float,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """``(sum + N(0, (noise_multiplier * C)^2)) / batch`` for every parameter."""
    result = {}
    for name, total in summed.items():
        noise = torch.randn(total.shape, generator=generator, device="cpu").to(total)
        result[name] = (total + noise_multiplier * max_grad_norm * noise) / batch
    return result


def clipped_sum(
    gradients: dict[str, torch.Tensor], max_grad_norm: float
) -> dict[str, torch.Tensor]:
    """``sum_i min(1, C / ||g_i||) g_i``: each example's whole gradient clipped, then summed."""
    squared = sum(g.flatten(1).square().sum(dim=1) for g in gradients.values())
    scale = clip_scales(squared, max_grad_norm)
    return {name: torch.einsum("b,b...->...", scale, g) for name, g in gradients.items()}


def _only_linear_layers(model: nn.Module) -> list[nn.Linear] | None:
    """The model's Linear layers if they hold every trainable parameter, else None."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    in_layers = {id(p) for layer in layers for p in layer.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    return layers if all(id(p) in in_layers for p in trainable) else None


def linear_clipped_sum(
    model: nn.Module,
    layers: list[nn.Linear],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    max_grad_norm: float,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``sum_i min(1, C/||g_i||) g_i`` for a model of Linear layers, without per-example grads.

    A Linear layer's per-example weight gradient is ``d_i a_i^T`` (output gradient times
    input), so its squared norm under a pruning mask ``M`` is ``(d_i^2)^T M (a_i^2)``: one
    matrix product per layer. The clipped sum is then the gradient of ``sum_i s_i loss_i``.
    Returns the sums by parameter name and the per-example losses.
    """
    captured: dict[nn.Linear, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(layer, layer_inputs, output):
        captured[layer] = (layer_inputs[0].detach(), output)

    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        losses = nn.functional.cross_entropy(model(inputs), targets, reduction="none")
    finally:
        for handle in handles:
            handle.remove()
    outputs = [captured[layer][1] for layer in layers]
    output_grads = torch.autograd.grad(losses.sum(), outputs, retain_graph=True)
    squared = torch.zeros_like(losses)
    for layer, output_grad in zip(layers, output_grads, strict=True):
        activations = captured[layer][0]
        mask = getattr(layer, "weight_mask", None)
        if mask is None:
            squared += output_grad.square().sum(1) * activations.square().sum(1)
        else:
            squared += ((output_grad.square() @ mask) * activations.square()).sum(1)
        if layer.bias is not None:
            squared += output_grad.square().sum(1)
    scale = clip_scales(squared.detach(), max_grad_norm)
    parameters = {k: v for k, v in model.named_parameters() if v.requires_grad}
    sums = torch.autograd.grad((scale * losses).sum(), list(parameters.values()))
    return dict(zip(parameters, sums, strict=True)), losses.detach()


def clipped_gradient_sum(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, max_grad_norm: float
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The batch's clipped gradient sum by parameter name, and the per-example losses.

    Models of Linear layers take :func:`linear_clipped_sum`; others clip the per-example
    gradients of :func:`per_example_gradients`.
    """
    layers = _only_linear_layers(model)
    if layers is not None:
        return linear_clipped_sum(model, layers, inputs, targets, max_grad_norm)
    summed = clipped_sum(per_example_gradients(model, inputs, targets), max_grad_norm)
    with torch.no_grad():
        losses = nn.functional.cross_entropy(model(inputs), targets, reduction="none")
    return summed, losses


class DPSGD(Baseline):
    name, title, settings_class = "dpsgd", "DP-SGD", DPSGDConfig
    # Clipping too: a larger norm keeps more of the signal at the same noise (Aerni et al.
    # tune it); a noise below about 0.15 leaves the accountant without a bound.
    search_space = {
        "noise_multiplier": {"low": 0.2, "high": 4.0, "log": True},
        "max_grad_norm": {"low": 0.5, "high": 8.0, "log": True},
    }

    def __init__(self, context: DefenseContext, config: DPSGDConfig):
        super().__init__(context, config)
        self.delta = 1.0 / len(self.members)
        self.generator = torch.Generator().manual_seed(context.seed)
        self.sample_rate: float | None = None  # set by the batches the loop draws
        self.steps = 0

    @property
    def trains_dense(self) -> bool:
        return self.config.trains_dense

    def prepare(self, model: nn.Module) -> nn.Module:
        from opacus.validators import ModuleValidator

        return model if ModuleValidator.is_valid(model) else ModuleValidator.fix(model)

    def batches(
        self, samples: torch.Tensor, batch_size: int, generator: torch.Generator
    ) -> Iterator[torch.Tensor]:
        """Poisson sampling: each step takes every sample with probability ``q``."""
        self.sample_rate, steps = poisson_steps(len(samples), batch_size)
        for _ in range(steps):
            yield samples[torch.rand(len(samples), generator=generator) < self.sample_rate]

    def train_step(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        group: SampleGroup,
        epoch: int,
    ) -> torch.Tensor:
        # Outside the loop's batches (a step taken by hand) the batch is its own expectation.
        rate = self.sample_rate or len(inputs) / len(self.members)
        if len(inputs):
            summed, losses = clipped_gradient_sum(model, inputs, targets, self.config.max_grad_norm)
        else:  # an empty Poisson batch: the step is noise only
            trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            summed = {name: torch.zeros_like(parameter) for name, parameter in trained}
            losses = torch.zeros(0, device=inputs.device)
        noisy = noisy_mean(
            summed,
            rate * len(self.members),
            self.config.max_grad_norm,
            self.config.noise_multiplier,
            self.generator,
        )
        optimizer.zero_grad(set_to_none=True)
        for name, parameter in model.named_parameters():
            if name in noisy:
                parameter.grad = noisy[name]
        optimizer.step()
        self.sample_rate, self.steps = rate, self.steps + 1
        return losses

    def epsilon(self) -> float | None:
        """The privacy spent so far (None: the accountant gives no bound)."""
        if not self.steps:
            return 0.0
        return epsilon_bound(self.config.noise_multiplier, self.sample_rate, self.steps, self.delta)

    def summary(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon(),
            "delta": self.delta,
            "sampling": "poisson",
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "covers": COVERS[self.config.scope],
        }
