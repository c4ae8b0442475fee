"""Each attack's run time and strength on the dense and the Base-pruned victim.

Trains the victim and shadows (dense, then Base iterative pruning) with the project's
parameters, then calibrates and scores every registered attack on both stages, and prints
per attack: AUC and TPR at 1% FPR against each victim, and the seconds to calibrate and
score. It also times the input sensitivity (SAMIA's feature) computed batched, all
perturbations of a batch in one forward pass, against one pass per sample and perturbation.

    python benchmarks/attack_times.py                 # digits (conf/base)
    python benchmarks/attack_times.py --env fmnist
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from wemem_pipeline.core.attacks import ATTACKS
from wemem_pipeline.core.attacks.samia import input_sensitivity
from wemem_pipeline.core.evaluation import evaluate_stages, last_round
from wemem_pipeline.core.run_config import run_config
from wemem_pipeline.core.splits import VICTIM, roles_of
from wemem_pipeline.core.training import dataset_tensors
from wemem_pipeline.core.victim_and_shadows import (
    restore_model,
    train_victim_and_shadows,
    victim_history,
)
from wemem_pipeline.pipelines.data_split import nodes as data_split
from wemem_pipeline.runs.parameters import load_parameters

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def sensitivity_per_sample(
    model: torch.nn.Module, features: torch.Tensor, indices: np.ndarray, perturbations: int = 10
) -> np.ndarray:
    """The unbatched reference: one sample and one perturbation per forward pass."""
    rows = []
    for index in indices:
        inputs = features[int(index)].unsqueeze(0)
        clean = torch.softmax(model(inputs), dim=1)
        total = torch.zeros_like(clean)
        for _ in range(perturbations):
            nudged = inputs + 1e-3 * torch.randn_like(inputs)
            total += (torch.softmax(model(nudged), dim=1) - clean).abs() / 1e-3
        rows.append(total / perturbations)
    return torch.cat(rows).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (default: base)")
    parser.add_argument("--out", type=Path, help="write the per-attack table to this CSV")
    args = parser.parse_args()
    params = load_parameters(ROOT / "conf", args.env)
    run = run_config(params)
    dataset = data_split.load(run)
    table = data_split.split(dataset, run)

    started = time.perf_counter()
    dense = train_victim_and_shadows(dataset, table, run, "dense")
    base = train_victim_and_shadows(
        dataset, table, run, "iterative", start_states=dense.states, every_round=False
    )
    print(f"training and pruning: {time.perf_counter() - started:.1f} s")

    attacks = {**params["attacks"], "names": list(ATTACKS)}
    stages = {"dense": last_round(dense.outputs), "base": last_round(base.outputs)}
    metrics, _ = evaluate_stages(stages, table, dataset.labels, attacks, run.seed)
    wide = metrics.pivot(index="attack", columns="stage", values=["auc", "tpr_at_1pct_fpr"])
    wide.columns = [f"{stage}_{metric}" for metric, stage in wide.columns]
    wide["seconds"] = metrics.groupby("attack")["seconds"].mean()
    wide = wide.loc[list(ATTACKS)]
    victim = victim_history(base.history).iloc[-1]
    print(
        f"\n{dataset.name}: {int(metrics['members'].iloc[0])} members vs as many non-members; "
        f"Base-pruned victim test accuracy {victim['test_accuracy']:.3f} at sparsity "
        f"{victim['sparsity']:.2f}; seconds = calibrate on shadows + score victim, mean of "
        "the two stages"
    )
    columns = ["dense_auc", "dense_tpr_at_1pct_fpr", "base_auc", "base_tpr_at_1pct_fpr", "seconds"]
    print(wide[columns].to_string(float_format="{:.3f}".format))
    if args.out:
        wide.to_csv(args.out)

    features, _ = dataset_tensors(dataset, run.torch_device)
    model = restore_model(dataset, run.model, dense.states[VICTIM], run.torch_device)
    split = roles_of(table, VICTIM)
    scored = np.union1d(split["member"], split["test"])
    timings = {}
    for label, compute in (
        ("batched", lambda: input_sensitivity(model, features, scored)),
        ("per sample", lambda: sensitivity_per_sample(model, features, scored)),
    ):
        compute()  # warm-up
        started = time.perf_counter()
        compute()
        timings[label] = time.perf_counter() - started
    batched, looped = timings["batched"], timings["per sample"]
    print(
        f"\ninput sensitivity of the dense victim on {len(scored)} samples (10 perturbations): "
        f"batched {batched:.3f} s, one forward pass per sample and perturbation {looped:.3f} s, "
        f"speed-up {looped / batched:.1f}x"
    )


if __name__ == "__main__":
    main()
