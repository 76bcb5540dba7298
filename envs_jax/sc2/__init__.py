"""The real StarCraft II on SMAC's maps, behind the array interface of `envs_jax.ArrayEnv` (host side).

    from envs_jax import sc2
    env = sc2.make("sc2_6h_vs_8z", layout="smax")       # a policy trained on smax_6h_vs_8z runs unchanged
    env = sc2.make("sc2_MMM2", layout="smac", num_envs=4)  # SMAC's features, 4 games side by side
    state, ts = env.reset(key); state, ts = env.step(key, state, actions)

`sc2_names()` lists the names (`sc2_<SMAC map>`); `make(name, **kw)` (also `make_sc2`) builds an
`SC2Env` (`num_envs=E`: an `SC2VecEnv`), see envs_jax/sc2/env.py for every option. Importing this package
needs neither pysc2 nor the game; starting a game needs `pip install -e '.[sc2]'`, StarCraft II
(`$SC2PATH`, default ~/StarCraftII) and the SMAC maps in `$SC2PATH/Maps/SMAC_Maps/`; each missing piece
raises `SC2InstallError` saying what to install where. Files: `_proto.py` (s2clientprotocol on today's
protobuf, pysc2 modules), `maps.py` (SMAC's maps and rosters), `units.py` (raw units as arrays),
`layouts.py` (the `smax` and `smac` layouts, rewards), `env.py` (games, episodes, crashes),
`fake_server.py` (a fake game for tests and benches).

What SMAX -> game transfer cannot fix (the sim-to-real gaps of the `smax` layout):
- Time per step. A SMAX env step is 8 world steps of 1/16 s with speeds and cooldowns in "faster"
  seconds, i.e. 0.5 s of faster-speed game time; SMAC's step is 8 game loops = 8 / 22.4 = 0.36 s. On the
  game a unit moves and fires about 1.4x less per step than in SMAX. `step_mul=11` (0.49 s) comes close
  to SMAX's pace; the default is SMAC's 8.
- Episode length: SMAX ends at 100 steps (episode_limit 101), the game at SMAC's limit (150 on
  6h_vs_8z, 180 on MMM2, 60 on 3m), so a policy meets later phases of a battle than it trained on.
- The opponent: SMAX's heuristic enemies (closest target in range, else walk towards the learner's
  units) vs SC2's built-in bot at VeryHard with the map's scripted attack.
- Map and spawn: SMAX's open 32x32 square (armies at x = 8 and 24 with +-2 jitter; touching a wall
  kills) vs each SMAC map's terrain, cliffs and fixed spawn points; positions are only translated by
  the playable area's corner.
- Combat: SMAX has centre-to-centre ranges, instant hits, push-apart collisions and no armour; SC2 has
  edge-to-edge ranges, projectiles, pathing, armour, bonus damage (marauder, stalker vs armoured), the
  zealot's double hit, protoss shield regeneration, and marauders cannot shoot air units (medivacs).
  The `smax` masks use SMAX's ranges; an attack order on a unit out of the game's range walks to it.
- Features the game does not report: the bot's weapon cooldowns (read as 0) and its last actions
  (inferred from movement and distance, layouts.py). Shields are folded into health as SMAX does, so
  shield regeneration looks like healing. World state: SMAX's raw cooldowns go negative while a unit
  waits; the game's stop at 0.
- Medivac (MMM2): our MedivacSMAX model (heal 12.6 hp/s, 50 energy at spawn, SMAC's only-medivacs-left
  loss rule applied to both sides; SMAC's own check for the bot's side never fires) vs the game's.
- Reward: `reward="smax"` (default with layout smax) gives SMAX's scale (a won episode returns about
  2); `reward="smac"` gives SMAC's (maximum 20), which is what SMAC's published returns use.
"""
from __future__ import annotations

from envs_jax.choices import check_choice

from .maps import SC2_PREFIX, sc2_names


def make(name: str, layout: str = "smax", num_envs: int | None = None, **kwargs):
    """An `SC2Env` for `sc2_<map>` (`num_envs=E`: an `SC2VecEnv` of E games). Starts no game: the first
    `reset` does. kwargs: see `SC2Env`."""
    from .env import SC2Env, SC2VecEnv  # jax (envs_jax.wrappers) only when a game is built

    check_choice("env", name, sc2_names())
    map_name = name[len(SC2_PREFIX) :]
    if num_envs is None:
        return SC2Env(map_name, layout=layout, **kwargs)
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs} must be >= 1")
    seed = kwargs.pop("seed", None)
    envs = [SC2Env(map_name, layout=layout, seed=None if seed is None else seed + i, **kwargs) for i in range(num_envs)]
    return SC2VecEnv(envs)


make_sc2 = make


def __getattr__(attr):
    # The env classes import envs_jax.wrappers (jax); pysc2 itself is imported only when a game starts.
    if attr in ("SC2Env", "SC2VecEnv", "SC2State", "SC2InstallError", "SC2GameCrashed", "Pysc2Launcher",
                "load_pysc2"):
        from . import env

        return getattr(env, attr)
    if attr == "RosterError":
        from .units import RosterError

        return RosterError
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["sc2_names", "make", "make_sc2", "SC2Env", "SC2VecEnv", "SC2State", "SC2InstallError",
           "SC2GameCrashed", "RosterError", "load_pysc2"]
