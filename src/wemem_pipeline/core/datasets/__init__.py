"""Load the datasets the project can use offline into one in-memory form.

Every loader returns a :class:`Dataset`: float32 features (images as ``(C, H, W)``), int64 labels,
and an ``is_test`` mask marking the dataset's own official test split. Train samples come first.
Features are standardized with statistics of the train part only, so no test information leaks
into preprocessing.

A loader that cannot find its files raises :class:`DatasetNotFoundError` with every place it looked
and how to get the files; it never falls back to another dataset.

One module per source: :mod:`.digits`, :mod:`.idx` (MNIST, Fashion-MNIST), :mod:`.cifar`,
:mod:`.adult` and :mod:`.user_file`; :mod:`.base` holds the :class:`Dataset` they return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..errors import ParameterError
from ..validation import require_choice
from .adult import load_adult
from .base import Dataset, DatasetNotFoundError
from .cifar import load_cifar
from .digits import load_digits
from .idx import load_idx_dataset, read_idx
from .user_file import load_file

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "DatasetConfig",
    "DatasetNotFoundError",
    "load_dataset",
    "read_idx",
]

# name -> loader; every loader takes the same keyword arguments and ignores those it does not use.
_LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "fashion_mnist": partial(load_idx_dataset, "fashion_mnist"),
    "mnist": partial(load_idx_dataset, "mnist"),
    "cifar10": partial(load_cifar, "cifar10"),
    "cifar100": partial(load_cifar, "cifar100"),
    "adult": load_adult,
    "file": load_file,
}

DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)


def load_dataset(
    name: str,
    *,
    raw_dir: str | Path = "data/01_raw",
    allow_download: bool = False,
    path: str | Path | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASET_NAMES`).

    ``raw_dir`` is where downloaded/copied raw files live (``<raw_dir>/<name>/``). ``path`` is the
    user's file for ``file`` and an extra folder searched first for the other file-based datasets
    (the root folder for CIFAR). ``label_column`` names the label column of a ``.csv``/``.parquet``
    (or the label array of a ``.npz``). Downloads happen only when ``allow_download`` is True.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in _LOADERS:
        raise ParameterError(
            f"Unknown dataset.name {name!r}; allowed values: {', '.join(DATASET_NAMES)}"
        )
    return _LOADERS[key](
        raw_dir=Path(raw_dir),
        allow_download=bool(allow_download),
        path=None if path is None else Path(path),
        label_column=label_column,
    )


@dataclass(frozen=True)
class DatasetConfig:
    """Which dataset to load and where its files are (see :func:`load_dataset`)."""

    name: str = "digits"
    raw_dir: str = "data/01_raw"
    allow_download: bool = False
    path: str | None = None
    label_column: str | None = None

    def __post_init__(self) -> None:
        require_choice("dataset.name", self.name, DATASET_NAMES)
        if self.name == "file" and not self.path:
            raise ParameterError(
                "dataset.path must name the file to load when dataset.name is 'file'"
            )

    def load(self) -> Dataset:
        return load_dataset(
            self.name,
            raw_dir=self.raw_dir,
            allow_download=self.allow_download,
            path=self.path,
            label_column=self.label_column,
        )
