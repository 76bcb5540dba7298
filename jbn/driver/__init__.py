"""The run loop: `run(cfg)` (loop.py), the one host loop of a training run, and the two steppers it drives, one
compiled update chunk for every run on the JAX envs (compiled_stepper.py) and a host-side rollout on the real
StarCraft II around the jitted learn (game_stepper.py). It may import jbn.evaluation, jbn.host, jbn.training and
jbn.policy; only the command lines (jbn/train.py) import it."""
