"""`envs_jax.make(name, **kwargs)` and `envs_jax.names()`: one namespace for every environment."""
from __future__ import annotations

import difflib
from typing import Callable

from .aloha import Aloha
from .coordination_game import CoordinationGame
from .smax import SMAXEnv, smax_maps
from .smax_medivac import MedivacSMAXEnv, medivac_maps

_FIXED: dict[str, Callable] = {
    "cg_2": lambda **kw: CoordinationGame(2, **kw),
    "cg_3": lambda **kw: CoordinationGame(3, **kw),
    "cg_5": lambda **kw: CoordinationGame(5, **kw),
    "cg_10": lambda **kw: CoordinationGame(10, **kw),
    "aloha_10": lambda **kw: Aloha(10, **kw),
}


def check_choice(name: str, value, choices) -> None:
    """Raise ValueError naming `value`, the closest valid choice and all valid choices, unless value in choices."""
    choices = list(choices)
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{name}={value!r} is not valid.{hint} Valid choices: {', '.join(map(str, choices))}")


def names() -> list[str]:
    """Every registered env name."""
    return list(_FIXED) + [f"smax_{m}" for m in sorted(smax_maps() + medivac_maps())]


def make(name: str, **kwargs):
    """Build the env called `name` (a jaxmarl MultiAgentEnv); kwargs go to its constructor."""
    if name in _FIXED:
        return _FIXED[name](**kwargs)
    if name.startswith("smax_") and name[len("smax_") :] in medivac_maps():
        return MedivacSMAXEnv(name[len("smax_") :], **kwargs)
    if name.startswith("smax_") and name[len("smax_") :] in smax_maps():
        return SMAXEnv(name[len("smax_") :], **kwargs)
    check_choice("env", name, names())
