"""Progress bars: drawn only on a terminal watched by one process, and never in the way."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading

import pytest

from wemem_pipeline.core import progress
from wemem_pipeline.core.progress import progress_bar


class Terminal(io.StringIO):
    """A stderr that says it is a terminal and keeps what is written to it."""

    def isatty(self) -> bool:
        return True


class BrokenTerminal(Terminal):
    """A terminal that went away (its reader closed the pipe): every write fails."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def on(stderr: io.StringIO) -> contextlib.redirect_stderr:
    """``stderr`` as sys.stderr inside the test's body (pytest puts its own back between a
    fixture's set-up and the test)."""
    return contextlib.redirect_stderr(stderr)


def test_steps_pass_through_and_nothing_is_drawn_without_a_terminal(capfd) -> None:
    steps = list(progress_bar(iter(["a", "b", "c"]), "attacks"))
    assert steps == ["a", "b", "c"]
    assert capfd.readouterr().err == ""


def test_a_terminal_shows_the_bar_and_clears_it() -> None:
    with on(Terminal()) as terminal:
        steps = list(progress_bar(range(3), "attacks on round_2"))
    assert steps == [0, 1, 2]
    drawn = terminal.getvalue()
    assert "attacks on round_2" in drawn and "/3" in drawn
    assert drawn.endswith("\r")  # leave=False: the bar's line is wiped when the loop ends


def test_no_bar_when_asked_not_to() -> None:
    with on(Terminal()) as terminal:
        assert list(progress_bar(range(3), "epochs", show=False)) == [0, 1, 2]
    assert terminal.getvalue() == ""


def test_worker_processes_draw_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    # A parallel runner's worker: its stderr is the same terminal as the main process's.
    monkeypatch.setattr(progress.multiprocessing, "parent_process", lambda: object())
    with on(Terminal()) as terminal:
        assert list(progress_bar(range(3), "rounds")) == [0, 1, 2]
    assert terminal.getvalue() == ""


def test_threads_other_than_the_main_one_draw_no_bar() -> None:
    steps: list[int] = []
    worker = threading.Thread(target=lambda: steps.extend(progress_bar(range(3), "rounds")))
    with on(Terminal()) as terminal:
        worker.start()
        worker.join()
    assert steps == [0, 1, 2]
    assert terminal.getvalue() == ""


def test_a_broken_terminal_ends_the_bar_not_the_loop() -> None:
    seen = []
    with on(BrokenTerminal()):
        bar = progress_bar(range(4), "compared runs")
        for step in bar:
            bar.set_postfix(step=step)
            seen.append(step)
    assert seen == [0, 1, 2, 3]


def test_a_stderr_without_isatty_gets_no_bar() -> None:
    with contextlib.redirect_stderr(object()):
        assert list(progress_bar(range(2), "epochs")) == [0, 1]


def test_an_error_in_the_loop_propagates_and_clears_the_bar() -> None:
    with on(Terminal()) as terminal, pytest.raises(KeyError):
        for step in progress_bar(range(5), "attacks"):
            if step == 2:
                raise KeyError(step)
    assert terminal.getvalue().endswith("\r")


def test_tqdm_disable_hides_the_bars_in_a_terminal() -> None:
    # tqdm reads its TQDM_* defaults when imported: a fresh interpreter.
    script = (
        "import io, sys\n"
        "class T(io.StringIO):\n"
        "    def isatty(self): return True\n"
        "sys.stderr = T()\n"
        "from wemem_pipeline.core.progress import progress_bar\n"
        "list(progress_bar(range(3), 'epochs'))\n"
        "print(repr(sys.stderr.getvalue()))\n"
    )
    env = {"TQDM_DISABLE": "1", "PATH": "", "PYTHONPATH": ":".join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "''"
