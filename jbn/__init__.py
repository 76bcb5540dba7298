"""jbn: BN-MAPPO, Bayesian-network joint policies for cooperative MARL, in JAX (docs/architecture.md).

Importing jbn has no side effects. The two that must precede JAX's initialisation live where they are needed:
`envs_jax` adds its XLA CPU flag to XLA_FLAGS before it imports jaxmarl (which starts JAX's backend), and
`python -m jbn.train` on several hosts starts `jax.distributed` at the top of jbn/train.py, before its imports
reach a device (jbn.distributed)."""
