"""`envs_jax.make(name, **kwargs)` and `envs_jax.names()`: one namespace for every environment.

`names()` lists the pure-JAX envs (jaxmarl MultiAgentEnvs, steppable under jit). The real StarCraft II maps
(`sc2_<map>`, host-side envs built by `envs_jax.sc2.make`) are listed apart by `sc2_names()`: they train
and evaluate through host-side loops, not through `make`. `train_names()` is both: every `--env` of
`python -m jbn.train`."""
from __future__ import annotations

from typing import Callable

from jaxmarl.environments.smax import SMAX

from .aloha import Aloha
from .choices import check_choice
from .coordination_game import CoordinationGame
from .smax import SMAXEnv, smax_maps
from .sc2.maps import sc2_names
from .smax_medivac import MedivacSMAXEnv, medivac_maps
# Jumanji's LBF/RWARE/Connector/Cleaner by Mava's task names, and matrax's matrix games
from .families.jumanji import jumanji_names, make_jumanji
from .families.kwargs import build
from .families.matrax import make_matrax, matrax_names
# JaxMARL's MPE and Overcooked, and your own env by "package.module:factory"
from .families.factory import is_factory_spec, make_factory_env
from .families.mpe import MPE_SCENARIOS, make_mpe
from .families.overcooked import OVERCOOKED_LAYOUTS, make_overcooked

# name -> (class, the value its name fixes, that argument's name)
_FIXED: dict[str, tuple[Callable, int, str]] = {
    "cg_2": (CoordinationGame, 2, "num_agents"),
    "cg_3": (CoordinationGame, 3, "num_agents"),
    "cg_5": (CoordinationGame, 5, "num_agents"),
    "cg_10": (CoordinationGame, 10, "num_agents"),
    "aloha_10": (Aloha, 10, "num_islands"),
}
# SMAX's kwargs: jaxmarl's SMAX arguments (the heuristic enemy wraps an SMAX, so its signature does not lead there)
# and the heuristic enemy's own; the map fixes the scenario and the team sizes
_SMAX_EXTRA = ("enemy_shoots", "attack_mode")
_SMAX_FIXED = ("scenario", "num_allies", "num_enemies")


def names() -> list[str]:
    """Every registered env name."""
    return (list(_FIXED) + [f"smax_{m}" for m in sorted(smax_maps() + medivac_maps())]
            + jumanji_names() + matrax_names() + jaxmarl_names())


def jaxmarl_names() -> list[str]:
    """JaxMARL's own cooperative envs: `mpe_<scenario>` (discrete actions) and `overcooked_<layout>`."""
    return [f"mpe_{s}" for s in MPE_SCENARIOS] + [f"overcooked_{l}" for l in OVERCOOKED_LAYOUTS]


def families() -> dict[str, str]:
    """{family: one line with its rules' gist and an example name}, for `--help` and docs."""
    return {
        "cg": "the paper's Coordination Game (App. B.1), shared reward: cg_2, cg_3, cg_5, cg_10",
        "aloha": "CASEC's Aloha, 10 islands, shared reward: aloha_10",
        "smax": "JaxMARL's SMAX (+ our medivac maps), the env's world state and masks, wins: smax_3m",
        "mpe": "JaxMARL's MPE, discrete actions, sum of the agents' rewards, 26-step episodes: mpe_simple_spread",
        "overcooked": "JaxMARL's Overcooked, grid obs, shared sparse reward + annealed shaping: "
                      "overcooked_cramped_room",
        "lbf": "Jumanji's Level-Based Foraging (Mava's tasks), sum of the agents' rewards, 100 steps: "
               "lbf_2s-8x8-2p-2f-coop",
        "rware": "Jumanji's Robot Warehouse (Mava's tasks), shared reward, 500 steps: rware_tiny-4ag",
        "connector": "Jumanji's Connector (Mava's tasks), grid obs, sum of the agents' rewards, win = all "
                     "connected: connector_con-5x5x3a",
        "cleaner": "Jumanji's Cleaner (Mava's tasks), grid obs, shared reward, win = all clean: "
                   "cleaner_clean-10x10x10a",
        "matrax": "matrix games (Climbing, Penalty-k, stateless/stateful), mean reward, 25 steps: "
                  "matrax_Climbing-stateless",
        "factory": "your own env: package.module:factory (a jaxmarl MultiAgentEnv, a Jumanji Environment or a Family), "
                   "kwargs to the factory: my_pkg.envs:make_env",
    }


def train_names() -> list[str]:
    """Every env name `python -m jbn.train --env` accepts: the JAX envs, then the real game's maps."""
    return names() + sc2_names()


def make(name: str, **kwargs):
    """Build the env called `name` (a jaxmarl MultiAgentEnv, or a Jumanji/matrax Environment for lbf_, rware_,
    connector_, cleaner_, matrax_); kwargs go to its constructor (Jumanji: to its generator or the env).
    `name` may also be a factory spec 'package.module:factory' (your own env, families/factory.py)."""
    if name in _FIXED:
        cls, size, key = _FIXED[name]
        return build(lambda **kw: cls(size, **kw), kwargs, what=name, signature_of=cls, fixed_keys=(key,))
    smax_map = name[len("smax_") :] if name.startswith("smax_") else None
    if smax_map in medivac_maps() or smax_map in smax_maps():
        cls = MedivacSMAXEnv if smax_map in medivac_maps() else SMAXEnv
        return build(lambda **kw: cls(smax_map, **kw), kwargs, what=name, signature_of=SMAX, extra_keys=_SMAX_EXTRA,
                     fixed_keys=_SMAX_FIXED)
    if name in jumanji_names():  # a Jumanji env; kwargs override its generator's or env's parameters
        return make_jumanji(name, **kwargs)
    if name in matrax_names():
        return make_matrax(name, **kwargs)
    if name.startswith("mpe_") and name[len("mpe_") :] in MPE_SCENARIOS:
        return make_mpe(name[len("mpe_") :], **kwargs)
    if name.startswith("overcooked_") and name[len("overcooked_") :] in OVERCOOKED_LAYOUTS:
        return make_overcooked(name[len("overcooked_") :], **kwargs)
    if is_factory_spec(name):  # your own env; ValueError naming the bad module, attribute or kwarg
        return make_factory_env(name, **kwargs)
    if name in sc2_names():
        raise ValueError(f"{name!r} is the real StarCraft II, a host-side env that jit cannot step: build it with "
                         f"envs_jax.sc2.make({name!r})")
    check_choice("env", name, names())
