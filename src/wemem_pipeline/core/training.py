"""One training loop for every model: the victim and the shadows, dense or pruned.

The loop keeps the whole dataset as tensors on the training device and draws batches by
index, which on small data is several times faster than a ``DataLoader``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .datasets import Dataset
from .defenses.base import Defense, GroupOptimizer, NoDefense, SampleGroup
from .progress import progress_bar
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

    def __str__(self) -> str:
        return (
            f"best dev accuracy {self.best_dev_accuracy:.4f} at epoch {self.best_epoch} of "
            f"{self.epochs_run} ({self.seconds:.1f}s)"
        )


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks the GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"device={name!r}, but torch sees no CUDA device (torch {torch.__version__}, "
            f"built for CUDA {torch.version.cuda}); use device=auto or device=cpu"
        )
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

    Args:
        model: the network, on the device of ``features``; its pruning masks stay.
        features, labels: the whole dataset as tensors on the model's device.
        train_indices: the samples (dataset rows) to train on.
        dev_indices: the non-members early stopping watches; ``None`` trains for
            ``config.max_epochs`` epochs and keeps the last one.
        config: optimizer, batch size, epochs and patience.
        seed: fixes the batch order and the augmentation.
        description, progress: the progress bar's label, and whether to show it.
        defense: plans which members each epoch trains on, in which groups and with which
            optimizer, and takes each batch's step (default: every member, plain steps).
        on_sample_losses: called as ``(indices, losses)`` with each batch's per-sample losses.

    Returns:
        The best dev accuracy and its epoch, the epochs run, the seconds taken, one history
        row per epoch, and how often each sample of ``train_indices`` was trained on.
    """
    start = time.perf_counter()
    dev_idx = None if dev_indices is None else as_index(dev_indices, features.device)
    defense = defense or NoDefense(train_indices)
    loop = _EpochLoop(model, features, labels, defense, config, seed, on_sample_losses)
    defense.start(model, features, labels, dev_idx)
    best = None if dev_idx is None else _BestOnDev(model, config.patience)
    history: list[dict] = []
    epochs = progress_bar(range(1, config.max_epochs + 1), description, progress)
    for epoch in epochs:
        record = {"epoch": epoch, **loop.run_epoch(epoch - 1)}
        history.append(record)
        if best is None:
            continue
        record["dev_accuracy"] = accuracy(model, features, labels, dev_idx)
        epochs.set_postfix(dev_acc=f"{record['dev_accuracy']:.3f}")
        if best.update(record["dev_accuracy"], epoch):
            break
    if best is not None:
        model.load_state_dict(best.state)
    best_accuracy, best_epoch = (best.accuracy, best.epoch) if best else (np.nan, config.max_epochs)
    seconds = time.perf_counter() - start
    uses = loop.uses[as_index(train_indices, features.device)].cpu().numpy()
    result = TrainResult(best_accuracy, best_epoch, len(history), seconds, history, uses)
    logger.info("%s: %s", description, result)
    return result


class _EpochLoop:
    """One epoch at a time: the defense's groups in order, each cut into the defense's
    batches (shuffled, by default)."""

    def __init__(
        self,
        model: nn.Module,
        features: torch.Tensor,
        labels: torch.Tensor,
        defense: Defense,
        config: TrainConfig,
        seed: int,
        on_sample_losses: SampleLossHook | None,
    ):
        self.model, self.features, self.labels = model, features, labels
        self.defense, self.config, self.on_sample_losses = defense, config, on_sample_losses
        self.generator = torch.Generator().manual_seed(seed)
        parameters = list(model.parameters())
        self.optimizers = {
            name: make_optimizer(parameters, config, group)
            for name, group in defense.optimizers().items()
        }
        # Times each sample (dataset row) was trained on.
        self.uses = torch.zeros(len(labels), dtype=torch.long, device=features.device)

    def run_epoch(self, epoch: int) -> dict:
        """Train epoch ``epoch`` (0-based); its mean training loss and sample count."""
        self.model.train()
        total_loss, seen = torch.zeros((), device=self.features.device), 0
        for group in self.defense.plan_epoch(epoch):
            if len(group.indices) == 0:
                continue  # an empty batch would still take a weight-decay-only step
            group_idx = as_index(group.indices, torch.device("cpu"))
            for batch in self.defense.batches(group_idx, self.config.batch_size, self.generator):
                batch = batch.to(self.features.device)
                total_loss += self._step(batch, group, epoch).sum()
                self.uses[batch] += 1  # a batch holds a sample once
                seen += len(batch)
        return {"train_loss": total_loss.item() / max(seen, 1), "samples": seen}

    def _step(self, batch: torch.Tensor, group: SampleGroup, epoch: int) -> torch.Tensor:
        inputs = self.features[batch]
        if self.config.augment:
            inputs = augment_images(inputs, self.generator)
        optimizer = self.optimizers[group.optimizer]
        losses = self.defense.train_step(
            self.model, inputs, self.labels[batch], optimizer, group, epoch
        )
        if self.on_sample_losses is not None:
            self.on_sample_losses(batch, losses)
        return losses


class _BestOnDev:
    """The best epoch on dev so far (its state, masks included) and the patience left."""

    def __init__(self, model: nn.Module, patience: int):
        self.model, self.patience = model, patience
        self.accuracy, self.epoch, self.stale = -1.0, 0, 0
        self.state = copy.deepcopy(model.state_dict())

    def update(self, accuracy: float, epoch: int) -> bool:
        """Record epoch ``epoch``'s dev accuracy; True when training should stop."""
        if accuracy > self.accuracy:
            self.accuracy, self.epoch, self.stale = accuracy, epoch, 0
            self.state = copy.deepcopy(self.model.state_dict())
            return False
        self.stale += 1
        return self.stale >= self.patience


@contextmanager
def one_line_per_fit_off() -> Iterator[None]:
    """Leave out the log line of every :func:`fit` (an audit trains hundreds of models; its
    progress bars say how far it is)."""
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


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


def dataset_tensors(dataset: Dataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The dataset's features and labels as tensors on ``device``."""
    return (
        torch.as_tensor(dataset.features, device=device),
        torch.as_tensor(dataset.labels, dtype=torch.long, device=device),
    )


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
