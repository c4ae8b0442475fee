"""Per-sample memorability (mem-scores) of a pool of training samples.

Feldman & Zhang's estimator: train ``M`` models, each on a random fraction ``r`` of the pool;
a sample's score is its mean correctness under the models that trained on it minus that
under the models that did not. Atypical and mislabeled samples, which can only be fit by
memorizing them, score high. The models train together as one batched ensemble.

A score table has one row per pool sample: ``sample_index``, ``label``, ``raw_score`` (the
estimate), ``score`` (rank-normalized to [0, 1]), ``in_count``/``out_count`` (models that did
/ did not train on the sample) and ``std_error``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from .datasets import Dataset
from .ensemble import ModelEnsemble, fit_ensemble
from .errors import DataError
from .models import ModelSpec
from .seeds import derive_seed
from .training import TrainConfig, dataset_tensors, fit
from .validation import ParameterError, require_choice, require_int, require_number
from .workers import in_workers, step_done

logger = logging.getLogger(__name__)

METHODS = ("feldman", "loss_proxy", "import")
SCORE_COLUMNS = (
    "sample_index",
    "label",
    "raw_score",
    "score",
    "in_count",
    "out_count",
    "std_error",
)


@dataclass(frozen=True)
class MemorabilityConfig:
    """How mem-scores are obtained; ``epochs`` None means ``training.max_epochs``;
    ``stop_when_fitted``: a Feldman chunk stops early once its models fit their subsets."""

    method: str = "feldman"
    num_models: int = 32
    subset_fraction: float = 0.7
    epochs: int | None = None
    stop_when_fitted: bool = True
    chunk_size: int = 16
    victim_scores_path: str | None = None
    shadow_scores_path: str | None = None

    def __post_init__(self) -> None:
        require_choice("memorability.method", self.method, METHODS)
        require_int("memorability.num_models", self.num_models, 2)
        require_number(
            "memorability.subset_fraction",
            self.subset_fraction,
            0,
            1,
            low_inclusive=False,
            high_inclusive=False,
        )
        if self.epochs is not None:
            require_int("memorability.epochs", self.epochs, 1)
        if not isinstance(self.stop_when_fitted, bool):
            raise ParameterError(
                "memorability.stop_when_fitted must be true or false, got "
                f"{self.stop_when_fitted!r}"
            )
        require_int("memorability.chunk_size", self.chunk_size, 1)
        if self.method == "import":
            for name in ("victim_scores_path", "shadow_scores_path"):
                if not getattr(self, name):
                    raise ParameterError(
                        f"memorability.{name} must name a CSV file (index,score) when "
                        "memorability.method is 'import'"
                    )


def rank_normalize(values: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1]: 0 for the smallest value, 1 for the largest."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.zeros(len(values))
    return (rankdata(values, method="average") - 1.0) / (len(values) - 1.0)


def subset_masks(num_samples: int, num_models: int, fraction: float, seed: int) -> np.ndarray:
    """``(M, N)`` booleans: row k marks the samples model k trains on.

    Every sample is left out by ``k = round(M (1 - fraction))`` models (at least one, at most
    M - 1), or by k + 1 where equal subset sizes need it; independent subsets would only
    do that on average, and with few models some scores would be undefined. Each sample's
    left-out models are a random set, drawn among the models that leave out the fewest so far,
    so every model trains on the same number of samples, about ``fraction * N``.
    """
    rng = np.random.default_rng(seed)
    left_out = min(num_models - 1, max(1, round(num_models * (1 - fraction))))
    masks = np.ones((num_models, num_samples), dtype=bool)
    loads = np.zeros(num_models)
    for sample in rng.permutation(num_samples):
        # Least-loaded models first; random tie-breaking makes the sets random.
        chosen = np.lexsort((rng.random(num_models), loads))[:left_out]
        masks[chosen, sample] = False
        loads[chosen] += 1
    # Loads now differ by at most one: the models that left out one sample fewer leave out
    # one more, each a different sample, so no sample is left out more than k + 1 times.
    sizes = masks.sum(1)
    spare = [k for k in range(num_models) if sizes[k] > sizes.min()]
    candidates = rng.permutation(num_samples)
    used = np.zeros(num_samples, dtype=bool)
    for k in spare:
        sample = next(i for i in candidates if masks[k, i] and not used[i])
        masks[k, sample], used[sample] = False, True
    if not masks.any(0).all():
        raise ParameterError(
            f"with memorability.num_models={num_models} and memorability.subset_fraction="
            f"{fraction}, some of the {num_samples} samples would never be trained on; raise "
            "memorability.num_models or memorability.subset_fraction"
        )
    return masks


def feldman_estimate(correct: np.ndarray, included: np.ndarray) -> pd.DataFrame:
    """Mem-scores from per-model correctness ``(M, N)`` and training membership ``(M, N)``.

    Raises when some sample was never left out (or never kept in): its score is undefined.
    """
    correct, included = np.asarray(correct, dtype=float), np.asarray(included, dtype=bool)
    in_count, out_count = included.sum(0), (~included).sum(0)
    undefined = int(((in_count == 0) | (out_count == 0)).sum())
    if undefined:
        raise ParameterError(
            f"{undefined} samples were never held out (or never trained on) by any of the "
            f"{len(included)} models, so their mem-score is undefined; raise "
            "memorability.num_models"
        )
    p_in = (correct * included).sum(0) / in_count
    p_out = (correct * ~included).sum(0) / out_count
    std_error = np.sqrt(p_in * (1 - p_in) / in_count + p_out * (1 - p_out) / out_count)
    return pd.DataFrame(
        {
            "raw_score": p_in - p_out,
            "in_count": in_count,
            "out_count": out_count,
            "std_error": std_error,
        }
    )


def _score_table(pool: np.ndarray, labels: np.ndarray, estimate: pd.DataFrame) -> pd.DataFrame:
    table = estimate.assign(sample_index=pool, label=labels[pool])
    table["score"] = rank_normalize(table["raw_score"].to_numpy())
    return table[list(SCORE_COLUMNS)].reset_index(drop=True)


def feldman_scores(
    dataset: Dataset,
    pool: np.ndarray,
    spec: ModelSpec,
    training: TrainConfig,
    config: MemorabilityConfig,
    *,
    seed: int,
    device: torch.device,
    description: str = "mem-scores",
    workers: int = 1,
) -> pd.DataFrame:
    """Feldman & Zhang mem-scores of the samples ``pool``, from batched ensembles of
    ``config.chunk_size`` models, shared among ``workers`` processes (:mod:`.workers`)."""
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    features, labels = dataset_tensors(dataset, device)
    included = subset_masks(len(pool), config.num_models, config.subset_fraction, seed)
    epochs = config.epochs or training.max_epochs
    pool_features, pool_labels = features[torch.as_tensor(pool, device=device)], labels[pool]

    def correctness(chunks: list[slice]) -> list[np.ndarray]:
        """Each chunk's models' correctness on the pool, ``(models, N)``; a chunk is seeded by
        its first model, wherever it trains."""
        results = []
        for chunk in chunks:
            seeds = [seed * 100_003 + k for k in range(chunk.start, chunk.stop)]
            ensemble = ModelEnsemble(spec, dataset.input_shape, dataset.num_classes, seeds, device)
            subsets = np.stack([pool[mask] for mask in included[chunk]])
            models = f"{description} models {chunk.start}-{chunk.stop - 1}"
            epochs_run = fit_ensemble(
                ensemble,
                features,
                labels,
                subsets,
                training,
                epochs=epochs,
                seed=seed + chunk.start,
                description=models,
                stop_when_fitted=config.stop_when_fitted,
            )
            if epochs_run < epochs:
                logger.info(
                    "%s fit their subsets after %d of %d epochs", models, epochs_run, epochs
                )
            predictions = ensemble.predict_logits(pool_features).argmax(-1)
            results.append((predictions == pool_labels).cpu().numpy())
            step_done()
        return results

    starts = range(0, config.num_models, config.chunk_size)
    chunks = [slice(start, min(start + config.chunk_size, config.num_models)) for start in starts]
    shares = in_workers(
        correctness,
        chunks,
        workers,
        steps=len(chunks),
        description=f"{description} ensembles",
    )
    correct = np.zeros(included.shape, dtype=bool)
    for share, results in shares:
        for chunk, result in zip(share, results, strict=True):
            correct[chunk] = result
    return _score_table(pool, dataset.labels, feldman_estimate(correct, included))


def loss_proxy_scores(
    dataset: Dataset,
    pool: np.ndarray,
    spec: ModelSpec,
    training: TrainConfig,
    config: MemorabilityConfig,
    *,
    seed: int,
    device: torch.device,
    description: str = "loss proxy",
) -> pd.DataFrame:
    """A single-run proxy: each sample's training loss summed over the epochs of one model.

    Samples the model learns late (or never) accumulate loss. At ``1/M`` of the Feldman
    estimate's cost it finds clearly memorized (e.g. mislabeled) samples as well, but orders
    the typical ones differently (see the README for the measured correlation).
    """
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    features, labels = dataset_tensors(dataset, device)
    cumulative = torch.zeros(len(dataset.labels), device=device)

    def accumulate(indices: torch.Tensor, losses: torch.Tensor) -> None:
        cumulative.index_add_(0, indices, losses)

    epochs = config.epochs or training.max_epochs
    model = spec.build(dataset.input_shape, dataset.num_classes, seed).to(device)
    fit(
        model,
        features,
        labels,
        pool,
        None,
        dataclasses.replace(training, max_epochs=epochs),
        seed=seed,
        description=description,
        on_sample_losses=accumulate,
    )
    estimate = pd.DataFrame(
        {
            "raw_score": cumulative[torch.as_tensor(pool, device=device)].cpu().numpy(),
            "in_count": epochs,
            "out_count": 0,
            "std_error": np.nan,
        }
    )
    return _score_table(pool, dataset.labels, estimate)


# Imported scores are read as raw mem-scores: Feldman & Zhang's estimate is a difference of
# two probabilities, in [-1, 1]; the public score files are rescaled to [0, 1], inside it.
# ``risky.scale: raw`` thresholds are read on this scale.
RAW_SCALE = (-1.0, 1.0)
_SCORE_FILE_HINT = "give a CSV file with a header line 'index,score' and one row per sample"


def score_file(path: str | Path, parameter: str | None = None) -> str:
    """How messages name a score file: ``memorability.victim_scores_path: mem-score file ...``."""
    return f"{parameter}: mem-score file {path}" if parameter else f"mem-score file {path}"


def read_scores(path: str | Path, parameter: str | None = None) -> pd.Series:
    """The scores of a CSV file with columns ``index,score`` (the public format), by dataset
    row. Refuses, naming ``parameter`` and the file, anything but one finite score in
    :data:`RAW_SCALE` per integer index."""
    path = Path(path)
    where = score_file(path, parameter)
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise DataError(f"{where} {what}", hint=_SCORE_FILE_HINT)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"{where} cannot be read as a CSV table ({reason})", hint=_SCORE_FILE_HINT
        ) from None
    missing_columns = {"index", "score"} - set(table.columns)
    if missing_columns:
        raise DataError(
            f"{where} needs columns index,score; missing {sorted(missing_columns)}"
            f" (found {list(table.columns)[:5]})",
            hint=_SCORE_FILE_HINT,
        )
    scores = pd.to_numeric(table["score"], errors="coerce")
    if scores.isna().any():
        bad = table.loc[scores.isna(), "index"].head(5).tolist()
        raise DataError(f"{where} has missing or non-numeric scores at {bad}")
    if not np.isfinite(scores).all():
        bad = table.loc[~np.isfinite(scores), "index"].head(5).tolist()
        raise DataError(f"{where} has infinite scores at {bad}")
    indices = pd.to_numeric(table["index"], errors="coerce")
    not_integer = indices.isna() | (indices % 1 != 0)
    if not_integer.any():
        bad = table.loc[not_integer, "index"].head(5).tolist()
        raise DataError(f"{where} has non-integer indices {bad}")
    if indices.duplicated().any():
        twice = indices[indices.duplicated()].astype(np.int64).unique()[:5].tolist()
        raise DataError(f"{where} lists some indices twice (e.g. {twice})")
    low, high = RAW_SCALE
    outside = (scores < low) | (scores > high)
    if outside.any():
        raise DataError(
            f"{where} has {int(outside.sum())} scores outside [{low:g}, {high:g}] (they range "
            f"from {scores.min():g} to {scores.max():g}); mem-scores are read on the raw scale "
            "of Feldman & Zhang's estimate, a difference of two probabilities",
            hint="give scores in [-1, 1] (the estimate) or [0, 1] (the public files' scale); "
            "a file of another measure can be rank-normalized to [0, 1] first",
        )
    return pd.Series(scores.to_numpy(), index=indices.astype(np.int64).to_numpy())


def check_coverage(scores: pd.Series, pool: np.ndarray, where: str) -> None:
    """Refuse ``scores`` (by dataset row) that leave a sample of ``pool`` without a score."""
    pool = np.asarray(pool, dtype=np.int64)
    absent = np.setdiff1d(pool, scores.index.to_numpy())
    if len(absent):
        raise DataError(
            f"{where} has no score for {len(absent)} of the {len(pool)} pool "
            f"samples (e.g. indices {absent[:5].tolist()}); it must cover the whole pool",
            hint="score every sample of the pool (its indices are dataset rows; the split "
            "depends on seed and split.*), or use memorability.method=feldman",
        )


def import_scores(
    path: str | Path,
    pool: np.ndarray,
    labels: np.ndarray,
    parameter: str | None = None,
) -> pd.DataFrame:
    """The score table of ``pool`` from a CSV with columns ``index,score`` (:func:`read_scores`);
    every pool sample must have a score, rows of other samples are ignored."""
    scores = read_scores(path, parameter)
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    check_coverage(scores, pool, score_file(path, parameter))
    estimate = pd.DataFrame(
        {
            "raw_score": scores.loc[pool].to_numpy(),
            "in_count": 0,
            "out_count": 0,
            "std_error": np.nan,
        }
    )
    return _score_table(pool, labels, estimate)


def score_pool(
    dataset: Dataset,
    pool: np.ndarray,
    pool_name: str,
    config: MemorabilityConfig,
    spec: ModelSpec,
    training: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    workers: int = 1,
) -> pd.DataFrame:
    """Mem-scores of the samples ``pool`` of the ``victim`` or ``shadow`` pool.

    ``config.method`` picks the estimator (or the file to import); estimators train models
    of ``spec`` with ``training``, seeded from the run's ``seed`` and the pool's name; the
    Feldman estimate's ensembles are shared among ``workers`` processes.
    """
    if config.method == "import":
        parameter = f"memorability.{pool_name}_scores_path"
        path = getattr(config, f"{pool_name}_scores_path")
        return import_scores(path, pool, dataset.labels, parameter)
    arguments = {
        "seed": derive_seed(seed, "memorability", pool_name),
        "device": device,
        "description": f"{pool_name} pool {config.method}",
    }
    if config.method == "feldman":
        return feldman_scores(dataset, pool, spec, training, config, workers=workers, **arguments)
    return loss_proxy_scores(dataset, pool, spec, training, config, **arguments)


def score_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Distribution of raw scores per pool, overall and per class."""
    rows = []
    for pool, table in tables.items():
        groups = [("all", table)] + [(int(c), rows_) for c, rows_ in table.groupby("label")]
        for label, group in groups:
            raw = group["raw_score"]
            rows.append(
                {
                    "pool": pool,
                    "label": label,
                    "samples": len(group),
                    "mean": raw.mean(),
                    "std": raw.std(),
                    "min": raw.min(),
                    "q25": raw.quantile(0.25),
                    "median": raw.median(),
                    "q75": raw.quantile(0.75),
                    "q90": raw.quantile(0.9),
                    "max": raw.max(),
                }
            )
    return pd.DataFrame(rows)
