"""Ctrl-C during sampling: raise :class:`KeyboardInterrupt`, never return partial draws.

Two traps this module closes:

* PyMC's NUTS and nutpie catch ``KeyboardInterrupt`` and return the draws made so far as if the
  run had finished (PyMC's sequential sampler even goes on with the next chain).
  :func:`catching_interrupts` notes the interrupt in its own SIGINT handler (which then calls
  the previous one, so the sampler still stops), PyMC's per-draw callback
  (:func:`stop_if_interrupted`) stops the chains that follow, and once the sampler returns
  the scope raises.
* NumPyro and BlackJAX run their chains inside compiled XLA programs; XLA never returns to the
  interpreter, so Python's SIGINT handler cannot run until the whole run has finished. With
  :func:`in_worker_thread` the call runs in a daemon thread while the main thread waits in short
  slices, where the interrupt is raised at once. The abandoned computation stops at its next
  host callback that calls :func:`stop_if_abandoned` (BlackJAX's progress bar, when shown);
  otherwise (NumPyro) it finishes in the background and its result is discarded.

Compilation that must not be cut half-way (nutpie's numba backend) runs under
:func:`deferring_interrupts`: Ctrl-C there is noted and raised once it has finished.

Signal handlers can only be installed from the main thread; elsewhere the call runs as is.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between the main thread's checks for an interrupt while a worker samples.
POLL_SECONDS = 0.1

#: Set by Ctrl-C inside :func:`catching_interrupts`; cleared when the outermost scope ends.
_interrupted = threading.Event()
_depth = 0
#: Set when the caller of :func:`in_worker_thread` was interrupted; cleared by the next call.
_abandoned = threading.Event()


def stop_if_interrupted(*_: object) -> None:
    """Raise :class:`KeyboardInterrupt` if Ctrl-C came within the current scope.

    For the points where work goes on after an interrupt was swallowed: before sampling
    starts (a ``KeyboardInterrupt`` raised inside a garbage-collection callback is printed and
    dropped) and PyMC's per-draw ``callback`` (the documented way to stop it).
    """
    if _interrupted.is_set():
        raise KeyboardInterrupt("sampling interrupted")


def stop_if_abandoned(*_: object) -> None:
    """For host callbacks of an XLA run in :func:`in_worker_thread`: raise if its caller was
    interrupted (the raise makes XLA abort the run)."""
    if _abandoned.is_set():
        raise KeyboardInterrupt("sampling abandoned")


def _handles_sigint(previous: Any) -> bool:
    """Whether this thread may install a SIGINT handler over ``previous``: only the main
    thread can, and a handler left ignored or to the system (``SIG_IGN``/``SIG_DFL``) is the
    user's choice."""
    return threading.current_thread() is threading.main_thread() and callable(previous)


@contextlib.contextmanager
def catching_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) is noted as well as raised; the block raises
    :class:`KeyboardInterrupt` at its end if one came, even when the code inside swallowed it.

    Scopes nest. Outside the main thread, or when SIGINT is ignored or left to the system
    (``SIG_IGN``/``SIG_DFL``: the user's choice), the block runs as it is.
    """
    global _depth
    previous = signal.getsignal(signal.SIGINT)
    if not _handles_sigint(previous):
        yield
        return

    def note_and_forward(signum: int, frame: Any) -> None:
        _interrupted.set()
        previous(signum, frame)

    signal.signal(signal.SIGINT, note_and_forward)
    _depth += 1
    try:
        yield
        stop_if_interrupted()  # the code inside swallowed it and returned what it had
    finally:
        _depth -= 1
        signal.signal(signal.SIGINT, previous)
        if _depth == 0:
            _interrupted.clear()


@contextlib.contextmanager
def deferring_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C is only noted (for :func:`stop_if_interrupted` after it), not
    raised: for compilers that must not be stopped half-way. A ``KeyboardInterrupt`` raised
    inside numba's compilation leaves LLVM objects that crash the interpreter (segmentation
    fault) when they are garbage-collected later. Outside the main thread, or when SIGINT is
    ignored or left to the system, the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if not _handles_sigint(previous):
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: _interrupted.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def in_worker_thread(call: Callable[[], T]) -> T:
    """``call()`` in a daemon thread; the calling thread stays responsive to signals.

    The caller waits on an event, not on ``Thread.join``: an interrupted ``join`` leaves the
    thread looking finished while it runs on (CPython gh-90882).
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:  # re-raised in the calling thread
            outcome["error"] = error
        finally:
            done.set()

    _abandoned.clear()
    threading.Thread(target=target, name="jaxbridge-sampler", daemon=True).start()
    try:
        while not done.wait(POLL_SECONDS):
            pass
    except KeyboardInterrupt:
        _abandoned.set()  # tells the worker's callbacks to stop
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
