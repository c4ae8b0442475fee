"""Kedro datasets for the project's models: a dict of named state dicts in one file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import fsspec
import torch
from kedro.io import Version
from kedro.io.core import get_protocol_and_path

from ..core.errors import DataError
from .versioned_file import VersionedFileDataset


def read_state_dicts(file: IO[bytes], source: str) -> dict:
    """One state dict, or ``{model_name: state_dict}``, read without unpickling any object.

    Anything else (a bare tensor, a list, a whole pickled module, a corrupt file) is refused
    with a :class:`DataError` that names ``source``; unsafe loading is never suggested.
    """
    expected = "a dict of tensors (a state dict) or {model name: state dict}, saved with torch.save"
    try:
        stored = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or pickling objects other than tensors
        raise DataError(
            f"{source}: not a model file this project loads ({type(exc).__name__}); expected "
            f"{expected}. Files that need arbitrary objects unpickled are never loaded."
        ) from None  # torch's own message suggests unsafe loading: do not show it
    models = stored.values() if isinstance(stored, Mapping) else ()
    single = bool(models) and all(torch.is_tensor(value) for value in models)
    several = bool(models) and all(
        isinstance(model, Mapping) and all(torch.is_tensor(v) for v in model.values())
        for model in models
    )
    if not (single or several):
        raise DataError(f"{source}: holds {_describe_object(stored)}; expected {expected}")
    return stored


def _describe_object(stored: object) -> str:
    if torch.is_tensor(stored):
        return f"a bare tensor of shape {tuple(stored.shape)}"
    if isinstance(stored, Mapping):
        return f"a dict of {sorted({type(v).__name__ for v in stored.values()}) or 'nothing'}"
    return f"a {type(stored).__name__}"


class TorchStateDictsDataset(VersionedFileDataset):
    """Saves ``{model_name: state_dict}`` with ``torch.save``; loads with ``weights_only=True``.

    Loading never unpickles arbitrary objects, so a model file from elsewhere is safe to load.
    """

    def load(self) -> dict:
        path = self._load_file()
        with self._fs.open(path, "rb") as file:
            return read_state_dicts(file, path)

    def save(self, data: dict) -> None:
        with self._fs.open(self._save_file(), "wb") as file:
            torch.save(data, file)


class StoredModelsDataset(TorchStateDictsDataset):
    """A versioned models file of the catalog, or a state-dict file a user points to.

    With ``file`` set, that file is loaded instead of the catalog version. It may hold one
    model's state dict, which becomes the ``victim`` entry, or ``{model_name: state_dict}``.
    """

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        file: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, version, metadata)
        self._file = file

    def load(self) -> dict:
        if not self._file:
            return super().load()
        protocol, path = get_protocol_and_path(self._file)
        fs = fsspec.filesystem(protocol)
        if not fs.exists(path):
            raise DataError(f"attack_stored.file: no file at {self._file}")
        with fs.open(path, "rb") as file:
            stored = read_state_dicts(file, f"attack_stored.file={self._file}")
        if all(torch.is_tensor(value) for value in stored.values()):
            return {"victim": stored}
        return stored

    def save(self, data: dict) -> None:
        raise NotImplementedError("stored_models is read-only: it points at other entries")

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "file": self._file}
