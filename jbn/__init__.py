import sys as _sys

from . import distributed as _distributed

# `python -m jbn.train` on several hosts: jax.distributed must start before XLA does, and the import below starts it
# (envs_jax imports jaxmarl, which builds arrays at import).
_distributed.boot(getattr(_sys, "orig_argv", ()))

from envs_jax._xla_flags import _FLAG as _XLA_CPU_FLAG  # noqa: E402,F401  (must run before jax starts)
