"""`envs_jax.make(name, **kwargs)` and `envs_jax.names()`: one namespace for every environment.

`names()` lists the pure-JAX envs (jaxmarl MultiAgentEnvs, steppable under jit). The real StarCraft II maps
(`sc2_<map>`, host-side envs built by `envs_jax.sc2.make`) are listed apart by `sc2_names()`: they train
and evaluate through host-side loops, not through `make`. `train_names()` is both: every `--env` of
`python -m jbn.train`."""
from __future__ import annotations

from typing import Callable

from .aloha import Aloha
from .choices import check_choice
from .coordination_game import CoordinationGame
from .smax import SMAXEnv, smax_maps
from .sc2.maps import sc2_names
from .smax_medivac import MedivacSMAXEnv, medivac_maps

_FIXED: dict[str, Callable] = {
    "cg_2": lambda **kw: CoordinationGame(2, **kw),
    "cg_3": lambda **kw: CoordinationGame(3, **kw),
    "cg_5": lambda **kw: CoordinationGame(5, **kw),
    "cg_10": lambda **kw: CoordinationGame(10, **kw),
    "aloha_10": lambda **kw: Aloha(10, **kw),
}


def names() -> list[str]:
    """Every registered env name."""
    return list(_FIXED) + [f"smax_{m}" for m in sorted(smax_maps() + medivac_maps())]


def train_names() -> list[str]:
    """Every env name `python -m jbn.train --env` accepts: the JAX envs, then the real game's maps."""
    return names() + sc2_names()


def make(name: str, **kwargs):
    """Build the env called `name` (a jaxmarl MultiAgentEnv); kwargs go to its constructor."""
    if name in _FIXED:
        return _FIXED[name](**kwargs)
    if name.startswith("smax_") and name[len("smax_") :] in medivac_maps():
        return MedivacSMAXEnv(name[len("smax_") :], **kwargs)
    if name.startswith("smax_") and name[len("smax_") :] in smax_maps():
        return SMAXEnv(name[len("smax_") :], **kwargs)
    if name in sc2_names():
        raise ValueError(f"{name!r} is the real StarCraft II, a host-side env that jit cannot step: build it with "
                         f"envs_jax.sc2.make({name!r})")
    check_choice("env", name, names())
