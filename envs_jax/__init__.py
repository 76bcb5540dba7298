"""Pure-JAX multi-agent environments under one interface (jaxmarl's MultiAgentEnv)."""
import io as _io
import sys as _sys

from . import _xla_flags  # noqa: F401  (sets XLA_FLAGS: must run before jaxmarl below starts JAX's backend)


def _import_jaxmarl_quietly():
    """jaxmarl prints "Importing submoduled environments..." on import, and its MABrax module resets
    sys.stdout/sys.stderr to sys.__stdout__/sys.__stderr__ (dropping any redirection, pytest's or a
    user's). Import it with all four pointed at a sink, then put back exactly what was there."""
    saved = _sys.stdout, _sys.stderr, _sys.__stdout__, _sys.__stderr__
    sink = _io.StringIO()
    _sys.stdout = _sys.stderr = _sys.__stdout__ = _sys.__stderr__ = sink
    try:
        import jaxmarl.environments  # noqa: F401
    finally:
        _sys.stdout, _sys.stderr, _sys.__stdout__, _sys.__stderr__ = saved


_import_jaxmarl_quietly()
from .registry import is_factory_spec, make, names
from .wrappers import ArrayEnv, EnvState, TimeStep
from .families import adapt  # a library env (or your own) as a Family, with its rules: adapt(env, team_reward="sum")

__all__ = ["make", "names", "adapt", "ArrayEnv", "EnvState", "TimeStep"]
