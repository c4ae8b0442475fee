"""How long a run will take, estimated before its first node (an order of magnitude).

The estimate times a few real training steps (and one forward pass) of the run's model on a
batch of the run's data, on the run's device with its threads, and multiplies them by the
work the run's pipelines imply: every model's training steps (members / batch size, per
epoch) in dense training, in every pruning procedure (rounds x epochs per round), in every
scenario's defended pruning, in each Feldman mem-score model, in every run of ``compare``'s
grid, in autotune's trials and in the audit's models; the forward passes that record each
model's outputs after every round; and, for every attacked stage, the training steps of SAMIA
(timed the same way), by far the slowest attack. Everything but autotune's trials is divided
among the processes that share it (``workers``, ``audit.workers``). Every epoch is
counted, so early stopping makes runs shorter than estimated; the other attacks and the
costlier steps of some baselines (DP-SGD's per-example gradients, AdvReg's inner steps) come
on top.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .attacks.samia import SAMIA
from .audit import AuditConfig, label_noise_probe
from .autotune import AutotuneConfig
from .compare import compared_defenses, comparison_runs
from .datasets import Dataset
from .defenses import AUTO
from .defenses.dpsgd import DPSGDConfig
from .run_config import RunConfig
from .splits import VICTIM, pool_samples, role_counts
from .training import TrainConfig, make_optimizer
from .validation import from_mapping
from .workers import worker_count

LONG_SECONDS = 600  # a run estimated longer than this is announced
_PROBE_SECONDS = 0.2  # timed steps stop after this long (at least one is timed)
_PROBE_STEPS = 5
_SENSITIVITY_DRAWS = 10  # forward passes per scored sample for the input sensitivity
# What the estimate counts (the last part of a dataset name): a run that makes none is quick.
_COSTLY = (
    "dense_models",
    "iterative_models",
    "one_shot_models",
    "defended_models",
    "victim_mem_scores",
    "shadow_mem_scores",
    "compare_table",
    "tuned_settings",
    "attack_metrics",
    "audit_metrics",
    "compare_audit_metrics",
)


@dataclass(frozen=True)
class Part:
    """One kind of work of a run: its seconds and the settings that multiply it."""

    what: str
    seconds: float
    drivers: tuple[str, ...]


@dataclass(frozen=True)
class Probe:
    """What one unit of each kind of work took: a training step of the run's model, a
    forward pass per sample, a training step of SAMIA."""

    step: float
    sample: float
    samia_step: float


@dataclass(frozen=True)
class RunTimeEstimate:
    """The run's parts, from the timed :class:`Probe`."""

    probe: Probe
    parts: tuple[Part, ...]

    @property
    def seconds(self) -> float:
        return sum(part.seconds for part in self.parts)

    @property
    def is_long(self) -> bool:
        return self.seconds > LONG_SECONDS

    def sentence(self) -> str:
        """One line: the estimate, the parts that make most of it and their settings."""
        parts = sorted(self.parts, key=lambda part: -part.seconds)
        main = [part for part in parts if part.seconds >= 0.1 * self.seconds][:3]
        shares = ", ".join(f"{part.what} {part.seconds / self.seconds:.0%}" for part in main)
        drivers = list(dict.fromkeys(driver for part in main for driver in part.drivers))
        return (
            f"This run may take about {duration(self.seconds)} ({shares}): a training step "
            f"of its model on its data took {self.probe.step * 1e3:.2g} ms here, times every "
            "epoch its pipelines train (early stopping shortens it). Main drivers: "
            f"{', '.join(drivers)}."
        )


def duration(seconds: float) -> str:
    """``"3 hours"``-style text for an order of magnitude."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} seconds"


def estimate_run_time(
    parameters: Mapping[str, Any],
    config: RunConfig,
    dataset: Dataset,
    splits: pd.DataFrame,
    outputs: Iterable[str],
) -> RunTimeEstimate:
    """The estimate for a run of the pipelines that make ``outputs`` (dataset names, in any
    namespace) with ``splits`` (the run's split table)."""
    made = _made(outputs)
    if not any(made[artifact] for artifact in _COSTLY):
        return RunTimeEstimate(Probe(0.0, 0.0, 0.0), ())
    attacks = dict(parameters.get("attacks") or {})
    samia = SAMIA(**(attacks.get("samia") or {}))
    probe = time_work(config, dataset, samia)
    work = _Work(config, splits, probe)
    pruning = config.pruning
    fine_tuning = pruning.rounds * pruning.epochs_per_round
    shadows, rounds = _drivers(config)
    parts = _training_parts(made, work, config)
    if config.memorability.method != "import":
        pools = made["victim_mem_scores"] + made["shadow_mem_scores"]
        parts.append(Part("mem-scores", pools * work.mem_scores(), _mem_drivers(config)))
    runs, own_dense = _compare_runs(parameters.get("compare") or {})
    if not made["compare_table"]:
        runs, own_dense = 0, 0
    compare_work = (runs + 1) * work.procedure(fine_tuning, 1)
    compare_work += own_dense * work.procedure(config.training.max_epochs, 0)
    parts.append(
        Part(
            "compare",
            made["compare_table"] * compare_work,
            (f"compare grid: {runs} runs", shadows, *rounds),
        )
    )
    if made["tuned_settings"]:
        autotune = from_mapping(AutotuneConfig, "autotune", parameters.get("autotune"))
        drivers = (
            f"autotune.n_trials={autotune.n_trials}",
            f"autotune.num_models={autotune.num_models}",
            *rounds,
        )
        parts.append(Part("autotune", made["tuned_settings"] * work.autotune(autotune), drivers))
    audited = _audited_runs(parameters, made)
    if audited:
        audit = from_mapping(AuditConfig, "audit", parameters.get("audit"))
        label_noise = label_noise_probe(audit, attacks)
        queries = label_noise.draws * len(label_noise.scales) if label_noise else 0
        drivers = (f"audit.num_models={audit.num_models}", f"{audited} audited runs", *rounds)
        parts.append(Part("audit", work.audit(audit, audited, queries), drivers))
    if "samia" in attacks.get("names", ["samia"]):
        # Stages attacked: dense, one-shot and every round; a scenario's dense, Base and
        # every defended round; compare's Dense, Base and every run.
        stages = made["attack_metrics"] * (2 + pruning.rounds) + made["compare_table"] * (runs + 2)
        drivers = (
            shadows,
            f"attacks.samia.epochs={samia.epochs}",
            f"pruning.rounds={pruning.rounds}",
        )
        parts.append(Part("attacks (SAMIA)", stages * work.samia(samia), drivers))
    return RunTimeEstimate(probe, tuple(part for part in parts if part.seconds > 0))


def _training_parts(made: Counter, work: _Work, config: RunConfig) -> list[Part]:
    """Dense training and the three pruning procedures, each as often as the run makes it."""
    pruning, training = config.pruning, config.training
    fine_tuning = pruning.rounds * pruning.epochs_per_round
    shadows, rounds = _drivers(config)
    return [
        Part(
            "dense training",
            made["dense_models"] * work.procedure(training.max_epochs, 1),
            (shadows, f"training.max_epochs={training.max_epochs}"),
        ),
        Part(
            "iterative pruning",
            made["iterative_models"] * work.procedure(fine_tuning, pruning.rounds),
            (shadows, *rounds),
        ),
        Part(
            "one-shot pruning",
            made["one_shot_models"] * work.procedure(fine_tuning, 1),
            (shadows, *rounds),
        ),
        Part(
            "defended pruning",
            made["defended_models"] * work.procedure(fine_tuning, pruning.rounds),
            (shadows, *rounds),
        ),
    ]


def _drivers(config: RunConfig) -> tuple[str, tuple[str, str]]:
    """The settings that multiply every model's training, as the estimate names them."""
    pruning = config.pruning
    rounds = (
        f"pruning.rounds={pruning.rounds}",
        f"pruning.epochs_per_round={pruning.epochs_per_round}",
    )
    return f"split.num_shadows={config.split.num_shadows}", rounds


def time_work(config: RunConfig, dataset: Dataset, samia: SAMIA) -> Probe:
    """Time a training step (Adam or SGD on ``training.batch_size`` samples) and a forward
    pass of the run's model on its data and device, and a training step of ``samia``."""
    device = config.torch_device
    batch = min(config.training.batch_size, dataset.num_samples)
    with torch.random.fork_rng(devices=[]):  # the run's random streams stay as they were
        model = config.model.build(dataset.input_shape, dataset.num_classes, seed=0).to(device)
        inputs = torch.as_tensor(dataset.features[:batch], device=device)
        labels = torch.as_tensor(dataset.labels[:batch], device=device)
        step = _timed(_training_step(model, inputs, labels, config.training), device)
        model.eval()
        with torch.no_grad():
            forward = _timed(lambda: model(inputs), device) / batch
        network = samia.new_network(dataset.num_classes)  # SAMIA trains on the CPU
        tokens = torch.rand(samia.batch_size, dataset.num_classes, 3)
        targets = (torch.rand(samia.batch_size) < 0.5).float()
        samia_step = _timed(_training_step(network, tokens, targets), torch.device("cpu"))
    return Probe(step, forward, samia_step)


def _training_step(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    training: TrainConfig | None = None,
) -> Callable[[], None]:
    """One optimizer step on ``inputs``: cross-entropy with the run's optimizer, or SAMIA's
    (Adam, binary cross-entropy) without ``training``."""
    if training is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.BCEWithLogitsLoss()
    else:
        optimizer = make_optimizer(list(model.parameters()), training)
        loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _timed(work: Callable[[], object], device: torch.device) -> float:
    """Mean seconds of ``work()`` after one untimed call (first calls allocate)."""
    work()
    _synchronize(device)
    start, count = time.perf_counter(), 0
    while count < _PROBE_STEPS and (count == 0 or time.perf_counter() - start < _PROBE_SECONDS):
        work()
        count += 1
    _synchronize(device)
    return (time.perf_counter() - start) / count


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Work:
    """Seconds of the kinds of work a run does, from the timed :class:`Probe`."""

    def __init__(self, config: RunConfig, splits: pd.DataFrame, probe: Probe):
        self.config, self.splits, self.probe = config, splits, probe
        self.roles = role_counts(splits)  # members, dev and test samples per model
        self.all_samples = splits["sample_index"].nunique()
        # The processes that share a stage's models (``workers``), no more than its models.
        self.workers = min(config.worker_processes, len(self.roles))

    def steps(self, samples: float) -> int:
        return math.ceil(samples / self.config.training.batch_size)

    def procedure(self, epochs: int, recorded_rounds: int) -> float:
        """Every model trained ``epochs`` epochs on its members, its outputs recorded after
        ``recorded_rounds`` rounds, the models shared among the workers."""
        batches = np.ceil(self.roles["member"] / self.config.training.batch_size)
        steps = float(batches.sum()) * epochs * self.probe.step
        return (steps + recorded_rounds * self.outputs()) / self.workers

    def outputs(self) -> float:
        """Recording every model's outputs once: logits of every sample and the input
        sensitivity of its scored ones."""
        scored = int((self.roles["member"] + self.roles["test"]).sum())
        forwards = len(self.roles) * self.all_samples + _SENSITIVITY_DRAWS * scored
        return forwards * self.probe.sample

    def samia(self, samia: SAMIA) -> float:
        """SAMIA fitted on one stage's shadows: every epoch over nine tenths of their balanced
        member and non-member sets (early stopping not counted); the workers share the
        stages."""
        shadows = self.roles.drop(index=VICTIM, errors="ignore")
        tokens = int(2 * np.minimum(shadows["member"], shadows["test"]).sum())
        steps = math.ceil(0.9 * tokens / samia.batch_size) * samia.epochs
        return steps * self.probe.samia_step / self.workers

    def mem_scores(self, workers: int | None = None) -> float:
        """One pool's mem-scores, its models counted as if trained one by one (the batched
        ensemble is up to a few times faster), its chunks shared among ``workers`` (default:
        the run's)."""
        memorability = self.config.memorability
        epochs = memorability.epochs or self.config.training.max_epochs
        pool = len(pool_samples(self.splits, VICTIM))
        if memorability.method == "loss_proxy":
            return self.steps(pool) * epochs * self.probe.step
        steps = self.steps(memorability.subset_fraction * pool) * epochs
        chunks = math.ceil(memorability.num_models / memorability.chunk_size)
        workers = min(workers or self.config.worker_processes, chunks)
        return memorability.num_models * steps * self.probe.step / workers

    def audit(self, audit: AuditConfig, runs: int, label_queries: int) -> float:
        """The audit's models, each on half of the audited records (the victim's members and
        scored non-members): dense, then every run's pruning, the outputs recorded after each
        (with ``label_queries`` noisy queries per scored record), shared among the workers;
        and the mem-scores of the records with their canaries."""
        pruning, training = self.config.pruning, self.config.training
        records = int(self.roles.loc[VICTIM, "member"] + self.roles.loc[VICTIM, "test"])
        epochs = training.max_epochs + runs * pruning.rounds * pruning.epochs_per_round
        steps = audit.num_models * self.steps(records / 2) * epochs * self.probe.step
        forwards = self.all_samples + (_SENSITIVITY_DRAWS + label_queries) * records
        recording = audit.num_models * (1 + runs) * forwards * self.probe.sample
        on_gpu = self.config.torch_device.type != "cpu"
        workers = worker_count(audit.workers, audit.num_models, on_gpu)
        return (steps + recording) / workers + self.mem_scores(workers)

    def autotune(self, autotune: AutotuneConfig) -> float:
        """The tuning models' dense training and every trial's pruning of them (each on
        half of the victim's members, or of ``pool_fraction`` of them)."""
        members = self.roles.loc[VICTIM, "member"] * autotune.pool_fraction / 2
        pruning, training = self.config.pruning, self.config.training
        per_model = self.steps(members) * self.probe.step
        dense = autotune.num_models * per_model * training.max_epochs
        trials = autotune.n_trials * autotune.num_models * per_model
        return dense + trials * pruning.rounds * pruning.epochs_per_round


def _audited_runs(parameters: Mapping[str, Any], made: Counter) -> int:
    """The defense settings the run audits: ``audit.defenses``, and with ``compare.audit``
    Base and every run of the comparison."""
    audited = made["audit_metrics"] * len((parameters.get("audit") or {}).get("defenses") or {})
    compare = parameters.get("compare") or {}
    if made["compare_audit_metrics"] and compare.get("audit") is True:
        audited += made["compare_audit_metrics"] * (_compare_runs(compare)[0] + 1)
    return audited


def _made(outputs: Iterable[str]) -> Counter[str]:
    """How often the run makes each artifact (once per seed branch, once per scenario), by
    the last part of its name."""
    return Counter(name.rsplit(".", 1)[-1] for name in outputs)


def _compare_runs(compare: Mapping[str, Any]) -> tuple[int, int]:
    """The runs of ``compare``'s grid (tuned settings count as one run per defense), and how
    many of them train a dense model of their own (DP-SGD over the whole training)."""
    tuned = compare.get("tuned", False)
    defenses = compared_defenses(compare) or {}
    runs = comparison_runs({d: {} if tuned or s == AUTO else s for d, s in defenses.items()})
    section = "compare.defenses.dpsgd"
    own_dense = sum(
        defense == "dpsgd" and from_mapping(DPSGDConfig, section, settings).trains_dense
        for _, defense, settings in runs
    )
    return len(runs), own_dense


def _mem_drivers(config: RunConfig) -> tuple[str, ...]:
    memorability = config.memorability
    epochs = memorability.epochs or config.training.max_epochs
    if memorability.method == "loss_proxy":
        return (f"memorability.epochs={epochs}",)
    return (f"memorability.num_models={memorability.num_models}", f"memorability.epochs={epochs}")
