"""Pure-JAX multi-agent environments under one interface (jaxmarl's MultiAgentEnv)."""
from ._xla_flags import _FLAG as _XLA_CPU_FLAG  # noqa: F401  (must run before jax starts)
from .registry import make, names
from .wrappers import ArrayEnv, EnvState, TimeStep

__all__ = ["make", "names", "ArrayEnv", "EnvState", "TimeStep"]
