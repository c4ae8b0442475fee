"""Kedro dataset of the models' outputs per round: ``{round: ModelOutputs}`` in one ``.npz``.

The archive holds plain arrays only, saved as they are (float32 logits stay float32, NaNs of
the sensitivity included) and compressed without loss, so a round trip is bit-identical. It is
read without unpickling anything (:mod:`.npz_files`) and checked entry by entry before it
becomes ``ModelOutputs``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np

from ..core.outputs import ModelOutputs
from .npz_files import read_arrays, refused
from .versioned_file import VersionedFileDataset

# Archive entries: "<round>/sample_index", "<round>/logits/<model>", "<round>/sensitivity/<model>".
EXPECTED = (
    "an .npz archive of model outputs: per round <r>/sample_index (1-D int64) and, per model, "
    "<r>/logits/<model> (2-D floats, one row per sample) and optionally "
    "<r>/sensitivity/<model> (floats of the logits' shape)"
)


def to_arrays(outputs: dict[int, ModelOutputs]) -> dict[str, np.ndarray]:
    """The archive entries of ``outputs`` (see :data:`EXPECTED`), in round and model order."""
    arrays: dict[str, np.ndarray] = {}
    for round_index, stage in outputs.items():
        if not isinstance(round_index, int) or not isinstance(stage, ModelOutputs):
            kinds = f"{type(round_index).__name__}: {type(stage).__name__}"
            raise TypeError(f"expected {{int round: ModelOutputs}}, got {{{kinds}}}")
        arrays[f"{round_index}/sample_index"] = stage.sample_index
        arrays |= {f"{round_index}/logits/{m}": a for m, a in stage.logits.items()}
        arrays |= {f"{round_index}/sensitivity/{m}": a for m, a in stage.sensitivity.items()}
    objects = [key for key, array in arrays.items() if np.asarray(array).dtype.hasobject]
    if objects:  # np.savez would pickle them, and loading refuses pickles
        raise TypeError(f"object arrays cannot be saved without pickle: {objects}")
    return arrays


def from_arrays(arrays: dict[str, np.ndarray], source: str, hint: str) -> dict[int, ModelOutputs]:
    """``{round: ModelOutputs}`` of the archive entries ``arrays``; anything that is not
    :data:`EXPECTED` (an unknown entry, a wrong shape or dtype) is refused naming ``source``."""

    def problem(text: str) -> Exception:
        return refused(source, text, EXPECTED, hint)

    entries: dict[int, dict[str, Any]] = {}
    for key, array in arrays.items():
        round_text, _, rest = key.partition("/")
        kind, _, model = rest.partition("/")
        if not round_text.isdigit() or (kind, bool(model)) not in {
            ("sample_index", False),
            ("logits", True),
            ("sensitivity", True),
        }:
            raise problem(f"holds an entry {key!r}")
        stage = entries.setdefault(int(round_text), {"logits": {}, "sensitivity": {}})
        if model:
            stage[kind][model] = array
        else:
            stage[kind] = array
    if not entries:
        raise problem("holds no round")
    outputs = {}
    for round_index, stage in entries.items():
        samples = stage.get("sample_index")
        if samples is None or samples.dtype != np.int64 or samples.ndim != 1:
            raise problem(f"round {round_index} has no 1-D int64 sample_index")
        for kind in ("logits", "sensitivity"):
            for model, array in stage[kind].items():
                if array.dtype.kind != "f" or array.ndim != 2 or len(array) != len(samples):
                    raise problem(
                        f"{round_index}/{kind}/{model} is {array.dtype} of shape {array.shape} "
                        f"for {len(samples)} samples"
                    )
        for model, array in stage["sensitivity"].items():
            logits = stage["logits"].get(model)
            if logits is None or logits.shape != array.shape:
                raise problem(f"{round_index}/sensitivity/{model} has no logits of its shape")
        outputs[round_index] = ModelOutputs(samples, stage["logits"], stage["sensitivity"])
    return outputs


class ModelOutputsDataset(VersionedFileDataset):
    """Saves ``{round: ModelOutputs}`` as one ``.npz`` (numpy, no pickle); loads it back with
    ``allow_pickle=False`` and checks every entry. A file that is not such an archive is
    refused with an :class:`~wemem_pipeline.core.errors.ArtifactError` naming it."""

    def load(self) -> dict[int, ModelOutputs]:
        path = self._load_file()
        hint = (
            f"this file was not written by the project, or has changed since: delete its "
            f"version folder {PurePosixPath(path).parent} and run the pipeline that makes it "
            "again, or name another version with --load-versions"
        )
        with self._fs.open(path, "rb") as file:
            arrays = read_arrays(file, path, EXPECTED, hint)
        return from_arrays(arrays, path, hint)

    def save(self, data: dict[int, ModelOutputs]) -> None:
        arrays = to_arrays(data)
        with self._fs.open(self._save_file(), "wb") as file:
            # Compressed: a third smaller (the sensitivity's NaN rows, the logits' exponents)
            # for under 0.1 s per MB; every run writes several of these.
            np.savez_compressed(file, **arrays)
