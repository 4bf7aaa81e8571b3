"""``jaxbridge fit --states 1,2,3``: parsing, refusals, and one end-to-end comparison."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from jaxbridge.cli._compare import COMPARE_FILES, parse_states, read_comparison, run_folder
from jaxbridge.cli._main import build_parser

FEW_DRAWS = ("--draws", "20", "--tune", "20", "--chains", "2", "--sampler", "pymc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", (2,)),
        ("1,2,3", (1, 2, 3)),
        ("1-4", (1, 2, 3, 4)),
        ("3, 1", (1, 3)),
        ("1,3-4", (1, 3, 4)),
    ],
)
def test_states_lists_and_ranges(text, expected):
    assert parse_states(text) == expected
    args = build_parser().parse_args(["fit", "d.csv", "--states", text])
    assert args.states == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", "expected K, a list K1,K2,... or a range K1-K2"),
        ("1,,2", "expected K, a list"),
        ("1-", "expected K, a list"),
        ("0", "must be at least 1"),
        ("0-2", "must be at least 1"),
        ("3-1", "empty range '3-1'"),
        ("1,2,2", "a K appears twice"),
    ],
)
def test_bad_states_are_one_line_errors(call, text, message):
    code, out, err = call("fit", "d.csv", "--states", text)
    assert code == 2 and out == ""
    assert err.startswith(f"jaxbridge: error: argument --states: {message}")
    assert err.count("\n") == 1
    with pytest.raises(argparse.ArgumentTypeError, match=message.split("'")[0]):
        parse_states(text)


def test_existing_outputs_are_refused_before_any_work(call, tmp_path):
    np.save(tmp_path / "d.npy", np.ones((2, 5)))
    out = tmp_path / "run"
    folder = run_folder(out, 2)
    folder.mkdir(parents=True)
    (folder / "summary.csv").write_text("mine")
    code, _, err = call("fit", tmp_path / "d.npy", "--states", "1,2", "--out", out, *FEW_DRAWS)
    assert code == 2
    assert f"{folder / 'summary.csv'} already exists; use --force" in err
    assert not run_folder(out, 1).exists()  # nothing fitted
    (folder / "summary.csv").unlink()
    (out / COMPARE_FILES[0]).write_text("mine")
    code, _, err = call("fit", tmp_path / "d.npy", "--states", "1-2", "--out", out, *FEW_DRAWS)
    assert code == 2 and "compare.csv already exists" in err
    assert (out / COMPARE_FILES[0]).read_text() == "mine"


@pytest.mark.one_stack
def test_fit_several_states_writes_runs_and_comparison(run_cli, call, tmp_path):
    rng = np.random.default_rng(0)
    z = (np.cumsum(rng.random((12, 15)) < 0.15, axis=1) % 2).astype(float)
    y = rng.normal(3.0 * z, 0.5)
    np.save(tmp_path / "d.npy", y)
    result = run_cli("fit", "d.npy", "--states", "1,2", "--out", "out", "--seed", "1", *FEW_DRAWS)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    for k in (1, 2):
        assert (run_folder(out, k) / "posterior.nc").is_file()
        assert (run_folder(out, k) / "summary.csv").is_file()
    seconds = [json.loads((run_folder(out, k) / "run.json").read_text())["seconds"] for k in (1, 2)]
    # each run's phases from its own start: only the first had the process's start-up
    assert seconds[1]["startup"] < seconds[0]["startup"] / 2
    table = read_comparison(out / "compare.csv")
    assert sorted(table.index) == [1, 2]
    assert list(table["rank"]) == [0, 1]
    for column in ("elpd", "se", "elpd_diff", "dse", "weight", "pareto_k_bad", "unreliable"):
        assert column in table
    assert table.index[0] == 2  # two well-separated states
    assert (out / "compare.png").stat().st_size > 0
    assert "would pick K=2" in result.stdout
    assert (out / "compare.csv").read_text().startswith("# would pick K=2")
    assert pd.api.types.is_float_dtype(table["elpd"])
    # the whole folder is refused without --force (in-process: refused before any work)
    code, _, err = call("fit", tmp_path / "d.npy", "--states", "1,2", "--out", out, *FEW_DRAWS)
    assert code == 2
    assert "already" in err and "--force" in err
