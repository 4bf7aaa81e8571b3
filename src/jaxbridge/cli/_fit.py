"""Sampling a built model, decoding its hidden states, replicating the data and, when asked,
forecasting: a :class:`Run`.

The posterior comes from :func:`jaxbridge.sample` (mode search, then the chains start in the
best mode); the convergence verdict is printed even with ``--quiet``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import xarray as xr

from jaxbridge import __version__, _compat
from jaxbridge.cli._data import padding_mask
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._phases import Phases
from jaxbridge.cli._run import Run

if TYPE_CHECKING:
    from jaxbridge.cli._model import FitModel

#: Posterior draws that get a replicated data set (the posterior predictive check).
N_REPLICATES = 100

#: Attribute of replicated data drawn one step ahead, each step given the observed past.
ONE_STEP_AHEAD = "one_step_ahead"


class Settings(NamedTuple):
    """What ``fit`` and ``demo`` were asked to do."""

    states: int
    emission: str
    shared_noise: bool
    sampler: str
    draws: int
    tune: int
    chains: int
    seed: int
    covariates: tuple[str, ...] = ()
    forecast: int = 0  # steps ahead (0: no forecast)
    regressors: tuple[str, ...] = ()  # a switching regression's switching regressors
    common_regressors: tuple[str, ...] = ()
    init: str | None = None  # the chain's start; None: the model's default
    ar: int = 0  # a switching autoregression's order (0: none)
    switching_ar: bool = False
    target_accept: float | None = None  # None: the sampler's default


def fit(
    data: xr.Dataset,
    fit_model: FitModel,
    settings: Settings,
    *,
    source: str,
    say: Callable[[str], None],
    progressbar: bool,
    phases: Phases,
    figures: Callable[[Any, xr.Dataset | None], None] = lambda idata, decoded: None,
) -> Run:
    """Sample the model's posterior, decode the hidden states, replicate the data; forecast
    ``settings.forecast`` steps ahead when positive. ``phases`` gets the end of each phase
    (mode search, compile, sampling, decode, forecast, replicates); ``figures(idata, decoded)``
    is called as soon as the posterior is there (``decoded`` None) and once the hidden states
    are decoded, to have the figures of what exists drawn meanwhile."""
    from jaxbridge.pymc import ConvergenceWarning, forecast, sample
    from jaxbridge.pymc._diagnostics import message

    model = fit_model.model
    # what follows the sampling, set up now (part of the compile phase) and compiled in a
    # thread while the chains run
    began = time.perf_counter()
    after = _AfterSampling(model, settings, residuals=data["emissions"].ndim == 2)
    set_up = time.perf_counter() - began
    say(
        f"sampling with NUTS ({settings.sampler}): {settings.chains} chain(s) x "
        f"({settings.tune} tuning + {settings.draws} draws)"
    )
    say("searching the posterior for its modes (20 starts), then starting the chains in the best")
    start = time.perf_counter()

    def sampling_starts(sampler: str) -> None:
        say(f"the chains start ({sampler})")
        after.compile_meanwhile()

    try:
        # stdout is for results: progress bars (nutpie's writes to stdout on PyMC 6) to stderr;
        # the convergence verdict is printed below, once, even with --quiet
        with (
            contextlib.redirect_stdout(sys.stderr),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", ConvergenceWarning)
            idata = sample(
                model,
                sampler=settings.sampler,
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                random_seed=settings.seed,
                progressbar=progressbar,
                on_sampling_start=sampling_starts,
                **(
                    {}
                    if settings.target_accept is None
                    else {"target_accept": settings.target_accept}
                ),
            )
    except ImportError as err:  # the chosen sampler's library is not installed
        raise CLIError(f"--sampler {settings.sampler}: {err}") from None
    seconds = time.perf_counter() - start
    after.compiled()
    attrs = _compat.group_attrs(idata, "posterior")
    phases.mark("sampling", **_sampling_parts(attrs, set_up))
    figures(idata, None)
    end_progress_line(attrs.get("inference_library"), progressbar, sys.stderr)
    say(_sampling_summary(idata, seconds))
    say(f"modes found: {attrs.get('jaxbridge_modes', 'not searched')}")
    converged = bool(attrs.get("jaxbridge_converged", 1))
    if not converged:  # never silenced
        problems = attrs["jaxbridge_problems"].splitlines()
        print(f"jaxbridge: WARNING: {message(problems, ADVICE)}", file=sys.stderr, flush=True)
    say("decoding the hidden states")
    decoded = after.decoder(idata)
    if after.residuals is not None:
        decoded["pseudo_residual"] = after.residuals(idata)
    else:
        say("no pseudo-residuals: vector observations (multivariate emissions) have none")
    decoded = stop_at_ends(on_all_steps(decoded, data), data["lengths"].values)
    if "date" in data:
        decoded = decoded.assign_coords(date=data["date"])
    phases.mark("decode")
    figures(idata, decoded)
    forecasted = None
    if settings.forecast:
        say(f"forecasting {settings.forecast} step(s) after each sequence's last observation")
        forecasted = forecast(idata, model, settings.forecast, random_seed=settings.seed)
        # the data's step of each series' now: a switching autoregression models from step P
        forecasted["last_step"] = forecasted["last_step"] + settings.ar
        phases.mark("forecast")
    say(f"simulating replicated data from {N_REPLICATES} posterior draws")
    replicates = on_all_steps(_replicates(idata, model, settings.seed, after.replicator), data)
    if settings.ar:  # each step drawn given the observed values before it (the model's lags)
        replicates.attrs[ONE_STEP_AHEAD] = 1
    _compat.set_group(idata, "posterior_predictive", replicates)
    phases.mark("replicates")
    info = {
        "jaxbridge_version": __version__,
        "versions": _versions(),
        "source": source,
        "settings": settings._asdict(),
        "sampler_used": attrs.get("inference_library", settings.sampler),
        "data_shape": {name: int(size) for name, size in data["emissions"].sizes.items()},
        "converged": converged,
        "diagnostics": {
            key.removeprefix("jaxbridge_"): np.asarray(value).tolist()
            for key, value in attrs.items()
            if key.startswith("jaxbridge_") and not key.endswith("_seconds")  # in "seconds"
        },
        "var_names": fit_model.var_names,
        "truth": {name: np.asarray(value).tolist() for name, value in fit_model.truth.items()},
    }
    return Run(data, idata, decoded, info, forecasted)


def _sampling_parts(attrs: dict, set_up: float) -> dict[str, float]:
    """The parts of the wall time before the sampling proper, from what
    :func:`jaxbridge.sample` records: the mode search's climbs (``mode_search``), and
    (``compile``) the compilation of its log density, the sampler's own set-up (the sampler's
    run less the library's ``sampling_time``) and the ``set_up`` of what follows the
    sampling."""
    search = float(attrs.get("jaxbridge_search_seconds", 0.0))
    search_compile = float(attrs.get("jaxbridge_search_compile_seconds", 0.0))
    sampler = float(attrs.get("jaxbridge_sampler_seconds", 0.0))
    sampling = float(attrs.get("sampling_time", sampler))
    compile_ = search_compile + sampler - sampling + set_up
    return {"mode_search": search - search_compile, "compile": compile_}


class _AfterSampling:
    """The decoding, pseudo-residuals and replicated data of a fit, set up before sampling
    (their graphs converted to JAX) and compiled in a thread while the chains run
    (:meth:`compile_meanwhile`): XLA compiles without Python's lock, on the CPU time the
    sampler leaves, so that they run at once when the draws are there."""

    def __init__(self, model: Any, settings: Settings, *, residuals: bool):
        from jaxbridge.pymc._decode import Decoder
        from jaxbridge.pymc._draws import ForwardDraws, stand_in_point
        from jaxbridge.pymc._residuals import PseudoResiduals

        self.num_samples = settings.chains * settings.draws
        # PyTensor's part here, in this thread: the compiling thread runs JAX and NumPy only
        self._point = stand_in_point(model.free_RVs)
        self.decoder = Decoder(model)
        self.residuals = PseudoResiduals(model) if residuals else None
        self.replicator = ForwardDraws(model, [rv.name for rv in model.observed_RVs])
        self._thread: threading.Thread | None = None

    def compile_meanwhile(self) -> None:
        """Compile in a thread of its own (a failure is left to the real call to report);
        once."""
        if self._thread is not None:
            return

        def compile_all() -> None:
            try:
                with np.errstate(all="ignore"):  # stand-in draws: no warnings of their own
                    self.decoder.compile(self.num_samples, self._point)
                    if self.residuals is not None:
                        self.residuals.compile(self._point)
                    replicates = len(_replicate_draws(self.num_samples))
                    self.replicator.compile(replicates, self._point)
            except Exception as err:
                logging.getLogger("jaxbridge").debug("jaxbridge: compiling ahead: %r", err)

        self._thread = threading.Thread(target=compile_all, name="jaxbridge-compile", daemon=True)
        self._thread.start()

    def compiled(self) -> None:
        """Wait for the compilation started by :meth:`compile_meanwhile`, if any."""
        if self._thread is not None:
            self._thread.join()


def _replicate_draws(num_samples: int) -> np.ndarray:
    """Which of ``num_samples`` stacked draws get a replicated data set: up to
    :data:`N_REPLICATES`, evenly spaced."""
    return np.unique(np.linspace(0, num_samples - 1, N_REPLICATES).round().astype(int))


def _replicates(idata: Any, model: Any, seed: int, replicator: Any = None) -> xr.Dataset:
    """Data sets drawn from the model at :data:`N_REPLICATES` evenly spaced posterior draws
    (by ``replicator``, a :class:`~jaxbridge.pymc._draws.ForwardDraws`, when given)."""
    posterior = _compat.get_group(idata, "posterior")
    stacked = posterior.stack(sample=("chain", "draw"))
    thinned = stacked.isel(sample=_replicate_draws(stacked.sizes["sample"]))
    thinned = thinned.drop_vars(["sample", "chain", "draw"]).rename(sample="draw")
    thinned = thinned.expand_dims("chain").assign_coords(chain=[0])
    thinned = thinned.assign_coords(draw=np.arange(thinned.sizes["draw"]))
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # not "Sampling: [hmm]": the CLI said what it does
    try:
        predictive = _forward_draws(thinned, model, seed, replicator)
    finally:
        pymc_log.setLevel(level)
    return _compat.get_group(predictive, "posterior_predictive")


def _forward_draws(posterior: xr.Dataset, model: Any, seed: int, replicator: Any = None) -> Any:
    """What :func:`pymc.sample_posterior_predictive` returns for the observed variables: drawn
    in one JAX function vectorised over the draws (:class:`jaxbridge.pymc._draws.ForwardDraws`;
    XLA's program goes to the persistent cache, where PyTensor's C compilation of the hidden
    chain's ``Scan`` took seconds on a fresh machine), by PyMC in PyTensor's ``FAST_COMPILE``
    mode when JAX cannot take the model's random graph."""
    import pymc as pm
    from pymc.backends.arviz import coords_and_dims_for_inferencedata

    from jaxbridge.pymc._draws import EVAL_MODE, ForwardDraws

    names = [rv.name for rv in model.observed_RVs]
    drawn = (replicator or ForwardDraws(model, names))(posterior, seed)
    if drawn is None:
        return pm.sample_posterior_predictive(
            posterior, model=model, var_names=names, random_seed=seed, progressbar=False,
            compile_kwargs={"mode": EVAL_MODE},
        )  # fmt: skip
    coords, dims = coords_and_dims_for_inferencedata(model)
    coords = {**coords, "chain": posterior["chain"].values, "draw": posterior["draw"].values}
    return _compat.from_dict({"posterior_predictive": drawn}, coords=coords, dims=dims)


def on_all_steps(result: xr.Dataset, data: xr.Dataset) -> xr.Dataset:
    """``result`` over all of ``data``'s steps: a switching autoregression models the steps
    after each series' first ``P`` (its ``time`` starts at ``P``); on those first steps, which
    it conditions on, probabilities and paths are missing (NaN, -1) and replicated values are
    the observed ones."""
    steps = data.sizes["time"]
    if result.sizes["time"] == steps:
        return result
    time = np.arange(steps)
    filled = result.reindex(time=time)
    for name, variable in result.data_vars.items():
        if "time" not in variable.dims:
            continue
        if not np.issubdtype(variable.dtype, np.floating):
            filled[name] = variable.reindex(time=time, fill_value=-1)
        elif "chain" in variable.dims:  # replicated data: the observed values
            observed = data["emissions"].assign_coords(time=time)
            filled[name] = filled[name].fillna(observed.transpose(*variable.dims[-2:]))
    return filled


def stop_at_ends(decoded: xr.Dataset, lengths: np.ndarray) -> xr.Dataset:
    """``decoded`` with the steps past each sequence's end blanked: NaN probabilities, -1 paths.

    The model sees padding as missing observations, so without this a short sequence's decoded
    states would run on to the longest one's end, fading to the stationary distribution.
    """
    padding = xr.DataArray(padding_mask(lengths, decoded.sizes["time"]), dims=("sequence", "time"))
    blanked = decoded.copy()
    for name, variable in decoded.data_vars.items():
        fill = np.nan if np.issubdtype(variable.dtype, np.floating) else -1
        blanked[name] = variable.where(~padding, fill).astype(variable.dtype)
    blanked["lengths"] = ("sequence", np.asarray(lengths, dtype=np.int64))
    blanked.attrs["padding"] = "past each sequence's length: probabilities NaN, paths -1"
    return blanked


def end_progress_line(library: str | None, progressbar: bool, stream: Any) -> None:
    """End the line nutpie's terminal progress table leaves open, so that the next message
    starts on its own line (other samplers' bars end theirs; files and pipes get no table)."""
    if library == "nutpie" and progressbar and stream.isatty():
        print(file=stream, flush=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("pymc", "pytensor", "jax", "jaxlib", "arviz", "nutpie", "numpyro", "blackjax"):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


#: What each kind of convergence finding means and what to try, in the command line's options
#: (the Python API's: :data:`jaxbridge.pymc._diagnostics.ADVICE`).
ADVICE = {
    "r_hat": "the chains have not mixed yet: run longer (--tune, --draws); if they stay apart, "
    "they sit in different modes",
    "ess": "too few effective draws for stable estimates: run longer (--draws) or more --chains",
    "divergences": "the sampler could not follow the posterior's curvature somewhere, so the "
    "draws may be biased: a higher --target-accept (e.g. 0.95), more --tune, or a model that "
    "fits the data better (--states, --emission)",
    "modes": "the posterior is multimodal: check --states and --emission, and compare the "
    "numbers of states (--states 1,2,3)",
}


def _sampling_summary(idata: Any, seconds: float) -> str:
    library = _compat.group_attrs(idata, "posterior").get("inference_library", "the sampler")
    stats = _compat.get_group(idata, "sample_stats")
    divergent = int(stats["diverging"].sum()) if "diverging" in stats else 0
    return (
        f"sampled with {library} in {seconds:.1f} s (compilation included), "
        f"{divergent} divergent transition(s)"
    )
