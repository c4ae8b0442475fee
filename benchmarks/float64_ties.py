"""Attack signals in float32 (as computed before issue 13) against float64, on a finished run.

Reads the newest dense, Base and defended outputs of a project's ``data/`` (a single-seed run
or one seed branch of a multi-seed run), calibrates the loss and hconf attacks on the shadows
and scores the victim twice: with the signals computed in float32 from the stored float32
logits, as the project did, and in float64. Prints per stage the share of scored non-members
whose ``log p_y`` is exactly 0 in float32, and both TPR@1%FPR and AUC.

    python benchmarks/float64_ties.py --project . --scenario scenario3
    python benchmarks/float64_ties.py --project /tmp/run --branch seed_1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from kedro.io import Version

from wemem_pipeline.catalog_datasets.dataset_store import DATASET_STORE, StoredDatasetDataset
from wemem_pipeline.catalog_datasets.model_outputs import ModelOutputsDataset
from wemem_pipeline.core.attacks.threshold import ThresholdAttack, negative_loss, top_confidence
from wemem_pipeline.core.evaluation import last_round
from wemem_pipeline.core.metrics import membership_metrics


def float32_loss(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The log-softmax of the true class in float32, the way it was computed before."""
    logits = logits.astype(np.float32)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return log_p[np.arange(len(labels)), labels]


def float32_top_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float32)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).max(axis=1)


SIGNALS = {
    "loss": {"float32": float32_loss, "float64": negative_loss},
    "hconf": {"float32": float32_top_confidence, "float64": top_confidence},
}


def newest(folder: Path) -> Path:
    version = sorted(path for path in folder.iterdir() if path.is_dir())[-1]
    return version / folder.name


def newest_outputs(folder: Path) -> dict:
    """The newest version of a ``*_outputs.npz`` artifact."""
    return ModelOutputsDataset(str(folder), version=Version(None, None)).load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."), help="a Kedro project folder")
    parser.add_argument("--scenario", default="scenario3", help="whose defended outputs to read")
    parser.add_argument("--branch", default="", help="a seed branch, e.g. seed_1")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (no branch)")
    args = parser.parse_args()

    def artifact(relative: str) -> Path:
        path = args.project / "data" / relative
        return path.parent / args.branch / path.name if args.branch else path

    store = {"path": str(args.project / DATASET_STORE)}
    dataset_file = artifact("02_intermediate/dataset.json")
    dataset = StoredDatasetDataset(str(dataset_file), store, Version(None, None)).load()
    splits = pd.read_parquet(newest(artifact("03_primary/splits.parquet")))
    defended = artifact(f"07_model_output/{args.scenario}/defended_outputs.npz")
    if args.branch:
        defended = args.project / "data" / f"07_model_output/{args.scenario}/{args.branch}"
        defended = defended / "defended_outputs.npz"
    stages = {
        "dense": last_round(newest_outputs(artifact("07_model_output/dense_outputs.npz"))),
        "base": last_round(newest_outputs(artifact("07_model_output/iterative_outputs.npz"))),
        args.scenario: last_round(newest_outputs(defended)),
    }
    seed = int(args.branch.removeprefix("seed_")) if args.branch else args.seed
    rows = []
    for stage, outputs in stages.items():
        shadows, victim = outputs.attack_sets(splits, dataset.labels, seed)
        non_members = victim.logits[~victim.is_member]
        tied = float32_loss(non_members, victim.labels[~victim.is_member]) == 0
        for attack, versions in SIGNALS.items():
            row = {"stage": stage, "attack": attack, "non-members at log p_y = 0": tied.mean()}
            for precision, signal in versions.items():
                fitted = ThresholdAttack(attack, signal, per_class=False).fit(shadows)
                result = fitted.score(victim)
                metrics = membership_metrics(
                    victim.is_member, result.scores, result.predicted_member
                )
                row[f"TPR@1%FPR {precision}"] = metrics["tpr_at_1pct_fpr"]
                row[f"AUC {precision}"] = metrics["auc"]
            rows.append(row)
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
