"""How good are the mem-scores? Stability, proxy agreement and label-noise detection.

On one pool of the dataset, with the project's default model and training settings:
- stability: Spearman correlation of two Feldman estimates with different seeds;
- proxy: Spearman correlation of the single-run loss proxy with the Feldman estimate;
- label noise: flip 3% of the pool's labels; ROC AUC of each estimator for finding them.

    python benchmarks/memorability_quality.py                        # digits, M=32, 60 epochs
    python benchmarks/memorability_quality.py --chunk-size 32        # one ensemble of 32
    python benchmarks/memorability_quality.py --dataset fashion_mnist --pool 5000 --models 16 \
        --epochs 20 --hidden 512,512 --batch-size 128
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from wemem_pipeline.core.datasets import Dataset, load_dataset
from wemem_pipeline.core.memorability import (
    MemorabilityConfig,
    feldman_scores,
    loss_proxy_scores,
)
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.training import TrainConfig


def with_flipped_labels(dataset: Dataset, samples: np.ndarray, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    labels = dataset.labels.copy()
    shift = rng.integers(1, dataset.num_classes, len(samples))
    labels[samples] = (labels[samples] + shift) % dataset.num_classes
    return Dataset(dataset.name, dataset.features, labels, dataset.is_test, dataset.class_names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--pool", type=int, default=629)
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden", default="256,128")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--chunk-size", type=int, default=MemorabilityConfig.chunk_size, help="models per ensemble"
    )
    args = parser.parse_args()

    device = torch.device("cpu")
    dataset = load_dataset(args.dataset)
    rng = np.random.default_rng(0)
    pool = np.sort(rng.permutation(dataset.num_samples)[: args.pool])
    spec = ModelSpec("mlp", tuple(int(w) for w in args.hidden.split(",")))
    training = TrainConfig(batch_size=args.batch_size, max_epochs=args.epochs)
    config = MemorabilityConfig(num_models=args.models, chunk_size=args.chunk_size)

    def timed(estimator, data, seed):
        start = time.perf_counter()
        scores = estimator(data, pool, spec, training, config, seed=seed, device=device)
        return scores, time.perf_counter() - start

    first, feldman_seconds = timed(feldman_scores, dataset, 1)
    second, _ = timed(feldman_scores, dataset, 2)
    proxy, proxy_seconds = timed(loss_proxy_scores, dataset, 1)
    raw = first["raw_score"].to_numpy()
    print(
        f"{args.dataset}: pool {len(pool)}, M={args.models} in chunks of {args.chunk_size}, "
        f"{args.epochs} epochs, "
        f"MLP {list(spec.hidden)}"
    )
    print(f"Feldman: {feldman_seconds:.1f} s; loss proxy: {proxy_seconds:.1f} s")
    quantiles = np.quantile(raw, [0.25, 0.5, 0.75, 0.9, 0.99])
    print(
        f"raw scores: mean {raw.mean():.3f}, quartiles/90%/99% {np.round(quantiles, 3)}, "
        f"share exactly 0: {(raw == 0).mean():.2f}, share >= 0.5: {(raw >= 0.5).mean():.3f}"
    )
    print(f"stability (Spearman, two seeds): {spearmanr(raw, second['raw_score'])[0]:.3f}")
    print(f"proxy vs Feldman (Spearman): {spearmanr(raw, proxy['raw_score'])[0]:.3f}")

    flipped = rng.choice(pool, max(1, round(0.03 * len(pool))), replace=False)
    noisy = with_flipped_labels(dataset, flipped, seed=0)
    is_flipped = np.isin(pool, flipped)
    for name, estimator in (("Feldman", feldman_scores), ("loss proxy", loss_proxy_scores)):
        scores, _ = timed(estimator, noisy, 3)
        auc = roc_auc_score(is_flipped, scores["raw_score"])
        print(
            f"3% flipped labels, {name}: AUC {auc:.3f} "
            f"(flipped mean {scores['raw_score'][is_flipped].mean():.3f}, clean median "
            f"{np.median(scores['raw_score'][~is_flipped]):.3f})"
        )


if __name__ == "__main__":
    main()
