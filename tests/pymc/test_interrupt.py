"""Ctrl-C during sampling raises KeyboardInterrupt: never partial draws returned as a finished run."""

import contextlib
import logging
import os
import signal
import threading
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
import pytest

from jaxbridge.pymc import sample
from jaxbridge.pymc._interrupt import (
    WORKER_NAME,
    Cancel,
    catching_interrupts,
    in_worker_thread,
    warnings_unless_interrupted,
)


@pytest.fixture(autouse=True)
def _python_handles_sigint():
    """Python's own SIGINT handler, as in a terminal: a shell starts background jobs (``cmd &``
    in a script, CI runners) with SIGINT ignored, and Python keeps an ignored SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _interrupt_in(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_an_interrupt_the_callee_swallows_is_raised_after_it_returns():
    """PyMC's NUTS and nutpie catch KeyboardInterrupt and return what they have."""

    def sampler_that_returns_partial_draws():
        try:
            time.sleep(30)
        except KeyboardInterrupt:
            return "partial draws"
        return "all draws"

    _interrupt_in(0.3)
    cancel = Cancel()
    with pytest.raises(KeyboardInterrupt), catching_interrupts(cancel):
        sampler_that_returns_partial_draws()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert cancel.interrupted
    with catching_interrupts(Cancel()):  # the next run has its own token: it starts clean
        pass


def test_an_interrupt_the_callee_swallows_then_fails_on_is_raised_in_place_of_the_error():
    """PyMC keeps the draws it has on Ctrl-C and fails when there are none yet (during
    tuning): "Not enough samples to build a trace". The user pressed Ctrl-C: they see that."""

    def sampler_that_fails_on_partial_draws():
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(30)
        raise ValueError("Not enough samples to build a trace.")

    _interrupt_in(0.3)
    with pytest.raises(KeyboardInterrupt) as raised, catching_interrupts(Cancel()):
        sampler_that_fails_on_partial_draws()
    assert isinstance(raised.value.__cause__, ValueError)
    with pytest.raises(ValueError), catching_interrupts(Cancel()):  # without Ctrl-C: the error
        raise ValueError("a real failure")


def test_an_interrupt_swallowed_by_a_gc_callback_is_not_lost():
    """A KeyboardInterrupt raised inside a garbage-collection callback is printed and dropped."""
    import gc

    def swallowing_callback(phase, info):
        if phase == "start":
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(0.01)

    gc.callbacks.append(swallowing_callback)
    try:
        _interrupt_in(0.3)
        with pytest.raises(KeyboardInterrupt), catching_interrupts(Cancel()):
            deadline = time.perf_counter() + 3.0
            while time.perf_counter() < deadline:  # all time spent inside collections
                gc.collect()
    finally:
        gc.callbacks.remove(swallowing_callback)


def test_an_interrupt_python_drops_in_a_gc_callback_is_not_printed():
    """Python prints "Exception ignored in <callback>" and a traceback for a KeyboardInterrupt
    raised in a garbage-collection callback (XLA has one); within the block it is the token's."""
    import gc
    import sys

    def dropping_callback(phase, info):
        if phase == "start":
            time.sleep(0.01)

    printed = []
    gc.callbacks.append(dropping_callback)
    hook, sys.unraisablehook = sys.unraisablehook, printed.append  # what Python would print
    try:
        _interrupt_in(0.3)
        with pytest.raises(KeyboardInterrupt), catching_interrupts(Cancel()):
            deadline = time.perf_counter() + 3.0
            while time.perf_counter() < deadline:
                gc.collect()
        assert sys.unraisablehook == printed.append  # restored
    finally:
        gc.callbacks.remove(dropping_callback)
        sys.unraisablehook = hook
    assert printed == []


def test_warnings_of_a_run_are_shown_unless_it_was_interrupted():
    """nutpie returns the draws it has on Ctrl-C (none) and warns about them: not after Ctrl-C."""
    cancel = Cancel()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with warnings_unless_interrupted(cancel):
            warnings.warn("More chains (2) than draws (1)", UserWarning, stacklevel=1)
        cancel.note_interrupt()
        with warnings_unless_interrupted(cancel):
            warnings.warn("More chains (2) than draws (0)", UserWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["More chains (2) than draws (1)"]


def test_an_interrupt_during_a_long_xla_call_is_raised_at_once():
    """XLA does not return to Python until done: the call runs in a worker thread."""

    @jax.jit
    def spin(x):  # about two seconds of compiled work, no Python in between
        return jax.lax.fori_loop(0, 100_000_000, lambda i, v: jnp.sin(v) + 1.0, x)

    spin.lower(1.0).compile()
    _interrupt_in(0.3)
    start = time.perf_counter()
    cancel = Cancel()
    with pytest.raises(KeyboardInterrupt):
        in_worker_thread(lambda: float(spin(1.0)), cancel)
    assert time.perf_counter() - start < 1.0 and cancel.abandoned
    _sampler_thread().join()  # the abandoned computation ends on its own
    assert in_worker_thread(lambda: 3, Cancel()) == 3
    with pytest.raises(ZeroDivisionError):  # errors in the worker reach the caller
        in_worker_thread(lambda: 1 / 0, Cancel())


def test_an_interrupt_during_nutpie_compilation_is_raised_when_it_has_finished(monkeypatch):
    """numba's compilation must not be cut half-way (a later segmentation fault); sampling
    must not start after it either."""
    import nutpie
    import pymc as pm

    from jaxbridge.pymc.samplers._nutpie import _compiled_pymc_model

    finished = []

    def slow_compile(*args, **kwargs):
        time.sleep(1.0)  # a KeyboardInterrupt would cut this short
        finished.append(True)
        return "compiled"

    monkeypatch.setattr(nutpie, "compile_pymc_model", slow_compile)
    with pm.Model() as model:
        pm.Normal("x")
    _interrupt_in(0.3)
    cancel = Cancel()
    with pytest.raises(KeyboardInterrupt), catching_interrupts(cancel):
        _compiled_pymc_model(model, None, None, {}, cancel)
        pytest.fail("sampling started after an interrupted compilation")
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def _sampler_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == WORKER_NAME), None)


#: Draws per sampler: more than the test waits. NumPyro's abandoned run finishes in the
#: background (it has no host callback to stop at), so it gets a run this test can wait out.
DRAWS = {"nutpie": 10**7, "pymc": 10**6, "blackjax": 3 * 10**6, "numpyro": 20_000}


@contextlib.contextmanager
def _interrupt_when_logged(prefix: str, delay: float = 0.5):
    """Ctrl-C ``delay`` seconds after jaxbridge logs a message starting with ``prefix`` (a
    phase of the run has begun), instead of after a fixed time that a busy machine stretches."""
    timers = []

    class Trigger(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith(prefix) and not timers:
                timers.append(_interrupt_in(delay))

    logger, handler = logging.getLogger("jaxbridge"), Trigger(logging.INFO)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield timers
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        for timer in timers:
            timer.cancel()


@pytest.mark.parametrize(
    "sampler",
    ["nutpie", "numpyro", pytest.param("pymc", marks=pytest.mark.slow), "blackjax"],
)
def test_sample_raises_keyboard_interrupt_for_every_sampler(sampler, capsys):
    y = np.random.default_rng(0).normal(size=50)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=y)
    start = time.perf_counter()
    phase = _interrupt_when_logged("jaxbridge: sampling with")
    with phase as timers, pytest.raises(KeyboardInterrupt):
        sample(model, sampler=sampler, draws=DRAWS[sampler], tune=500, chains=2)
    assert timers, "the sampling phase never began"
    # nutpie's numba compilation is never cut half-way (see the test above): an interrupt
    # that arrives during it waits for it, which takes longer on a busy machine
    assert time.perf_counter() - start < (45 if sampler == "nutpie" else 20)
    worker = _sampler_thread()
    if sampler == "blackjax":  # stopped at its progress bar's next step (after compiling)
        if worker is not None:
            worker.join(30.0)
        assert _sampler_thread() is None
    elif worker is not None:  # numpyro: wait the abandoned run out
        worker.join(120.0)


def _run_state() -> dict:
    """What a run could leave behind: the sampler libraries' module functions."""
    import nutpie

    from jaxbridge import _compat

    return {
        "nutpie": dict(vars(nutpie)),
        "pymc.sampling.jax": dict(vars(_compat.pymc_sampling_jax())),
    }


@pytest.mark.parametrize(
    "phase",
    ["jaxbridge: searching the posterior", "jaxbridge: sampling with"],
    ids=["search", "sampling"],
)
def test_an_interrupted_run_stops_and_the_next_one_is_right(phase):
    """Ctrl-C in a phase, then at once a normal run in the same process: the second run's
    result is right, the first run's worker stops within seconds, and nothing of the sampler
    libraries was replaced."""
    y = np.random.default_rng(0).normal(2.0, 1.0, size=50)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=y)
    before = _run_state()
    with _interrupt_when_logged(phase, delay=0.3) as timers, pytest.raises(KeyboardInterrupt):
        sample(model, sampler="blackjax", draws=10**6, tune=500, chains=2, progressbar=False)
    assert timers, "the phase never began"
    idata = sample(
        model, sampler="blackjax", draws=200, tune=200, chains=2, random_seed=1, progressbar=False
    )
    assert abs(float(idata.posterior["mu"].mean()) - y.mean()) < 0.1
    deadline = time.perf_counter() + 10.0
    while _sampler_thread() is not None and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert _sampler_thread() is None, "the interrupted run's worker is still running"
    after = _run_state()
    for module, names in before.items():
        changed = [n for n, v in names.items() if after[module].get(n) is not v]
        assert not changed, (module, changed)
