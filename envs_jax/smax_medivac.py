"""SMAX with a medivac (healer) unit, and the SMAC maps that need it: `smax_MMM`, `smax_MMM2` (issue 5).

JaxMARL's SMAX has six unit types and no healer, so the paper's MMM2 experiments cannot run on it. This
module adds a seventh unit type, the Terran medivac, by subclassing SMAX (`MedivacSMAX`, the game) and
our `SMAXEnv` adapter (`MedivacSMAXEnv`, heuristic enemies + `won`/`terminated`/`truncated` infos and
`ally_visibility`). Only what the medivac changes is overridden; everything else is SMAX's code.

Unit figures (SC2 LotV at "faster" game speed, the scale SMAX uses: speeds are normal-speed values x1.4,
e.g. marine 2.25 x 1.4 = 3.15; SMAX's env step is `world_steps_per_env_step * time_per_step` = 8/16 =
0.5 s of game time):
    medivac: health 150, speed 3.5 (2.5 x 1.4), sight 11, heal range 4, heal 12.6 hp/s (9 x 1.4),
             radius 0.75; energy 50 at spawn, max 200, regen 0.7875/s (0.5625 x 1.4), 1 energy per 3 hp.
    So one env step heals at most 12.6 x 0.5 = 6.3 hp (0.7875 hp per world step).
    marauder: SMAX gives it speed 2.25, SC2's normal-speed figure left unscaled (every other SMAX unit
             is scaled by 1.4). The MMM maps use 3.15, the marauder's faster-speed speed (= the marine's),
             as in SC2; every other figure of SMAX's units is kept.

Energy is modelled. A medivac starts with 50 energy (SC2's spawn value), so it can heal 150 hp at once
and then only about 2.4 hp/s from regeneration. An episode lasts up to 100 env steps = 50 s of game time;
unlimited healing would restore up to 630 hp there instead of at most ~270, making the medivac much
stronger than in SMAC's maps. Energy lives in a new state field (`MedivacState.unit_energy`) and is
observed where SMAC puts it: in the medivac's weapon-cooldown slot (a medivac has no weapon), as
energy / 200, so the per-unit feature layout stays SMAX's.

Rules:
- Targets. SMAX's convention is "target slot k = the k-th unit of the target team in the actor's own
  observation". For a medivac the target team is its own: slot k heals the k-th *other* teammate in its
  observation (for allies: ally k, skipping itself; SMAC's MMM maps put the medivac last, so slot k is
  ally k as in SMAC). A medivac never attacks; its target actions never touch enemies.
- Healing, per world step, for a medivac that is alive, targets a live teammate within heal range (centre
  distance < 4, as SMAX measures attack range) that is biological (SC2 attribute: marine, marauder,
  zealot, zergling, hydralisk; not stalker, not medivac): + min(12.6 dt, 3 x energy, max health - health)
  hp, and energy falls by hp / 3. Damage of the same world step is applied first, so a unit killed in it
  stays dead. Health never exceeds the unit type's maximum.
- Enemies attack a medivac like any other unit (the issue's rule; in SC2 a marauder cannot shoot air).
  It flies: it neither pushes nor is pushed by other units.
- Action masks: a medivac's target slot is available iff the medivac is alive and has energy, and the
  teammate is alive, in heal range, biological and damaged (healing a full unit would do nothing).
  Other units' masks are SMAX's. A team whose teammates outnumber the other team gets more target slots
  (only the heuristic enemy of MMM2 needs it: 11 other enemies, 10 allies; the learner's action space is
  SMAX's for both maps).
- Observation: the unit-type one-hot has a 7th bit (medivac), and every observed unit has one more
  feature, last, `healable` = biological and damaged. World state: SMAX's, with the 7-bit one-hot, energy
  in the medivac's cooldown slot (/200) and a `healable` bit per unit appended. So one network (same code,
  layout [units..., own]) serves every map; obs sizes differ between maps as they do in SMAX.
- End (SMAC's rule): a side whose only live units are medivacs has lost; the episode ends then. If both
  sides reach that state in the same step it is a draw (SMAX's rule for simultaneous deaths).
- Reward: SMAX's (damage dealt / enemy team size, +1 for a win), counting only health the enemy *lost* in
  the step (per unit). SMAX takes |net health change|, which would pay the learner for enemy heals.
- Heuristic enemy medivac: heals its most damaged (lowest health fraction) teammate in range; otherwise
  moves towards the centre of the non-medivac teammates it sees (stops within 2); seeing none, it moves
  like SMAX's heuristic units without shooting.

Scenarios (unit order as SMAC sorts them: marauders, marines, medivac):
    MMM:  each side 2 marauders, 7 marines, 1 medivac.
    MMM2: allies 2 marauders, 7 marines, 1 medivac; enemies 3 marauders, 8 marines, 1 medivac.
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax.struct import dataclass
from jaxmarl.environments.smax.heuristic_enemy import create_heuristic_policy
from jaxmarl.environments.smax.smax_env import SMAX, Scenario, State
from jaxmarl.environments.spaces import Box, Discrete

from .smax import SMAXEnv

# ---- unit types: SMAX's six, then the medivac ----
UNIT_TYPE_NAMES = ["marine", "marauder", "stalker", "zealot", "zergling", "hydralisk", "medivac"]
UNIT_TYPE_SHORTHANDS = ["m", "M", "s", "Z", "z", "h", "V"]
MARINE, MARAUDER, MEDIVAC = 0, 1, 6
UNIT_TYPE_VELOCITIES = jnp.array([3.15, 3.15, 4.13, 3.15, 4.13, 3.15, 3.5])  # marauder: 2.25 x 1.4
UNIT_TYPE_ATTACKS = jnp.array([9.0, 10.0, 13.0, 8.0, 5.0, 12.0, 0.0])  # a medivac deals no damage
UNIT_TYPE_ATTACK_RANGES = jnp.array([5.0, 6.0, 6.0, 2.0, 2.0, 5.0, 4.0])  # medivac: heal range
UNIT_TYPE_SIGHT_RANGES = jnp.array([9.0, 10.0, 10.0, 9.0, 8.0, 9.0, 11.0])
UNIT_TYPE_RADIUSES = jnp.array([0.375, 0.5625, 0.625, 0.5, 0.375, 0.625, 0.75])
UNIT_TYPE_HEALTH = jnp.array([45.0, 125.0, 160, 150, 35, 80, 150.0])
# A medivac has no weapon; 1.0 only keeps SMAX's cooldown normalisation finite (its slot shows energy).
UNIT_TYPE_WEAPON_COOLDOWNS = jnp.array([0.61, 1.07, 1.87, 0.86, 0.5, 0.59, 1.0])
# SC2's "biological" attribute: what a medivac can heal.
UNIT_TYPE_BIOLOGICAL = jnp.array([True, True, False, True, True, True, False])

HEAL_RATE = 12.6  # hp per second of game time (faster speed)
HEAL_RANGE = 4.0
HP_PER_ENERGY = 3.0
ENERGY_START, ENERGY_MAX, ENERGY_REGEN = 50.0, 200.0, 0.7875  # regen per second (faster speed)


def make_scenario(allies: list[int], enemies: list[int]) -> Scenario:
    """A SMAX Scenario from unit-type ids per side (no SMACv2 generation)."""
    return Scenario(jnp.array(allies + enemies, dtype=jnp.uint8), len(allies), len(enemies), False, False)


_MMM_SIDE = [MARAUDER] * 2 + [MARINE] * 7 + [MEDIVAC]
MEDIVAC_SCENARIOS = {
    "MMM": make_scenario(_MMM_SIDE, _MMM_SIDE),
    "MMM2": make_scenario(_MMM_SIDE, [MARAUDER] * 3 + [MARINE] * 8 + [MEDIVAC]),
}


def medivac_maps() -> list[str]:
    """The SMAX map names this module adds (registered as `smax_<name>`)."""
    return sorted(MEDIVAC_SCENARIOS)


@dataclass
class MedivacState(State):
    unit_energy: jax.Array  # float32 [N]; 0 for units that are not medivacs


class MedivacSMAX(SMAX):
    """SMAX (both teams, explicit actions) with the medivac unit type. See the module docstring."""

    def __init__(self, scenario: Scenario = MEDIVAC_SCENARIOS["MMM2"], **kwargs):
        kwargs.setdefault("unit_type_names", UNIT_TYPE_NAMES)
        kwargs.setdefault("unit_type_shorthands", UNIT_TYPE_SHORTHANDS)
        kwargs.setdefault("unit_type_velocities", UNIT_TYPE_VELOCITIES)
        kwargs.setdefault("unit_type_attacks", UNIT_TYPE_ATTACKS)
        kwargs.setdefault("unit_type_attack_ranges", UNIT_TYPE_ATTACK_RANGES)
        kwargs.setdefault("unit_type_sight_ranges", UNIT_TYPE_SIGHT_RANGES)
        kwargs.setdefault("unit_type_radiuses", UNIT_TYPE_RADIUSES)
        kwargs.setdefault("unit_type_health", UNIT_TYPE_HEALTH)
        kwargs.setdefault("unit_type_weapon_cooldowns", UNIT_TYPE_WEAPON_COOLDOWNS)
        if kwargs.get("observation_type", "unit_list") != "unit_list" or kwargs.get("action_type", "discrete") != "discrete":
            raise ValueError("MedivacSMAX supports observation_type='unit_list' and action_type='discrete' only")
        super().__init__(scenario=scenario, **kwargs)
        if len(self.unit_type_names) != len(UNIT_TYPE_NAMES):
            raise ValueError(f"MedivacSMAX needs the {len(UNIT_TYPE_NAMES)} unit types {UNIT_TYPE_NAMES}")
        na, ne, n = self.num_allies, self.num_enemies, self.num_agents

        # Static target tables [N, K]: the unit addressed by target slot k of unit i, and whether slot k
        # exists. Attack slots follow SMAX (allies: enemy k; enemies: ally na-1-k); heal slots follow the
        # same "k-th unit of the target team in my observation" convention, the target team being mine.
        self.num_ally_actions = self.num_movement_actions + max(ne, na - 1)
        self.num_enemy_actions = self.num_movement_actions + max(na, ne - 1)
        k_max = max(self.num_ally_actions, self.num_enemy_actions) - self.num_movement_actions
        attack_t = np.zeros((n, k_max), np.int32)
        heal_t = np.zeros((n, k_max), np.int32)
        attack_ok = np.zeros((n, k_max), bool)
        heal_ok = np.zeros((n, k_max), bool)
        for i in range(n):
            ally = i < na
            for k in range(k_max):
                if ally:
                    attack_t[i, k], attack_ok[i, k] = (na + k, True) if k < ne else (i, False)
                    heal_t[i, k], heal_ok[i, k] = (k + (k >= i), True) if k < na - 1 else (i, False)
                else:
                    attack_t[i, k], attack_ok[i, k] = (na - 1 - k, True) if k < na else (i, False)
                    j = n - 1 - k  # SMAX's get_obs_unit_list: team 1 counts units in reverse, skipping i
                    heal_t[i, k], heal_ok[i, k] = (j if j > i else j - 1, True) if k < ne - 1 else (i, False)
        self._attack_target, self._attack_ok = jnp.asarray(attack_t), jnp.asarray(attack_ok)
        self._heal_target, self._heal_ok = jnp.asarray(heal_t), jnp.asarray(heal_ok)
        self.unit_type_biological = UNIT_TYPE_BIOLOGICAL

        self.unit_features = self.unit_features + ["healable"]
        self.obs_size = self._get_obs_size()
        # per unit: own features, team, type id (SMAX), healable (ours)
        self.state_size = (len(self.own_features) + 3) * n
        self.observation_spaces = {a: Box(low=-1.0, high=1.0, shape=(self.obs_size,)) for a in self.agents}
        self.action_spaces = {
            a: Discrete(self.num_ally_actions if i < na else self.num_enemy_actions) for i, a in enumerate(self.agents)
        }

    # ---------------------------------------------------------------- helpers
    def is_medivac(self, state) -> jax.Array:
        return state.unit_types == MEDIVAC

    def army_alive(self, state) -> jax.Array:
        """bool [N]: alive and not a medivac (SMAC: a side with only medivacs left has lost)."""
        return state.unit_alive & ~self.is_medivac(state)

    def _energy(self, state) -> jax.Array:
        # SMAX's reset builds a plain State (no energy field) and observes it: that is a fresh spawn.
        if isinstance(state, MedivacState):
            return state.unit_energy
        return jnp.where(self.is_medivac(state), ENERGY_START, 0.0)

    def _healable(self, state) -> jax.Array:
        """bool [N]: a medivac could heal the unit (ignoring range): biological and damaged."""
        max_health = self.unit_type_health[state.unit_types]
        return self.unit_type_biological[state.unit_types] & (state.unit_health < max_health)

    # ---------------------------------------------------------------- reset / dynamics
    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key):
        obs, state = super().reset(key)  # obs already see spawn energy (see `_energy`)
        fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
        return obs, MedivacState(**fields, unit_energy=self._energy(state))

    @partial(jax.jit, static_argnums=(0,))
    def _world_step(self, key, state, actions):
        movement, target = actions
        medivac = self.is_medivac(state)
        idx = jnp.arange(self.num_agents)
        slot = jnp.clip(target - self.num_movement_actions, 0, self._attack_ok.shape[1] - 1)
        is_target = target >= self.num_movement_actions
        # SMAX reads every target action as an attack on the other team: hand it only real attacks
        # (not a medivac's heals, not slots past the other team's size, which SMAX would wrap around).
        attack = jnp.where(is_target & ~medivac & self._attack_ok[idx, slot], target, 0)
        after = super()._world_step(key, state, (movement, attack))

        # Heals use positions and liveness from before the world step (as SMAX's attacks do); damage of
        # this world step is already in `after`, so a unit killed in it is not healed.
        dt = self.time_per_step
        energy = state.unit_energy
        tgt = self._heal_target[idx, slot]
        tgt_type = state.unit_types[tgt]
        dist = jnp.linalg.norm(state.unit_positions - state.unit_positions[tgt], axis=-1)
        valid = (
            is_target & medivac & self._heal_ok[idx, slot] & state.unit_alive
            & (after.unit_health[tgt] > 0) & self.unit_type_biological[tgt_type] & (dist < HEAL_RANGE)
        )
        room = jnp.maximum(self.unit_type_health[tgt_type] - after.unit_health[tgt], 0.0)
        amount = jnp.where(valid, jnp.minimum(jnp.minimum(HEAL_RATE * dt, HP_PER_ENERGY * energy), room), 0.0)
        # Two medivacs on one unit could overshoot `room` together: cap at the maximum again.
        health = jnp.minimum(after.unit_health.at[tgt].add(amount), self.unit_type_health[state.unit_types])
        regen = jnp.where(medivac & state.unit_alive, ENERGY_REGEN * dt, 0.0)
        energy = jnp.clip(energy - amount / HP_PER_ENERGY + regen, 0.0, ENERGY_MAX)
        return after.replace(unit_health=health, unit_energy=energy)

    def _push_units_away(self, state, firmness: float = 1.0):
        # A medivac flies: SMAX's collision resolution runs on ground units only (a medivac is treated
        # as absent there and keeps its position).
        medivac = self.is_medivac(state)
        pushed = super()._push_units_away(state.replace(unit_alive=state.unit_alive & ~medivac), firmness)
        return state.replace(unit_positions=pushed.unit_positions)

    @partial(jax.jit, static_argnums=(0,))
    def is_terminal(self, state):
        army = self.army_alive(state)
        return ~jnp.any(army[: self.num_allies]) | ~jnp.any(army[self.num_allies :]) | (state.step >= self.max_steps)

    @partial(jax.jit, static_argnums=(0,))
    def compute_reward(self, state, health_before, health_after):
        # SMAX's reward with two changes: health *lost* per unit (SMAX's |net change| would pay for enemy
        # heals) and SMAC's end rule (a side with only medivacs left has lost).
        lost = jnp.maximum(health_before - health_after, 0.0) / self.unit_type_health[state.unit_types]
        army = self.army_alive(state)
        na = self.num_allies
        sides = [(slice(0, na), slice(na, None), self.num_enemies), (slice(na, None), slice(0, na), na)]
        team_rewards = []
        for own, other, n_other in sides:
            won = ~jnp.any(army[other]) & jnp.any(army[own])
            lost_battle = ~jnp.any(army[own]) & jnp.any(army[other])
            damage = 0.0 if self.use_self_play_reward else jnp.sum(lost[other]) / n_other
            bonus = jnp.where(won, self.won_battle_bonus, 0.0)
            if self.use_self_play_reward:
                bonus = bonus - jnp.where(lost_battle, self.won_battle_bonus, 0.0)
            team_rewards.append(damage + bonus)
        return {a: team_rewards[int(self.agent_ids[a] >= na)] for a in self.agents}

    # ---------------------------------------------------------------- observations, state, masks
    @partial(jax.jit, static_argnums=(0,))
    def _observe_features(self, state, i, j_idx):
        features = super()._observe_features(state, i, j_idx)  # the new last slot is still 0
        energy = self._energy(state)[j_idx] / ENERGY_MAX
        features = features.at[6].set(jnp.where(self.is_medivac(state)[j_idx], energy, features[6]))
        return features.at[-1].set(self._healable(state)[j_idx].astype(features.dtype))

    @partial(jax.jit, static_argnums=(0,))
    def _get_own_features(self, state, i):
        features = super()._get_own_features(state, i)
        energy = self._energy(state)[i] / ENERGY_MAX
        return features.at[3].set(jnp.where(self.is_medivac(state)[i] & state.unit_alive[i], energy, features[3]))

    def get_world_state(self, state) -> jax.Array:
        ws = super().get_world_state(state)
        n, f = self.num_agents, len(self.own_features)
        units = ws[: n * f].reshape(n, f)
        energy = jnp.where(self.is_medivac(state) & state.unit_alive, self._energy(state) / ENERGY_MAX, units[:, 3])
        units = units.at[:, 3].set(energy)
        healable = (self._healable(state) & state.unit_alive).astype(ws.dtype)
        return jnp.concatenate([units.reshape(-1), ws[n * f :], healable])

    @partial(jax.jit, static_argnums=(0,))
    def get_avail_actions(self, state):
        n, n_move = self.num_agents, self.num_movement_actions
        alive, types, pos = state.unit_alive, state.unit_types, state.unit_positions
        medivac = self.is_medivac(state)
        dist = jnp.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)  # [N, N]
        att, heal = self._attack_target, self._heal_target  # [N, K]
        shoot = (
            self._attack_ok & alive[att]
            & (jnp.take_along_axis(dist, att, axis=1) < self.unit_type_attack_ranges[types][:, None])
        )
        can_heal = (
            self._heal_ok & alive[heal] & (jnp.take_along_axis(dist, heal, axis=1) < HEAL_RANGE)
            & self._healable(state)[heal] & (self._energy(state) > 0)[:, None]
        )
        targets = jnp.where(medivac[:, None], can_heal, shoot) & alive[:, None]
        moves = jnp.broadcast_to(alive[:, None], (n, n_move - 1))
        mask = jnp.concatenate([moves, jnp.ones((n, 1), bool), targets], axis=1).astype(jnp.uint8)
        return {
            a: mask[i, : self.num_ally_actions if i < self.num_allies else self.num_enemy_actions]
            for i, a in enumerate(self.agents)
        }


def create_medivac_heuristic_policy(env: MedivacSMAX, team: int, shoot: bool = True, attack_mode: str = "closest"):
    """SMAX's heuristic for every unit, except that a medivac heals or follows its army.

    Same signature as jaxmarl's policy: (key, HeuristicPolicyState, obs [D]) -> (action, state), obs in
    SMAX's unit-list layout (teammates first, in the order heal slots use).
    """
    fighter = create_heuristic_policy(env, team, shoot=shoot, attack_mode=attack_mode)
    mover = create_heuristic_policy(env, team, shoot=False, attack_mode=attack_mode)
    f = len(env.unit_features)
    team_size = env.num_allies if team == 0 else env.num_enemies
    n_mates = team_size - 1
    own = (env.num_agents - 1) * f  # start of own features
    n_move = env.num_movement_actions
    type0 = 7  # first unit-type bit of an observed unit (SMAX's layout)
    sight = env.unit_type_sight_ranges[MEDIVAC]
    action_vectors = jnp.array([[0, 1], [1, 0], [0, -1], [-1, 0]])  # SMAX's move actions 0..3

    def policy(key, pstate, obs):
        fight_action, fight_state = fighter(key, pstate, obs)
        move_action, move_state = mover(key, pstate, obs)
        mates = obs[: n_mates * f].reshape(n_mates, f)
        health, rel = mates[:, 0], mates[:, 1:3] * sight  # rel: positions relative to me, in map units
        visible = health > 0  # SMAX zeroes unseen and dead units
        dist = jnp.linalg.norm(rel, axis=-1)
        has_energy = obs[own + 3] > 0  # a medivac's cooldown slot holds its energy
        candidates = visible & (mates[:, -1] > 0) & (dist < HEAL_RANGE) & has_energy
        heal_action = n_move + jnp.argmin(jnp.where(candidates, health, jnp.inf))
        army = visible & (mates[:, type0 + MEDIVAC] == 0)
        centre = jnp.sum(rel * army[:, None], 0) / jnp.maximum(jnp.sum(army), 1)
        follow = jnp.where(jnp.linalg.norm(centre) < 2.0, n_move - 1, jnp.argmax(action_vectors @ centre))
        medivac_action = jnp.where(jnp.any(candidates), heal_action, jnp.where(jnp.any(army), follow, move_action))
        is_medivac = obs[-env.unit_type_bits + MEDIVAC] > 0
        action = jnp.where(is_medivac, medivac_action, fight_action)
        new_state = jax.tree.map(lambda m, s: jnp.where(is_medivac, m, s), move_state, fight_state)
        return action, new_state

    return policy


class MedivacSMAXEnv(SMAXEnv):
    """`SMAXEnv` (heuristic enemies, outcome infos, `ally_visibility`) on `MedivacSMAX`: smax_MMM, smax_MMM2."""

    def __init__(self, map_name: str = "MMM2", enemy_shoots: bool = True, attack_mode: str = "closest", **kwargs):
        if map_name not in MEDIVAC_SCENARIOS:
            raise ValueError(f"unknown medivac map {map_name!r}; valid maps: {', '.join(medivac_maps())}")
        kwargs.setdefault("see_enemy_actions", True)
        kwargs.setdefault("walls_cause_death", True)
        # jaxmarl's EnemySMAX.__init__ hard-codes its SMAX as the game; these are the fields it sets, and
        # those SMAXEnv.__init__ adds (keep in step with envs_jax/smax.py).
        self._env = MedivacSMAX(scenario=MEDIVAC_SCENARIOS[map_name], **kwargs)
        self.num_agents = self.num_allies = self._env.num_allies
        self.num_enemies = self._env.num_enemies
        self.agents = [f"ally_{i}" for i in range(self.num_agents)]
        self.enemy_agents = [f"enemy_{i}" for i in range(self.num_enemies)]
        self.all_agents = self.agents + self.enemy_agents
        self.observation_spaces = {a: self._env.observation_spaces[a] for a in self.agents}
        self.action_spaces = {a: self._env.action_spaces[a] for a in self.agents}
        self.enemy_shoots = enemy_shoots
        self.attack_mode = attack_mode
        self.heuristic_policy = create_medivac_heuristic_policy(self._env, 1, shoot=enemy_shoots, attack_mode=attack_mode)
        self.map_name = map_name
        # As SMAXEnv.__init__ (which this one cannot call: it builds jaxmarl's SMAX): SMAX's time limit
        # is checked before the step counter moves, so an episode lasts up to max_steps + 1 env steps.
        self.episode_limit = self._env.max_steps + 1

    def _outcome(self, state):
        """(terminated, won) of an inner state, with SMAC's only-medivacs-left rule."""
        army = self._env.army_alive(state.state)
        allies_out = ~jnp.any(army[: self.num_allies])
        enemies_out = ~jnp.any(army[self.num_allies :])
        return allies_out | enemies_out, enemies_out & ~allies_out
