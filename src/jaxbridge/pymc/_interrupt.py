"""Ctrl-C during sampling: raise :class:`KeyboardInterrupt`, never return partial draws.

Two traps this module closes:

* PyMC's NUTS and nutpie catch ``KeyboardInterrupt`` and return the draws made so far as if the
  run had finished (PyMC's sequential sampler even goes on with the next chain).
  :func:`interruptible` notes the interrupt in its own SIGINT handler (which then calls the
  previous one, so the sampler still stops), PyMC's per-draw callback
  (:func:`stop_if_interrupted`) stops the chains that follow, and once the sampler returns
  :func:`interruptible` raises.
* NumPyro and BlackJAX run their chains inside compiled XLA programs; XLA never returns to the
  interpreter, so Python's SIGINT handler cannot run until the whole run has finished. With
  ``in_worker=True`` the call runs in a daemon thread while the main thread waits in short
  slices, where the interrupt is raised at once. The abandoned computation stops at its next
  host callback that calls :func:`stop_if_interrupted` (BlackJAX's progress bar, when shown);
  otherwise (NumPyro) it finishes in the background and its result is discarded.

Signal handlers can only be installed from the main thread; elsewhere the call runs as is.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between the main thread's checks for an interrupt while a worker samples.
POLL_SECONDS = 0.1

#: Set by Ctrl-C during :func:`interruptible`; cleared when the next call starts.
_interrupted = threading.Event()


def stop_if_interrupted(*_: object) -> None:
    """Raise :class:`KeyboardInterrupt` if the current sampling run was interrupted.

    For callbacks the samplers call as they go: PyMC's per-draw ``callback`` (the documented
    way to stop it), and host callbacks of an XLA run (the raise makes XLA abort the run).
    """
    if _interrupted.is_set():
        raise KeyboardInterrupt("sampling interrupted")


def interruptible(call: Callable[[], T], *, in_worker: bool = False) -> T:
    """``call()``, raising :class:`KeyboardInterrupt` if Ctrl-C (SIGINT) came during it."""
    if threading.current_thread() is not threading.main_thread():
        return call()
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN or SIG_DFL: the user chose what SIGINT does
        return call()
    _interrupted.clear()

    def note_and_forward(signum: int, frame: Any) -> None:
        _interrupted.set()
        previous(signum, frame)

    signal.signal(signal.SIGINT, note_and_forward)
    try:
        result = _in_worker(call) if in_worker else call()
    finally:
        signal.signal(signal.SIGINT, previous)
    if _interrupted.is_set():  # the sampler swallowed it and returned what it had
        raise KeyboardInterrupt("sampling interrupted; partial draws discarded")
    return result


def _in_worker(call: Callable[[], T]) -> T:
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

    threading.Thread(target=target, name="jaxbridge-sampler", daemon=True).start()
    try:
        while not done.wait(POLL_SECONDS):
            pass
    except KeyboardInterrupt:
        _interrupted.set()  # tells the worker's callbacks to stop
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
