"""The training program, compiled and pure: the configuration (sections.py: its seven sections, each checking its own
fields; config.py: `Config`, presets, `resolve`), the sweep grid and its labels (sweep.py, labels.py), the state
types (types.py), the rollout's one act-and-step (rollout.py), the PPO loss and optimiser (ppo.py), the density
schedules (schedules.py) and `make_train` (trainer.py), and `UserError` (errors.py). Nothing here touches files,
clocks or the terminal. It may import jbn.policy and envs_jax, never the host side, evaluation, the driver or the
results tooling. Importing this package imports nothing."""
