"""jbn: BN-MAPPO, Bayesian-network joint policies for cooperative MARL, in JAX (docs/architecture.md).

From Python (README "From Python"), PureJaxRL-style: `jbn.Config`, `jbn.resolve`, `jbn.make_train` (the pure
functions of one run: init, update_chunk, rollout, learn) and the few functions around them are attributes of this
package, loaded on first use; `jbn.run(cfg)` is the whole command `python -m jbn.train` (run directory, checkpoints,
evaluation). The packages below are the layers (docs/architecture.md §1).

Importing jbn has no side effects. The two that must precede JAX's initialisation live where they are needed:
`envs_jax` adds its XLA CPU flag to XLA_FLAGS before it imports jaxmarl (which starts JAX's backend), and
`python -m jbn.train` on several hosts starts `jax.distributed` at the top of jbn/train.py, before its imports
reach a device (jbn.host.distributed)."""
from __future__ import annotations

import importlib

# name -> the module that defines it; imported on first access (`import jbn` itself imports nothing).
_API = {
    "Config": "jbn.training.config",
    "resolve": "jbn.training.config",
    "UserError": "jbn.training.errors",
    "make_train": "jbn.training.trainer",
    "Trainer": "jbn.training.trainer",
    "Metrics": "jbn.training.trainer",
    "make_env": "jbn.training.trainer",
    "make_policy": "jbn.training.trainer",
    "over_runs": "jbn.training.trainer",
    "init_runs": "jbn.training.trainer",
    "run_keys": "jbn.training.trainer",
    "BNPolicy": "jbn.policy.joint",
    "make_evaluator": "jbn.evaluation",
    "run": "jbn.driver.loop",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jbn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
