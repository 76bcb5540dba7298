"""Your own env: `envs_jax.make("package.module:factory", **kwargs)`.

The module is imported, `factory` is looked up in it and called with the kwargs (checked first by name and type
against its signature, kwargs.py), and what it returns must be an env a family adapts (a jaxmarl MultiAgentEnv, a
Jumanji Environment, ...) or a `Family` itself. Every failure is one ValueError naming the bad spec, module,
attribute, kwarg or return value (the CLI prints it as one `error:` line). The family's rules (team reward, world
state, max_steps) are given when adapting: `ArrayEnv(env, team_reward="sum")` or `envs_jax.adapt(env, ...)`.
"""
from __future__ import annotations

import importlib
import os
import re

from . import adapt
from .base import Family
from .kwargs import build

_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_factory_spec(name: str) -> bool:
    """Whether an env name is a factory spec ('module:attribute') rather than a registered name."""
    return ":" in name


def load_factory(spec: str):
    """The callable named by 'package.module:factory'."""
    if not _SPEC.match(spec):
        raise ValueError(f"env={spec!r} is not a factory spec: expected 'package.module:factory' "
                         f"(an importable module, a colon, a callable in it)")
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"env={spec!r}: cannot import module {module_name!r} ({_why(module_name, e)})") from e
    if not hasattr(module, attr):
        public = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
        raise ValueError(f"env={spec!r}: module {module_name!r} has no attribute {attr!r}. "
                         f"Its callables: {', '.join(public) or '(none)'}")
    factory = getattr(module, attr)
    if not callable(factory):
        raise ValueError(f"env={spec!r}: {module_name}.{attr} is a {type(factory).__name__}, not a callable")
    return factory


def _why(module_name: str, e: ImportError) -> str:
    """Why the import failed: the module itself not found (where it was looked for), or something it imports."""
    missing = getattr(e, "name", None)
    if not missing:
        return str(e)
    if (module_name + ".").startswith(missing + "."):  # the spec's own module (or a package above it) is missing
        top = module_name.split(".")[0]
        return (f"no module named {missing!r} in the current directory {os.getcwd()!r} or on the Python path: run "
                f"from the folder that holds {top}/ or {top}.py, or add that folder to PYTHONPATH")
    return f"it imports {missing!r}, which is not installed"


def make_factory_env(spec: str, /, **kwargs):
    """The env built by the factory `spec` with kwargs; refused unless a family can adapt it."""
    factory = load_factory(spec)
    env = build(factory, kwargs, what=f"env={spec!r}")
    if isinstance(env, Family):
        return env
    try:
        adapt(env)  # the same checks ArrayEnv makes (supported library, discrete actions, an episode limit)
    except TypeError as e:
        raise ValueError(f"env={spec!r}: the factory returned a {type(env).__module__}.{type(env).__name__}, "
                         f"not an env (a jaxmarl MultiAgentEnv, a Jumanji Environment or an "
                         f"envs_jax.families.Family)") from e
    except ValueError:
        pass  # a rule the env does not meet by default (no episode limit, say): ArrayEnv(env, **rules) decides
    return env
