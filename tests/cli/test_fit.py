"""``jaxbridge demo``, ``fit`` and ``report``: the real command line on small data, few draws."""

import json
import re

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from jaxbridge.cli._report import COLUMNS
from jaxbridge.cli._run import FIGURES, RUN_FILES
from jaxbridge.datasets import seed_page_data, simulate_normal_hmm

#: The phases of a fit without a forecast, in the order run.json lists them.
PHASES = (
    "startup", "read", "build", "mode_search", "compile", "sampling", "decode", "replicates",
    "writing", "figures",
)  # fmt: skip

FEW_DRAWS = ("--draws", 30, "--tune", 30, "--chains", 1)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def _check_run_folder(folder, n_draws=30, truth=True):
    assert _files(folder) == sorted(RUN_FILES)  # and no temporary files
    for name in FIGURES:
        assert (folder / name).read_bytes().startswith(PNG_MAGIC)
    idata = az.from_netcdf(folder / "posterior.nc")
    assert idata.posterior.sizes["draw"] == n_draws
    replicated = idata.posterior_predictive["hmm"]  # the posterior predictive check's data
    assert replicated.sizes["draw"] == min(100, n_draws)
    decoded = xr.load_dataset(folder / "states.nc")
    observed = ~np.isnan(xr.load_dataset(folder / "data.nc")["emissions"].values)
    residuals = decoded["pseudo_residual"].values
    np.testing.assert_array_equal(np.isfinite(residuals), observed)
    table = pd.read_csv(folder / "summary.csv", index_col="parameter")
    assert list(table.columns) == [c for c in COLUMNS if truth or c not in ("true", "in_hdi")]
    return table


@pytest.mark.one_stack
def test_demo_then_report(run_cli, tmp_path):
    """``python -m jaxbridge demo`` writes the run folder; the ``jaxbridge report`` script redraws it.

    One test, so that pytest-xdist never runs the demo twice.
    """
    result = run_cli("demo", "--out", "run", *FEW_DRAWS)
    assert result.returncode == 0, result.stderr
    # a one-line summary of each stage on stderr; the table and the file list on stdout
    stages = (
        "simulated the example page's data",
        "sampling with NUTS",
        "the chains start (nutpie)",
    )
    for stage in (*stages, "writing"):
        assert f"jaxbridge: {stage}" in result.stderr
    assert result.stdout.split("\n", 1)[0].split() == COLUMNS
    assert all(f"\n  {name} " in result.stdout for name in RUN_FILES)

    folder = tmp_path / "run"
    table = _check_run_folder(folder)
    page = seed_page_data()
    data = xr.load_dataset(folder / "data.nc")
    np.testing.assert_array_equal(data["emissions"].values, page.emissions)
    np.testing.assert_array_equal(data["states"].values, page.states)
    # the summary has every scalar parameter, with the page's true values
    truth = {"emission_signal": 1.15, "emission_noise": 0.15, "p_initial_state[2]": 0.01}
    truth |= {f"p_transition[{i}, {j}]": page.trans[i, j] for i in range(3) for j in range(3)}
    assert len(table) == 2 + 3 + 9
    for label, value in truth.items():
        assert table.loc[label, "true"] == pytest.approx(value)
    assert table["in_hdi"].isin([True, False]).all()
    info = json.loads((folder / "run.json").read_text())
    assert info["settings"]["draws"] == 30 and info["settings"]["states"] == 3
    # what a colleague needs to reproduce the run: the sampler that ran, not "auto"
    assert info["settings"]["sampler"] == "auto" and info["sampler_used"] == "nutpie"
    assert {"pymc", "pytensor", "jax", "arviz", "nutpie"} <= set(info["versions"])
    assert info["jaxbridge_version"] and info["settings"]["seed"] == 0
    assert info["data_shape"] == {"sequence": 70, "time": 51}
    assert isinstance(info["converged"], bool)
    # where the time went: every phase, in order, adding up to the total the terminal shows
    seconds = info["seconds"]
    assert list(seconds) == [*PHASES, "total"] and min(seconds.values()) >= 0
    assert seconds["sampling"] > 0 and seconds["compile"] > 0 and seconds["startup"] > 0
    assert sum(seconds[p] for p in PHASES) == pytest.approx(seconds["total"], abs=0.06)
    shown = re.search(r"jaxbridge: time: (.*) = ([\d.]+) s", result.stderr)
    assert [part.rsplit(" ", 2)[0] for part in shown[1].split(", ")][: len(PHASES)] == [
        p.replace("_", " ") for p in PHASES
    ]
    assert float(shown[2]) >= seconds["total"] - 0.05  # shown to 0.1 s
    assert "log density" in info["diagnostics"]["modes"]

    # report: the same summary again, the deleted figures back
    for name in ("summary.csv", "states.png", "posterior.png"):
        (folder / name).unlink()
    report = run_cli("report", folder, script=True)
    assert report.returncode == 0, report.stderr
    _check_run_folder(folder)
    pd.testing.assert_frame_equal(pd.read_csv(folder / "summary.csv", index_col="parameter"), table)
    assert report.stdout.split("\n", 1)[0].split() == COLUMNS


def _ragged_csv(path, rng):
    """Two-state data in long form, rows shuffled, with a gap, an empty field and a NaN."""
    trans = np.array([[0.9, 0.1], [0.2, 0.8]])
    _, emissions = simulate_normal_hmm(rng, np.array([0.5, 0.5]), trans, 1.0, 0.2, 6, 19)
    rows = [(f"s{i}", t, repr(float(emissions[i, t]))) for i in range(6) for t in range(20)]
    rows = [r for r in rows if not (r[0] == "s5" and r[1] >= 12)]  # ragged: s5 ends early
    rows = [r for r in rows if (r[0], r[1]) != ("s1", 4)]  # a gap
    rows = [
        (s, t, "" if (s, t) == ("s2", 7) else "nan" if (s, t) == ("s3", 0) else v)
        for s, t, v in rows
    ]
    order = rng.permutation(len(rows))
    lines = ["sequence,time,value"] + [",".join(map(str, rows[i])) for i in order]
    path.write_text("\n".join(lines) + "\n")
    expected = emissions.copy()
    expected[5, 12:] = expected[1, 4] = expected[2, 7] = expected[3, 0] = np.nan
    return expected


@pytest.mark.one_stack
def test_fit_csv_quiet_then_refuses_to_overwrite(run_cli, call, tmp_path, rng):
    expected = _ragged_csv(tmp_path / "mine.csv", rng)
    result = run_cli("fit", "mine.csv", "--states", 2, "--quiet", "--seed", 1, *FEW_DRAWS)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    # --quiet silences progress, never the convergence verdict (30 draws of 1 chain: not converged)
    said = [line for line in result.stderr.splitlines() if line.startswith("jaxbridge:")]
    assert len(said) == 1 and said[0].startswith("jaxbridge: WARNING: ")
    assert "ess: bulk ESS below 100 (100 per chain x 1 chain)" in result.stderr
    folder = tmp_path / "runs" / "mine"  # the default run folder
    table = _check_run_folder(folder, truth=False)  # nothing known about a user's data
    data = xr.load_dataset(folder / "data.nc")
    order = [int(label[1:]) for label in data["sequence"].values]  # order of first appearance
    np.testing.assert_array_equal(data["emissions"].values, expected[order])
    # s5 ends after 12 steps: its decoded states stop there (NaN probabilities, -1 paths)
    decoded = xr.load_dataset(folder / "states.nc")
    s5 = order.index(5)
    np.testing.assert_array_equal(decoded["lengths"].values, data["lengths"].values)
    assert decoded["lengths"].values[s5] == 12
    probs = decoded["state_probs"].transpose("sequence", "time", "state").values
    assert np.isnan(probs[s5, 12:]).all() and not np.isnan(np.delete(probs, s5, 0)).any()
    assert (decoded["viterbi"].values[s5, 12:] == -1).all()
    assert (decoded["viterbi"].values[s5, :12] >= 0).all()
    np.testing.assert_allclose(probs[s5, :12].sum(-1), 1.0)
    # the Gaussian HMM: ordered means, a noise scale per state
    assert {"emission_mu[1]", "emission_sigma[1]", "p_transition[1, 1]"} <= set(table.index)

    # a second run refuses to overwrite, leaving the first untouched
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    code, out, err = call("fit", tmp_path / "mine.csv", "--states", 2, "--out", folder)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "use --force to overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


FIT_BAD_INPUTS = {
    "missing file": ("absent.csv", None, [], "absent.csv: no such file"),
    "wrong columns": ("d.csv", "id,step,y\na,0,1\n", [], "missing column(s)"),
    "non-numeric value": ("d.csv", "sequence,time,value\na,0,1\na,1,x\n", [], "value 'x' is not a number"),
    "fewer than 2 steps": ("d.csv", "sequence,time,value\na,0,1\n", [], "at least 2 steps"),
    "K < 1": ("d.csv", "sequence,time,value\na,0,1\na,1,2\n", ["--states", "0"], "--states: must be at least 1"),
    "counts for poisson": ("d.csv", "sequence,time,value\na,0,1\na,1,2.5\n", ["--emission", "poisson"], "non-negative integer counts, found 2.5"),
    "unknown emission": ("d.csv", "sequence,time,value\na,0,1\na,1,2\n", ["--emission", "gamma"], "invalid choice: 'gamma'"),
    "no draws": ("d.csv", "sequence,time,value\na,0,1\na,1,2\n", ["--draws", "0"], "--draws: must be at least 1"),
    "a value whose spread overflows": ("d.csv", "sequence,time,value\na,0,1\na,1,2\nb,0,1e300\nb,1,3\n", [], "observed values too large to fit: their spread overflows float64 (sequence 'b' at step 0 is 1e+300)"),
    "a sequence with every value missing": ("d.csv", "sequence,time,value\na,0,1\na,1,2\nb,0,\nb,1,\n", [], "sequence 'b' has no observed step (every value is missing)"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FIT_BAD_INPUTS))
def test_fit_bad_input_leaves_nothing(call, tmp_path, case):
    name, content, extra, message = FIT_BAD_INPUTS[case]
    if content is not None:
        (tmp_path / name).write_text(content)
    arguments = ["fit", tmp_path / name, "--out", tmp_path / "run", *extra]
    if "--states" not in extra:
        arguments += ["--states", "2"]
    code, out, err = call(*arguments)
    assert code == 2
    assert out == ""
    assert err.startswith("jaxbridge: error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "run").exists()


def test_failed_fit_leaves_no_partial_outputs(call, tmp_path, monkeypatch):
    """A sampler crash after the run folder was created removes the folder again."""
    import jaxbridge.pymc

    def crash(*args, **kwargs):
        raise RuntimeError("sampler crashed")

    monkeypatch.setattr(jaxbridge.pymc, "sample", crash)
    np.save(tmp_path / "d.npy", np.ones((2, 5)))
    with pytest.raises(RuntimeError, match="sampler crashed"):
        call("fit", tmp_path / "d.npy", "--states", "2", "--out", tmp_path / "a" / "run")
    assert _files(tmp_path) == ["d.npy"]


def test_report_needs_a_run_folder(call, tmp_path):
    code, _, err = call("report", tmp_path / "absent")
    assert code == 2 and "absent: no such run folder" in err
    (tmp_path / "data.nc").write_text("")
    code, _, err = call("report", tmp_path)
    assert code == 2
    assert "not a jaxbridge run folder (missing posterior.nc, states.nc, run.json)" in err
    assert _files(tmp_path) == ["data.nc"]


@pytest.mark.slow
def test_demo_default_settings_recover_the_page(run_cli, tmp_path):
    """The README's command with its defaults: converged chains, the truth inside the HDIs."""
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    table = _check_run_folder(tmp_path / "runs" / "demo", n_draws=1000)
    assert (table["r_hat"] < 1.01).all()
    assert (table["ess_bulk"] > 400).all()
    assert table.loc[["emission_signal", "emission_noise"], "in_hdi"].all()
    assert table["in_hdi"].mean() >= 0.75  # 94% intervals: most of the 14 hold their truth


@pytest.mark.parametrize(
    "sampler",
    [
        "nutpie",
        "numpyro",  # XLA never returns to Python until the run ends: the hard case
        pytest.param("pymc", marks=pytest.mark.slow),
        pytest.param("blackjax", marks=pytest.mark.slow),
    ],
)
def test_ctrl_c_while_sampling_exits_130_and_writes_nothing(cli_env, tmp_path, sampler):
    import signal
    import subprocess
    import sys
    import time

    _, emissions = simulate_normal_hmm(
        np.random.default_rng(3), np.array([0.5, 0.5]), np.eye(2) * 0.8 + 0.1, 1.0, 0.2, 4, 99
    )
    np.save(tmp_path / "d.npy", emissions)
    # as from a terminal: a shell starts background jobs (CI runners) with SIGINT ignored,
    # which a process inherits; the command runs in a process that first restores it
    as_from_a_terminal = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.executable, [sys.executable, '-m', 'jaxbridge', *sys.argv[1:]])"
    )
    command = [sys.executable, "-c", as_from_a_terminal, "fit", "d.npy", "--states", "2"]
    options = ["--sampler", sampler, "--draws", "100000", "--chains", "2", "--out", "run"]
    process = subprocess.Popen(
        [*command, *options], cwd=tmp_path, env=cli_env, stderr=subprocess.PIPE, text=True
    )
    said = []
    for line in process.stderr:  # wait until the chains start (the mode search has ended)
        said.append(line)
        if "jaxbridge: the chains start" in line:
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    start = time.perf_counter()
    rest = process.stderr.read()
    code = process.wait(timeout=60)
    assert code == 130, "".join(said) + rest
    assert time.perf_counter() - start < 15
    assert rest.rstrip().splitlines()[-1] == "jaxbridge: interrupted; nothing written"
    assert "Traceback" not in rest and "sampled with" not in rest and "Warning" not in rest
    assert _files(tmp_path) == ["d.npy"]  # no run folder, no temporary files


def test_nutpie_progress_table_line_is_ended_on_a_terminal_only():
    import io

    from jaxbridge.cli._fit import end_progress_line

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for library, progressbar, stream, expected in [
        ("nutpie", True, Terminal(), "\n"),
        ("nutpie", True, io.StringIO(), ""),  # a file or pipe: nutpie draws no table
        ("nutpie", False, Terminal(), ""),
        ("pymc", True, Terminal(), ""),  # its bar ends its own line
    ]:
        end_progress_line(library, progressbar, stream)
        assert stream.getvalue() == expected
