"""The run summary table: ArviZ's statistics plus true values and whether they lie in the HDI."""

import warnings

import numpy as np
import pandas as pd

from jaxbridge import _compat
from jaxbridge._compat import from_dict
from jaxbridge._labels import reported_scalars
from jaxbridge.cli._report import COLUMNS, format_table, summary_table


def _idata(rng):
    return from_dict(
        {
            "posterior": {
                "a": rng.normal(2.0, 0.1, size=(2, 500)),
                "p": rng.normal([[0.0, 1.0], [2.0, 3.0]], 0.1, size=(2, 500, 2, 2)),
                "unknown": rng.normal(size=(2, 500)),
            }
        }
    )


def test_summary_table_columns_statistics_and_truth(rng):
    idata = _idata(rng)
    truth = {"a": 2.0, "p": np.array([[0.0, 1.0], [2.0, 30.0]]), "absent": 1.0}
    table = summary_table(idata, ["a", "p", "unknown"], truth)

    assert list(table.columns) == COLUMNS
    assert list(table.index) == ["a", "p[0, 0]", "p[0, 1]", "p[1, 0]", "p[1, 1]", "unknown"]
    draws = idata.posterior["p"].values.reshape(1000, 2, 2)
    np.testing.assert_allclose(table.loc["p[1, 0]", "mean"], draws[:, 1, 0].mean())
    np.testing.assert_allclose(table.loc["p[1, 0]", "sd"], draws[:, 1, 0].std(ddof=1))
    # true values land on the row of their own element, not a transposed one
    np.testing.assert_array_equal(table["true"].iloc[:5], [2.0, 0.0, 1.0, 2.0, 30.0])
    assert table["in_hdi"].iloc[:5].tolist() == [True, True, True, True, False]
    # the 94% HDI holds 94% of the draws
    low, high = table.loc["a", ["hdi_3%", "hdi_97%"]]
    inside = np.mean((idata.posterior["a"].values >= low) & (idata.posterior["a"].values <= high))
    np.testing.assert_allclose(inside, 0.94, atol=0.01)
    # unknown truth: empty, not False
    assert np.isnan(table.loc["unknown", "true"])
    assert table.loc["unknown", "in_hdi"] is pd.NA


def test_summary_table_ignores_truth_of_another_shape(rng):
    # no usable true value: the true/in_hdi columns are left out, not printed empty
    table = summary_table(_idata(rng), ["p"], {"p": np.zeros(3)})
    assert list(table.columns) == [c for c in COLUMNS if c not in ("true", "in_hdi")]
    assert format_table(table).splitlines()[0].split() == list(table.columns)


def test_format_table(rng):
    text = format_table(
        summary_table(_idata(rng), ["a", "p"], {"a": 2.0, "p": np.full((2, 2), 30.0)})
    )
    lines = text.splitlines()
    assert lines[0].split() == COLUMNS
    assert lines[1].split()[0] == "a" and lines[1].split()[-1] == "yes"
    assert lines[2].split()[-1] == "NO"


def test_flag_marks_parameters_that_fail_convergence_checks(rng):
    chains_apart = np.stack([rng.normal(0.0, 0.1, 500), rng.normal(5.0, 0.1, 500)])
    idata = from_dict({"posterior": {"a": rng.normal(size=(2, 500)), "split": chains_apart}})
    table = summary_table(idata, ["a", "split"], {})
    assert table.loc["a", "flag"] == ""
    assert "r_hat" in table.loc["split", "flag"]


def test_reference_entries_of_covariate_transitions_are_not_reported(rng):
    """Staying in a state is the reference of covariate-driven transitions: its intercept and
    coefficients are zero in every draw, not parameters: no row, no figure panel, and no
    warning from ArviZ about their undefined r_hat."""
    coef = rng.normal(size=(2, 200, 2, 1, 2))
    coef[:, :, [0, 1], :, [0, 1]] = 0.0
    intercept = rng.normal(size=(2, 200, 2, 2)) * (1 - np.eye(2))
    idata = from_dict(
        {"posterior": {"transition_intercept": intercept, "transition_coef": coef}},
        dims={
            "transition_intercept": ["from_state", "to_state"],
            "transition_coef": ["from_state", "covariate", "to_state"],
        },
        coords={"covariate": ["phase"]},
    )
    names = ["transition_intercept", "transition_coef"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = summary_table(idata, names, {})
    assert list(table.index) == [
        "transition_intercept[0, 1]",
        "transition_intercept[1, 0]",
        "transition_coef[0, phase, 1]",
        "transition_coef[1, phase, 0]",
    ]
    np.testing.assert_allclose(table.loc["transition_coef[1, phase, 0]", "mean"],
                               coef[:, :, 1, 0, 0].mean())  # fmt: skip
    posterior = _compat.get_group(idata, "posterior")
    assert [label for _, _, label in reported_scalars(posterior, names)] == list(table.index)
