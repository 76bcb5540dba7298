"""Observation and action layouts for the real game: `smax` (a SMAX-trained policy runs unchanged) and
`smac` (SMAC's own features, for training on the game). See envs_jax/sc2/__init__.py for the gaps
between SMAX and the game that no layout can close.

Both layouts read a `UnitTable` (units in roster order, allies first) and return numpy arrays:
obs float32 [N, D], world state float32 [S], avail bool [N, A], visible bool [N, N]. Actions become
`Command`s (raw unit commands: ability, unit, target) and commands can be read back into actions.

`smax`: the numpy functions `smax_obs`, `smax_world_state`, `smax_avail` compute exactly what jaxmarl's
SMAX (`get_obs_unit_list`, `get_world_state`, `get_avail_actions`) and our `MedivacSMAX` compute for the
same units (`SmaxUnits`, in SMAX's frame and units); tests/test_sc2.py checks that on random states.
`SmaxLayout` turns SC2 units into `SmaxUnits`:
  - position: world position minus the playable area's lower corner (a translation: distances, sight
    and attack ranges stay in SC2 map units, as in SMAX);
  - health: (health + shield) / (health_max + shield_max) (SMAX folds shields into health:
    zealot 150 = 100 + 50, stalker 160 = 80 + 80);
  - weapon cooldown: game loops / 22.4 (seconds of "faster" time, SMAX's unit); SC2 does not report
    it for enemy units, so theirs reads 0;
  - last actions: the learner's own last actions, as SMAX records them; the bot's are not reported by
    SC2 and are inferred (`infer_enemy_actions`): a unit that moved more than 0.1 since the last step
    moved in the cardinal direction of its larger displacement; one that stood still with a learner
    unit within its SMAX attack range attacked the closest such unit (SMAX's heuristic enemy does
    exactly that); otherwise 0;
  - medivac energy and the `healable` bit as our MedivacSMAX computes them.
  Actions: 0 N, 1 E, 2 S, 3 W (move `move_amount` map units that way), 4 stop, 5 + k attack enemy k
  (a medivac: heal the k-th other ally). Dead units send no command.

`smac`: SMAC's `get_obs_agent`, `get_state` (with the last actions), `get_avail_agent_actions` and
`get_agent_action` with SMAC's defaults (obs_all_health, no last action / pathing / height in the
observation; sight 9, shoot range 6, move amount 2). Actions: 0 no-op (dead units only), 1 stop,
2 N, 3 S, 4 E, 5 W, 6 + j attack enemy j (a medivac on MMM maps: heal ally j).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from envs_jax import registry  # the SMAX scenarios (registry imports only the map table of this package)
from envs_jax.smax_medivac import ENERGY_MAX, HEAL_RANGE

from .maps import ENEMY_KIND_ORDER, SMAC_MAX_COOLDOWN, MapSpec, roster_str
from .units import GAME_LOOPS_PER_SECOND, Geometry, Roster, RosterError, UnitTable

ABILITY_STOP, ABILITY_MOVE, ABILITY_ATTACK, ABILITY_HEAL = 4, 16, 23, 386


class Command(NamedTuple):
    """One raw unit command (s2clientprotocol ActionRawUnitCommand, one unit)."""

    ability: int
    unit_tag: int
    target_tag: int = 0  # 0: no unit target
    target_pos: tuple[float, float] | None = None


class Observation(NamedTuple):
    obs: np.ndarray  # float32 [N, D]
    world_state: np.ndarray  # float32 [S]
    avail: np.ndarray  # bool [N, A]
    visible: np.ndarray  # bool [N, N]


# ============================================================================ smax
@dataclass(frozen=True)
class SmaxParams:
    """The figures of one SMAX scenario that its observation, state and masks depend on."""

    num_allies: int
    num_enemies: int
    map_size: tuple[float, float]
    type_names: tuple[str, ...]
    health: np.ndarray  # [T]
    sight: np.ndarray
    attack_range: np.ndarray
    weapon_cooldown: np.ndarray
    num_ally_actions: int
    num_enemy_actions: int
    scenario_types: np.ndarray  # int [U] SMAX type index per unit (allies then enemies)
    medivac: bool  # our MedivacSMAX (healer type, energy, `healable`)
    biological: np.ndarray  # bool [T]
    heal_range: float
    energy_max: float
    obs_size: int
    state_size: int

    @classmethod
    def from_env(cls, env) -> "SmaxParams":
        """From an envs_jax SMAXEnv / MedivacSMAXEnv (their inner SMAX game holds the figures)."""
        game = env._env
        medivac = hasattr(game, "unit_type_biological")
        a = lambda x: np.asarray(x, np.float64)  # noqa: E731
        heal_range = energy_max = 0.0
        biological = np.zeros(len(game.unit_type_names), bool)
        if medivac:
            heal_range, energy_max = float(HEAL_RANGE), float(ENERGY_MAX)
            biological = np.asarray(game.unit_type_biological, bool)
        return cls(
            num_allies=game.num_allies,
            num_enemies=game.num_enemies,
            map_size=(float(game.map_width), float(game.map_height)),
            type_names=tuple(game.unit_type_names),
            health=a(game.unit_type_health),
            sight=a(game.unit_type_sight_ranges),
            attack_range=a(game.unit_type_attack_ranges),
            weapon_cooldown=a(game.unit_type_weapon_cooldowns),
            num_ally_actions=int(game.num_ally_actions),
            num_enemy_actions=int(game.num_enemy_actions),
            scenario_types=np.asarray(game.scenario, np.int64),
            medivac=medivac,
            biological=biological,
            heal_range=heal_range,
            energy_max=energy_max,
            obs_size=int(game.obs_size),
            state_size=int(game.state_size),
        )

    @property
    def num_types(self) -> int:
        return len(self.type_names)

    @property
    def medivac_type(self) -> int:
        return self.type_names.index("medivac") if "medivac" in self.type_names else -1


class SmaxUnits(NamedTuple):
    """Units in SMAX's frame and units, allies then enemies (what SMAX's State holds)."""

    pos: np.ndarray  # float [U, 2]
    health: np.ndarray  # float [U] fraction of the type's maximum
    types: np.ndarray  # int [U] SMAX type index
    alive: np.ndarray  # bool [U]
    cooldown: np.ndarray  # float [U] seconds
    prev_move: np.ndarray  # float [U, 2]
    prev_attack: np.ndarray  # int [U] SMAX action id of the last attack (0: none)
    energy: np.ndarray  # float [U] (medivacs)


def _healable(u: SmaxUnits, p: SmaxParams) -> np.ndarray:
    return p.biological[u.types] & (u.health < 1.0)


def smax_obs(u: SmaxUnits, p: SmaxParams) -> np.ndarray:
    """float32 [na, D]: SMAX's unit-list observation of every ally (others' features, then own)."""
    na, n = p.num_allies, len(u.types)
    t_count = p.num_types
    n_feat = 7 + t_count + (1 if p.medivac else 0)
    sight = p.sight[u.types[:na]]  # [na]
    rel = u.pos[None, :, :] - u.pos[:na, None, :]  # [na, U, 2] position of j relative to i
    dist = np.linalg.norm(rel, axis=-1)
    visible = (dist < sight[:, None]) & u.alive[:na, None] & u.alive[None, :]
    max_action = np.where(np.arange(n) < na, p.num_ally_actions - 1, p.num_enemy_actions - 1).astype(np.float64)
    f = np.zeros((na, n, n_feat))
    f[..., 0] = u.health[None, :]
    f[..., 1:3] = rel / sight[:, None, None]
    f[..., 3:5] = u.prev_move[None]
    f[..., 5] = (u.prev_attack / max_action)[None]
    cd = np.clip(u.cooldown / p.weapon_cooldown[u.types], 0.0, 1.0)
    if p.medivac:
        is_med = u.types == p.medivac_type
        cd = np.where(is_med, u.energy / p.energy_max, cd)
        f[..., -1] = _healable(u, p)[None]
    f[..., 6] = cd[None]
    f[:, np.arange(n), 7 + u.types] = 1.0
    f *= visible[..., None]
    others = f[~np.eye(na, n, dtype=bool)].reshape(na, n - 1, n_feat)

    own = np.zeros((na, 4 + t_count))
    own[:, 0] = u.health[:na]
    own[:, 1:3] = u.pos[:na] / np.asarray(p.map_size)
    own_cd = np.clip(u.cooldown[:na] / p.weapon_cooldown[u.types[:na]], 0.0, 1.0)
    if p.medivac:
        own_cd = np.where(u.types[:na] == p.medivac_type, u.energy[:na] / p.energy_max, own_cd)
    own[:, 3] = own_cd
    own[np.arange(na), 4 + u.types[:na]] = 1.0
    own *= u.alive[:na, None]
    return np.concatenate([others.reshape(na, -1), own], axis=1).astype(np.float32)


def smax_world_state(u: SmaxUnits, p: SmaxParams) -> np.ndarray:
    """float32 [S]: SMAX's world state (per unit: health, position, raw cooldown, type one-hot; teams;
    types), with MedivacSMAX's energy in the cooldown slot and `healable` bits appended."""
    n, t_count, na = len(u.types), p.num_types, p.num_allies
    rows = np.zeros((n, 4 + t_count))
    rows[:, 0] = u.health
    rows[:, 1:3] = u.pos
    rows[:, 3] = u.cooldown
    rows[np.arange(n), 4 + u.types] = 1.0
    rows *= u.alive[:, None]
    teams = (np.arange(n) >= na).astype(np.float64)
    parts = [rows.reshape(-1), teams, u.types.astype(np.float64)]
    if p.medivac:
        is_med = (u.types == p.medivac_type) & u.alive
        rows[:, 3] = np.where(is_med, u.energy / p.energy_max, rows[:, 3])
        parts[0] = rows.reshape(-1)
        parts.append((_healable(u, p) & u.alive).astype(np.float64))
    return np.concatenate(parts).astype(np.float32)


def _heal_target(i: int, k: int) -> int:
    """Ally index of heal slot k for ally i: the k-th ally other than i (MedivacSMAX's convention)."""
    return k + (k >= i)


def smax_avail(u: SmaxUnits, p: SmaxParams) -> np.ndarray:
    """bool [na, A]: moves while alive, stop always, targets in range (MedivacSMAX: heals)."""
    na, ne = p.num_allies, p.num_enemies
    n_targets = p.num_ally_actions - 5
    alive = u.alive
    rng = p.attack_range[u.types[:na]]
    mask = np.zeros((na, p.num_ally_actions), bool)
    mask[:, :4] = alive[:na, None]
    mask[:, 4] = True
    d_enemy = np.linalg.norm(u.pos[na:][None] - u.pos[:na, None], axis=-1)  # [na, ne]
    shoot = (d_enemy < rng[:, None]) & alive[None, na:] & alive[:na, None]
    mask[:, 5 : 5 + ne] = shoot
    if p.medivac:
        is_med = u.types[:na] == p.medivac_type
        mask[is_med, 5:] = False
        healable = _healable(u, p)
        for i in np.flatnonzero(is_med & alive[:na] & (u.energy[:na] > 0)):
            for k in range(min(n_targets, na - 1)):
                t = _heal_target(i, k)
                d = np.linalg.norm(u.pos[t] - u.pos[i])
                mask[i, 5 + k] = alive[t] and d < p.heal_range and healable[t]
    return mask


def smax_visibility(u: SmaxUnits, p: SmaxParams) -> np.ndarray:
    """bool [na, na]: SMAXEnv.ally_visibility (alive, within i's sight range, <=; i sees itself)."""
    na = p.num_allies
    pos = u.pos[:na]
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    sight = p.sight[u.types[:na]]
    alive = u.alive[:na]
    return ((dist <= sight[:, None]) & alive[:, None] & alive[None, :]) | np.eye(na, dtype=bool)


# SMAX's move actions 0..3 as unit vectors in world coordinates (its decoding rotates diagonal vectors by
# 45 degrees: 0 -> +y, 1 -> +x, 2 -> -y, 3 -> -x).
SMAX_MOVES = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])
SMAC_MOVES = {2: (0.0, 1.0), 3: (0.0, -1.0), 4: (1.0, 0.0), 5: (-1.0, 0.0)}  # N, S, E, W


def _direction_index(vec, moves) -> int:
    """Index of the row of `moves` closest in direction to vec."""
    return int(np.argmax(np.asarray(moves) @ np.asarray(vec, float)))


class SmaxLayout:
    """SMAX's observation, state, masks and actions on SC2 units (see the module docstring)."""

    name = "smax"

    def __init__(self, spec: MapSpec, policy_map: str | None = None, move_amount: float = 2.0,
                 infer_enemy_actions: bool = True):
        policy_map = policy_map or spec.name
        env_name = f"smax_{policy_map}"
        if env_name not in registry.names():
            smax_names = sorted(n[5:] for n in registry.names() if n.startswith("smax_"))
            raise ValueError(
                f"layout 'smax' needs a SMAX scenario for policy_map={policy_map!r}; SMAX has: {', '.join(smax_names)}"
            )
        self.params = p = SmaxParams.from_env(registry.make(env_name))
        self.spec, self.policy_map = spec, policy_map
        self.move_amount, self.infer_enemy_actions = move_amount, infer_enemy_actions
        kinds = [p.type_names[t] for t in p.scenario_types]
        self.scenario_ally_kinds, self.scenario_enemy_kinds = kinds[: p.num_allies], kinds[p.num_allies :]
        check_smax_roster(spec, policy_map, spec.ally_kinds(), spec.enemy_kinds(), self.scenario_ally_kinds,
                          self.scenario_enemy_kinds)
        self.num_agents, self.num_enemies = p.num_allies, p.num_enemies
        self.num_actions, self.obs_dim, self.state_dim = p.num_ally_actions, p.obs_size, p.state_size
        self._prev_move = self._prev_attack = None

    # ---- episode
    def enemy_order(self, kinds: list[str], xy: list[tuple[float, float]]) -> list[int]:
        """Enemies in the SMAX scenario's type order (a SMAX policy may have learned what each target slot
        holds), then by position."""
        key = lambda i: (self.scenario_enemy_kinds.index(kinds[i]), xy[i])  # noqa: E731
        return sorted(range(len(kinds)), key=key)

    def start(self, roster: Roster, table: UnitTable, geometry: Geometry) -> None:
        ally_kinds, enemy_kinds = list(roster.kinds[: roster.num_allies]), list(roster.kinds[roster.num_allies :])
        check_smax_roster(self.spec, self.policy_map, ally_kinds, enemy_kinds, self.scenario_ally_kinds,
                          self.scenario_enemy_kinds, observed=True)
        self.roster, self.geometry = roster, geometry
        self.types = np.array([self.params.type_names.index(k) for k in roster.kinds])
        self.origin = np.asarray(geometry.playable_min, float)
        n = roster.num_units
        self._prev_move, self._prev_attack = np.zeros((n, 2)), np.zeros(n, np.int64)

    def units(self, table: UnitTable) -> SmaxUnits:
        hp_max = table.health_max + table.shield_max
        health = np.where(table.alive, (table.health + table.shield) / np.where(hp_max > 0, hp_max, 1.0), 0.0)
        return SmaxUnits(
            pos=table.pos - self.origin,
            health=health,
            types=self.types,
            alive=table.alive,
            cooldown=table.cooldown / GAME_LOOPS_PER_SECOND,
            prev_move=self._prev_move,
            prev_attack=self._prev_attack,
            energy=table.energy,
        )

    def observe(self, table: UnitTable) -> Observation:
        u, p = self.units(table), self.params
        return Observation(smax_obs(u, p), smax_world_state(u, p), smax_avail(u, p), smax_visibility(u, p))

    def record(self, actions: np.ndarray, before: UnitTable, after: UnitTable) -> None:
        """Remember the last actions as SMAX does: allies' from `actions`, enemies' inferred."""
        na = self.num_agents
        move = np.zeros((self.roster.num_units, 2))
        attack = np.zeros(self.roster.num_units, np.int64)
        a = np.asarray(actions)
        is_move = a < 4
        move[:na][is_move] = SMAX_MOVES[a[is_move]]
        attack[:na] = np.where(a >= 5, a, 0)
        if self.infer_enemy_actions:
            p = self.params
            e = slice(na, None)
            both = before.alive[e] & after.alive[e]
            disp = after.pos[e] - before.pos[e]
            moved = both & (np.linalg.norm(disp, axis=-1) > 0.1)
            move[e][moved] = SMAX_MOVES[np.argmax(disp[moved] @ SMAX_MOVES.T, axis=-1)]
            # still, not a medivac, a live ally within its SMAX attack range: it shot the closest one
            d = np.linalg.norm(after.pos[e][:, None] - after.pos[None, :na], axis=-1)  # [ne, na]
            in_range = after.alive[None, :na] & (d < p.attack_range[self.types[e]][:, None])
            shooting = both & ~moved & (self.types[e] != p.medivac_type) & in_range.any(1)
            closest = np.argmin(np.where(in_range, d, np.inf), axis=1)
            attack[e] = np.where(shooting, 5 + (na - 1 - closest), 0)  # SMAX: enemies count allies in reverse
        self._prev_move, self._prev_attack = move, attack

    # ---- actions
    def commands(self, actions: np.ndarray, table: UnitTable) -> list[Command]:
        na, tags = self.num_agents, self.roster.tags
        out = []
        for i, a in enumerate(np.asarray(actions).tolist()):
            if not table.alive[i]:
                continue
            tag = int(tags[i])
            if a < 4:
                target = table.pos[i] + self.move_amount * SMAX_MOVES[a]
                out.append(Command(ABILITY_MOVE, tag, target_pos=(float(target[0]), float(target[1]))))
            elif a == 4:
                out.append(Command(ABILITY_STOP, tag))
            elif self.types[i] == self.params.medivac_type:
                out.append(Command(ABILITY_HEAL, tag, target_tag=int(tags[_heal_target(i, a - 5)])))
            else:
                out.append(Command(ABILITY_ATTACK, tag, target_tag=int(tags[na + a - 5])))
        return out

    def actions_of(self, commands: list[Command], table: UnitTable) -> np.ndarray:
        """The inverse of `commands`: int [N] (a unit without a command: 4, stop)."""
        na = self.num_agents
        index = {int(t): i for i, t in enumerate(self.roster.tags)}
        actions = np.full(na, 4, np.int64)
        for c in commands:
            i = index[c.unit_tag]
            if c.ability == ABILITY_MOVE:
                actions[i] = _direction_index(np.asarray(c.target_pos) - table.pos[i], SMAX_MOVES)
            elif c.ability == ABILITY_STOP:
                actions[i] = 4
            elif c.ability == ABILITY_HEAL:
                t = index[c.target_tag]
                actions[i] = 5 + (t - (t > i))
            elif c.ability == ABILITY_ATTACK:
                actions[i] = 5 + index[c.target_tag] - na
            else:
                raise ValueError(f"no SMAX action for ability {c.ability}")
        return actions


def check_smax_roster(spec: MapSpec, policy_map: str, ally_kinds, enemy_kinds, want_allies, want_enemies,
                      observed: bool = False) -> None:
    """Raise RosterError unless the map's units are the SMAX scenario's (kinds and counts per side)."""
    if sorted(ally_kinds) == sorted(want_allies) and sorted(enemy_kinds) == sorted(want_enemies):
        return
    where = "the game shows" if observed else "has"
    raise RosterError(
        f"SC2 map {spec.name} {where} allies {roster_str(list(ally_kinds))} vs enemies "
        f"{roster_str(list(enemy_kinds))}, but the SMAX layout of {policy_map!r} (the map the policy "
        f"was trained on) needs allies {roster_str(want_allies)} vs enemies {roster_str(want_enemies)}. "
        f"A policy runs only on a map with its own unit roster: use sc2_{policy_map}, or layout='smac' to train "
        f"on {spec.name} itself."
    )


# ============================================================================ smac
SMAC_SIGHT, SMAC_SHOOT = 9.0, 6.0


class SmacLayout:
    """SMAC's observation, state, masks and actions (SMAC's default options)."""

    name = "smac"

    def __init__(self, spec: MapSpec, move_amount: float = 2.0):
        self.spec, self.move_amount = spec, move_amount
        na, ne = spec.num_allies, spec.num_enemies
        self.num_agents, self.num_enemies = na, ne
        self.num_actions = 6 + ne
        self.shield_ally = int(spec.ally_race == "P")
        self.shield_enemy = int(spec.enemy_race == "P")
        self.bits = spec.unit_type_bits
        self.n_ally_feat = 5 + self.shield_ally + self.bits
        self.n_enemy_feat = 5 + self.shield_enemy + self.bits
        self.n_own = 1 + self.shield_ally + self.bits
        self.obs_dim = 4 + ne * self.n_enemy_feat + (na - 1) * self.n_ally_feat + self.n_own
        self.n_ally_state = 4 + self.shield_ally + self.bits
        self.n_enemy_state = 3 + self.shield_enemy + self.bits
        self.state_dim = na * self.n_ally_state + ne * self.n_enemy_state + na * self.num_actions
        self._last_action = np.zeros((na, self.num_actions))

    def enemy_order(self, kinds: list[str], xy: list[tuple[float, float]]) -> list[int]:
        return list(range(len(kinds)))  # SMAC keeps the raw data's order

    def start(self, roster: Roster, table: UnitTable, geometry: Geometry) -> None:
        self.roster, self.geometry = roster, geometry
        na = roster.num_allies
        kinds = roster.kinds
        self.is_medivac = np.array([k == "medivac" for k in kinds[:na]]) & (self.spec.map_type == "MMM")
        self.ally_medivac_kind = np.array([k == "medivac" for k in kinds[:na]])
        self.type_id = np.zeros(roster.num_units, np.int64)
        if self.bits:
            self.type_id[:na] = [self.spec.ally_kind_order.index(k) for k in kinds[:na]]
            order = ENEMY_KIND_ORDER[self.spec.map_type]
            self.type_id[na:] = [order.index(k) if k in order else len(order) - 1 for k in kinds[na:]]
        self.max_cd = np.array([SMAC_MAX_COOLDOWN.get(k, 15) for k in kinds[:na]], float)
        self._last_action = np.zeros((na, self.num_actions))

    def _can_move(self, table: UnitTable, i: int, d: tuple[float, float]) -> bool:
        m = self.move_amount / 2
        x, y = int(table.pos[i, 0] + d[0] * m), int(table.pos[i, 1] + d[1] * m)
        gx, gy = self.geometry.map_size
        return 0 <= x < gx and 0 <= y < gy and bool(self.geometry.pathing[x, y])

    def avail(self, table: UnitTable) -> np.ndarray:
        na, ne, a_count = self.num_agents, self.num_enemies, self.num_actions
        mask = np.zeros((na, a_count), bool)
        for i in range(na):
            if not table.alive[i]:
                mask[i, 0] = True
                continue
            mask[i, 1] = True
            for a, d in SMAC_MOVES.items():
                mask[i, a] = self._can_move(table, i, d)
            if self.is_medivac[i]:
                targets = [j for j in range(na) if not self.ally_medivac_kind[j]]
                offset = 0
            else:
                targets, offset = list(range(ne)), na
            for j in targets:
                t = j + offset
                if table.alive[t] and np.linalg.norm(table.pos[t] - table.pos[i]) <= SMAC_SHOOT:
                    mask[i, 6 + j] = True
        return mask

    def _fractions(self, table: UnitTable):
        health = np.where(table.alive, table.health / np.where(table.health_max > 0, table.health_max, 1), 0.0)
        shield = np.where(table.alive & (table.shield_max > 0),
                          table.shield / np.where(table.shield_max > 0, table.shield_max, 1), 0.0)
        return health, shield

    def observe(self, table: UnitTable) -> Observation:
        na, ne = self.num_agents, self.num_enemies
        avail = self.avail(table)
        health, shield = self._fractions(table)
        obs = np.zeros((na, self.obs_dim), np.float32)
        for i in range(na):
            if not table.alive[i]:
                continue
            row = []
            move = avail[i, 2:6].astype(float)
            enemy = np.zeros((ne, self.n_enemy_feat))
            for e in range(ne):
                t = na + e
                d = table.pos[t] - table.pos[i]
                dist = float(np.hypot(*d))
                if dist < SMAC_SIGHT and table.alive[t]:
                    f = [avail[i, 6 + e], dist / SMAC_SIGHT, d[0] / SMAC_SIGHT, d[1] / SMAC_SIGHT, health[t]]
                    if self.shield_enemy:
                        f.append(shield[t])
                    enemy[e, : len(f)] = f
                    if self.bits:
                        enemy[e, len(f) + self.type_id[t]] = 1.0
            ally = np.zeros((na - 1, self.n_ally_feat))
            for k, j in enumerate(j for j in range(na) if j != i):
                d = table.pos[j] - table.pos[i]
                dist = float(np.hypot(*d))
                if dist < SMAC_SIGHT and table.alive[j]:
                    f = [1.0, dist / SMAC_SIGHT, d[0] / SMAC_SIGHT, d[1] / SMAC_SIGHT, health[j]]
                    if self.shield_ally:
                        f.append(shield[j])
                    ally[k, : len(f)] = f
                    if self.bits:
                        ally[k, len(f) + self.type_id[j]] = 1.0
            own = np.zeros(self.n_own)
            own[0] = health[i]
            if self.shield_ally:
                own[1] = shield[i]
            if self.bits:
                own[1 + self.shield_ally + self.type_id[i]] = 1.0
            row = np.concatenate([move, enemy.reshape(-1), ally.reshape(-1), own])
            obs[i] = row
        return Observation(obs, self.state(table), avail, self.visibility(table))

    def state(self, table: UnitTable) -> np.ndarray:
        na, ne = self.num_agents, self.num_enemies
        health, shield = self._fractions(table)
        g = self.geometry
        centre = np.asarray(g.map_size, float) / 2
        span = np.asarray(g.playable_max, float) - np.asarray(g.playable_min, float)
        ally = np.zeros((na, self.n_ally_state))
        for i in range(na):
            if not table.alive[i]:
                continue
            ally[i, 0] = health[i]
            ally[i, 1] = (table.energy[i] if self.is_medivac[i] else table.cooldown[i]) / self.max_cd[i]
            ally[i, 2:4] = (table.pos[i] - centre) / span
            if self.shield_ally:
                ally[i, 4] = shield[i]
            if self.bits:
                ally[i, self.n_ally_state - self.bits + self.type_id[i]] = 1.0
        enemy = np.zeros((ne, self.n_enemy_state))
        for e in range(ne):
            t = na + e
            if not table.alive[t]:
                continue
            enemy[e, 0] = health[t]
            enemy[e, 1:3] = (table.pos[t] - centre) / span
            if self.shield_enemy:
                enemy[e, 3] = shield[t]
            if self.bits:
                enemy[e, self.n_enemy_state - self.bits + self.type_id[t]] = 1.0
        return np.concatenate([ally.reshape(-1), enemy.reshape(-1), self._last_action.reshape(-1)]).astype(np.float32)

    def visibility(self, table: UnitTable) -> np.ndarray:
        na = self.num_agents
        pos, alive = table.pos[:na], table.alive[:na]
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        return ((dist < SMAC_SIGHT) & alive[:, None] & alive[None, :]) | np.eye(na, dtype=bool)

    def record(self, actions: np.ndarray, before: UnitTable, after: UnitTable) -> None:
        self._last_action = np.eye(self.num_actions)[np.asarray(actions)]

    def commands(self, actions: np.ndarray, table: UnitTable) -> list[Command]:
        na, tags = self.num_agents, self.roster.tags
        out = []
        for i, a in enumerate(np.asarray(actions).tolist()):
            tag = int(tags[i])
            if a == 0 or not table.alive[i]:
                continue
            if a == 1:
                out.append(Command(ABILITY_STOP, tag))
            elif a in SMAC_MOVES:
                d = SMAC_MOVES[a]
                x, y = table.pos[i] + np.asarray(d) * self.move_amount
                target = (float(x), float(y))
                out.append(Command(ABILITY_MOVE, tag, target_pos=target))
            elif self.is_medivac[i]:
                out.append(Command(ABILITY_HEAL, tag, target_tag=int(tags[a - 6])))
            else:
                out.append(Command(ABILITY_ATTACK, tag, target_tag=int(tags[na + a - 6])))
        return out

    def actions_of(self, commands: list[Command], table: UnitTable) -> np.ndarray:
        """The inverse of `commands`: int [N] (a unit without a command: 0, no-op)."""
        na = self.num_agents
        index = {int(t): i for i, t in enumerate(self.roster.tags)}
        actions = np.zeros(na, np.int64)
        moves = list(SMAC_MOVES.items())
        for c in commands:
            i = index[c.unit_tag]
            if c.ability == ABILITY_STOP:
                actions[i] = 1
            elif c.ability == ABILITY_MOVE:
                k = _direction_index(np.asarray(c.target_pos) - table.pos[i], [d for _, d in moves])
                actions[i] = moves[k][0]
            elif c.ability == ABILITY_HEAL:
                actions[i] = 6 + index[c.target_tag]
            elif c.ability == ABILITY_ATTACK:
                actions[i] = 6 + index[c.target_tag] - na
            else:
                raise ValueError(f"no SMAC action for ability {c.ability}")
        return actions


# ============================================================================ rewards
def smac_reward(before: UnitTable, after: UnitTable, num_allies: int, won: bool, max_reward: float) -> float:
    """SMAC's default reward (reward_only_positive, scaled so an episode's maximum is 20): damage dealt
    to enemy health + shields, +10 per enemy killed, +200 for a win, all divided by max_reward / 20."""
    e = slice(num_allies, None)
    prev = before.health[e] + before.shield[e]
    now = after.health[e] + after.shield[e]
    was = before.alive[e]
    died = was & ~after.alive[e]
    delta = np.sum(np.where(died, prev, np.where(was, prev - now, 0.0))) + 10.0 * np.sum(died)
    reward = abs(delta) + (200.0 if won else 0.0)
    return float(reward / (max_reward / 20.0))


def smax_reward(before: UnitTable, after: UnitTable, num_allies: int, won: bool) -> float:
    """SMAX's reward on the game: the enemies' lost health (+ shields) as fractions of their maximum,
    summed and divided by the enemy count, +1 for a win (health regained does not count, as in our
    MedivacSMAX; SMAX's |net change| would pay for protoss shields regenerating)."""
    e = slice(num_allies, None)
    full = before.health_max[e] + before.shield_max[e]
    prev = np.where(before.alive[e], before.health[e] + before.shield[e], 0.0)
    now = np.where(after.alive[e], after.health[e] + after.shield[e], 0.0)
    lost = np.maximum(prev - now, 0.0) / np.where(full > 0, full, 1.0)
    return float(np.sum(lost) / max(1, len(full)) + (1.0 if won else 0.0))


def max_smac_reward(spec: MapSpec, table: UnitTable, num_allies: int) -> float:
    """SMAC's max_reward: n_enemies x 10 + 200 + the enemies' full health and shields."""
    e = slice(num_allies, None)
    return float(spec.num_enemies * 10 + 200 + np.sum(table.health_max[e] + table.shield_max[e]))
