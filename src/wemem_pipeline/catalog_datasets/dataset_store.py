"""Kedro dataset of the loaded dataset: stored once per content, referred to by each run.

Every run that loads the data used to save a full copy of it. Now the arrays go to the dataset
store, one ``<fingerprint>.npz`` per content (``Dataset.fingerprint()``), written only when
absent; each run's versioned artifact is a small JSON reference naming the fingerprint (and
the dataset's name, which is not part of the content, and its size for people reading it).

- **Writing** goes to a temporary file in the store, renamed into place: a reader never sees
  half a file, and two runs on the same data may both write it (same content, the last rename
  wins).
- **Loading** reads the reference, the archive without unpickling anything, and recomputes the
  fingerprint: a damaged or replaced store file is refused, naming the file and the run whose
  reference points to it.
- ``kedro clean`` (``runs/housekeeping.py``) deletes a store file no kept reference names.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from kedro.io import Version
from kedro.io.core import get_filepath_str, get_protocol_and_path

from ..core.datasets import Dataset
from .npz_files import read_arrays, refused
from .versioned_file import VersionedFileDataset

log = logging.getLogger(__name__)

# The store's folder, relative to the project, as conf/base/catalog.yml gives it.
DATASET_STORE = PurePosixPath("data/02_intermediate/datasets")
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
_ARRAYS = ("features", "labels", "is_test", "class_names")
EXPECTED_STORE_FILE = (
    "an .npz archive of the dataset store: features (float32), labels (int64), "
    "is_test (bool) and class_names (strings), whose fingerprint is its file name"
)
EXPECTED_REFERENCE = 'a JSON object with the dataset\'s "fingerprint" (16 hex digits) and "name"'


def store_file_name(fingerprint: str) -> str:
    return f"{fingerprint}.npz"


def fingerprint_of_reference(text: str | bytes) -> str | None:
    """The fingerprint a reference names; ``None`` if ``text`` is not a reference."""
    try:
        reference = json.loads(text)
    except ValueError:  # also UnicodeDecodeError: binary content
        return None
    if not isinstance(reference, Mapping):
        return None
    fingerprint = reference.get("fingerprint")
    # Checked before it becomes part of a path: a reference never points outside the store.
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        return None
    if not isinstance(reference.get("name"), str):
        return None
    return fingerprint


def dataset_arrays(dataset: Dataset) -> dict[str, np.ndarray]:
    """What the store keeps of ``dataset``: everything its fingerprint covers."""
    return {
        "features": dataset.features,
        "labels": dataset.labels,
        "is_test": dataset.is_test,
        "class_names": np.array(dataset.class_names, dtype=str),
    }


class StoredDatasetDataset(VersionedFileDataset):
    """A :class:`Dataset` kept once per content in the store folder ``store["path"]``; the
    versioned ``filepath`` is the run's JSON reference to it (see the module doc).

    ``store`` is a mapping so that its ``path`` is made absolute by Kedro like ``filepath``
    (the notebook's working directory is not the project's).
    """

    def __init__(
        self,
        filepath: str,
        store: Mapping[str, str],
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, version, metadata)
        self._store = PurePosixPath(get_protocol_and_path(store["path"])[1])

    def load(self) -> Dataset:
        reference_path = self._load_file()
        with self._fs.open(reference_path, "rb") as file:
            reference = file.read()
        run = PurePosixPath(reference_path).parent.name
        fingerprint = fingerprint_of_reference(reference)
        if fingerprint is None:
            raise refused(
                reference_path,
                "not a dataset reference",
                EXPECTED_REFERENCE,
                f"delete the version folder {PurePosixPath(reference_path).parent} and run "
                "`kedro run --pipeline=data_split` again, or name another version with "
                "--load-versions",
            )
        path = get_filepath_str(self._store / store_file_name(fingerprint), self._protocol)
        remake = (
            "run `kedro run --pipeline=data_split` again with the same dataset parameters: it "
            "writes the file again, and every run that refers to it can load it again"
        )
        source = f"{path} (the dataset store file that run {run}'s dataset refers to)"
        if not self._fs.exists(path):
            raise refused(source, "missing", EXPECTED_STORE_FILE, remake)
        hint = f"delete {path} and {remake}"
        with self._fs.open(path, "rb") as file:
            arrays = read_arrays(file, source, EXPECTED_STORE_FILE, hint)
        if set(arrays) != set(_ARRAYS) or arrays["class_names"].dtype.kind != "U":
            found = ", ".join(f"{k} ({a.dtype})" for k, a in arrays.items())
            raise refused(source, f"holds {found}", EXPECTED_STORE_FILE, hint)
        name = json.loads(reference)["name"]
        try:
            dataset = Dataset(
                name,
                arrays["features"],
                arrays["labels"],
                arrays["is_test"],
                tuple(str(c) for c in arrays["class_names"]),
            )
        except (TypeError, ValueError) as error:
            raise refused(source, str(error), EXPECTED_STORE_FILE, hint) from None
        if dataset.fingerprint() != fingerprint:
            problem = f"its content has fingerprint {dataset.fingerprint()}, not {fingerprint}"
            raise refused(source, f"damaged: {problem}", EXPECTED_STORE_FILE, hint)
        return dataset

    def save(self, data: Dataset) -> None:
        fingerprint = data.fingerprint()
        self._write_to_store(data, fingerprint)
        reference = {
            "fingerprint": fingerprint,
            "name": data.name,
            "store_file": store_file_name(fingerprint),
            "samples": data.num_samples,
            "test_samples": int(data.is_test.sum()),
            "input_shape": list(data.input_shape),
            "classes": data.num_classes,
        }
        with self._fs.open(self._save_file(), "w") as file:
            json.dump(reference, file, indent=2)

    def _write_to_store(self, data: Dataset, fingerprint: str) -> None:
        """The store file of ``data``, written only when absent, atomically."""
        path = get_filepath_str(self._store / store_file_name(fingerprint), self._protocol)
        if self._fs.exists(path):
            log.info("The dataset is in the store already (%s): this run refers to it", path)
            return
        self._fs.makedirs(str(self._store), exist_ok=True)
        # Unique per writer: runs on the same data may write at the same time. The leading dot
        # keeps it out of what ``kedro clean`` counts as store files.
        temporary = str(PurePosixPath(path).with_name(f".{fingerprint}.{uuid.uuid4().hex}.tmp"))
        try:
            with self._fs.open(temporary, "wb") as file:
                np.savez(file, **dataset_arrays(data))
            self._fs.mv(temporary, path)  # a rename: atomic on one file system
            log.info("Stored the dataset once for every run on the same data: %s", path)
        finally:
            if self._fs.exists(temporary):
                self._fs.rm(temporary)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "store": self._store, "version": self._version}
