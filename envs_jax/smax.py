"""SMAX (JaxMARL 0.2.0) standing in for SMAC: every scenario as `smax_<map>`, heuristic enemies.

`SMAXEnv` is JaxMARL's HeuristicEnemySMAX with three additions our trainer needs and SMAX does not
report: in `infos`, whether the episode was `won`, `terminated` (a side is dead) or `truncated`
(time limit); and `ally_visibility(state)`, which allies each ally can see (the authors' code masks
a parent's action with this bit, docs/architecture.md §3.5).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario
from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO


def smax_maps() -> list[str]:
    """Every SMAX scenario name JaxMARL registers (plus any added by our extensions)."""
    return sorted(MAP_NAME_TO_SCENARIO)


class SMAXEnv(HeuristicEnemySMAX):
    def __init__(self, map_name: str = "3m", **kwargs):
        if map_name not in MAP_NAME_TO_SCENARIO:
            raise ValueError(f"unknown SMAX map {map_name!r}; valid maps: {', '.join(smax_maps())}")
        kwargs.setdefault("see_enemy_actions", True)
        kwargs.setdefault("walls_cause_death", True)
        kwargs.setdefault("attack_mode", "closest")
        super().__init__(scenario=map_name_to_scenario(map_name), **kwargs)
        self.map_name = map_name
        # SMAX sets `done` from the step counter before incrementing it, so an episode that reaches the
        # time limit lasts max_steps + 1 env steps.
        self.episode_limit = self._env.max_steps + 1

    def _outcome(self, state):
        """(terminated, won) of an inner SMAX state."""
        alive = state.state.unit_alive
        allies_dead = ~jnp.any(alive[: self.num_allies])
        enemies_dead = ~jnp.any(alive[self.num_allies :])
        return allies_dead | enemies_dead, enemies_dead & ~allies_dead

    @partial(jax.jit, static_argnums=(0, 4))
    def step_env(self, key, state, actions, get_state_sequence=False):
        out = super().step_env(key, state, actions, get_state_sequence)
        if get_state_sequence:
            return out
        obs, new_state, rewards, dones, infos = out
        terminated, won = self._outcome(new_state)
        infos = dict(infos, terminated=terminated, won=won, truncated=dones["__all__"] & ~terminated)
        return obs, new_state, rewards, dones, infos

    def ally_visibility(self, state) -> jax.Array:
        """bool [N, N]: entry [i, j] = ally i sees ally j (alive, within i's sight range; i sees itself)."""
        s = state.state
        n = self.num_allies
        pos = s.unit_positions[:n]
        dist = jnp.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
        sight = self._env.unit_type_sight_ranges[s.unit_types[:n]]
        alive = s.unit_alive[:n]
        return (dist <= sight[:, None]) & alive[:, None] & alive[None, :] | jnp.eye(n, dtype=bool)
