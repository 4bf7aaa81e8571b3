"""Scaling out across JAX devices: HMM sequences and MCMC chains.

Two things can be split across devices (GPUs, TPU cores, forced host devices on a CPU), both
with :func:`jax.shard_map` over a one-dimensional :class:`jax.sharding.Mesh`:

* **Sequences** (data parallel). :func:`sharded_log_likelihood` splits the flattened batch
  axis ``B`` of the HMM arguments across a mesh with axis :data:`SEQ_AXIS` (``"seq"``). Each
  device runs the forward algorithm of :func:`jaxbridge.hmm.log_likelihood` on its
  ``B / D`` sequences; per-sequence results stay sharded, so a model's ``.sum()`` over them
  is one cross-device all-reduce inserted by XLA. The batch is padded to a multiple of the
  device count with fully masked sequences (log-likelihood 0, finite gradients) whose results
  are dropped. Arguments without batch dimensions (shared ``init``/``trans``) are replicated;
  ``shard_map``'s transpose sums their per-device cotangents, so gradients equal the
  single-device ones up to the order of floating-point summation.
* **Chains** (task parallel). :func:`chain_map` turns a one-chain function into one that
  runs a batch of chains, ``jax.vmap`` on each device's share of the chains and
  ``jax.shard_map`` across devices (mesh axis :data:`CHAIN_AXIS`). Every device runs its own
  NUTS trees without waiting for the others inside a step. It is a valid NumPyro
  ``chain_method`` and drives jaxbridge's BlackJAX chains.

Sharding the sequences inside a PyMC model needs no extra argument on the model: inside
``with shard_sequences(devices):`` (which :func:`jaxbridge.sample` enters for
``shard="sequences"``) the JAX mesh context (:func:`jax.set_mesh`) carries a ``"seq"``
axis, and :func:`sharded_log_likelihood` called with ``devices=None`` shards over it when
traced. The mesh context is part of :func:`jax.jit`'s cache key, so a function traced outside
the context is not reused inside it. With one device everything reduces to the plain call.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from jaxbridge import hmm
from jaxbridge._validation import check_hmm_inputs

__all__ = [
    "CHAIN_AXIS",
    "SEQ_AXIS",
    "DevicePlan",
    "chain_devices",
    "chain_map",
    "plan_devices",
    "resolve_devices",
    "sequence_mesh",
    "shard_sequences",
    "sharded_log_likelihood",
]

#: Mesh axis name of the sequence (batch) dimension.
SEQ_AXIS = "seq"
#: Mesh axis name of the chain dimension.
CHAIN_AXIS = "chain"

Devices = int | Sequence[jax.Device] | None


def resolve_devices(devices: Devices = None) -> list[jax.Device]:
    """The JAX devices a ``devices`` argument names.

    Parameters
    ----------
    devices
        ``None``: all local accelerators (:func:`jax.local_devices`), or one device when JAX
        runs on the CPU; an ``int`` ``n``: the first ``n`` local devices; or a sequence of
        distinct :class:`jax.Device` objects.

    Notes
    -----
    On a CPU, JAX's extra "devices" are forced host devices
    (``XLA_FLAGS=--xla_force_host_platform_device_count=N``) sharing the same cores, and
    importing :mod:`pymc.sampling.jax` forces 100 of them; so ``None`` does not split work
    across them. Ask for them with a count.

    Raises
    ------
    ValueError
        For a count below 1 or above the number of local devices, an empty list, or repeated
        devices.
    TypeError
        For anything else.
    """
    local = jax.local_devices()
    if devices is None:
        return local if local[0].platform != "cpu" else local[:1]
    if isinstance(devices, bool) or not isinstance(devices, int | Sequence):
        raise TypeError(
            "devices must be None, an int count or a sequence of jax.Device; "
            f"got {type(devices).__name__}"
        )
    if isinstance(devices, int):
        if not 1 <= devices <= len(local):
            raise ValueError(
                f"devices={devices} but {len(local)} local JAX device(s) are available "
                f"({local[0].platform}); on a CPU, start Python with "
                "XLA_FLAGS=--xla_force_host_platform_device_count=N to get N host devices"
            )
        return local[:devices]
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise TypeError(
            "devices must be a non-empty sequence of jax.Device (e.g. jax.devices()[:2]); "
            f"got {devices!r}"
        )
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices must be distinct; got {devices}")
    return devices


def sequence_mesh(devices: Devices = None) -> Mesh:
    """One-dimensional mesh with axis :data:`SEQ_AXIS` over ``devices`` (see :func:`resolve_devices`)."""
    return Mesh(np.asarray(resolve_devices(devices)), (SEQ_AXIS,))


@contextlib.contextmanager
def shard_sequences(devices: Devices = None) -> Iterator[Mesh]:
    """Context in which :func:`sharded_log_likelihood` (``devices=None``) shards over ``devices``.

    Sets JAX's mesh context (:func:`jax.set_mesh`) to :func:`sequence_mesh`; functions traced
    inside, such as the jaxified log-density of a PyMC model during sampling, split their HMM
    sequences across the devices. Yields the mesh.
    """
    mesh = sequence_mesh(devices)
    with jax.set_mesh(mesh):
        yield mesh


def _context_mesh_size() -> int:
    """Size of the ``"seq"`` axis of the current (abstract) mesh context, 1 when absent."""
    mesh = jax.sharding.get_abstract_mesh()
    return dict(mesh.shape).get(SEQ_AXIS, 1) if not mesh.empty else 1


def sharded_log_likelihood(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    devices: Devices | Mesh = None,
    time_varying: bool = False,
    log_probs: bool = False,
    method: Literal["sequential", "parallel"] = "sequential",
) -> jax.Array:
    """:func:`jaxbridge.hmm.log_likelihood` with the sequences split across devices.

    Parameters
    ----------
    log_emission, init, trans, mask, time_varying, log_probs, method
        As :func:`jaxbridge.hmm.log_likelihood`: ``log_emission [..., T, K]``,
        ``init [..., K]``, ``trans [..., K, K]`` (``[..., T-1, K, K]`` when time varying),
        ``mask [..., T]``.
    devices
        ``None``: the ``"seq"`` axis of the current mesh context (see :func:`shard_sequences`),
        no sharding outside one. Otherwise a device count, a sequence of devices, or a
        :class:`~jax.sharding.Mesh` with axis :data:`SEQ_AXIS`.

    Returns
    -------
    [...]
        Per-sequence log-likelihoods, equal to the unsharded ones to rounding, sharded along
        the flattened batch over the devices. With one device, or no batch dimensions, this
        is exactly the unsharded call.
    """
    if method not in ("sequential", "parallel"):
        raise ValueError(f"method must be one of ('sequential', 'parallel'); got {method!r}")
    shapes = check_hmm_inputs(
        log_emission, init, trans, mask, time_varying=time_varying, log_probs=log_probs
    )
    if devices is None:
        mesh, num_devices = None, _context_mesh_size()
    else:
        mesh = devices if isinstance(devices, Mesh) else sequence_mesh(devices)
        num_devices = dict(mesh.shape).get(SEQ_AXIS)
        if num_devices is None:
            raise ValueError(f"devices: the mesh needs an axis named {SEQ_AXIS!r}; got {mesh}")
    options = dict(time_varying=time_varying, log_probs=log_probs, method=method)
    if num_devices == 1 or not shapes.batch_shape:
        return hmm.log_likelihood(log_emission, init, trans, mask, **options)
    return _sharded(log_emission, init, trans, mask, mesh=mesh, num_devices=num_devices, **options)


@partial(jax.jit, static_argnames=("mesh", "num_devices", "time_varying", "log_probs", "method"))
def _sharded(log_emission, init, trans, mask, *, mesh, num_devices, **options):
    """Flatten the batch to ``B``, pad it to a multiple of the device count, ``shard_map``."""
    trans_core = 3 if options["time_varying"] else 2
    batch_shape = jnp.broadcast_shapes(
        jnp.shape(log_emission)[:-2],
        jnp.shape(init)[:-1],
        jnp.shape(trans)[:-trans_core],
        *([] if mask is None else [jnp.shape(mask)[:-1]]),
    )
    size = math.prod(batch_shape)
    padding = -size % num_devices
    if mask is None and padding:
        mask = jnp.ones((*batch_shape, jnp.shape(log_emission)[-2]), bool)

    args, sharded = [], []
    # (array, core rank, padding: masked steps / valid probabilities repeated, always sharded)
    for x, core, fill, always in (
        (log_emission, 2, 0, True),
        (init, 1, None, False),
        (trans, trans_core, None, False),
        *([] if mask is None else [(mask, 1, False, True)]),
    ):
        x = jnp.asarray(x)
        sharded.append(always or math.prod(x.shape[:-core]) > 1)
        args.append(_flat_batch(x, batch_shape, core, padding, fill, sharded[-1]))

    local = partial(hmm.log_likelihood, **options)
    specs = tuple(PartitionSpec(SEQ_AXIS) if s else PartitionSpec() for s in sharded)
    # check_vma=False: the kernels' scans start from fresh (device-invariant) carries that
    # the per-device data makes device-varying, which the varying-axis check rejects.
    # Without it, shard_map's transpose sums the cotangents of replicated inputs over devices.
    out = jax.shard_map(
        local, mesh=mesh, in_specs=specs, out_specs=PartitionSpec(SEQ_AXIS), check_vma=False
    )(*args)
    return out[:size].reshape(batch_shape)


def _flat_batch(x, batch_shape, core: int, padding: int, fill, sharded: bool) -> jax.Array:
    """``x [..., *core]`` as ``[B + padding, *core]`` when ``sharded``, else ``[*core]``."""
    core_shape = x.shape[x.ndim - core :]
    if not sharded:
        return x.reshape(core_shape)
    x = jnp.broadcast_to(x, (*batch_shape, *core_shape)).reshape(-1, *core_shape)
    if not padding:
        return x
    widths = [(0, padding)] + [(0, 0)] * core
    if fill is None:
        return jnp.pad(x, widths, mode="edge")
    return jnp.pad(x, widths, constant_values=fill)


def chain_devices(devices: Devices, chains: int) -> list[jax.Device]:
    """The devices ``chains`` chains run on: each device gets the same number of chains.

    ``devices=None`` takes the largest number of the default devices (:func:`resolve_devices`)
    that divides ``chains``; explicitly named devices must divide ``chains`` evenly
    (``ValueError`` otherwise).
    """
    available = resolve_devices(devices)
    if devices is None:
        return _even_split(available, chains)
    if chains % len(available):
        raise ValueError(
            f"chains={chains} cannot be split evenly across {len(available)} devices; "
            "pick a number of chains that is a multiple of the device count"
        )
    return available


def _even_split(available: list, chains: int) -> list:
    """The longest prefix of ``available`` whose length divides ``chains``."""
    count = max(n for n in range(1, len(available) + 1) if chains % n == 0)
    return available[:count]


def chain_map(devices: Devices = None, chains: int | None = None) -> Callable[[Callable], Callable]:
    """Transform a one-chain function into a function of a batch of chains across devices.

    ``chain_map(devices, chains)(fn)(*args)`` equals ``jax.vmap(fn)(*args)`` (every leaf of
    ``args`` has a leading chain axis), computed as ``jax.vmap`` over each device's share
    of the chains inside a jitted ``jax.shard_map`` over the devices of
    :func:`chain_devices`. With one device it is ``jax.vmap(fn)``. Usable as NumPyro's
    ``chain_method``.
    """
    chosen = resolve_devices(devices) if chains is None else chain_devices(devices, chains)

    def transform(fn: Callable) -> Callable:
        batched = jax.vmap(fn)
        if len(chosen) == 1:
            return batched
        mesh = Mesh(np.asarray(chosen), (CHAIN_AXIS,))
        spec = PartitionSpec(CHAIN_AXIS)
        # check_vma=False: samplers call jax.debug.callback, whose outputs carry no axis info.
        # jit: NumPyro applies chain_method outside jit, and an eager shard_map would compile
        # and dispatch one program per primitive.
        return jax.jit(
            jax.shard_map(batched, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)
        )

    return transform


Shard = Literal["chains", "sequences"]
_JAX_SAMPLERS = ("numpyro", "blackjax")


class DevicePlan(NamedTuple):
    """How :func:`jaxbridge.sample` spreads one run across devices (see :func:`plan_devices`)."""

    #: entered around sampling: the ``"seq"`` mesh context for ``shard="sequences"``
    context: contextlib.AbstractContextManager
    #: one-chain function -> function of all chains (BlackJAX)
    map_chains: Callable[[Callable], Callable]
    #: NumPyro's ``chain_method``: ``"vectorized"`` or a :func:`chain_map` transform
    chain_method: str | Callable
    #: whether NumPyro can show a progress bar (not with a callable ``chain_method``)
    progressbar: bool


def plan_devices(sampler: str, devices: Devices, shard: Shard, chains: int) -> DevicePlan:
    """Resolve the ``devices``/``shard`` arguments of :func:`jaxbridge.sample`.

    Parameters
    ----------
    sampler
        Resolved sampler name. Devices apply to the JAX samplers (``"numpyro"``,
        ``"blackjax"``); ``"pymc"`` and ``"nutpie"`` accept only the defaults.
    devices
        See :func:`resolve_devices`; ``None`` means all local devices.
    shard
        ``"chains"``: chains run in parallel, an equal share on each device
        (:func:`chain_devices`, :func:`chain_map`). ``"sequences"``: all chains run vectorised
        in one program and the HMM sequences of the model are split across the devices
        (:func:`shard_sequences`).
    chains
        Number of chains.
    """
    if shard not in ("chains", "sequences"):
        raise ValueError(f"shard must be 'chains' or 'sequences'; got {shard!r}")
    if sampler not in _JAX_SAMPLERS:
        if devices is not None or shard != "chains":
            raise ValueError(
                f"devices= and shard= need a JAX sampler ({', '.join(_JAX_SAMPLERS)}); "
                f"sampler {sampler!r} runs on one device"
            )
        return DevicePlan(contextlib.nullcontext(), jax.vmap, "vectorized", True)
    if shard == "sequences":
        return DevicePlan(shard_sequences(devices), jax.vmap, "vectorized", True)
    if len(chain_devices(devices, chains)) == 1:
        return DevicePlan(contextlib.nullcontext(), jax.vmap, "vectorized", True)
    transform = chain_map(devices, chains)
    return DevicePlan(contextlib.nullcontext(), transform, transform, False)
