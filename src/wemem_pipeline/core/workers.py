"""Share independent pieces of work (models, ensemble chunks, attacked stages) among forked
processes.

Every piece is seeded by what it is (a model by (seed, procedure, model, round), a chunk of
the mem-score ensemble by its first model, an attacked stage by the run's seed), never by the
order it runs in: the results, merged, are those of one process that did it all, as long as
each process uses the same number of torch threads (each worker gets its share of the cores).
A small MLP's step is fastest on one thread, so on 2 cores two workers nearly halve a run's
training and attack time.

Workers are forked: they inherit the data instead of receiving a pickled copy, and only
their results travel back. They draw no progress bars (:mod:`.progress`); each reports its
finished steps (:func:`step_done`) and this process counts them on one bar. On a GPU, or
inside a daemonic process (a Dask worker), everything runs in this process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any, TypeVar

import torch

from .progress import ProgressBar
from .threads import available_cores, limit_cores

Item = TypeVar("Item")
Result = TypeVar("Result")
# What the forked workers run: the task and the shares of the items.
_JOB: tuple[Callable[[list[Any]], Any], list[list[Any]]] | None = None
_STEPS: Any = None  # the queue a worker reports its finished steps on


def worker_count(setting: int | str, pieces: int, on_gpu: bool) -> int:
    """``auto``: one worker per core on the CPU (at most one per piece), one on a GPU."""
    if setting == "auto":
        return 1 if on_gpu else max(1, min(available_cores(), pieces))
    return max(1, min(int(setting), pieces))


def can_fork() -> bool:
    """Whether this process may start worker processes (not a daemon, fork available)."""
    return (
        not multiprocessing.current_process().daemon
        and "fork" in multiprocessing.get_all_start_methods()
    )


def deal(items: Sequence[Item], workers: int) -> list[list[Item]]:
    """``items`` dealt out in turn into ``workers`` shares (fewer when there are fewer items)."""
    return [list(items[start::workers]) for start in range(min(workers, len(items)))]


def in_workers(
    task: Callable[[list[Item]], Result],
    items: Sequence[Item],
    workers: int,
    *,
    steps: int = 0,
    description: str = "",
) -> list[tuple[list[Item], Result]]:
    """Each share of ``items`` (:func:`deal`) with ``task`` of it, run in ``workers`` forked
    processes (in this process, as one share, when there is one or this process cannot fork).

    ``steps`` is how many times all the shares together call :func:`step_done`; this process
    counts them on a bar labelled ``description``.
    """
    shares = deal(items, workers)
    if len(shares) <= 1 or not can_fork():
        return [(list(items), task(list(items)))]
    # A process's first optimizer imports torch._dynamo (about 1 s): once here, not in every
    # worker of every stage.
    import torch._dynamo  # noqa: F401

    global _JOB, _STEPS
    context = multiprocessing.get_context("fork")
    _JOB, _STEPS = (task, shares), context.SimpleQueue()
    cores = max(1, available_cores() // len(shares))
    try:
        with ProcessPoolExecutor(
            len(shares), mp_context=context, initializer=_start_worker, initargs=(cores,)
        ) as pool:
            futures = [pool.submit(_run_share, index) for index in range(len(shares))]
            _count_steps(futures, steps, description)
            return [(share, future.result()) for share, future in zip(shares, futures, strict=True)]
    finally:
        _JOB = _STEPS = None


def step_done() -> None:
    """In a worker of :func:`in_workers`: one more step finished (for the parent's bar)."""
    if _STEPS is not None and multiprocessing.parent_process() is not None:
        _STEPS.put(None)


def _count_steps(futures: list, steps: int, description: str) -> None:
    """Count the workers' finished steps on a bar until every future is done (or failed)."""
    bar = ProgressBar(range(steps), description, show=steps > 0)
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
            while not _STEPS.empty():
                _STEPS.get()
                bar.update()
            if any(future.exception() for future in done):
                return
    finally:
        bar.close()


def _start_worker(cores: int) -> None:
    # This process's thread setting (threads.use_threads), capped at the worker's share.
    limit_cores(cores)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), cores)))


def _run_share(index: int) -> Any:
    task, shares = _JOB
    return task(shares[index])
