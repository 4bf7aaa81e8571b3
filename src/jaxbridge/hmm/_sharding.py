"""Sequence sharding: the HMM likelihood with its batch of sequences split across JAX devices.

:func:`sharded_log_likelihood` splits the flattened batch axis ``B`` of the HMM arguments
across a one-dimensional :class:`jax.sharding.Mesh` with axis :data:`SEQ_AXIS` (``"seq"``),
with :func:`jax.shard_map`. Each device runs the forward algorithm of
:func:`jaxbridge.hmm.log_likelihood` on its ``B / D`` sequences; per-sequence results stay
sharded, so a model's ``.sum()`` over them is one cross-device all-reduce inserted by XLA.
The batch is padded to a multiple of the device count with fully masked sequences
(log-likelihood 0, finite gradients) whose results are dropped. Arguments without batch
dimensions (shared ``init``/``trans``) are replicated; ``shard_map``'s transpose sums their
per-device cotangents, so gradients equal the single-device ones up to the order of
floating-point summation.

Sharding the sequences inside a PyMC model needs no extra argument on the model: inside
``with shard_sequences(devices):`` (which :func:`jaxbridge.sample` enters for
``shard="sequences"``) the JAX mesh context (:func:`jax.set_mesh`) carries a ``"seq"``
axis, and :func:`sharded_log_likelihood` called with ``devices=None`` shards over it when
traced. The mesh context is part of :func:`jax.jit`'s cache key, so a function traced outside
the context is not reused inside it. With one device everything reduces to the plain call.
Chains are spread across devices one layer up (:mod:`jaxbridge.pymc._devices`).

Several processes (multi-controller JAX, :func:`jaxbridge.initialize_processes`): the devices
may be those of all processes (``devices=jax.devices()``). Data enter as **full arrays on every
process**: each process runs the same script with the same (whole) data, which JAX treats as
replicated, and each device computes the forward algorithm of its share of the sequences; the
sums over sequences are all-reduced across processes, so every process gets the same values
and gradients. This is what a PyMC model needs, whose data are constants of the compiled
log-density. It saves computation, not memory: every process holds the whole data set. Called
directly, :func:`sharded_log_likelihood` also takes a global :class:`jax.Array` whose batch
axis is already split, e.g. built from each process's local share with
``jax.make_array_from_process_local_data(NamedSharding(sequence_mesh(jax.devices()),
PartitionSpec("seq")), local_share)``; then no process holds another's sequences.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from jaxbridge._validation import check_hmm_inputs, hmm_batch_shape, trans_rank
from jaxbridge.hmm._likelihood import log_likelihood

__all__ = [
    "SEQ_AXIS",
    "resolve_devices",
    "sequence_mesh",
    "shard_sequences",
    "sharded_log_likelihood",
]

#: Mesh axis name of the sequence (batch) dimension.
SEQ_AXIS = "seq"

Devices = int | Sequence[jax.Device] | None


def resolve_devices(devices: Devices = None) -> list[jax.Device]:
    """The JAX devices a ``devices`` argument names.

    Parameters
    ----------
    devices
        ``None``: all local accelerators (:func:`jax.local_devices`), or one device when JAX
        runs on the CPU; an ``int`` ``n``: the first ``n`` local devices; or a sequence of
        distinct :class:`jax.Device` objects, which in a multi-process run may include other
        processes' devices (``jax.devices()``).

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
    order: int = 0,
) -> jax.Array:
    """:func:`jaxbridge.hmm.log_likelihood` with the sequences split across devices.

    Parameters
    ----------
    log_emission, init, trans, mask, time_varying, log_probs, method, order
        As :func:`jaxbridge.hmm.log_likelihood`: ``log_emission [..., T, K]``,
        ``init [..., K]``, ``trans [..., K, K]`` (``[..., T-1, K, K]`` when time varying),
        ``mask [..., T]``. With devices of several processes: the same full arrays on every
        process, or global :class:`jax.Array` inputs (see the module docstring).
    devices
        ``None``: the ``"seq"`` axis of the current mesh context (see :func:`shard_sequences`),
        no sharding outside one. Otherwise a device count, a sequence of devices, or a
        :class:`~jax.sharding.Mesh` with axis :data:`SEQ_AXIS`.

    Returns
    -------
    [...]
        Per-sequence log-likelihoods, equal to the unsharded ones to rounding, sharded along
        the flattened batch over the devices. With one device, or no batch dimensions, this
        is exactly the unsharded call. Across processes the result is a global array: reduce
        it inside :func:`jax.jit` (``.sum()``) or read it with
        :func:`jax.experimental.multihost_utils.process_allgather`.
    """
    if method not in ("sequential", "parallel"):
        raise ValueError(f"method must be one of ('sequential', 'parallel'); got {method!r}")
    shapes = check_hmm_inputs(
        log_emission, init, trans, mask, time_varying=time_varying, log_probs=log_probs, order=order
    )
    if devices is None:
        mesh, num_devices = None, _context_mesh_size()
    else:
        mesh = devices if isinstance(devices, Mesh) else sequence_mesh(devices)
        num_devices = dict(mesh.shape).get(SEQ_AXIS)
        if num_devices is None:
            raise ValueError(f"devices: the mesh needs an axis named {SEQ_AXIS!r}; got {mesh}")
    options = dict(time_varying=time_varying, log_probs=log_probs, method=method, order=order)
    if num_devices == 1 or not shapes.batch_shape:
        return log_likelihood(log_emission, init, trans, mask, **options)
    return _sharded(log_emission, init, trans, mask, mesh=mesh, num_devices=num_devices, **options)


@partial(
    jax.jit, static_argnames=("mesh", "num_devices", "time_varying", "log_probs", "method", "order")
)
def _sharded(log_emission, init, trans, mask, *, mesh, num_devices, **options):
    """Flatten the batch to ``B``, pad it to a multiple of the device count, ``shard_map``."""
    trans_core = trans_rank(options["time_varying"])
    batch_shape = hmm_batch_shape(log_emission, init, trans, mask, options["time_varying"])
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

    local = partial(log_likelihood, **options)
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
