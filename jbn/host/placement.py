"""Where the runs of a batch go (README "Sweeps and many devices", docs/architecture.md §4.5).

One `Mesh` over every device of every process, axes (runs, data) of sizes (devices / K, K) with K = --data-parallel:

* the runs axis shards the leading runs dimension of the train state (seeds × sweep points): each device trains
  num_runs / runs_axis runs, with no communication between runs;
* the data axis shards the env dimension of each run (env_state, timestep, the trajectory and the minibatches):
  a run's K devices step E / K envs each, and the loss, being a mean over the global minibatch, makes XLA average
  the gradients over them (an all-reduce; GSPMD inserts it from the shardings).

The update code is the same function of one run as on one device: `jax.jit` takes in/out shardings, `vmap` names
the runs axis (`spmd_axis_name`) and the trainer pins its env/batch axes to the data axis with
`with_sharding_constraint`; one compile. With one device there is no mesh at all (`make` returns None) and the
program is exactly the single-device one.

Multi-host: `init_distributed` starts `jax.distributed` (jbn.host.distributed: --coordinator/--num-processes/--process-id
or $JAX_COORDINATOR_ADDRESS/$JAX_NUM_PROCESSES/$JAX_PROCESS_ID) before anything touches a device; `host_values`
brings the (small) metrics of every run to every process and `Placement.owner` says which process logs which run.

Memory: `check_memory` estimates, before compiling, the bytes a device holds (train state, one rollout's trajectory,
the shuffled batch and one minibatch's activations, from `jax.eval_shape`) and refuses a batch that does not fit,
naming the largest one that does. It is an estimate: XLA's peak also holds temporaries it does not see.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, Optional

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ..training import ppo
from ..training.config import Config, UserError
from . import distributed
from ..training.trainer import DATA, RUNS  # noqa: F401  (the mesh's axis names; re-exported)
from ..training.types import Batch


# ------------------------------------------------------------------------------------------------ multi-host
def distributed_args(cfg: Config) -> Optional[tuple[str, int, int]]:
    """(coordinator, num_processes, process_id) of a config (or the environment); None for one process."""
    return distributed.args_from(cfg.coordinator, cfg.num_processes, cfg.process_id)


def init_distributed(cfg: Config) -> bool:
    """Start jax.distributed when the config asks for several processes (`jbn.host.distributed.initialize`; a no-op
    when `python -m jbn.train` already did, before its imports). Whether it runs multi-process."""
    return distributed.initialize(cfg.coordinator, cfg.num_processes, cfg.process_id)


def host_values(tree):
    """numpy copies of (small) global arrays, every run's values on every process: the metrics and evaluation
    outputs, so that all processes take the same decisions (a NaN stops all of them) and process 0 can summarise."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


# ------------------------------------------------------------------------------------------------ the mesh
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclasses.dataclass(frozen=True)
class Placement:
    """The mesh of a batch of `num_runs` runs and the shardings of its train state."""

    mesh: Mesh
    num_runs: int

    @property
    def runs_axis(self) -> int:
        return self.mesh.shape[RUNS]

    @property
    def data_axis(self) -> int:
        return self.mesh.shape[DATA]

    def runs_sharding(self) -> NamedSharding:
        """A leaf with a leading runs dimension (parameters, optimiser state, metrics): split over the runs axis,
        replicated over the data axis."""
        return NamedSharding(self.mesh, P(RUNS))

    def state_shardings(self, state):
        """Shardings of a runs-batched RunnerState: env_state and timestep ([runs, E, ...]) also split E over the
        data axis; everything else only the runs."""
        env = NamedSharding(self.mesh, P(RUNS, DATA))
        runs = self.runs_sharding()
        shardings = jax.tree.map(lambda _: runs, state)
        return shardings.replace(env_state=jax.tree.map(lambda _: env, state.env_state),
                                 timestep=jax.tree.map(lambda _: env, state.timestep))

    def put(self, tree, shardings):
        """Host (or single-device) arrays holding every run -> global arrays with `shardings`. Each process
        provides the slices of its own devices (every process computed the whole batch the same way)."""
        def one(x, sharding):
            x = np.asarray(x)
            return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

        return jax.tree.map(one, tree, shardings)

    def owner(self) -> list[int]:
        """owner()[r]: the process that writes run r's logs, the process of the first device holding it."""
        index_map = self.runs_sharding().devices_indices_map((self.num_runs,))
        owners = [None] * self.num_runs
        for device in self.mesh.devices.flat:
            (rows,) = index_map[device]
            for r in range(*rows.indices(self.num_runs)):
                if owners[r] is None:
                    owners[r] = device.process_index
        return owners

    def describe(self) -> str:
        kind = self.mesh.devices.flat[0].platform
        hosts = f" on {jax.process_count()} processes" if jax.process_count() > 1 else ""
        return (f"mesh runs {self.runs_axis} x data {self.data_axis} over {self.mesh.devices.size} {kind} "
                f"devices{hosts} ({self.num_runs // self.runs_axis} runs per device)")


def make(cfg: Config, num_runs: int, devices: Optional[list] = None) -> Optional[Placement]:
    """The placement of `num_runs` runs over `devices` (default: jax.devices(), every process's): None on one
    device. UserError, before compiling, when the runs or envs do not divide over the mesh."""
    devices = list(jax.devices() if devices is None else devices)
    n, k = len(devices), cfg.data_parallel
    if n % k:
        raise UserError(f"--data-parallel {k} does not divide the {n} devices; choose one of "
                        f"{', '.join(map(str, _divisors(n)))}")
    runs_axis = n // k
    if num_runs % runs_axis:
        fits = [d for d in _divisors(n) if num_runs % (n // d) == 0 and cfg.num_envs % d == 0
                and cfg.minibatch_size % d == 0]
        hint = (f"--data-parallel {' or '.join(map(str, fits))} (runs axis {', '.join(str(n // d) for d in fits)})"
                if fits else "no --data-parallel fits the envs")
        raise UserError(
            f"{num_runs} runs ({cfg.num_points} sweep points x {cfg.num_seeds} seeds) do not divide over the runs axis "
            f"of {runs_axis} (= {n} devices / --data-parallel {k}); use a number of runs divisible by {runs_axis} "
            f"(--num-seeds, --sweep) or {hint}"
        )
    if n == 1:
        return None
    mesh = Mesh(np.array(devices, dtype=object).reshape(runs_axis, k), (RUNS, DATA))
    return Placement(mesh=mesh, num_runs=num_runs)


# ------------------------------------------------------------------------------------------------ memory
def nbytes(tree) -> int:
    """Bytes of the arrays (or ShapeDtypeStructs) of a pytree."""
    return sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB" if b >= 2**28 else f"{b / 2**20:.1f} MiB"


def device_memory(device) -> tuple[int, str]:
    """(bytes a device may hold, where that number comes from): the allocator's limit on accelerators, else the
    host's physical RAM shared by its local devices (CPU devices, forced ones included)."""
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats
        stats = {}
    if stats.get("bytes_limit"):
        return int(stats["bytes_limit"]), f"{device.device_kind} bytes_limit"
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    local = max(1, jax.local_device_count())
    return ram // local, f"host RAM / {local} local device(s)"


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per run (whole, on one device): what is split over the data axis and what is not."""

    params: int  # parameters, optimiser state, value norm, key, hypers: replicated over the data axis
    envs: int  # env_state + timestep, the trajectory of one rollout, the batch and its shuffled minibatches
    activations: int  # what one minibatch's backward pass keeps (vjp residuals)
    evaluation: int = 0  # an evaluation's envs: combinations x episodes, each env's state and step (between updates)

    def per_device(self, runs_per_device: int, data_axis: int) -> int:
        return runs_per_device * (self.params + max((self.envs + self.activations) // data_axis, self.evaluation))


def estimate(trainer, cfg: Config, hyper) -> MemoryEstimate:
    """The memory of one run from `jax.eval_shape` (nothing is compiled or allocated). An estimate: it counts
    the arrays the update keeps (state, trajectory, batch, minibatches, activations of one minibatch's
    backward pass), not XLA's temporaries or its fusion choices."""
    key = jax.random.PRNGKey(0)
    state = jax.eval_shape(trainer.init, key, hyper)
    _, traj = jax.eval_shape(trainer.rollout, state)
    env_part = nbytes((state.env_state, state.timestep))
    params_part = nbytes(state) - env_part
    T, E, mb = cfg.num_steps, cfg.num_envs, cfg.minibatch_size

    recurrent = trainer.policy.recurrent

    def lead(n):  # a batch of n samples: flat, or a recurrent policy's [T, envs] (minibatches split the envs)
        return (T, n // T) if recurrent else (n,)

    def batch_of(n):
        adv = jax.ShapeDtypeStruct(lead(n), np.float32)
        return Batch.of(jax.tree.map(lambda x: jax.ShapeDtypeStruct(lead(n) + x.shape[2:], x.dtype), traj), adv, adv)

    batch = nbytes(batch_of(T * E))

    def residuals(params, minibatch):
        loss = lambda p: ppo.bn_mappo_loss(trainer.policy, p, minibatch, 1.0, 0.1, hyper, cfg.ratio)[0]  # noqa: E731
        return jax.vjp(loss, params)[1]  # a Partial whose leaves are the saved activations

    activations = nbytes(jax.eval_shape(residuals, state.params, batch_of(mb)))
    # evaluation (jbn.evaluation): C combinations (joint/decentralised x sampled/greedy) of eval_episodes envs each,
    # every env's state and timestep held twice (before and after a step)
    combos = 2 * (2 if trainer.policy.has_parents else 1)
    evaluation = 2 * combos * cfg.eval_episodes * env_part // E
    return MemoryEstimate(params=params_part, envs=env_part + nbytes(traj) + 2 * batch, activations=activations,
                          evaluation=evaluation)


def check_memory(trainer, cfg: Config, hyper, num_runs: int, placement: Optional[Placement],
                 device_memory_fn: Callable = device_memory) -> tuple[int, int, MemoryEstimate]:
    """Refuse (UserError) a batch whose estimated bytes per device exceed the device's memory, naming the
    estimate and the largest number of runs (or, if not even one fits, of envs) that fits. Returns
    (estimated bytes per device, device bytes, the per-run estimate)."""
    runs_axis = placement.runs_axis if placement else 1
    data_axis = placement.data_axis if placement else 1
    device = placement.mesh.devices.flat[0] if placement else jax.devices()[0]
    est = estimate(trainer, cfg, hyper)
    need = est.per_device(num_runs // runs_axis, data_axis)
    have, source = device_memory_fn(device)
    if cfg.memory_check and need > have:
        per_run = est.per_device(1, data_axis)
        fit_runs = (have // per_run) * runs_axis
        if fit_runs >= 1:
            advice = f"the largest batch that fits is about {fit_runs} runs ({have // per_run} per device)"
        else:
            per_env = (est.envs + est.activations) / cfg.num_envs / data_axis
            fit_envs = int((have - est.params) // per_env) if have > est.params else 0
            advice = f"not even one run fits: about --num-envs {fit_envs} would"
            if est.params >= have:
                advice = (f"not even one run fits: its parameters and optimiser state alone take {_gib(est.params)} "
                          f"(--hidden {cfg.hidden}); a smaller --hidden would")
            if est.evaluation > (est.envs + est.activations) // data_axis:
                per_episode = est.evaluation / max(cfg.eval_episodes, 1)
                advice = (f"not even one run fits: the evaluation's {cfg.eval_episodes} episodes need "
                          f"{_gib(est.evaluation)}; about --eval-episodes {int(max(have - est.params, 0) // per_episode)} "
                          f"would fit")
        raise UserError(
            f"not enough device memory: about {_gib(need)} per device estimated for {num_runs} runs "
            f"({_gib(per_run if fit_runs else est.per_device(1, data_axis))} per run: state "
            f"{_gib(est.params)}, envs+trajectory+batch {_gib(est.envs / data_axis)}, activations "
            f"{_gib(est.activations / data_axis)}, evaluation {_gib(est.evaluation)}), but {device} has {_gib(have)} ({source}); {advice}. This is an "
            f"estimate from jax.eval_shape; fewer runs, --num-envs, more devices or --data-parallel lower it, and "
            f"--no-memory-check compiles anyway"
        )
    return need, have, est
