"""Env families: one adapter per library, each declaring its rules in one place (base.py says which rules).

`adapt(env, **rules)` turns a library env into a `Family` that `envs_jax.ArrayEnv` steps:
  a jaxmarl MultiAgentEnv -> JaxMarlFamily (our cg; any other jaxmarl env), except
    our SMAXEnv -> SmaxFamily and Aloha -> AlohaFamily (the analyses they declare: smax.py, aloha.py), and
    JaxMARL's MPE -> MpeFamily and Overcooked -> OvercookedFamily (their rules: mpe.py, overcooked.py)
  a matrax MatrixGame -> MatraxFamily (matrix games)
  a Jumanji Environment -> JumanjiFamily (LBF, RWARE, Connector, Cleaner; any other by its TimeStep)
An env that already is a `Family` is returned as it is.
"""
from __future__ import annotations

from jaxmarl.environments.multi_agent_env import MultiAgentEnv
from jumanji.env import Environment as JumanjiEnvironment
from matrax import MatrixGame

from ..aloha import Aloha
from ..smax import SMAXEnv
from .aloha import AlohaFamily
from .base import TEAM_REWARDS, WORLD_STATES, Family, Step, StepSnapshot, TeamGeometry, team_reward
from .jaxmarl import JaxMarlFamily
from .smax import SmaxFamily
from .mpe import MpeFamily, SimpleMPE
from .overcooked import Overcooked, OvercookedFamily
from .jumanji import JumanjiFamily
from .matrax import MatraxFamily


def adapt(env, **rules) -> Family:
    """The `Family` of a library env (rules: the family's constructor arguments, e.g. team_reward='sum')."""
    if isinstance(env, Family):
        if rules:
            raise ValueError(f"adapt: {type(env).__name__} is already adapted; its rules cannot be changed ({rules})")
        return env
    if isinstance(env, SMAXEnv):  # the medivac maps' MedivacSMAXEnv too
        return SmaxFamily(env, **rules)
    if isinstance(env, Aloha):
        return AlohaFamily(env, **rules)
    if isinstance(env, SimpleMPE):
        return MpeFamily(env, **rules)
    if isinstance(env, Overcooked):
        return OvercookedFamily(env, **rules)
    if isinstance(env, MultiAgentEnv):
        return JaxMarlFamily(env, **rules)
    if isinstance(env, MatrixGame):
        return MatraxFamily(env, **rules)
    if isinstance(env, JumanjiEnvironment):
        return JumanjiFamily(env, **rules)
    raise TypeError(f"adapt: cannot adapt a {type(env).__module__}.{type(env).__name__}; supported: a jaxmarl "
                    f"MultiAgentEnv, a Jumanji Environment (matrax's included), or an envs_jax.families.Family")


__all__ = ["adapt", "Family", "Step", "TeamGeometry", "StepSnapshot", "JaxMarlFamily", "SmaxFamily", "AlohaFamily",
           "MpeFamily", "OvercookedFamily", "JumanjiFamily", "MatraxFamily", "team_reward", "TEAM_REWARDS",
           "WORLD_STATES"]
