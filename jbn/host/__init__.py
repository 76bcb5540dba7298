"""Host-side run management: where the runs go on the devices (placement.py: mesh, shardings, memory estimate),
multi-host start-up (distributed.py), run directories (rundir.py), checkpoints (checkpoint.py), a full disk
(disk.py), Ctrl-C and SIGTERM (interrupt.py), progress and metric logs (logging.py), and the real StarCraft II as
the trainer sees it (real_game.py). It may import jbn.training and jbn.policy, never evaluation, the driver or the
results tooling. Importing this package imports nothing (jbn/train.py relies on it to boot jax.distributed first)."""
