"""``jaxbridge simulate`` and ``--help``: the parts of the command line that do not sample."""

import argparse
import re
import typing

import numpy as np
import pytest
import xarray as xr

from jaxbridge.cli._main import SAMPLERS, build_parser
from jaxbridge.datasets import SEED_INIT, SEED_TRANS, simulate_normal_hmm
from jaxbridge.pymc._sample import Sampler

COMMANDS = ["demo", "simulate", "fit", "report"]


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_option_with_its_default(call, command):
    code, out, _ = call(command, "--help")
    assert code == 0
    text = " ".join(out.split())
    listing = text[text.index("arguments:" if "positional arguments:" in text else "options:") :]
    options = [a for a in _subparsers()[command]._actions if a.dest != "help"]
    starts = [listing.index(f" {(a.option_strings or [a.metavar])[-1]} ") for a in options]
    ends = [*sorted(starts)[1:], len(listing)]
    for option, start in zip(options, starts, strict=True):
        block = listing[start : min(e for e in ends if e > start)]
        assert "(default:" in block or "(required)" in block, block
        if option.default not in (None, False) and not isinstance(option.default, bool):
            assert str(option.default) in block


def test_samplers_match_the_library():
    assert set(SAMPLERS) == set(typing.get_args(Sampler))


def test_console_script_simulates_the_generator(run_cli, tmp_path):
    """The real ``jaxbridge`` script: its NetCDF equals the page's generator with the same seed."""
    result = run_cli(
        "simulate", "--n-series", 4, "--n-steps", 9, "--seed", 7, "--out", "sim/d.nc", script=True
    )
    assert result.returncode == 0, result.stderr
    assert "wrote sim/d.nc" in result.stdout
    assert "4 sequences of 10 steps, 0 missing values" in result.stderr
    data = xr.load_dataset(tmp_path / "sim" / "d.nc")
    states, emissions = simulate_normal_hmm(
        np.random.default_rng(7), SEED_INIT, SEED_TRANS, 1.15, 0.15, n_series=4, n_steps=9
    )
    np.testing.assert_array_equal(data["states"].values, states)
    np.testing.assert_array_equal(data["emissions"].values, emissions)
    np.testing.assert_array_equal(data["trans"].values, SEED_TRANS)
    assert (data["signal"].item(), data["noise"].item()) == (1.15, 0.15)
    assert [p.name for p in (tmp_path / "sim").iterdir()] == ["d.nc"]  # no temporary files


def test_simulate_k_states_statistics(call, tmp_path):
    """Empirical transition frequencies and emission means match the arguments (K = 2)."""
    out = tmp_path / "d.npz"
    code, _, _ = call(
        "simulate", "--init", "0.2,0.8", "--trans", "0.7,0.3;0.4,0.6", "--signal", "-2",
        "--noise", "0.5", "--n-series", "100", "--n-steps", "100", "--out", out, "--quiet",
    )  # fmt: skip
    assert code == 0
    saved = np.load(out)
    states, emissions = saved["states"], saved["emissions"]
    np.testing.assert_allclose(np.mean(states[:, 0] == 1), 0.8, atol=0.1)
    before, after = states[:, :-1].ravel(), states[:, 1:].ravel()
    for i, row in enumerate([[0.7, 0.3], [0.4, 0.6]]):
        np.testing.assert_allclose(
            np.bincount(after[before == i], minlength=2) / np.sum(before == i), row, atol=0.02
        )
    for k in range(2):
        np.testing.assert_allclose(emissions[states == k].mean(), -2 * (k + 1), atol=0.02)
        np.testing.assert_allclose(emissions[states == k].std(), 0.5, atol=0.02)


def test_simulate_default_transitions_for_other_k(call, tmp_path):
    code, _, _ = call(
        "simulate", "--states", "4", "--n-series", "2", "--out", tmp_path / "d.nc", "--quiet"
    )
    assert code == 0
    data = xr.load_dataset(tmp_path / "d.nc")
    np.testing.assert_allclose(data["init"].values, np.full(4, 0.25))
    np.testing.assert_allclose(np.diag(data["trans"].values), 0.9)
    np.testing.assert_allclose(data["trans"].values.sum(axis=1), 1.0)


BAD_ARGUMENTS = {
    "K < 1": (["--states", "0"], "argument --states: must be at least 1, got 0"),
    "negative noise": (["--noise", "-0.1"], "argument --noise: must be positive"),
    "init not summing to one": (["--init", "0.5,0.6"], "--init must sum to one"),
    "trans rows not summing to one": (["--trans", "0.5,0.4;0.5,0.5"], "--trans must sum to one"),
    "negative probability": (["--init=-0.5,1.5"], "--init must be non-negative"),
    "trans of the wrong shape": (["--states", "3", "--trans", "1,0;0,1"], "expected shape (3, 3)"),
    "init of the wrong length": (["--states", "3", "--init", "0.5,0.5"], "--init: has 2 probabilities but --states is 3"),
    "unparsable init": (["--init", "0.5;x"], "--init: '0.5;x' is not a comma-separated list"),
    "fewer than 2 steps": (["--n-steps", "0"], "argument --n-steps: must be at least 1"),
    "non-numeric signal": (["--signal", "big"], "argument --signal: expected a number"),
    "unknown format": (["--out", "d.txt"], "unsupported file type"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_simulate_bad_arguments(call, tmp_path, case):
    arguments, message = BAD_ARGUMENTS[case]
    if "--out" not in arguments:
        arguments = [*arguments, "--out", tmp_path / "out" / "d.nc"]
    code, out, err = call("simulate", *arguments)
    assert code == 2
    assert out == ""
    assert re.fullmatch(r"jaxbridge: error: .+\n", err), err
    assert message in err
    assert list(tmp_path.iterdir()) == []  # no partial outputs, not even the folder


def test_simulate_force(call, tmp_path):
    out = tmp_path / "d.csv"
    assert call("simulate", "--n-series", "2", "--seed", "1", "--out", out)[0] == 0
    first = out.read_text()
    code, _, err = call("simulate", "--n-series", "2", "--seed", "2", "--out", out)
    assert code == 2
    assert "already exists; use --force" in err
    assert out.read_text() == first
    assert call("simulate", "--n-series", "2", "--seed", "2", "--out", out, "--force")[0] == 0
    assert out.read_text() != first
    truth_line, rest = out.read_text().split("\n", 1)
    assert truth_line.startswith("# jaxbridge-truth: ")  # the simulation's parameters
    assert rest.startswith("sequence,time,value,state\n0,0,")
