"""The jaxmarl family: any `jaxmarl` MultiAgentEnv (our cg, aloha, smax, and JaxMARL's own envs) as a `Family`.

Rules, each a constructor argument with the default that fits an env of this project:
  team_reward   'shared' (agent 0's reward: every agent gets the same), 'sum' or 'mean' of the agents' rewards
  world_state   'env' (obs['world_state'], as SMAX gives it) or 'concat' (the agents' observations, unpadded,
                concatenated on their last axis, as JaxMARL's MPEWorldStateWrapper: [sum D_i] for vectors,
                [H, W, sum C_i] for grids); default: 'env' where the env returns one
  truncation    from infos['terminated'] / infos['truncated'] where the env reports them; an env that reports
                neither ends its episodes by its time limit only where `ArrayEnv` says so (`reports_truncation`)
  avail         env.get_avail_actions where the env implements it, else every action of the agent's own space
  won           infos['won'] where the env reports it
  visible       env.ally_visibility(state) where the env has it (SMAX), else all True
  shaped_reward none here; a subclass that has one overrides `_shaped_reward(infos)` (Overcooked)
Subclasses for JaxMARL's own envs (mpe.py, overcooked.py) change only their defaults and hooks; `adapt` picks them.
The env's own `step_env` is called (not `step`): `ArrayEnv` does the auto-reset itself, with the same key split as
`MultiAgentEnv.step`, so an adapted env and the raw env stepped through its own `step` agree step for step.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxmarl.environments.multi_agent_env import MultiAgentEnv

from .base import TEAM_REWARDS, WORLD_STATES, Family, Step, pad_last, team_reward
from ..choices import check_choice


def _space_size(space) -> int:
    """The number of discrete actions of a jaxmarl action space."""
    if not hasattr(space, "n"):
        raise ValueError(f"only discrete action spaces are supported, got {type(space).__name__} {space}")
    return int(space.n)


class JaxMarlFamily(Family):
    def __init__(self, env: MultiAgentEnv, *, family: str = "jaxmarl", team_reward: str = "shared",
                 world_state: str | None = None, max_steps: int | None = None):
        check_choice("team_reward", team_reward, TEAM_REWARDS)
        self.family = family
        self.env = env
        self.agents = list(env.agents)
        self.num_agents = len(self.agents)
        self._action_sizes = [_space_size(env.action_spaces[a]) for a in self.agents]
        self.num_actions = int(max(self._action_sizes))
        obs, state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
        shapes = [tuple(obs[a].shape) for a in self.agents]
        if len({len(s) for s in shapes}) > 1 or len({s[:-1] for s in shapes}) > 1:
            raise ValueError(f"{family}: the agents' observations differ in more than their last axis: {shapes}")
        self.obs_shape = shapes[0][:-1] + (max(s[-1] for s in shapes),)
        self._team_reward = team_reward
        if world_state is None:
            world_state = "env" if "world_state" in obs else "concat"
        check_choice("world_state", world_state, WORLD_STATES)
        if world_state == "env" and "world_state" not in obs:
            raise ValueError(f"{family}: world_state='env' but the env's observations have no 'world_state'; "
                             f"use world_state='concat'")
        self._world_state = world_state
        ws = jax.eval_shape(self._world_state_of, obs)
        self.state_shape = tuple(ws.shape)
        # the longest episode in env steps (an env may name it episode_limit when it differs)
        self.max_steps = int(max_steps if max_steps is not None
                             else getattr(env, "episode_limit", getattr(env, "max_steps", 0)))
        if self.max_steps < 1:
            raise ValueError(f"{family}: the env declares no episode limit (episode_limit or max_steps); pass max_steps")
        self._has_avail = type(env).get_avail_actions is not MultiAgentEnv.get_avail_actions
        _, _, _, _, infos = jax.eval_shape(env.step_env, jax.random.PRNGKey(0), state, self._noop_actions())
        self.reports_truncation = "truncated" in infos
        self.has_win = "won" in infos
        self.has_visibility = hasattr(env, "ally_visibility")

    @property
    def rules(self) -> dict:
        return dict(team_reward=self._team_reward, world_state=self._world_state,
                    avail="env" if self._has_avail else "all", truncation="infos" if self.reports_truncation
                    else "time limit", win=self.has_win, visibility=self.has_visibility, max_steps=self.max_steps)

    def _noop_actions(self):
        return {a: jnp.int32(0) for a in self.agents}

    # ---- dict -> array ----
    def _stack_obs(self, obs) -> jax.Array:
        return jnp.stack([pad_last(jnp.asarray(obs[a], jnp.float32), self.obs_shape[-1]) for a in self.agents])

    def _world_state_of(self, obs) -> jax.Array:
        if self._world_state == "env":
            return jnp.asarray(obs["world_state"], jnp.float32)
        # unpadded, so agents of different observation sizes give JaxMARL's world state (speaker_listener: 3 + 11)
        return jnp.concatenate([jnp.asarray(obs[a], jnp.float32) for a in self.agents], axis=-1)

    def _avail(self, env_state) -> jax.Array:
        if not self._has_avail:
            return jnp.stack([jnp.arange(self.num_actions) < n for n in self._action_sizes])
        av = self.env.get_avail_actions(env_state)
        return jnp.stack([pad_last(av[a].astype(bool), self.num_actions, False) for a in self.agents])

    def _visible(self, env_state) -> jax.Array:
        if self.has_visibility:
            return self.env.ally_visibility(env_state)
        return jnp.ones((self.num_agents, self.num_agents), bool)

    def _shaped_reward(self, infos) -> jax.Array:
        """float32 []: the step's shaping term from the env's infos (none for a plain jaxmarl env)."""
        return jnp.float32(0.0)

    def _step_of(self, obs, env_state, reward, done, terminated, truncated, won, shaped_reward) -> Step:
        return Step(obs=self._stack_obs(obs), world_state=self._world_state_of(obs), avail=self._avail(env_state),
                    visible=self._visible(env_state), reward=reward, done=done, terminated=terminated,
                    truncated=truncated, won=won, shaped_reward=shaped_reward)

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        f = jnp.bool_(False)
        return env_state, self._step_of(obs, env_state, jnp.float32(0.0), f, f, f, f, jnp.float32(0.0))

    def step(self, key, state, actions):
        act = {a: actions[i] for i, a in enumerate(self.agents)}
        obs, env_state, rewards, dones, infos = self.env.step_env(key, state, act)
        done = jnp.asarray(dones["__all__"], bool)
        reward = team_reward(jnp.stack([jnp.asarray(rewards[a], jnp.float32) for a in self.agents]),
                             self._team_reward)
        terminated = jnp.asarray(infos.get("terminated", done), bool)
        truncated = jnp.asarray(infos.get("truncated", jnp.bool_(False)), bool)
        won = jnp.asarray(infos.get("won", jnp.bool_(False)), bool)
        return env_state, self._step_of(obs, env_state, reward, done, terminated, truncated, won,
                                        self._shaped_reward(infos))
