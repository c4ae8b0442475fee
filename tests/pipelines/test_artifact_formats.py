"""Nothing executable in ``data/``: the formats of the project's artifacts.

The models' outputs are ``.npz`` archives, and the dataset is stored once per content in the
dataset store with each run's ``dataset`` a JSON reference to it; both are read without
unpickling anything and refused, naming the file, when they are not what they should be. A
crafted pickle that creates a file when unpickled is given to every catalog entry's dataset
class, and placed in each slot that used to hold a pickle for a real ``kedro run``: it never
runs.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from kedro.io import AbstractDataset, DatasetError, Version
from kedro_project import CONF, latest, project_copy, run_kedro_each

from wemem_pipeline.catalog_datasets.dataset_store import (
    DATASET_STORE,
    StoredDatasetDataset,
    dataset_arrays,
)
from wemem_pipeline.catalog_datasets.model_outputs import ModelOutputsDataset
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.errors import ArtifactError, user_error_in
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.runs.housekeeping import DATASET_REFERENCE
from wemem_pipeline.runs.seed_branches import seed_catalog

V1, V2 = "2026-01-01T10.00.00.000Z", "2026-01-02T10.00.00.000Z"
PLANTED = "2099-01-01T00.00.00.000Z"  # newer than any run's version
REFUSED = "wemem-pipeline: the run stopped ("
OURS = {
    "wemem_pipeline.catalog_datasets.model_outputs.ModelOutputsDataset",
    "wemem_pipeline.catalog_datasets.dataset_store.StoredDatasetDataset",
    "wemem_pipeline.catalog_datasets.png_figures.PngFigureDataset",
}


class CreatesFile:
    """Unpickled, it creates the file ``path``: what a hostile pickle could do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return open, (str(self.path), "w")


def crafted_files(sentinel: Path) -> dict[str, bytes]:
    """Files that create ``sentinel`` when loaded unsafely, by how they carry the pickle."""
    payload = CreatesFile(sentinel)
    as_torch, as_npz = io.BytesIO(), io.BytesIO()
    torch.save(payload, as_torch)
    np.savez(as_npz, outputs=np.array([payload], dtype=object))  # a pickled object array
    return {
        "a pickle": pickle.dumps(payload),
        "a torch.save file": as_torch.getvalue(),
        "an npz with an object array": as_npz.getvalue(),
    }


def test_the_crafted_files_run_when_loaded_unsafely(tmp_path: Path) -> None:
    # What lets the tests below fail: loaded as PickleDataset or unsafe loading would, they run.
    sentinel = tmp_path / "ran"
    files = crafted_files(sentinel)
    unsafe = {
        "a pickle": pickle.loads,
        "a torch.save file": lambda b: torch.load(io.BytesIO(b), weights_only=False),
        "an npz with an object array": lambda b: np.load(io.BytesIO(b), allow_pickle=True)[
            "outputs"
        ],
    }
    for how, content in files.items():
        unsafe[how](content)
        assert sentinel.exists(), how
        sentinel.unlink()


def refusal(load: Callable[[], Any]) -> ArtifactError:
    """The :class:`ArtifactError` with which ``load`` refuses (Kedro wraps it)."""
    with pytest.raises(Exception) as raised:
        load()
    error = user_error_in(raised.value)
    assert isinstance(error, ArtifactError), raised.value
    return error


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def flip_byte(content: bytes, at: int) -> bytes:
    flipped = bytearray(content)
    flipped[at] ^= 0xFF
    return bytes(flipped)


# ----------------------------------------------------------------------------- model outputs


def outputs() -> dict[int, ModelOutputs]:
    """Two rounds of three models, as training records them: float32 logits and NaN-padded
    sensitivity; a model name with a dot and a slash, which the archive's keys must keep."""
    rng = np.random.default_rng(0)
    samples = np.array([0, 3, 4, 9, 12], dtype=np.int64)
    stages = {}
    for round_index in (0, 2):
        stage = ModelOutputs(samples)
        for name in ("victim", "shadow_0", "my.model/v2"):
            stage.logits[name] = rng.normal(size=(5, 3)).astype(np.float32)
            sensitivity = rng.random((5, 3)).astype(np.float32)
            sensitivity[[1, 3]] = np.nan
            stage.sensitivity[name] = sensitivity
        stages[round_index] = stage
    return stages


def outputs_dataset(folder: Path, version: str | None = None) -> ModelOutputsDataset:
    """The outputs entry in ``folder``; ``version`` to save, or None to load the newest."""
    return ModelOutputsDataset(str(folder / "dense_outputs.npz"), Version(version, version))


def test_model_outputs_round_trip_bit_identical(tmp_path: Path) -> None:
    saved = outputs()
    assert not outputs_dataset(tmp_path).exists()
    outputs_dataset(tmp_path, V1).save(saved)
    assert outputs_dataset(tmp_path).exists()
    loaded = outputs_dataset(tmp_path).load()
    assert list(loaded) == list(saved)
    for round_index, stage in saved.items():
        back = loaded[round_index]
        assert back.sample_index.dtype == np.int64
        assert back.sample_index.tobytes() == stage.sample_index.tobytes()
        for kind in ("logits", "sensitivity"):
            ours, theirs = getattr(stage, kind), getattr(back, kind)
            assert list(theirs) == list(ours)  # the models' order too
            for name, array in ours.items():
                assert theirs[name].dtype == array.dtype == np.float32
                assert theirs[name].tobytes() == array.tobytes()  # NaNs included


def test_outputs_without_sensitivity_round_trip(tmp_path: Path) -> None:
    stage = ModelOutputs(np.arange(4, dtype=np.int64), {"victim": np.zeros((4, 2), np.float64)})
    outputs_dataset(tmp_path, V1).save({0: stage})
    back = outputs_dataset(tmp_path).load()[0]
    assert back.sensitivity == {} and back.logits["victim"].dtype == np.float64


def test_object_arrays_are_never_saved(tmp_path: Path) -> None:
    stage = ModelOutputs(np.arange(2, dtype=np.int64), {"victim": np.array([None, 1])})
    with pytest.raises(DatasetError, match="without pickle"):  # Kedro wraps the TypeError
        outputs_dataset(tmp_path, V1).save({0: stage})
    assert not (tmp_path / "dense_outputs.npz" / V1 / "dense_outputs.npz").exists()


def wrong_outputs(sentinel: Path) -> dict[str, tuple[bytes, str]]:
    """Files in an outputs slot that are not model outputs, and what the refusal says; the
    crafted ones create ``sentinel`` if unpickled."""
    crafted = crafted_files(sentinel)
    samples = np.arange(3, dtype=np.int64)
    logits = np.zeros((3, 2), np.float32)
    good = npz_bytes(**{"0/sample_index": samples, "0/logits/victim": logits})
    compressed = io.BytesIO()  # as the dataset saves them
    np.savez_compressed(compressed, **{"0/sample_index": samples, "0/logits/victim": logits})
    single = io.BytesIO()
    np.save(single, logits)
    return {
        "an unknown entry": (npz_bytes(**{"0/weights/victim": logits}), "holds an entry"),
        "no round number": (npz_bytes(**{"x/sample_index": samples}), "holds an entry"),
        "no sample index": (npz_bytes(**{"0/logits/victim": logits}), "no 1-D int64"),
        "float sample indices": (
            npz_bytes(**{"0/sample_index": samples * 1.0, "0/logits/victim": logits}),
            "no 1-D int64",
        ),
        "integer logits": (
            npz_bytes(**{"0/sample_index": samples, "0/logits/victim": samples[:, None]}),
            "0/logits/victim is int64",
        ),
        "logits of other samples": (
            npz_bytes(**{"0/sample_index": samples, "0/logits/victim": logits[:2]}),
            "of shape (2, 2) for 3 samples",
        ),
        "sensitivity without logits": (
            npz_bytes(**{"0/sample_index": samples, "0/sensitivity/victim": logits}),
            "has no logits of its shape",
        ),
        "no round": (npz_bytes(), "holds no round"),
        "a single .npy": (single.getvalue(), "a single .npy array"),
        "an empty file": (b"", "not an .npz archive (it starts with b'')"),
        "a truncated archive": (good[: len(good) // 2], "unreadable"),
        "flipped bytes": (flip_byte(good, len(good) // 4), "unreadable"),
        "flipped compressed bytes": (flip_byte(compressed.getvalue(), 100), "unreadable"),
        "JSON": (b'{"0": [1, 2]}', "not an .npz archive"),
        "a pickle": (crafted["a pickle"], "pickled data"),
        "a torch.save file": (crafted["a torch.save file"], "which is not a numpy array"),
        "an npz with an object array": (
            crafted["an npz with an object array"],
            "pickled data (an object array)",
        ),
        "a protocol 0 pickle": (pickle.dumps(CreatesFile(sentinel), 0), "not an .npz archive"),
    }


@pytest.mark.parametrize("case", list(wrong_outputs(Path("/nonexistent"))))
def test_a_file_that_is_not_model_outputs_is_refused(tmp_path: Path, case: str) -> None:
    content, says = wrong_outputs(tmp_path / "ran")[case]
    path = tmp_path / "dense_outputs.npz" / V1 / "dense_outputs.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    refused = refusal(outputs_dataset(tmp_path).load)
    assert str(path) in str(refused) and says in str(refused), str(refused)
    assert "--load-versions" in refused.hint and str(path.parent) in refused.hint
    assert not (tmp_path / "ran").exists()


# ----------------------------------------------------------------------------- dataset store


def store_dataset(project: Path, version: str | None = None) -> StoredDatasetDataset:
    """The ``dataset`` entry of ``project``; ``version`` to save, or None to load the newest."""
    return StoredDatasetDataset(
        str(project / "data/02_intermediate" / DATASET_REFERENCE),
        {"path": str(project / DATASET_STORE)},
        Version(version, version),
    )


def store_files(project: Path) -> list[Path]:
    """Every file in the store, temporary ones included."""
    return sorted((project / DATASET_STORE).iterdir())


def reference(project: Path, version: str) -> dict[str, Any]:
    path = project / "data/02_intermediate" / DATASET_REFERENCE / version / DATASET_REFERENCE
    return json.loads(path.read_text())


def test_the_dataset_is_stored_once_and_runs_refer_to_it(
    tmp_path: Path, toy_dataset: Dataset
) -> None:
    assert not store_dataset(tmp_path).exists()
    store_dataset(tmp_path, V1).save(toy_dataset)
    assert store_dataset(tmp_path).exists()
    [stored] = store_files(tmp_path)
    assert stored.name == f"{toy_dataset.fingerprint()}.npz"
    written = stored.stat()
    store_dataset(tmp_path, V2).save(toy_dataset)  # a second run on the same data
    assert store_files(tmp_path) == [stored]
    assert stored.stat().st_mtime_ns == written.st_mtime_ns  # not written again
    assert (
        reference(tmp_path, V2)
        == reference(tmp_path, V1)
        == {
            "fingerprint": toy_dataset.fingerprint(),
            "name": "toy",
            "store_file": stored.name,
            "samples": 240,
            "test_samples": 60,
            "input_shape": [8],
            "classes": 3,
        }
    )
    for version in (V1, V2):
        loaded = store_dataset(tmp_path, version).load()
        assert loaded.name == toy_dataset.name and loaded.class_names == toy_dataset.class_names
        for key in ("features", "labels", "is_test"):
            ours, theirs = getattr(toy_dataset, key), getattr(loaded, key)
            assert theirs.dtype == ours.dtype and theirs.tobytes() == ours.tobytes()


def test_the_name_comes_from_the_reference(tmp_path: Path, toy_dataset: Dataset) -> None:
    # The name is not part of the content: the same data under two names is stored once.
    arrays = (toy_dataset.features, toy_dataset.labels, toy_dataset.is_test)
    store_dataset(tmp_path, V1).save(toy_dataset)
    store_dataset(tmp_path, V2).save(Dataset("mine.npz", *arrays, toy_dataset.class_names))
    assert len(store_files(tmp_path)) == 1
    assert store_dataset(tmp_path, V1).load().name == "toy"
    assert store_dataset(tmp_path, V2).load().name == "mine.npz"


def test_the_image_shape_and_names_round_trip(tmp_path: Path, digits: Dataset) -> None:
    store_dataset(tmp_path, V1).save(digits)
    loaded = store_dataset(tmp_path).load()
    assert loaded.input_shape == (1, 8, 8) and loaded.fingerprint() == digits.fingerprint()
    assert reference(tmp_path, V1)["input_shape"] == [1, 8, 8]


STORE_DAMAGE = (
    "flipped bytes",
    "other content",
    "an array missing",
    "float labels",
    "a pickle",
    "an npz with an object array",
    "nothing",
)


def damaged_store_file(case: str, dataset: Dataset, sentinel: Path) -> tuple[bytes | None, str]:
    """What may lie at a dataset's store file instead of it (see :data:`STORE_DAMAGE`), and
    what the refusal says."""
    good = npz_bytes(**dataset_arrays(dataset))
    arrays = dataset_arrays(dataset)
    other = {**arrays, "labels": arrays["labels"][::-1].copy()}
    crafted = crafted_files(sentinel)
    cases = {
        "flipped bytes": (flip_byte(good, len(good) // 2), "unreadable"),
        "other content": (npz_bytes(**other), "damaged: its content has fingerprint"),
        "an array missing": (
            npz_bytes(**{k: a for k, a in arrays.items() if k != "is_test"}),
            "holds features (float32), labels (int64), class_names",
        ),
        "float labels": (
            npz_bytes(**{**arrays, "labels": arrays["labels"] * 1.0}),
            "labels must be a 1-D int64 array",
        ),
        "a pickle": (crafted["a pickle"], "pickled data"),
        "an npz with an object array": (crafted["an npz with an object array"], "pickled data"),
        "nothing": (None, "missing"),
    }
    assert tuple(cases) == STORE_DAMAGE
    return cases[case]


@pytest.mark.parametrize("case", STORE_DAMAGE)
def test_a_damaged_store_file_is_refused(tmp_path: Path, toy_dataset: Dataset, case: str) -> None:
    store_dataset(tmp_path, V1).save(toy_dataset)
    [path] = store_files(tmp_path)
    content, says = damaged_store_file(case, toy_dataset, tmp_path / "ran")
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    refused = refusal(store_dataset(tmp_path).load)
    message = str(refused)
    assert message.startswith(f"{path} (the dataset store file that run {V1}'s dataset refers")
    assert says in message, message
    assert "kedro run --pipeline=data_split" in refused.hint
    assert refused.hint.startswith("run" if content is None else f"delete {path} and run")
    assert not (tmp_path / "ran").exists()


def wrong_reference(case: str, sentinel: Path) -> bytes:
    """What may lie in a run's ``dataset`` slot instead of a reference."""
    crafted = crafted_files(sentinel)
    fingerprint = "0123456789abcdef"
    cases = {
        **crafted,
        "a path as fingerprint": {"fingerprint": "../../../../etc/passwd", "name": "x"},
        "a short fingerprint": {"fingerprint": fingerprint[:8], "name": "x"},
        "no name": {"fingerprint": fingerprint},
        "a list": [fingerprint],
    }
    content = cases[case]
    return content if isinstance(content, bytes) else json.dumps(content).encode()


REFERENCE_DAMAGE = (
    "a pickle",
    "a torch.save file",
    "an npz with an object array",
    "a path as fingerprint",
    "a short fingerprint",
    "no name",
    "a list",
)


@pytest.mark.parametrize("case", REFERENCE_DAMAGE)
def test_a_reference_that_is_not_one_is_refused(tmp_path: Path, case: str) -> None:
    path = tmp_path / "data/02_intermediate" / DATASET_REFERENCE / V1 / DATASET_REFERENCE
    path.parent.mkdir(parents=True)
    path.write_bytes(wrong_reference(case, tmp_path / "ran"))
    refused = refusal(store_dataset(tmp_path).load)
    assert str(refused).startswith(f"{path}: not a dataset reference")
    assert f"delete the version folder {path.parent}" in refused.hint
    assert not (tmp_path / "ran").exists()


def _save_at_once(project: Path, version: str, dataset: Dataset, start: Any) -> None:
    start.wait()
    store_dataset(project, version).save(dataset)


def test_runs_on_the_same_data_may_store_it_at_the_same_time(tmp_path: Path) -> None:
    # Large enough that the writes overlap: each writes its own temporary file, then renames.
    rng = np.random.default_rng(0)
    features = rng.normal(size=(4000, 1, 28, 28)).astype(np.float32)
    labels = np.arange(4000, dtype=np.int64) % 10
    dataset = Dataset("big", features, labels, labels >= 9, tuple("0123456789"))
    versions = [f"2026-01-01T10.00.00.00{i}Z" for i in range(4)]
    context = multiprocessing.get_context("fork")
    start = context.Barrier(len(versions))
    writers = [
        context.Process(target=_save_at_once, args=(tmp_path, version, dataset, start))
        for version in versions
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert [writer.exitcode for writer in writers] == [0] * len(versions)
    assert [p.name for p in store_files(tmp_path)] == [f"{dataset.fingerprint()}.npz"]
    for version in versions:
        assert store_dataset(tmp_path, version).load().fingerprint() == dataset.fingerprint()


# ----------------------------------------------------------------------------- every entry


def catalog_entries() -> dict[str, dict[str, Any]]:
    entries = yaml.safe_load((CONF / "base" / "catalog.yml").read_text())
    return {name: entry for name, entry in entries.items() if not name.startswith("_")}


def test_the_catalog_stores_no_pickle_and_the_dataset_where_housekeeping_looks() -> None:
    entries = catalog_entries()
    assert not [name for name, e in entries.items() if "pickle" in e["type"].lower()]
    dataset = entries["dataset"]
    assert dataset["store"]["path"] == DATASET_STORE.as_posix()
    assert Path(dataset["filepath"]).name == DATASET_REFERENCE
    # Every seed branch refers to the one store: the same data is stored once for all seeds.
    branched = seed_catalog({"dataset": dataset})["seed_{branch_seed}.dataset"]
    assert branched["store"] == dataset["store"]
    assert branched["filepath"] == "data/02_intermediate/seed_{branch_seed}/dataset.json"


def slots(entry: dict[str, Any], folder: Path, crafted: bytes) -> dict[str, dict[str, Any]]:
    """The ways a crafted file can reach ``entry``'s dataset class, as catalog configs whose
    files lie in ``folder``: its own versioned file, and for the dataset its store file and
    for stored models a user's file (``attack_stored.file``)."""
    name = f"artifact{Path(entry['filepath']).suffix}"
    config = {**entry, "filepath": str(folder / name)}
    own = folder / name / PLANTED / name
    own.parent.mkdir(parents=True)
    own.write_bytes(crafted)
    if "store" in entry:
        config["store"] = {"path": str(folder / "store")}
    if "file" in entry:
        config["file"] = None
    found = {"its versioned file": config}
    if "store" in entry:
        fingerprint = "0123456789abcdef"
        (folder / "store").mkdir()
        (folder / "store" / f"{fingerprint}.npz").write_bytes(crafted)
        referring = folder / "referring"
        reference = referring / name / PLANTED / name
        reference.parent.mkdir(parents=True)
        reference.write_text(json.dumps({"fingerprint": fingerprint, "name": "x"}))
        found["its store file"] = {**config, "filepath": str(referring / name)}
    if "file" in entry:
        found["a user's file"] = {**config, "file": str(own)}
    return found


def test_no_catalog_entry_runs_a_crafted_pickle(tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    types = {entry["type"]: entry for entry in catalog_entries().values()}
    assert set(types) == OURS | {
        "pandas.CSVDataset",
        "pandas.ParquetDataset",
        "json.JSONDataset",
        "text.TextDataset",
        "wemem_pipeline.catalog_datasets.torch_state_dicts.TorchStateDictsDataset",
        "wemem_pipeline.catalog_datasets.torch_state_dicts.StoredModelsDataset",
    }
    tried = []
    for how, crafted in crafted_files(sentinel).items():
        for kind, entry in types.items():
            folder = tmp_path / str(len(tried))
            for slot, config in slots(entry, folder, crafted).items():
                try:
                    AbstractDataset.from_config(kind, config).load()
                    error = None
                except Exception as raised:  # whatever it is, as long as nothing ran
                    error = raised
                tried.append((kind, slot, how))
                assert not sentinel.exists(), f"{kind} ran {how} from {slot}"
                if kind in OURS:
                    assert isinstance(user_error_in(error), ArtifactError), error
                    assert str(folder) in str(user_error_in(error))
    assert len(tried) == 3 * (len(types) + 2)  # + the dataset's store, a user's model file


# ----------------------------------------------------------------------------- kedro runs


def test_no_artifact_of_a_run_is_a_pickle(finished_run: Path) -> None:
    files = [path for path in (finished_run / "data").rglob("*") if path.is_file()]
    # Pickles start with the PROTO opcode; torch's model files are zip archives, whose
    # tensors-only pickle is read with weights_only=True.
    assert not [path for path in files if path.read_bytes()[:1] == b"\x80"]
    assert not [path for path in files if path.suffix in (".pkl", ".pickle")]
    # One store file for the run, named by the fingerprint its record has.
    [record] = [json.loads(p.read_text()) for p in (finished_run / "data/09_runs").glob("*")]
    [stored] = (finished_run / DATASET_STORE).iterdir()
    assert stored.name == f"{record['dataset_fingerprint']}.npz"
    assert reference(finished_run, record["run_id"])["fingerprint"] == stored.stem


def plant(project: Path, slot: str, crafted: bytes) -> str:
    """``crafted`` as a new version of ``slot`` (a catalog entry, or the dataset's store
    file, then with a new reference to it); the ``--load-versions`` that loads it."""
    if slot == "dataset store file":
        fingerprint = "0123456789abcdef"
        (project / DATASET_STORE / f"{fingerprint}.npz").write_bytes(crafted)
        crafted = json.dumps({"fingerprint": fingerprint, "name": "digits"}).encode()
        slot = "dataset"
    relative = (
        "02_intermediate/dataset.json" if slot == "dataset" else f"07_model_output/{slot}.npz"
    )
    folder = project / "data" / relative
    assert latest(project, relative).is_file()  # the slot the finished run filled
    (folder / PLANTED).mkdir()
    (folder / PLANTED / folder.name).write_bytes(crafted)
    return f"{slot}:{PLANTED}"


# Where the project kept pickles before, and what `attacks` loads of them from earlier runs.
# The scenarios' defended outputs are only loaded by the run that makes them (tested above).
PICKLE_SLOTS = (
    "dataset",
    "dataset store file",
    "dense_outputs",
    "one_shot_outputs",
    "iterative_outputs",
)


@pytest.mark.slow
def test_a_crafted_pickle_in_a_run_s_input_never_runs(finished_run: Path, tmp_path: Path) -> None:
    runs = []
    for slot in PICKLE_SLOTS:
        (tmp_path / slot).mkdir()
        project = project_copy(tmp_path / slot)
        shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
        load = plant(project, slot, crafted_files(project / "ran")["a pickle"])
        runs.append((project, ["--pipeline=attacks", f"--load-versions={load}"]))
    for (project, args), result in zip(runs, run_kedro_each(runs), strict=True):
        output = result.stdout + result.stderr
        assert result.returncode == 1, output[-3000:]
        assert REFUSED in result.stderr and "Traceback" not in output, output[-3000:]
        assert PLANTED in result.stderr or "0123456789abcdef" in result.stderr, result.stderr
        assert not (project / "ran").exists(), args
