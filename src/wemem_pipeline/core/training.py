"""One training loop for every model: the victim and the shadows, dense or pruned.

The loop keeps the whole dataset as tensors on the training device and draws batches by
index, which on small data is several times faster than a ``DataLoader``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .defenses.base import Defense, GroupOptimizer, NoDefense
from .validation import ParameterError, require_choice, require_int, require_number

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; early stopping watches accuracy on the dev non-members."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    batch_size: int = 128
    max_epochs: int = 21
    patience: int = 5
    augment: bool = False

    def __post_init__(self) -> None:
        require_choice("training.optimizer", self.optimizer, OPTIMIZERS)
        for name in ("batch_size", "max_epochs", "patience"):
            require_int(f"training.{name}", getattr(self, name), 1)
        require_number("training.lr", self.lr, 0, float("inf"), low_inclusive=False)
        require_number("training.weight_decay", self.weight_decay, 0, float("inf"))
        require_number("training.momentum", self.momentum, 0, 1, high_inclusive=False)


@dataclass
class TrainResult:
    """What one call of :func:`fit` did; the model itself holds the best-on-dev weights."""

    best_dev_accuracy: float
    best_epoch: int
    epochs_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    # Times each training sample (in the order of ``train_indices``) was trained on.
    sample_uses: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks the GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} was asked for but no CUDA device is available")
    return device


def make_optimizer(
    parameters: list[torch.Tensor], config: TrainConfig, group: GroupOptimizer | None = None
) -> torch.optim.Optimizer:
    """The configured optimizer, with a group's own weight decay where it has one.

    Weight decay is coupled (L2 added to the gradient) as in the paper's reference code,
    unless the group asks for decoupled decay (AdamW). Fused kernels where the device has them.
    """
    group = group or GroupOptimizer()
    decay = config.weight_decay if group.weight_decay is None else group.weight_decay
    fused = parameters[0].device.type in ("cpu", "cuda")
    if config.optimizer == "adam":
        adam = torch.optim.AdamW if group.decoupled else torch.optim.Adam
        return adam(parameters, lr=config.lr, weight_decay=decay, fused=fused)
    if group.decoupled:
        raise ParameterError("decoupled weight decay needs training.optimizer='adam'")
    return torch.optim.SGD(
        parameters, lr=config.lr, momentum=config.momentum, weight_decay=decay, fused=fused
    )


SampleLossHook = Callable[[torch.Tensor, torch.Tensor], None]


def fit(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    train_indices: np.ndarray,
    dev_indices: np.ndarray | None,
    config: TrainConfig,
    *,
    seed: int,
    description: str = "training",
    progress: bool = True,
    defense: Defense | None = None,
    on_sample_losses: SampleLossHook | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train_indices`` and leave it at its best epoch on dev.

    ``features`` and ``labels`` hold the whole dataset on the model's device. The state that
    is restored includes pruning masks, so a pruned model stays pruned. Without
    ``dev_indices`` the model trains for ``config.max_epochs`` epochs and keeps the last one.
    A ``defense`` plans which members each epoch trains on, in which groups and with which
    optimizer (default: every member, one optimizer). ``on_sample_losses(indices, losses)``
    sees every batch's per-sample training losses.
    """
    device = features.device
    generator = torch.Generator().manual_seed(seed)
    dev_idx = None if dev_indices is None else as_index(dev_indices, device)
    defense = defense or NoDefense(train_indices)
    parameters = list(model.parameters())
    optimizers = {
        name: make_optimizer(parameters, config, group)
        for name, group in defense.optimizers().items()
    }
    defense.start(model, features, labels, dev_idx)
    uses = torch.zeros(len(labels), dtype=torch.long, device=device)

    start = time.perf_counter()
    best_accuracy = -1.0 if dev_idx is not None else float("nan")
    best_epoch, stale = config.max_epochs, 0
    best_state = copy.deepcopy(model.state_dict()) if dev_idx is not None else None
    history: list[dict] = []
    # disable=None hides the bar when stderr is not a terminal (CI logs, pipes).
    epochs = tqdm(
        range(1, config.max_epochs + 1),
        desc=description,
        leave=False,
        disable=None if progress else True,
    )
    for epoch in epochs:
        model.train()
        total_loss, seen = torch.zeros((), device=device), 0
        for group in defense.plan_epoch(epoch - 1):
            if len(group.indices) == 0:
                continue  # an empty batch would still take a weight-decay-only step
            group_idx = as_index(group.indices, torch.device("cpu"))
            order = group_idx[torch.randperm(len(group_idx), generator=generator)].to(device)
            optimizer = optimizers[group.optimizer]
            for batch in order.split(config.batch_size):
                inputs = features[batch]
                if config.augment:
                    inputs = augment_images(inputs, generator)
                sample_losses = defense.train_step(
                    model, inputs, labels[batch], optimizer, group, epoch - 1
                )
                total_loss += sample_losses.sum()
                if on_sample_losses is not None:
                    on_sample_losses(batch, sample_losses)
            uses[order] += 1
            seen += len(order)
        record = {"epoch": epoch, "train_loss": total_loss.item() / max(seen, 1), "samples": seen}
        if dev_idx is None:
            history.append(record)
            continue
        dev_accuracy = accuracy(model, features, labels, dev_idx)
        history.append({**record, "dev_accuracy": dev_accuracy})
        epochs.set_postfix(dev_acc=f"{dev_accuracy:.3f}")
        if dev_accuracy > best_accuracy:
            best_accuracy, best_epoch, stale = dev_accuracy, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    seconds = time.perf_counter() - start
    logger.info(
        "%s: best dev accuracy %.4f at epoch %d of %d (%.1fs)",
        description,
        best_accuracy,
        best_epoch,
        len(history),
        seconds,
    )
    member_uses = uses[as_index(train_indices, device)].cpu().numpy()
    return TrainResult(best_accuracy, best_epoch, len(history), seconds, history, member_uses)


def augment_images(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flip and random crop after zero padding, drawn per sample."""
    batch, _, height, width = images.shape
    flip = torch.rand(batch, generator=generator) < 0.5
    images = torch.where(flip.to(images.device)[:, None, None, None], images.flip(-1), images)
    padded = nn.functional.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(images.device)
    rows = (dy[:, None] + torch.arange(height, device=images.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, :]
    samples = torch.arange(batch, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[samples, rows, cols].permute(0, 3, 1, 2)


def as_index(indices: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """Sample indices as a long tensor on ``device``."""
    if torch.is_tensor(indices):
        return indices.to(device=device, dtype=torch.long)
    # A copy: index arrays read from parquet are read-only, which torch warns about.
    return torch.tensor(np.array(indices, dtype=np.int64), device=device)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    features: torch.Tensor,
    indices: torch.Tensor | np.ndarray | None = None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Logits of ``model`` (in eval mode) for ``features[indices]`` (all samples when None)."""
    model.eval()
    inputs = features if indices is None else features[as_index(indices, features.device)]
    chunks = [model(chunk) for chunk in inputs.split(batch_size)]
    return torch.cat(chunks) if chunks else torch.empty(0, device=features.device)


def accuracy(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    indices: torch.Tensor | np.ndarray,
) -> float:
    """Top-1 accuracy of ``model`` on the samples at ``indices``."""
    index = as_index(indices, features.device)
    if len(index) == 0:
        return float("nan")
    predictions = predict_logits(model, features, index).argmax(1)
    return (predictions == labels[index]).float().mean().item()
