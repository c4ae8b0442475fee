"""A user's own data: a ``.npz``, ``.csv`` or ``.parquet`` file with a label column."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError
from .base import (
    MIN_CLASS_SAMPLES,
    Dataset,
    not_found,
    standardize_columns,
    standardize_images,
)

_USER_SUFFIXES = (".npz", ".csv", ".parquet")


def _encode_labels(values: np.ndarray, source: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map labels of any type to 0..C-1 in sorted order; class names are the originals as text."""
    if pd.isna(values).any():
        raise DataError(f"{source}: the labels contain missing values")
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:
        # Mixed types (e.g. ints and strings in one object column) cannot be ordered: use text.
        classes, codes = np.unique(values.astype(str), return_inverse=True)
    return codes.reshape(-1).astype(np.int64), tuple(str(c) for c in classes)


def _as_is_test(values: np.ndarray, n: int, source: Path) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (n,):
        raise DataError(f"{source}: is_test has shape {values.shape}, expected ({n},)")
    if values.dtype == np.bool_:
        return values
    if np.issubdtype(values.dtype, np.integer) and set(np.unique(values)) <= {0, 1}:
        return values.astype(bool)
    raise DataError(f"{source}: is_test must be boolean (True/False or 0/1), got {values.dtype}")


def _check_not_continuous(labels: np.ndarray, name: str, path: Path) -> None:
    """Refuse non-integer numbers as labels: a continuous value (a regression target, a
    measurement) would become one class per distinct value. (Integer labels with mostly tiny
    classes are refused before the first node, with the split: ``run_checks``.)"""
    if not np.issubdtype(labels.dtype, np.floating):
        return
    fractional = labels[labels != np.round(labels)]
    if len(fractional):
        shown = ", ".join(f"{value:g}" for value in fractional[:3])
        raise DataError(
            f"{path}: the labels {name!r} (dataset.label_column) hold non-integer numbers "
            f"({len(fractional):,} of {len(labels):,} rows, e.g. {shown}) and "
            f"{len(np.unique(labels)):,} distinct values: they look continuous, not like classes",
            hint="set dataset.label_column to a column of class labels, or bin the values into "
            f"a few classes of at least {MIN_CLASS_SAMPLES} rows each first",
        )


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, str]  # features, labels, is_test, label name


def _read_npz(path: Path, label_column: str | None) -> Arrays:
    try:
        archive = np.load(path, allow_pickle=False)  # no pickle: a data file must not run code
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc
    with archive:
        keys = set(archive.files)
        x_key = next((k for k in ("x", "features") if k in keys), None)
        y_keys = (label_column,) if label_column else ("y", "labels")
        y_key = next((k for k in y_keys if k in keys), None)
        if x_key is None or y_key is None:
            raise DataError(
                f"{path}: expected arrays 'x' (or 'features') and "
                f"{' or '.join(repr(k) for k in y_keys)}; the file holds {sorted(keys)}"
            )
        x, y = archive[x_key], archive[y_key]
        is_test = archive["is_test"] if "is_test" in keys else np.zeros(len(x), dtype=bool)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"{path}: features must be numeric, got dtype {x.dtype}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: labels shape {y.shape} does not match {len(x)} samples")
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) greyscale images -> (N, 1, H, W)
    if x.ndim not in (2, 4):
        raise DataError(
            f"{path}: features must have shape (N, D), (N, H, W) or (N, C, H, W), got {x.shape}"
        )
    return x, y, _as_is_test(is_test, len(x), path), y_key


def _read_table(path: Path, label_column: str | None) -> Arrays:
    if not label_column:
        raise DataError(f"{path}: set `dataset.label_column` to the name of the label column")
    frame = _read_frame(path)
    if label_column not in frame.columns:
        raise DataError(
            f"{path}: label column {label_column!r} (dataset.label_column) not found; "
            f"columns present: {list(frame.columns)}"
        )
    is_test = (
        _as_is_test(frame["is_test"].to_numpy(), len(frame), path)
        if "is_test" in frame.columns
        else np.zeros(len(frame), dtype=bool)
    )
    feats = frame.drop(columns=[label_column, "is_test"], errors="ignore")
    if feats.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides {label_column!r}")
    non_numeric = [
        str(c)
        for c in feats.columns
        if not (pd.api.types.is_numeric_dtype(feats[c]) or pd.api.types.is_bool_dtype(feats[c]))
    ]
    if non_numeric:
        raise DataError(
            f"{path}: feature columns must be numeric; non-numeric: {non_numeric} "
            "(encode them, e.g. one-hot, before loading)"
        )
    x = feats.to_numpy(np.float64)
    finite = np.isfinite(x).all(axis=0)
    bad_columns = [str(column) for column in feats.columns[~finite]]
    if bad_columns:
        raise DataError(
            f"{path}: feature columns with missing or infinite values: {bad_columns}",
            hint="fill or drop those values (e.g. with the column mean) before loading",
        )
    return x, frame[label_column].to_numpy(), is_test, label_column


def _read_frame(path: Path) -> pd.DataFrame:
    """A CSV or parquet file as a table with at least one row; errors name the file."""
    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty (no header, no rows)") from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable {path.suffix} table ({exc})") from exc
    if frame.empty:
        raise DataError(f"{path}: the file has a header ({frame.shape[1]} columns) but no rows")
    return frame


def _check_usable(x: np.ndarray, labels: np.ndarray, path: Path) -> None:
    """Refuse data that would train but could not be attacked: no rows, non-finite, one class."""
    if len(x) == 0:
        raise DataError(f"{path}: the file holds no samples")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad_rows = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        raise DataError(
            f"{path}: {len(bad_rows)} samples have missing or infinite features "
            f"(rows {bad_rows[:5].tolist()}{' ...' if len(bad_rows) > 5 else ''})",
            hint="fill or drop those values before loading",
        )
    classes = pd.unique(pd.Series(labels).dropna())
    if len(classes) < 2:
        raise DataError(
            f"{path}: every label is {classes[0] if len(classes) else None}; training and "
            "membership inference need at least two classes",
            hint="check `dataset.label_column`",
        )


def load_file(*, path: Path | None, label_column: str | None, **_: object) -> Dataset:
    if path is None:
        raise ParameterError(
            "dataset.name 'file' needs `dataset.path` (a .npz, .csv or .parquet file)"
        )
    if not path.is_file():
        raise not_found("file", [path], "  - check `dataset.path` (relative to the project root)")
    if path.suffix.lower() not in _USER_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(_USER_SUFFIXES)}"
        )

    read = _read_npz if path.suffix.lower() == ".npz" else _read_table
    x, raw_labels, is_test, label_name = read(path, label_column)
    _check_usable(x, raw_labels, path)
    labels, class_names = _encode_labels(raw_labels, path)
    _check_not_continuous(raw_labels, label_name, path)

    order = np.argsort(is_test, kind="stable")  # train rows first, original order kept
    x, labels, is_test = x[order], labels[order], is_test[order]
    n_train = int((~is_test).sum())
    if n_train == 0:
        raise DataError(f"{path}: every row has is_test=True; at least one train row is needed")
    standardize = standardize_images if x.ndim == 4 else standardize_columns
    return Dataset("file", standardize(x, n_train), labels, is_test, class_names)
