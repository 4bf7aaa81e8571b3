"""The phase timer behind run.json's ``seconds``."""

import time

import pytest

from jaxbridge.cli._phases import Phases


def test_phases_follow_each_other_and_add_up():
    origin = time.perf_counter()
    phases = Phases(origin)
    time.sleep(0.02)
    phases.mark("startup")
    time.sleep(0.03)
    phases.mark("sampling", mode_search=0.01, compile=0.005)
    phases.mark("figures")
    elapsed = time.perf_counter() - origin
    assert list(phases.seconds) == ["startup", "mode_search", "compile", "sampling", "figures"]
    assert phases.seconds["startup"] >= 0.02
    assert phases.seconds["mode_search"] == 0.01 and phases.seconds["compile"] == 0.005
    assert phases.seconds["sampling"] == pytest.approx(0.015, abs=0.01)
    assert phases.total == pytest.approx(elapsed, abs=1e-3)
    assert phases.rounded()["total"] == round(phases.total, 2)
    assert phases.line().startswith("time: startup 0.0 s, mode search 0.0 s, compile 0.0 s")
    assert phases.line().endswith(f"= {phases.total:.1f} s")


def test_a_part_never_exceeds_its_phase():
    """Parts timed elsewhere (a sampler's record) cannot make a phase negative."""
    phases = Phases()
    phases.mark("sampling", compile=5.0)
    assert phases.seconds["sampling"] == 0.0 and phases.seconds["compile"] < 1.0
