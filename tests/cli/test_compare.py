"""The comparison of numbers of states as written (jaxbridge.cli._compare): one rule names the
recommended K in the verdict, compare.csv and compare.png."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from jaxbridge.cli._compare import comparison_figure, read_comparison, write_comparison
from jaxbridge.pymc._compare import StateComparison, _choice, _verdict, recommend


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _comparison(elpd: dict[int, float]) -> StateComparison:
    """A comparison as compare_states builds it, from given ELPDs (se 5, dse 2)."""
    table = pd.DataFrame({"elpd": elpd}).sort_values("elpd", ascending=False)
    table.index.name = "states"
    table["rank"] = range(len(table))
    table["se"], table["dse"], table["p"] = 5.0, 2.0, 3.0
    table["elpd_diff"] = table["elpd"].max() - table["elpd"]
    table["weight"] = 1.0 / len(table)
    table["pareto_k_max"], table["pareto_k_bad"], table["unreliable"] = 0.3, 0, False
    k = recommend(table)
    table["recommended"] = table.index == k
    table["choice"] = [_choice(table, i, k) for i in table.index]
    return StateComparison(
        table, int(table.index[0]), k, "sequence", _verdict(table, "sequence", k), {}
    )


@pytest.mark.parametrize(
    ("elpd", "expected"),
    [
        ({1: -300.0, 2: -200.0, 3: -198.5}, 2),  # K=3 best by 1.5: the simpler K=2
        ({1: -300.0, 2: -210.0, 3: -198.5}, 3),  # K=3 clearly best
        ({1: -200.0, 2: -199.0, 3: -198.5}, 1),  # all within 4: the simplest
    ],
)
def test_verdict_csv_and_figure_name_the_same_k(tmp_path, elpd, expected):
    result = _comparison(elpd)
    assert result.recommended == expected
    assert result.verdict.startswith(f"would pick K={expected}: K=3 predicts best")
    write_comparison(result, tmp_path / "compare.csv", tmp_path / "compare.png")
    table = read_comparison(tmp_path / "compare.csv")
    assert table.index[table["recommended"]].tolist() == [expected]
    assert table.loc[expected, "choice"].startswith("recommended")
    assert (tmp_path / "compare.csv").read_text().startswith(f"# would pick K={expected}:")
    title = comparison_figure(result.table).get_suptitle()
    assert f"K={expected} recommended" in title
    assert ("predicts best" in title) == (expected == 3)
