"""Project hooks: everything a run can check is checked before its first node, and every run
leaves a record of what it was, what it loaded and whether it completed (runs/records.py).

Kedro imports this module (through settings.py) for every command, ``kedro --help`` too: the
library, which loads torch, is imported inside the hooks that a run calls."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines

from .core.errors import ArtifactError
from .core.threads import threads_set_here, use_threads
from .core.validation import from_mapping
from .runs import tracking
from .runs.integrity import guard_artifacts, versioned
from .runs.latest_reports import publish_latest
from .runs.project_paths import point_stored_models, project_relative, use_project_paths
from .runs.records import RunRecord, new_record, shaping_values
from .runs.run_options import check_load_versions
from .runs.seed_branches import (
    branch,
    branch_parameters,
    check_branched,
    remember_parameters,
)
from .runs.versions import (
    add_parameter,
    choose_input_versions,
    left_out,
    replacing_quietly,
    run_env,
)

if TYPE_CHECKING:
    from .core.run_config import RunConfig

log = logging.getLogger(__name__)

# What the hook puts in the catalog for the nodes: the typed settings and the parameter tree
# (a seed branch's, or with tuned settings in place of ``auto``), under these names.
# Inputs the hook provides itself (compare_runs: the leaderboard's, from the run records).
_NOT_ARTIFACTS = {"parameters", "run_config", "run_parameters", "compare_runs"}


class RunHooks:
    def __init__(self) -> None:
        self._project = Path.cwd()
        self._record: RunRecord | None = None  # the record of the run in progress
        self._tracked: str | None = None  # kedro-mlflow's MLflow run for it (runs/tracking.py)
        self._parameters: dict[str, Any] = {}  # the parameter tree it used, to be tracked

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Let the pipeline registry see the run's seeds (``evaluation.seeds``): a multi-seed
        run has one branch per seed. Kedro may have read the registry before (``kedro run``
        without ``--pipeline``), so it is read again."""
        remember_parameters(context.config_loader["parameters"])
        pipelines.configure(f"{__package__}.pipeline_registry")

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Refuse bad parameters, unusable data and inputs of different runs before any node
        runs; then put the typed ``run_config`` in the catalog for every node to take."""
        try:
            self._prepare(run_params, pipeline, catalog)
        except Exception as error:  # Kedro calls no on_pipeline_error for a refused run
            tracking.end_refused_run(error)
            raise

    def _prepare(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from .core.autotune import AutotuneConfig, open_storage
        from .core.parameter_checks import (
            check_imported_scores,
            check_model_on_data,
            makes_imported_scores,
            validate_parameters,
        )
        from .core.run_checks import check_run_on_data

        self._project = Path(run_params["project_path"])
        parameters = use_project_paths(catalog, self._project)
        config = validate_parameters(parameters)
        catalog["run_config"] = config
        log.info("torch uses %d CPU thread(s)", use_threads(config.threads, config.model.name))
        seeds = config.evaluation.seed_list(config.seed)
        if len(seeds) > 1:
            check_branched(run_params.get("pipeline_names"), seeds)

        record = new_record(run_params, config, parameters)
        record.settings = project_relative(record.settings, self._project)
        dataset = None
        if any(name.split(".")[-1] == "dataset" for name in pipeline.all_outputs()):
            # This run reads the data files: check them now.
            dataset = config.dataset.load()
            record.dataset_fingerprint = dataset.fingerprint()
            check_run_on_data(parameters, config, dataset, pipeline.all_outputs())
        if "compare_runs" in pipeline.inputs():
            catalog["compare_runs"] = self._compare_runs(parameters, record)
        if "tuned_settings" in pipeline.all_outputs():  # a corrupt or foreign study file
            open_storage(from_mapping(AutotuneConfig, "autotune", parameters["autotune"]).storage)
        inputs = {
            name
            for name in pipeline.inputs()
            if name.split(".")[-1] not in _NOT_ARTIFACTS and not name.startswith("params:")
        }
        check_load_versions(run_params.get("load_versions") or {}, inputs)
        record.loaded = choose_input_versions(
            catalog,
            inputs,
            record,
            run_params.get("load_versions") or {},
            self._project,
            _producers,
        )
        made_by = {v: RunRecord.load(self._project, v) for v in set(record.loaded.values())}
        outputs = versioned(catalog, pipeline.all_outputs())
        with replacing_quietly():
            guard_artifacts(catalog, record.loaded, outputs, record.run_id, made_by, self._project)
            for artifact in left_out(inputs, record.loaded):
                catalog[artifact] = {}  # no stages: the nodes that read it do without
        point_stored_models(catalog, parameters)
        if record.dataset_fingerprint is None and "dataset" in record.loaded:
            record.dataset_fingerprint = made_by[record.loaded["dataset"]].dataset_fingerprint
            if config.model.name == "custom":  # its check needs the stored data's shapes
                check_model_on_data(config, catalog.load("dataset"), pipeline.all_outputs())
        if makes_imported_scores(config, pipeline.all_outputs()):
            check_imported_scores(config.memorability, _pools(config, seeds, dataset, catalog))
        if len(seeds) == 1:
            resolved = self._use_tuned_settings(parameters, pipeline, catalog, record, config)
            record.settings = project_relative(shaping_values(config, resolved), self._project)
            # What reports show: paths as the project spells them, not this checkout's.
            catalog["run_parameters"] = project_relative(resolved, self._project)
        else:
            resolved = parameters  # the seed branches' own are in their namespaces
            self._fill_seed_branches(parameters, pipeline, catalog, record, config, seeds)
        record.create(self._project)
        self._record = record
        # kedro-mlflow (the mlflow extra) has started its run by now: plugins' hooks come first.
        self._tracked = tracking.active_run_id()
        self._parameters = project_relative(resolved, self._project)

    def _compare_runs(self, parameters, record) -> list:
        """The leaderboard's input: each dataset's newest compare run per seed, made with
        ``leaderboard.env`` (by default this run's environment)."""
        from .core.leaderboard import LeaderboardConfig
        from .runs.compare_runs import newest_compare_runs

        config = from_mapping(LeaderboardConfig, "leaderboard", parameters.get("leaderboard", {}))
        envs = config.envs(run_env(record))
        runs = newest_compare_runs(self._project, envs, config)
        if not runs:
            tuned = "" if config.tuned is None else f" and compare.tuned={config.tuned}"
            raise ArtifactError(
                "the leaderboard found no completed compare run made with "
                f"--env={' or '.join(envs)}{tuned}",
                hint=f"run `kedro run --env={envs[0]} --pipeline=compare` (with "
                "compare.audit=true for the worst case) first, once per dataset and seed",
            )
        return runs

    def _fill_seed_branches(self, parameters, pipeline, catalog, record, config, seeds) -> None:
        """Each seed branch's parameters (the run's with ``seed`` replaced and ``auto``
        settings tuned for that seed) and typed settings, under the branch's namespace. Seeds
        without fitting tuned settings are all named in one error."""
        missing = {}
        for seed in seeds:
            branch_config = replace(config, seed=seed)
            try:
                branch_tree = self._use_tuned_settings(
                    branch_parameters(parameters, seed),
                    pipeline,
                    catalog,
                    record,
                    branch_config,
                    namespace=branch(seed),
                )
            except ArtifactError as error:
                missing[seed] = error
                continue
            with replacing_quietly():
                add_parameter(catalog, branch(seed), branch_tree)
                catalog[f"{branch(seed)}.run_parameters"] = project_relative(
                    branch_tree, self._project
                )
                catalog[f"{branch(seed)}.run_config"] = branch_config
        if missing:
            raise ArtifactError(
                "\n".join(f"seed {seed}: {error}" for seed, error in missing.items()),
                " ; ".join(error.hint for error in missing.values() if error.hint),
            )

    def _use_tuned_settings(
        self, parameters, pipeline, catalog, record, config, namespace: str = ""
    ) -> dict[str, Any]:
        """``parameters`` with ``settings: auto`` replaced by the tuned settings of
        ``config``'s seed; put in the catalog here for a run without seed branches."""
        from .runs.tuned_settings import auto_requests, resolve_auto_settings

        inputs = pipeline.inputs()
        prefix = f"params:{namespace}." if namespace else "params:"

        def used(key: str) -> bool:
            return any(i == f"{prefix}{key}" or i.startswith(f"{prefix}{key}.") for i in inputs)

        requests = auto_requests(parameters, used)
        if not requests:
            return parameters
        resolved = resolve_auto_settings(
            parameters,
            requests,
            catalog,
            self._project,
            record.dataset_fingerprint,
            config,
            seed_branch=bool(namespace),
        )
        if not namespace:
            with replacing_quietly():
                catalog["parameters"] = resolved
                for key in {path.split(".")[0] for path in requests}:
                    add_parameter(catalog, key, resolved[key])
        return resolved

    @hook_impl
    def before_node_run(self, catalog: Any) -> None:
        """A parallel runner's worker process sets torch's threads before its first node."""
        if not threads_set_here():
            config = catalog.load("run_config")
            use_threads(config.threads, config.model.name)

    @hook_impl
    def after_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        from .runs.summary import run_headlines, summary_text

        self._record.finish(self._project)
        completed_ns = time.time_ns()
        log.info("Run %s completed", self._record.run_id)
        reports = run_headlines(pipeline.all_outputs(), catalog, self._record, self._project)
        # Only now, with the record saying completed: latest/ shows completed runs only.
        try:
            published = publish_latest(
                self._project,
                self._record,
                [r.markdown_artifact for r in reports if r.html is not None],
                completed_ns,
            )
        except OSError as error:  # the run's own versions are saved and complete
            log.warning("data/08_reporting/latest/ was not updated: %s", error)
            published = {}
        for report in reports:
            report.latest = published.get(report.markdown_artifact)
        print(f"\n{summary_text(reports, self._project, self._record.run_id)}\n", flush=True)
        self._track(reports)

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        self._record.finish(self._project, error)
        log.info("Run %s failed; its versions are marked partial", self._record.run_id)
        self._track()

    def _track(self, reports: list | None = None) -> None:
        """The parameters, and the headlines' numbers and the report files of a completed
        run, in kedro-mlflow's MLflow run (ended by now); nothing without one. A failure is
        logged, not raised: the run's results are saved already."""
        if self._tracked is None:
            return
        try:
            tracking.log_parameters(self._tracked, self._parameters)
            if reports is not None:
                numbers = [(report.headline.numbers, report.markdown) for report in reports]
                tracking.log_results(self._tracked, self._project, self._record.run_id, numbers)
        except Exception as error:
            log.warning("Experiment tracking failed (the run's results are saved): %s", error)


def _pools(config: RunConfig, seeds: list[int], dataset: Any, catalog: Any) -> list[dict]:
    """Each seed's victim and shadow pool: as the run's split will draw them from the data
    it loaded, or those of the stored split it loads."""
    from .core.splits import pool_samples, split_pools

    if dataset is not None:
        return [split_pools(dataset.is_test, config.split, seed) for seed in seeds]
    splits = catalog.load("splits")
    return [{pool: pool_samples(splits, pool) for pool in ("victim", "shadow")}]


def _producers(artifact: str) -> list[str]:
    """Registered pipelines that make ``artifact``, the smallest first."""
    makers = [
        (len(pipeline.nodes), name)
        for name, pipeline in pipelines.items()
        if name != "__default__" and artifact in pipeline.all_outputs()
    ]
    return [name for _, name in sorted(makers)]
