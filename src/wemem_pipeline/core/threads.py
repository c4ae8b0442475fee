"""How many CPU threads torch uses: chosen for the size of the work, not the number of cores.

Measured on 2 cores (``benchmarks/busy_machine.py`` has the whole-run figures): an MLP step
on a batch of 64 is fastest on one thread (0.96 ms for digits' MLP against 1.83 ms on two;
6.5 ms against 7.4 ms for a 784-512-512 MLP), and a second thread that must wait for a core
another process holds makes it 3-6x slower. Convolutions are large enough to share: a
SmallCNN step on 28x28 images takes 49 ms on one thread and 37-39 ms on two.
"""

from __future__ import annotations

import os

from .validation import ParameterError

# Models whose steps are large enough for several threads to pay off.
_PARALLEL_MODELS = ("cnn", "resnet18")
_core_limit: int | None = None  # a parallel runner's worker shares the machine's cores
_set_in_process: int | None = None  # the process whose threads use_threads has set


def check_threads(value: object, name: str = "threads") -> int | str:
    """``threads`` (or a count of processes, ``name``) is ``auto`` or a positive integer."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ParameterError(f"{name} must be 'auto' or an integer >= 1, got {value!r}")


def thread_count(setting: int | str, model_name: str) -> int:
    """``auto``: one thread for MLPs, every core this process may use for convolutions; a
    number is capped at a runner's worker's share of the cores."""
    if setting != "auto":
        return min(int(setting), _core_limit or int(setting))
    if model_name not in _PARALLEL_MODELS:
        return 1
    return available_cores()


def available_cores() -> int:
    """The cores this process may use: its CPU affinity, or its share as a runner's worker."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return min(cores, _core_limit) if _core_limit else cores


def limit_cores(count: int | None) -> None:
    """Let this process use at most ``count`` cores (None: all): it is one of several
    workers."""
    global _core_limit
    _core_limit = count


def use_threads(setting: int | str, model_name: str) -> int:
    """Set torch's thread count for this process; returns it."""
    # Imported here: the runners import this module for every command, `kedro --help` too.
    import torch

    global _set_in_process
    count = thread_count(setting, model_name)
    torch.set_num_threads(count)
    _set_in_process = os.getpid()
    return count


def threads_set_here() -> bool:
    """Whether :func:`use_threads` ran in this very process (in a forked worker, the inherited
    record names the parent)."""
    return _set_in_process == os.getpid()
