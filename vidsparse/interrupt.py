"""SIGTERM stops a job the way Ctrl-C does.

Schedulers (SLURM, Kubernetes, torchrun when a peer fails) stop jobs with SIGTERM, whose
default action ends Python at once: no ``finally`` runs, so temporary files stay and the last
progress is not recorded. Raising ``Terminated`` (a KeyboardInterrupt) instead sends SIGTERM
down the path every job already has for Ctrl-C; the command then exits with 143 (Ctrl-C: 130),
as ``vidsparse train`` does. Training stops at a step boundary instead
(``vidsparse.graceful_stop``); corrupt and eval record their work item by item, so they can
stop wherever the signal lands.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread was."""

    signum = signal.SIGTERM

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell convention for death by a signal: 143


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated("stopped by SIGTERM; the same command resumes")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
