"""Evaluation of trained joint policies (DESIGN.md §4): the BN joint policy as trained, and the same
parameters executed decentralised (DAG removed, every agent acts on its own observation alone, as the
annealed policy is meant to run at the end)."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .train import over_seeds


def make_eval(policy, env, num_episodes: int, num_steps: int):
    """Returns eval_fn(params, key) -> (returns [num_episodes], won [num_episodes]) for one seed: the first
    episode of each of num_episodes parallel envs, actions sampled from the policy."""
    v_sample = jax.vmap(policy.sample, in_axes=(None, 0, 0, 0, 0, 0))

    def eval_fn(params, key):
        key, rkey = jax.random.split(key)
        env_state, ts = jax.vmap(env.reset)(jax.random.split(rkey, num_episodes))

        def step(carry, _):
            env_state, ts, key, finished, ret, won = carry
            key, nkey, akey, skey = jax.random.split(key, 4)
            noise = policy.sample_noise(nkey, (num_episodes,))
            actions, _, _ = v_sample(params, ts.obs, ts.avail, ts.visible, noise, jax.random.split(akey, num_episodes))
            env_state, ts = jax.vmap(env.step)(jax.random.split(skey, num_episodes), env_state, actions)
            first_end = ts.done & ~finished
            ret = jnp.where(first_end, ts.episode_return, ret)
            won = jnp.where(first_end, ts.won, won)
            return (env_state, ts, key, finished | ts.done, ret, won), None

        z = jnp.zeros((num_episodes,))
        init = (env_state, ts, key, jnp.zeros((num_episodes,), bool), z, jnp.zeros((num_episodes,), bool))
        (_, _, _, finished, ret, won), _ = jax.lax.scan(step, init, None, num_steps)
        return ret, won, finished

    return eval_fn


def evaluate(cfg, policy, env, params, num_episodes: int, key) -> dict:
    """params: seed-batched [K, ...]. Returns {mode: {return_mean, return_per_seed, win_rate_mean, ...}} for
    the joint policy as trained ("joint") and, for correlated modes, decentralised execution ("decentralized")."""
    modes = {"joint": policy}
    if policy.mode != "none":
        modes["decentralized"] = dataclasses.replace(policy, mode="none")
    num_seeds = jax.tree.leaves(params)[0].shape[0]
    keys = jax.random.split(key, num_seeds)
    out = {}
    for name, pol in modes.items():
        fn = jax.jit(over_seeds(make_eval(pol, env, num_episodes, env.max_steps), num_seeds))
        ret, won, finished = jax.device_get(fn(params, keys))
        if not np.all(finished):
            raise RuntimeError(f"evaluation: some episodes did not end within {env.max_steps} steps")
        out[name] = {
            "return_mean": float(ret.mean()),
            "return_per_seed": ret.mean(1).tolist(),
            "win_rate_mean": float(won.mean()),
            "win_rate_per_seed": won.mean(1).tolist(),
            "episodes_per_seed": num_episodes,
        }
    return out
