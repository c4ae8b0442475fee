"""Train many copies of one architecture at once, as a single vectorized computation.

The copies' parameters are stacked along a leading model axis (``torch.func``'s
``stack_module_state``) and one ``vmap``-ed ``functional_call`` evaluates all of them on their
own batches. Each copy has its own initial weights, its own training subset and its own
batch order; because the loss is the sum of the copies' mean losses and Adam/SGD update each
element independently, every copy follows the same trajectory it would follow alone.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .models import ModelSpec
from .progress import progress_bar
from .training import TrainConfig, as_index, make_optimizer
from .validation import ParameterError


class ModelEnsemble:
    """``len(seeds)`` freshly initialised copies of ``spec``, stacked for batched training."""

    def __init__(
        self,
        spec: ModelSpec,
        input_shape: Sequence[int],
        num_classes: int,
        seeds: Sequence[int],
        device: torch.device,
    ):
        models = [spec.build(input_shape, num_classes, seed).to(device) for seed in seeds]
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in models[0].modules()):
            raise ParameterError(
                f"{spec.label} has batch normalization, whose running statistics "
                "cannot be trained batched; pick a model without it or a single-model method",
                hint="memorability.method: loss_proxy trains one model (or import scores)",
            )
        params, self.buffers = stack_module_state(models)
        # Linear weights are stacked as (models, in, out), the transpose of nn.Linear's
        # layout: under vmap their gradients come out that way, and keeping nn.Linear's layout
        # cost a transposing copy of every weight gradient, a quarter of each step of a
        # 784-512-512 MLP (docs/performance.md).
        self._transposed = {
            f"{name}.weight" for name, m in models[0].named_modules() if isinstance(m, nn.Linear)
        }
        self.params = {
            name: (value.transpose(1, 2) if name in self._transposed else value)
            .detach()
            .contiguous()
            .requires_grad_()
            for name, value in params.items()
        }
        self._template = copy.deepcopy(models[0]).to("meta")
        self.size = len(models)
        if spec.name == "custom":
            self._check_batched(spec, input_shape, device)

    def _check_batched(
        self, spec: ModelSpec, input_shape: Sequence[int], device: torch.device
    ) -> None:
        """A user's forward pass may do what ``vmap`` cannot batch: refuse it now, by name,
        rather than in the first training step."""
        try:
            with torch.no_grad():
                self(torch.zeros(self.size, 2, *input_shape, device=device))
        except Exception as error:
            raise ParameterError(
                f"{spec.label}: Feldman mem-scores train many copies of the model as one "
                f"batched computation (torch.func.vmap), which its forward pass does not "
                f"support ({type(error).__name__}: {error})",
                hint="set memorability.method: loss_proxy (one model) or import; or keep "
                "out of forward what vmap cannot batch: .item(), Python branches on tensor "
                "values, in-place updates of buffers",
            ) from error

    def _forward_one(self, params, buffers, inputs):
        params = {name: (p.T if name in self._transposed else p) for name, p in params.items()}
        return functional_call(self._template, (params, buffers), (inputs,))

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of every copy on its own inputs, in training mode: ``(M, B, ...) -> (M, B, C)``.

        Random layers (dropout) draw each copy's randomness of its own, as in separate runs.
        """
        self._template.train()
        forward = vmap(self._forward_one, randomness="different")
        return forward(self.params, self.buffers, inputs)

    @torch.no_grad()
    def predict_logits(self, features: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Logits of every copy on the same samples, in eval mode: ``(N, ...) -> (M, N, C)``."""
        self._template.eval()  # no dropout when predicting
        shared = vmap(self._forward_one, in_dims=(0, 0, None))
        chunks = [shared(self.params, self.buffers, chunk) for chunk in features.split(batch_size)]
        return torch.cat(chunks, dim=1)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Copy ``k``'s weights as an ordinary state dict (loadable into ``spec.build(...)``)."""
        stacked = {**self.params, **self.buffers}
        return {
            name: (value[k].T if name in self._transposed else value[k])
            .detach()
            .cpu()
            .clone(memory_format=torch.contiguous_format)
            for name, value in stacked.items()
        }


def fit_ensemble(
    ensemble: ModelEnsemble,
    features: torch.Tensor,
    labels: torch.Tensor,
    subsets: np.ndarray,
    config: TrainConfig,
    *,
    epochs: int,
    seed: int,
    description: str = "ensemble",
    progress: bool = True,
    stop_when_fitted: bool = False,
) -> int:
    """Train copy k on ``subsets[k]`` for ``epochs`` epochs, in place; returns the epochs run.

    ``subsets`` is an ``(M, n)`` array of sample indices: every copy sees the same number of
    samples, in its own random order each epoch. With ``stop_when_fitted``, a copy keeps the
    weights it has after the first epoch in which it classified every sample of its batches
    right (before each step's update): it fits its subset, and later epochs barely change
    which held-out samples it gets right. Training ends when every copy is there, so a copy's
    result does not depend on which copies train beside it.
    """
    subsets = np.asarray(subsets)
    if subsets.ndim != 2 or len(subsets) != ensemble.size:
        raise ValueError(f"subsets must have shape ({ensemble.size}, n), got {subsets.shape}")
    generator = torch.Generator().manual_seed(seed)
    device = features.device
    rows = as_index(subsets, torch.device("cpu"))
    optimizer = make_optimizer(list(ensemble.params.values()), config)
    loss_fn = nn.CrossEntropyLoss()
    fitted = torch.zeros(ensemble.size, dtype=torch.bool, device=device)
    kept: dict[str, torch.Tensor] = {}  # the fitted copies' weights, restored after each step
    epochs_run = 0
    for _ in progress_bar(range(epochs), description, progress):
        # An independent permutation per copy: argsort of uniform noise, row by row.
        order = torch.rand(rows.shape, generator=generator).argsort(dim=1)
        epoch_rows = torch.gather(rows, 1, order).to(device)
        mistakes = torch.zeros(ensemble.size, dtype=torch.long, device=device)
        for batch in epoch_rows.split(config.batch_size, dim=1):
            logits = ensemble(features[batch])
            # Mean over each copy's batch, summed over copies: every copy gets its own gradient.
            loss = loss_fn(logits.flatten(0, 1), labels[batch].flatten()) * ensemble.size
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if kept:
                _restore(ensemble.params, kept, fitted)
            mistakes += (logits.detach().argmax(-1) != labels[batch]).sum(dim=1)
        epochs_run += 1
        if stop_when_fitted and bool((mistakes == 0).any()):
            fitted |= mistakes == 0
            if bool(fitted.all()):
                break
            kept = {name: value.detach()[fitted].clone() for name, value in ensemble.params.items()}
    return epochs_run


@torch.no_grad()
def _restore(params: dict[str, torch.Tensor], kept: dict[str, torch.Tensor], rows: torch.Tensor):
    """Put back the ``rows`` (a copy mask) of every stacked parameter from ``kept``."""
    for name, value in params.items():
        value[rows] = kept[name]
