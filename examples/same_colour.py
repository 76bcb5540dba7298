"""Your own env in one file: a jaxmarl MultiAgentEnv that `python -m jbn.train` trains by its factory's name.

Same colour: N agents each pick one of K colours at every step; the team scores 1 when all picked the same colour,
else 0. The observation is the time step only, so nothing tells the agents which colour to agree on: every colour
is an optimum, and a product policy (MAPPO, `--dag none`) that has not yet broken the symmetry pays for every
disagreement, while a joint policy with a DAG (`--dag full` or `context`) can let later agents copy earlier ones.

    python -m jbn.train --env examples.same_colour:make --env-kwargs num_agents=3 num_colours=4 \
        --dag full --total-steps 100000

Everything jbn needs comes from the jaxmarl interface: `agents`, `action_spaces` (Discrete), `observation_spaces`,
`reset`, `step_env`, a `max_steps` attribute (the episode limit) and `dones["__all__"]`. No world state is given, so
the critic reads the agents' observations concatenated; no action mask, so every action is available; the episode
ends only at the time limit, which jbn then counts as a truncation (it bootstraps there).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct
from jaxmarl.environments.multi_agent_env import MultiAgentEnv
from jaxmarl.environments.spaces import Box, Discrete


@struct.dataclass
class State:
    step: jax.Array  # int32 []


class SameColour(MultiAgentEnv):
    def __init__(self, num_agents: int = 3, num_colours: int = 3, horizon: int = 10):
        if num_agents < 2 or num_colours < 2 or horizon < 1:
            raise ValueError(f"need num_agents >= 2, num_colours >= 2, horizon >= 1; got {num_agents}, "
                             f"{num_colours}, {horizon}")
        super().__init__(num_agents)
        self.num_colours, self.max_steps = num_colours, horizon
        self.agents = [f"agent_{i}" for i in range(num_agents)]
        self.observation_spaces = {a: Box(0.0, 1.0, (horizon,)) for a in self.agents}
        self.action_spaces = {a: Discrete(num_colours) for a in self.agents}

    def _obs(self, step):
        t = jax.nn.one_hot(jnp.minimum(step, self.max_steps - 1), self.max_steps)
        return {a: t for a in self.agents}

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key):
        state = State(step=jnp.int32(0))
        return self._obs(state.step), state

    @partial(jax.jit, static_argnums=(0,))
    def step_env(self, key, state: State, actions):
        colours = jnp.stack([actions[a] for a in self.agents])
        reward = jnp.all(colours == colours[0]).astype(jnp.float32)
        step = state.step + 1
        done = step >= self.max_steps
        rewards = {a: reward for a in self.agents}
        dones = {a: done for a in self.agents} | {"__all__": done}
        return self._obs(step), State(step=step), rewards, dones, {}


def make(num_agents: int = 3, num_colours: int = 3, horizon: int = 10) -> SameColour:
    """The factory `--env examples.same_colour:make` calls (with `--env-kwargs`)."""
    return SameColour(num_agents, num_colours, horizon)
