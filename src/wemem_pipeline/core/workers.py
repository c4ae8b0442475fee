"""Train the models of a split table in several processes, one group of models each.

A model's initialisation and batches are seeded by (seed, procedure, model, round), so it
trains the same in whichever process and beside whichever models: the groups' results,
merged, are those of one process that trained them all, as long as each process uses the
same number of torch threads (``workers`` gives each its share of the cores). The audit
trains dozens of small models, and an MLP step is fastest on one thread, so on 2 cores two
workers nearly halve its training time.

Workers are forked: they inherit the data instead of receiving a pickled copy, and only
their results travel back. On a GPU, or inside a daemonic process (a Dask worker), the
models train in this process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import pandas as pd

from .splits import model_names
from .threads import available_cores, limit_cores, use_threads

T = TypeVar("T")
# What the forked workers run: (train, the groups' tables, threads setting, model name).
_JOB: tuple[Callable[[pd.DataFrame], object], list[pd.DataFrame], int | str, str] | None = None


def worker_count(setting: int | str, models: int, on_gpu: bool) -> int:
    """``auto``: one worker per core on the CPU (at most one per model), one on a GPU."""
    if setting == "auto":
        return 1 if on_gpu else max(1, min(available_cores(), models))
    return max(1, min(int(setting), models))


def can_fork() -> bool:
    """Whether this process may start worker processes (not a daemon, fork available)."""
    return (
        not multiprocessing.current_process().daemon
        and "fork" in multiprocessing.get_all_start_methods()
    )


def model_groups(table: pd.DataFrame, workers: int) -> list[pd.DataFrame]:
    """``table`` split into ``workers`` tables of whole models, dealt out in turn."""
    names = model_names(table)
    groups = [names[start::workers] for start in range(min(workers, len(names)))]
    return [table[table["model"].isin(group)] for group in groups]


def train_in_workers(
    train: Callable[[pd.DataFrame], T],
    table: pd.DataFrame,
    workers: int,
    threads: int | str,
    model_name: str,
) -> list[T]:
    """``train`` of each group of :func:`model_groups`, in ``workers`` forked processes
    (in this process when ``workers`` is 1 or this process cannot fork)."""
    groups = model_groups(table, workers)
    if len(groups) == 1 or not can_fork():
        return [train(table)]
    global _JOB
    _JOB = (train, groups, threads, model_name)
    share = max(1, available_cores() // len(groups))
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            len(groups), mp_context=context, initializer=_start_worker, initargs=(share,)
        ) as pool:
            return list(pool.map(_train_group, range(len(groups))))
    finally:
        _JOB = None


def _start_worker(cores: int) -> None:
    limit_cores(cores)
    train, _, threads, model_name = _JOB
    use_threads(threads, model_name)


def _train_group(index: int) -> object:
    train, groups, _, _ = _JOB
    return train(groups[index])
