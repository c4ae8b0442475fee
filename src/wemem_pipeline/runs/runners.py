"""Runners for independent branches (the seeds of a multi-seed run, and the nodes of one branch
that do not depend on each other): processes on one machine, or the workers of a Dask cluster.

    kedro run --pipeline=scenario3 --runner=wemem_pipeline.runs.runners.ParallelRunner
    kedro run --pipeline=scenario3 --runner=wemem_pipeline.runs.runners.DaskRunner \
        --runner-params=workers=2                       # a LocalCluster on this machine
    kedro run ... --runner=wemem_pipeline.runs.runners.DaskRunner \
        --runner-params=address=tcp://scheduler:8786    # a running cluster

Both give the same artifacts as Kedro's ``SequentialRunner`` for the same seed: every node
draws its randomness from the run's seed, never from the order in which nodes run. Both share
the machine's cores among their workers (:func:`~.core.threads.limit_cores`), since several
torch processes that each use every core slow each other down far more than they gain, and
both log each branch's progress as its nodes finish.

Datasets written to ``data/`` go through the catalog: on a cluster, every worker must see the
project's ``data/`` at the same path (a shared filesystem), or the catalog's file paths must
be fsspec URLs (``s3://``, ``gcs://``, ...) that every worker can reach.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import time
import traceback
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import kedro.framework.project as kedro_project
from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks
from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro.runner import AbstractRunner
from kedro.runner import ParallelRunner as KedroParallelRunner
from kedro.runner.task import Task

from ..core.errors import UserError
from ..core.threads import available_cores, limit_cores
from ..core.validation import require_int
from .run_options import CommandLineError
from .seed_branches import split_branch

log = logging.getLogger(__name__)

# How long a scheduler address may take to answer before the run is refused.
CONNECT_TIMEOUT_S = 5


class BranchProgress:
    """Counts finished nodes per branch (``seed_<s>``, or ``run`` outside one) and logs them."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.total = Counter(_branch_of(node) for node in pipeline.nodes)
        self.done: Counter = Counter()

    def finished(self, node: Node, where: str = "") -> str:
        """Record ``node`` as finished (``where``: on which worker, how long); returns the
        line that was logged."""
        name = _branch_of(node)
        self.done[name] += 1
        line = ", ".join(f"{b} {self.done[b]}/{n}" for b, n in sorted(self.total.items()))
        log.info("Finished %s%s; nodes done per branch: %s", node.name, where, line)
        return line


def _branch_of(node: Node) -> str:
    return split_branch(node.name)[0] or "run"


class ParallelRunner(KedroParallelRunner):
    """Kedro's ``ParallelRunner`` (one process per independent node, at most ``max_workers``)
    with the cores shared among the workers and progress per branch."""

    def _get_executor(self, max_workers: int) -> Executor:
        context = get_context(os.environ.get("KEDRO_MP_CONTEXT") or None)
        cores = max(1, available_cores() // max_workers)
        return ProcessPoolExecutor(
            max_workers=max_workers,
            mp_context=context,
            initializer=limit_cores,
            initargs=(cores,),
        )

    def _run(self, pipeline: Pipeline, catalog: Any, hook_manager: Any = None, run_id=None):
        self._progress = BranchProgress(pipeline)
        super()._run(pipeline, catalog, hook_manager, run_id)

    def _release_datasets(self, node: Node, catalog: Any, load_counts: dict, pipeline: Any):
        # Kedro calls this in the main process each time a node has finished.
        self._progress.finished(node)
        super()._release_datasets(node, catalog, load_counts, pipeline)


class DaskRunner(AbstractRunner):
    """Each node is a task on a ``dask.distributed`` cluster, submitted once its inputs exist.

    Persistent datasets are saved and loaded through the catalog by the worker that runs the
    node; in-memory datasets travel as the tasks' results, worker to worker.

    Args:
        address: a running scheduler (``tcp://host:8786``), connected to at once so that a
            wrong address stops the run before any work; without it, a ``LocalCluster`` on
            this machine for the run.
        workers: the LocalCluster's worker processes (default: one per core, at most 4).
        threads_per_worker: cores each LocalCluster worker's torch may use (default: cores /
            workers). A cluster's workers use the threads they were started with.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        threads_per_worker: int | None = None,
        is_async: bool = False,
    ) -> None:
        super().__init__(is_async=is_async)
        check_worker_counts({"workers": workers, "threads_per_worker": threads_per_worker})
        if address is not None and (workers or threads_per_worker):
            raise UserError(
                "--runner-params sets address together with workers or threads_per_worker",
                hint="a cluster at an address has its own workers; give the address alone, "
                "or workers/threads_per_worker alone for a LocalCluster",
            )
        self._workers, self._threads = workers, threads_per_worker
        self._client = None if address is None else _connect(address)

    def _get_executor(self, max_workers: int) -> None:
        return None  # tasks go to the cluster's scheduler, not to an executor

    def _run(self, pipeline: Pipeline, catalog: Any, hook_manager: Any = None, run_id=None):
        client = self._client or _local_client(self._workers, self._threads)
        try:
            _Schedule(client, pipeline, catalog, self._is_async, run_id).run()
        finally:
            if self._client is None:  # the LocalCluster of this run
                cluster = client.cluster
                client.close()
                cluster.close()


class _Schedule:
    """Submits each node once its producers have finished, to an idle worker, one node per
    worker at a time (its torch uses the worker's threads), as Kedro's ParallelRunner does
    with its processes. Dask's own placement would keep a branch's nodes beside the data
    they read, which piles independent branches onto one worker."""

    def __init__(self, client: Any, pipeline: Pipeline, catalog: Any, is_async: bool, run_id):
        self.client, self.pipeline, self.catalog = client, pipeline, catalog
        self.is_async, self.run_id = is_async, run_id
        self.in_memory = memory_datasets(pipeline, catalog)
        self.progress = BranchProgress(pipeline)
        self.done: dict[Node, Any] = {}  # finished nodes and their futures
        self.running: dict[Any, tuple[Node, str]] = {}  # future: (node, worker)

    def run(self) -> None:
        from distributed import wait

        waiting = list(self.pipeline.nodes)  # topologically sorted
        try:
            while waiting or self.running:
                waiting = self._submit_ready(waiting)
                finished, _ = wait(list(self.running), return_when="FIRST_COMPLETED")
                for future in finished:
                    node, worker = self.running.pop(future)
                    _, seconds = future.result()  # raises the node's error here
                    self.done[node] = future
                    self.progress.finished(node, f" ({seconds:.1f} s on {worker})")
        finally:
            self.client.cancel([*self.running, *self.done.values()])

    def _submit_ready(self, waiting: list[Node]) -> list[Node]:
        """Submit the nodes whose producers are done while workers are idle; the rest wait."""
        dependencies = self.pipeline.node_dependencies
        busy = {worker for _, worker in self.running.values()}
        idle = [w for w in self.client.scheduler_info()["workers"] if w not in busy]
        still_waiting = []
        for node in waiting:
            if not idle or not dependencies[node] <= self.done.keys():
                still_waiting.append(node)
                continue
            worker = idle.pop(0)
            future = self.client.submit(
                _run_node,
                node,
                self.catalog,
                sorted(self.in_memory & set(node.outputs)),
                [self.done[producer] for producer in dependencies[node]],
                self.is_async,
                self.run_id,
                key=f"{node.name}-{self.run_id}",
                workers=[worker],
                allow_other_workers=True,  # should that worker be lost
                pure=False,
            )
            self.running[future] = (node, worker)
        return still_waiting


def check_worker_counts(runner_params: dict[str, Any]) -> None:
    """Worker and thread counts given to a runner (``--runner-params``) are integers >= 1."""
    for name in ("max_workers", "workers", "threads_per_worker"):
        if runner_params.get(name) is not None:
            require_int(f"--runner-params {name}", runner_params[name], 1)


def _quiet_dask() -> None:
    try:
        import dask
        import distributed  # noqa: F401
    except ImportError:
        raise UserError(
            "the Dask runner needs dask.distributed, which is not installed",
            hint='pip install -e ".[dask]"',
        ) from None

    # Dask's INFO lines (workers starting, a busy event loop) would drown the run's own log.
    dask.config.set({"logging.distributed": "warning"})
    logging.getLogger("distributed").setLevel(logging.WARNING)


def _local_client(workers: int | None, threads_per_worker: int | None) -> Any:
    """A client of a new LocalCluster whose workers share this machine's cores."""
    _quiet_dask()
    import dask
    from distributed import Client, LocalCluster

    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's
    # adaptive mmap threshold: every large tensor is then mapped and unmapped anew, and the
    # nodes ran twice as slow as in one process, most of the extra time in the kernel.
    environ = dask.config.get("distributed.nanny.pre-spawn-environ")
    environ = {k: v for k, v in environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    dask.config.set({"distributed.nanny.pre-spawn-environ": environ})

    workers = workers or min(4, available_cores())
    threads = threads_per_worker or max(1, available_cores() // workers)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=threads, processes=True, dashboard_address=None
    )
    log.info("Dask LocalCluster: %d workers x %d thread(s)", workers, threads)
    return Client(cluster)


def _connect(address: str) -> Any:
    """A client of the cluster at ``address``; refuses within :data:`CONNECT_TIMEOUT_S`
    seconds when it does not answer, and at once when it has no workers."""
    _quiet_dask()
    from distributed import Client

    _check_address(address)
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as error:
        raise UserError(
            f"no Dask scheduler answered at {address!r} within {CONNECT_TIMEOUT_S} s ({error})",
            hint="start one (dask scheduler; dask worker <address>) or check the address in "
            "--runner-params=address=...; without an address a LocalCluster runs here",
        ) from None
    workers = len(client.scheduler_info()["workers"])
    if workers == 0:
        client.close()
        raise UserError(
            f"the Dask scheduler at {address!r} has no workers: the run would wait forever",
            hint=f"start workers on the cluster's machines (dask worker {address})",
        )
    log.info("Dask scheduler %s: %d workers", address, workers)
    return client


def _check_address(address: Any) -> None:
    """``address`` is a scheduler's address, ``[protocol://]host:port``."""
    from distributed.comm.addressing import get_address_host_port

    try:
        host, _ = get_address_host_port(str(address))
        malformed = not host
    except ValueError:
        malformed = True
    if malformed or not isinstance(address, str):
        raise CommandLineError(
            f"--runner-params address={address!r} is not a Dask scheduler address",
            hint="give it as tcp://<host>:<port>, e.g. --runner-params=address=tcp://"
            "scheduler:8786 (dask scheduler prints its address when it starts)",
        )


def memory_datasets(pipeline: Pipeline, catalog: Any) -> set[str]:
    """The pipeline's datasets that live in memory: they must travel between workers."""
    return {
        name
        for name in pipeline.datasets()
        if isinstance(catalog.get(name, fallback_to_runtime_pattern=True), MemoryDataset)
    }


def _run_node(
    node: Node,
    catalog: Any,
    memory_outputs: list[str],
    upstream: list[tuple[dict[str, Any], float]],
    is_async: bool,
    run_id: str | None,
) -> tuple[dict[str, Any], float]:
    """On a Dask worker: run ``node`` with its producers' in-memory outputs in ``upstream``;
    returns its own in-memory outputs and the seconds it took."""
    from distributed import get_worker

    limit_cores(get_worker().state.nthreads)
    started = time.perf_counter()
    for produced, _ in upstream:
        for name, data in produced.items():
            if name in node.inputs:
                catalog[name] = MemoryDataset(data, copy_mode="assign")
    try:
        Task(node, catalog, is_async, _worker_hooks(), run_id).execute()
    except Exception as error:
        raise _picklable(error) from None
    outputs = {name: catalog.load(name) for name in memory_outputs}
    return outputs, time.perf_counter() - started


@functools.cache
def _worker_hooks() -> Any:
    """The project's hooks in this worker process, made once. Kedro's own set-up for worker
    processes does not survive Dask's pickling of its logging settings, and plugins' hooks
    (kedro-viz's statistics) keep their state in the main process, so they stay there."""
    package = __package__.partition(".")[0]
    if package != kedro_project.PACKAGE_NAME:
        kedro_project.configure_project(package)
    hooks = _create_hook_manager()
    _register_hooks(hooks, kedro_project.settings.HOOKS)
    return hooks


def _picklable(error: Exception) -> Exception:
    """``error`` itself when it can travel back to the client; otherwise its text and
    traceback in a ``RuntimeError`` (an error Dask cannot pickle leaves the run waiting)."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        text = "".join(traceback.format_exception(error))
        return RuntimeError(f"{type(error).__name__}: {error}\n{text}")
