"""The one batched env step of the joint policy, shared by training, evaluation and the benchmarks.

    key, act_key, env_key = step_keys(key)
    env_state, next_ts, act = act_and_step(policy, env, params, env_state, ts, act_key, env_key)

E envs step together: the DAG noise is drawn for every env, the joint action is sampled in topological
order (`BNPolicy.sample`, vmapped over envs) and the ArrayEnv steps (auto-reset inside). A recurrent policy also
takes the GRU states to act from (`memory=`): `act` steps them first (`BNPolicy.remember`) and returns them in
`Act.memory`; the caller zeroes those of finished episodes (`BNPolicy.forget(act.memory, next_ts.done)`).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax

from envs_jax import ArrayEnv, EnvState, TimeStep

from ..policy.dag import DagNoise
from ..policy.joint import BNPolicy, Memory
from .types import Params


class Act(NamedTuple):
    """What the policy did in one batched step."""

    noise: Optional[DagNoise]  # [E, ...] DAG noise (context mode), stored for the PPO ratio; else None
    actions: jax.Array  # int32 [E, N]
    logp: jax.Array  # float32 [E, N] log π_i(a_i | o_i, a^{P_i})
    g: jax.Array  # float32 [E, N, N] the sampled DAG, G[j, i] = 1 iff j is a parent of i
    memory: Optional[Memory] = None  # [E, ...] recurrent: the GRU states after this step's observation


def act(policy: BNPolicy, params: Params, ts: TimeStep, key: jax.Array, memory: Optional[Memory] = None) -> Act:
    """Sample the joint actions of E envs from their TimeStep ts ([E, ...] leaves); a recurrent policy from its GRU
    states `memory` ([E, ...]; ts then needs its world_state too), stepped here on ts first."""
    num_envs = ts.obs.shape[0]
    noise_key, act_key = jax.random.split(key)
    noise = policy.sample_noise(noise_key, (num_envs,))
    if policy.recurrent:
        memory = policy.remember(params, memory, ts.obs, ts.world_state)
    v_sample = jax.vmap(policy.sample, in_axes=(None, 0, 0, 0, 0, 0, 0))
    actions, logp, g = v_sample(params, ts.obs, ts.avail, ts.visible, noise, jax.random.split(act_key, num_envs),
                                memory)
    return Act(noise=noise, actions=actions, logp=logp, g=g, memory=memory)


def step_keys(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(the key carried to the next step, the policy's key, the env's key) of one rollout step. The one convention
    of the compiled rollout (jbn.training.trainer) and the host-side one (jbn.driver.game_stepper), which is why a JAX env stepped
    on the host reproduces the compiled rollout bit for bit."""
    key, step_key = jax.random.split(key)
    act_key, env_key = jax.random.split(step_key)
    return key, act_key, env_key


def act_and_step(policy: BNPolicy, env: ArrayEnv, params: Params, env_state: EnvState, ts: TimeStep,
                 act_key: jax.Array, env_key: jax.Array, memory: Optional[Memory] = None
                 ) -> tuple[EnvState, TimeStep, Act]:
    """One env step of E envs under the joint policy (keys from `step_keys`; memory: a recurrent policy's GRU states).
    Returns (env_state, next_ts, act); act.memory is not yet reset where next_ts.done."""
    a = act(policy, params, ts, act_key, memory)
    num_envs = ts.obs.shape[0]
    env_state, next_ts = jax.vmap(env.step)(jax.random.split(env_key, num_envs), env_state, a.actions)
    return env_state, next_ts, a
