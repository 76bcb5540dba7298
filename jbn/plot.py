"""`python -m jbn.plot RUN_DIR... --out DIR`: the paper's figures (+ CSV) from run directories.

The command line only; jbn/results/plot.py holds its flags and its work."""
from .results.plot import main
from .cmdline.flags import run_command

if __name__ == "__main__":
    run_command(main)
