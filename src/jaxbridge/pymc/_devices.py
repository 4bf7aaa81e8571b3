"""Spreading MCMC chains across JAX devices, and the device plan of :func:`jaxbridge.sample`.

:func:`chain_map` turns a one-chain function into one that runs a batch of chains,
``jax.vmap`` on each device's share of the chains and :func:`jax.shard_map` across devices
(mesh axis :data:`CHAIN_AXIS`). Every device runs its own NUTS trees without waiting for the
others inside a step. It is a valid NumPyro ``chain_method`` and drives jaxbridge's BlackJAX
chains. :func:`plan_devices` resolves ``sample``'s ``devices``/``shard`` arguments: chains
split this way, or the model's HMM sequences split one layer down
(:func:`jaxbridge.hmm.shard_sequences`). Only sequences may be split across the devices of
several processes (a multi-process run, :func:`jaxbridge.initialize_processes`); chains on
several processes run independently and are merged by :func:`jaxbridge.gather_chains`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from jaxbridge.hmm._sharding import Devices, resolve_devices, shard_sequences

__all__ = ["CHAIN_AXIS", "DevicePlan", "chain_devices", "chain_map", "plan_devices"]

#: Mesh axis name of the chain dimension.
CHAIN_AXIS = "chain"


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
    #: the number of devices the run uses, and what is split across them: ``"chains"``,
    #: ``"sequences"`` or ``"nothing"`` (one device)
    devices: int = 1
    split: str = "nothing"


_ONE_DEVICE = DevicePlan(contextlib.nullcontext(), jax.vmap, "vectorized", True)


def from_context(devices: Devices, shard: Shard) -> tuple[Devices, Shard]:
    """``devices``/``shard`` with the caller's mesh context taken into account: inside
    :func:`jaxbridge.shard_sequences` (a mesh with the sequence axis), the defaults mean
    "split the sequences across that mesh's devices", as the block promises for any function
    traced inside it. Explicit arguments are kept."""
    from jaxbridge.hmm._sharding import SEQ_AXIS

    mesh = jax.sharding.get_mesh()
    if devices is None and shard == "chains" and not mesh.empty and SEQ_AXIS in mesh.axis_names:
        return list(mesh.devices.flat), "sequences"
    return devices, shard


def plan_devices(
    sampler: str, devices: Devices, shard: Shard, chains: int, *, on_devices: bool | None = None
) -> DevicePlan:
    """Resolve the ``devices``/``shard`` arguments of :func:`jaxbridge.sample`.

    Parameters
    ----------
    sampler
        Resolved sampler name.
    devices
        See :func:`resolve_devices`; ``None`` means all local devices.
    shard
        ``"chains"``: chains run in parallel, an equal share on each device
        (:func:`chain_devices`, :func:`chain_map`); local devices only. ``"sequences"``: all
        chains run vectorised in one program and the HMM sequences of the model are split
        across the devices (:func:`shard_sequences`), which may belong to several processes
        (``devices=jax.devices()``): every process then runs the same program on the full
        data, computes its devices' share and ends with the same draws.
    chains
        Number of chains.
    on_devices
        Whether the sampler places work on JAX devices (NumPyro, BlackJAX; the others accept
        only the defaults); by default what the sampler's adapter says.
    """
    from jaxbridge.pymc.samplers import ADAPTERS

    if on_devices is None:
        on_devices = ADAPTERS[sampler].on_devices
    if shard not in ("chains", "sequences"):
        raise ValueError(f"shard must be 'chains' or 'sequences'; got {shard!r}")
    if not on_devices:
        if devices is not None or shard != "chains":
            placing = ", ".join(name for name, a in ADAPTERS.items() if a.on_devices)
            raise ValueError(
                f"devices= and shard= need a sampler that places work on JAX devices "
                f"({placing}); sampler {sampler!r} runs on one device"
            )
        return _ONE_DEVICE
    if shard == "sequences":
        count = len(resolve_devices(devices))
        return DevicePlan(
            shard_sequences(devices), jax.vmap, "vectorized", True, count, "sequences"
        )
    if any(d.process_index != jax.process_index() for d in resolve_devices(devices)):
        raise ValueError(
            "shard='chains' runs on this process's devices only (jax.local_devices()); "
            "across processes either split the sequences (shard='sequences') or sample "
            "independent chains on each process and merge them with jaxbridge.gather_chains"
        )
    count = len(chain_devices(devices, chains))
    if count == 1:
        return _ONE_DEVICE
    transform = chain_map(devices, chains)
    return DevicePlan(contextlib.nullcontext(), transform, transform, False, count, "chains")
