"""Fixtures shared by the unit tests (``tests/core``) and the end-to-end tests
(``tests/pipelines``).

Test files import the helpers of ``kedro_project.py`` directly: pytest's default "prepend"
import mode puts this folder (the rootdir conftest's) on ``sys.path``.

An end-to-end test should not pay for a ``kedro run`` another test already made: read the
artifacts of ``finished_run`` (the default pipeline) or ``seed_run`` (scenario3 over two
seeds), and copy one into a project of your own (``project_copy`` and ``shutil.copytree`` of
its ``data/``) before running ``kedro`` on it. A fixture that makes runs several tests read
goes through ``made_once``, so that the test session makes it once, whichever worker
process (pytest-xdist) asks first (tests/README.md).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from kedro_project import CONF, finished_kedro_run, made_once, project_copy, with_seeds

from wemem_pipeline.core.datasets import Dataset, load_dataset
from wemem_pipeline.core.splits import SplitConfig, split_samples
from wemem_pipeline.runs.parameters import load_parameters

# ----------------------------------------------------------------------------- torch


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny matmuls: a second intra-op thread only adds contention (and waits on 2 cores).

    Module-scoped, so a module-scoped fixture that trains can ask for it too.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- parameters


@pytest.fixture(scope="session")
def _shipped_parameters() -> dict[str, Any]:
    return load_parameters(CONF)


@pytest.fixture
def base_parameters(_shipped_parameters: dict[str, Any]) -> dict[str, Any]:
    """The project's ``conf/base`` parameters, a fresh copy for each test to change."""
    return copy.deepcopy(_shipped_parameters)


# ----------------------------------------------------------------------------- data


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """sklearn's digits (1797 8x8 images, 10 classes), offline."""
    return load_dataset("digits")


TOY_SAMPLES, TOY_TEST, TOY_FEATURES, TOY_CLASSES = 240, 60, 8, 3


@pytest.fixture(scope="session")
def toy_dataset() -> Dataset:
    """240 samples (the last 60 the test part), 8 Gaussian features around 3 class centers."""
    rng = np.random.default_rng(0)
    labels = (np.arange(TOY_SAMPLES) % TOY_CLASSES).astype(np.int64)
    centers = rng.normal(size=(TOY_CLASSES, TOY_FEATURES))
    features = (centers[labels] + rng.normal(size=(TOY_SAMPLES, TOY_FEATURES))).astype(np.float32)
    is_test = np.arange(TOY_SAMPLES) >= TOY_SAMPLES - TOY_TEST
    class_names = tuple(f"c{c}" for c in range(TOY_CLASSES))
    return Dataset("toy", features, labels, is_test, class_names)


@pytest.fixture(scope="session")
def toy_splits(toy_dataset: Dataset) -> pd.DataFrame:
    """The toy dataset's split table: the victim and two shadows."""
    return split_samples(toy_dataset.is_test, SplitConfig(num_shadows=2), seed=0)


ScoreTable = Callable[[np.ndarray, np.ndarray], pd.DataFrame]


def _score_table(samples: np.ndarray, raw: np.ndarray) -> pd.DataFrame:
    normalized = pd.Series(raw).rank(method="average").to_numpy() / len(raw)
    return pd.DataFrame({"sample_index": samples, "raw_score": raw, "score": normalized})


@pytest.fixture(scope="session")
def score_table() -> ScoreTable:
    """``score_table(samples, raw)``: a mem-score table as the memorability pipeline writes
    it (``sample_index``, ``raw_score`` and its rank-normalized ``score``)."""
    return _score_table


# ----------------------------------------------------------------------------- Kedro runs

# kedro-mlflow (the ``mlflow`` extra, which CI installs) would track every run of the suite and
# create an MLflow store in each project copy, seconds each: off, but in test_tracking.py.
os.environ["WEMEM_TRACKING"] = "off"


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy after ``kedro run --env=test``: the default pipeline, every scenario
    and the comparison included. One run for the whole session (``made_once``); tests that
    run more copy its ``data/`` into a project of their own rather than write here."""
    return made_once(
        tmp_path_factory, "default", lambda folder: finished_kedro_run(project_copy(folder))
    )


@pytest.fixture(scope="session")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``kedro run --pipeline=scenario3`` with ``evaluation.seeds: [0, 2]``, once per session;
    tests read it and copy it to run more."""

    def make(folder: Path) -> Path:
        return finished_kedro_run(with_seeds(project_copy(folder)), "--pipeline=scenario3")

    return made_once(tmp_path_factory, "seeds", make)
