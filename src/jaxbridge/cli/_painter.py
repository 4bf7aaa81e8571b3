"""Figures drawn in worker processes while the run goes on.

A fit's six PNGs cost seconds of matplotlib. A :class:`Painter` with ``parallel=True`` hands
them to worker processes, spawned (the parent's JAX threads make ``fork`` unsafe), the first
before the command imports PyMC, so that its imports overlap the parent's; the data's figure
is drawn while the chains run, the posterior's while the parent decodes the hidden states and
writes the run folder.
Without ``parallel`` (``jaxbridge report``) it draws in the calling process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from jaxbridge.cli._figures import save

#: Worker processes of a parallel :class:`Painter`: a fit's figures take about two seconds
#: of one CPU, which two workers halve after the sampling.
WORKERS = 2


class Painter:
    """Saves figures, each path once, in worker processes when ``parallel``.

    :meth:`save` may be called again for a path already saved (or being saved): the second call
    does nothing, so that the figures drawn as soon as their data exist are not drawn again by
    the function that writes the whole report. :meth:`wait` returns when every figure is saved
    and raises the first error a figure raised. When a worker dies or cannot start (killed;
    a script that runs the command line without the ``__main__`` guard spawning needs), the
    workers are stopped and the figures are drawn in this process.

    The first worker starts with the painter (before the command imports PyMC), the others
    with the first figure, when the command's own start-up is over; each figure goes to the
    worker with the fewest figures pending.
    """

    def __init__(self, *, parallel: bool) -> None:
        self._pending: dict[Path, tuple[Future, Callable[..., Any], tuple]] = {}
        self._saved: set[Path] = set()
        self._workers: list[tuple[ProcessPoolExecutor, list[Future]]] = []
        self._more = WORKERS - 1 if parallel else 0
        if parallel:
            self._start_worker()

    def save(self, path: Path, draw: Callable[..., Any], *args: Any) -> None:
        """Save ``draw(*args)`` to ``path`` (see :func:`jaxbridge.cli._figures.save`)."""
        if path in self._saved or path in self._pending:
            return
        try:
            while self._more:
                self._more -= 1
                self._start_worker()
            if self._workers:
                executor, futures = min(
                    self._workers, key=lambda w: sum(not f.done() for f in w[1])
                )
                future = executor.submit(save, draw, path, *args)
                futures.append(future)
                self._pending[path] = (future, draw, args)
                return
        except BrokenProcessPool:
            self.close()
        save(draw, path, *args)
        self._saved.add(path)

    def wait(self) -> None:
        """Wait for every figure; raise the first error one of them raised."""
        for path, (future, draw, args) in list(self._pending.items()):
            try:
                future.result()
            except (BrokenProcessPool, CancelledError):  # a worker is gone: draw here
                self.close()
                save(draw, path, *args)
            self._saved.add(path)
            del self._pending[path]

    def close(self) -> None:
        """Stop the workers; figures not yet drawn are cancelled."""
        for executor, _ in self._workers:
            executor.shutdown(wait=True, cancel_futures=True)
        self._workers, self._more = [], 0

    def _start_worker(self) -> None:
        executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )
        self._workers.append((executor, [executor.submit(_warm_up)]))

    def __enter__(self) -> Painter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _start_worker() -> None:
    # Ctrl-C is the parent's to handle: it stops the worker through close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the parent's start-up, search and sampling go first; the figures take the idle CPU
    os.nice(10)


def _warm_up() -> None:
    """Import what the figures use and render text once (fonts, style), before any figure."""
    import io

    import scipy.stats  # noqa: F401  (the densities and the QQ plot)

    save(_titled_square, io.BytesIO())


def _titled_square() -> Any:
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(1, 1))
    ax.set_title("warm-up")
    return figure
