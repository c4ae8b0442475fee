"""Small user-defined models for the ``model.name: custom`` tests.

The unit tests import this module from the tests folder (on ``sys.path`` under pytest); the
end-to-end tests copy it into a project copy's ``src/``, where Kedro puts it on the path, as
a user would place their own module.
"""

from __future__ import annotations

import torch
from torch import nn


class TinyConvNet(nn.Module):
    """A conv layer and a linear head for ``(C, H, W)`` images; told the shapes by name."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, channels: int = 4):
        super().__init__()
        in_channels, height, width = input_shape
        self.conv = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.head = nn.Linear(channels * height * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(1))


class ScaledMLP(nn.Module):
    """Sizes from ``model.kwargs`` only (no ``input_shape``/``num_classes`` in its signature),
    a constant buffer, and dropout."""

    def __init__(self, features: int, classes: int, hidden: int = 16):
        super().__init__()
        self.register_buffer("scale", torch.full((features,), 0.5))
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.2)
        )
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x.flatten(1) * self.scale))


class NormNet(nn.Module):
    """Batch normalization: fine alone, but its running statistics cannot be batched."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        features = int(torch.Size(input_shape).numel())
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(features, 8), nn.BatchNorm1d(8))
        self.out = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.net(x)))


class BranchingNet(nn.Module):
    """A Python branch on a tensor's value, which ``vmap`` cannot batch."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        self.linear = nn.Linear(int(torch.Size(input_shape).numel()), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(x.flatten(1))
        return logits if logits.sum().item() > 0 else -logits


class WrongShape(nn.Module):
    """One output too many."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        self.linear = nn.Linear(int(torch.Size(input_shape).numel()), num_classes + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class NonFiniteLogits(nn.Module):
    """Divides its logits by their own difference from themselves: zero, so every logit is NaN
    or infinite (a normalization gone wrong)."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        self.linear = nn.Linear(int(torch.Size(input_shape).numel()), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(x.flatten(1))
        return logits / (logits - logits)


class ScalesByPixelContrast(nn.Module):
    """Divides by the difference of its first two input features: finite on random inputs,
    infinite on digits, whose two top-left pixels are equally blank in the first images."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        self.linear = nn.Linear(int(torch.Size(input_shape).numel()), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return self.linear(flat) / (flat[:, :1] - flat[:, 1:2])


class IgnoresItsInput(nn.Module):
    """A linear layer applied to zeros: one answer whatever the input, like a network whose
    weights were all pruned."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        self.linear = nn.Linear(int(torch.Size(input_shape).numel()), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.zeros_like(x.flatten(1)))


class Refuses(nn.Module):
    """A constructor that raises."""

    def __init__(self, num_classes: int):
        super().__init__()
        raise ValueError(f"needs at least 20 classes, got {num_classes}")


class NoWeights(nn.Module):
    """No Linear or Conv layer: nothing to prune."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), -1)


class LazyNet(nn.Module):
    """A lazy layer: its weights exist only after a first forward pass."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.linear = nn.LazyLinear(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class NotAModule:
    """A class, but not a torch module."""


not_a_class = 3


class FailsToTrain(nn.Module):
    """Passes the checks before the first node (a forward pass, and the few training steps
    the run-time estimate times), then fails in training: a run that stops in a node, after
    the nodes before it saved their data."""

    steps_before_failing = 20  # more than the run-time probe takes, in one process
    steps = 0

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        self.head = nn.Linear(int(torch.tensor(input_shape).prod()), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            FailsToTrain.steps += 1
            if FailsToTrain.steps > self.steps_before_failing:
                raise RuntimeError("FailsToTrain cannot be trained")
        return self.head(x.flatten(1))
