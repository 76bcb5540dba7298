"""The Jumanji family: Jumanji's cooperative multi-agent envs (LBF, RWARE, Connector, Cleaner) as a `Family`.

Every per-env rule is declared once, in `RULES` (an `EnvRules` per env class); `JumanjiFamily` applies them. The
rules follow Mava (`mava/wrappers/jumanji.py`, `episode_metrics.py`), so returns are comparable with Mava's
papers and Sable's: Mava's episode return is the sum over steps of the mean over agents of its wrapped reward.

  LBF        team reward: the sum of the agents' rewards. obs: agents_view [N, 3 (F + N)]. world state: the views
             concatenated [N * D]. end: all food eaten = terminated, time limit = truncated. won: none (Jumanji
             defines none; Mava logs none). visible: within the field of view (LBF's observer rule).
  RWARE      team reward: the env's shared scalar. obs: agents_view [N, D]. world state: the views concatenated.
             end: a collision = terminated, time limit = truncated. won: none.
  Connector  team reward: the sum of the agents' rewards. obs: 5 channels [N, G, G, 5]. world state: the 3 shared
             channels [G, G, 3]. end: every agent connected or blocked = terminated, time limit = truncated.
             won: every agent connected (Mava's won_episode).
  Cleaner    team reward: the env's shared scalar. obs: 4 channels [N, R, C, 4]. world state: the 3 shared channels
             [R, C, 3]. end: an invalid move or no dirty tile left = terminated, time limit = truncated. won: no
             dirty tile left (Mava's won_episode).

Team geometry (the parent / ally distance analysis, the paper's Fig. 9), per env, from the state's own fields: LBF
`agents.position` (row, col), RWARE `agents.position` (Position(x=row, y=col)), as cells of the grid; no agent dies.
Neither has health: LBF's agent levels are fixed abilities (which food an agent can load), not a state that a parent
choice could follow the way SMAX's health does, so they are not passed off as health.

Terminated vs truncated, per env (Jumanji's own TimeStep is not enough everywhere): LBF and Connector report a
time limit as `truncation` (discount not all 0) and an end of the game as `termination` (discount 0); RWARE and
Cleaner report every end as `termination`, so the rule recomputes the cause from the state (RWARE: a collision;
Cleaner: an invalid action, or no dirty tile left) and calls any other end a truncation. max_steps is the env's
`time_limit`.

Observations. LBF and RWARE give each agent a vector: kept as [N, D] floats. Connector and Cleaner give one shared
grid; each agent gets the one-hot channels Mava builds (channels last, [N, H, W, C]), kept as grids rather than
flattened: the channels are spatial (a CNN torso reads them, and a flattened 15x15x5 grid would be a 1125-wide MLP
input for each of 23 agents), and they are what Mava's and Sable's Connector/Cleaner numbers are measured on.
Connector's channels are seen from each agent's own perspective (each agent sees itself as agent 0), as Mava does for
Jumanji >= 1.1 (whose Connector has one grid for all agents): own-relative agent index / N at positions and at
targets, paths (any agent), own position, own target. Cleaner's: dirty, wall, number of agents on the cell, own
position. The world state is the channels every agent shares (Mava's `get_global_state`).

Jumanji's `step(state, action)` takes no key (the randomness lives in the state): `JumanjiFamily.step` ignores its
key; `reset(key)` uses it.

An env class not in `RULES` (your own Jumanji multi-agent env) gets `GENERIC_RULES`: observation.agents_view,
observation.action_mask (all actions where it has none), the sum of a per-agent reward (a scalar reward as it is),
the views concatenated as world state, and the end read from the TimeStep (discount all 0: terminated, else
truncated).

`make_jumanji(name, **kwargs)` builds a task by Mava's name (`TASKS`, from mava/configs/env/scenario/*.yaml and
mava/configs/env/{lbf,rware,connector,cleaner}.yaml); kwargs override the generator's parameters (e.g.
grid_size) or the env's (e.g. time_limit).
"""
from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jumanji.env import Environment
from jumanji.environments.routing.cleaner import Cleaner
from jumanji.environments.routing.cleaner.constants import DIRTY, WALL
from jumanji.environments.routing.cleaner.generator import RandomGenerator as CleanerGenerator
from jumanji.environments.routing.connector import Connector
from jumanji.environments.routing.connector.generator import RandomWalkGenerator as ConnectorGenerator
from jumanji.environments.routing.lbf import LevelBasedForaging
from jumanji.environments.routing.lbf.generator import RandomGenerator as LbfGenerator
from jumanji.environments.routing.robot_warehouse import RobotWarehouse
from jumanji.environments.routing.robot_warehouse.generator import RandomGenerator as RwareGenerator
from jumanji.environments.routing.robot_warehouse.utils import is_collision
from jumanji.types import StepType

from .base import TEAM_REWARDS, WORLD_STATES, Family, Step, TeamGeometry, concat_world_state, team_reward
from .kwargs import check_count
from ..choices import check_choice


# ---- the per-env rules ----
class EnvRules(NamedTuple):
    """How one Jumanji env class becomes a `Step` (the family's rules, declared once).

    observe(env, observation) -> float32 [N, *obs_shape]
    avail(env, observation) -> bool [N, A]
    world_state(env, observation, obs) -> float32 [*state_shape]; None: the agents' observations concatenated
    ending(env, state, actions, new_state, timestep) -> (terminated, truncated): bool [] each, valid where the step
        is LAST
    won(env, new_state, timestep) -> bool []; None: the env defines no win
    visible(env, new_state) -> bool [N, N]; None: the env has no notion of agents seeing each other
    geometry(env, state) -> TeamGeometry (the agents' positions); None: the env has no positions
    """

    family: str
    team_reward: str
    observe: Callable
    avail: Callable
    world_state: Callable | None
    ending: Callable
    won: Callable | None = None
    visible: Callable | None = None
    geometry: Callable | None = None  # (env, state) -> TeamGeometry; None: no positions (Family.team_geometry)
    truncation: str = "discount"  # how the ending is told (recorded in `rules`)
    avail_from: str = "action_mask"  # where the available actions come from (recorded in `rules`)


def _agents_view(env, observation) -> jax.Array:
    """observation.agents_view as floats [N, ...] (a grid observation [N, C, H, W] goes channels last)."""
    view = jnp.asarray(observation.agents_view, jnp.float32)
    return jnp.moveaxis(view, 1, -1) if view.ndim == 4 else view


def _action_mask(env, observation) -> jax.Array:
    return jnp.asarray(observation.action_mask, bool)


def _ending_by_discount(env, state, actions, new_state, timestep):
    """Jumanji's own distinction: `termination` sets every discount to 0, `truncation` leaves some at 1."""
    terminated = jnp.all(jnp.asarray(timestep.discount) == 0)
    return terminated, ~terminated


def _ending_rware(env, state, actions, new_state, timestep):
    """RWARE reports its time limit as a termination: the game ends only by a collision (Jumanji's own check)."""
    collided = jnp.any(jax.vmap(lambda agent, i: is_collision(new_state.grid, agent, i))(
        new_state.agents, jnp.arange(env.num_agents)))
    return collided, ~collided


def _ending_cleaner(env, state, actions, new_state, timestep):
    """Cleaner reports its time limit as a termination: the game ends by an invalid move or when all is clean."""
    valid = state.action_mask[jnp.arange(env.num_agents), actions]
    terminated = ~jnp.all(valid) | ~jnp.any(new_state.grid == DIRTY)
    return terminated, ~terminated


def _visible_lbf(env, new_state) -> jax.Array:
    """Agent i sees agent j when j is within i's field of view (LBF's observer: Chebyshev distance <= fov)."""
    pos = new_state.agents.position  # [N, 2]
    return jnp.all(jnp.abs(pos[:, None, :] - pos[None, :, :]) <= env.fov, axis=-1)


def _geometry_of(positions) -> TeamGeometry:
    """Agents on grid cells [N, 2] that never die and have no health."""
    n = positions.shape[0]
    return TeamGeometry(positions=jnp.asarray(positions, jnp.float32), health=None, alive=jnp.ones((n,), bool))


def _geometry_lbf(env, state) -> TeamGeometry:
    return _geometry_of(state.agents.position)  # [N, 2] (row, col)


def _geometry_rware(env, state) -> TeamGeometry:
    return _geometry_of(jnp.stack([state.agents.position.x, state.agents.position.y], axis=-1))  # (row, col)


def _connector_channels(grid: jax.Array, num_agents: int) -> jax.Array:
    """float32 [N, G, G, 5]: Connector's grid (0 empty; agent k's path 1 + 3k, position 2 + 3k, target 3 + 3k) seen
    by each agent: agents relabelled relative to the viewer ((k - i) mod N, the viewer first); channels: relabelled
    index + 1 over N at positions, the same at targets, paths, own position, own target."""
    occupied = grid > 0
    owner = jnp.where(occupied, (grid - 1) // 3, 0)
    kind = jnp.where(occupied, (grid - 1) % 3, -1)  # 0 path, 1 position, 2 target
    viewer = jnp.arange(num_agents)[:, None, None]
    rel = (owner[None] - viewer) % num_agents  # [N, G, G]
    index = (rel + 1) / num_agents
    is_pos, is_target = kind[None] == 1, kind[None] == 2
    mine = rel == 0
    channels = [jnp.where(is_pos, index, 0.0), jnp.where(is_target, index, 0.0),
                jnp.broadcast_to(kind == 0, rel.shape), is_pos & mine, is_target & mine]
    return jnp.stack([c.astype(jnp.float32) for c in channels], axis=-1)


def _observe_connector(env, observation) -> jax.Array:
    return _connector_channels(observation.grid, env.num_agents)


def _world_state_connector(env, observation, obs) -> jax.Array:
    return obs[0, ..., :3]  # agent 0's perspective is the env's own labelling


def _observe_cleaner(env, observation) -> jax.Array:
    """float32 [N, R, C, 4]: dirty, wall, agents on the cell, own position."""
    grid, loc = observation.grid, observation.agents_locations  # [R, C], [N, 2]
    n = loc.shape[0]
    own = jnp.zeros((n,) + grid.shape, jnp.float32).at[jnp.arange(n), loc[:, 0], loc[:, 1]].set(1.0)
    shared = jnp.stack([grid == DIRTY, grid == WALL], axis=-1).astype(jnp.float32)
    shared = jnp.concatenate([shared, own.sum(0)[..., None]], axis=-1)  # [R, C, 3]
    return jnp.concatenate([jnp.broadcast_to(shared, (n,) + shared.shape), own[..., None]], axis=-1)


def _world_state_cleaner(env, observation, obs) -> jax.Array:
    return obs[0, ..., :3]


def _won_connector(env, new_state, timestep) -> jax.Array:
    return jnp.all(new_state.agents.connected)


def _won_cleaner(env, new_state, timestep) -> jax.Array:
    return ~jnp.any(new_state.grid == DIRTY)


RULES: dict[type, EnvRules] = {
    LevelBasedForaging: EnvRules("lbf", "sum", _agents_view, _action_mask, None, _ending_by_discount,
                                 visible=_visible_lbf, geometry=_geometry_lbf),
    RobotWarehouse: EnvRules("rware", "shared", _agents_view, _action_mask, None, _ending_rware,
                             geometry=_geometry_rware, truncation="collision = terminated"),
    Connector: EnvRules("connector", "sum", _observe_connector, _action_mask, _world_state_connector,
                        _ending_by_discount, won=_won_connector),
    Cleaner: EnvRules("cleaner", "shared", _observe_cleaner, _action_mask, _world_state_cleaner, _ending_cleaner,
                      won=_won_cleaner, truncation="invalid move or all clean = terminated"),
}


def _avail_generic(env, observation) -> jax.Array:
    if hasattr(observation, "action_mask"):
        return jnp.asarray(observation.action_mask, bool)
    n = int(env.num_agents)
    return jnp.ones((n, int(env.action_spec.num_values[0])), bool)


GENERIC_RULES = EnvRules("jumanji", "sum", _agents_view, _avail_generic, None, _ending_by_discount)


def rules_of(env) -> EnvRules:
    """The rules of a Jumanji env: its class's (or a base class's) entry in RULES, else GENERIC_RULES."""
    for cls in type(env).__mro__:
        if cls in RULES:
            return RULES[cls]
    return GENERIC_RULES


# ---- the adapter ----
class JumanjiFamily(Family):
    """A Jumanji multi-agent `Environment` (or matrax's `MatrixGame`) under its `EnvRules`.

    team_reward / world_state / max_steps override the rules' defaults ('sum' | 'shared' | 'mean';
    'env' | 'concat'; the env's time_limit)."""

    def __init__(self, env: Environment, *, rules: EnvRules | None = None, team_reward: str | None = None,
                 world_state: str | None = None, max_steps: int | None = None):
        rules = rules or rules_of(env)
        self._env_rules = rules
        self.family = rules.family
        self.env = env
        self.num_agents = int(env.num_agents)
        self.agents = [f"agent_{i}" for i in range(self.num_agents)]
        num_values = [int(v) for v in jnp.asarray(env.action_spec.num_values).reshape(-1)]
        if len(set(num_values)) != 1:
            raise ValueError(f"{self.family}: the agents' action spaces differ ({num_values}); not supported")
        self.num_actions = num_values[0]
        self._team_reward = team_reward or rules.team_reward
        check_choice("team_reward", self._team_reward, TEAM_REWARDS)
        if world_state is None:
            world_state = "env" if rules.world_state is not None else "concat"
        check_choice("world_state", world_state, WORLD_STATES)
        if world_state == "env" and rules.world_state is None:
            raise ValueError(f"{self.family}: the env has no world state of its own; use world_state='concat'")
        self._world_state = world_state
        self.max_steps = int(max_steps if max_steps is not None else env.time_limit)
        _, s = jax.eval_shape(self.reset, jax.random.PRNGKey(0))
        self.obs_shape = tuple(s.obs.shape[1:])
        self.state_shape = tuple(s.world_state.shape)
        if s.avail.shape != (self.num_agents, self.num_actions):
            raise ValueError(f"{self.family}: action mask shape {s.avail.shape} is not "
                             f"({self.num_agents}, {self.num_actions})")
        self.has_win = rules.won is not None
        self.has_visibility = rules.visible is not None
        self.reports_truncation = True

    @property
    def rules(self) -> dict:
        return dict(team_reward=self._team_reward, world_state=self._world_state, avail=self._env_rules.avail_from,
                    truncation=self._env_rules.truncation, win=self.has_win, visibility=self.has_visibility,
                    max_steps=self.max_steps)

    def team_geometry(self, state) -> TeamGeometry | None:
        """The agents' positions in a state of the env (the rules' `geometry`), or None where the rules have none."""
        geometry = self._env_rules.geometry
        return None if geometry is None else geometry(self.env, state)

    def _step_of(self, timestep, new_state, reward, done, terminated, truncated, won) -> Step:
        r = self._env_rules
        obs = r.observe(self.env, timestep.observation)
        ws = (r.world_state(self.env, timestep.observation, obs) if self._world_state == "env"
              else concat_world_state(obs))
        visible = (r.visible(self.env, new_state) if r.visible is not None
                   else jnp.ones((self.num_agents, self.num_agents), bool))
        return Step(obs=obs, world_state=jnp.asarray(ws, jnp.float32), avail=r.avail(self.env, timestep.observation),
                    visible=visible, reward=reward, done=done, terminated=terminated, truncated=truncated, won=won,
                    shaped_reward=jnp.float32(0.0))

    def reset(self, key):
        state, timestep = self.env.reset(key)
        f = jnp.bool_(False)
        return state, self._step_of(timestep, state, jnp.float32(0.0), f, f, f, f)

    def step(self, key, state, actions):
        """One env step; `key` is unused (Jumanji keeps its randomness in the state)."""
        new_state, timestep = self.env.step(state, actions)
        r = self._env_rules
        rewards = jnp.asarray(timestep.reward, jnp.float32)
        reward = rewards if rewards.ndim == 0 else team_reward(rewards, self._team_reward)
        done = timestep.step_type == StepType.LAST
        terminated, truncated = r.ending(self.env, state, actions, new_state, timestep)
        won = r.won(self.env, new_state, timestep) if r.won is not None else jnp.bool_(False)
        return new_state, self._step_of(timestep, new_state, reward, done, terminated & done, truncated & done,
                                        jnp.asarray(won, bool) & done)


# ---- Mava's task names ----
class Task(NamedTuple):
    env_class: type
    generator_class: type
    generator: dict  # the generator's parameters (Mava's scenario task_config)
    env: dict  # the env's parameters (Mava's env kwargs: time_limit)
    source: str  # the Mava config it comes from


def _lbf(grid_size, fov, num_agents, num_food, force_coop, file):
    return Task(LevelBasedForaging, LbfGenerator,
                dict(grid_size=grid_size, fov=fov, num_agents=num_agents, num_food=num_food, max_agent_level=2,
                     force_coop=force_coop), dict(time_limit=100),
                f"mava/configs/env/scenario/{file}.yaml + lbf.yaml (time_limit 100)")


def _rware(shelf_rows, num_agents, request_queue_size, file):
    return Task(RobotWarehouse, RwareGenerator,
                dict(column_height=8, shelf_rows=shelf_rows, shelf_columns=3, num_agents=num_agents, sensor_range=1,
                     request_queue_size=request_queue_size), dict(time_limit=500),
                f"mava/configs/env/scenario/{file}.yaml + rware.yaml (time_limit 500)")


def _connector(grid_size, num_agents, time_limit, file):
    return Task(Connector, ConnectorGenerator, dict(grid_size=grid_size, num_agents=num_agents),
                dict(time_limit=time_limit), f"mava/configs/env/scenario/{file}.yaml")


def _cleaner(size, num_agents, time_limit, file):
    return Task(Cleaner, CleanerGenerator, dict(num_rows=size, num_cols=size, num_agents=num_agents),
                dict(time_limit=time_limit), f"mava/configs/env/scenario/{file}.yaml")


TASKS: dict[str, Task] = {
    "lbf_2s-8x8-2p-2f-coop": _lbf(8, 2, 2, 2, True, "2s-8x8-2p-2f-coop"),
    "lbf_8x8-2p-2f-coop": _lbf(8, 8, 2, 2, True, "8x8-2p-2f-coop"),
    "lbf_2s-10x10-3p-3f": _lbf(10, 2, 3, 3, False, "2s-10x10-3p-3f"),
    "lbf_10x10-3p-3f": _lbf(10, 10, 3, 3, False, "10x10-3p-3f"),
    "lbf_15x15-3p-5f": _lbf(15, 15, 3, 5, False, "15x15-3p-5f"),
    "lbf_15x15-4p-3f": _lbf(15, 15, 4, 3, False, "15x15-4p-3f"),
    "lbf_15x15-4p-5f": _lbf(15, 15, 4, 5, False, "15x15-4p-5f"),
    "rware_tiny-2ag": _rware(1, 2, 2, "tiny-2ag"),
    "rware_tiny-4ag": _rware(1, 4, 4, "tiny-4ag"),
    "rware_tiny-4ag-easy": _rware(1, 4, 8, "tiny-4ag-easy"),
    "rware_small-4ag": _rware(2, 4, 4, "small-4ag"),
    "connector_con-5x5x3a": _connector(5, 3, 25, "con-5x5x3a"),
    "connector_con-7x7x5a": _connector(7, 5, 49, "con-7x7x5a"),
    "connector_con-10x10x10a": _connector(10, 10, 100, "con-10x10x10a"),
    "connector_con-15x15x23a": _connector(15, 23, 225, "con-15x15x23a"),
    "cleaner_clean-5x5x5a": _cleaner(5, 5, 25, "clean-5x5x5a"),
    "cleaner_clean-10x10x10a": _cleaner(10, 10, 100, "clean-10x10x10a"),
    "cleaner_clean-15x15x15a": _cleaner(15, 15, 225, "clean-15x15x15a"),
    "cleaner_clean-20x20x20a": _cleaner(20, 20, 400, "clean-20x20x20a"),
    "cleaner_clean-30x30x30a": _cleaner(30, 30, 600, "clean-30x30x30a"),
}


def jumanji_names() -> list[str]:
    return list(TASKS)


def _parameters(cls, skip=("self", "generator", "viewer", "reward_fn")) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p not in skip]


def check_type(what: str, key: str, value, default) -> None:
    """ValueError unless `value` has the type of the task's `default` (an int where a float is expected is fine)."""
    want = type(default)
    ok = (isinstance(value, bool) if want is bool else
          isinstance(value, int) and not isinstance(value, bool) if want is int else
          isinstance(value, (int, float)) and not isinstance(value, bool) if want is float else isinstance(value, want))
    if not ok:
        raise ValueError(f"{what}: env kwarg {key}={value!r} has type {type(value).__name__}; expected "
                         f"{want.__name__} (default {default!r})")


def make_jumanji(name: str, **kwargs) -> Environment:
    """The Jumanji env of a task in TASKS, with kwargs overriding its generator's or env's parameters (checked by
    name, and by type where the task or the env gives a default)."""
    task = TASKS[name]
    gen_keys, env_keys = _parameters(task.generator_class), _parameters(task.env_class)
    unknown = [k for k in kwargs if k not in gen_keys and k not in env_keys]
    if unknown:
        raise ValueError(f"{name}: unknown env kwarg {unknown[0]!r}. Valid keys: {', '.join(gen_keys + env_keys)}")
    defaults = {k: p.default for cls in (task.generator_class, task.env_class)
                for k, p in inspect.signature(cls.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty and p.default is not None}
    defaults.update(task.generator, **task.env)
    for k, v in kwargs.items():
        if k in defaults:
            check_type(name, k, v, defaults[k])
        check_count(name, k, v)
    gen = {**task.generator, **{k: v for k, v in kwargs.items() if k in gen_keys}}
    env = {**task.env, **{k: v for k, v in kwargs.items() if k in env_keys}}
    try:  # the generators check their parameters with asserts (e.g. LBF: room for the food)
        return task.env_class(generator=task.generator_class(**gen), **env)
    except (AssertionError, TypeError, ValueError) as e:
        raise ValueError(f"{name}: the env kwargs {kwargs} are not valid: {e}") from e
