"""Network architectures, chosen by name; input shape and class count come from the data."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .validation import ParameterError, require_choice, require_int

MODEL_NAMES = ("mlp", "cnn", "resnet18")


class MLP(nn.Module):
    """Fully connected network; images are flattened, so it serves tabular and image data."""

    def __init__(self, input_dim: int, num_classes: int, hidden: Sequence[int] = (512, 256)):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = input_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two conv-pool blocks and a two-layer head; works from 8x8 up to 32x32 inputs."""

    def __init__(self, in_channels: int, image_size: int, num_classes: int, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * side * side, 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet18: a 3x3 stem without max-pooling keeps 32x32 inputs large enough."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        in_planes = 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)]
            in_planes = planes
        self.layers = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)))


@dataclass(frozen=True)
class ModelSpec:
    """An architecture and its settings; input shape and class count come from the data.

    ``hidden`` (layer widths) applies to the MLP, ``width`` (first conv channels) to the CNN.
    """

    name: str = "mlp"
    hidden: tuple[int, ...] = (256, 128)
    width: int = 32

    def __post_init__(self) -> None:
        require_choice("model.name", self.name, MODEL_NAMES)
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, Iterable):
            raise ParameterError(
                f"model.hidden must be a list of layer widths such as [256, 128] (in a "
                f"parameters file: --params cannot give a list), got {self.hidden!r}"
            )
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for size in self.hidden:
            require_int("model.hidden[]", size, 1)
        require_int("model.width", self.width, 1)

    def build(self, input_shape: Sequence[int], num_classes: int, seed: int) -> nn.Module:
        """A freshly initialised network; ``seed`` fixes the initial weights."""
        input_shape = tuple(input_shape)
        if self.name != "mlp" and len(input_shape) != 3:
            raise ParameterError(
                f"model.name={self.name!r} needs image data of shape (C, H, W), got input "
                f"shape {input_shape}; use model.name='mlp' for tabular data"
            )
        torch.manual_seed(seed)
        if self.name == "mlp":
            return MLP(math.prod(input_shape), num_classes, self.hidden)
        if self.name == "cnn":
            return SmallCNN(input_shape[0], input_shape[1], num_classes, self.width)
        return ResNet18(input_shape[0], num_classes)
