"""scikit-learn's digits (1,797 8x8 images, 10 classes): shipped with scikit-learn, no files."""

from __future__ import annotations

from .base import Dataset, image_dataset


def load_digits(**_: object) -> Dataset:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = bunch.images[:, None]  # (N, 1, 8, 8)
    return image_dataset("digits", images, bunch.target, None, None, [str(c) for c in range(10)])
