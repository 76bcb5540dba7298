"""The unit table: SC2's raw units of one observation as numpy arrays in a fixed order.

Order (fixed for an episode by unit tag): the learner's units first, then the bot's, each in the order
the layout chose at the episode's start (`Roster`). A unit missing from an observation is dead (SC2
removes dead units from the raw data), as SMAC reads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .maps import KIND_OF_SC2_ID, MapSpec, roster_str

GAME_LOOPS_PER_SECOND = 22.4  # SC2 at "faster" speed: 16 loops per game second x 1.4
ALLY_OWNER, ENEMY_OWNER = 1, 2


@dataclass(frozen=True)
class Geometry:
    """What the layouts need from ResponseGameInfo.start_raw."""

    map_size: tuple[int, int]  # (x, y) cells
    playable_min: tuple[float, float]
    playable_max: tuple[float, float]
    pathing: np.ndarray  # bool [X, Y]; pathing[x, y] = a ground unit can stand in cell (x, y)


@dataclass(frozen=True)
class Roster:
    """The episode's units: tags and kinds, allies then enemies, in the layout's order."""

    tags: np.ndarray  # uint64 [U]
    kinds: tuple[str, ...]  # [U]
    num_allies: int

    @property
    def num_units(self) -> int:
        return len(self.tags)


@dataclass
class UnitTable:
    """One observation's units in roster order (dead units: alive False, health and shield 0)."""

    alive: np.ndarray  # bool [U]
    pos: np.ndarray  # float64 [U, 2] world coordinates
    health: np.ndarray  # float64 [U]
    health_max: np.ndarray
    shield: np.ndarray
    shield_max: np.ndarray
    energy: np.ndarray
    cooldown: np.ndarray  # weapon cooldown in game loops (SC2 reports it for the learner's units only)

    def copy(self) -> "UnitTable":
        return UnitTable(**{k: v.copy() for k, v in self.__dict__.items()})


class RosterError(ValueError):
    """The units on the map are not those the layout or the map table expects."""


def unit_kinds(units: Sequence, spec: MapSpec, ally_base_type: int) -> list[str]:
    """Kind names of raw units: the learner's from their (custom) type id's offset from
    `ally_base_type` in the map type's kind order (SMAC's rule), the bot's from SC2's stock ids."""
    kinds = []
    order = spec.ally_kind_order
    for u in units:
        if u.owner == ALLY_OWNER:
            off = int(u.unit_type) - ally_base_type
            if not 0 <= off < len(order):
                raise RosterError(
                    f"ally unit type {u.unit_type} is not one of map {spec.name}'s kinds {order} "
                    f"(type ids {ally_base_type}..{ally_base_type + len(order) - 1})"
                )
            kinds.append(order[off])
        else:
            if int(u.unit_type) not in KIND_OF_SC2_ID:
                raise RosterError(f"enemy unit type {u.unit_type} on map {spec.name} is not a known SMAC unit")
            kinds.append(KIND_OF_SC2_ID[int(u.unit_type)])
    return kinds


def check_roster(spec: MapSpec, ally_kinds: Iterable[str], enemy_kinds: Iterable[str]) -> None:
    """Raise RosterError unless the units match the map table's roster."""
    ally_kinds, enemy_kinds = sorted(ally_kinds), sorted(enemy_kinds)
    if ally_kinds != sorted(spec.ally_kinds()) or enemy_kinds != sorted(spec.enemy_kinds()):
        raise RosterError(
            f"the map loaded as {spec.name} has allies {roster_str(ally_kinds)} vs enemies "
            f"{roster_str(enemy_kinds)}; SMAC's {spec.name} has {roster_str(spec.allies)} vs "
            f"{roster_str(spec.enemies)}. Is $SC2PATH/Maps/{spec.path} the SMAC map?"
        )


def table_from_raw(raw_units: Iterable, roster: Roster) -> UnitTable:
    """Fill a UnitTable from raw units (protobuf `Unit`s or anything with the same fields)."""
    index = {int(t): i for i, t in enumerate(roster.tags)}
    u_count = roster.num_units
    z = lambda: np.zeros(u_count)  # noqa: E731
    t = UnitTable(np.zeros(u_count, bool), np.zeros((u_count, 2)), z(), z(), z(), z(), z(), z())
    for u in raw_units:
        i = index.get(int(u.tag))
        if i is None or u.health <= 0:
            continue
        t.alive[i] = True
        t.pos[i] = (u.pos.x, u.pos.y)
        t.health[i], t.health_max[i] = u.health, u.health_max
        t.shield[i], t.shield_max[i] = u.shield, u.shield_max
        t.energy[i] = u.energy
        t.cooldown[i] = u.weapon_cooldown
    # a dead unit keeps its maximum health (SMAC normalises by it) and its last position is irrelevant
    return t


def carry_maxima(table: UnitTable, previous: UnitTable) -> UnitTable:
    """Dead units have no raw entry; keep the maxima seen before so fractions stay defined."""
    dead = ~table.alive
    table.health_max[dead] = previous.health_max[dead]
    table.shield_max[dead] = previous.shield_max[dead]
    table.pos[dead] = previous.pos[dead]
    return table
