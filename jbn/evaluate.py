"""Evaluation of trained joint policies (docs/architecture.md §4): the BN joint policy as trained, and the same
parameters executed decentralised (DAG removed, every agent acts on its own observation alone, as the
annealed policy is meant to run at the end)."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .rollout import act_and_step
from .train import over_seeds


def make_eval(policy, env, num_episodes: int, num_steps: int):
    """Returns eval_fn(params, key) -> (returns, won, lengths, finished), each [num_episodes], for one seed:
    the first episode of each of num_episodes parallel envs, actions sampled from the policy."""

    def eval_fn(params, key):
        key, rkey = jax.random.split(key)
        env_state, ts = jax.vmap(env.reset)(jax.random.split(rkey, num_episodes))

        def step(carry, _):
            env_state, ts, key, finished, ret, won, length = carry
            key, step_key = jax.random.split(key)
            env_state, ts, _ = act_and_step(policy, env, params, env_state, ts, step_key)
            first_end = ts.done & ~finished
            ret = jnp.where(first_end, ts.episode_return, ret)
            won = jnp.where(first_end, ts.won, won)
            length = jnp.where(first_end, ts.episode_length, length)
            return (env_state, ts, key, finished | ts.done, ret, won, length), None

        z = jnp.zeros((num_episodes,))
        f = jnp.zeros((num_episodes,), bool)
        init = (env_state, ts, key, f, z, f, jnp.zeros((num_episodes,), jnp.int32))
        (_, _, _, finished, ret, won, length), _ = jax.lax.scan(step, init, None, num_steps)
        return ret, won, length, finished

    return eval_fn


def evaluate(cfg, policy, env, params, num_episodes: int, key) -> dict:
    """params: seed-batched [K, ...]. Returns {mode: {return_mean, return_per_seed, [win_rate_mean,
    win_rate_per_seed,] length_mean, episodes_per_seed}} for the joint policy as trained ("joint") and, for
    correlated modes, decentralised execution ("decentralized"). Win rates only for envs with wins."""
    modes = {"joint": policy}
    if policy.mode != "none":
        modes["decentralized"] = dataclasses.replace(policy, mode="none")
    num_seeds = jax.tree.leaves(params)[0].shape[0]
    keys = jax.random.split(key, num_seeds)
    out = {}
    for name, pol in modes.items():
        fn = jax.jit(over_seeds(make_eval(pol, env, num_episodes, env.max_steps), num_seeds))
        ret, won, length, finished = jax.device_get(fn(params, keys))
        if not np.all(finished):
            raise RuntimeError(f"evaluation: some episodes did not end within {env.max_steps} steps")
        res = {"return_mean": float(ret.mean()), "return_per_seed": ret.mean(1).tolist()}
        if env.has_win:
            res.update(win_rate_mean=float(won.mean()), win_rate_per_seed=won.mean(1).tolist())
        res.update(length_mean=float(length.mean()), episodes_per_seed=num_episodes)
        out[name] = res
    return out
