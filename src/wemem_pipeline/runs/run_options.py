"""Mistakes in how ``kedro run`` was called, named in the project's one block: an
environment, tag, node, namespace or dataset that does not exist, a runner or runner
parameter that does not exist, a malformed option, a configuration file that is not YAML.

Kedro reports these with a page of traceback, or, for a malformed ``--load-versions``, with
only ``NoneType: None`` (click shows the error outside the ``except`` that caught it). The
runner and the options are checked before Kedro starts; the rest is read from Kedro's error
once it has failed, when the run's pipelines are registered, to say what does exist.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml
from kedro.config import MissingConfigException
from kedro.framework.cli.utils import KedroCliError
from kedro.framework.project import pipelines
from kedro.io.core import DatasetNotFoundError
from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner
from kedro.utils import load_obj

from ..core.errors import UserError, causes

RUNNERS = (
    "SequentialRunner",
    "ThreadRunner",
    "ParallelRunner",
    "wemem_pipeline.runs.runners.ParallelRunner",
    "wemem_pipeline.runs.runners.DaskRunner",
)
_NOT_DATASETS = ("parameters", "run_config", "run_parameters")


class CommandLineError(UserError):
    """An option of ``kedro run`` is malformed or names something that does not exist."""


class ConfigurationError(UserError):
    """A configuration file of ``conf/`` cannot be read."""


# ----------------------------------------------------------------------------- before Kedro


@dataclass(frozen=True)
class _Refused:
    """An option value Kedro's callback refused while click parsed the command line."""

    option: str
    value: str
    reason: str


def deferring_refusals(params: list[click.Parameter]) -> list[click.Parameter]:
    """``params`` whose callbacks return Kedro's refusal of a value instead of raising it, so
    that :func:`check_options` raises it where the command's errors are shown."""
    deferring = []
    for param in params:
        if param.callback is not None:
            param = copy.copy(param)
            param.callback = _deferring(param.callback)
        deferring.append(param)
    return deferring


def _deferring(callback: Callable) -> Callable:
    @functools.wraps(callback)
    def call(context: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            return callback(context, param, value)
        except KedroCliError as error:
            return _Refused(param.opts[0], str(value), error.message)

    return call


_OPTION_HINTS = {
    "--load-versions": "give dataset:version pairs, e.g. "
    "--load-versions=splits:2026-12-02T09.52.26.655Z; a version is a folder name under the "
    "dataset's path in data/ (the run id of the run that saved it, see data/09_runs/)",
}


def check_options(options: Mapping[str, Any]) -> None:
    """Raise the first option value Kedro refused while the command line was parsed."""
    for value in options.values():
        if isinstance(value, _Refused):
            raise CommandLineError(
                f"{value.option}={value.value}: {value.reason}",
                hint=_OPTION_HINTS.get(value.option, "see kedro run --help"),
            )


def check_runner(runner: str | None, runner_params: Mapping[str, Any]) -> None:
    """The runner ``--runner`` names exists and takes every ``--runner-params`` key."""
    name = runner or "SequentialRunner"
    try:
        runner_class = load_obj(name, "kedro.runner")
    except (ImportError, AttributeError, ValueError) as error:
        raise CommandLineError(
            f"--runner={name}: there is no runner of that name ({error})",
            hint=f"use one of: {', '.join(RUNNERS)}{_close(name, RUNNERS)}",
        ) from None
    if not (isinstance(runner_class, type) and issubclass(runner_class, AbstractRunner)):
        raise CommandLineError(
            f"--runner={name} is not a Kedro runner (a subclass of kedro.runner.AbstractRunner)",
            hint=f"use one of: {', '.join(RUNNERS)}",
        )
    signature = inspect.signature(runner_class)
    accepted = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    unknown = sorted(set(runner_params) - set(accepted))
    if unknown:
        takes = ", ".join(accepted)
        raise CommandLineError(
            f"--runner-params: {runner_class.__name__} takes no parameter "
            f"{', '.join(map(repr, unknown))}",
            hint=f"its parameters: {takes}{_close(unknown[0], accepted)}",
        )


# ----------------------------------------------------------------------------- after Kedro


def explain(error: BaseException, options: Mapping[str, Any]) -> UserError | None:
    """The mistake in ``options`` or in ``conf/`` that made Kedro raise ``error``, as a
    :class:`UserError`; ``None`` when ``error`` is not one of those."""
    chain = list(causes(error))
    for link in chain:
        if isinstance(link, yaml.MarkedYAMLError) and link.problem_mark is not None:
            return _yaml_mistake(link, chain)
        if isinstance(link, MissingConfigException):
            return _env_mistake(link, options)
        if isinstance(link, DatasetNotFoundError) and "'load_versions' keys" in str(link):
            return _load_versions_mistake(link, options)
        if isinstance(link, ValueError) and str(link).startswith(_FILTER_ERRORS):
            return _filter_mistake(options)
    return None


# Kedro reads the file into memory first, so the parser's mark has no file name; Kedro's own
# error names it (and gives the line counted from 0).
_KEDRO_YAML_ERROR = re.compile(r"Invalid YAML or JSON file (.+?), unable to read line")


def _yaml_mistake(error: yaml.MarkedYAMLError, chain: list[BaseException]) -> UserError:
    named = next((m for e in chain if (m := _KEDRO_YAML_ERROR.search(str(e)))), None)
    path = Path(named.group(1)) if named else None
    mark = error.problem_mark
    line = mark.line + 1
    message = f"{_shown(path) if path else 'a file of conf/'} is not valid YAML: line {line}, "
    message += f"column {mark.column + 1}: {error.problem}"
    lines = f"line {line} (or the line above it)"
    if error.context and error.context_mark is not None and error.context_mark.line != mark.line:
        start = error.context_mark.line + 1
        message += f" ({error.context} that starts on line {start})"
        lines = f"lines {start} to {line}"
    text = _line_of(path, mark.line)
    if text is not None:
        message += f"\n    {line} | {text}"
    return ConfigurationError(
        message,
        hint=f"correct {lines}: nested keys are indented by the same number of spaces (no "
        "tabs), 'key: value' has a space after the colon, and every [ or { is closed",
    )


def _line_of(path: Path | None, index: int) -> str | None:
    try:
        return path.read_text().splitlines()[index].rstrip() if path else None
    except (OSError, UnicodeDecodeError, IndexError):
        return None


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_env(options: Mapping[str, Any]) -> None:
    """The configuration environment ``--env`` (or ``KEDRO_ENV``) names exists, checked
    before Kedro starts its plugins (MLflow's would fail first, on an error of its own)."""
    env = options.get("env") or os.environ.get("KEDRO_ENV")
    conf = Path(options.get("conf_source") or "conf")
    if env and conf.is_dir() and not (conf / env).is_dir():
        raise _no_such_env(conf, env, options)


def _env_mistake(error: MissingConfigException, options: Mapping[str, Any]) -> UserError | None:
    missing = re.search(r"not a valid directory: (.+)$", str(error))
    env = options.get("env") or os.environ.get("KEDRO_ENV")
    if not (missing and env and Path(missing.group(1)).name == env):
        return None
    return _no_such_env(Path(missing.group(1)).parent, env, options)


def _no_such_env(conf: Path, env: str, options: Mapping[str, Any]) -> UserError:
    envs = sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "base")
    given = f"--env={env}" if options.get("env") else f"KEDRO_ENV={env}"
    return CommandLineError(
        f"{given}: there is no configuration environment {env!r} "
        f"({_shown(conf / env)} does not exist)",
        hint=f"use one of: {', '.join(envs)} (the folders of {_shown(conf)}/ beside base)"
        f"{_close(env, envs)}",
    )


def _run_pipeline(options: Mapping[str, Any]) -> tuple[str, Pipeline]:
    """The names and the sum of the registered pipelines the run asked for."""
    names = [options["pipeline"]] if options.get("pipeline") else list(options.get("pipelines"))
    names = names or ["__default__"]
    return ", ".join(names), sum((pipelines[name] for name in names), start=Pipeline([]))


def _load_versions_mistake(error: DatasetNotFoundError, options: Mapping[str, Any]) -> UserError:
    unknown = re.search(r"keys \[(.*)\]", str(error))
    names = unknown.group(1).split(", ") if unknown else list(options.get("load_versions") or {})
    label, pipeline = _run_pipeline(options)
    loads = [
        name
        for name in pipeline.inputs()
        if not name.startswith("params:") and name.split(".")[-1] not in _NOT_DATASETS
    ]
    return CommandLineError(
        f"--load-versions names {', '.join(map(repr, names))}, which is not a dataset of "
        "this project",
        hint=_loads_hint(names, loads),
    )


def check_load_versions(requested: Mapping[str, str], loads: Iterable[str]) -> None:
    """Every dataset ``--load-versions`` names is one the run loads from earlier runs: Kedro
    would ignore the others without a word."""
    loads = list(loads)
    ignored = sorted(set(requested) - set(loads))
    if ignored:
        raise CommandLineError(
            f"--load-versions names {', '.join(map(repr, ignored))}, which this run does not "
            "load (it makes them, or does not use them)",
            hint=_loads_hint(ignored, loads),
        )


def _loads_hint(names: list[str], loads: Iterable[str]) -> str:
    loads = sorted(loads)
    if not loads:
        return (
            "this run makes every dataset it uses, so there is nothing to load; "
            "--load-versions is for pipelines that load earlier runs' artifacts, such as "
            "--pipeline=attacks"
        )
    return f"the datasets this run loads: {', '.join(loads)}{_close(names[0], loads)}"


_FILTER_ERRORS = (
    "Pipeline contains no nodes after applying all provided filters",
    "Pipeline does not contain nodes named",
    "Pipeline does not contain datasets named",
)
# (option, what kedro run's callback calls its value, Pipeline method, what it names)
_FILTERS = (
    ("--tags", "tags", "only_nodes_with_tags", "tag"),
    ("--nodes", "node_names", "only_nodes", "node"),
    ("--from-nodes", "from_nodes", "from_nodes", "node"),
    ("--to-nodes", "to_nodes", "to_nodes", "node"),
    ("--from-inputs", "from_inputs", "from_inputs", "dataset"),
    ("--to-outputs", "to_outputs", "to_outputs", "dataset"),
    ("--namespaces", "namespaces", "only_nodes_with_namespaces", "namespace"),
)


def _filter_mistake(options: Mapping[str, Any]) -> UserError | None:
    """Which of ``--tags``, ``--nodes``, ... selects no node of the run's pipelines. Kedro
    applies each to the whole pipeline and keeps the nodes all of them select."""
    label, pipeline = _run_pipeline(options)
    given = [f for f in _FILTERS if options.get(f[1])]
    if not given:
        return None
    for option, key, method, kind in given:
        values = list(options[key])
        existing = _existing(pipeline, kind)
        unknown = [v for v in values if v not in existing]
        if kind == "namespace":
            unknown = [v for v in values if not any(_in_namespace(n, v) for n in existing)]
        if unknown:
            return CommandLineError(
                f"{option}={','.join(values)}: the pipeline {label} has no {kind} "
                f"{', '.join(map(repr, unknown))}",
                hint=_what_exists(kind, existing, unknown[0], label),
            )
        arguments = [values] if kind == "namespace" else values
        try:
            selected = getattr(pipeline, method)(*arguments).nodes
        except ValueError as error:
            return CommandLineError(f"{option}={','.join(values)}: {error}")
        if not selected:
            return CommandLineError(f"{option}={','.join(values)} selects no node of {label}")
    return CommandLineError(
        f"{', '.join(option for option, *_ in given)} together select no node of {label}: "
        "each selects some, but no node is selected by all of them",
        hint="a node runs only when every one of these options selects it; drop one",
    )


def _existing(pipeline: Any, kind: str) -> list[str]:
    if kind == "tag":
        return sorted({tag for node in pipeline.nodes for tag in node.tags})
    if kind == "node":
        return [node.name for node in pipeline.nodes]
    if kind == "namespace":
        return sorted({node.namespace for node in pipeline.nodes if node.namespace})
    return sorted(pipeline.datasets())


def _in_namespace(namespace: str, asked: str) -> bool:
    return namespace == asked or namespace.startswith(f"{asked}.")


def _what_exists(kind: str, existing: list[str], asked: str, label: str) -> str:
    if not existing:
        return (
            f"the nodes of {label} have no {kind}s; choose what runs with --pipeline "
            f"(one of: {', '.join(sorted(p for p in pipelines if p != '__default__'))}) "
            "or --nodes"
        )
    close = _close(asked, existing)
    if len(existing) <= 12:
        return f"its {kind}s: {', '.join(existing)}{close}"
    return f"kedro registry describe {label.split(', ')[0]} lists them{close}"


def _close(asked: str, known: Any) -> str:
    """`` ; did you mean 'x'?`` when ``known`` holds a close spelling of ``asked``."""
    match = difflib.get_close_matches(asked, list(known), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""
