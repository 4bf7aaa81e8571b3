"""Sampling benchmark on the example page's workload (issue 6).

The page ("How to wrap a JAX function for use in PyMC") fits a 3-state marginal HMM with
Normal emissions to 70 sequences x 51 steps and samples 2 chains x (1000 tune + 1000 draws).
Each row below samples that model one way, in its own fresh Python process (so that no
row inherits another's compiled programs), and reports

* ``eval``: one logp+gradient evaluation through the function the sampler actually calls,
  at the model's initial point -- for PyMC NUTS ``model.logp_dlogp_function()``, for JAX
  samplers the jitted ``jax.value_and_grad`` of the jaxified logp;
* ``compile``: building that function plus its first call, with JAX's in-memory caches
  cleared and its persistent compilation cache off (a cold start);
* ``wall``: model construction plus the whole sampling call, compilation included;
* ``JAX compile in wall``: seconds JAX spent tracing, lowering and XLA-compiling during
  the sampling call (:class:`_common.CompileRecorder`); PyTensor's own compilation is not in it;
* ``CPU``: CPU seconds of the row's process and of its child processes (all threads; PyMC's
  chain processes included) over the same span;
* ``min ESS``: the minimum bulk ESS over **every** free parameter (signal, noise, each initial
  and each transition probability);
* ``steps/draw``: mean leapfrog steps (gradient evaluations) per post-warm-up draw, a
  load-independent measure of the sampler's efficiency;
* ``ESS/s`` and ``ESS/CPU-s``: min ESS per wall second and per CPU second, each also as a
  ratio to the strongest anchor of the run (the anchor row with the highest value).

The protocol (like for like): every row runs on the same cores at its best configuration for
them -- PyMC NUTS with ``cores=1`` (measured: one spawned process per chain runs two JAX thread
pools on two cores and was slower, ``RESULTS.md``), NumPyro and BlackJAX with one chain per CPU device (``jax_num_cpu_devices =
chains``), nutpie with its default threads. Anchors are the rows that do not use jaxbridge.

Rows (``--rows`` picks a subset; the default is ``DEFAULT_ROWS``):

``page_ops_pymc``          the page's ``HMMLogpOp``/``HMMLogpGradOp`` ported to PyTensor + PyMC NUTS
``page_ops_nutpie_jax``    the page's Ops + nutpie with ``backend="jax"`` (the control row: the
                           strongest anchor measured so far)
``page_ops_nutpie_jax_low_rank`` the same with nutpie's low-rank modified mass matrix (the
                           best nutpie setting measured for the page's Ops, and jaxbridge's
                           default with nutpie)
``page_ops_pm_sample``     the page's Ops + a plain ``pm.sample()`` with every default (on PyMC 6
                           that is nutpie's numba backend)
``wrap_jax_pymc``          ``pytensor.wrap_jax`` of the page's JAX function + PyMC NUTS
``numpyro_native``         NumPyro model, scaled-probability kernel, one chain per CPU device
``jaxbridge_<sampler>``    ``jaxbridge.MarginalHMM`` + ``jaxbridge.sample(sampler=...)``
                           for pymc, numpyro, blackjax, nutpie and auto (numpyro and
                           blackjax with ``devices=chains``: one chain per CPU device)
``page_ops_numpyro``       (extra) page's Ops + ``pm.sample(nuts_sampler="numpyro")``
``numpyro_native_vectorized`` (extra) as ``numpyro_native``, ``chain_method="vectorized"``

Usage, from the repository root with the project venv::

    python benchmarks/seed_workload.py            # all default rows, appends to RESULTS.md
    python benchmarks/seed_workload.py --quick    # smoke run: 100 + 100 draws, nothing appended
    python benchmarks/seed_workload.py --rows page_ops_pymc numpyro_native --no-append
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import _common

PAGE_ROW = "page_ops_pymc"
JAXBRIDGE_SAMPLERS = ("pymc", "numpyro", "blackjax", "nutpie", "auto")
ANCHOR_ROWS = (
    PAGE_ROW,
    "page_ops_nutpie_jax",
    "page_ops_nutpie_jax_low_rank",
    "page_ops_pm_sample",
    "wrap_jax_pymc",
    "numpyro_native",
)
DEFAULT_ROWS = (*ANCHOR_ROWS, *(f"jaxbridge_{s}" for s in JAXBRIDGE_SAMPLERS))
EXTRA_ROWS = ("page_ops_numpyro", "numpyro_native_vectorized")
#: Every free parameter of the page's model: the min bulk ESS is taken over all their elements.
FREE_VARS = ("emission_signal", "emission_noise", "p_initial_state", "p_transition")
#: Rows whose sampler runs its chains on JAX devices: one CPU device per chain.
DEVICE_ROWS = ("numpyro_native", "page_ops_numpyro", "jaxbridge_numpyro", "jaxbridge_blackjax")


class Settings(NamedTuple):
    """Sampling settings shared by every row."""

    draws: int
    tune: int
    chains: int
    seed: int
    eval_time: float  # seconds spent timing each logp+grad function


# --------------------------------------------------------------------------------------
# The page's code, ported from Aesara to PyTensor (names and structure as on the page)
# --------------------------------------------------------------------------------------


def page_ops():
    """The page's JAX likelihood and its two hand-written Ops, as the page writes them.

    Returns ``(vec_hmm_logp, hmm_logp_op)``. Defined inside a function so that the
    imports happen only in the row processes that need them.
    """
    import jax
    import numpy as np
    import pytensor.tensor as pt
    from pytensor.graph import Apply, Op
    from pytensor.link.jax.dispatch import jax_funcify

    # the page's JAX log-likelihood, verbatim (one shared copy)
    from jaxbridge.datasets import seed_page_vec_hmm_logp as vec_hmm_logp

    jitted_vec_hmm_logp = jax.jit(vec_hmm_logp)
    jitted_vec_hmm_logp_grad = jax.jit(jax.grad(vec_hmm_logp, argnums=list(range(5))))

    class HMMLogpOp(Op):
        def make_node(self, *inputs):
            inputs = [pt.as_tensor_variable(inp) for inp in inputs]
            return Apply(self, inputs, [pt.dscalar()])

        def perform(self, node, inputs, outputs):
            result = jitted_vec_hmm_logp(*inputs)
            outputs[0][0] = np.asarray(result, dtype=node.outputs[0].dtype)

        def grad(self, inputs, output_gradients):
            gradients = hmm_logp_grad_op(*inputs)
            return [output_gradients[0] * g for g in gradients]

    class HMMLogpGradOp(Op):
        def make_node(self, *inputs):
            inputs = [pt.as_tensor_variable(inp) for inp in inputs]
            return Apply(self, inputs, [inp.type() for inp in inputs])

        def perform(self, node, inputs, outputs):
            results = jitted_vec_hmm_logp_grad(*inputs)
            for i, result in enumerate(results):
                outputs[i][0] = np.asarray(result, dtype=node.outputs[i].dtype)

    hmm_logp_op = HMMLogpOp()
    hmm_logp_grad_op = HMMLogpGradOp()

    @jax_funcify.register(HMMLogpOp)
    def hmm_logp_dispatch(op, **kwargs):
        return vec_hmm_logp

    return vec_hmm_logp, hmm_logp_op


def page_model(emission_observed, hmm_loglike: Callable):
    """The page's PyMC model; ``hmm_loglike`` computes the summed HMM log-likelihood."""
    import numpy as np
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model() as model:
        emission_signal = pm.Normal("emission_signal", 0, 1)
        emission_noise = pm.HalfNormal("emission_noise", 1)
        p_initial_state = pm.Dirichlet("p_initial_state", np.ones(3))
        p_transition = pm.Dirichlet("p_transition", np.ones(3), size=3)
        pm.Potential(
            "hmm_loglike",
            hmm_loglike(
                emission_observed,
                emission_signal,
                emission_noise,
                pt.log(p_initial_state),
                pt.log(p_transition),
            ),
        )
    return model


def wrap_jax_loglike():
    """``pytensor.wrap_jax`` of the page's ``vec_hmm_logp``."""
    from pytensor import wrap_jax

    vec_hmm_logp, _ = page_ops()
    return wrap_jax(vec_hmm_logp)


def jaxbridge_model(emission_observed):
    """The page's model written with ``jaxbridge.MarginalHMM``."""
    import numpy as np
    import pymc as pm

    from jaxbridge.pymc import MarginalHMM  # re-exported as jaxbridge.MarginalHMM

    with pm.Model() as model:
        emission_signal = pm.Normal("emission_signal", 0, 1)
        emission_noise = pm.HalfNormal("emission_noise", 1)
        p_initial_state = pm.Dirichlet("p_initial_state", np.ones(3))
        p_transition = pm.Dirichlet("p_transition", np.ones(3), size=3)
        MarginalHMM(
            "emission",
            init=p_initial_state,
            trans=p_transition,
            emission=pm.Normal.dist(mu=(np.arange(3) + 1) * emission_signal, sigma=emission_noise),
            observed=emission_observed,
        )
    return model


# --------------------------------------------------------------------------------------
# NumPyro-native model with the best kernel found (ANCHORS.md, kernel experiments)
# --------------------------------------------------------------------------------------


def scaled_forward_loglik(log_emission, init, trans):
    """Summed log-likelihood of independent HMM sequences, scaled-probability forward pass.

    Rabiner (1989), section V.A: alpha_t = (alpha_{t-1} @ trans) * e_t, normalised each
    step by c_t = sum_k alpha_t[k]; log p(y) = sum_t log c_t. Emissions are shifted by their
    per-step maximum before exponentiating, and that shift is added back. The matrix-vector
    product is a broadcast multiply-sum (fewer XLA ops for small K), and the logs of the
    normalisers are taken once after the scan.

    Parameters
    ----------
    log_emission : ``[N, T, K]`` log p(y_t | z_t = k)
    init : ``[K]`` initial state probabilities
    trans : ``[K, K]`` transition probabilities, rows sum to one
    """
    import jax
    import jax.numpy as jnp

    shift = jnp.max(log_emission, axis=-1, keepdims=True)  # [N, T, 1]
    emission = jnp.exp(log_emission - shift)  # [N, T, K]
    alpha = init * emission[:, 0]  # [N, K]
    norm0 = jnp.sum(alpha, axis=-1, keepdims=True)

    def _step(alpha_prev, emission_t):
        alpha_t = jnp.sum(alpha_prev[:, :, None] * trans, axis=1) * emission_t
        norm_t = jnp.sum(alpha_t, axis=-1, keepdims=True)
        return alpha_t / norm_t, norm_t

    _, norms = jax.lax.scan(_step, alpha / norm0, jnp.swapaxes(emission[:, 1:], 0, 1))
    return jnp.sum(shift) + jnp.sum(jnp.log(norm0)) + jnp.sum(jnp.log(norms))


def numpyro_model(emission_observed):
    """The page's model in NumPyro, likelihood from :func:`scaled_forward_loglik`."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    signal = numpyro.sample("emission_signal", dist.Normal(0.0, 1.0))
    noise = numpyro.sample("emission_noise", dist.HalfNormal(1.0))
    p_init = numpyro.sample("p_initial_state", dist.Dirichlet(jnp.ones(3)))
    p_trans = numpyro.sample("p_transition", dist.Dirichlet(jnp.ones((3, 3))))
    means = (jnp.arange(3) + 1.0) * signal
    log_emission = dist.Normal(means, noise).log_prob(emission_observed[..., None])
    numpyro.factor("hmm_loglike", scaled_forward_loglik(log_emission, p_init, p_trans))


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------


def _clear_jax_caches() -> None:
    import jax

    jax.clear_caches()


def pymc_eval(model, settings: Settings) -> tuple[float, float]:
    """(compile s, eval s) of ``model.logp_dlogp_function()``, called as PyMC NUTS calls it."""
    from pymc.blocking import DictToArrayBijection

    _clear_jax_caches()
    start = time.perf_counter()
    func = model.logp_dlogp_function(ravel_inputs=True)
    point = model.initial_point(0)
    x = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
    compiled = func._pytensor_function  # what CpuLeapfrogIntegrator calls
    compiled(x)
    compile_s = time.perf_counter() - start
    return compile_s, _common.time_per_call(lambda: compiled(x), settings.eval_time)


def jax_eval(logp_fn: Callable, point, settings: Settings) -> tuple[float, float]:
    """(compile s, eval s) of ``jax.jit(jax.value_and_grad(logp_fn))`` at ``point``."""
    import jax

    _clear_jax_caches()
    start = time.perf_counter()
    value_and_grad = jax.jit(jax.value_and_grad(logp_fn))
    jax.block_until_ready(value_and_grad(point))
    compile_s = time.perf_counter() - start
    eval_s = _common.time_per_call(
        lambda: jax.block_until_ready(value_and_grad(point)), settings.eval_time
    )
    return compile_s, eval_s


def pymc_jax_eval(model, settings: Settings) -> tuple[float, float]:
    """:func:`jax_eval` of the model's jaxified logp, as PyMC's JAX samplers build it."""
    from pymc.sampling.jax import get_jaxified_logp

    point = model.initial_point(0)
    values = [point[v.name] for v in model.value_vars]
    return jax_eval(get_jaxified_logp(model, negative_logp=False), values, settings)


def posterior_summary(idata) -> dict:
    """Min bulk ESS over :data:`FREE_VARS`, posterior means, and mean leapfrog steps per draw.

    ``steps`` (post-warm-up ``n_steps``, i.e. gradient evaluations per draw) does not depend
    on the machine's load, so ``ess / steps`` compares samplers' efficiency per gradient.
    """
    from jaxbridge import _compat

    ess = _compat.summary(idata, list(FREE_VARS), 0.94)["ess_bulk"]
    post = _compat.get_group(idata, "posterior")
    stats = getattr(idata, "sample_stats", None)
    steps = float(stats["n_steps"].mean()) if stats is not None and "n_steps" in stats else None
    library = _compat.group_attrs(idata, "posterior").get("inference_library", "—")
    return {
        "library": str(library),
        "ess": float(ess.min()),
        "signal": float(post["emission_signal"].mean()),
        "noise": float(post["emission_noise"].mean()),
        "steps": steps,
    }


# --------------------------------------------------------------------------------------
# Rows: each returns a dict of measurements
# --------------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its finished children."""
    import resource

    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def _timed(fn: Callable) -> tuple[object, float, float]:
    """``(fn(), wall seconds, CPU seconds of this process and its children, all threads)``."""
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    result = fn()
    return result, time.perf_counter() - start, _cpu_seconds() - cpu_start


def _pymc_row(build: Callable, settings: Settings, sample: Callable, eval_kind: str) -> dict:
    """Build the model, measure its logp+grad function, then sample it from cold caches."""
    recorder = _common.CompileRecorder()
    model, build_s, build_cpu_s = _timed(build)
    measure = pymc_eval if eval_kind == "pymc" else pymc_jax_eval
    compile_s, eval_s = measure(model, settings)
    _clear_jax_caches()
    recorder.reset()
    idata, sample_s, sample_cpu_s = _timed(lambda: sample(model))
    return {
        "eval": eval_kind,
        "eval_s": eval_s,
        "compile_s": compile_s,
        "wall_s": build_s + sample_s,
        "cpu_s": build_cpu_s + sample_cpu_s,
        "jax_compile_s": recorder.total(),
        **posterior_summary(idata),
    }


def _pm_sample(settings: Settings, *, plain: bool = False, **kwargs) -> Callable:
    """``pm.sample``: PyMC NUTS in one process (``cores=1``) unless ``kwargs`` say
    otherwise; ``plain=True`` keeps every default of the installed PyMC (sampler, cores)."""
    import pymc as pm

    if not plain:  # PyMC 6 would pick nutpie when nuts_sampler is not given
        kwargs = {"nuts_sampler": "pymc", **kwargs}
        if kwargs["nuts_sampler"] == "pymc":
            kwargs = {"cores": 1, **kwargs}  # faster than a process per chain (RESULTS.md)

    def sample(model):
        with model:
            return pm.sample(
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                random_seed=settings.seed,
                progressbar=False,
                **kwargs,
            )

    return sample


def _nutpie_jax_sample(settings: Settings, low_rank: bool = False) -> Callable:
    """nutpie's JAX backend with its defaults, or (``low_rank=True``) with its low-rank
    modified mass matrix."""
    import nutpie

    def sample(model):
        from jaxbridge import _compat

        options = {}
        if low_rank:
            _compat.nutpie_low_rank(options)
        compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
        idata = nutpie.sample(
            compiled,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            seed=settings.seed,
            progress_bar=False,
            **options,
        )
        _compat.group_attrs(idata, "posterior")["inference_library"] = "nutpie"  # unset by nutpie
        return idata

    return sample


def _jaxbridge_sample(settings: Settings, sampler: str) -> Callable:
    from jaxbridge.pymc import sample as jaxbridge_sample  # re-exported as jaxbridge.sample

    kwargs = {"cores": 1} if sampler == "pymc" else {}
    if f"jaxbridge_{sampler}" in DEVICE_ROWS:  # one chain per CPU device, like NumPyro-native
        kwargs["devices"] = settings.chains

    def sample(model):
        return jaxbridge_sample(
            model,
            sampler=sampler,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            random_seed=settings.seed,
            progressbar=False,
            **kwargs,
        )

    return sample


def _page_build(data) -> Callable:
    return lambda: page_model(data.emissions, page_ops()[1])


def row_numpyro_native(data, settings: Settings, chain_method: str = "parallel") -> dict:
    """NumPyro-native model; ``"parallel"`` runs one chain per CPU device (``pmap``)."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer.util import initialize_model

    emissions = jnp.asarray(data.emissions)
    init = initialize_model(jax.random.PRNGKey(0), numpyro_model, model_args=(emissions,))
    point = init.param_info.z
    compile_s, eval_s = jax_eval(lambda z: -init.potential_fn(z), point, settings)
    _clear_jax_caches()
    recorder = _common.CompileRecorder()

    def sample():
        mcmc = MCMC(
            NUTS(numpyro_model),
            num_warmup=settings.tune,
            num_samples=settings.draws,
            num_chains=settings.chains,
            chain_method=chain_method,
            progress_bar=False,
        )
        mcmc.run(jax.random.PRNGKey(settings.seed), emissions, extra_fields=("num_steps",))
        jax.block_until_ready(mcmc.get_samples())  # run() returns before XLA has finished
        return mcmc

    mcmc, wall_s, cpu_s = _timed(sample)
    return {
        "eval": "jax",
        "eval_s": eval_s,
        "compile_s": compile_s,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "jax_compile_s": recorder.total(),
        **posterior_summary(_numpyro_idata(mcmc)),
    }


def _numpyro_idata(mcmc):
    import numpy as np

    from jaxbridge import _compat

    samples = mcmc.get_samples(group_by_chain=True)
    steps = mcmc.get_extra_fields(group_by_chain=True)["num_steps"]
    idata = _compat.from_dict(
        {
            "posterior": {v: np.asarray(samples[v]) for v in FREE_VARS},
            "sample_stats": {"n_steps": np.asarray(steps)},
        }
    )
    _compat.group_attrs(idata, "posterior")["inference_library"] = "numpyro"
    return idata


def run_row(name: str, settings: Settings) -> dict:
    """Run one row in this process and return its measurements."""
    import jax

    # before JAX creates its CPU client: one device per chain where the sampler uses devices
    jax.config.update("jax_num_cpu_devices", settings.chains if name in DEVICE_ROWS else 1)
    from jaxbridge.datasets import seed_page_data

    data = seed_page_data()
    if name.startswith("numpyro_native"):
        method = "vectorized" if name == "numpyro_native_vectorized" else "parallel"
        return row_numpyro_native(data, settings, method)
    if name == PAGE_ROW:
        return _pymc_row(_page_build(data), settings, _pm_sample(settings), "pymc")
    if name == "page_ops_pm_sample":
        return _pymc_row(_page_build(data), settings, _pm_sample(settings, plain=True), "pymc")
    if name == "page_ops_numpyro":
        sample = _pm_sample(
            settings, nuts_sampler="numpyro", nuts_sampler_kwargs={"chain_method": "parallel"}
        )
        return _pymc_row(_page_build(data), settings, sample, "jax")
    if name.startswith("page_ops_nutpie_jax"):
        sample = _nutpie_jax_sample(settings, low_rank=name.endswith("_low_rank"))
        return _pymc_row(_page_build(data), settings, sample, "jax")
    if name == "wrap_jax_pymc":

        def build():
            return page_model(data.emissions, wrap_jax_loglike())

        return _pymc_row(build, settings, _pm_sample(settings), "pymc")
    if name.startswith("jaxbridge_"):
        sampler = name.removeprefix("jaxbridge_")
        eval_kind = "pymc" if sampler == "pymc" else "jax"
        build = lambda: jaxbridge_model(data.emissions)  # noqa: E731
        return _pymc_row(build, settings, _jaxbridge_sample(settings, sampler), eval_kind)
    raise ValueError(f"unknown row {name!r}; expected one of {DEFAULT_ROWS + EXTRA_ROWS}")


# --------------------------------------------------------------------------------------
# Driver: one fresh subprocess per row, then the table
# --------------------------------------------------------------------------------------


def run_row_subprocess(name: str, args: argparse.Namespace, timeout: float) -> dict:
    """Run ``name`` in a fresh interpreter with JAX's persistent cache off; never raises."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        cmd = [
            sys.executable,
            __file__,
            "--row",
            name,
            "--json-out",
            str(out),
            *("--draws", str(args.draws), "--tune", str(args.tune)),
            *("--chains", str(args.chains), "--seed", str(args.seed)),
            *("--eval-time", str(args.eval_time)),
        ]
        env = {**os.environ, "JAXBRIDGE_CACHE_DIR": "off"}
        if args.xla_flags:
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {args.xla_flags}".strip()
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            return {"error": (lines[-1] if lines else f"exit code {proc.returncode}")[:160]}
        result = json.loads(out.read_text())
        result["process_s"] = time.perf_counter() - start
        return result


def _rates(r: dict) -> dict:
    """ESS per wall second and per CPU second of one row."""
    return {"wall": r["ess"] / r["wall_s"], "cpu": r["ess"] / r["cpu_s"]}


def strongest_anchors(results: dict[str, dict]) -> dict[str, tuple[str, float]]:
    """Per measure (``"wall"``, ``"cpu"``): the anchor row with the highest ESS rate."""
    anchors = {n: _rates(r) for n, r in results.items() if n in ANCHOR_ROWS and "error" not in r}
    return {
        measure: max(
            ((name, rates[measure]) for name, rates in anchors.items()), key=lambda x: x[1]
        )
        for measure in ("wall", "cpu")
        if anchors
    }


def format_table(results: dict[str, dict]) -> str:
    """Markdown table of the rows; ratios are to the strongest anchor of the same run."""
    best = strongest_anchors(results)
    header = [
        "row",
        "sampler",
        "eval fn",
        "logp+grad eval (µs)",
        "compile (s)",
        "wall (s)",
        "JAX compile in wall (s)",
        "CPU (s)",
        "min bulk ESS (all params)",
        "steps/draw",
        "ESS/s",
        "× best anchor",
        "ESS/CPU-s",
        "× best anchor (CPU)",
        "mean signal / noise",
    ]
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, *["—"] * (len(header) - 2), f"failed: {r['error']}"])
            continue
        rates = _rates(r)
        ratio = {m: f"{rates[m] / best[m][1]:.2f}" if m in best else "—" for m in ("wall", "cpu")}
        rows.append(
            [
                f"{name} (anchor)" if name in ANCHOR_ROWS else name,
                r.get("library", "—"),
                "logp_dlogp_function" if r["eval"] == "pymc" else "jit(value_and_grad)",
                f"{r['eval_s'] * 1e6:.0f}",
                f"{r['compile_s']:.2f}",
                f"{r['wall_s']:.1f}",
                f"{r['jax_compile_s']:.1f}",
                f"{r['cpu_s']:.1f}",
                f"{r['ess']:.0f}",
                "—" if r.get("steps") is None else f"{r['steps']:.1f}",
                f"{rates['wall']:.1f}",
                ratio["wall"],
                f"{rates['cpu']:.1f}",
                ratio["cpu"],
                f"{r['signal']:.3f} / {r['noise']:.3f}",
            ]
        )
    notes = [f"strongest anchor, {m}: `{name}`" for m, (name, _) in best.items()]
    return _common.markdown_table(header, rows) + ("\n\n" + "; ".join(notes) if notes else "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 100+100 draws")
    parser.add_argument(
        "--rows",
        nargs="+",
        default=list(DEFAULT_ROWS),
        choices=[*DEFAULT_ROWS, *EXTRA_ROWS],
        metavar="ROW",
        help=f"rows to run (default: all of {', '.join(DEFAULT_ROWS)}; extra: "
        f"{', '.join(EXTRA_ROWS)})",
    )
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=104109109)
    parser.add_argument("--eval-time", type=float, default=2.0, help="seconds timing each eval")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per row")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--xla-flags", default="", help="extra XLA_FLAGS for the row processes")
    parser.add_argument("--note", default="", help="free-text caveat recorded with the results")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row here
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.draws, args.tune, args.eval_time = 100, 100, 0.5
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = Settings(args.draws, args.tune, args.chains, args.seed, args.eval_time)
    if args.row:
        Path(args.json_out).write_text(json.dumps(run_row(args.row, settings)))
        return

    load_before = _common.load_average()
    results: dict[str, dict] = {}
    for name in args.rows:
        print(f"[seed_workload] {name} ...", file=sys.stderr, flush=True)
        results[name] = run_row_subprocess(name, args, args.timeout)
        print(f"[seed_workload] {name}: {results[name]}", file=sys.stderr, flush=True)

    table = format_table(results)
    title = "seed_workload" + (" (--quick)" if args.quick else "")
    section = "\n".join(
        [
            _common.machine_header(title),
            f"- settings: {args.chains} chains x ({args.tune} tune + {args.draws} draws), "
            f"seed {args.seed}; each row in a fresh process, JAX persistent cache off",
            *([f"- XLA_FLAGS: {args.xla_flags}"] if args.xla_flags else []),
            f"- load average (1/5/15 min) before: {load_before}, after: {_common.load_average()}",
            *([f"- note: {args.note}"] if args.note else []),
            "",
            table,
        ]
    )
    print(section)
    if not (args.no_append or args.quick):
        _common.append_results(section)


if __name__ == "__main__":
    main()
