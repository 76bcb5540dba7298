"""`python -m jbn.aggregate INPUT... --out DIR`: IQM, mean, probability of improvement and performance profiles
across tasks with stratified bootstrap confidence intervals (rliable), from run directories or marl-eval JSON.

The command line only; jbn/results/aggregate.py holds its flags and its work."""
from .results.aggregate import main

if __name__ == "__main__":
    main()
