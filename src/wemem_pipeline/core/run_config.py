"""Every typed setting of a run, built once from the parameter tree.

Each section of the parameters (``dataset``, ``split``, ``model``, ``training``, ``pruning``,
``memorability``, ``evaluation``) becomes the frozen dataclass of the module that uses it; a
typo in a key or a value out of range is refused with the parameter's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .datasets import DatasetConfig
from .memorability import MemorabilityConfig
from .models import ModelSpec
from .pruning import PruningConfig
from .splits import SplitConfig
from .threads import available_cores, check_threads
from .training import TrainConfig, resolve_device
from .validation import ParameterError, from_mapping, require_choice, require_int
from .workers import worker_count

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class EvaluationConfig:
    """How attack results are measured (the ``evaluation`` parameters).

    ``seeds``: how many seeds a run repeats the whole experiment with (``seed``, ``seed + 1``,
    ...), or the seeds themselves as a list; ``bootstrap``: resamples of each interval;
    ``null_permutations``: label shuffles of the chance reference.
    """

    seeds: int | tuple[int, ...] = 1
    bootstrap: int = 1000
    null_permutations: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", check_seeds(self.seeds))
        require_int("evaluation.bootstrap", self.bootstrap, 100)
        require_int("evaluation.null_permutations", self.null_permutations, 20)

    def seed_list(self, seed: int) -> list[int]:
        """The seeds of the run whose ``seed`` parameter is ``seed``."""
        if isinstance(self.seeds, int):
            return list(range(seed, seed + self.seeds))
        return list(self.seeds)


def check_seeds(seeds: Any) -> int | tuple[int, ...]:
    """``evaluation.seeds``: a count >= 1, or a non-empty list of distinct seeds >= 0."""
    if isinstance(seeds, (list, tuple)):
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ParameterError(
                "evaluation.seeds as a list must hold one or more integer seeds, got "
                f"{list(seeds)!r}"
            )
        if any(s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
            raise ParameterError(
                f"evaluation.seeds as a list must hold distinct seeds >= 0, got {list(seeds)!r}"
            )
        return tuple(seeds)
    try:
        return require_int("evaluation.seeds", seeds, 1)
    except ParameterError as error:
        raise ParameterError(
            f"{error} (a count: seed, seed+1, ...; or a list of seeds in a parameters file)"
        ) from None


SECTIONS = {
    "dataset": DatasetConfig,
    "split": SplitConfig,
    "model": ModelSpec,
    "training": TrainConfig,
    "pruning": PruningConfig,
    "memorability": MemorabilityConfig,
    "evaluation": EvaluationConfig,
}


@dataclass(frozen=True)
class RunConfig:
    """The settings every stage of a run shares; see ``conf/base/parameters_*.yml``."""

    seed: int = 0
    device: str = "auto"
    threads: int | str = "auto"
    workers: int | str = "auto"
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelSpec = field(default_factory=ModelSpec)
    training: TrainConfig = field(default_factory=TrainConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    memorability: MemorabilityConfig = field(default_factory=MemorabilityConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        require_int("seed", self.seed, 0)
        require_choice("device", self.device, DEVICES)
        check_threads(self.threads)
        check_threads(self.workers, "workers")
        resolve_device(self.device)  # device=cuda without a GPU fails here, before any node

    @property
    def torch_device(self) -> torch.device:
        """The device to train on (``auto``: the GPU when there is one)."""
        return resolve_device(self.device)

    @property
    def worker_processes(self) -> int:
        """How many processes share a stage's independent pieces of work (``workers``; no
        more than there are pieces)."""
        return worker_count(self.workers, available_cores(), self.torch_device.type != "cpu")


def run_config(parameters: Mapping[str, Any]) -> RunConfig:
    """The :class:`RunConfig` of the parameter tree ``parameters``."""
    sections = {
        name: from_mapping(cls, name, parameters.get(name)) for name, cls in SECTIONS.items()
    }
    return RunConfig(
        seed=parameters.get("seed"),
        device=parameters.get("device", "auto"),
        threads=parameters.get("threads", "auto"),
        workers=parameters.get("workers", "auto"),
        **sections,
    )
