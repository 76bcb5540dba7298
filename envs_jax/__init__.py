"""Pure-JAX multi-agent environments under one interface (jaxmarl's MultiAgentEnv)."""
from .registry import make, names
from .wrappers import ArrayEnv, EnvState, TimeStep

__all__ = ["make", "names", "ArrayEnv", "EnvState", "TimeStep"]
