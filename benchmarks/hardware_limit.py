"""How close training and the attacks come to what this machine can compute.

Measures torch's float32 matmul peak (GFLOP/s, on one thread and on every core), then runs
each piece of a scenario with the project's parameters and prints its model FLOPs (counted
by torch's ``FlopCounterMode`` in a separate, identical run), its time, the GFLOP/s achieved
and that as a fraction of the peak on the threads it was given:

- dense training: the victim, ``training.max_epochs`` epochs (no early stopping);
- prune-round fine-tuning: Base's last round (prune to ``pruning.sparsity``, then
  ``pruning.epochs_per_round`` epochs);
- memorability ensemble: one chunk of ``memorability`` models trained batched;
- input sensitivity: SAMIA's feature, for the victim's scored samples;
- attack suite: every registered attack calibrated on the shadows and scoring the victim,
  and SAMIA alone.

"same-shape matmul" is the matmul of a training batch through the model's widest layer at
the same thread count: what one matmul of that size reaches, the practical ceiling for a
network this small.

    python benchmarks/hardware_limit.py                # digits (conf/base)
    python benchmarks/hardware_limit.py --env fmnist
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from wemem_pipeline.core.attacks import build_attack
from wemem_pipeline.core.attacks.samia import input_sensitivity
from wemem_pipeline.core.ensemble import ModelEnsemble, fit_ensemble
from wemem_pipeline.core.evaluation import last_round
from wemem_pipeline.core.memorability import subset_masks
from wemem_pipeline.core.pruning import prune_to_sparsity
from wemem_pipeline.core.run_config import run_config
from wemem_pipeline.core.splits import VICTIM, roles_of
from wemem_pipeline.core.threads import thread_count
from wemem_pipeline.core.training import dataset_tensors, fit
from wemem_pipeline.core.victim_and_shadows import train_victim_and_shadows
from wemem_pipeline.pipelines.data_split import nodes as data_split
from wemem_pipeline.runs.parameters import load_parameters

ROOT = Path(__file__).resolve().parents[1]


def matmul_gflops(threads: int, rows: int, inner: int, cols: int, seconds: float = 0.5) -> float:
    """Best GFLOP/s of ``(rows x inner) @ (inner x cols)`` in float32 on ``threads`` threads."""
    torch.set_num_threads(threads)
    left, right = torch.rand(rows, inner), torch.rand(inner, cols)
    best, spent = float("inf"), 0.0
    while spent < seconds:
        started = time.perf_counter()
        for _ in range(5):
            torch.mm(left, right)
        elapsed = (time.perf_counter() - started) / 5
        best, spent = min(best, elapsed), spent + 5 * elapsed
    return 2 * rows * inner * cols / best / 1e9


def counted_flops(work: Callable[[], object]) -> int:
    """The FLOPs torch's matmuls, convolutions and attention do in ``work()``."""
    counter = FlopCounterMode(display=False)
    with counter:
        work()
    return counter.get_total_flops()


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def widest_layer(model: nn.Module) -> tuple[int, int]:
    """(inputs, outputs) of the linear layer with the most weights."""
    layer = max(
        (m for m in model.modules() if isinstance(m, nn.Linear)), key=lambda m: m.weight.numel()
    )
    return layer.in_features, layer.out_features


class Workloads:
    """The pieces of a scenario at the project's settings (training ones take their epochs)."""

    def __init__(self, params: dict) -> None:
        self.run = run_config(params)
        self.params = params
        self.dataset = data_split.load(self.run)
        self.table = data_split.split(self.dataset, self.run)
        self.features, self.labels = dataset_tensors(self.dataset, self.run.torch_device)
        self.members = roles_of(self.table, VICTIM)["member"]
        self.dense = self.model()
        self.train(self.dense, 1)

    def model(self) -> nn.Module:
        return self.run.model.build(self.dataset.input_shape, self.dataset.num_classes, 0)

    def dense_training(self, epochs: int) -> None:
        self.train(self.model(), epochs)

    def fine_tuning(self, epochs: int) -> None:
        """Base's last round: prune the dense model to ``pruning.sparsity``, fine-tune it."""
        model = copy.deepcopy(self.dense)
        prune_to_sparsity(model, self.run.pruning.sparsity, self.run.pruning.scope)
        self.train(model, epochs)

    def train(self, model: nn.Module, epochs: int) -> None:
        """``epochs`` epochs on the victim's members, no early stopping."""
        training = dataclasses.replace(self.run.training, max_epochs=epochs)
        fit(model, self.features, self.labels, self.members, None, training, seed=0, progress=False)

    def ensemble(self, epochs: int) -> None:
        config = self.run.memorability
        size = min(config.chunk_size, config.num_models)
        pool = np.sort(roles_of(self.table, VICTIM)["member"])
        included = subset_masks(len(pool), size, config.subset_fraction, 0)
        ensemble = ModelEnsemble(
            self.run.model,
            self.dataset.input_shape,
            self.dataset.num_classes,
            range(size),
            self.run.torch_device,
        )
        subsets = np.stack([pool[mask] for mask in included])
        fit_ensemble(
            ensemble,
            self.features,
            self.labels,
            subsets,
            self.run.training,
            epochs=epochs,
            seed=0,
            progress=False,
        )

    def attack_sets(self) -> None:
        """The dense victim's and shadows' membership sets (briefly trained: the attacks' cost
        does not depend on how well the models learned)."""
        brief = dataclasses.replace(
            self.run, training=dataclasses.replace(self.run.training, max_epochs=2)
        )
        dense = train_victim_and_shadows(self.dataset, self.table, brief, "dense")
        self.outputs = last_round(dense.outputs)
        self.shadows, self.victim = self.outputs.attack_sets(
            self.table, self.dataset.labels, self.run.seed
        )
        scored = roles_of(self.table, VICTIM)
        self.scored = np.union1d(scored["member"], scored["test"])

    def sensitivity(self) -> None:
        input_sensitivity(self.dense, self.features, self.scored)

    def attacks(self, names: list[str]) -> None:
        options = self.params["attacks"]
        for name in names:
            build_attack(name, options.get(name)).fit(self.shadows).score(self.victim)


def measure(label: str, work: Callable[[int], None], epochs: int) -> tuple[str, float, float]:
    """(label, GFLOP, seconds) of ``work(epochs)``; FLOPs counted on one epoch, times epochs."""
    flops = counted_flops(lambda: work(1)) * epochs
    return label, flops / 1e9, timed(lambda: work(epochs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (default: base)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    params = load_parameters(ROOT / "conf", args.env)
    cores = torch.get_num_threads()
    peak = {1: matmul_gflops(1, 2048, 2048, 2048), cores: matmul_gflops(cores, 2048, 2048, 2048)}

    work = Workloads(params)
    run = work.run
    threads = thread_count(run.threads, run.model.name)
    torch.set_num_threads(threads)
    inputs, outputs = widest_layer(work.dense)
    shaped = matmul_gflops(threads, run.training.batch_size, inputs, outputs)
    models = min(run.memorability.chunk_size, run.memorability.num_models)
    rows = [
        measure("dense training", work.dense_training, run.training.max_epochs),
        measure("prune-round fine-tuning", work.fine_tuning, run.pruning.epochs_per_round),
        measure(
            f"memorability ensemble ({models} models)",
            work.ensemble,
            run.memorability.epochs or run.training.max_epochs,
        ),
    ]
    work.attack_sets()
    names = list(params["attacks"]["names"])
    for label, attack in (
        ("input sensitivity (SAMIA's feature)", work.sensitivity),
        (f"attack suite ({len(names)} attacks)", lambda: work.attacks(names)),
        ("  of which samia", lambda: work.attacks(["samia"])),
    ):
        rows.append((label, counted_flops(attack) / 1e9, timed(attack)))

    print(
        f"\n{work.dataset.name}: model {run.model.name} {list(run.model.hidden)}, batch "
        f"{run.training.batch_size}, {len(work.members)} members; torch {torch.__version__}"
    )
    print(
        f"matmul peak (2048^3, float32): {peak[1]:.1f} GFLOP/s on 1 thread, "
        f"{peak[cores]:.1f} on {cores}; the work below ran on {threads} thread(s); "
        f"same-shape matmul ({run.training.batch_size}x{inputs} @ {inputs}x{outputs}): "
        f"{shaped:.1f} GFLOP/s = {shaped / peak[threads]:.0%} of the peak"
    )
    header = f"{'work':<40}{'GFLOP':>9}{'seconds':>9}{'GFLOP/s':>9}{'of peak':>9}{'of machine':>11}"
    print(header)
    for label, gflop, seconds in rows:
        rate = gflop / seconds
        print(
            f"{label:<40}{gflop:>9.1f}{seconds:>9.2f}{rate:>9.1f}"
            f"{rate / peak[threads]:>9.1%}{rate / peak[cores]:>11.1%}"
        )


if __name__ == "__main__":
    main()
