"""`ArrayEnv`: every env family under one array interface (docs/architecture.md §2.1).

`ArrayEnv(env)` wraps an env of any family (`envs_jax.families.adapt` picks the adapter; a `Family` is taken as
it is):
  reset(key)               -> (EnvState, TimeStep)
  step(key, state, action) -> (EnvState, TimeStep)     action: int [N]
with obs [N, *obs_shape], world_state [*state_shape], avail [N, A], team reward [], done [], auto-reset inside
`step`, and per-episode statistics. A time-limit truncation (`truncated`) is told apart from a termination
(`terminated`); `final_world_state` is the world state the step reached before the auto-reset, so a learner can
bootstrap from it at a truncation. What differs between families (how the team reward is formed, the world state,
masks, truncation, wins) is the family's rule (envs_jax/families/); what is the same is here.

Out-of-range action values cannot raise inside `jit`; each env then does what its indexing does
(SMAX treats them as no-ops/garbage). `ArrayEnv(env, debug=True)` adds a `checkify` check; run the step
under `jax.experimental.checkify.checkify` to get the error.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import checkify
from flax import struct

from .families import Family, Step, adapt


class TimeStep(NamedTuple):
    obs: jax.Array  # float32 [N, *obs_shape] ([N, D] for vector observations)
    world_state: jax.Array  # float32 [*state_shape] ([S] for vector states)
    avail: jax.Array  # bool [N, A]
    visible: jax.Array  # bool [N, N]; [i, j] = agent i sees agent j (all True where the env has no notion)
    reward: jax.Array  # float32 [] team reward of the step that led here (0 after reset)
    done: jax.Array  # bool [] the episode ended at this step (terminated or truncated); obs is the reset obs
    terminated: jax.Array  # bool [] ended by the game (no bootstrap)
    truncated: jax.Array  # bool [] ended by the time limit (bootstrap from final_world_state)
    final_world_state: jax.Array  # float32 [*state_shape] world state reached before the auto-reset
    episode_return: jax.Array  # float32 [] return of the episode that ended here (valid where done)
    episode_length: jax.Array  # int32 [] its length (valid where done)
    won: jax.Array  # bool [] whether it was won (valid where done; False for envs without a win)


@struct.dataclass
class EnvState:
    env_state: object
    episode_return: jax.Array  # float32 [] running return of the current episode
    episode_length: jax.Array  # int32 []


class ArrayEnv:
    def __init__(self, env, debug: bool = False, flatten: bool = False, **rules):
        """env: a library env or a `Family`; rules: the family's (`envs_jax.adapt`); flatten: grid observations and
        world states reach the learner as vectors ([N, H*W*C], [H*W*C']), for networks with a dense first layer."""
        self.family: Family = adapt(env, **rules)
        self.flatten = bool(flatten) and (len(self.family.obs_shape) > 1 or len(self.family.state_shape) > 1)
        self.env = self.family.env
        self.agents = list(self.family.agents)
        self.num_agents = self.family.num_agents
        self.num_actions = self.family.num_actions
        self.obs_shape = tuple(self.family.obs_shape)
        self.state_shape = tuple(self.family.state_shape)
        if self.flatten:
            self.obs_shape, self.state_shape = (math.prod(self.obs_shape),), (math.prod(self.state_shape),)
        self.obs_dim = self.obs_shape[-1] if len(self.obs_shape) == 1 else None  # vector observations: D
        self.state_dim = self.state_shape[-1] if len(self.state_shape) == 1 else None
        self.max_steps = self.family.max_steps
        self.has_win = self.family.has_win
        self.has_visibility = self.family.has_visibility
        self.debug = debug

    def _view(self, s: Step) -> Step:
        """A family's Step as the learner sees it (flattened grids where `flatten`)."""
        if not self.flatten:
            return s
        return s._replace(obs=s.obs.reshape((self.num_agents,) + self.obs_shape),
                          world_state=s.world_state.reshape(self.state_shape))

    def reset(self, key):
        env_state, s = self.family.reset(key)
        s = self._view(s)
        ts = TimeStep(
            obs=s.obs,
            world_state=s.world_state,
            avail=s.avail,
            visible=s.visible,
            reward=jnp.float32(0.0),
            done=jnp.bool_(False),
            terminated=jnp.bool_(False),
            truncated=jnp.bool_(False),
            final_world_state=s.world_state,
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

    def step(self, key, state: EnvState, actions, shaping: jax.Array | float = 0.0):
        """One step with auto-reset. `shaping`: the weight of the family's shaped reward in `reward` (the trainer
        anneals it; evaluation leaves it at 0). `episode_return` counts the env's own reward only."""
        actions = self.check_actions(actions)
        key, key_reset = jax.random.split(key)  # the split of jaxmarl's MultiAgentEnv.step
        env_st, s = self.family.step(key, state.env_state, actions)
        env_re, r = self.family.reset(key_reset)
        s, r = self._view(s), self._view(r)
        done = s.done
        # Auto-reset (same rule as MultiAgentEnv.step), keeping the pre-reset world state.
        env_state = jax.tree.map(lambda a, b: jax.lax.select(done, a, b), env_re, env_st)
        new: Step = jax.tree.map(lambda a, b: jax.lax.select(done, a, b), r, s)
        reward = s.reward + shaping * s.shaped_reward if self.family.has_shaped_reward else s.reward
        ep_ret = state.episode_return + s.reward
        ep_len = state.episode_length + 1
        if self.family.reports_truncation:
            terminated, truncated = s.terminated, s.truncated
        else:  # an env that reports neither: its time limit is a truncation, any other end a termination
            truncated = ep_len >= self.max_steps
            terminated = ~truncated
        ts = TimeStep(
            obs=new.obs,
            world_state=new.world_state,
            avail=new.avail,
            visible=new.visible,
            reward=reward,
            done=done,
            terminated=terminated & done,
            truncated=truncated & done,
            final_world_state=s.world_state,
            episode_return=ep_ret,
            episode_length=ep_len,
            won=s.won & done,
        )
        new_state = EnvState(
            env_state,
            jnp.where(done, 0.0, ep_ret).astype(jnp.float32),
            jnp.where(done, 0, ep_len).astype(jnp.int32),
        )
        return new_state, ts
