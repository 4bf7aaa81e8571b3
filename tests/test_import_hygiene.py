"""Importing jaxbridge changes no global state, and each layer loads only what it needs.

Every check runs in a fresh interpreter: what an import does can only be seen once.
"""

import os
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("pymc", "arviz", "matplotlib", "numpyro", "nutpie", "blackjax", "pytensor")


def run_fresh(code: str, **env_changes: str | None) -> str:
    env = dict(os.environ)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_public_api_import_leaves_jax_config_env_and_cache_alone():
    out = run_fresh(
        """
        import os
        import jax
        jax.config.update("jax_enable_x64", False)
        import jaxbridge
        for name in jaxbridge.__all__:
            getattr(jaxbridge, name)          # every public name, every layer loaded
        import jaxbridge.cli._commands       # and the command line's modules
        assert jax.config.jax_enable_x64 is False, "x64 overridden"
        assert "XLA_FLAGS" not in os.environ, os.environ["XLA_FLAGS"]
        assert not jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_dir
        print("ok")
        """,
        XLA_FLAGS=None,
        JAX_ENABLE_X64=None,
        JAX_COMPILATION_CACHE_DIR=None,
    )
    assert out.endswith("ok")


def test_user_xla_flags_survive_the_jax_samplers_module():
    out = run_fresh(
        """
        import os
        from jaxbridge import _compat
        _compat.pymc_sampling_jax()
        print(os.environ["XLA_FLAGS"])
        """,
        XLA_FLAGS="--xla_cpu_enable_fast_math=false",
    )
    assert out.splitlines()[-1] == "--xla_cpu_enable_fast_math=false"


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("jaxbridge", ()),
        ("jaxbridge.hmm", ()),
        ("jaxbridge.datasets", ()),
        ("jaxbridge.wrap", ("pytensor",)),
    ],
)
def test_each_layer_imports_only_what_it_needs(module, allowed):
    out = run_fresh(
        f"""
        import sys
        import {module}
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
        print("pytensor.link.jax.dispatch" in sys.modules, *loaded)
        """
    )
    dispatch, *loaded = out.splitlines()[-1].split()
    assert set(loaded) <= set(allowed), loaded
    assert dispatch == "False"  # importing it flips JAX's global x64 flag


def test_hmm_logp_float64_exact_with_global_x64_off():
    out = run_fresh(
        """
        import jax
        jax.config.update("jax_enable_x64", False)
        import numpy as np, pytensor
        from jaxbridge import hmm_logp
        rng = np.random.default_rng(0)
        log_em = rng.normal(size=(2, 5, 3))
        init = np.array([0.2, 0.3, 0.5])
        trans = rng.dirichlet(np.ones(3), size=3)
        got = pytensor.function([], hmm_logp(log_em, init, trans).sum())()
        # independent float64 forward algorithm
        want = 0.0
        for seq in log_em:
            alpha = init * np.exp(seq[0])
            for row in seq[1:]:
                alpha = (alpha @ trans) * np.exp(row)
            want += np.log(alpha.sum())
        assert got.dtype == np.float64, got.dtype
        assert abs(got - want) < 1e-12 * abs(want), (got, want)
        assert jax.config.jax_enable_x64 is False
        print("ok")
        """
    )
    assert out.endswith("ok")


def test_cli_help_imports_nothing_heavy():
    heavy = {"jax", *HEAVY}
    out = run_fresh(
        f"""
        import sys
        from jaxbridge.cli import main
        main(["fit", "--help"])
        print(sorted({{m.split(".")[0] for m in sys.modules}} & {heavy!r}))
        """
    )
    assert out.splitlines()[-1] == "[]"
