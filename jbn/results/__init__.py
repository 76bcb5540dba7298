"""Results tooling on the host, from run directories on disk: the paper's figures and CSVs (plot.py), paired
per-seed comparisons (compare.py) and slim archived copies of run logs (archive.py); the command lines
`python -m jbn.plot`, `jbn.compare` and `jbn.archive` are thin modules over these. It reads files only: it may
import jbn.training's labels (no JAX), and nothing imports it but those command lines."""
