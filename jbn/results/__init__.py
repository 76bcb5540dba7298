"""Results tooling on the host, from run directories on disk: the paper's figures and CSVs (plot.py), paired
per-seed comparisons (compare.py), slim archived copies of run logs (archive.py), runs as marl-eval's JSON
(export.py, the format Mava's runs write) and IQM / mean / probability of improvement / performance profiles across
tasks with stratified bootstrap CIs through rliable (aggregate.py); the command lines `python -m jbn.plot`,
`jbn.compare`, `jbn.archive`, `jbn.export` and `jbn.aggregate` are thin modules over these. It reads files only: it
may import jbn.training's labels, jbn.policy's DAG-mode traits and jbn.cmdline's flags (no JAX), and nothing imports it but those command
lines."""
