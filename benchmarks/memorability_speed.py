"""Batched ensemble training against one-model-at-a-time training, side by side.

For each MLP architecture, trains the same M models (same initial weights, same subsets,
same epochs) both ways on the default dataset and prints the wall times, their ratio and
both paths' accuracies, then the time of the single-model loss proxy.

    python benchmarks/memorability_speed.py                       # M=32, digits, 3 MLP sizes
    python benchmarks/memorability_speed.py --hidden 512,512 --dataset fashion_mnist --pool 2000
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from wemem_pipeline.core.datasets import load_dataset
from wemem_pipeline.core.ensemble import ModelEnsemble, fit_ensemble
from wemem_pipeline.core.memorability import MemorabilityConfig, loss_proxy_scores, subset_masks
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.training import TrainConfig, fit, predict_logits


def compare(dataset, pool, spec: ModelSpec, models: int, epochs: int) -> None:
    device = torch.device("cpu")
    features, labels = torch.as_tensor(dataset.features), torch.as_tensor(dataset.labels)
    subsets = np.stack([pool[mask] for mask in subset_masks(len(pool), models, 0.7, seed=0)])
    config = TrainConfig(batch_size=64, max_epochs=epochs)
    seeds = list(range(models))
    shape, classes = dataset.input_shape, dataset.num_classes

    # Warm up both paths (thread pools, first-call dispatch) so neither pays it in the timing.
    warm_up = dataclasses.replace(config, max_epochs=1)
    fit(
        spec.build(shape, classes, 0),
        features,
        labels,
        subsets[0],
        None,
        warm_up,
        seed=0,
        progress=False,
    )
    fit_ensemble(
        ModelEnsemble(spec, shape, classes, seeds[:2], device),
        features,
        labels,
        subsets[:2],
        warm_up,
        epochs=1,
        seed=0,
        progress=False,
    )

    start = time.perf_counter()
    ensemble = ModelEnsemble(spec, shape, classes, seeds, device)
    fit_ensemble(ensemble, features, labels, subsets, config, epochs=epochs, seed=0, progress=False)
    batched_seconds = time.perf_counter() - start
    batched_accuracy = (ensemble.predict_logits(features).argmax(-1) == labels).float().mean()

    start = time.perf_counter()
    sequential_accuracy = []
    for seed, subset in zip(seeds, subsets, strict=True):
        model = spec.build(shape, classes, seed)
        fit(model, features, labels, subset, None, config, seed=seed, progress=False)
        predictions = predict_logits(model, features).argmax(-1)
        sequential_accuracy.append((predictions == labels).float().mean().item())
    sequential_seconds = time.perf_counter() - start

    start = time.perf_counter()
    loss_proxy_scores(
        dataset, pool, spec, config, MemorabilityConfig(epochs=epochs), seed=0, device=device
    )
    proxy_seconds = time.perf_counter() - start

    print(
        f"MLP {list(spec.hidden)}: one at a time {sequential_seconds:7.2f} s "
        f"(accuracy {np.mean(sequential_accuracy):.4f}) | batched {batched_seconds:6.2f} s "
        f"(accuracy {batched_accuracy.item():.4f}) | speed-up "
        f"{sequential_seconds / batched_seconds:4.1f}x | loss proxy {proxy_seconds:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pool", type=int, default=629, help="pool size (digits' victim pool)")
    parser.add_argument(
        "--hidden",
        nargs="+",
        default=["256,128", "128", "64"],
        help="hidden layer widths per architecture, e.g. 256,128 (the default)",
    )
    args = parser.parse_args()

    dataset = load_dataset(args.dataset)
    pool = np.sort(np.random.default_rng(0).permutation(dataset.num_samples)[: args.pool])
    print(
        f"{args.models} models on {args.dataset}, pool {len(pool)}, 70% each, "
        f"{args.epochs} epochs, batch 64, {torch.get_num_threads()} threads "
        "(accuracy: on the whole dataset, averaged over models)"
    )
    for hidden in args.hidden:
        spec = ModelSpec("mlp", tuple(int(width) for width in hidden.split(",")))
        compare(dataset, pool, spec, args.models, args.epochs)


if __name__ == "__main__":
    main()
