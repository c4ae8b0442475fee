"""Work shared among forked processes: the shares, their results, the parent's bar and the
errors of a worker."""

from __future__ import annotations

import os

import pytest
from test_progress import Terminal, on

from wemem_pipeline.core import workers
from wemem_pipeline.core.progress import ProgressBar
from wemem_pipeline.core.workers import can_fork, deal, in_workers, step_done, worker_count

pytestmark = pytest.mark.skipif(not can_fork(), reason="forked workers need fork")


def squares_and_pids(items: list[int]) -> tuple[list[int], int]:
    for _ in items:
        step_done()
    return [item * item for item in items], os.getpid()


def test_items_are_dealt_in_turn_and_never_into_empty_shares() -> None:
    assert deal(list(range(5)), 2) == [[0, 2, 4], [1, 3]]
    assert deal(["a"], 3) == [["a"]]
    assert deal([], 2) == []


def test_each_share_comes_back_with_its_result_from_its_own_process() -> None:
    shares = in_workers(squares_and_pids, range(5), 2, steps=5, description="squares")
    assert [share for share, _ in shares] == [[0, 2, 4], [1, 3]]
    assert [result for _, (result, _) in shares] == [[0, 4, 16], [1, 9]]
    assert os.getpid() not in {pid for _, (_, pid) in shares}
    assert workers._JOB is None and workers._STEPS is None  # nothing left for the next call


def test_one_worker_or_one_item_runs_here_as_one_share() -> None:
    for items, count in ((range(3), 1), ([7], 2)):
        [(share, (result, pid))] = in_workers(squares_and_pids, items, count)
        assert share == list(items) and result == [i * i for i in items]
        assert pid == os.getpid()


class CountedBar(ProgressBar):
    counted: list[int] = []

    def update(self) -> None:
        self.counted.append(1)
        super().update()


def test_the_parent_counts_the_workers_steps_on_its_bar(monkeypatch) -> None:
    monkeypatch.setattr(workers, "ProgressBar", CountedBar)
    with on(Terminal()) as terminal:
        in_workers(squares_and_pids, range(6), 2, steps=6, description="squares")
    assert "squares" in terminal.getvalue()
    assert len(CountedBar.counted) == 6


def fails_on_three(items: list[int]) -> list[int]:
    if 3 in items:
        raise ValueError("three is refused")
    return items


def test_an_error_in_a_worker_is_raised_here() -> None:
    with pytest.raises(ValueError, match="three is refused"):
        in_workers(fails_on_three, range(4), 2, steps=4)
    assert workers._JOB is None


def test_worker_count_auto_is_one_per_core_on_the_cpu_and_one_on_a_gpu(monkeypatch) -> None:
    monkeypatch.setattr(workers, "available_cores", lambda: 2)
    assert worker_count("auto", 6, on_gpu=False) == 2
    assert worker_count("auto", 1, on_gpu=False) == 1
    assert worker_count("auto", 6, on_gpu=True) == 1
    assert worker_count(3, 2, on_gpu=False) == 2
