"""The one place that turns JaxMARL's agent-keyed dicts into stacked arrays (docs/architecture.md §2.1).

`ArrayEnv(env)` wraps any `jaxmarl` MultiAgentEnv:
  reset(key)               -> (EnvState, TimeStep)
  step(key, state, action) -> (EnvState, TimeStep)     action: int [N]
with obs [N, D], world_state [S], avail [N, A], team reward [], done [], auto-reset inside `step`, and
per-episode statistics. A time-limit truncation (`truncated`) is told apart from a termination
(`terminated`); `final_world_state` is the world state the step reached before the auto-reset, so a
learner can bootstrap from it at a truncation.

Out-of-range action values cannot raise inside `jit`; each env then does what its indexing does
(SMAX treats them as no-ops/garbage). `ArrayEnv(env, debug=True)` adds a `checkify` check; run the step
under `jax.experimental.checkify.checkify` to get the error.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import checkify
from flax import struct


class TimeStep(NamedTuple):
    obs: jax.Array  # float32 [N, D]
    world_state: jax.Array  # float32 [S]
    avail: jax.Array  # bool [N, A]
    visible: jax.Array  # bool [N, N]; [i, j] = agent i sees agent j (all True where the env has no notion)
    reward: jax.Array  # float32 [] team reward of the step that led here (0 after reset)
    done: jax.Array  # bool [] the episode ended at this step (terminated or truncated); obs is the reset obs
    terminated: jax.Array  # bool [] ended by the game (no bootstrap)
    truncated: jax.Array  # bool [] ended by the time limit (bootstrap from final_world_state)
    final_world_state: jax.Array  # float32 [S] world state reached before the auto-reset
    episode_return: jax.Array  # float32 [] return of the episode that ended here (valid where done)
    episode_length: jax.Array  # int32 [] its length (valid where done)
    won: jax.Array  # bool [] whether it was won (valid where done; False for envs without a win)


@struct.dataclass
class EnvState:
    env_state: object
    episode_return: jax.Array  # float32 [] running return of the current episode
    episode_length: jax.Array  # int32 []


class ArrayEnv:
    def __init__(self, env, debug: bool = False):
        self.env = env
        self.agents = list(env.agents)
        self.num_agents = len(self.agents)
        spaces = [env.action_spaces[a] for a in self.agents]
        self.num_actions = int(max(s.n for s in spaces))
        key = jax.random.PRNGKey(0)
        obs, _ = jax.eval_shape(env.reset, key)
        self.obs_dim = int(obs[self.agents[0]].shape[-1])
        self.state_dim = int(obs["world_state"].shape[-1])
        # the longest episode in env steps (an env may name it episode_limit when it differs)
        self.max_steps = int(getattr(env, "episode_limit", getattr(env, "max_steps", 0)))
        self.has_win = hasattr(env, "ally_visibility")  # SMAX family reports wins
        self.debug = debug

    # ---- dict -> array ----
    def _stack_obs(self, obs):
        return jnp.stack([obs[a] for a in self.agents]).astype(jnp.float32), obs["world_state"].astype(jnp.float32)

    def _avail(self, env_state):
        av = self.env.get_avail_actions(env_state)
        rows = []
        for a in self.agents:
            m = av[a].astype(bool)
            rows.append(jnp.pad(m, (0, self.num_actions - m.shape[-1])))
        return jnp.stack(rows)

    def _visible(self, env_state):
        if hasattr(self.env, "ally_visibility"):
            return self.env.ally_visibility(env_state)
        return jnp.ones((self.num_agents, self.num_agents), bool)

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        o, ws = self._stack_obs(obs)
        ts = TimeStep(
            obs=o,
            world_state=ws,
            avail=self._avail(env_state),
            visible=self._visible(env_state),
            reward=jnp.float32(0.0),
            done=jnp.bool_(False),
            terminated=jnp.bool_(False),
            truncated=jnp.bool_(False),
            final_world_state=ws,
            episode_return=jnp.float32(0.0),
            episode_length=jnp.int32(0),
            won=jnp.bool_(False),
        )
        return EnvState(env_state, jnp.float32(0.0), jnp.int32(0)), ts

    def check_actions(self, actions):
        """Trace-time checks of shape and dtype (values are checked only in debug mode)."""
        actions = jnp.asarray(actions)
        if actions.shape != (self.num_agents,):
            raise ValueError(f"actions must have shape ({self.num_agents},) (one per agent), got {actions.shape}")
        if not jnp.issubdtype(actions.dtype, jnp.integer):
            raise TypeError(f"actions must be integers (action indices), got dtype {actions.dtype}")
        if self.debug:
            checkify.check(
                jnp.all((actions >= 0) & (actions < self.num_actions)),
                f"action out of range [0, {self.num_actions})",
            )
        return actions

    def step(self, key, state: EnvState, actions):
        actions = self.check_actions(actions)
        key, key_reset = jax.random.split(key)
        act = {a: actions[i] for i, a in enumerate(self.agents)}
        obs_st, env_st, rewards, dones, infos = self.env.step_env(key, state.env_state, act)
        obs_re, env_re = self.env.reset(key_reset)
        done = jnp.asarray(dones["__all__"])
        # Auto-reset (same rule as MultiAgentEnv.step), keeping the pre-reset world state.
        env_state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), env_re, env_st)
        obs = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), obs_re, obs_st)
        o, ws = self._stack_obs(obs)
        _, final_ws = self._stack_obs(obs_st)
        reward = jnp.asarray(rewards[self.agents[0]], jnp.float32)
        terminated = jnp.asarray(infos.get("terminated", done), bool)
        truncated = jnp.asarray(infos.get("truncated", jnp.bool_(False)), bool)
        won = jnp.asarray(infos.get("won", jnp.bool_(False)), bool)
        ep_ret = state.episode_return + reward
        ep_len = state.episode_length + 1
        ts = TimeStep(
            obs=o,
            world_state=ws,
            avail=self._avail(env_state),
            visible=self._visible(env_state),
            reward=reward,
            done=done,
            terminated=terminated & done,
            truncated=truncated & done,
            final_world_state=final_ws,
            episode_return=ep_ret,
            episode_length=ep_len,
            won=won & done,
        )
        new_state = EnvState(
            env_state,
            jnp.where(done, 0.0, ep_ret).astype(jnp.float32),
            jnp.where(done, 0, ep_len).astype(jnp.int32),
        )
        return new_state, ts
