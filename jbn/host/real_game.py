"""The real StarCraft II seen from the trainer, host side: the games of a run and their steps as numpy arrays.

Used by the game stepper (jbn/driver/game_stepper.py, training) and by evaluation on the game (jbn/evaluation/on_real_game.py).
Importing this needs neither pysc2 nor the game; `check_game` says what is missing before anything launches.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import numpy as np

from envs_jax import TimeStep, sc2

from ..policy.joint import BNPolicy, Memory
from ..training.config import UserError


def make_game(name: str, layout: str, num_games: Optional[int], seed: Optional[int] = None,
              policy_map: Optional[str] = None, **kwargs):
    """`envs_jax.sc2.make` for a validated name: an SC2VecEnv of `num_games` games (None: one SC2Env, used as a
    spec only). Starts no game. policy_map: the SMAX scenario whose `smax` layout to use (default: the map)."""
    return sc2.make(name, layout=layout, num_envs=num_games, seed=seed, policy_map=policy_map, **kwargs)


def check_game(env) -> None:
    """UserError (before anything compiles or launches) unless pysc2, the game and the map are installed; the
    message is the bridge's own, saying what to install where."""
    first = env.envs[0]
    try:
        sc2.load_pysc2()
        first.launcher.check(first.spec)
    except (ImportError, sc2.SC2InstallError) as e:
        raise UserError(f"{first.name}: {e}") from None


def host_timestep(ts: TimeStep) -> TimeStep:
    """The env's TimeStep with the dtypes the compiled functions were built for (numpy)."""
    f32, b = np.float32, np.bool_
    return TimeStep(
        obs=np.asarray(ts.obs, f32), world_state=np.asarray(ts.world_state, f32), avail=np.asarray(ts.avail, b),
        visible=np.asarray(ts.visible, b), reward=np.asarray(ts.reward, f32), done=np.asarray(ts.done, b),
        terminated=np.asarray(ts.terminated, b), truncated=np.asarray(ts.truncated, b),
        final_world_state=np.asarray(ts.final_world_state, f32), episode_return=np.asarray(ts.episode_return, f32),
        episode_length=np.asarray(ts.episode_length, np.int32), won=np.asarray(ts.won, b),
    )


def step_game(env, env_state, actions, memory: Optional[Memory], key=None) -> tuple:
    """The host half of one step on the games (the device half is `rollout.act`, jitted): every env steps with its
    actions [E, N], the TimeStep comes back as numpy (`host_timestep`) and a recurrent policy's GRU states are reset
    where an episode ended. Returns (env_state, next_ts, memory)."""
    env_state, ts = env.step(key, env_state, np.asarray(actions))
    ts = host_timestep(ts)
    return env_state, ts, BNPolicy.reset_memory(memory, ts.done)


def game_restarts(env) -> np.ndarray:
    """int [E]: how often each game of an SC2VecEnv has been relaunched after a crash (zeros for other envs)."""
    return np.array([getattr(e, "restarts", 0) for e in getattr(env, "envs", [])] or [0] * env.num_envs)


class View(NamedTuple):
    """What `rollout.act` reads of a batched TimeStep."""

    obs: jax.Array  # [E, N, D]
    avail: jax.Array  # [E, N, A]
    visible: jax.Array  # [E, N, N]
    world_state: Optional[jax.Array] = None  # [E, S] (a recurrent policy's critic reads it)


def step_inputs(ts: TimeStep) -> tuple:
    return ts.obs, ts.avail, ts.visible, ts.world_state
