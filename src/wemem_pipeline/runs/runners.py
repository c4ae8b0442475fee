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

A Dask node whose worker is lost runs again on another worker (``retries`` times at most);
each retry is logged with the node and the lost worker. What the Dask client submits is
Dask's own ``apply`` and ``pickle.loads`` with bytes only a worker decodes, so the scheduler
never imports Kedro or this project.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import time
import traceback
from collections import Counter, defaultdict
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
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
from .integrity import CheckedArtifact
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


class ClusterError(UserError):
    """The Dask cluster could not run the work: a node's workers lost too often, none left,
    or the scheduler lost."""


class DaskRunner(AbstractRunner):
    """Each node is a task on a ``dask.distributed`` cluster, submitted once its inputs exist.

    Persistent datasets are saved and loaded through the catalog by the worker that runs the
    node; in-memory datasets come back to this process with the node's result and go to the
    nodes that read them inside their tasks.

    Args:
        address: a running scheduler (``tcp://host:8786``), connected to at once so that a
            wrong address stops the run before any work; without it, a ``LocalCluster`` on
            this machine for the run.
        workers: the LocalCluster's worker processes (default: one per core, at most 4).
        threads_per_worker: cores each LocalCluster worker's torch may use (default: cores /
            workers). A cluster's workers use the threads they were started with.
        retries: how often a node whose worker is lost runs again on another worker before
            the run stops (default 2). A node that fails by its own error is not run again.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        threads_per_worker: int | None = None,
        retries: int = 2,
        is_async: bool = False,
    ) -> None:
        super().__init__(is_async=is_async)
        check_worker_counts({"workers": workers, "threads_per_worker": threads_per_worker})
        self._retries = require_int("--runner-params retries", retries, 0)
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
            _Schedule(client, pipeline, catalog, self._is_async, run_id, self._retries).run()
        finally:
            if self._client is None:  # the LocalCluster of this run
                cluster = client.cluster
                client.close()
                cluster.close()


# How often the schedule looks for lost workers while nodes run, and how long it waits for a
# worker to join when the cluster has none left.
POLL_S = 1.0
NO_WORKERS_TIMEOUT_S = 60


@dataclass
class _Attempt:
    """One run of a node on one worker; ``retry`` 0 is the first."""

    node: Node
    worker: str
    retry: int


class _Schedule:
    """Submits each node once its producers have finished, to an idle worker, one node per
    worker at a time (its torch uses the worker's threads), as Kedro's ParallelRunner does
    with its processes. Dask's own placement would keep a branch's nodes beside the data
    they read, which piles independent branches onto one worker.

    Each task is bound to its worker. When that worker is lost, the schedule cancels the
    task and submits the node again to another worker, up to ``retries`` times: Dask's own
    recovery would run it again unseen, and run again finished nodes whose results the lost
    worker held. Here no finished node's result stays on a worker: it comes back to this
    process at once, in-memory outputs included.
    """

    def __init__(
        self, client: Any, pipeline: Pipeline, catalog: Any, is_async: bool, run_id, retries: int
    ) -> None:
        self.client, self.pipeline, self.catalog = client, pipeline, catalog
        self.is_async, self.run_id, self.retries = is_async, run_id, retries
        self.in_memory = memory_datasets(pipeline, catalog)
        self.progress = BranchProgress(pipeline)
        self.outputs: dict[Node, dict[str, Any]] = {}  # finished nodes' in-memory outputs
        self.running: dict[Any, _Attempt] = {}  # future: attempt
        self.lost: dict[Node, list[str]] = defaultdict(list)  # workers lost while it ran
        self.workers: list[str] = []
        self.without_workers_since: float | None = None

    def run(self) -> None:
        from distributed.client import FutureCancelledError, FuturesCancelledError

        waiting = list(self.pipeline.nodes)  # topologically sorted
        try:
            while waiting or self.running:
                # Asked of the scheduler each time: the client's scheduler_info() may give
                # the copy its periodic refresh fetched before a worker was lost.
                self.workers = list(self.client.nthreads())
                waiting = self._lost_attempts() + waiting
                waiting = self._submit_ready(waiting)
                for future in self._finished():
                    self._collect(future)
        except FutureCancelledError as error:
            raise self._cancelled([error.reason]) from None
        except FuturesCancelledError as error:
            raise self._cancelled([group.reason for group in error.error_groups]) from None
        finally:
            self.client.cancel(list(self.running))

    def _cancelled(self, reasons: list[str]) -> ClusterError:
        """The error for tasks that Dask cancelled: this client lost the scheduler."""
        running = ", ".join(f"{a.node.name} on {a.worker}" for a in self.running.values())
        return ClusterError(
            f"Dask cancelled the run's tasks ({', '.join(sorted(set(reasons)))}) while "
            f"{running or 'no node'} ran; {len(self.outputs)} of {len(self.pipeline.nodes)} "
            "nodes had finished",
            hint="the scheduler's log says why it stopped or could not be reached; once it "
            "runs again, run again",
        )

    def _submit_ready(self, waiting: list[Node]) -> list[Node]:
        """Submit the nodes whose producers are done while workers are idle; the rest wait."""
        dependencies = self.pipeline.node_dependencies
        busy = {attempt.worker for attempt in self.running.values()}
        idle = [worker for worker in self.workers if worker not in busy]
        still_waiting = []
        for node in waiting:
            if not idle or not dependencies[node] <= self.outputs.keys():
                still_waiting.append(node)
                continue
            attempt = _Attempt(node, idle.pop(0), len(self.lost[node]))
            self.running[self._submit(attempt)] = attempt
        return still_waiting

    def _submit(self, attempt: _Attempt) -> Any:
        """The task of one attempt: Dask's ``apply`` of what ``pickle.loads`` makes of bytes
        that only a worker decodes (a call of :func:`_run_node`). The scheduler unpickles what
        it is sent, and the node, the catalog and the inputs would make it import Kedro and
        this project."""
        import cloudpickle
        from dask.task_spec import Task as DaskTask
        from dask.utils import apply

        node = attempt.node
        inputs = {
            name: data
            for producer in self.pipeline.node_dependencies[node]
            for name, data in self.outputs[producer].items()
            if name in node.inputs
        }
        run = functools.partial(
            _run_node,
            node,
            self.catalog,
            sorted(self.in_memory & set(node.outputs)),
            inputs,
            self.is_async,
            self.run_id,
        )
        return self.client.submit(
            apply,
            DaskTask(None, pickle.loads, cloudpickle.dumps(run)),
            (),
            key=f"{node.name}-{self.run_id}-{attempt.retry}",
            workers=[attempt.worker],
            allow_other_workers=False,  # a lost worker's node is submitted again, counted
            pure=False,
        )

    def _finished(self) -> list[Any]:
        """The futures that finished within :data:`POLL_S` seconds."""
        from distributed import TimeoutError, wait

        if not self.running:  # nodes are ready, but the cluster has no workers
            self._wait_for_workers()
            return []
        self.without_workers_since = None
        try:
            return list(wait(list(self.running), POLL_S, return_when="FIRST_COMPLETED").done)
        except TimeoutError:
            return []

    def _collect(self, future: Any) -> None:
        """A finished node's result; raises the node's own error. Waits longer each time
        while its worker lives, and leaves the attempt to :meth:`_lost_attempts` when the
        worker was lost before the result came back."""
        from distributed import TimeoutError

        attempt = self.running[future]
        timeout = POLL_S
        while True:
            try:
                result = future.result(timeout=timeout)
                break
            except TimeoutError:
                if attempt.worker not in self.client.nthreads():
                    return
                timeout *= 2
        del self.running[future]
        future.release()  # or Dask would run it again should its worker be lost later
        outputs, seconds, removed = pickle.loads(result)
        self.outputs[attempt.node] = outputs
        if removed:
            log.info(
                "%s: removed what its lost run had saved of this run's version: %s",
                attempt.node.name,
                ", ".join(removed),
            )
        self.progress.finished(attempt.node, f" ({seconds:.1f} s on {attempt.worker})")

    def _lost_attempts(self) -> list[Node]:
        """The nodes that were running on workers that are gone, to run again; raises
        :class:`ClusterError` for a node lost more often than ``retries``."""
        lost = {f: a for f, a in self.running.items() if a.worker not in self.workers}
        if not lost:
            return []
        self.client.cancel(list(lost))
        for future, attempt in lost.items():
            del self.running[future]
            self.lost[attempt.node].append(attempt.worker)
        for attempt in lost.values():
            workers = self.lost[attempt.node]
            if len(workers) > self.retries:
                raise ClusterError(
                    f"node {attempt.node.name} was lost with its Dask worker "
                    f"{'once' if len(workers) == 1 else f'{len(workers)} times'} "
                    f"({', '.join(workers)}); no retries left (retries={self.retries})",
                    hint="the workers' own logs say why they stopped (memory limit, killed, "
                    "network); fix that, or allow more with --runner-params=retries=<n>",
                )
            log.warning(
                "Dask worker %s was lost while running %s; running it again on another "
                "worker (retry %d of %d)",
                attempt.worker,
                attempt.node.name,
                len(workers),
                self.retries,
            )
        return [attempt.node for attempt in lost.values()]

    def _wait_for_workers(self) -> None:
        """Nodes are ready but the cluster has no workers: wait :data:`NO_WORKERS_TIMEOUT_S`
        seconds at most for one to join (a nanny restarts a worker it lost)."""
        now = time.monotonic()
        if self.without_workers_since is None:
            self.without_workers_since = now
            log.warning("The Dask cluster has no workers left; waiting for one to join")
        elif now - self.without_workers_since > NO_WORKERS_TIMEOUT_S:
            lost = sorted({worker for workers in self.lost.values() for worker in workers})
            raise ClusterError(
                f"the Dask cluster lost every worker ({', '.join(lost)}) and none joined "
                f"within {NO_WORKERS_TIMEOUT_S} s; {len(self.outputs)} of "
                f"{len(self.pipeline.nodes)} nodes had finished",
                hint="start workers (dask worker <scheduler address>) and run again",
            )
        time.sleep(POLL_S)


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
    log.info(
        "Dask LocalCluster %s: %d workers x %d thread(s)",
        cluster.scheduler_address,
        workers,
        threads,
    )
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
    workers = len(client.nthreads())
    if workers == 0:
        client.close()
        raise ClusterError(
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
    inputs: dict[str, Any],
    is_async: bool,
    run_id: str | None,
) -> bytes:
    """On a Dask worker: run ``node`` with its in-memory ``inputs``, after removing what a
    lost run of it saved (:func:`remove_own_versions`). Returns, pickled for the client
    alone, its in-memory outputs, the seconds it took and the files it removed."""
    from distributed import get_worker

    limit_cores(get_worker().state.nthreads)
    started = time.perf_counter()
    removed = remove_own_versions(node, catalog, run_id)
    for name, data in inputs.items():
        catalog[name] = MemoryDataset(data, copy_mode="assign")
    try:
        Task(node, catalog, is_async, _worker_hooks(), run_id).execute()
    except Exception as error:
        raise _picklable(error) from None
    outputs = {name: catalog.load(name) for name in memory_outputs}
    return pickle.dumps((outputs, time.perf_counter() - started, removed))


def remove_own_versions(node: Node, catalog: Any, run_id: str | None) -> list[str]:
    """Delete the files of ``node``'s outputs at version ``run_id`` (the run's own), which
    only a lost run of this node can have saved: Kedro refuses to save a version that
    exists. Other versions, and anything not an output of ``node``, stay. Returns the paths
    removed."""
    outputs = [catalog.get(name) for name in node.outputs]
    own = [d for d in outputs if isinstance(d, CheckedArtifact) and d.made_by == run_id]
    return [path for dataset in own if (path := dataset.remove_file())]


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
