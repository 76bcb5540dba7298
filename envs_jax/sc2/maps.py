"""The SMAC maps (names, rosters, time limits, races) and SC2's unit types, as plain data.

Facts from SMAC (`smac/env/starcraft2/maps/smac_maps.py` and `starcraft2.py` in oxwhirl/smac): each map
is `SMAC_Maps/<name>.SC2Map` under the game's `Maps/` folder; the learner plays player 1 against the
built-in bot (player 2). The maps give the learner's units their own unit types ("RL" copies of the
stock units, ids above the stock ones) whose order follows the map type (SMAC takes the smallest ally
type id as the first kind of `ALLY_KIND_ORDER[map_type]`, the next id as the second, ...); the bot's
units keep SC2's stock ids (`SC2_UNIT_IDS`).
"""
from __future__ import annotations

from dataclasses import dataclass

# SC2's stock unit type ids of the units on SMAC maps (s2clientprotocol / pysc2 lib/units.py).
SC2_UNIT_IDS = {
    "colossus": 4,
    "baneling": 9,
    "marine": 48,
    "marauder": 51,
    "medivac": 54,
    "zealot": 73,
    "stalker": 74,
    "spinecrawler": 98,
    "zergling": 105,
    "hydralisk": 107,
}
KIND_OF_SC2_ID = {v: k for k, v in SC2_UNIT_IDS.items()}

# Kinds of the learner's units in the order of their (custom) unit type ids, per SMAC map type.
ALLY_KIND_ORDER = {
    "marines": ("marine",),
    "stalkers_and_zealots": ("stalker", "zealot"),
    "MMM": ("marauder", "marine", "medivac"),
    "hydralisks": ("hydralisk",),
    "zealots": ("zealot",),
    "stalkers": ("stalker",),
    "colossi_stalkers_zealots": ("colossus", "stalker", "zealot"),
    "bane": ("baneling", "zergling"),
    "colossus": ("colossus",),
}
# The order of SMAC's unit-type one-hot for *enemies* (SMAC's get_unit_type_id with ally=False). On
# stalkers_and_zealots it is the reverse of the allies' (SMAC's own comment says so).
ENEMY_KIND_ORDER = {
    "stalkers_and_zealots": ("zealot", "stalker"),
    "colossi_stalkers_zealots": ("colossus", "stalker", "zealot"),
    "bane": ("baneling", "zergling"),
    "MMM": ("marauder", "marine", "medivac"),
}

# SMAC's `unit_max_cooldown` (game loops; the medivac's entry is its maximum energy).
SMAC_MAX_COOLDOWN = {
    "marine": 15, "marauder": 25, "medivac": 200, "stalker": 35, "zealot": 22, "colossus": 24,
    "hydralisk": 10, "zergling": 11, "baneling": 1,
}

RACES = {"T": "Terran", "Z": "Zerg", "P": "Protoss", "R": "Random"}
DIFFICULTIES = {
    "1": "VeryEasy", "2": "Easy", "3": "Medium", "4": "MediumHard", "5": "Hard", "6": "Harder",
    "7": "VeryHard", "8": "CheatVision", "9": "CheatMoney", "A": "CheatInsane",
}


@dataclass(frozen=True)
class MapSpec:
    name: str
    allies: tuple[tuple[str, int], ...]  # (kind, count) in ally type order
    enemies: tuple[tuple[str, int], ...]
    limit: int  # SMAC's episode limit (env steps)
    ally_race: str  # "T" / "Z" / "P"
    enemy_race: str
    unit_type_bits: int  # SMAC's one-hot size (0 on one-kind maps)
    map_type: str

    @property
    def num_allies(self) -> int:
        return sum(c for _, c in self.allies)

    @property
    def num_enemies(self) -> int:
        return sum(c for _, c in self.enemies)

    @property
    def path(self) -> str:
        """Relative to the game's Maps/ folder."""
        return f"SMAC_Maps/{self.name}.SC2Map"

    @property
    def ally_kind_order(self) -> tuple[str, ...]:
        return ALLY_KIND_ORDER[self.map_type]

    def ally_kinds(self) -> list[str]:
        return [k for k, c in self.allies for _ in range(c)]

    def enemy_kinds(self) -> list[str]:
        return [k for k, c in self.enemies for _ in range(c)]


def _spec(name, allies, enemies, limit, races, bits, map_type):
    return MapSpec(name, tuple(allies), tuple(enemies), limit, races[0], races[1], bits, map_type)


_M, _MM, _V = "marine", "marauder", "medivac"
_S, _Z, _C, _H = "stalker", "zealot", "colossus", "hydralisk"
_ZG, _B, _SC = "zergling", "baneling", "spinecrawler"

SMAC_MAPS: dict[str, MapSpec] = {
    s.name: s
    for s in [
        _spec("3m", [(_M, 3)], [(_M, 3)], 60, "TT", 0, "marines"),
        _spec("8m", [(_M, 8)], [(_M, 8)], 120, "TT", 0, "marines"),
        _spec("25m", [(_M, 25)], [(_M, 25)], 150, "TT", 0, "marines"),
        _spec("5m_vs_6m", [(_M, 5)], [(_M, 6)], 70, "TT", 0, "marines"),
        _spec("8m_vs_9m", [(_M, 8)], [(_M, 9)], 120, "TT", 0, "marines"),
        _spec("10m_vs_11m", [(_M, 10)], [(_M, 11)], 150, "TT", 0, "marines"),
        _spec("27m_vs_30m", [(_M, 27)], [(_M, 30)], 180, "TT", 0, "marines"),
        _spec("MMM", [(_MM, 2), (_M, 7), (_V, 1)], [(_MM, 2), (_M, 7), (_V, 1)], 150, "TT", 3, "MMM"),
        _spec("MMM2", [(_MM, 2), (_M, 7), (_V, 1)], [(_MM, 3), (_M, 8), (_V, 1)], 180, "TT", 3, "MMM"),
        _spec("2s3z", [(_S, 2), (_Z, 3)], [(_S, 2), (_Z, 3)], 120, "PP", 2, "stalkers_and_zealots"),
        _spec("3s5z", [(_S, 3), (_Z, 5)], [(_S, 3), (_Z, 5)], 150, "PP", 2, "stalkers_and_zealots"),
        _spec("3s5z_vs_3s6z", [(_S, 3), (_Z, 5)], [(_S, 3), (_Z, 6)], 170, "PP", 2, "stalkers_and_zealots"),
        _spec("3s_vs_3z", [(_S, 3)], [(_Z, 3)], 150, "PP", 0, "stalkers"),
        _spec("3s_vs_4z", [(_S, 3)], [(_Z, 4)], 200, "PP", 0, "stalkers"),
        _spec("3s_vs_5z", [(_S, 3)], [(_Z, 5)], 250, "PP", 0, "stalkers"),
        _spec("1c3s5z", [(_C, 1), (_S, 3), (_Z, 5)], [(_C, 1), (_S, 3), (_Z, 5)], 180, "PP", 3,
              "colossi_stalkers_zealots"),
        _spec("2m_vs_1z", [(_M, 2)], [(_Z, 1)], 150, "TP", 0, "marines"),
        _spec("corridor", [(_Z, 6)], [(_ZG, 24)], 400, "PZ", 0, "zealots"),
        _spec("6h_vs_8z", [(_H, 6)], [(_Z, 8)], 150, "ZP", 0, "hydralisks"),
        _spec("2s_vs_1sc", [(_S, 2)], [(_SC, 1)], 300, "PZ", 0, "stalkers"),
        _spec("so_many_baneling", [(_Z, 7)], [(_B, 32)], 100, "PZ", 0, "zealots"),
        _spec("bane_vs_bane", [(_B, 4), (_ZG, 20)], [(_B, 4), (_ZG, 20)], 200, "ZZ", 2, "bane"),
        _spec("2c_vs_64zg", [(_C, 2)], [(_ZG, 64)], 400, "PZ", 0, "colossus"),
    ]
}


def roster_str(pairs) -> str:
    """'2 marauder + 7 marine + 1 medivac' from (kind, count) pairs or a list of kinds."""
    pairs = list(pairs)
    if pairs and isinstance(pairs[0], str):
        counted: dict[str, int] = {}
        for k in pairs:
            counted[k] = counted.get(k, 0) + 1
        pairs = list(counted.items())
    return " + ".join(f"{c} {k}" for k, c in pairs) or "no units"


SC2_PREFIX = "sc2_"


def sc2_names() -> list[str]:
    """Every `sc2_<map>` name (SMAC's maps). The `smax` layout needs a SMAX scenario of the same roster."""
    return [SC2_PREFIX + m for m in SMAC_MAPS]
