"""State and data containers of the trainer (flax.struct / NamedTuple, built by keyword)."""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import optax
from flax import struct

from envs_jax import EnvState, TimeStep

from .dag import DagNoise
from .ppo import ValueNorm

Params = dict  # {"actor", "critic"[, "edge"[, "perm"]]: flax parameter trees}


class Transition(NamedTuple):
    """One rollout step of E envs; stacked over time to [T, E, ...] by lax.scan."""

    obs: jax.Array  # [E, N, D]
    world_state: jax.Array  # [E, S]
    avail: jax.Array  # [E, N, A] bool
    visible: jax.Array  # [E, N, N] bool
    noise: Optional[DagNoise]  # [E, ...] (context mode) or None
    actions: jax.Array  # [E, N] int32
    logp: jax.Array  # [E, N] log π_i(a_i | o_i, a^{P_i}) at sampling time
    value_n: jax.Array  # [E] critic output (value-normalised units) at sampling time
    reward: jax.Array  # [E]
    terminated: jax.Array  # [E] bool
    done: jax.Array  # [E] bool
    final_world_state: jax.Array  # [E, S] state reached before any auto-reset (bootstrap at truncation)
    episode_return: jax.Array  # [E] valid where done
    won: jax.Array  # [E] bool, valid where done
    density: jax.Array  # [E] ρ(G) of the sampled DAG


class Batch(NamedTuple):
    """What the PPO loss reads: a Transition's inputs plus advantages and normalised targets."""

    obs: jax.Array
    world_state: jax.Array
    avail: jax.Array
    visible: jax.Array
    noise: Optional[DagNoise]
    actions: jax.Array
    logp: jax.Array
    value_n: jax.Array
    advantages: jax.Array
    targets_n: jax.Array


@struct.dataclass
class RunnerState:
    """Everything one seed's training carries from update to update."""

    params: Params
    opt_state: optax.OptState
    value_norm: ValueNorm
    env_state: EnvState  # [E]
    timestep: TimeStep  # [E], the observation to act on
    key: jax.Array
    update: jax.Array  # int32 [] updates done so far
