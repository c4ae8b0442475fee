"""RMIA's gamma, measured: strength of offline and online RMIA for several gammas.

RMIA scores a sample by the share of population samples whose likelihood ratio its own
exceeds by a factor ``gamma``. This script measures what gamma does, where the project uses
RMIA, on Base-pruned models:

- the main pipelines: offline RMIA against the victim with the run's shadows (population
  AUC and TPR@1%FPR of the victim, and how many distinct scores the victim's set gets);
- the audit: offline and online RMIA over ``--models`` audit models, each the target in turn
  (pooled population and canary metrics; intervals resample targets and records).

Canary TPR@0.1%FPR needs about 1000 canary non-member pairs, which digits' 16 models do not
give: read it only where the pairs resolve it.

    python benchmarks/rmia_gamma.py                    # digits (conf/base), 16 audit models
    python benchmarks/rmia_gamma.py --env fmnist --models 8
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from wemem_pipeline.core import audit
from wemem_pipeline.core.attacks import build_attack
from wemem_pipeline.core.evaluation import last_round
from wemem_pipeline.core.metrics import METRIC_NAMES, bootstrap_intervals, membership_metrics
from wemem_pipeline.core.run_config import run_config
from wemem_pipeline.core.splits import VICTIM
from wemem_pipeline.core.victim_and_shadows import train_victim_and_shadows
from wemem_pipeline.pipelines.data_split import nodes as data_split
from wemem_pipeline.runs.parameters import load_parameters

ROOT = Path(__file__).resolve().parents[1]
GAMMAS = (0.5, 1.0, 2.0, 4.0)
RESAMPLES = 500
INTERVALS = ("auc", "tpr_at_1pct_fpr")  # the 95% intervals printed
ENDS = ("low", "high")


def interval(low: float, high: float) -> str:
    return f"[{low:.3f}, {high:.3f}]"


def base_pruned(dataset, table, run):
    """The models of ``table`` trained dense, then pruned iteratively without a defense."""
    dense = train_victim_and_shadows(dataset, table, run, "dense")
    base = train_victim_and_shadows(
        dataset, table, run, "iterative", start_states=dense.states, every_round=False
    )
    return last_round(base.outputs)


def main_pipeline_rows(dataset, table, run, rmia_params) -> list[dict]:
    """Offline RMIA against the victim, one row per gamma."""
    outputs = base_pruned(dataset, table, run)
    shadows, scored = outputs.attack_sets(table, dataset.labels, run.seed, VICTIM)
    rows = []
    for gamma in GAMMAS:
        attack = build_attack("rmia", {**rmia_params, "gamma": gamma}).fit(shadows)
        result = attack.score(scored)
        metrics = membership_metrics(scored.is_member, result.scores, result.predicted_member)
        intervals = bootstrap_intervals(
            scored.is_member, result.scores, result.predicted_member, RESAMPLES, run.seed
        )
        rows.append(
            {
                "setting": "victim (offline, shadows)",
                "attack": "rmia",
                "gamma": gamma,
                "evaluation": "population",
                **{name: metrics[name] for name in METRIC_NAMES},
                **{f"{name}_ci": interval(*intervals[name]) for name in INTERVALS},
                "distinct_scores": len(np.unique(result.scores)),
            }
        )
    return rows


def audit_rows(dataset, splits, run, rmia_params, models: int) -> list[dict]:
    """Offline and online RMIA over the audit's Base-pruned models, one row per gamma."""
    config = audit.AuditConfig(num_models=models, attacks=("rmia",))
    records, dev, from_pool = audit.audited_records(splits)
    planted, canaries = audit.plant_canaries(
        dataset, records, config.canary_count(len(records)), run.seed
    )
    table = audit.audit_splits(records, dev, from_pool, config, run.seed)
    outputs = base_pruned(planted, table, run)
    rows = []
    for name in ("rmia", "rmia_online"):
        for gamma in GAMMAS:
            params = {name: {**(rmia_params if name == "rmia" else {}), "gamma": gamma}}
            chosen = dataclasses.replace(config, attacks=(name,))
            scores = audit.score_every_target(
                "base", outputs, table, planted.labels, params, chosen, run.seed
            )
            on_canaries = scores["sample_index"].isin(canaries)
            for evaluation, rows_of in (("population", scores), ("canaries", scores[on_canaries])):
                metrics = audit.pooled_metrics(rows_of, METRIC_NAMES, RESAMPLES, run.seed)
                rows.append(
                    {
                        "setting": f"audit ({models} models)",
                        "attack": name,
                        "gamma": gamma,
                        "evaluation": evaluation,
                        **{metric: metrics[metric] for metric in METRIC_NAMES},
                        **{
                            f"{name}_ci": interval(*(metrics[f"{name}_ci_{end}"] for end in ENDS))
                            for name in INTERVALS
                        },
                        "distinct_scores": rows_of["score"].nunique(),
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (default: base)")
    parser.add_argument("--models", type=int, default=16, help="audit models (default: 16)")
    parser.add_argument("--out", type=Path, help="write the table to this CSV")
    args = parser.parse_args()
    params = load_parameters(ROOT / "conf", args.env)
    run = run_config(params)
    dataset = data_split.load(run)
    splits = data_split.split(dataset, run)
    rmia_params = {key: value for key, value in params["attacks"]["rmia"].items() if key != "gamma"}

    started = time.perf_counter()
    rows = main_pipeline_rows(dataset, splits, run, rmia_params)
    rows += audit_rows(dataset, splits, run, rmia_params, args.models)
    table = pd.DataFrame(rows)
    print(
        f"\n{dataset.name}, seed {run.seed}, Base-pruned models; RMIA a = {rmia_params.get('a')} "
        f"offline; {time.perf_counter() - started:.0f} s\n"
    )
    print(table.to_string(index=False, float_format="{:.3f}".format))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
