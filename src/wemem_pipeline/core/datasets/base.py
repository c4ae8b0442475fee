"""The in-memory form every loader returns, and what the loaders share: standardization
with train statistics only, and the "files not found" error that says where we looked."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import DataError

# A class needs about this many samples before the split can give each model's pool members
# of it and scored non-members of it (a pool holds half of the training part; 10% of a pool
# plus its half of the test part are non-members, two thirds of them scored).
MIN_CLASS_SAMPLES = 10


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array comparison has no single truth
class Dataset:
    """A whole dataset in memory: train samples first, then the official test samples."""

    name: str
    features: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        # Checked once here so that every consumer can rely on the contract without re-checking.
        n = len(self.labels)
        if self.features.dtype != np.float32:
            raise TypeError(f"features must be float32, got {self.features.dtype}")
        if self.labels.dtype != np.int64 or self.labels.ndim != 1:
            raise TypeError(f"labels must be a 1-D int64 array, got {self.labels.dtype}")
        if self.is_test.dtype != np.bool_ or self.is_test.shape != (n,):
            raise TypeError(f"is_test must be a bool array of shape ({n},)")
        if self.features.ndim not in (2, 4) or len(self.features) != n:
            raise ValueError(
                f"features must have shape (N, D) or (N, C, H, W) with N={n}, "
                f"got {self.features.shape}"
            )
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must lie in 0..{len(self.class_names) - 1}")

    @property
    def num_samples(self) -> int:
        return int(len(self.labels))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.features.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def fingerprint(self) -> str:
        """A short hash of the data itself: two datasets with one fingerprint hold the same
        samples, labels and test split."""
        digest = hashlib.sha256()
        for array in (self.features, self.labels, self.is_test):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update("\0".join(self.class_names).encode())
        return digest.hexdigest()[:16]


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset's files are missing; the message lists where we looked and how to get them."""


def not_found(name: str, looked: Sequence[Path | str], how: str) -> DatasetNotFoundError:
    # Absolute paths: relative ones depend on the working directory, which is what often differs.
    places = "\n".join(f"  - {Path(p).absolute()}" for p in looked)
    return DatasetNotFoundError(
        f"Dataset {name!r}: files not found. Looked in:\n{places}\nHow to get them:\n{how}"
    )


# ----------------------------------------------------------------------------- standardization


def standardize_images(x: np.ndarray, n_train: int) -> np.ndarray:
    """Float32 copy of ``x`` (N, C, H, W) standardized per channel with the first n_train rows."""
    out = x.astype(np.float32)  # always a copy, so the in-place ops below never touch the input
    train = out[:n_train]
    for c in range(out.shape[1]):
        # float64 accumulation: float32 sums over ~50M pixels lose several digits.
        mean = train[:, c].mean(dtype=np.float64)
        std = train[:, c].std(dtype=np.float64)
        out[:, c] -= np.float32(mean)
        out[:, c] /= np.float32(std if std > 0 else 1.0)
    return out


def standardize_columns(x: np.ndarray, n_train: int) -> np.ndarray:
    """Float32 copy of ``x`` (N, D) standardized per column with the first n_train rows."""
    out = x.astype(np.float32)
    mean = out[:n_train].mean(axis=0, dtype=np.float64)
    std = out[:n_train].std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0  # a constant column stays constant (0) instead of becoming NaN
    out -= mean.astype(np.float32)
    out /= std.astype(np.float32)
    return out


def image_dataset(
    name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray | None,
    test_y: np.ndarray | None,
    class_names: Sequence[str],
) -> Dataset:
    """Concatenate train then test images (N, C, H, W); standardize with train statistics."""
    parts_x = [train_x] if test_x is None else [train_x, test_x]
    parts_y = [train_y] if test_y is None else [train_y, test_y]
    n_train = len(train_x)
    x = np.concatenate(parts_x) if len(parts_x) > 1 else train_x
    y = np.concatenate(parts_y).astype(np.int64)
    is_test = np.zeros(len(y), dtype=bool)
    is_test[n_train:] = True
    return Dataset(name, standardize_images(x, n_train), y, is_test, tuple(class_names))


def torchvision_datasets() -> ModuleType:
    """``torchvision.datasets``, an optional dependency (heavy; only CIFAR and downloads use it)."""
    try:
        import torchvision.datasets
    except ImportError as exc:
        raise DataError(
            f"this dataset needs torchvision, which is not installed ({exc}).\n"
            '  - install it with: pip install -e ".[vision]"'
        ) from exc
    return torchvision.datasets
