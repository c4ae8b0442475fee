"""What an audit model costs against the victim's training, in one process and in two.

Trains, with the project's parameters, (1) the victim and its shadows, dense then Base
iterative pruning, and (2) ``--models`` audit models (random halves of the victim pool with the
canaries, as ``kedro run --pipeline=audit`` makes them, queried on noisy inputs for
``label_noise`` too), dense then Base, first in one
process and then in ``--workers`` forked processes (``audit.workers``). Prints the seconds
per model of each, the ratios, and whether the workers' models equal the one process's.
The same script times the audit's pooled intervals (``evaluation.bootstrap`` resamples) on
the scores of those models.

    python benchmarks/audit_cost.py                          # digits (conf/base), 16 models
    python benchmarks/audit_cost.py --env fmnist --models 8
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from wemem_pipeline.core import audit
from wemem_pipeline.core.attacks import build_attack
from wemem_pipeline.core.metrics import METRIC_NAMES
from wemem_pipeline.core.run_config import run_config
from wemem_pipeline.core.splits import model_names
from wemem_pipeline.core.threads import use_threads
from wemem_pipeline.core.victim_and_shadows import train_victim_and_shadows
from wemem_pipeline.pipelines.data_split import nodes as data_split
from wemem_pipeline.runs.parameters import load_parameters

ROOT = Path(__file__).resolve().parents[1]


def timed(function):
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (default: base)")
    parser.add_argument("--models", type=int, default=16, help="audit models (default: 16)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    args = parser.parse_args()
    params = load_parameters(ROOT / "conf", args.env)
    run = run_config(params)
    threads = use_threads(run.threads, run.model.name)
    dataset = data_split.load(run)
    splits = data_split.split(dataset, run)

    # The victim trains beside its shadows, the same way: a model of theirs is the reference.
    def victim_and_shadows():
        dense = train_victim_and_shadows(dataset, splits, run, "dense")
        train_victim_and_shadows(
            dataset, splits, run, "iterative", start_states=dense.states, every_round=False
        )

    _, main_seconds = timed(victim_and_shadows)
    victim_seconds = main_seconds / len(model_names(splits))

    config = audit.AuditConfig(num_models=args.models)
    # The audit's models are also queried on noisy inputs (label_noise), as in the pipeline.
    label_noise = build_attack("label_noise", params["attacks"].get("label_noise"))
    records, dev, from_pool = audit.audited_records(splits)
    planted, _ = audit.plant_canaries(dataset, records, config.canary_count(len(records)), 0)
    table = audit.audit_splits(records, dev, from_pool, config, run.seed)
    base = [("base", "base", {})]
    per_workers = {}
    for workers in (1, args.workers):
        stages, seconds = timed(
            lambda workers=workers: audit.train_audit_models(
                planted, table, run, None, base, workers=workers, label_noise=label_noise
            )
        )
        per_workers[workers] = (stages, seconds)
    one, many = per_workers[1][0], per_workers[args.workers][0]
    same = all(
        np.array_equal(logits, many[stage].outputs.logits[name])
        for stage in one
        for name, logits in one[stage].outputs.logits.items()
    )

    scores, scoring = timed(
        lambda: audit.score_every_target(
            "base", one["base"].outputs, table, planted.labels, params["attacks"], config, run.seed
        )
    )
    population = scores[scores["attack"] == "lira_online"]
    _, intervals = timed(
        lambda: audit.pooled_metrics(population, METRIC_NAMES, run.evaluation.bootstrap, run.seed)
    )

    sequential = per_workers[1][1] / args.models
    parallel = per_workers[args.workers][1] / args.models
    print(
        f"\n{dataset.name}: {len(records)} audited records, {args.models} audit models, "
        f"{run.model.name}, {threads} torch thread(s) in one process; dense + Base pruning\n"
        f"  victim and shadows:           {victim_seconds:7.2f} s per model "
        f"({len(model_names(splits))} models)\n"
        f"  audit model, one process:     {sequential:7.2f} s per model "
        f"({sequential / victim_seconds:.2f} x the victim's)\n"
        f"  audit model, {args.workers} workers:       {parallel:7.2f} s per model "
        f"({parallel / victim_seconds:.2f} x the victim's; {sequential / parallel:.2f}x faster)\n"
        f"  the workers' models equal one process's: {same}\n"
        f"  scoring every target (all audit attacks): {scoring:.1f} s; pooled intervals of one "
        f"attack over {len(population)} rows ({run.evaluation.bootstrap} resamples): "
        f"{intervals:.1f} s"
    )


if __name__ == "__main__":
    main()
