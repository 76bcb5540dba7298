"""What every env family hands to `ArrayEnv`: one raw step in arrays, and the family's rules in one place.

A family adapter (`Family`) wraps one library's env API (jaxmarl's agent-keyed dicts, Jumanji's TimeStep, ...) and
answers, for one step *without* auto-reset:
    reset(key)                -> (state, Step)
    step(key, state, actions) -> (state, Step)      actions: int32 [N]
`ArrayEnv` (envs_jax/wrappers.py) adds what is the same for all families: the auto-reset, the episode's return,
length and outcome, and the world state reached before the reset (for bootstrapping at a truncation).

The rules a family declares (docs/architecture.md §2): how the team reward is formed from the agents' rewards, the
critic's world state (the env's own, else the agents' observations concatenated), the available actions (all, where
the env has no mask), terminated vs truncated (an env that reports neither: its time limit is a truncation), whether
the env defines a win, the episode limit, and whether agents have a notion of seeing each other (the visibility
analyses apply only then).

What a family can report about a learned DAG (jbn/evaluation runs whatever is declared, never testing the env's type):
    has_visibility              the visible-parent fraction (the paper's Fig. 7)
    team_geometry(state)        the agents' positions (Fig. 9's distance ratio), liveness and, where the game has it,
                                health (Fig. 8's health ratio); None (the default): the family has no positions
    step_snapshot               a JSON picture of one decision step, written on the evaluation's joint rows (Aloha's
                                backlogs, Fig. 5); None (the default): no picture
"""
from __future__ import annotations

from typing import Callable, Literal, NamedTuple, Optional, Sequence, get_args

import jax
import jax.numpy as jnp

TeamReward = Literal["shared", "sum", "mean"]
TEAM_REWARDS: tuple[str, ...] = get_args(TeamReward)
WorldState = Literal["env", "concat"]
WORLD_STATES: tuple[str, ...] = get_args(WorldState)


class Step(NamedTuple):
    """One env step (or a reset) as a family reports it, before any auto-reset."""

    obs: jax.Array  # float32 [N, *obs_shape]; padded to the largest agent's observation
    world_state: jax.Array  # float32 [*state_shape]
    avail: jax.Array  # bool [N, A]; padded actions False
    visible: jax.Array  # bool [N, N]; [i, j] = agent i sees agent j (all True where the env has no notion)
    reward: jax.Array  # float32 [] team reward of this step (0 after a reset)
    done: jax.Array  # bool [] the episode ended at this step
    terminated: jax.Array  # bool [] ended by the game (valid where done)
    truncated: jax.Array  # bool [] ended by the time limit (valid where done)
    won: jax.Array  # bool [] the episode was won (valid where done; False where the env defines no win)
    shaped_reward: jax.Array  # float32 [] a shaping term the trainer may add, annealed (0 where the family has none)


class TeamGeometry(NamedTuple):
    """Where the agents of one env state are, for the analyses of a learned DAG (the paper's Fig. 8, 9): which allies a
    child picks as parents, by distance and by health, against its average living ally."""

    positions: jax.Array  # float32 [N, 2] in the env's own units (the distance ratio is unit-free)
    health: Optional[jax.Array]  # float32 [N] a fraction in [0, 1] comparable across agents; None: the game has none
    alive: jax.Array  # bool [N]; a dead agent is neither a parent nor an ally in the ratios


class StepSnapshot(NamedTuple):
    """A family's picture of one decision step (env 0's first, the paper's Fig. 5), on the evaluation's joint rows."""

    field: str  # the row's key ('aloha_snapshot')
    describe: Callable  # (g [N, N], obs [N, ...], actions int [N], order int [N]) -> JSON-ready dict; numpy, host side


def team_reward(rewards: jax.Array, rule: str) -> jax.Array:
    """float32 []: the team reward from the agents' rewards [N] by a family's rule: 'shared' (every agent gets the
    same reward: agent 0's), 'sum' (Mava's LBF convention), 'mean' (JaxMARL's MPE logging convention)."""
    rewards = jnp.asarray(rewards, jnp.float32)
    if rule == "shared":
        return rewards[0]
    if rule == "sum":
        return jnp.sum(rewards)
    if rule == "mean":
        return jnp.mean(rewards)
    raise ValueError(f"team_reward={rule!r} is not valid. Valid choices: {', '.join(TEAM_REWARDS)}")


def concat_world_state(obs: jax.Array) -> jax.Array:
    """The agents' observations [N, *shape] as one world state: flat vectors concatenated ([N * D]); grids stacked
    along their channels ([H, W, N * C]), as JaxMARL's MAPPO forms MPE's world state."""
    if obs.ndim == 2:
        return obs.reshape(-1)
    return jnp.concatenate(list(obs), axis=-1)


def pad_last(x: jax.Array, size: int, value=0) -> jax.Array:
    """Pad the last axis of x to `size` with `value`."""
    return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, size - x.shape[-1])], constant_values=value)


class Family:
    """Base class of a family adapter. Subclasses set the attributes in __init__ and implement reset and step.

    Attributes (static, known before any compile):
      family: the family's name ('jaxmarl', 'mpe', 'lbf', ...), shown in run headers and errors
      env: the wrapped library env (its own API stays usable)
      agents: the agents' names, in the order of the agent axis
      num_agents, num_actions (the largest action space), obs_shape (tuple), state_shape (tuple)
      max_steps: the longest episode in env steps (the evaluation's scan length)
      has_win: the env defines a win (won is meaningful)
      has_visibility: agents have a notion of seeing each other (visible is meaningful; Fig. 7's analysis)
      step_snapshot: a `StepSnapshot` the evaluation writes of the first step, or None
      reports_truncation: Step.terminated/truncated are the env's own; else ArrayEnv calls an end at max_steps a
        truncation and any other end a termination
      rules: dict of the family's rules, recorded in run headers and docs (team_reward, world_state, ...)
    """

    family: str = "custom"
    env: object
    agents: Sequence[str]
    num_agents: int
    num_actions: int
    obs_shape: tuple[int, ...]
    state_shape: tuple[int, ...]
    max_steps: int
    has_win: bool = False
    has_visibility: bool = False
    has_shaped_reward: bool = False  # Step.shaped_reward is meaningful (Overcooked)
    reports_truncation: bool = True  # False: ArrayEnv takes an end at the time limit as a truncation
    step_snapshot: Optional[StepSnapshot] = None

    @property
    def rules(self) -> dict:
        return {}

    def reset(self, key: jax.Array) -> tuple[object, Step]:
        raise NotImplementedError

    def step(self, key: jax.Array, state, actions: jax.Array) -> tuple[object, Step]:
        raise NotImplementedError

    def team_geometry(self, state) -> Optional[TeamGeometry]:
        """The agents' positions, health and liveness in `state` (the family's own, as reset/step return it;
        jittable), or None where the family has no positions (the default): the distance and health analyses are
        then not computed. Which of them apply is read from what this returns (None, health None), at trace time."""
        return None
