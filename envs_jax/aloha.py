"""Aloha (CASEC, Wang et al. 2022) as a pure-JAX MultiAgentEnv: 10 islands sharing a radio channel.

Islands sit in a 2x5 array; neighbours are the chain i - i+1 (i = 0..8, so 4-5 are neighbours too)
plus the vertical links i - i+5. Each island has a message backlog (start 1, cap 5). Action 1 =
transmit. A transmitter with backlog > 0 succeeds (backlog - 1, team reward + 0.1) if no neighbour
transmitted, else the team gets - 10. A neighbour that transmits with an empty backlog still
collides. After the step each backlog gains a message with probability 0.6, clipped to the cap.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxmarl.environments.multi_agent_env import MultiAgentEnv
from jaxmarl.environments.spaces import Box, Discrete


def aloha_adjacency(num_islands: int = 10, row: int = 5) -> np.ndarray:
    """Symmetric bool [N, N]: chain i - i+1 plus vertical links i - i+row."""
    adj = np.zeros((num_islands, num_islands), bool)
    for i in range(num_islands - 1):
        adj[i, i + 1] = adj[i + 1, i] = True
    for i in range(num_islands - row):
        adj[i, i + row] = adj[i + row, i] = True
    return adj


@struct.dataclass
class AlohaState:
    backlog: jax.Array  # int32 [N]
    step: jax.Array  # int32 []
    done: jax.Array  # bool []


class Aloha(MultiAgentEnv):
    def __init__(
        self,
        num_islands: int = 10,
        episode_length: int = 20,
        max_backlog: int = 5,
        arrival_prob: float = 0.6,
        success_reward: float = 0.1,
        collision_penalty: float = -10.0,
    ):
        if num_islands != 10:
            raise ValueError(f"Aloha: num_islands must be 10 (the CASEC 2x5 layout), got {num_islands!r}")
        if episode_length < 1:
            raise ValueError(f"Aloha: episode_length must be >= 1, got {episode_length!r}")
        super().__init__(num_islands)
        self.max_steps = int(episode_length)
        self.max_backlog = int(max_backlog)
        self.arrival_prob = float(arrival_prob)
        self.success_reward = float(success_reward)
        self.collision_penalty = float(collision_penalty)
        self.adjacency = aloha_adjacency(num_islands)
        self.agents = [f"island_{i}" for i in range(num_islands)]
        self.observation_spaces = {a: Box(0.0, float(max_backlog), (1,)) for a in self.agents}
        self.action_spaces = {a: Discrete(2) for a in self.agents}

    def _obs(self, backlog):
        x = backlog.astype(jnp.float32)
        obs = {a: x[i : i + 1] for i, a in enumerate(self.agents)}
        obs["world_state"] = x
        return obs

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key):
        backlog = jnp.ones((self.num_agents,), jnp.int32)
        return self._obs(backlog), AlohaState(backlog=backlog, step=jnp.int32(0), done=jnp.bool_(False))

    @partial(jax.jit, static_argnums=(0,))
    def step_env(self, key, state: AlohaState, actions):
        transmit = jnp.stack([jnp.asarray(actions[a]) for a in self.agents]).astype(jnp.int32) == 1
        collided = jnp.any(jnp.asarray(self.adjacency) & transmit[None, :], axis=1)
        sends = transmit & (state.backlog > 0)
        success = sends & ~collided
        reward = self.success_reward * jnp.sum(success) + self.collision_penalty * jnp.sum(sends & collided)
        arrivals = jax.random.bernoulli(key, self.arrival_prob, (self.num_agents,)).astype(jnp.int32)
        backlog = jnp.minimum(state.backlog - success.astype(jnp.int32) + arrivals, self.max_backlog)
        step = state.step + 1
        done = step >= self.max_steps
        reward = reward.astype(jnp.float32)
        rewards = {a: reward for a in self.agents}
        dones = {a: done for a in self.agents}
        dones["__all__"] = done
        infos = {"terminated": jnp.bool_(False), "truncated": done}
        return self._obs(backlog), AlohaState(backlog=backlog, step=step, done=done), rewards, dones, infos

    def get_obs(self, state: AlohaState):
        return self._obs(state.backlog)

    @partial(jax.jit, static_argnums=(0,))
    def get_avail_actions(self, state: AlohaState):
        return {a: jnp.ones((2,), jnp.bool_) for a in self.agents}
