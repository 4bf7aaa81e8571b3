"""The sampling engine on public ground: one adapter per sampler, per-run state, evidence."""

import ast
from pathlib import Path

import numpy as np
import pymc as pm
import pytest

import jaxbridge
from jaxbridge.pymc import ConvergenceWarning, sample
from jaxbridge.pymc.samplers import ADAPTERS

SRC = Path(jaxbridge.__file__).parent
LIBRARIES = ("pymc", "nutpie", "numpyro", "blackjax")
#: PyMC's dispatchers a distribution registers with: PyMC's intended extension point for new
#: distributions (its own distributions register the same way), not a private to call.
DISPATCHERS = {"_logprob", "_support_point", "_change_dist_size"}


def _private_uses(tree: ast.Module) -> list[str]:
    """``module._name`` of a sampler library (or of anything obtained from one), and
    ``from library import _name``."""
    bound: set[str] = set()  # local names that hold a library module or something from one
    found = []

    def rooted(node: ast.AST) -> bool:
        while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
            node = node.func if isinstance(node, ast.Call) else node.value
        return isinstance(node, ast.Name) and node.id in bound

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIBRARIES:
            for alias in node.names:
                if alias.name.startswith("_") and alias.name not in DISPATCHERS:
                    found.append(f"from {node.module} import {alias.name}")
                bound.add(alias.asname or alias.name)
    for _ in range(3):  # names assigned from library objects, a few levels deep
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and (
                rooted(node.value)
                or (
                    isinstance(node.value, ast.Call)
                    and "pymc_sampling_jax" in ast.unparse(node.value)
                )
            ):
                bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        private = (
            node.attr.startswith("_") and not node.attr.startswith("__")
            if isinstance(node, ast.Attribute)
            else False
        )
        if private and rooted(node.value):
            found.append(ast.unparse(node))
    return found


def test_no_patched_internals_and_no_private_names_of_the_sampler_libraries():
    """Nothing under src/ patches another library at run time (unittest.mock) or reaches
    into a sampler library's private names."""
    offences = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        if "unittest.mock" in text or "mock.patch" in text:
            offences.append(f"{path.relative_to(SRC)}: unittest.mock")
        offences += [f"{path.relative_to(SRC)}: {use}" for use in _private_uses(ast.parse(text))]
    assert not offences, "\n".join(offences)


def test_the_check_finds_what_it_looks_for():
    code = (
        "import pymc.sampling.jax as pj\nfrom nutpie import _lib\n"
        "m = pj.something(1)\nx = m._hidden\ny = pj._get_seeds()\nz = pj.fine\n"
    )
    assert _private_uses(ast.parse(code)) == [
        "from nutpie import _lib",
        "m._hidden",
        "pj._get_seeds",
    ]


def test_one_adapter_per_sampler_with_the_same_protocol():
    assert list(ADAPTERS) == ["nutpie", "pymc", "numpyro", "blackjax"]
    for name, adapter in ADAPTERS.items():
        assert adapter.name == name and callable(adapter.run) and adapter.installed()


@pytest.fixture(scope="module")
def normal_model():
    """A small model that compiles fast: y ~ Normal(mu, sigma), 3 dims on the unconstrained
    space, with a ``log`` transform."""
    y = np.random.default_rng(0).normal(1.0, 2.0, size=(30, 2))
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0, shape=2)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("y", mu, sigma, observed=y)
    return model


@pytest.mark.parametrize(
    "sampler", ["nutpie", "numpyro", "blackjax", pytest.param("pymc", marks=pytest.mark.slow)]
)
def test_every_chain_starts_at_its_own_point_in_the_dominant_basin(normal_model, sampler):
    idata = sample(
        normal_model, sampler=sampler, draws=20, tune=20, chains=4, random_seed=1,
        progressbar=False, check_convergence=False,
    )  # fmt: skip
    attrs = idata.posterior.attrs
    assert attrs["jaxbridge_sampler"] == sampler
    densities = np.asarray(attrs["jaxbridge_start_log_density"])
    assert densities.shape == (4,)
    starts = np.asarray(attrs["jaxbridge_starts"]).reshape(4, -1)
    for i in range(4):
        for j in range(i):
            assert np.abs(starts[i] - starts[j]).max() > 0, (i, j)
    best = float(attrs["jaxbridge_mode_log_density"][0])
    dim = starts.shape[1]
    assert (densities <= best + 1e-6).all() and (densities >= best - dim - 1.0).all(), densities
    # where the time went: the search (its compilation a part), the sampler's run, which
    # holds the library's own sampling time
    search, compiling = attrs["jaxbridge_search_seconds"], attrs["jaxbridge_search_compile_seconds"]
    assert 0 < compiling < search
    assert 0 < float(attrs["sampling_time"]) < attrs["jaxbridge_sampler_seconds"]


def _two_comparable_modes() -> pm.Model:
    """x from a mixture of Normal(-4, 1) and Normal(4, 1) with weights 0.8 and 0.2: modes
    log(4) ~ 1.4 units apart, more than ``SAME_MODE`` and less than ``COMPARABLE``."""
    with pm.Model() as model:
        pm.NormalMixture("x", w=[0.8, 0.2], mu=[-4.0, 4.0], sigma=1.0)
    return model


def test_a_warning_from_the_mode_search_points_at_the_callers_line():
    with pytest.warns(ConvergenceWarning, match="comparable density") as record:
        sample(
            _two_comparable_modes(), sampler="numpyro", draws=20, tune=20, chains=2,
            random_seed=0, progressbar=False, check_convergence=False,
        )  # fmt: skip
    (found,) = [w for w in record if "comparable density" in str(w.message)]
    assert found.filename == __file__
