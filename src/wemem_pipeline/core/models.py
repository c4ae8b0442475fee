"""Network architectures, chosen by name; input shape and class count come from the data.

``custom`` builds a user's own ``torch.nn.Module`` class, named by ``model.class_path``
(``"package.module:ClassName"``) and constructed with ``model.kwargs``; its constructor is
also given ``input_shape`` and ``num_classes`` when its signature names them.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .masks import prunable_parameters
from .validation import ParameterError, require_choice, require_int

MODEL_NAMES = ("mlp", "cnn", "resnet18", "custom")
# What a custom class's constructor is given from the data, when its signature names them.
DATA_ARGUMENTS = ("input_shape", "num_classes")
_CLASS_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_IMPORT_HINT = (
    "the module must be importable where kedro runs: put it in the project's src/ folder "
    "(Kedro puts src/ on the import path) or install its package (pip install -e ...)"
)
_CUSTOM_HINT = (
    "the constructor gets model.kwargs, plus input_shape (a tuple: (C, H, W) for images, "
    "(features,) for tables) and num_classes when its signature names them; forward must "
    "return logits of shape (batch, num_classes)"
)


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

    ``hidden`` (layer widths) applies to the MLP, ``width`` (first conv channels) to the CNN;
    ``class_path`` and ``kwargs`` to ``custom`` only. The checks here need no data: the class
    is imported and its constructor's signature read; :func:`check_model` builds it for the
    data before any training.
    """

    name: str = "mlp"
    hidden: tuple[int, ...] = (256, 128)
    width: int = 32
    class_path: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_choice("model.name", self.name, MODEL_NAMES)
        self._check_custom()
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, Iterable):
            raise ParameterError(
                f"model.hidden must be a list of layer widths such as [256, 128] (in a "
                f"parameters file: --params cannot give a list), got {self.hidden!r}"
            )
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for size in self.hidden:
            require_int("model.hidden[]", size, 1)
        require_int("model.width", self.width, 1)

    @property
    def label(self) -> str:
        """The parameter that names the architecture, as messages quote it."""
        if self.name == "custom":
            return f"model.class_path={self.class_path!r}"
        return f"model.name={self.name!r}"

    def _check_custom(self) -> None:
        kwargs = {} if self.kwargs is None else self.kwargs  # ``kwargs:`` left empty in yml
        if not isinstance(kwargs, Mapping):
            raise ParameterError(
                f"model.kwargs must be a mapping of keyword arguments for the model.class_path "
                f"class, such as {{depth: 3}}, got {kwargs!r}",
                hint="in a parameters file, model.kwargs: {name: value}; with --params, "
                "model.kwargs.<name>=<value> (one per argument)",
            )
        object.__setattr__(self, "kwargs", dict(kwargs))
        if self.name != "custom":
            if self.class_path is not None or self.kwargs:
                given = "model.class_path" if self.class_path is not None else "model.kwargs"
                raise ParameterError(
                    f"{given} is set but model.name is {self.name!r}; model.class_path and "
                    "model.kwargs apply to model.name='custom' only",
                    hint="set model.name: custom to build your own class, or remove "
                    f"{given} to use the built-in {self.name!r}",
                )
            return
        if self.class_path is None:
            raise ParameterError(
                "model.name='custom' needs model.class_path, the class to build, as "
                "'package.module:ClassName'",
                hint="set model.class_path in a parameters file (conf/local/"
                "parameters_training.yml, say) or with --params model.class_path=module:Class",
            )
        named, takes_any = _constructor_parameters(model_class(self.class_path))
        not_strings = [key for key in self.kwargs if not isinstance(key, str)]
        if not_strings:
            raise ParameterError(f"model.kwargs keys must be argument names, got {not_strings}")
        from_data = sorted(set(self.kwargs) & set(DATA_ARGUMENTS) & named)
        if from_data:
            raise ParameterError(
                f"model.kwargs sets {from_data}, which {self.label} is given from the data",
                hint=f"remove {from_data} from model.kwargs",
            )
        unknown = sorted(set(self.kwargs) - named)
        if unknown and not takes_any:
            raise ParameterError(
                f"model.kwargs has {unknown}, which the constructor of {self.label} does not "
                f"take; it takes {sorted(named)}"
            )

    def build(self, input_shape: Sequence[int], num_classes: int, seed: int) -> nn.Module:
        """A freshly initialised network; ``seed`` fixes the initial weights."""
        input_shape = tuple(input_shape)
        if self.name == "custom":
            torch.manual_seed(seed)
            return self._build_custom(input_shape, num_classes)
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

    def _build_custom(self, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        cls = model_class(self.class_path)
        named, _ = _constructor_parameters(cls)
        from_data = {"input_shape": input_shape, "num_classes": num_classes}
        # A fresh copy: a constructor that changes a list it was given changes no other model.
        arguments = {k: v for k, v in from_data.items() if k in named} | copy.deepcopy(self.kwargs)
        try:
            return cls(**arguments)
        except Exception as error:
            shown = ", ".join(f"{key}={value!r}" for key, value in arguments.items())
            raise ParameterError(
                f"{self.label}: {cls.__name__}({shown}) raised {type(error).__name__}: {error}",
                hint=_CUSTOM_HINT,
            ) from error


def model_class(class_path: Any) -> type[nn.Module]:
    """The ``torch.nn.Module`` subclass ``class_path`` (``"package.module:ClassName"``) names."""
    where = f"model.class_path={class_path!r}"
    if not isinstance(class_path, str) or not _CLASS_PATH.fullmatch(class_path):
        raise ParameterError(
            f"{where} must name a class as 'package.module:ClassName' (a module path, a "
            "colon, a class name)"
        )
    module_name, _, qualified_name = class_path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as error:  # a missing module, or one that fails as it runs
        raise ParameterError(
            f"{where}: cannot import {module_name!r} ({type(error).__name__}: {error})",
            hint=_IMPORT_HINT,
        ) from error
    for part in qualified_name.split("."):
        if not hasattr(found, part):
            raise ParameterError(
                f"{where}: module {module_name!r} ({getattr(found, '__file__', '?')}) has no "
                f"{qualified_name!r}"
            )
        found = getattr(found, part)
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        what = f"the class {found.__name__}" if isinstance(found, type) else type(found).__name__
        raise ParameterError(
            f"{where} is not a torch.nn.Module subclass: it is {what}",
            hint="name a class that subclasses torch.nn.Module",
        )
    return found


def _constructor_parameters(cls: type) -> tuple[set[str], bool]:
    """The keyword arguments ``cls(...)`` takes by name, and whether it takes any (``**``)."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: pass kwargs on as given
        return set(), True
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = {p.name for p in parameters if p.kind in keyword}
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def check_model(
    spec: ModelSpec,
    input_shape: Sequence[int],
    num_classes: int,
    inputs: torch.Tensor | None = None,
) -> None:
    """Refuse a ``custom`` model that does not fit the data, before any training.

    It is built on the CPU and given a batch of two inputs in training mode (as fine-tuning
    will): ``inputs`` (two samples of the data), or random ones. It must construct, have a
    Linear or Conv layer for pruning, and return finite logits of shape ``(2, num_classes)``.
    The built-in models fit any data they accept (``build`` refuses the rest), so they are
    not checked.
    """
    if spec.name != "custom":
        return
    input_shape = tuple(input_shape)
    with torch.random.fork_rng(devices=[]):  # the run's random streams stay as they were
        model = spec.build(input_shape, num_classes, seed=0)
        lazy = [
            type(m).__name__
            for m in model.modules()
            if isinstance(m, nn.modules.lazy.LazyModuleMixin)
        ]
        if lazy:
            raise ParameterError(
                f"{spec.label} has lazy layers {sorted(set(lazy))}, whose weights do not "
                "exist until a first forward pass, so they cannot be pruned or batched",
                hint="give the layers their sizes; the constructor can take input_shape",
            )
        if not prunable_parameters(model):
            raise ParameterError(
                f"{spec.label} has no Linear or Conv layer, so pruning has no weights to prune",
                hint=_CUSTOM_HINT,
            )
        inputs = torch.randn(2, *input_shape) if inputs is None else inputs[:2].float().cpu()
        try:
            with torch.no_grad():
                outputs = model.train()(inputs)
        except Exception as error:
            raise ParameterError(
                f"{spec.label}: its forward pass on a batch of shape {tuple(inputs.shape)} "
                f"raised {type(error).__name__}: {error}",
                hint=_CUSTOM_HINT,
            ) from error
    expected = (2, num_classes)
    if isinstance(outputs, torch.Tensor) and outputs.is_floating_point():
        if tuple(outputs.shape) == expected:
            _check_finite(spec, outputs)
            return
        gave = f"a tensor of shape {tuple(outputs.shape)}"
    elif isinstance(outputs, torch.Tensor):
        gave = f"a {outputs.dtype} tensor"
    else:
        gave = f"a {type(outputs).__name__}"
    raise ParameterError(
        f"{spec.label} must return logits of shape {expected} (batch, num_classes) for a "
        f"batch of 2 inputs of shape {input_shape}; it returned {gave}",
        hint=_CUSTOM_HINT,
    )


def _check_finite(spec: ModelSpec, logits: torch.Tensor) -> None:
    """Refuse NaN or infinite logits: the loss, every attack signal and every metric would be
    NaN, and the run would fail far later with a message about an attack."""
    bad = ~torch.isfinite(logits)
    if bad.any():
        kinds = " and ".join(
            kind
            for kind, found in (("NaN", logits.isnan()), ("infinite", logits.isinf()))
            if found.any()
        )
        raise ParameterError(
            f"{spec.label} returns {kinds} logits ({int(bad.sum())} of {logits.numel()} values) "
            f"for a batch of {len(logits)} samples: its training loss, every attack and every "
            "metric would be NaN",
            hint="check the forward pass for a division by zero, a log of a number <= 0 or an "
            "overflow; it must return finite logits",
        )
