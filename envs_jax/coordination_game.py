"""The Coordination Game of the paper (App. B.1; Chen et al. 2022), as a pure-JAX MultiAgentEnv.

States and actions are {0,1}^N. Agent i's next local state depends only on its own action:
P(s'_i = 0 | a_i = 0) = 1 - eps, P(s'_i = 0 | a_i = 1) = eps. The team reward r_t = R(s_t) is
Algorithm 1 of App. B.1 on the counts of zeros and ones. Every agent observes the full state.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxmarl.environments.multi_agent_env import MultiAgentEnv
from jaxmarl.environments.spaces import Box, Discrete



def default_difference_bound(num_agents: int) -> int:
    """Algorithm 1 (App. B.1): difference bound 1 for N in {2, 3}, else 2."""
    return 1 if num_agents <= 3 else 2


# The registered sizes (envs_jax.registry) and their Algorithm 1 bounds.
DEFAULT_DIFFERENCE_BOUNDS = {n: default_difference_bound(n) for n in (2, 3, 5, 10)}
DENSE_TABLE_MAX_AGENTS = 5  # P is [2^N, 2^N, 2^N] float32: 4 GiB at N = 10


def team_reward(num_zeros, num_ones, difference_bound):
    """Algorithm 1 (App. B.1): the team reward from the counts of agents in local state 0 and 1."""
    balanced = jnp.abs(num_zeros - num_ones) <= difference_bound
    return jnp.where(
        balanced,
        jnp.where(num_zeros < num_ones, 1.0, 0.0),
        jnp.where(num_zeros > num_ones, 3.0, 2.0),
    ).astype(jnp.float32)


@struct.dataclass
class CGState:
    s: jax.Array  # int32 [N], local states in {0, 1}
    step: jax.Array  # int32 []
    done: jax.Array  # bool []


class CoordinationGame(MultiAgentEnv):
    """N-agent Coordination Game with horizon `horizon` (time-limit truncation only, never termination)."""

    def __init__(self, num_agents: int, eps: float = 0.1, horizon: int = 25, difference_bound: int | None = None):
        if not isinstance(num_agents, (int, np.integer)) or num_agents < 1:
            raise ValueError(f"num_agents must be a positive int, got {num_agents!r}")
        if difference_bound is None:
            difference_bound = default_difference_bound(num_agents)
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps must lie in [0, 1], got {eps!r}")
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon!r}")
        super().__init__(num_agents)
        self.eps = float(eps)
        self.horizon = int(horizon)
        self.max_steps = self.horizon
        self.difference_bound = int(difference_bound)
        self.agents = [f"agent_{i}" for i in range(num_agents)]
        self.observation_spaces = {a: Box(0.0, 1.0, (num_agents,)) for a in self.agents}
        self.action_spaces = {a: Discrete(2) for a in self.agents}

    def _obs(self, s):
        x = s.astype(jnp.float32)
        obs = {a: x for a in self.agents}
        obs["world_state"] = x
        return obs

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key):
        s = jax.random.bernoulli(key, 0.5, (self.num_agents,)).astype(jnp.int32)
        state = CGState(s=s, step=jnp.int32(0), done=jnp.bool_(False))
        return self._obs(s), state

    @partial(jax.jit, static_argnums=(0,))
    def step_env(self, key, state: CGState, actions):
        a = jnp.stack([jnp.asarray(actions[ag]) for ag in self.agents]).astype(jnp.int32)
        n_ones = jnp.sum(state.s)
        reward = team_reward(self.num_agents - n_ones, n_ones, self.difference_bound)  # r_t = R(s_t)
        p_zero = jnp.where(a == 0, 1.0 - self.eps, self.eps)
        s_next = (jax.random.uniform(key, (self.num_agents,)) >= p_zero).astype(jnp.int32)
        step = state.step + 1
        done = step >= self.horizon
        new_state = CGState(s=s_next, step=step, done=done)
        rewards = {a_: reward for a_ in self.agents}
        dones = {a_: done for a_ in self.agents}
        dones["__all__"] = done
        infos = {"terminated": jnp.bool_(False), "truncated": done}
        return self._obs(s_next), new_state, rewards, dones, infos

    def get_obs(self, state: CGState):
        return self._obs(state.s)

    @partial(jax.jit, static_argnums=(0,))
    def get_avail_actions(self, state: CGState):
        return {a: jnp.ones((2,), jnp.bool_) for a in self.agents}

    # ---- exact tables for the tabular experiments (paper §5, §7.3) ----
    def reward_table(self) -> np.ndarray:
        """R [2^N] with state index sum_i s_i 2^i."""
        idx = np.arange(2**self.num_agents)
        bits = (idx[:, None] >> np.arange(self.num_agents)) & 1
        ones = bits.sum(1)
        return np.asarray(team_reward(jnp.asarray(self.num_agents - ones), jnp.asarray(ones), self.difference_bound))

    def local_transition(self) -> np.ndarray:
        """Per-agent factor P(s'_i | a_i) as [2 (a_i), 2 (s'_i)]; identical for every agent."""
        return np.array([[1.0 - self.eps, self.eps], [self.eps, 1.0 - self.eps]], np.float32)

    def exact_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(P, R): P [2^N (s), 2^N (a), 2^N (s')] = P(s'|s,a), R [2^N] = R(s).

        State and joint-action index = sum_i x_i 2^i (bit i is agent i). Dense P needs 2^(3N) floats,
        so it is offered for N <= 5 only; use `local_transition()` (the per-agent factors) beyond that.
        """
        n = self.num_agents
        if n > DENSE_TABLE_MAX_AGENTS:
            raise ValueError(
                f"exact_tables(): dense P has 2^(3N) = {2 ** (3 * n)} entries for N={n} "
                f"({2 ** (3 * n) * 4 / 2**30:.1f} GiB); it is offered for N <= {DENSE_TABLE_MAX_AGENTS}. "
                "Use local_transition() for the per-agent factors P(s'_i | a_i)."
            )
        idx = np.arange(2**n)
        bits = (idx[:, None] >> np.arange(n)) & 1  # [2^N, N]
        f = self.local_transition()
        # P(s'|a) = prod_i f[a_i, s'_i]; independent of s.
        pa = np.prod(f[bits[:, None, :], bits[None, :, :]], axis=-1)  # [a, s']
        P = np.broadcast_to(pa[None], (2**n, 2**n, 2**n)).astype(np.float32).copy()
        return P, self.reward_table()
