"""The one batched env step of the joint policy, shared by training, evaluation and the benchmarks.

    key, act_key, env_key = step_keys(key)
    env_state, next_ts, act = act_and_step(policy, env, params, env_state, ts, act_key, env_key)

E envs step together (`act_and_step`; the evaluation kernel steps C groups of envs under C policies at once with
`act_and_step_groups`, of which `act_and_step` is the one-group case): the DAG noise is drawn for every env, the joint action is sampled in topological
order (`BNPolicy.sample`, vmapped over envs) and the ArrayEnv steps (auto-reset inside). A recurrent policy also
takes the GRU states to act from (`memory=`): `act` steps them first (`BNPolicy.step_memory`) and returns them in
`Act.memory`; the caller zeroes those of finished episodes (`BNPolicy.reset_memory(act.memory, next_ts.done)`).
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

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
        memory = policy.step_memory(params, memory, ts.obs, ts.world_state)
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
                 act_key: jax.Array, env_key: jax.Array, memory: Optional[Memory] = None,
                 shaping: Optional[jax.Array] = None) -> tuple[EnvState, TimeStep, Act]:
    """One env step of E envs under the joint policy (keys from `step_keys`; memory: a recurrent policy's GRU states;
    shaping: the weight of the env's shaped reward, training only). Returns (env_state, next_ts, act); act.memory is
    not yet reset where next_ts.done."""
    env_state, next_ts, (a,) = act_and_step_groups((policy,), env, params, env_state, ts, act_key, env_key, memory,
                                                   shaping)
    return env_state, next_ts, a


def act_and_step_groups(policies: Sequence[BNPolicy], env: ArrayEnv, params: Params, env_state: EnvState,
                        ts: TimeStep, act_key: jax.Array, env_key: jax.Array, memory: Optional[Memory] = None,
                        shaping: Optional[jax.Array] = None) -> tuple[EnvState, TimeStep, tuple[Act, ...]]:
    """One env step of C = len(policies) groups of G envs ([C*G, ...] leaves, group-major), group c acting under
    policies[c]. Every group samples with the same act_key and steps its envs with the same G env keys (common random
    numbers: two groups differ only through their policies). Returns (env_state, next_ts, acts), acts[c] the Act of
    group c ([G, ...] leaves; memory not yet reset where next_ts.done). One group is the rollout's step."""
    C = len(policies)
    G = ts.obs.shape[0] // C

    def group(tree, c):
        return tree if C == 1 else jax.tree.map(lambda x: x[c * G:(c + 1) * G], tree)

    acts = tuple(act(p, params, group(ts, c), act_key, group(memory, c)) for c, p in enumerate(policies))
    actions = acts[0].actions if C == 1 else jnp.concatenate([a.actions for a in acts])  # [C*G, N]
    env_keys = jax.random.split(env_key, G)
    env_keys = env_keys if C == 1 else jnp.tile(env_keys, (C, 1))
    if shaping is None:
        env_state, next_ts = jax.vmap(env.step)(env_keys, env_state, actions)
    else:  # the env's shaped reward, weighted (training only; `episode_return` stays the env's own reward)
        env_state, next_ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(env_keys, env_state, actions, shaping)
    return env_state, next_ts, acts
