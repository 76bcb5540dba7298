from envs_jax._xla_flags import _FLAG as _XLA_CPU_FLAG  # noqa: F401  (must run before jax starts)
