"""Per-class sliding windows over the members ordered by mem-score (the RSW primitive)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..validation import ParameterError, require_choice

ORDERS = ("low_to_high", "high_to_low", "random")


def _size(value: int | float, class_size: int, minimum: int) -> int:
    """A count given as an int, or as a float fraction of the class size."""
    if isinstance(value, float):
        return max(minimum, round(value * class_size))
    return int(value)


def _in_window(width: int, stride: int, class_size: int, epoch: int) -> int:
    """How many of a class's ranks the window of ``epoch`` holds (clipped to the class)."""
    start = min(stride * epoch, class_size)
    return min(width, class_size - start)


@dataclass(frozen=True)
class WindowConfig:
    """Window ``width`` and ``stride`` per class: ints are counts, floats fractions of a class.

    Epoch e trains on ranks ``[stride * e, stride * e + width)`` of every class, ranks taken
    in ``order`` of mem-score (``low_to_high``: least memorable first).
    """

    width: int | float = 0.25
    stride: int | float = 0.17
    order: str = "low_to_high"
    section: str = field(default="defenses.rsw", repr=False)  # names parameters in errors

    def __post_init__(self) -> None:
        require_choice(f"{self.section}.order", self.order, ORDERS)
        for key in ("width", "stride"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(f"{self.section}.{key} must be a number, got {value!r}")
            if isinstance(value, float) and not 0 <= value <= 1:
                raise ParameterError(
                    f"{self.section}.{key} as a fraction of a class must be in [0, 1], got {value}"
                )
        if self.width <= 0:
            raise ParameterError(
                f"{self.section}.width must be > 0 (a count or a fraction), got {self.width!r}"
            )
        if self.stride <= 0:
            # A window that never moves trains on the same members every epoch and never
            # shows the others to the model: not a sliding window.
            raise ParameterError(
                f"{self.section}.stride must be > 0 (a count or a fraction), got {self.stride!r}"
            )


class ClassWindows:
    """Every class's members in mem-score order, and the window of each epoch."""

    def __init__(
        self,
        members: np.ndarray,
        labels: np.ndarray,
        scores: np.ndarray,
        config: WindowConfig,
        seed: int = 0,
    ):
        members = np.asarray(members, dtype=np.int64)
        scores = np.asarray(scores, dtype=float)
        if len(scores) != len(members):
            raise ValueError("one mem-score per member is needed")
        rng = np.random.default_rng(seed)
        self.config = config
        self.ranked: dict[int, np.ndarray] = {}
        self.bounds: dict[int, tuple[int, int]] = {}  # (width, stride) in samples, per class
        for label in np.unique(labels[members]):
            in_class = np.flatnonzero(labels[members] == label)
            if config.order == "random":
                order = rng.permutation(len(in_class))
            else:
                # Stable sort on (score, sample index): ties keep a reproducible order.
                order = np.lexsort((members[in_class], scores[in_class]))
                if config.order == "high_to_low":
                    order = order[::-1]
            self.ranked[int(label)] = members[in_class][order]
            size = len(in_class)
            self.bounds[int(label)] = (
                _size(config.width, size, minimum=1),
                _size(config.stride, size, minimum=1),
            )

    def window(self, epoch: int) -> np.ndarray:
        """Members in the window of ``epoch``; each class is clipped to its own length."""
        parts = []
        for label, ranked in self.ranked.items():
            width, stride = self.bounds[label]
            start = min(stride * epoch, len(ranked))
            parts.append(ranked[start : start + width])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def members_in_windows(self, epochs: int) -> np.ndarray:
        """Every member in the window of at least one of epochs ``0 .. epochs - 1``."""
        windows = [self.window(epoch) for epoch in range(epochs)]
        return np.unique(np.concatenate(windows)) if windows else np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class WindowCoverage:
    """What the windows of one model's classes do over a round of ``epochs`` epochs.

    ``covers_every_class``: the width is at least every class's size, so the window
    restricts nothing and only its slide leaves members out (epoch e drops the ``stride * e``
    lowest ranks). ``trained_share``: the member-epochs the windows train on, as a share of
    Base's (every member, every epoch).
    """

    covers_every_class: bool
    trained_share: float


def window_coverage(
    config: WindowConfig, class_sizes: Sequence[int], epochs: int
) -> WindowCoverage:
    """:class:`WindowCoverage` of ``config`` for classes of ``class_sizes`` members."""
    sizes = [int(size) for size in class_sizes if size > 0]
    bounds = [(_size(config.width, n, 1), _size(config.stride, n, 1)) for n in sizes]
    covers = all(width >= n for (width, _), n in zip(bounds, sizes, strict=True))
    trained = sum(
        _in_window(width, stride, n, epoch)
        for (width, stride), n in zip(bounds, sizes, strict=True)
        for epoch in range(epochs)
    )
    return WindowCoverage(covers, trained / max(1, epochs * sum(sizes)))
