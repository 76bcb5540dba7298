"""`python -m jbn.aggregate INPUT... --out DIR`: IQM, mean, probability of improvement and performance profiles
across tasks with stratified bootstrap confidence intervals (rliable), from run directories or marl-eval JSON.

The command line only; jbn/results/aggregate.py holds its flags and its work."""
from .results.aggregate import main
from .cmdline.flags import run_command

if __name__ == "__main__":
    run_command(main)
