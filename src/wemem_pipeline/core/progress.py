"""Progress bars for the slow loops (training epochs, mem-score ensembles, prune rounds,
attacks, compared runs).

A bar is drawn on stderr only where a person watches one process: stderr is a terminal and
the loop runs in the main thread of the main process. CI logs, tests, and the workers of
parallel and Dask runs (whose stderr may be the same terminal) get nothing, so their output
never fills with bar lines. ``TQDM_DISABLE=1`` hides the bars in a terminal too. A failing
stderr ends the bar, never the loop.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from tqdm import tqdm

Step = TypeVar("Step")


def bars_wanted() -> bool:
    """True where a bar is seen, and drawn by this process alone (see the module)."""
    try:
        return (
            sys.stderr.isatty()
            and multiprocessing.parent_process() is None
            and threading.current_thread() is threading.main_thread()
        )
    except (AttributeError, OSError, ValueError):  # stderr replaced, closed or detached
        return False


class ProgressBar(Generic[Step]):
    """The steps of a loop, with a bar counting them where :func:`bars_wanted`."""

    def __init__(self, steps: Iterable[Step], description: str, show: bool = True) -> None:
        self._steps = steps
        self._bar: tqdm | None = None
        if show and bars_wanted():
            total = len(steps) if hasattr(steps, "__len__") else None
            # No ``disable`` argument: tqdm reads TQDM_DISABLE for its default.
            self._bar = self._safely(
                tqdm, total=total, desc=description, leave=False, file=sys.stderr
            )

    def __iter__(self) -> Iterator[Step]:
        try:
            for step in self._steps:
                yield step
                self.update()
        finally:
            self.close()

    def update(self) -> None:
        """One more step done, where the steps are counted apart from a loop."""
        if self._bar is not None:
            self._safely(self._bar.update, 1)

    def close(self) -> None:
        if self._bar is not None:
            self._safely(self._bar.close)

    def set_postfix(self, **values: Any) -> None:
        """Show ``values`` after the bar (e.g. the last epoch's dev accuracy)."""
        if self._bar is not None:
            self._safely(self._bar.set_postfix, **values)

    def _safely(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except (OSError, ValueError):  # e.g. the terminal went away: go on without a bar
            self._bar = None
            return None


def progress_bar(steps: Iterable[Step], description: str, show: bool = True) -> ProgressBar:
    """``steps`` to loop over, counted on a bar labelled ``description`` (``show=False``:
    never a bar)."""
    return ProgressBar(steps, description, show)
