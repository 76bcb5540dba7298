"""The SMAX family: `smax_<map>` (our `SMAXEnv`: JaxMARL's SMAX with heuristic enemies; the medivac maps) as a Family.

The rules are JaxMarlFamily's defaults as they fit SMAX: the env's own world state and action masks, `infos`'s won /
terminated / truncated, and `SMAXEnv.ally_visibility` (the visible-parent analysis, Fig. 7). What the family adds is
its team geometry (`SmaxFamily.team_geometry`): the allies' positions, health and liveness, which the analyses of the
paper's Fig. 8 (parent / ally health) and Fig. 9 (parent / ally distance) read.
"""
from __future__ import annotations

import jax.numpy as jnp

from ..smax import SMAXEnv
from .base import TeamGeometry
from .jaxmarl import JaxMarlFamily


def smax_game(env):
    """The inner SMAX game (jaxmarl's `SMAX`, or our `MedivacSMAX`) of an SMAXEnv, or of a Family or ArrayEnv of one."""
    while not hasattr(env, "unit_type_health"):
        env = env.env if hasattr(env, "env") else env._env
    return env


def smax_units(state):
    """The inner jaxmarl SMAX `State` (unit_health, unit_positions, ...) of an SMAXEnv state (or of the State)."""
    while not hasattr(state, "unit_health"):
        state = state.env_state if hasattr(state, "env_state") else state.state
    return state


class SmaxFamily(JaxMarlFamily):
    """An SMAX map under JaxMarlFamily's rules, with its team geometry (rules: team_reward, world_state, max_steps)."""

    def __init__(self, env: SMAXEnv, **rules):
        super().__init__(env, family="smax", **rules)
        self.game = smax_game(env)

    def team_geometry(self, state) -> TeamGeometry:
        """The learners' units (the first num_allies) of an SMAXEnv state (or of its inner State): positions in map
        units (the map is 32 x 32), health as hit points over the maximum of the unit's type
        (`unit_type_health[unit_types]`, e.g. 80 for a hydralisk: the fraction SMAX's observations show, so units of
        different types compare, MMM2), 0 when dead."""
        s = smax_units(state)
        n = self.game.num_allies
        health = s.unit_health[:n] / self.game.unit_type_health[s.unit_types[:n]]
        return TeamGeometry(positions=s.unit_positions[:n].astype(jnp.float32), health=health.astype(jnp.float32),
                            alive=s.unit_alive[:n].astype(bool))
