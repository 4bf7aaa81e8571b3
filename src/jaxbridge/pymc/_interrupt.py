"""Ctrl-C during sampling: raise :class:`KeyboardInterrupt`, never return partial draws.

Every :func:`jaxbridge.sample` call owns a :class:`Cancel` token; nothing about one run is kept
in module state, so an abandoned run and a new one never share a flag. Three traps it closes:

* PyMC's NUTS and nutpie catch ``KeyboardInterrupt`` and return the draws made so far as if the
  run had finished (PyMC's sequential sampler even goes on with the next chain).
  :func:`catching_interrupts` notes the interrupt on the run's token in its own SIGINT handler
  (which then calls the previous one, so the sampler still stops), PyMC's per-draw callback
  (:meth:`Cancel.check`) stops the chains that follow, and once the sampler returns the scope
  raises.
* NumPyro, BlackJAX and the mode search run inside compiled XLA programs or long loops; XLA
  never returns to the interpreter, so Python's SIGINT handler cannot run until the whole run
  has finished. With :func:`in_worker_thread` the call runs in a daemon thread while the main
  thread waits in short slices, where the interrupt is raised at once and the token marked
  abandoned. The abandoned work stops at its next check of the token (each evaluation of the
  mode search, each step of BlackJAX's progress bar); work without such a point (NumPyro's
  compiled loop) finishes in the background and its result is discarded.
* The worker thread re-enters the caller's JAX context (:class:`JaxContext`: mesh, default
  device, float64 mode), which JAX keeps per thread.

Compilation that must not be cut half-way (nutpie's numba backend) runs under
:func:`deferring_interrupts`: Ctrl-C there is noted and raised once it has finished.

Signal handlers can only be installed from the main thread; elsewhere the call runs as is.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

#: Seconds between the main thread's checks for an interrupt while a worker runs.
POLL_SECONDS = 0.1
#: The name of the worker threads (tests look for them).
WORKER_NAME = "jaxbridge-sampler"


class Cancel:
    """One run's cancel token: whether Ctrl-C came (``interrupted``) and whether the caller
    has given up waiting for its worker (``abandoned``)."""

    def __init__(self) -> None:
        self._interrupted = threading.Event()
        self._abandoned = threading.Event()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    @property
    def abandoned(self) -> bool:
        return self._abandoned.is_set()

    def note_interrupt(self) -> None:
        self._interrupted.set()

    def abandon(self) -> None:
        self._abandoned.set()

    def check(self, *_: object) -> None:
        """Raise :class:`KeyboardInterrupt` if the run was interrupted or abandoned.

        For the points where work goes on after an interrupt was swallowed (before sampling
        starts, PyMC's per-draw ``callback``) and for the host callbacks and loops of a worker
        (raising there makes XLA abort the run). Takes and ignores any arguments, so that it
        serves as a callback itself.
        """
        if self._abandoned.is_set():
            raise KeyboardInterrupt("sampling abandoned")
        if self._interrupted.is_set():
            raise KeyboardInterrupt("sampling interrupted")


def _handles_sigint(previous: Any) -> bool:
    """Whether this thread may install a SIGINT handler over ``previous``: only the main
    thread can, and a handler left ignored or to the system (``SIG_IGN``/``SIG_DFL``) is the
    user's choice."""
    return threading.current_thread() is threading.main_thread() and callable(previous)


@contextlib.contextmanager
def catching_interrupts(cancel: Cancel) -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) is noted on ``cancel`` as well as raised; the block
    raises :class:`KeyboardInterrupt` at its end if one came, even when the code inside
    swallowed it, and in place of any error the code inside raised after swallowing it (PyMC
    keeps the draws it has on Ctrl-C, and fails when there are none: "Not enough samples to
    build a trace").

    A ``KeyboardInterrupt`` that Python could only print and drop (raised inside a garbage
    collection callback) is not printed within the block: it is raised at the block's end.
    Scopes nest (each forwards to the handler and hook it replaced). Outside the main thread, or when
    SIGINT is ignored or left to the system (``SIG_IGN``/``SIG_DFL``: the user's choice), the
    block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if not _handles_sigint(previous):
        yield
        return

    def note_and_forward(signum: int, frame: Any) -> None:
        cancel.note_interrupt()
        previous(signum, frame)

    previous_hook = sys.unraisablehook

    def quiet_about_the_interrupt(unraisable: Any) -> None:
        # A KeyboardInterrupt raised inside a callback Python cannot propagate from (a garbage
        # collection callback such as XLA's) is printed as "Exception ignored in ..." with a
        # traceback; the token has it and the block raises it at its end.
        if not (cancel.interrupted and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous_hook(unraisable)

    signal.signal(signal.SIGINT, note_and_forward)
    sys.unraisablehook = quiet_about_the_interrupt
    try:
        yield
    except Exception as error:  # the code inside swallowed it, then failed on what it had
        if cancel.interrupted:
            raise KeyboardInterrupt("sampling interrupted") from error
        raise
    else:
        cancel.check()  # the code inside swallowed it and returned what it had
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


@contextlib.contextmanager
def deferring_interrupts(cancel: Cancel) -> Iterator[None]:
    """Within the block, Ctrl-C is only noted on ``cancel`` (for :meth:`Cancel.check` after
    it), not raised: for compilers that must not be stopped half-way. A ``KeyboardInterrupt``
    raised inside numba's compilation leaves LLVM objects that crash the interpreter
    (segmentation fault) when they are garbage-collected later. Outside the main thread, or
    when SIGINT is ignored or left to the system, the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if not _handles_sigint(previous):
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: cancel.note_interrupt())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def warnings_unless_interrupted(cancel: Cancel) -> Iterator[None]:
    """Warnings raised in the block are shown at its end, unless Ctrl-C came (noted on
    ``cancel``): a sampler that returns the draws it has on Ctrl-C warns about them (nutpie's
    "More chains (2) than draws (0)"), and the user, who pressed Ctrl-C, needs none of that."""
    with warnings.catch_warnings(record=True) as caught:
        yield
    if not cancel.interrupted:
        for warning in caught:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


class JaxContext(NamedTuple):
    """The JAX settings JAX keeps per thread: the mesh context (:func:`jax.set_mesh`), the
    default device (:func:`jax.default_device`) and the float64 mode (:func:`jax.enable_x64`)."""

    mesh: Any
    default_device: Any
    x64: bool

    @classmethod
    def capture(cls) -> JaxContext:
        """This thread's settings."""
        import jax

        return cls(
            jax.sharding.get_mesh(), jax.config.jax_default_device, jax.config.jax_enable_x64
        )

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """The same settings in the current thread."""
        import jax

        with contextlib.ExitStack() as stack:
            if not self.mesh.empty:
                stack.enter_context(jax.set_mesh(self.mesh))
            if self.default_device is not None:
                stack.enter_context(jax.default_device(self.default_device))
            if self.x64:  # a scope that turned it on (never off: the global flag rules)
                stack.enter_context(jax.enable_x64(True))
            yield


def in_worker_thread(call: Callable[[], T], cancel: Cancel) -> T:
    """``call()`` in a daemon thread, in the caller's JAX context; the calling thread stays
    responsive to signals and, when interrupted, marks ``cancel`` abandoned and raises.

    The caller waits on an event, not on ``Thread.join``: an interrupted ``join`` leaves the
    thread looking finished while it runs on (CPython gh-90882).
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()
    context = JaxContext.capture()

    def target() -> None:
        try:
            with context.entered():
                outcome["result"] = call()
        except BaseException as error:  # re-raised in the calling thread
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=target, name=WORKER_NAME, daemon=True).start()
    try:
        while not done.wait(POLL_SECONDS):
            pass
    except KeyboardInterrupt:
        cancel.abandon()  # the worker's checks of the token stop it
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
