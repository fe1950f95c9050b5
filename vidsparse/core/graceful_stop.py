"""Stopping long jobs on SIGINT/SIGTERM without losing work or leaving partial files.

A cluster scheduler sends SIGTERM before it kills a job, and Ctrl-C sends SIGINT. Two ways to
stop, both ending in a ``SignalStop`` (a KeyboardInterrupt whose exit code is 128 + signal):

- training (``StopSignals``): the signals only raise a flag; the loop checks it between steps
  (all DDP ranks agree on it), saves a mid-epoch checkpoint and raises ``TrainingInterrupted``.
  A second signal aborts at once (checkpoints are written atomically, so the last one stays valid).
- corrupt and eval (``sigterm_as_interrupt``): they record their work item by item, so SIGTERM
  is simply turned into Ctrl-C (``Terminated``) wherever it lands; without this, SIGTERM's
  default action would end Python with no ``finally`` run and temporary files left behind.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalStop(KeyboardInterrupt):
    """A stop requested by a signal. A KeyboardInterrupt, so callers that do not know it (a
    sweep) still stop as on Ctrl-C."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell convention for death by a signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class TrainingInterrupted(SignalStop):
    """A requested stop of training, after its checkpoint was saved."""

    def __init__(self, signum: int, epoch: int, step: int) -> None:
        super().__init__(signum, f"interrupted at epoch {epoch} step {step}; continue with --resume")


class Terminated(SignalStop):
    """SIGTERM, raised where the main thread was (inside ``sigterm_as_interrupt``)."""

    def __init__(self) -> None:
        super().__init__(signal.SIGTERM, "stopped by SIGTERM; the same command resumes")


_terminated = threading.Event()  # a SIGTERM arrived inside the current sigterm_as_interrupt block


def _terminate(signum: int, frame: FrameType | None) -> None:
    _terminated.set()
    raise Terminated()


def raise_if_terminated() -> None:
    """Raise ``Terminated`` if a SIGTERM arrived whose exception Python swallowed.

    The handler's exception is lost when the signal lands in code that ignores exceptions (an
    ``os.fork`` at-fork hook while a process pool starts, a ``__del__``): long jobs call this
    between their units of work so such a SIGTERM still stops them there.
    """
    if _terminated.is_set():
        raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _terminated.clear()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        _terminated.clear()


class StopSignals:
    """Context manager: while active, SIGINT/SIGTERM set ``received`` instead of killing.

    Handlers can only be installed from the main thread; elsewhere the signals keep their
    default behaviour and ``received`` stays 0.
    """

    def __init__(self) -> None:
        self.received = 0  # the first signal's number, 0 = none
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.received != 0

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # No printing here: the main thread may be inside a write to the same stream.
        if self.received:
            raise KeyboardInterrupt
        self.received = signum


WORKER_GRACE_S = 120


def shield_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: keep loader workers alive through the stop signals.

    Ctrl-C, and the SIGTERM that torchrun forwards, reach the whole process group, loader
    workers included; a worker that dies of it breaks the loader before the main process
    can finish its step and save. SIGINT is ignored. SIGTERM only arms an alarm (SIGALRM,
    whose default action ends the process): a worker that the loader itself terminates
    because it is stuck still exits, and the main process cannot hang waiting for it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_later)


def _exit_later(signum: int, frame: FrameType | None) -> None:
    remaining = signal.alarm(WORKER_GRACE_S)
    if remaining:  # a repeated SIGTERM does not postpone the first one's alarm
        signal.alarm(remaining)
