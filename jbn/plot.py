"""`python -m jbn.plot RUN_DIR... --out DIR`: the paper's figures (+ CSV) from run directories.

The command line only; jbn/results/plot.py holds its flags and its work."""
from .results.plot import main

if __name__ == "__main__":
    main()
