"""`python -m jbn.compare BASE RUN...`: paired per-seed comparison of runs trained on the same seeds.

The command line only; jbn/results/compare.py holds its flags and its work."""
from .results.compare import main
from .cmdline.flags import run_command

if __name__ == "__main__":
    run_command(main)
