"""Matrix games (the `matrax` package: Climbing, Penalty-k, and its NoConflict/Conflict sets) as a `Family`.

matrax's `MatrixGame` is a Jumanji `Environment`, so it goes through `JumanjiFamily` with these rules:
  team reward   the mean of the agents' rewards (Mava's episode return; the games are common-payoff, so it is
                every agent's reward)
  observation   matrax's agent_obs as floats [N, N]: all zeros in the stateless games, the previous joint action
                (-1 after a reset) in the stateful ones
  world state   the observations concatenated [N * N]
  avail         every action
  end           the time limit only (matrax reports it as a termination; it is a truncation: the repeated game has
                no terminal state)
  won           none
Time limit 25 steps for every game, stateless and stateful (Mava's mava/configs/env/matrax.yaml `kwargs`, which
overrides the 1000 matrax registers for the stateful games).

Orientation: matrax's payoff_matrix[agent][a0, a1] indexes the row by agent 0's action. matrax's Climbing matrix
is the transpose of Claus & Boutilier's (1998) published table (their row player is matrax's agent 1); Penalty-k
is symmetric. tests/test_families_jumanji.py checks both against the published matrices.

Names: `matrax_<game>-<stateless|stateful>` for matrax's registered ids without '-v0': Climbing, Penalty-{0, 25,
50, 75, 100}, NoConflict-{0..20}, Conflict-{0..56}.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import matrax
from matrax import MatrixGame

from .jumanji import EnvRules, JumanjiFamily, check_type

TIME_LIMIT = 25  # mava/configs/env/matrax.yaml kwargs.time_limit


def _observe(env, observation) -> jax.Array:
    return jnp.asarray(observation.agent_obs, jnp.float32)


def _avail_all(env, observation) -> jax.Array:
    return jnp.ones((env.num_agents, env.num_actions), bool)


def _ending_time_limit(env, state, actions, new_state, timestep):
    return jnp.bool_(False), jnp.bool_(True)


MATRAX_RULES = EnvRules("matrax", "mean", _observe, _avail_all, None, _ending_time_limit,
                        truncation="time limit only", avail_from="all")


class MatraxFamily(JumanjiFamily):
    def __init__(self, env: MatrixGame, **rules):
        super().__init__(env, rules=MATRAX_RULES, **rules)


def _games() -> list[str]:
    games = ["Climbing"] + [f"Penalty-{k}" for k in matrax.penalty_games]
    games += [f"NoConflict-{i}" for i in matrax.no_conflict_games]
    games += [f"Conflict-{i}" for i in matrax.conflict_games]
    return games


def matrax_names() -> list[str]:
    return [f"matrax_{g}-{s}" for g in _games() for s in ("stateless", "stateful")]


def make_matrax(name: str, **kwargs) -> MatrixGame:
    """matrax's registered game `<game>-<state>-v0` with Mava's time limit; kwargs: time_limit only."""
    unknown = [k for k in kwargs if k != "time_limit"]
    if unknown:
        raise ValueError(f"{name}: unknown env kwarg {unknown[0]!r}. Valid keys: time_limit")
    time_limit = kwargs.get("time_limit", TIME_LIMIT)
    check_type(name, "time_limit", time_limit, TIME_LIMIT)
    if time_limit < 1:
        raise ValueError(f"{name}: env kwarg time_limit={time_limit} must be >= 1")
    return matrax.make(f"{name[len('matrax_'):]}-v0", time_limit=time_limit)
